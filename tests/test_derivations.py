"""The derivation pages: every check runs, every operation has a page, every cited equation exists.

``derivations/<page>.md`` derives one operation's backward and ends with a
```python block that recomputes the page's final equations with NumPy and
compares them with the layer's backward and with finite differences.  This
file runs those blocks, so a page whose formulas or numbers drift from the
code fails.  The structural tests find pages, classes and equation numbers by
scanning, so pages and operations added later are covered without editing
this file.
"""

import decimal
import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import manualnet as mn
from manualnet.testing import bugzoo

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = ROOT / "derivations"
INDEX = DERIVATIONS / "README.md"
PAGES = sorted(path for path in DERIVATIONS.glob("*.md") if path != INDEX)

PAGE_LINK = re.compile(r"derivations/([a-z0-9_]+\.md)")
INDEX_LINK = re.compile(r"\]\(([^)#\s]+)\)")
INDEX_CODE = re.compile(r"`(manualnet/[\w/]+\.py):(\w+)`")
EQUATION_TAG = re.compile(r"\\tag\{(\d+)\}")
# "eq. (3)", "eq. (1), (2)", "eq. (5): ...", "(eq. 2)": every number cited after "eq."
CITATION = re.compile(r"\beq\.\s*((?:\(\d+\)|\d+)(?:\s*(?:,|and)\s*(?:\(\d+\)|\d+))*)")
# The sections every operation page has, in this order (Numerical stability is optional).
OPERATION_SECTIONS = ("Forward", "Shapes", "Backward", "Dimension check", "Edge cases", "Worked example", "Check")


def python_blocks(path):
    """[(line of the opening fence, source)] for every ```python block of a Markdown file."""
    blocks, source, start = [], None, None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if source is None and line.strip() == "```python":
            source, start = [], number
        elif source is not None and line.strip() == "```":
            blocks.append((start, "\n".join(source) + "\n"))
            source = None
        elif source is not None:
            source.append(line)
    assert source is None, f"{path.name}: the ```python block opened at line {start} is never closed"
    return blocks


