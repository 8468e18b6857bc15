"""The figures of the derivation pages: drawn by docs/figures.py, committed, current, and shown.

``make figures`` (``python docs/figures.py``) draws every figure into
derivations/figures/.  These tests redraw them all into a temporary folder
and compare the bytes with the committed SVGs, so a change to the code or the
data a figure shows, without ``make figures``, fails here; the drawing is
reproducible (docs/figures.py says how), so the same matplotlib draws the
same bytes.  A figure drawn by another matplotlib version differs in its
bytes without being stale: the comparison then skips, naming both versions.
They also check that every derivation page shows at least one figure, that
each figure is on its page with its alt text, and that no SVG in the folder
is left over from a figure that no longer exists.
"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = ROOT / "derivations"
FOLDER = DERIVATIONS / "figures"
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
CREATOR = re.compile(r"Matplotlib v([\w.+-]+),")


def load_figures():
    spec = importlib.util.spec_from_file_location("manualnet_docs_figures", ROOT / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = load_figures()
PAGES = sorted(path for path in DERIVATIONS.glob("*.md") if path.name != "README.md")


def images(page):
    """[(alt text, target)] of every image a Markdown page shows, outside fenced code."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return IMAGE.findall(text)


def stale(drawn_folder, committed_folder=FOLDER):
    """The names of the figures whose committed SVG is missing or differs from the one just drawn."""
    return sorted(entry.name for entry in figures.FIGURES
                  if not (committed_folder / f"{entry.name}.svg").is_file()
                  or (committed_folder / f"{entry.name}.svg").read_bytes()
                  != (drawn_folder / f"{entry.name}.svg").read_bytes())


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Every figure, drawn now into a temporary folder."""
    matplotlib = pytest.importorskip("matplotlib", reason="the figures are drawn with matplotlib (the plot extra)")
    committed = {CREATOR.search(path.read_text(encoding="utf-8"))[1] for path in FOLDER.glob("*.svg")}
    if committed and committed != {matplotlib.__version__}:
        pytest.skip(f"the figures were drawn with matplotlib {', '.join(sorted(committed))} and this is "
                    f"{matplotlib.__version__}: their bytes differ either way (make figures redraws them)")
    out = tmp_path_factory.mktemp("figures")
    figures.draw_all(out)
    return out


@pytest.mark.slow
def test_every_committed_figure_is_what_the_code_draws_now(drawn):
    outdated = stale(drawn)
    assert not outdated, f"figures that differ from what docs/figures.py draws now: {outdated}; run make figures"


@pytest.mark.slow
def test_the_comparison_sees_a_changed_and_a_missing_figure(drawn, tmp_path):
    first, second = figures.FIGURES[0].name, figures.FIGURES[1].name
    for entry in figures.FIGURES[2:]:
        (tmp_path / f"{entry.name}.svg").write_bytes((drawn / f"{entry.name}.svg").read_bytes())
    changed = (drawn / f"{first}.svg").read_bytes().replace(b"#0969da", b"#0969db", 1)
    (tmp_path / f"{first}.svg").write_bytes(changed)
    assert stale(drawn, tmp_path) == sorted([first, second])


def test_every_svg_in_the_folder_is_a_registered_figure():
    registered = {f"{entry.name}.svg" for entry in figures.FIGURES}
    leftovers = sorted(path.name for path in FOLDER.glob("*") if path.name not in registered)
    assert not leftovers, f"derivations/figures/ holds files no figure draws: {leftovers}"
    assert len(registered) == len(figures.FIGURES), "two figures share a name"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_derivation_page_shows_a_figure(page):
    shown = [target for _, target in images(page) if target.startswith("figures/") and target.endswith(".svg")]
    assert shown, f"{page.name} shows no figure from derivations/figures/"


@pytest.mark.parametrize("entry", figures.FIGURES, ids=lambda entry: entry.name)
def test_every_figure_is_on_its_page_with_its_alt_text(entry):
    page = ROOT / entry.page
    target = Path("figures" if page.parent == DERIVATIONS else "derivations/figures") / f"{entry.name}.svg"
    shown = dict((target, alt) for alt, target in images(page))
    assert target.as_posix() in shown, f"{entry.page} does not show {target}"
    assert shown[target.as_posix()] == entry.alt, f"{entry.page}: the alt text of {target} is not the registered one"
    assert len(entry.alt) > 40, f"{entry.name}: the alt text should say what the figure shows"


def test_every_image_on_a_page_is_a_figure_that_exists():
    for page in [*PAGES, ROOT / "README.md"]:
        for alt, target in images(page):
            assert alt.strip(), f"{page.name}: an image without alt text: {target}"
            assert (page.parent / target).is_file(), f"{page.name} shows {target}, which does not exist"
