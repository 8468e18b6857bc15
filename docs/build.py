"""Build the study site: README, derivations/ and exercises/ as static pages with the math already rendered.

    python docs/build.py [--out build/site]        (``make docs`` installs what it needs and runs this)

Every page is the repository's own file, turned into HTML as GitHub would
show it: Markdown is parsed by markdown-it-py (CommonMark with GitHub's
tables), and the math is read in the forms the pages use for GitHub
(```` ```math ```` fences, ``$`...`$`` and plain ``$...$``; derivations/README.md
gives the rules).  Every formula is rendered once, here, by KaTeX (from npm:
``docs/package.json``, pinned by ``docs/package-lock.json``), in one node
process; a formula KaTeX cannot read stops the build with its page and its
error.  KaTeX's stylesheet and fonts, and the figures the pages show
(``derivations/figures/``, drawn by ``docs/figures.py``), are copied into the
site, which needs no network: open ``build/site/index.html`` from the disk.

What the site holds:

* ``index.html`` (README.md, "Start here" first), ``README.ko.html``, one page
  per derivation (``derivations/index.html`` is their README) and the
  examples' README;
* one page per exercise (its instructions, English then Korean, then the
  file), in the order of ``manualnet.exercises.EXERCISES``, and
  ``exercises/index.html``;
* a highlighted page, with line anchors, for every other file a page links to
  or names in a code span (``manualnet/nn/modules/linear.py:Linear`` links to the line
  where Linear starts);
* ``search.html``: full-text search over every Markdown page, section by
  section, from an index built here by MiniSearch (npm) and loaded as a
  script, so it works from the disk too.

What a page gives its reader, all of it in the HTML (``assets/site.js``
adds only the copy buttons and the search): a menu with the path and the
reference that folds away on a phone (``<details>``), the page's contents,
a visible anchor on every heading, "eq. (4)" as a link to the equation (on
the page it cites: its own, or the page linked right before or after the
citation; a citation of an equation that is not there stops the build),
previous and next along the path (backprop.md, then each exercise's page and
the exercise, then the other derivations), wide tables and equations that
scroll in their own box, and a dark theme when the system asks for one.
Code fences marked ``text`` that hold Python are highlighted as Python.

Headings get GitHub's anchors, so a link written for GitHub
(``linear.md#backward``) works here too, and a numbered equation gets
``id="eq-4"``.  A link to a file or a symbol that does not exist stops the
build.
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
MINISEARCH = DOCS / "node_modules" / "minisearch" / "dist" / "umd" / "index.js"
DEFAULT_OUT = ROOT / "build" / "site"
MARKDOWN_PAGES = ("README.md", "README.ko.md", "examples/README.md")
FOLDER_PAGES = {"derivations": "derivations/index.html", "exercises": "exercises/index.html",
                "examples": "examples/index.html"}
CODE_REFERENCE = re.compile(r"^(?P<path>[\w.][\w./-]*\.(?:py|md|json|toml))(?:(?:::|:)(?P<symbol>[\w.]+))?$")
# "eq. (4)", "eq. 2", "eq. (8)–(10)", "eq. (5) and (9)", Korean "식 (4)": every number after "eq." becomes a link.
CITATION = re.compile(r"(?:\b[Ee]qs?\.|식)\s*((?:\(\d+\)|\d+)(?:\s*(?:,|and|or|to|–|-)\s*(?:\(\d+\)|\d+))*)")
TAG = re.compile(r"\\tag\{(\d+)\}")
KOREAN_SECTION = "\n한국어\n------\n"


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
    if not (KATEX / "katex.mjs").is_file() or not MINISEARCH.is_file():
        raise BuildError(f"KaTeX or MiniSearch is not installed in {DOCS / 'node_modules'}: cd docs && npm ci "
                         "(make docs does)")


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
    """Resolves the links, images and code references of the pages; remembers the files they need copied."""

    def __init__(self, pages):
        self.pages = pages                  # repository paths that have a page of their own
        self.sources = set()                # other files a page links to: each gets a source page
        self.images = set()                 # images the pages show: copied as they are
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

    def href(self, href, page, lang="en"):
        """Rewrite a link of the Markdown page ``page`` (a repository path) for the site.

        A Korean page's link to an exercise lands on the exercise's Korean section.
        """
        if re.match(r"^[a-z][a-z0-9+.-]*:", href) or href.startswith("#"):
            return href                      # another site, mail, or a place on this page
        path, _, fragment = href.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
        if lang == "ko" and not fragment and repo_path.startswith("exercises/") and repo_path.endswith(".py"):
            fragment = "ko"
        return relative(output_of(page), self.target(repo_path, fragment))

    def image(self, src, page):
        """The URL of an image a page shows (a file of the repository, copied to the same path in the site)."""
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(page), src))
        if re.match(r"^[a-z][a-z0-9+.-]*:", src) or not (ROOT / repo_path).is_file():
            raise BuildError(f"{page} shows {src}, which is not a file of the repository")
        self.images.add(repo_path)
        return relative(output_of(page), repo_path)

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


# -- Markdown, as GitHub reads it, with what a reader of the site expects added --------------------

def github_slug(text, taken):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    unique, count = slug, 0
    while unique in taken:
        count += 1
        unique = f"{slug}-{count}"
    taken.add(unique)
    return unique


def equation_numbers(pages):
    """{repository path: the equation numbers its \\tag{n} give} for every Markdown page."""
    return {page: {int(n) for n in TAG.findall((ROOT / page).read_text(encoding="utf-8"))} for page in pages}


def looks_like_python(code):
    """True for a block that parses as Python and has a statement a program would have (an import, a call, =)."""
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return bool(re.search(r"^\s*(import |from |def |class |for |with |\w[\w.\[\], ]*\s*=|\w[\w.]*\()", code, re.M))


def markdown_renderer(links, math, equations, miscited):
    """The renderer of every Markdown page; ``env`` carries the page ('page'), its 'lang' and its 'headings'.

    A citation of an equation its page does not number is added to ``miscited`` (the build then stops).
    """
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    # allow_digits=True: with False the plugin reads the character before a cell's first $ as the
    # cell's last one (index -1); the pages never put a $ next to a digit (tests/nn/test_math_hazards.py).
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
            tag = TAG.search(token.content)
            anchor = f' id="eq-{tag[1]}"' if tag else ""
            return f'<div class="math-display"{anchor}>{math.placeholder(token.content, True, env["page"])}</div>\n'
        if language == "text" and looks_like_python(token.content):
            language = "python"
        return highlight(token.content, language)

    def render_code_block(self, tokens, index, options, env):
        return highlight(tokens[index].content, "text")            # an indented block: a command to copy

    def render_link_open(self, tokens, index, options, env):
        token = tokens[index]
        token.meta["source"] = token.attrGet("href")
        token.attrSet("href", links.href(token.attrGet("href"), env["page"], env.get("lang", "en")))
        env["in_link"] = True
        return self.renderToken(tokens, index, options, env)

    def render_link_close(self, tokens, index, options, env):
        env["in_link"] = False
        return self.renderToken(tokens, index, options, env)

    def render_code_inline(self, tokens, index, options, env):
        code = f"<code>{html.escape(tokens[index].content)}</code>"
        url = None if env.get("in_link") else links.code_reference(tokens[index].content, env["page"])
        return f'<a class="code-reference" href="{html.escape(url)}">{code}</a>' if url else code

    def render_image(self, tokens, index, options, env):
        token = tokens[index]
        alt = self.renderInlineAsText(token.children, options, env)
        src = links.image(token.attrGet("src"), env["page"])
        return f'<img class="figure" src="{html.escape(src)}" alt="{html.escape(alt)}">'

    def render_heading_open(self, tokens, index, options, env):
        token = tokens[index]
        if token.tag in ("h2", "h3"):
            env.setdefault("headings", []).append((token.tag, token.attrGet("id"),
                                                   _heading_text(tokens[index + 1])))
        return self.renderToken(tokens, index, options, env)

    def render_heading_close(self, tokens, index, options, env):
        slug = tokens[index - 2].attrGet("id")
        return (f'<a class="anchor" href="#{html.escape(slug)}" aria-label="Link to this section">#</a>'
                + self.renderToken(tokens, index, options, env))

    def render_table_open(self, tokens, index, options, env):
        return '<div class="table-wrap">' + self.renderToken(tokens, index, options, env)

    def render_table_close(self, tokens, index, options, env):
        return self.renderToken(tokens, index, options, env) + "</div>\n"

    def render_text(self, tokens, index, options, env):
        text = tokens[index].content
        pieces, last = [], 0
        for match in CITATION.finditer(text):
            target = _cited_page(tokens, index, match, env["page"], equations)
            if target is None:
                continue
            pieces.append(html.escape(text[last:match.start(1)]))
            pieces.append(_equation_links(match[1], target, env["page"], equations, miscited))
            last = match.end(1)
        pieces.append(html.escape(text[last:]))
        return "".join(pieces)

    for name, rule in (("math_inline", render_math_inline), ("fence", render_fence), ("code_block", render_code_block),
                       ("link_open", render_link_open),
                       ("link_close", render_link_close), ("code_inline", render_code_inline),
                       ("image", render_image), ("heading_open", render_heading_open),
                       ("heading_close", render_heading_close), ("table_open", render_table_open),
                       ("table_close", render_table_close), ("text", render_text)):
        md.add_render_rule(name, rule)
    return md


def _derivation_named(token, page):
    """The derivation page a link or code token names ('derivations/rnn.md'), or None."""
    if token.type == "link_open":
        path = (token.meta.get("source") or token.attrGet("href") or "").partition("#")[0]
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path):
            return None
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    elif token.type == "code_inline":
        path = token.content
    else:
        return None
    return path if path.startswith("derivations/") and path.endswith(".md") else None


def _neighbour(tokens, index, step):
    """The next token in direction ``step`` that is not a line break or a bit of punctuation between words."""
    index += step
    while 0 <= index < len(tokens) and (tokens[index].type == "softbreak" or
                                        tokens[index].type == "text" and re.fullmatch(r"[\s,(]*", tokens[index].content)):
        index += step
    return index if 0 <= index < len(tokens) else None


def _cited_page(tokens, index, match, page, equations):
    """Which page an "eq. (n)" in a text token cites.

    The page named right after it ("eq. (9) in [conv2d.md](conv2d.md)") or
    right before it ("[rnn.md](rnn.md) eq. (4)", "[backprop.md](backprop.md)'s
    eq. (4)", "`derivations/pooling.md`, eq. (6)"); else the page itself when it numbers equations; else, on a page
    without equations (an exercise, the README), the last derivation the
    paragraph named; else None, no link.
    """
    text = tokens[index].content
    after = _neighbour(tokens, index, 1)
    if re.fullmatch(r"\s+(?:of|in)\s+", text[match.end():]) and after is not None:
        named = _derivation_named(tokens[after], page)
        if named:
            return named
    before = _neighbour(tokens, index, -1)
    if re.fullmatch(r"[\s,(]*(?:'s\s+)?", text[:match.start()]) and before is not None:
        opening = before
        if tokens[before].type == "link_close":
            while opening > 0 and tokens[opening].type != "link_open":
                opening -= 1
        named = _derivation_named(tokens[opening], page)
        if named:
            return named
    if equations.get(page):
        return page
    for earlier in range(index - 1, -1, -1):
        named = _derivation_named(tokens[earlier], page)
        if named:
            return named
    return None


def _equation_links(numbers, target, page, equations, miscited):
    """'(8)–(10)' with each number a link to its equation on ``target``; a number it lacks goes to ``miscited``."""
    prefix = "" if target == page else relative(output_of(page), output_of(target))

    def link(match):
        number = int(match[1])
        if number not in equations.get(target, ()):
            miscited.append(f"  {page} cites eq. ({number}) of {target}, which numbers no ({number})")
            return html.escape(match[0])
        return f'<a class="eq-ref" href="{prefix}#eq-{number}">{html.escape(match[0])}</a>'
    return re.sub(r"\(?(\d+)\)?", link, numbers)


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


def _heading_text(inline):
    return "".join(child.content for child in inline.children or []
                   if child.type in ("text", "code_inline", "math_inline"))


def _heading_ids(state):
    taken = set()
    for index, token in enumerate(state.tokens):
        if token.type == "heading_open":
            token.attrSet("id", github_slug(_heading_text(state.tokens[index + 1]), taken))


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


def contents(headings, lang):
    """The page's contents list: its h2 headings, each with its h3 headings below it."""
    if len(headings) < 2:
        return ""
    items, open_sub = [], False
    for tag, slug, text in headings:
        link = f'<a href="#{html.escape(slug)}">{html.escape(text)}</a>'
        if tag == "h3":
            items.append(("" if open_sub else "<ol>") + f"<li>{link}</li>")
            open_sub = True
            continue
        if open_sub:
            items.append("</ol>")
            open_sub = False
        items.append(("</li>" if items else "") + f"<li>{link}")
    items.append(("</ol>" if open_sub else "") + "</li>")
    label = "이 페이지의 차례" if lang == "ko" else "On this page"
    return (f'<details class="toc"><summary>{label}</summary>\n<nav aria-label="{label}"><ol>'
            + "".join(items) + "</ol></nav></details>\n")


def with_contents(body, headings, lang):
    """``body`` with its contents list after its title."""
    toc = contents(headings, lang)
    end = body.find("</h1>")
    return body if not toc or end < 0 else body[:end + 5] + "\n" + toc + body[end + 5:]


# -- the path ---------------------------------------------------------------------------

def path_exercises():
    sys.path.insert(0, str(ROOT))
    from manualnet.grader import EXERCISES
    return EXERCISES


def exercise_markdown(exercise, number, total):
    """An exercise's page: its instructions (the file's docstring, English, then Korean in lang="ko"), then the file."""
    text = (ROOT / exercise.file).read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(text))
    english, _, korean = docstring.partition(KOREAN_SECTION)
    code = text[text.index('"""', 3) + 3:].lstrip("\n")
    page, _ = exercise.page.split("#")
    korean_part = f'<div lang="ko" id="ko">\n\n## 한국어\n\n{korean.strip()}\n\n</div>\n\n' if korean else ""
    return (f"# Exercise {number} of {total}: `{exercise.title}`\n\n"
            f"Read [{page.split('/')[-1]}](../{exercise.page}), eq. {exercise.read}; write `{exercise.title}` "
            f"in `{exercise.file}`; grade it with `python -m manualnet exercises check {exercise.name}`."
            f"{' [한국어](#ko)' if korean else ''}\n\n"
            f"{english.strip()}\n\n{korean_part}## The file, after its docstring\n\n```python\n{code}```\n")


