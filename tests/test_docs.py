"""The study site: ``make docs`` builds it, and every page opens in headless Chromium with its math rendered.

The site is built once into a temporary folder (docs/build.py, as ``make
docs`` runs it).  Without a browser the tests read the built HTML: a page for
every document, every link and asset resolving (fragments included), GitHub's
heading anchors, code references that land on their line, nothing fetched
from the network.  With Debian's ``chromium`` (docs/browser.py drives it)
every page is opened from the disk, as a reader opens the built site
offline: it must load with no failed request and no error, show as many
rendered formulas as the build put in and no KaTeX error, use KaTeX's
stylesheet and fonts, leave no raw TeX in its text, and every link on it
must lead to a page and an id that exist.  Three pages are saved as
screenshots (build/docs-screenshots/, or $MANUALNET_DOCS_SCREENSHOTS) to
look at.

What the site needs (node with KaTeX in docs/node_modules, the ``docs``
extra's Python packages, Chromium) may be missing on a developer's machine:
the tests then skip and say what is missing.  MANUALNET_REQUIRE_DOCS=1
(``make docs-test`` and .ci/run set it) turns each such skip into a failure.
"""

import html
import importlib.util
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("MANUALNET_REQUIRE_DOCS", "") not in ("", "0")
SCREENSHOTS = Path(os.environ.get("MANUALNET_DOCS_SCREENSHOTS") or ROOT / "build" / "docs-screenshots")
SCREENSHOT_PAGES = {"derivation": "derivations/softmax.html", "exercise": "exercises/linear.html",
                    "korean": "README.ko.html"}


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
        self.links, self.ids, self.scripts = [], set(), 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append(attrs[name])
        self.scripts += tag == "script"


def parsed(site_folder, page):
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


def test_the_site_fetches_nothing_and_runs_no_script(site):
    folder, pages = site
    for page in pages:
        reader = parsed(folder, page)
        assert reader.scripts == 0, page
        assert not [link for link in reader.links if link.startswith(("http:", "https:", "//")) and
                    ".css" in link], page
    assert list((folder / "assets" / "katex" / "fonts").glob("KaTeX_Main-Regular.woff2"))


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
    sidebar = (folder / "index.html").read_text(encoding="utf-8").split('<nav class="sidebar">')[1].split("</nav>")[0]
    order = [sidebar.index("derivations/backprop.html")] + [sidebar.index(f'exercises/{e.name}.html"')
                                                             for e in EXERCISES]
    assert order == sorted(order)
    page = (folder / "exercises/relu.html").read_text(encoding="utf-8")
    assert 'rel="prev" href="linear.html"' in page and 'rel="next" href="sigmoid.html"' in page


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
    return found


@pytest.fixture(scope="module")
def visits(site, chromium):
    """{site path: what Chromium showed} for every page, opened from the disk (file://)."""
    folder, pages = site
    return {page: chromium.visit((folder / page).as_uri()) for page in pages}


def test_every_page_opens_with_its_math_rendered(site, visits):
    folder, _ = site
    found = []
    for page, shown in visits.items():
        title = re.search(r"<title>(.*?)</title>", (folder / page).read_text(encoding="utf-8"))[1]
        found += [f"{page}: {problem}" for problem in problems(shown, html.unescape(title))]
    assert not found, "\n".join(found)
    assert sum(shown["math"] for shown in visits.values()) > 1500          # the derivations' math is there


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
    """A page with a KaTeX error, a missing stylesheet, raw TeX and a formula too few is caught."""
    folder, _ = site
    broken = folder / "broken.html"
    page = (folder / "derivations/relu.html").read_text(encoding="utf-8")
    page = page.replace('class="katex"', 'class="katex-error"', 1).replace("assets/site.css", "assets/gone.css")
    broken.write_text(page.replace("<main>", "<main><p>left as $`x_n`$ and \\frac{a}{b}</p>"), encoding="utf-8")
    try:
        found = problems(chromium.visit(broken.as_uri()), "ReLU and LeakyReLU · manualnet")
    finally:
        broken.unlink()
    joined = "\n".join(found)
    for expected in ("request failed", "1 math render error(s)", "rendered formulas, the build put in",
                     "the stylesheets are not in use", "raw TeX in the text"):
        assert expected in joined, joined


def test_screenshots_of_three_pages(site, chromium):
    folder, _ = site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, page in SCREENSHOT_PAGES.items():
        path = SCREENSHOTS / f"{name}.png"
        chromium.screenshot((folder / page).as_uri(), path)
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 20_000, f"{path}: {len(data)} bytes"
