"""The study site: ``make docs`` builds it, and every page opens in headless Chromium with its math rendered.

The site is built once into a temporary folder (docs/build.py, as ``make
docs`` runs it).  Without a browser the tests read the built HTML: a page for
every document, every link and asset resolving (fragments included), GitHub's
heading anchors and a visible anchor link on every heading, a contents list
on every page, "eq. (n)" citations turned into links (and a citation of a
missing equation stopping the build), previous and next along the path, the
figures copied, Korean marked as Korean, code references that land on their
line, nothing fetched from the network and no script but the site's own.
With Debian's ``chromium`` (docs/browser.py drives it) every page is opened
from the disk, as a reader opens the built site offline: it must load with
no failed request and no error, show as many rendered formulas as the build
put in and no KaTeX error, use KaTeX's stylesheet and fonts, leave no raw
TeX in its text, load every figure, and every link on it must lead to a page
and an id that exist; every equation link must land on the equation with
that number.  At 390, 768 and 1280 pixels no page scrolls sideways and no
equation number overlaps its formula; on a phone the menu is folded away;
search finds a term of a derivation page; the pages work with JavaScript off
and follow a dark system theme.  Four pages are saved as screenshots
(build/docs-screenshots/, or $MANUALNET_DOCS_SCREENSHOTS) to look at.

What the site needs (node with KaTeX in docs/node_modules, the ``docs``
extra's Python packages, Chromium) may be missing on a developer's machine:
the tests then skip and say what is missing.  MANUALNET_REQUIRE_DOCS=1
(``make docs-test`` and .ci/run set it) turns each such skip into a failure.
"""

import functools
import html
import importlib.util
import json
import os
import re
import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

# Building the site and opening its pages in Chromium takes minutes: make test and make docs-test run these,
# make test-fast leaves them out.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("MANUALNET_REQUIRE_DOCS", "") not in ("", "0")
SCREENSHOTS = Path(os.environ.get("MANUALNET_DOCS_SCREENSHOTS") or ROOT / "build" / "docs-screenshots")
SCREENSHOT_PAGES = {"derivation": ("derivations/softmax.html", 1280), "exercise": ("exercises/linear.html", 1280),
                    "korean": ("README.ko.html", 1280), "phone": ("derivations/rnn.html", 390)}
WIDTHS = (390, 768, 1280)


def unavailable(reason):
    if REQUIRED:
        pytest.fail(f"MANUALNET_REQUIRE_DOCS is set, but {reason}")
    pytest.skip(f"{reason} (make docs-test installs the rest; MANUALNET_REQUIRE_DOCS=1 makes this an error)")