def exercises_index_markdown(exercises):
    rows = "\n".join(f"| {n} | [`{e.name}`]({e.name}.py) | `{e.title}` | "
                     f"[{e.page.split('#')[0].split('/')[-1]}](../{e.page}), eq. {e.read} |"
                     for n, e in enumerate(exercises, start=1))
    return ("# Exercises\n\nOne file per step of the path, in this order. Each has `forward` written and "
            "`backward` (an optimizer's `step`) for you to write; its docstring says what, in English and "
            "in Korean. `python -m manualnet exercises` lists them with their status, `python -m manualnet "
            "exercises check NAME` grades one, and `git checkout exercises/` brings the stubs back.\n\n"
            "| # | exercise | you write | read |\n|---|---|---|---|\n" + rows + "\n")


def derivations_in_index_order():
    """The derivation pages in the order derivations/README.md lists them."""
    index = (ROOT / "derivations" / "README.md").read_text(encoding="utf-8")
    listed = dict.fromkeys(f"derivations/{name}" for name in re.findall(r"\]\(([a-z0-9_]+\.md)\)", index))
    return [page for page in listed if (ROOT / page).is_file()]


def reading_order(exercises):
    """Every page of the path, in the order a learner reads them: the start, backprop.md, then each
    exercise's page and the exercise, then the other derivations, then the indexes."""
    order = ["index.html", "derivations/backprop.html"]
    for exercise in exercises:
        for page in (output_of(exercise.page.split("#")[0]), output_of(exercise.file)):
            if page not in order:
                order.append(page)
    for page in map(output_of, derivations_in_index_order()):
        if page not in order:
            order.append(page)
    return order + ["derivations/index.html", "exercises/index.html", "examples/index.html"]