def math_blocks(path):
    """The TeX of every ```math block of a Markdown file."""
    return re.findall(r"^```math\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


def headings(path):
    return re.findall(r"^## (.+?)\s*$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)


def equation_numbers(path):
    return [int(n) for n in EQUATION_TAG.findall(path.read_text(encoding="utf-8"))]


def cited_equations(text):
    return {int(n) for group in CITATION.findall(text) for n in re.findall(r"\d+", group)}


def linked_pages(docstring):
    return PAGE_LINK.findall(docstring or "")


def public_operations():
    """Every public Module subclass in ``manualnet.__all__``, and ``manualnet.optim``'s optimizers if it exists."""
    exported = (getattr(mn, name) for name in mn.__all__)
    operations = [obj for obj in exported
                  if inspect.isclass(obj) and issubclass(obj, mn.Module) and obj is not mn.Module]
    try:
        optim = importlib.import_module("manualnet.optim")
    except ModuleNotFoundError as error:
        if error.name != "manualnet.optim":
            raise
        return operations
    base = getattr(optim, "Optimizer", None)
    names = getattr(optim, "__all__", [name for name in vars(optim) if not name.startswith("_")])
    for obj in (getattr(optim, name) for name in names):
        if inspect.isclass(obj) and obj.__module__.startswith(optim.__name__) and obj is not base \
                and (base is None or issubclass(obj, base)):
            operations.append(obj)
    return operations


def manualnet_modules():
    """Every Python file of the package, imported: (module, path)."""
    package = Path(mn.__file__).parent
    for path in sorted(package.rglob("*.py")):
        dotted = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        yield importlib.import_module(dotted.removesuffix(".__init__")), path


BLOCKS = [(page, line, source) for page in PAGES for line, source in python_blocks(page)]
# Operation pages derive one operation's forward and backward; backprop.md and
# gradcheck.md explain methods and are organised by topic instead.
OPERATION_PAGES = [page for page in PAGES if "Forward" in headings(page)]
OPERATIONS = public_operations()


# -- (a) every page's code runs -----------------------------------------------

@pytest.mark.parametrize("page, line, source", BLOCKS, ids=[f"{page.name}:L{line}" for page, line, _ in BLOCKS])
@pytest.mark.slow
def test_derivation_code_block_runs(page, line, source, tmp_path, monkeypatch):
    """The block runs on its own, in a fresh namespace, and all its assertions hold."""
    monkeypatch.chdir(tmp_path)
    # Pad with newlines so a traceback names the page and the line inside it.
    code = compile("\n" * line + source, str(page), "exec")
    exec(code, {"__name__": "__main__"})


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_page_has_a_check_that_runs(page):
    assert python_blocks(page), f"{page.name} has no ```python block: nothing checks it"


@pytest.mark.parametrize("page", OPERATION_PAGES, ids=lambda page: page.name)
def test_operation_pages_have_the_standard_sections_in_order(page):
    present = [heading for heading in headings(page) if heading in OPERATION_SECTIONS]
    assert present == list(OPERATION_SECTIONS), f"{page.name}: sections {headings(page)}"


# -- (b) every operation has a page, every page is in the index -----------------

def test_the_scans_find_the_known_operations_and_pages():
    """Guards the generic tests below against passing because a scan found nothing."""
    assert mn.Linear in OPERATIONS and mn.CrossEntropyLoss in OPERATIONS
    assert DERIVATIONS / "linear.md" in OPERATION_PAGES and DERIVATIONS / "backprop.md" in PAGES


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda cls: cls.__name__)
def test_every_public_operation_links_one_existing_page(operation):
    pages = linked_pages(operation.__doc__)
    assert len(pages) == 1, (
        f"{operation.__name__}'s docstring should name exactly one 'derivations/<page>.md', found {pages}"
    )
    assert (DERIVATIONS / pages[0]).is_file(), f"{operation.__name__} links derivations/{pages[0]}, which does not exist"


def test_every_page_is_in_the_index_and_every_index_link_exists():
    links = set(INDEX_LINK.findall(INDEX.read_text(encoding="utf-8")))
    missing = [page.name for page in PAGES if page.name not in links]
    assert not missing, f"pages not listed in derivations/README.md: {missing}"
    broken = [link for link in links if "://" not in link and not (DERIVATIONS / link).exists()]
    assert not broken, f"derivations/README.md links files that do not exist: {broken}"


def test_index_code_column_names_real_classes_and_functions():
    cited = INDEX_CODE.findall(INDEX.read_text(encoding="utf-8"))
    assert cited, "derivations/README.md's index cites no code (`manualnet/<file>.py:Class`)"
    for path, name in cited:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^(class|def) {name}\b", source, flags=re.MULTILINE), f"{path} defines no {name}"


def test_every_module_docstring_link_exists():
    """Module and function docstrings also point at pages: those pages exist."""
    for module, path in manualnet_modules():
        for page in set(PAGE_LINK.findall(path.read_text(encoding="utf-8"))):
            assert (DERIVATIONS / page).is_file(), f"{path.name} links derivations/{page}, which does not exist"


# -- (c) every equation the code cites exists in its page -----------------------

@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda cls: cls.__name__)
def test_equations_cited_in_a_class_exist_in_its_page(operation):
    (page,) = linked_pages(operation.__doc__)
    cited = cited_equations(inspect.getsource(operation))
    missing = sorted(cited - set(equation_numbers(DERIVATIONS / page)))
    assert not missing, f"{operation.__name__} cites eq. {missing}, which derivations/{page} does not number"


