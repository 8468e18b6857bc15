"""Build the study site: README, derivations/ and exercises/ as static pages with the math already rendered.

    python docs/build.py [--out build/site]        (``make docs`` installs what it needs and runs this)

Every page is the repository's own file, turned into HTML as GitHub would
show it: Markdown is parsed by markdown-it-py (CommonMark with GitHub's
tables), and the math is read in the forms the pages use for GitHub
(```` ```math ```` fences, ``$`...`$`` and plain ``$...$``; derivations/README.md
gives the rules).  Every formula is rendered once, here, by KaTeX (from npm:
``docs/package.json``, pinned by ``docs/package-lock.json``), in one node
process; a formula KaTeX cannot read stops the build with its page and its
error.  KaTeX's stylesheet and fonts are copied into the site, which uses no
JavaScript and no network: open ``build/site/index.html`` from the disk.

What the site holds:

* ``index.html`` (README.md, "Start here" first), ``README.ko.html``, one page
  per derivation (``derivations/index.html`` is their README) and the
  examples' README;
* one page per exercise (its instructions, then the file), in the order of
  ``manualnet.exercises.EXERCISES``, and ``exercises/index.html``;
* a highlighted page, with line anchors, for every other file a page links to
  or names in a code span (``manualnet/nn/modules/linear.py:Linear`` links to the line
  where Linear starts).

Headings get GitHub's anchors, so a link written for GitHub
(``linear.md#backward``) works here too, and a numbered equation gets
``id="eq-4"``.  The navigation follows the path: backprop.md, then each
exercise with its page.  A link to a file or a symbol that does not exist
stops the build.
"""

import argparse
import ast
import html
import json
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
KATEX = DOCS / "node_modules" / "katex" / "dist"
DEFAULT_OUT = ROOT / "build" / "site"
MARKDOWN_PAGES = ("README.md", "README.ko.md", "examples/README.md")
FOLDER_PAGES = {"derivations": "derivations/index.html", "exercises": "exercises/index.html",
                "examples": "examples/index.html"}
CODE_REFERENCE = re.compile(r"^(?P<path>[\w.][\w./-]*\.(?:py|md|json|toml))(?:(?:::|:)(?P<symbol>[\w.]+))?$")


class BuildError(Exception):
    """The site cannot be built: a tool is missing, a formula does not render, a link leads nowhere."""