LABELS = {
    "en": {"menu": "Menu: the path, the reference, search", "start": "Start here", "other": "한국어",
           "other_page": "README.ko.html", "path": "The path", "reference": "Reference", "exercises": "Exercises",
           "derivations": "Derivations", "examples": "Examples", "read": "read", "search": "Search",
           "search_label": "Search the site", "previous": "Previous", "next": "Next"},
    "ko": {"menu": "메뉴: 학습 경로, 참고 자료, 검색", "start": "여기서 시작하기", "other": "English",
           "other_page": "index.html", "path": "학습 경로", "reference": "참고 자료", "exercises": "연습문제",
           "derivations": "유도 페이지", "examples": "예제", "read": "읽기", "search": "검색",
           "search_label": "사이트 검색", "previous": "이전", "next": "다음"},
}


def navigation(output, exercises, derivations, lang="en"):
    """The menu: a search box, the start, the path (backprop.md, then each exercise with its page), the reference.

    On a Korean page it is in Korean, and each exercise link lands on the exercise's Korean section.
    """
    words = LABELS[lang]

    def link(target, label, classes=""):
        current = ' aria-current="page"' if target.split("#")[0] == output else ""
        return f'<a class="{classes}" href="{relative(output, target)}"{current}>{label}</a>'

    on_path = {"derivations/backprop.md"} | {e.page.split("#")[0] for e in exercises}
    start = "README.ko.html#여기서-시작하기-start-here" if lang == "ko" else "index.html#start-here"
    items = [
        '<p class="site-name">manualnet</p>',
        f'<form class="search" action="{relative(output, "search.html")}" role="search">'
        f'<input type="search" name="q" placeholder="{words["search"]}" aria-label="{words["search_label"]}">'
        f'<button type="submit">{words["search"]}</button></form>',
        f'<ul><li>{link(start, words["start"])}</li><li>{link(words["other_page"], words["other"])}</li></ul>',
        f"<p>{words['path']}</p>",
        f'<ol start="0"><li>{link("derivations/backprop.html", "Backpropagation")}</li>',
    ]
    for exercise in exercises:
        page = exercise.page.split("#")[0]
        exercise_target = output_of(exercise.file) + ("#ko" if lang == "ko" else "")
        items.append(f"<li>{link(exercise_target, f'<code>{exercise.title}</code>')} "
                     f"{link(output_of(page) + '#' + exercise.page.split('#')[1], words['read'], 'page-link')}</li>")
    items.append(f"</ol><p>{words['reference']}</p><ul>")
    items.append(f"<li>{link('exercises/index.html', words['exercises'])}</li>")
    items.append(f"<li>{link('derivations/index.html', words['derivations'])}</li>")
    for page in derivations:
        if page not in on_path and not page.endswith("README.md"):
            items.append(f"<li>{link(output_of(page), page.split('/')[-1][:-3])}</li>")
    items.append(f"<li>{link('examples/index.html', words['examples'])}</li></ul>")
    return "\n".join(items)