def test_equations_cited_in_a_single_page_module_exist_in_that_page():
    """A module whose docstring links exactly one page (gradcheck.py) cites that page's numbers."""
    checked = 0
    for module, path in manualnet_modules():
        pages = set(linked_pages(module.__doc__))
        if len(pages) != 1:
            continue
        (page,) = pages
        missing = sorted(cited_equations(path.read_text(encoding="utf-8")) - set(equation_numbers(DERIVATIONS / page)))
        assert not missing, f"{path.name} cites eq. {missing}, which derivations/{page} does not number"
        checked += 1
    assert checked


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_page_equation_numbers_are_unique_and_each_sits_in_its_own_math_block(page):
    """Each number used once, each \\tag in a ```math block of its own, images only from figures/.

    tests/nn/test_math_hazards.py holds the pages to the rest of GitHub's math rules.
    """
    text = page.read_text(encoding="utf-8")
    numbers = equation_numbers(page)
    assert len(numbers) == len(set(numbers)), f"{page.name}: equation numbers used twice: {numbers}"
    blocks = math_blocks(page)
    tagged = [number for block in blocks for number in EQUATION_TAG.findall(block)]
    assert len(tagged) == len(numbers), f"{page.name}: a \\tag outside a ```math block"
    for block in blocks:
        assert len(EQUATION_TAG.findall(block)) <= 1, f"{page.name}: two numbered equations in one ```math block:\n{block}"
    outside_code = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    images = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", outside_code)
    assert outside_code.count("![") == len(images), f"{page.name}: an image the scan cannot read"
    drawn = [image for image in images if re.fullmatch(r"figures/\w+\.svg", image)]
    assert images == drawn, f"{page.name}: images other than the drawn figures (docs/figures.py): {images}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_page_equations_are_numbered_1_to_n_in_reading_order(page):
    """A reader meets (1), (2), ... (N) in that order, none skipped: a number is where the page says it is."""
    numbers = equation_numbers(page)
    assert numbers == list(range(1, len(numbers) + 1)), f"{page.name}: equation numbers in page order {numbers}"


# -- (d) the numbers the pages state -------------------------------------------

def test_softmax_page_a_constant_upstream_gradient_zeroes_softmax_but_not_log_softmax():
    """softmax.md, Edge cases: G = c gives Softmax dx = 0 and LogSoftmax dx = c (1 − C p)."""
    x = np.array([[0.0, 0.0, np.log(2)]])
    softmax, log_softmax = mn.Softmax(dim=1), mn.LogSoftmax(dim=1)
    p = softmax(x)
    np.testing.assert_allclose(softmax.backward(np.full((1, 3), 0.7)), 0, atol=1e-16)
    log_softmax(x)
    np.testing.assert_allclose(log_softmax.backward(np.ones((1, 3))), [[0.25, 0.25, -0.5]], rtol=1e-15)
    np.testing.assert_allclose(log_softmax.backward(np.full((1, 3), 0.7)), 0.7 * (1 - 3 * p), rtol=1e-15)


def relative_error_in_eps(approximate, exact, dtype):
    return np.max(np.abs(approximate.astype(np.float64) - exact) / exact) / np.finfo(dtype).eps


def exact_softmax(z):
    """softmax of each row in 60-digit decimals from the exact float entries, as float64."""
    with decimal.localcontext() as context:
        context.prec = 60
        rows = []
        for row in z.tolist():
            shifted = [decimal.Decimal(value) - decimal.Decimal(max(row)) for value in row]
            total = sum(s.exp() for s in shifted)
            rows.append([float(s.exp() / total) for s in shifted])
    return np.array(rows)


def test_softmax_page_log_softmax_keeps_p_because_exp_of_y_loses_digits():
    """softmax.md, "What forward keeps": 64 rows of 10 logits, 1e4 + 10·N(0, 1), float32."""
    z = (1e4 + np.random.default_rng(0).standard_normal((64, 10)) * 10).astype(np.float32)
    layer = mn.LogSoftmax(dim=1)
    y = layer(z)
    exact = exact_softmax(z)
    assert y.min() < -50
    assert relative_error_in_eps(layer.probs, exact, np.float32) <= 2                   # "1.5 ε"
    assert relative_error_in_eps(np.exp(y), exact, np.float32) >= 8                 # "up to 16 ε"
    peak = z.max(axis=1, keepdims=True)
    unshifted = z - (peak + np.log(np.sum(np.exp(z - peak), axis=1, keepdims=True)))
    assert relative_error_in_eps(np.exp(unshifted), exact, np.float32) > 1e3         # "4·10³ ε"
    z8 = (1e8 + np.random.default_rng(0).standard_normal((64, 10)) * 10).astype(np.float32)
    peak = z8.max(axis=1, keepdims=True)
    unshifted = z8 - (peak + np.log(np.sum(np.exp(z8 - peak), axis=1, keepdims=True)))
    assert relative_error_in_eps(np.exp(unshifted), exact_softmax(z8), np.float32) > 1e7   # "4·10⁷ ε"