def require_tools():
    """The Python packages of the ``docs`` extra and node with KaTeX, or a BuildError saying how to get them."""
    missing = []
    for module, package in (("markdown_it", "markdown-it-py"), ("mdit_py_plugins", "mdit-py-plugins"),
                            ("pygments", "pygments")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise BuildError(f"the site's build needs {', '.join(missing)}: pip install -e '.[docs]' (make docs does)")
    if shutil.which("node") is None:
        raise BuildError("the site's build renders the math with KaTeX, which runs on node: install Node.js "
                         "(Debian: apt-get install nodejs npm)")
    if not (KATEX / "katex.mjs").is_file():
        raise BuildError(f"KaTeX is not installed in {KATEX.parent.parent}: cd docs && npm ci (make docs does)")


# -- where each file of the repository goes in the site ---------------------------------------

def output_of(path):
    """The site page of a repository path ('derivations/linear.md' -> 'derivations/linear.html')."""
    path = path.rstrip("/")
    if path in FOLDER_PAGES:
        return FOLDER_PAGES[path]
    if path == "README.md":
        return "index.html"
    if path.endswith("/README.md"):
        return path[:-len("README.md")] + "index.html"
    if path.endswith(".md"):
        return path[:-3] + ".html"
    if path.startswith("exercises/") and path.endswith(".py"):
        return path[:-3] + ".html"
    return f"source/{path}.html"


def relative(from_output, to_output):
    """The URL of ``to_output`` as written in the page ``from_output``."""
    return posixpath.relpath(to_output, posixpath.dirname(from_output) or ".")


def symbol_lines(path):
    """{'Linear': 19, 'Linear.backward': 57, ...}: where each class and function of a Python file starts."""
    lines = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                lines[prefix + child.name] = child.lineno
                visit(child, f"{prefix}{child.name}.")
    visit(ast.parse((ROOT / path).read_text(encoding="utf-8")), "")
    return lines


class Links:
    """Resolves the links and code references of the pages; remembers which source pages they need."""

    def __init__(self, pages):
        self.pages = pages                  # repository paths that have a page of their own
        self.sources = set()                # other files a page links to: each gets a source page
        self._symbols = {}

    def target(self, repo_path, fragment=""):
        """The site path (with its #fragment) of a repository file or folder; a BuildError if there is none."""
        repo_path = posixpath.normpath(repo_path)
        if repo_path.startswith("../") or not (ROOT / repo_path).exists():
            raise BuildError(f"no such file in the repository: {repo_path}")
        if (ROOT / repo_path).is_dir():
            if repo_path not in FOLDER_PAGES:
                raise BuildError(f"a link to the folder {repo_path}/, which has no page")
            return FOLDER_PAGES[repo_path] + (f"#{fragment}" if fragment else "")
        if repo_path not in self.pages:
            self.sources.add(repo_path)
            if fragment and repo_path.endswith(".py") and not fragment.startswith("L-"):
                fragment = f"L-{self.line(repo_path, fragment)}"
        return output_of(repo_path) + (f"#{fragment}" if fragment else "")

    def line(self, repo_path, symbol):
        if repo_path not in self._symbols:
            self._symbols[repo_path] = symbol_lines(repo_path)
        if symbol not in self._symbols[repo_path]:
            raise BuildError(f"{repo_path} defines no {symbol}")
        return self._symbols[repo_path][symbol]

    def href(self, href, page):
        """Rewrite a link of the Markdown page ``page`` (a repository path) for the site."""
        if re.match(r"^[a-z][a-z0-9+.-]*:", href) or href.startswith("#"):
            return href                      # another site, mail, or a place on this page
        path, _, fragment = href.partition("#")
        return relative(output_of(page), self.target(posixpath.join(posixpath.dirname(page), path), fragment))

    def code_reference(self, text, page):
        """The site URL a code span such as ``manualnet/nn/modules/linear.py:Linear`` names, or None."""
        match = CODE_REFERENCE.match(text)
        if not match or not (ROOT / match["path"]).is_file():
            return None
        return relative(output_of(page), self.target(match["path"], match["symbol"] or ""))


# -- math: collected while pages render, rendered by KaTeX in one go -----------------------------------

class Math:
    """Every formula of the site: a placeholder in the pages until KaTeX has rendered them all."""

    def __init__(self):
        self.formulas = []                   # (tex, display, page)

    def placeholder(self, tex, display, page):
        self.formulas.append((tex, display, page))
        return f"<!--math:{len(self.formulas) - 1}-->"

    def render(self):
        """[html] for each formula, in order; a BuildError listing every formula KaTeX cannot read."""
        request = json.dumps([{"tex": tex, "display": display} for tex, display, _ in self.formulas])
        node = subprocess.run(["node", str(DOCS / "render_math.mjs")], input=request, capture_output=True,
                              text=True, cwd=DOCS, timeout=300)
        if node.returncode != 0:
            raise BuildError(f"KaTeX failed: {node.stderr.strip()}")
        results = json.loads(node.stdout)
        errors = [f"  {page}: {result['error']}\n    {tex}" for (tex, _, page), result in zip(self.formulas, results)
                  if "error" in result]
        if errors:
            raise BuildError(f"{len(errors)} formula(s) KaTeX cannot render:\n" + "\n".join(errors))
        return [result["html"] for result in results]


def fill_math(text, rendered):
    return re.sub(r"<!--math:(\d+)-->", lambda match: rendered[int(match[1])], text)


# -- Markdown, as GitHub reads it ---------------------------------------------------------------

def github_slug(text, taken):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    unique, count = slug, 0
    while unique in taken:
        count += 1
        unique = f"{slug}-{count}"
    taken.add(unique)
    return unique


def markdown_renderer(links, math):
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    # allow_digits=True: with False the plugin reads the character before a cell's first $ as the
    # cell's last one (index -1); the pages never put a $ next to a digit (tests/test_math_hazards.py).
    dollarmath_plugin(md, allow_labels=False, allow_space=False, allow_digits=True, double_inline=False,
                      renderer=lambda tex, options: tex)        # replaced by the render rules below
    md.inline.ruler.before("math_inline", "math_inline_backtick", _backtick_math)
    md.core.ruler.after("inline", "github_heading_ids", _heading_ids)

    def render_math_inline(self, tokens, index, options, env):
        return math.placeholder(tokens[index].content, False, env["page"])

    def render_fence(self, tokens, index, options, env):
        token = tokens[index]
        language = token.info.strip().split()[0] if token.info.strip() else ""
        if language == "math":
            tag = re.search(r"\\tag\{(\d+)\}", token.content)
            anchor = f' id="eq-{tag[1]}"' if tag else ""
            return f'<div class="math-display"{anchor}>{math.placeholder(token.content, True, env["page"])}</div>\n'
        return highlight(token.content, language)

    def render_link_open(self, tokens, index, options, env):
        token = tokens[index]
        token.attrSet("href", links.href(token.attrGet("href"), env["page"]))
        env["in_link"] = True
        return self.renderToken(tokens, index, options, env)

    def render_link_close(self, tokens, index, options, env):
        env["in_link"] = False
        return self.renderToken(tokens, index, options, env)

    def render_code_inline(self, tokens, index, options, env):
        code = f"<code>{html.escape(tokens[index].content)}</code>"
        url = None if env.get("in_link") else links.code_reference(tokens[index].content, env["page"])
        return f'<a class="code-reference" href="{html.escape(url)}">{code}</a>' if url else code

    md.add_render_rule("math_inline", render_math_inline)
    md.add_render_rule("fence", render_fence)
    md.add_render_rule("link_open", render_link_open)
    md.add_render_rule("link_close", render_link_close)
    md.add_render_rule("code_inline", render_code_inline)
    return md


def _backtick_math(state, silent):
    """GitHub's inline math $`...`$ (Markdown leaves what is inside alone)."""
    if not state.src.startswith("$`", state.pos):
        return False
    end = state.src.find("`$", state.pos + 2)
    if end < 0:
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = state.src[state.pos + 2:end]
        token.markup = "$`"
    state.pos = end + 2
    return True


def _heading_ids(state):
    taken = set()
    for index, token in enumerate(state.tokens):
        if token.type == "heading_open":
            inline = state.tokens[index + 1]
            text = "".join(child.content for child in inline.children or []
                           if child.type in ("text", "code_inline", "math_inline"))
            token.attrSet("id", github_slug(text, taken))


def highlight(code, language):
    """A highlighted code block (Pygments), or a plain one for text."""
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name({"sh": "console" if code.startswith("$ ") else "bash"}.get(language, language))
    except ClassNotFound:
        return f'<div class="highlight"><pre>{html.escape(code)}</pre></div>\n'
    return pygmentize(code, lexer, HtmlFormatter())


def source_page_body(path):
    """A file as highlighted code with a numbered, linkable line each (id L-12)."""
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    text = (ROOT / path).read_text(encoding="utf-8")
    try:
        lexer = get_lexer_for_filename(path, text)
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(linenos="inline", lineanchors="L", anchorlinenos=True)
    return f"<h1><code>{html.escape(path)}</code></h1>\n{pygmentize(text, lexer, formatter)}"


# -- the path ---------------------------------------------------------------------------

def path_exercises():
    sys.path.insert(0, str(ROOT))
    from manualnet.grader import EXERCISES
    return EXERCISES


def exercise_markdown(exercise, number, total):
    """An exercise's page: its instructions (the file's docstring, English then Korean), then the file."""
    text = (ROOT / exercise.file).read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(text))
    code = text[text.index('"""', 3) + 3:].lstrip("\n")
    page, _ = exercise.page.split("#")
    return (f"# Exercise {number} of {total}: `{exercise.title}`\n\n"
            f"Read [{page.split('/')[-1]}](../{exercise.page}), eq. {exercise.read}; write `{exercise.title}` "
            f"in `{exercise.file}`; grade it with `python -m manualnet exercises check {exercise.name}`.\n\n"
            f"{docstring}\n\n## The file, after its docstring\n\n```python\n{code}```\n")