def load(name):
    spec = importlib.util.spec_from_file_location(f"manualnet_docs_{name}", ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load("build")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(the built site's folder, its pages as site paths)."""
    try:
        build.require_tools()
    except build.BuildError as error:
        unavailable(str(error))
    out = tmp_path_factory.mktemp("site")
    return out, build.build(out)


# -- what the built HTML holds ----------------------------------------------------------------

class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.scripts, self.images, self.classes = [], set(), [], [], []
        self.headings, self.lang, self.korean_blocks = [], None, 0
        self._heading = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append(attrs[name])
        if tag == "script":
            self.scripts.append(attrs.get("src"))
        if tag == "img":
            self.images.append((attrs.get("src"), attrs.get("alt")))
        if tag == "html":
            self.lang = attrs.get("lang")
        self.korean_blocks += tag != "html" and attrs.get("lang") == "ko"
        self.classes.append((tag, attrs.get("class") or "", attrs.get("href") or "", attrs.get("rel") or ""))
        if tag in ("h2", "h3"):
            self._heading = [attrs.get("id"), None]
            self.headings.append(self._heading)
        if tag == "a" and self._heading is not None and "anchor" in (attrs.get("class") or ""):
            self._heading[1] = attrs.get("href")

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self._heading = None

    def having(self, tag, css_class):
        return [(href, rel) for t, classes, href, rel in self.classes if t == tag and css_class in classes.split()]


@functools.lru_cache(maxsize=None)
def parsed(site_folder, page):
    """The built page ``page`` read once (the site is built once per run)."""
    reader = _Page()
    reader.feed((site_folder / page).read_text(encoding="utf-8"))
    return reader


def test_the_site_has_a_page_for_every_document(site):
    folder, pages = site
    expected = {"index.html", "README.ko.html", "derivations/index.html", "exercises/index.html",
                "examples/index.html"}
    expected |= {f"derivations/{path.stem}.html" for path in (ROOT / "derivations").glob("*.md") if path.stem != "README"}
    expected |= {f"exercises/{path.stem}.html" for path in (ROOT / "exercises").glob("*.py")}
    assert expected <= set(pages)
    assert all((folder / page).is_file() for page in pages)


def test_every_link_and_asset_resolves_to_a_file_and_an_id(site):
    folder, pages = site
    pages_read = {page: parsed(folder, page) for page in pages}
    broken = []
    for page, reader in pages_read.items():
        for link in reader.links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", link):
                continue                              # another site: not part of this one
            path, _, fragment = link.partition("#")
            target = (folder / page).parent / unquote(path) if path else folder / page
            target = target.resolve()
            if not target.is_file():
                broken.append(f"{page}: {link} (no such file)")
            elif fragment and target.suffix == ".html":
                ids = pages_read[str(target.relative_to(folder.resolve()))].ids
                if fragment not in ids:
                    broken.append(f"{page}: {link} (no id {fragment!r} there)")
    assert not broken, "\n".join(broken)


def test_the_site_fetches_nothing_and_runs_only_its_own_scripts(site):
    folder, pages = site
    own = {"site.js", "minisearch.js", "search-index.js"}
    for page in pages:
        reader = parsed(folder, page)
        assert all(src and src.split("/")[-1] in own and "assets/" in src for src in reader.scripts), page
        assert not [link for link in reader.links if link.startswith(("http:", "https:", "//")) and
                    ".css" in link], page
    assert list((folder / "assets" / "katex" / "fonts").glob("KaTeX_Main-Regular.woff2"))
    assert {script.split("/")[-1] for script in parsed(folder, "search.html").scripts} == own


def test_headings_numbered_equations_and_code_references_have_their_anchors(site):
    folder, _ = site
    assert {"start-here", "exercises-write-the-backward-yourself", "check-your-own-implementation"} <= parsed(
        folder, "index.html").ids
    assert {"the-chain-sequentialbackward", "2-why-grad-adds-up-and-why-zero_grad-exists"} <= parsed(
        folder, "derivations/backprop.html").ids
    linear = parsed(folder, "derivations/linear.html")
    assert {"backward", "eq-1", "eq-2", "eq-3", "eq-4"} <= linear.ids
    line = build.symbol_lines("manualnet/nn/modules/linear.py")["Linear"]
    assert f"../source/manualnet/nn/modules/linear.py.html#L-{line}" in linear.links
    source = (folder / "source/manualnet/nn/modules/linear.py.html").read_text(encoding="utf-8")
    assert re.search(rf'id="L-{line}".*?class.*?Linear', source, flags=re.S)


def test_the_navigation_follows_the_path(site):
    folder, _ = site
    from manualnet.grader import EXERCISES
    sidebar = (folder / "index.html").read_text(encoding="utf-8").split('<nav class="sidebar"')[1].split("</nav>")[0]
    order = [sidebar.index("derivations/backprop.html")] + [sidebar.index(f'exercises/{e.name}.html"')
                                                             for e in EXERCISES]
    assert order == sorted(order)
    page = (folder / "exercises/relu.html").read_text(encoding="utf-8")
    assert 'rel="prev" href="../derivations/relu.html"' in page, "an exercise comes after its page"
    assert 'rel="next" href="../derivations/sigmoid.html"' in page


def test_every_page_of_the_path_and_every_derivation_has_previous_and_next(site):
    folder, pages = site
    order = build.reading_order(build.path_exercises())
    derivations = {f"derivations/{path.stem}.html" for path in (ROOT / "derivations").glob("*.md")
                   if path.stem != "README"}
    assert derivations <= set(order) and set(order) <= set(pages)
    for position, page in enumerate(order):
        pager = {rel: href for _, _, href, rel in parsed(folder, page).classes if rel in ("prev", "next")}
        expected = {"prev"} if position == len(order) - 1 else {"next"} if position == 0 else {"prev", "next"}
        assert set(pager) == expected, (page, pager)
        if "next" in pager:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), pager["next"]))
            assert target == order[position + 1], (page, target)


