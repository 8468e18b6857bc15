// The study site's only script (docs/build.py): copy buttons on code blocks, and the search page.
// Every page works without it; search needs it, and says so in a <noscript>.
"use strict";

// MiniSearch.loadJS needs the options the index was built with: docs/search_index.mjs's.
const SEARCH_OPTIONS = { fields: ["title", "text"], storeFields: ["url", "title", "page", "snippet"] };

function addCopyButtons() {
  for (const block of document.querySelectorAll("main div.highlight")) {
    if (block.querySelector(".linenos")) continue;             // a source page: line numbers would be copied too
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", async () => {
      const text = block.querySelector("pre").innerText;
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        const range = document.createRange();                  // no clipboard API (an old browser, a policy):
        range.selectNodeContents(block.querySelector("pre"));  // select the code, so Ctrl-C copies it
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
    block.prepend(button);
  }
}

function runSearch() {
  const list = document.getElementById("search-results");
  if (!list || !window.MiniSearch || !window.MANUALNET_SEARCH) return;
  const query = new URLSearchParams(location.search).get("q") || "";
  const box = document.querySelector("form.search-page input");
  box.value = query;
  box.focus();
  const status = document.getElementById("search-status");
  if (!query.trim()) return;
  const index = MiniSearch.loadJS(window.MANUALNET_SEARCH, SEARCH_OPTIONS);
  const results = index.search(query, { prefix: true, fuzzy: 0.15, boost: { title: 3 }, combineWith: "AND" });
  status.textContent = `${results.length} section${results.length === 1 ? "" : "s"} for “${query}”` +
                       (results.length > 50 ? ", the best 50:" : ":");
  for (const result of results.slice(0, 50)) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = result.url;
    link.textContent = result.title === result.page ? result.page : `${result.page} › ${result.title}`;
    const snippet = document.createElement("p");
    snippet.textContent = result.snippet + "…";
    item.append(link, snippet);
    list.append(item);
  }
}

addCopyButtons();
runSearch();