def test_batchnorm_page_the_x_hat_direction_survives_by_exactly_eps_s_cubed():
    """batchnorm.md, eq. (16): Σ dL/dx_i x̂_i = ε s³ Σ dx̂ x̂; the worked example's −8 ε s⁴."""
    layer = mn.BatchNorm1d(1, dtype=np.float64)
    layer.weight.data[...] = 2.0
    layer.bias.data[...] = 0.5
    layer(np.array([[1.0], [1.0], [3.0], [3.0]]))
    dx = layer.backward(np.array([[1.0], [2.0], [0.0], [-1.0]]))
    s = 1 / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(np.sum(dx * layer.x_hat), -8e-5 * s**4, rtol=1e-9)
    np.testing.assert_allclose(dx[:, 0], [-0.999975, 1.000015, 0.999975, -1.000015], atol=5e-7)

    rng = np.random.default_rng(1)
    for shape, layer in (((6, 3), mn.BatchNorm1d(3, dtype=np.float64)),
                         ((2, 3, 4), mn.BatchNorm1d(3, dtype=np.float64)),
                         ((2, 3, 2, 5), mn.BatchNorm2d(3, dtype=np.float64))):
        layer.weight.data[...] = rng.uniform(0.5, 2.0, 3)
        x, G = rng.standard_normal(shape) * 0.01, rng.standard_normal(shape)   # small σ²: a large residual
        layer(x)
        dx = layer.backward(G)
        axes = (0,) + tuple(range(2, len(shape)))
        channel = (-1,) + (1,) * (len(shape) - 2)
        d_x_hat = G * layer.weight.data.reshape(channel)
        expected = 1e-5 * layer.inv_std**3 * np.sum(d_x_hat * layer.x_hat, axis=axes)
        np.testing.assert_allclose(np.sum(dx * layer.x_hat, axis=axes), expected, rtol=1e-8)
        np.testing.assert_allclose(np.sum(dx, axis=axes), 0, atol=1e-9 * np.abs(dx).max())


def test_batchnorm_page_a_uniform_g_hides_a_zero_or_varianceless_backward_but_not_a_missing_mean_term():
    """batchnorm.md: with G = 1 the right dx is 0, the bug zoo's BatchNormWithoutMeanTerm gives s·γ."""
    x, ones = np.array([[1.0], [1.0], [3.0], [3.0]]), np.ones((4, 1))
    right, buggy = mn.BatchNorm1d(1, dtype=np.float64), bugzoo.BatchNormWithoutMeanTerm(1, dtype=np.float64)
    for layer in (right, buggy):
        layer.weight.data[...] = 2.0
        layer(x)
    np.testing.assert_allclose(right.backward(ones), 0, atol=1e-15)
    s = 1 / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(buggy.backward(ones), 2 * s, rtol=1e-12)                # "≈ 2"
    x_hat, d_x_hat = right.x_hat, 2.0 * ones
    without_variance_term = s / 4 * (4 * d_x_hat - d_x_hat.sum())                   # (14) minus x̂ Σ dx̂ x̂
    np.testing.assert_allclose(without_variance_term, 0, atol=1e-15)
    assert np.abs(np.sum(d_x_hat * x_hat)) < 1e-15


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_page_the_mask_read_from_y_is_the_mask_of_x(dtype):
    """relu.md, eq. (4): y = max(x, 0) > 0 exactly where x > 0, down to ±0 and subnormals."""
    info = np.finfo(dtype)
    x = np.array([-info.max, -1.0, -info.tiny, -info.smallest_subnormal, -0.0, 0.0,
                  info.smallest_subnormal, info.tiny, 1.0, info.max], dtype)
    relu = mn.ReLU()
    np.testing.assert_array_equal(relu(x) > 0, x > 0)
    G = np.arange(1, len(x) + 1, dtype=dtype)
    np.testing.assert_array_equal(relu.backward(G), G * (x > 0))
    leaky = mn.LeakyReLU(negative_slope=-0.5)                  # a < 0: y > 0 on both sides
    assert np.all(leaky(np.array([-2.0, 2.0], dtype)) > 0)
    np.testing.assert_array_equal(leaky.backward(np.ones(2, dtype)), [-0.5, 1.0])