def test_every_markdown_page_has_its_contents_and_every_heading_an_anchor(site):
    folder, pages = site
    checked = 0
    for page in pages:
        if page.startswith("source/") or page == "search.html":
            continue
        reader = parsed(folder, page)
        for slug, anchor in reader.headings:
            assert anchor == f"#{slug}", f"{page}: heading {slug!r} has no anchor link to itself"
        if len(reader.headings) >= 2:
            toc = (folder / page).read_text(encoding="utf-8").split('<details class="toc">', 1)
            assert len(toc) == 2, f"{page} has {len(reader.headings)} headings and no contents list"
            listed = re.findall(r'href="#([^"]+)"', toc[1].split("</details>", 1)[0])
            assert listed == [slug for slug, _ in reader.headings], page
            checked += 1
    assert checked > 40


def test_equation_citations_are_links_to_their_equations(site):
    folder, pages = site
    links = [href for page in pages for href, _ in parsed(folder, page).having("a", "eq-ref")]
    assert len(links) > 150
    assert all(re.search(r"#eq-\d+$", href) for href in links)
    rnn = parsed(folder, "derivations/rnn.html").having("a", "eq-ref")
    assert ("#eq-4", "") in rnn and ("backprop.html#eq-4", "") in parsed(folder, "derivations/autograd.html").having(
        "a", "eq-ref")
    lstm = [href for href, _ in parsed(folder, "derivations/lstm.html").having("a", "eq-ref")]
    assert "rnn.html#eq-4" in lstm and "rnn.html#eq-12" in lstm                 # "[rnn.md](rnn.md) eq. (4)"


def test_a_citation_resolves_to_the_page_it_names_and_a_missing_equation_is_reported():
    try:
        import markdown_it, mdit_py_plugins  # noqa: F401, E401  (the renderer's packages: the docs extra)
    except ImportError:
        unavailable("the site's Markdown renderer needs markdown-it-py and mdit-py-plugins: pip install -e '.[docs]'")
    links = build.Links({"derivations/linear.md", "derivations/rnn.md", "derivations/lstm.md"})
    equations = {"derivations/lstm.md": {1, 2}, "derivations/rnn.md": {4, 12}, "derivations/linear.md": {1}}
    miscited = []
    md = build.markdown_renderer(links, build.Math(), equations, miscited)
    html_text = md.render("By [rnn.md](rnn.md) eq. (4) and eq. (2), eq. (12) of [rnn.md](rnn.md); eq. (9).\n",
                          {"page": "derivations/lstm.md"})
    assert 'href="rnn.html#eq-4"' in html_text and 'href="#eq-2"' in html_text
    assert 'href="rnn.html#eq-12"' in html_text
    assert miscited == ["  derivations/lstm.md cites eq. (9) of derivations/lstm.md, which numbers no (9)"]


@pytest.mark.parametrize("code, python", [
    ("x, a = torch.tensor(2.0), 3\nz = x * a\nz.backward()\n", True),
    ("import torch\n", True),
    ("MulBackward0 ()\n├── AccumulateGrad x ()\n", False),
    ("epoch:[0] loss:[0.397] train_accr:[0.960]\n", False),
    ("the gradient flows back\n", False),
])
def test_text_fences_that_hold_python_are_highlighted_as_python(code, python):
    assert build.looks_like_python(code) is python


def test_figures_are_copied_and_shown_with_their_alt_text(site):
    folder, pages = site
    shown = [(page, src, alt) for page in pages for src, alt in parsed(folder, page).images]
    assert len({src for _, src, _ in shown}) >= 30
    registered = {entry.name: entry.alt for entry in load("figures").FIGURES}
    for page, src, alt in shown:
        assert (folder / page).parent.joinpath(src).resolve().is_file(), (page, src)
        assert alt == registered[posixpath.basename(src)[:-4]], (page, src)      # Markdown kept the alt text whole
    for path in (ROOT / "derivations").glob("*.md"):
        if path.stem != "README":
            assert parsed(folder, f"derivations/{path.stem}.html").images, f"{path.name} shows no figure"