def pager(site_path, order, titles, lang="en"):
    """Previous and next along the reading order, or nothing for a page off it."""
    if site_path not in order:
        return ""
    position, words, links = order.index(site_path), LABELS[lang], []
    if position > 0:
        before = order[position - 1]
        links.append(f'<a rel="prev" href="{relative(site_path, before)}"><span>{words["previous"]}</span> '
                     f'{html.escape(titles[before])}</a>')
    if position < len(order) - 1:
        after = order[position + 1]
        links.append(f'<a rel="next" href="{relative(site_path, after)}"><span>{words["next"]}</span> '
                     f'{html.escape(titles[after])}</a>')
    return f'<nav class="pager" aria-label="{words["previous"]} / {words["next"]}">{"".join(links)}</nav>'


PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title} · manualnet</title>
<link rel="stylesheet" href="{root}assets/katex/katex.min.css">
<link rel="stylesheet" href="{root}assets/pygments.css">
<link rel="stylesheet" href="{root}assets/site.css">
{scripts}<script src="{root}assets/site.js" defer></script>
</head>
<body data-math="{math}">
<nav class="sidebar" aria-label="manualnet">
<details class="menu"><summary>{menu}</summary>
<div class="menu-body">
{navigation}
</div>
</details>
</nav>
<main>
{banner}{content}
{pager}
<p class="from">Built from <code>{source}</code> of the manualnet repository.</p>
</main>
</body>
</html>
"""

SEARCH_PAGE = """<h1>Search</h1>
<form class="search-page" action="search.html" role="search">
<input type="search" name="q" aria-label="Search the site" placeholder="a word from any page: softmax, im2col, zero_grad">
<button type="submit">Search</button>
</form>
<p id="search-status">Every Markdown page of the site, section by section: the README, the derivations, the
exercises and the examples.</p>
<noscript><p>Search runs in your browser and needs JavaScript; every other page works without it.</p></noscript>
<ol id="search-results"></ol>
"""


def title_of(markdown_text, fallback):
    heading = re.search(r"^# (.+)$", markdown_text, flags=re.M)
    return re.sub(r"[`*]|\$`?|`?\$", "", heading[1]) if heading else fallback


# -- search: one document per section, indexed by MiniSearch at build time ---------------------------------

def search_documents(site_path, title, body):
    """The sections of a rendered page (before its math is filled in) as search documents."""
    documents = []
    parts = re.split(r'(<h[123] id="[^"]*"[^>]*>.*?</h[123]>)', body, flags=re.S)
    heading, anchor = title, ""
    for part in parts:
        found = re.match(r'<h([123]) id="([^"]*)"[^>]*>(.*?)</h\1>', part, flags=re.S)
        if found:
            heading = html.unescape(re.sub(r"<[^>]+>", "", found[3])).strip().removesuffix("#").strip() or title
            anchor = "" if found[1] == "1" else found[2]
            continue
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<!--math:\d+-->", " ", part)))
        text = " ".join(text.split())
        if text:
            documents.append({"id": f"{site_path}#{anchor}", "url": site_path + (f"#{anchor}" if anchor else ""),
                              "title": heading, "page": title, "text": text, "snippet": text[:180]})
    return documents


def write_search_index(documents, out):
    """assets/search-index.js: the MiniSearch index of ``documents``, built by node, as a script (file:// has no fetch)."""
    node = subprocess.run(["node", str(DOCS / "search_index.mjs")], input=json.dumps(documents), capture_output=True,
                          text=True, cwd=DOCS, timeout=300)
    if node.returncode != 0:
        raise BuildError(f"the search index failed: {node.stderr.strip()}")
    (out / "assets" / "search-index.js").write_text(
        "// The search index of docs/build.py (MiniSearch.loadJS; the options are docs/search_index.mjs's).\n"
        f"window.MANUALNET_SEARCH = {node.stdout};\n", encoding="utf-8")


def build(out=DEFAULT_OUT):
    """Build the site into ``out`` (replaced); return the list of pages written (site paths)."""
    require_tools()
    out = Path(out)
    exercises = path_exercises()
    derivations = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "derivations").glob("*.md"))
    markdown_pages = [*MARKDOWN_PAGES, *derivations]
    links = Links(set(markdown_pages) | {e.file for e in exercises})
    math, miscited = Math(), []
    md = markdown_renderer(links, math, equation_numbers(markdown_pages), miscited)

    pages = {}             # site path -> (title, body, repository source, banner, lang, scripts)
    documents = []
    for page in markdown_pages:
        text = (ROOT / page).read_text(encoding="utf-8")
        lang = "ko" if page.endswith(".ko.md") else "en"
        banner = ""
        for number, exercise in enumerate(exercises, start=1):
            if exercise.page.split("#")[0] == page:
                banner += (f'<p class="banner">On the path: exercise {number}, '
                           f'<a href="{relative(output_of(page), output_of(exercise.file))}">'
                           f'<code>{exercise.title}</code></a>, reads eq. {exercise.read} here.</p>\n')
        env = {"page": page, "lang": lang}
        body = md.render(text, env)
        pages[output_of(page)] = (title_of(text, page), with_contents(body, env.get("headings", []), lang), page,
                                  banner, lang, "")
        documents += search_documents(output_of(page), title_of(text, page), body)
    for number, exercise in enumerate(exercises, start=1):
        env = {"page": exercise.file, "lang": "en"}
        body = md.render(exercise_markdown(exercise, number, len(exercises)), env)
        title = f"Exercise {number}: {exercise.title}"
        pages[output_of(exercise.file)] = (title, with_contents(body, env.get("headings", []), "en"), exercise.file,
                                           "", "en", "")
        documents += search_documents(output_of(exercise.file), title, body)
    env = {"page": "exercises/README.md", "lang": "en"}
    body = md.render(exercises_index_markdown(exercises), env)
    pages["exercises/index.html"] = ("Exercises", body, "exercises/", "", "en", "")
    done = set()
    while links.sources - done:              # a source page's own links are not followed: it has none
        for path in sorted(links.sources - done):
            pages[output_of(path)] = (path, source_page_body(path), path, "", "en", "")
            done.add(path)
    pages["search.html"] = ("Search", SEARCH_PAGE, "docs/build.py", "", "en",
                            '<script src="assets/minisearch.js" defer></script>\n'
                            '<script src="assets/search-index.js" defer></script>\n')

    if miscited:
        raise BuildError(f"{len(miscited)} citation(s) of an equation that is not there:\n" + "\n".join(miscited))
    rendered = math.render()
    titles = {site_path: entry[0] for site_path, entry in pages.items()}
    order = reading_order(exercises)
    if out.exists():
        shutil.rmtree(out)
    for site_path, (title, body, source, banner, lang, scripts) in pages.items():
        root = relative(site_path, "index.html")[:-len("index.html")]
        count = len(re.findall(r"<!--math:\d+-->", body))
        text = PAGE.format(lang=lang, title=html.escape(title), root=root, math=count, scripts=scripts,
                           menu=LABELS[lang]["menu"], navigation=navigation(site_path, exercises, derivations, lang),
                           banner=banner, content=fill_math(body, rendered),
                           pager=pager(site_path, order, titles, lang), source=html.escape(source))
        target = out / site_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _copy_assets(out, links.images)
    write_search_index(documents, out)
    return sorted(pages)


def _copy_assets(out, images):
    from pygments.formatters import HtmlFormatter

    assets = out / "assets"
    shutil.copytree(KATEX / "fonts", assets / "katex" / "fonts")
    shutil.copy(KATEX / "katex.min.css", assets / "katex" / "katex.min.css")
    shutil.copy(MINISEARCH, assets / "minisearch.js")
    for name in ("site.css", "site.js"):
        shutil.copy(DOCS / name, assets / name)
    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="github-dark").get_style_defs(".highlight")
    (assets / "pygments.css").write_text(f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n",
                                         encoding="utf-8")
    for image in images:
        (out / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / image, out / image)


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
