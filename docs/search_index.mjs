// Build the study site's search index at build time: docs/build.py sends every section of every
// Markdown page as JSON [{"id", "url", "title", "page", "text", "snippet"}] on stdin and reads the
// MiniSearch index on stdout; assets/site.js loads it with MiniSearch.loadJS and the same options.
// MiniSearch comes from npm (docs/package.json, pinned by docs/package-lock.json).
import MiniSearch from "minisearch";

const OPTIONS = { fields: ["title", "text"], storeFields: ["url", "title", "page", "snippet"] };

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;

const index = new MiniSearch(OPTIONS);
index.addAll(JSON.parse(input));
process.stdout.write(JSON.stringify(index));