def test_korean_is_marked_and_has_its_own_menu_and_links(site):
    folder, _ = site
    korean = parsed(folder, "README.ko.html")
    assert korean.lang == "ko"
    page = (folder / "README.ko.html").read_text(encoding="utf-8")
    assert "학습 경로" in page.split("</nav>")[0] and 'href="exercises/linear.html#ko"' in page
    for path in (ROOT / "exercises").glob("*.py"):
        exercise = parsed(folder, f"exercises/{path.stem}.html")
        assert exercise.lang == "en" and exercise.korean_blocks == 1 and "ko" in exercise.ids, path.name


def test_the_build_stops_at_a_link_or_a_symbol_that_does_not_exist():
    links = build.Links({"derivations/linear.md"})
    with pytest.raises(build.BuildError, match="no such file in the repository: derivations/nope.md"):
        links.href("nope.md", "derivations/linear.md")
    with pytest.raises(build.BuildError, match="manualnet/nn/modules/linear.py defines no Nope"):
        links.code_reference("manualnet/nn/modules/linear.py:Nope", "derivations/linear.md")
    assert links.href("linear.md#backward", "derivations/backprop.md") == "linear.html#backward"
    assert links.code_reference("torch.nn.Linear", "derivations/linear.md") is None


def test_the_build_stops_at_a_formula_katex_cannot_read(site):
    math = build.Math()
    math.placeholder("x_{n", False, "derivations/broken.md")
    math.placeholder("y = x W^\\top + b \\tag{1}", True, "derivations/fine.md")
    with pytest.raises(build.BuildError, match=r"1 formula\(s\) KaTeX cannot render:\n  derivations/broken.md: "):
        math.render()


@pytest.mark.parametrize("heading, slug", [
    ("Backward", "backward"), ("2. Why `.grad` adds up, and why `zero_grad()` exists", None),
    ("SGD (`optim.SGD`)", "sgd-optimsgd"), ("여기서 시작하기 (Start here)", "여기서-시작하기-start-here"),
])
def test_headings_get_githubs_anchors(heading, slug):
    text = heading.replace("`", "")
    assert build.github_slug(text, set()) == (slug or "2-why-grad-adds-up-and-why-zero_grad-exists")
    assert build.github_slug("Backward", {"backward"}) == "backward-1"


# -- every page in Chromium ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    browser = load("browser")
    if browser.find_binary() is None:
        unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    try:
        import websocket  # noqa: F401  (the docs extra's websocket-client)
    except ImportError:
        unavailable("websocket-client is not installed: pip install -e '.[docs]'")
    with browser.Chromium() as opened:
        yield opened


def problems(shown, title):
    """What is wrong with a page as Chromium showed it (an empty list when nothing is)."""
    found = []
    if shown["title"] != title or not shown["hasContent"]:
        found.append(f"did not load as itself: title {shown['title']!r}, content {shown['hasContent']}")
    found += [f"request failed: {failure}" for failure in shown["failed"]]
    found += [f"error: {error}" for error in shown["errors"]]
    if shown["mathErrors"]:
        found.append(f"{shown['mathErrors']} math render error(s)")
    if shown["math"] != shown["declaredMath"]:
        found.append(f"{shown['math']} rendered formulas, the build put in {shown['declaredMath']}")
    if shown["math"] and not (shown["katexFontsLoaded"] and shown["mathFont"].startswith("KaTeX_Main")
                              and shown["mathWidth"] > 0):
        found.append(f"the math is not set in KaTeX's fonts: {shown['mathFont']!r}, "
                     f"{shown['katexFontsLoaded']} KaTeX_Main face(s) loaded")
    if shown["stylesheets"] != 3 or shown["siteStyle"] != "sticky":
        found.append(f"the stylesheets are not in use ({shown['stylesheets']} loaded)")
    found += [f"raw TeX in the text: {text!r}" for text in shown["raw"]]
    found += [f"a figure did not load: {figure['src']}" for figure in shown["figures"] if not figure["width"]]
    return found + layout_problems(shown)


def layout_problems(shown):
    """What is wrong with a page's layout at the width it was measured at (LAYOUT's fields)."""
    found = []
    if shown["scrollWidth"] > shown["width"] + 1:
        found.append(f"scrolls sideways at {shown['width']} px ({shown['scrollWidth']} px wide): {shown['sticking']}")
    found += [f"equation number over its formula at {shown['width']} px: {where}" for where in shown["overlapping"]]
    found += [f"image not loaded: {src}" for src in shown["brokenImages"]]
    return found


