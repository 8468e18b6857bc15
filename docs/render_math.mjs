// Render the study site's math at build time: docs/build.py sends every formula of every
// page at once, as JSON [{"tex": ..., "display": true|false}] on stdin, and reads
// [{"html": ...} or {"error": ...}] on stdout, in the same order.  KaTeX comes from npm
// (docs/package.json, pinned by docs/package-lock.json); the browser needs no JavaScript.
import katex from "katex";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;

const rendered = JSON.parse(input).map(({ tex, display }) => {
  try {
    return { html: katex.renderToString(tex, { displayMode: display, throwOnError: true, strict: "error" }) };
  } catch (error) {
    return { error: String(error.message) };
  }
});
process.stdout.write(JSON.stringify(rendered));