def exercises_index_markdown(exercises):
    rows = "\n".join(f"| {n} | [`{e.name}`]({e.name}.py) | `{e.title}` | "
                     f"[{e.page.split('#')[0].split('/')[-1]}](../{e.page}), eq. {e.read} |"
                     for n, e in enumerate(exercises, start=1))
    return ("# Exercises\n\nOne file per step of the path, in this order. Each has `forward` written and "
            "`backward` (an optimizer's `step`) for you to write; its docstring says what, in English and "
            "in Korean. `python -m manualnet exercises` lists them with their status, `python -m manualnet "
            "exercises check NAME` grades one, and `git checkout exercises/` brings the stubs back.\n\n"
            "| # | exercise | you write | read |\n|---|---|---|---|\n" + rows + "\n")


def navigation(output, exercises, derivations):
    """The sidebar: the start, the path (backprop.md, then each exercise with its page), the reference."""
    def link(target, label, classes=""):
        current = ' aria-current="page"' if target.split("#")[0] == output else ""
        return f'<a class="{classes}" href="{relative(output, target)}"{current}>{label}</a>'

    on_path = {"derivations/backprop.md"} | {e.page.split("#")[0] for e in exercises}
    items = [
        '<p class="site-name">manualnet</p>',
        f'<ul><li>{link("index.html#start-here", "Start here")}</li><li>{link("README.ko.html", "한국어")}</li></ul>',
        "<p>The path</p>",
        f'<ol start="0"><li>{link("derivations/backprop.html", "Backpropagation")}</li>',
    ]
    for exercise in exercises:
        page = exercise.page.split("#")[0]
        items.append(f"<li>{link(output_of(exercise.file), f'<code>{exercise.title}</code>')} "
                     f"{link(output_of(page) + '#' + exercise.page.split('#')[1], 'read', 'page-link')}</li>")
    items.append("</ol><p>Reference</p><ul>")
    items.append(f"<li>{link('exercises/index.html', 'Exercises')}</li>")
    items.append(f"<li>{link('derivations/index.html', 'Derivations')}</li>")
    for page in derivations:
        if page not in on_path and not page.endswith("README.md"):
            items.append(f"<li>{link(output_of(page), page.split('/')[-1][:-3])}</li>")
    items.append(f"<li>{link('examples/index.html', 'Examples')}</li></ul>")
    return "\n".join(items)


PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · manualnet</title>
<link rel="stylesheet" href="{root}assets/katex/katex.min.css">
<link rel="stylesheet" href="{root}assets/pygments.css">
<link rel="stylesheet" href="{root}assets/site.css">
</head>
<body data-math="{math}">
<nav class="sidebar">
{navigation}
</nav>
<main>
{banner}{content}
{pager}
<p class="from">Built from <code>{source}</code> of the manualnet repository.</p>
</main>
</body>
</html>
"""


def title_of(markdown_text, fallback):
    heading = re.search(r"^# (.+)$", markdown_text, flags=re.M)
    return re.sub(r"[`*]|\$`?|`?\$", "", heading[1]) if heading else fallback


def build(out=DEFAULT_OUT):
    """Build the site into ``out`` (replaced); return the list of pages written (site paths)."""
    require_tools()
    out = Path(out)
    exercises = path_exercises()
    derivations = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "derivations").glob("*.md"))
    markdown_pages = [*MARKDOWN_PAGES, *derivations]
    links = Links(set(markdown_pages) | {e.file for e in exercises})
    math = Math()
    md = markdown_renderer(links, math)

    pages = {}                              # site path -> (title, body, repository source, banner, pager, lang)
    for page in markdown_pages:
        text = (ROOT / page).read_text(encoding="utf-8")
        banner = ""
        for number, exercise in enumerate(exercises, start=1):
            if exercise.page.split("#")[0] == page:
                banner += (f'<p class="banner">On the path: exercise {number}, '
                           f'<a href="{relative(output_of(page), output_of(exercise.file))}">'
                           f'<code>{exercise.title}</code></a>, reads eq. {exercise.read} here.</p>\n')
        pages[output_of(page)] = (title_of(text, page), md.render(text, {"page": page}), page, banner, "",
                                  "ko" if page.endswith(".ko.md") else "en")
    for number, exercise in enumerate(exercises, start=1):
        text = exercise_markdown(exercise, number, len(exercises))
        pager = []
        if number > 1:
            before = exercises[number - 2]
            pager.append(f'<a rel="prev" href="{before.name}.html">← {number - 1}. <code>{before.title}</code></a>')
        if number < len(exercises):
            after = exercises[number]
            pager.append(f'<a rel="next" href="{after.name}.html">{number + 1}. <code>{after.title}</code> →</a>')
        pages[output_of(exercise.file)] = (f"Exercise {number}: {exercise.title}", md.render(text, {"page": exercise.file}),
                                           exercise.file, "", f'<nav class="pager">{" ".join(pager)}</nav>', "en")
    pages["exercises/index.html"] = ("Exercises", md.render(exercises_index_markdown(exercises),
                                                            {"page": "exercises/README.md"}),
                                     "exercises/", "", "", "en")
    done = set()
    while links.sources - done:              # a source page's own links are not followed: it has none
        for path in sorted(links.sources - done):
            pages[output_of(path)] = (path, source_page_body(path), path, "", "", "en")
            done.add(path)

    rendered = math.render()
    if out.exists():
        shutil.rmtree(out)
    for site_path, (title, body, source, banner, pager, lang) in pages.items():
        root = relative(site_path, "index.html")[:-len("index.html")]
        count = len(re.findall(r"<!--math:\d+-->", body))
        text = PAGE.format(lang=lang, title=html.escape(title), root=root, math=count,
                           navigation=navigation(site_path, exercises, derivations), banner=banner,
                           content=fill_math(body, rendered), pager=pager, source=html.escape(source))
        target = out / site_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _copy_assets(out)
    return sorted(pages)


def _copy_assets(out):
    from pygments.formatters import HtmlFormatter

    assets = out / "assets"
    shutil.copytree(KATEX / "fonts", assets / "katex" / "fonts")
    shutil.copy(KATEX / "katex.min.css", assets / "katex" / "katex.min.css")
    shutil.copy(DOCS / "site.css", assets / "site.css")
    (assets / "pygments.css").write_text(HtmlFormatter().get_style_defs(".highlight"), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python docs/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"the folder to build into (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        pages = build(args.out)
    except BuildError as error:
        print(f"docs/build.py: error: {error}", file=sys.stderr)
        return 1
    print(f"built {len(pages)} pages into {args.out}; open {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