@pytest.fixture(scope="module")
def visits(site, chromium):
    """{site path: what Chromium showed} for every page, opened from the disk (file://) and measured at each
    of WIDTHS; the fields without a width are the last width's, the desktop's."""
    folder, pages = site
    return {page: chromium.visit((folder / page).as_uri(), WIDTHS) for page in pages}


def test_every_page_opens_with_its_math_rendered(site, visits):
    folder, _ = site
    found = []
    for page, shown in visits.items():
        title = re.search(r"<title>(.*?)</title>", (folder / page).read_text(encoding="utf-8"))[1]
        found += [f"{page}: {problem}" for problem in problems(shown, html.unescape(title))]
    assert not found, "\n".join(found)
    assert sum(shown["math"] for shown in visits.values()) > 1500          # the derivations' math is there


@pytest.fixture(scope="module")
def narrow_layouts(visits):
    """{(width, site path): LAYOUT's measurements} for every page at a phone's and a tablet's width."""
    return {(width, page): shown["layouts"][width] for page, shown in visits.items() for width in WIDTHS[:-1]}


def test_no_page_scrolls_sideways_or_covers_a_formula_with_its_number(visits, narrow_layouts):
    layouts = narrow_layouts | {(1280, page): shown for page, shown in visits.items()}
    found = [f"{page}: {problem}" for (width, page), shown in layouts.items() for problem in layout_problems(shown)]
    assert not found, "\n".join(found)
    checked = {width: sum(shown["tags"] for (w, _), shown in layouts.items() if w == width) for width in WIDTHS}
    assert all(count > 200 for count in checked.values()), checked          # the numbered equations were measured


def test_on_a_phone_the_menu_folds_away_and_on_a_desktop_it_stays(visits, narrow_layouts):
    page = "derivations/rnn.html"
    phone, desktop = narrow_layouts[390, page], visits[page]
    assert not phone["menuShown"] and phone["titleTop"] < 250, phone
    assert desktop["menuShown"] and desktop["titleTop"] < 200, desktop
    folded = [page for (width, page), shown in narrow_layouts.items() if width == 390 and shown["menuShown"]]
    assert not folded, folded


def test_every_equation_link_names_the_number_of_the_equation_it_lands_on(site, visits):
    folder, _ = site
    tags = {(folder / page).resolve().as_uri(): shown["eqTags"] for page, shown in visits.items()}
    wrong, count = [], 0
    for page, shown in visits.items():
        for url, text in shown["eqLinks"]:
            address, _, fragment = url.partition("#")
            number = fragment.removeprefix("eq-")
            count += 1
            if tags.get(address, {}).get(fragment) != f"({number})" or re.sub(r"\D", "", text) != number:
                wrong.append(f"{page}: {text} -> {url} shows {tags.get(address, {}).get(fragment)!r}")
    assert not wrong, "\n".join(wrong)
    assert count > 150


def test_following_an_equation_link_scrolls_to_the_equation(site, chromium):
    folder, _ = site
    for page, fragment in (("derivations/lstm.html", "eq-13"), ("derivations/rnn.html", "eq-12"),
                           ("derivations/backprop.html", "eq-4")):
        chromium.resize(1280)
        chromium.load(f"{(folder / page).as_uri()}#{fragment}")
        top = chromium.evaluate(f"document.fonts.ready.then(() => document.getElementById('{fragment}')"
                                ".getBoundingClientRect().top)")
        assert -2 <= top < 100, (page, fragment, top)


@pytest.mark.parametrize("query, page", [("im2col", "derivations/conv2d.html"),
                                         ("scatter-add", "derivations/embedding.html"),
                                         ("truncated", "derivations/rnn.html")])
def test_search_finds_a_term_on_its_derivation_page(site, chromium, query, page):
    folder, _ = site
    chromium.resize(1280)
    chromium.load(f"{(folder / 'search.html').as_uri()}?q={query}")
    found = chromium.evaluate("JSON.stringify([...document.querySelectorAll('#search-results a')].map(a => a.href))")
    urls = json.loads(found)
    assert any(url.split("#")[0].endswith(page) for url in urls[:5]), (query, urls[:5])


def test_a_search_box_on_every_page_leads_to_the_search_page(site):
    folder, pages = site
    for page in pages:
        text = (folder / page).read_text(encoding="utf-8")
        action = re.search(r'<form class="search" action="([^"]+)"', text)
        assert action and (folder / page).parent.joinpath(action[1]).resolve() == (folder / "search.html").resolve()