def test_backprop_page_states_the_share_of_backward_work_need_input_grad_skips():
    """backprop.md, section 3: the same numbers as the README (tests/test_readme.py computes them)."""
    from .test_readme import backward_share_skipped
    text = " ".join((DERIVATIONS / "backprop.md").read_text(encoding="utf-8").split())
    notes, readme = backward_share_skipped((784, 256, 10)), backward_share_skipped((20, 32, 2))
    assert 784 * 256 / (2 * (784 * 256 + 256 * 10)) == notes
    assert f"784 \\cdot 256 / (2 (784 \\cdot 256 + 256 \\cdot 10)) = {notes:.0%}".replace("%", "\\%") in text
    assert f"({readme:.0%} for the README's 20-32-2 network)" in text


def test_cross_entropy_page_a_confident_wrong_row_tends_to_g_over_n_times_the_one_hot_difference():
    """cross_entropy.md, Edge cases: the limit keeps eq. (5)'s factor g/N."""
    criterion = mn.CrossEntropyLoss()
    N, g = 4, 0.7
    logits = np.zeros((N, 3))
    logits[:, 0] = 60.0                                          # every sample sure of class 0 ...
    criterion(logits, np.full(N, 2))                             # ... whose label is 2
    np.testing.assert_allclose(criterion.backward(g), np.tile([g / N, 0.0, -g / N], (N, 1)), atol=1e-25)


@pytest.mark.parametrize("dtype, saturates_at, error_bound", [(np.float32, 16.6, 6e-8), (np.float64, 36.7, 1.2e-16)])
def test_sigmoid_page_where_y_rounds_to_one_and_what_the_zero_gradient_costs(dtype, saturates_at, error_bound):
    """sigmoid.md, Numerical stability: y == 1 from x ≈ 16.6 (float32) / 36.7 (float64); the lost σ' is below 6e-8 / 1.2e-16."""
    layer = mn.Sigmoid()
    x = np.arange(saturates_at - 1, saturates_at + 20, 0.001).astype(dtype)
    y = layer(x)
    first = x[y == 1].min()
    assert abs(first - saturates_at) < 0.05 and np.all(y[x >= first] == 1)
    dx = layer.backward(np.ones_like(x))
    wide = x.astype(np.float64)
    true = np.exp(-wide) / (1 + np.exp(-wide)) ** 2
    assert np.all(dx[y == 1] == 0) and true[y == 1].max() < error_bound


def test_gradcheck_page_a_fixed_step_at_1e4_keeps_19_bits():
    """gradcheck.md, eq. (3): floats near 1e4 are 1.8e-12 apart, so a step of 1e-6 keeps ~19 bits, ~6 digits."""
    spacing = np.spacing(1e4)
    np.testing.assert_allclose(spacing, 1.8e-12, rtol=0.02)
    assert int(np.log2(1e-6 / spacing)) == 19 and round(np.log10(1e-6 / spacing)) == 6
    taken = (1e4 + 1e-6) - (1e4 - 1e-6)
    assert 1e-12 < abs(taken - 2e-6) / 2e-6 < 1e-6


def test_mse_page_the_square_overflows_where_the_gradient_does_not():
    """mse.md, Edge cases: float32 squares overflow above ~1.8e19, 2(x − y) above 1.7e38; the gradient stays finite."""
    with np.errstate(over="ignore"):
        assert np.isfinite(np.float32(1.8e19) ** 2) and np.isinf(np.float32(1.9e19) ** 2)
        assert np.isfinite(np.float32(2) * np.float32(1.7e38)) and np.isinf(np.float32(2) * np.float32(1.8e38))
        assert np.isfinite(np.float64(1.3e154) ** 2) and np.isinf(np.float64(1.4e154) ** 2)
        loss = mn.MSELoss()
        loss(np.array([3e38, 1.0], np.float32), np.zeros(2, np.float32))
    assert np.all(np.isfinite(loss.backward()))


def test_tests_the_pages_cite_exist():
    """A page that says "checked in `test_x`" names a test that is there to check it."""
    defined = {name for path in (ROOT / "tests").rglob("test_*.py")
               for name in re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE)}
    cited = {(page.name, name) for page in PAGES
             for name in re.findall(r"\b(test_\w+)`", page.read_text(encoding="utf-8"))}
    assert cited, "the scan found no cited test"
    missing = sorted((page, name) for page, name in cited if name not in defined)
    assert not missing, f"pages cite tests that do not exist: {missing}"