def test_pages_work_with_javascript_off_and_follow_a_dark_theme(site, chromium):
    folder, _ = site
    url = (folder / "derivations/lstm.html").as_uri()
    try:
        chromium.emulate(javascript=False)
        shown = chromium.visit(url)
        assert shown["math"] == shown["declaredMath"] > 0 and not shown["errors"]
        assert chromium.evaluate("document.querySelectorAll('button.copy').length") == 0
        assert chromium.evaluate("document.querySelector('details.toc nav').checkVisibility()")
        chromium.emulate(javascript=True)
        chromium.visit(url)
        assert chromium.evaluate("document.querySelectorAll('button.copy').length") > 0
        chromium.emulate(dark=True)
        dark = chromium.visit(url)["background"]
    finally:
        chromium.emulate(dark=False, javascript=True)
    light = chromium.visit(url)["background"]
    assert light == "rgb(255, 255, 255)" and sum(map(int, re.findall(r"\d+", dark))) < 100, (light, dark)


def test_every_link_chromium_sees_leads_to_a_page_and_an_id(site, visits):
    folder, _ = site
    root = folder.resolve().as_uri() + "/"
    ids = {(folder / page).resolve().as_uri(): set(shown["ids"]) for page, shown in visits.items()}
    broken = []
    for page, shown in visits.items():
        for url in shown["links"] + shown["resources"]:
            if not url.startswith(root):
                assert not url.startswith("file:"), f"{page} links outside the site: {url}"
                continue
            address, _, fragment = url.partition("#")
            target = Path(unquote(urlsplit(address).path))
            if not target.is_file():
                broken.append(f"{page}: {url} (no such file)")
            elif fragment and address in ids and unquote(fragment) not in ids[address]:
                broken.append(f"{page}: {url} (no id {fragment!r})")
    assert not broken, "\n".join(broken)


def test_the_checks_see_a_broken_page(site, chromium, tmp_path):
    """A page with a KaTeX error, a missing stylesheet, raw TeX, a formula too few and a missing figure is caught."""
    folder, _ = site
    broken = folder / "derivations" / "broken.html"
    page = (folder / "derivations/relu.html").read_text(encoding="utf-8")
    page = page.replace('class="katex"', 'class="katex-error"', 1).replace("assets/site.css", "assets/gone.css")
    page = page.replace("figures/relu_curves.svg", "figures/gone.svg")
    broken.write_text(page.replace("<main>", "<main><p>left as $`x_n`$ and \\frac{a}{b}</p>"), encoding="utf-8")
    try:
        found = problems(chromium.visit(broken.as_uri()), "ReLU and LeakyReLU · manualnet")
    finally:
        broken.unlink()
    joined = "\n".join(found)
    for expected in ("request failed", "1 math render error(s)", "rendered formulas, the build put in",
                     "the stylesheets are not in use", "raw TeX in the text", "a figure did not load"):
        assert expected in joined, joined


def test_the_layout_checks_see_a_covered_formula_and_a_page_too_wide(site, chromium):
    """Without the tag's lane and the scroll box, a wide equation's number lands on it; a wide block widens the page."""
    folder, _ = site
    broken = folder / "derivations" / "broken.html"
    page = (folder / "derivations/lstm.html").read_text(encoding="utf-8")
    undone = ("<style>.math-display, .math-display .katex-display { overflow: visible; width: auto; min-width: 0 }"
              " .math-display .katex-display > .katex > .katex-html:has(> .katex-tag) { padding-right: 0 }</style>")
    broken.write_text(page.replace("</head>", undone + "</head>").replace(
        "<main>", '<main><div style="width: 600px">wide</div>'), encoding="utf-8")
    try:
        found = layout_problems(chromium.layout(broken.as_uri(), 390))
    finally:
        broken.unlink()
    joined = "\n".join(found)
    assert "scrolls sideways at 390 px" in joined and "equation number over its formula" in joined, joined


def test_screenshots_of_four_pages(site, chromium):
    folder, _ = site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, (page, width) in SCREENSHOT_PAGES.items():
        path = SCREENSHOTS / f"{name}.png"
        chromium.screenshot((folder / page).as_uri(), path, width)
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 20_000, f"{path}: {len(data)} bytes"
