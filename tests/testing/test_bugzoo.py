"""The bug zoo tests the tests: every classic wrong backward must be caught, and named.

For each bug: the gradient checker (finite differences) fails it, the
comparison with its correct manualnet parent fails it and names the mistake,
and the correct parent passes both.
"""

import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given

import manualnet as mn
from manualnet.testing.gradcheck import check_loss, check_module
from manualnet.testing import MISTAKES, bugzoo, compare_modules

from ..strategies import KINK_MARGIN, distinct_values, random_array, seeds

SEED = 20261122           # draws the data; seed + 1 draws the upstream gradients
                          # (never the data's own stream: R = x would make x.T @ R symmetric and hide bugs)


def _logits_and_labels(seed):
    return random_array(seed, (4, 5), scale=2.0), np.random.default_rng(seed + 2).integers(0, 5, size=4)


def _logits_and_targets(seed):
    return random_array(seed, (4, 3), scale=2.0), np.random.default_rng(seed + 2).uniform(size=(4, 3))


def _prediction_and_target(seed):
    return random_array(seed, (4, 3)), random_array(seed + 2, (4, 3))


def _batch(shape=(4, 3), margin=0.0):
    return lambda seed: (random_array(seed, shape, margin=margin),)


@dataclass
class Case:
    bug: type
    make: object            # (class, seed) -> the bug or its correct parent
    inputs: object          # seed -> the inputs
    array: str              # the report row the mistake shows in
    diagnosis: str          # the name the comparison gives it

    def __str__(self):
        return self.bug.__name__


def _square_linear(cls, seed):
    return cls(3, 3, rng=seed, dtype=np.float64)


def _plain(cls, seed):
    return cls()


def _class_weighted(cls, seed):
    """CrossEntropyLoss with class weights in [1.2, 1.6]: Σ w_{y_n} / N lies there too, for any labels, so
    the ratio is never 1, 2 or the batch size, whose diagnoses would name another mistake."""
    return cls(weight=np.array([1.2, 1.5, 1.3, 1.6, 1.4]))


def _dropout(p):
    return lambda cls, seed: cls(p, rng=seed)


def _batch_and_mask(p):
    """x (4, 3) and a fixed keep-mask, so finite differences and both modules see the same mask."""
    return lambda seed: (random_array(seed, (4, 3)), np.random.default_rng(seed + 2).random((4, 3)) >= p)


def _batchnorm(cls, seed):
    """BatchNorm1d(3) with random γ and β: never check gradients at all-ones weights."""
    layer = cls(3, dtype=np.float64)
    rng = np.random.default_rng(seed + 3)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, 3)
    layer.bias.data[...] = rng.standard_normal(3)
    return layer


CASES = [
    Case(bugzoo.SignFlippedBCEWithLogitsLoss, _plain, _logits_and_targets, "input.grad", "sign flipped"),
    Case(bugzoo.CrossEntropyMissingOneOverN, _plain, _logits_and_labels, "input.grad", "sum vs mean"),
    Case(bugzoo.CrossEntropyWeightedGradOverN, _class_weighted, _logits_and_labels, "input.grad", "constant factor"),
    Case(bugzoo.MSELossSummedForward, _plain, _prediction_and_target, "output", "sum vs mean"),
    Case(bugzoo.MSELossMissingTwo, _plain, _prediction_and_target, "input.grad", "factor of 2"),
    Case(bugzoo.TransposedWeightGradLinear, _square_linear, _batch(), "weight.grad", "transposed"),
    Case(bugzoo.BiasGradMeanLinear, _square_linear, _batch(), "bias.grad", "sum vs mean"),
    Case(bugzoo.OverwritingLinear, _square_linear, _batch(), "weight.grad", "not accumulated"),
    Case(bugzoo.ReLUWithoutMask, _plain, _batch(margin=KINK_MARGIN), "input.grad", "mask missing"),
    Case(bugzoo.SoftmaxDiagonalOnly, _plain, _batch((4, 5)), "input.grad", "softmax diagonal"),
    Case(bugzoo.SigmoidDerivativeAsValue, _plain, _batch(), "input.grad", "derivative as value"),
    Case(bugzoo.DropoutWithoutMask, _dropout(0.3), _batch_and_mask(0.3), "input.grad", "mask missing"),
    Case(bugzoo.DropoutScaledByP, _dropout(0.2), _batch_and_mask(0.2), "input.grad", "dropout scale"),
    Case(bugzoo.BatchNormWithoutMeanTerm, _batchnorm, _batch((5, 3)), "input.grad", "mean term missing"),
]


# -- convolution and pooling -------------------------------------------------------

def _strided_conv(cls, seed):
    """Stride 2, padding 1, PyTorch's init (random, not symmetric under a 180° turn)."""
    return cls(2, 4, 3, stride=2, padding=1, rng=seed, dtype=np.float64)


def _pool(kernel_size, stride=None):
    return lambda cls, seed: cls(kernel_size, stride)


def _tied(shape):
    """Integers 0–2: most windows tie for their maximum (a tie is a kink: see test_gradient_checker_...)."""
    return lambda seed: (np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64),)


def _distinct(shape):
    return lambda seed: (distinct_values(seed, shape),)


CASES += [
    Case(bugzoo.UnflippedKernelConv2d, _strided_conv, _batch((2, 2, 7, 6)), "input.grad", "kernel not flipped"),
    Case(bugzoo.UndilatedGradConv2d, _strided_conv, _batch((2, 2, 7, 6)), "input.grad", "stride not dilated"),
    Case(bugzoo.MaxPoolGradToWholeWindow, _pool(3, 2), _distinct((2, 2, 7, 6)), "input.grad", "max to whole window"),
    Case(bugzoo.MaxPoolGradToAllTies, _pool(2), _tied((2, 2, 6, 6)), "input.grad", "max to every tie"),
    Case(bugzoo.AvgPoolGradNotDivided, _pool(3, 2), _batch((2, 2, 7, 6)), "input.grad", "average not divided"),
    Case(bugzoo.BatchNorm2dOverAllAxes, _batchnorm, _batch((2, 3, 3, 4)), "output", "batch-norm axes"),
]
# A tie is a kink of max: there the central difference is the average of the one-sided slopes, and
# the gradient checker excludes the entry instead of judging it.  So finite differences pass this
# bug (and the right layer) alike; the comparison with the right layer, or with PyTorch, catches it.
INVISIBLE_TO_FINITE_DIFFERENCES = {bugzoo.MaxPoolGradToAllTies}


# -- sequences -------------------------------------------------------------------------

def _recurrent(cls, seed):
    return cls(2, 4, rng=seed, dtype=np.float64)


def _sequence_and_state(cell_state=False, steps=5):
    """x (T=5, N=3, 2) and h0 (1, 3, 4) — with c0 for an LSTM — all random: a zero h0 hides W_hh's gradient."""
    def inputs(seed):
        h0 = random_array(seed + 4, (1, 3, 4))
        return random_array(seed, (steps, 3, 2)), (h0, random_array(seed + 5, (1, 3, 4))) if cell_state else h0
    return inputs


def _step_and_state(seed):
    return random_array(seed, (3, 2)), random_array(seed + 4, (3, 4))


def _tokens(seed):
    """20 token ids from a vocabulary of 3: repeats are certain."""
    return (np.random.default_rng(seed + 2).integers(0, 3, size=(4, 5)),)


def _embedding(cls, seed):
    return cls(3, 2, rng=seed, dtype=np.float64)


CASES += [
    Case(bugzoo.RNNGradientNotCarried, _recurrent, _sequence_and_state(), "input.grad", "gradient not carried"),
    Case(bugzoo.RNNWeightGradLastStepOnly, _recurrent, _sequence_and_state(), "weight_hh_l0.grad", "last step only"),
    Case(bugzoo.LSTMGatesInWrongOrder, _recurrent, _sequence_and_state(cell_state=True), "output[0]", "gate order"),
    Case(bugzoo.RNNCellTanhDerivativeOfPreactivation, _recurrent, _step_and_state, "input.grad",
         "tanh derivative of pre-activation"),
    Case(bugzoo.EmbeddingFancyIndexPlusEquals, _embedding, _tokens, "weight.grad", "duplicates lost"),
]
# Self-consistent: forward and backward agree with each other, so finite differences pass; only a
# comparison with PyTorch's layout (the correct parent, or torch itself) shows the mistake.
FINITE_DIFFERENCES_CANNOT_SEE = {bugzoo.LSTMGatesInWrongOrder}


def _parent(bug):
    return bug.__bases__[0]


def _gradcheck(module, inputs, seed=SEED):
    """check_loss for a loss, check_module otherwise; the report, without raising."""
    if isinstance(module, mn.losses._Loss):
        return check_loss(module, *inputs, rng=seed + 1, raise_on_failure=False)
    return check_module(module, *inputs, rng=seed + 1, raise_on_failure=False)


def _compare(mine, reference, inputs, seed=SEED):
    return compare_modules(mine, reference, *inputs, rng=seed + 1)


def _used_twice(make, cls):
    """Two layers of one graph sharing one weight: its gradient is the sum over both uses."""
    first, second = make(cls, SEED), make(cls, SEED + 3)
    second.weight = first.weight
    return mn.Sequential(first, mn.Tanh(), second)


def test_every_bug_in_the_zoo_has_a_case():
    assert {case.bug for case in CASES} == set(bugzoo.BUGS)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.slow
def test_gradient_checker_catches_the_bug(case):
    report = _gradcheck(case.make(case.bug, SEED), case.inputs(SEED))
    if case.bug in INVISIBLE_TO_FINITE_DIFFERENCES:
        assert report.passed and report.excluded > 0, "every tie should be excluded as a kink"
        return
    if case.bug is bugzoo.OverwritingLinear:
        assert report.passed, "a single use cannot show = where += belongs"
        report = _gradcheck(_used_twice(case.make, case.bug), case.inputs(SEED))
    if case.bug in FINITE_DIFFERENCES_CANNOT_SEE:
        assert report.passed, "forward and backward agree with each other: finite differences cannot see it"
        return
    assert not report.passed


@pytest.mark.parametrize("case", CASES, ids=str)
def test_comparison_catches_and_names_the_bug(case):
    report = _compare(case.make(case.bug, SEED), case.make(_parent(case.bug), SEED), case.inputs(SEED))
    assert not report.passed
    assert not report[case.array].passed
    assert set(report.diagnosed()) == {case.diagnosis}         # every row it explains, explained alike
    assert report.diagnosed(case.array) == [case.diagnosis]
    assert case.diagnosis in MISTAKES
    assert case.diagnosis in " ".join(str(report).split())


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.slow
def test_correct_parent_passes_gradcheck_and_comparison(case):
    correct = _parent(case.bug)
    assert _gradcheck(case.make(correct, SEED), case.inputs(SEED)).passed
    if case.bug is bugzoo.OverwritingLinear:
        assert _gradcheck(_used_twice(case.make, correct), case.inputs(SEED)).passed
    report = _compare(case.make(correct, SEED), case.make(correct, SEED), case.inputs(SEED))
    assert report.passed and report.diagnoses == []


@given(seed=seeds)
@pytest.mark.slow
def test_comparison_names_every_bug_whatever_the_data(seed):
    """Property: each diagnosis is a fact about the numbers, not one lucky seed's."""
    for case in CASES:
        inputs = case.inputs(seed)
        if case.bug is bugzoo.ReLUWithoutMask:
            assume((inputs[0] < 0).any() and (inputs[0] > 0).any())     # else no mask to forget
        if case.bug is bugzoo.DropoutWithoutMask:
            assume(not inputs[1].all())                                 # nothing dropped: no mask to forget
        report = _compare(case.make(case.bug, seed), case.make(_parent(case.bug), seed), inputs, seed)
        assert set(report.diagnosed()) == {case.diagnosis}, case.bug.__name__


@pytest.mark.parametrize("bug", bugzoo.BUGS, ids=lambda bug: bug.__name__)
def test_each_bug_is_one_documented_subclass_outside_the_public_api(bug):
    """A bug subclasses a public manualnet class, says how it shows, and is not itself public."""
    assert _parent(bug).__name__ in mn.__all__
    assert bug.__name__ not in mn.__all__
    assert "Shows" in bug.__doc__


@pytest.mark.slow
def test_bug_lines_are_marked_once_per_bug():
    """Exactly one line of each class is marked # BUG: the zoo teaches one mistake at a time."""
    for bug in bugzoo.BUGS:
        assert inspect.getsource(bug).count("# BUG:") == 1, bug.__name__


@pytest.mark.parametrize("bug", bugzoo.BUGS, ids=lambda bug: bug.__name__)
def test_each_bug_links_the_page_of_its_right_gradient_and_cites_its_equations(bug):
    """The correct lines keep their `# eq. (n)`: each n is numbered in the page the docstring links."""
    (page,) = re.findall(r"derivations/(\w+\.md)", bug.__doc__)
    text = (Path(__file__).resolve().parents[2] / "derivations" / page).read_text(encoding="utf-8")
    numbered = {int(n) for n in re.findall(r"\\tag\{(\d+)\}", text)}
    cited = {int(n) for n in re.findall(r"eq\. \((\d+)\)", inspect.getsource(bug))}
    assert cited and cited <= numbered


@pytest.mark.parametrize("bug", bugzoo.BUGS, ids=lambda bug: bug.__name__)
def test_each_copied_backward_differs_from_its_layer_only_on_the_bug_line(bug):
    """A bug copies its layer's method with one line changed; the rest must never drift from the layer."""
    copied = [name for name in ("forward", "backward", "_add_weight_grads", "_state_gradient") if name in vars(bug)]
    for name in copied:
        mine = inspect.getsource(getattr(bug, name)).splitlines()
        layer = inspect.getsource(getattr(bug.__mro__[1], name)).splitlines()
        assert len(mine) == len(layer), f"{bug.__name__}.{name} has {len(mine)} lines, the layer's {len(layer)}"
        marked = [i for i, line in enumerate(mine) if "# BUG" in line]
        assert len(marked) == 1, f"{bug.__name__}.{name}: expected one line marked # BUG, found {len(marked)}"
        for i, (ours, theirs) in enumerate(zip(mine, layer)):
            if i in marked:
                assert ours.split("#")[0].strip() != theirs.split("#")[0].strip()
            else:
                assert ours == theirs, f"{bug.__name__}.{name} drifted from the layer at line {i + 1}:\n{ours}\n{theirs}"
    # or it overrides one small method: a loss's reduction, a convolution's input gradient (which the
    # conv bugs write in its other form: full correlation, shared and checked in tests/nn/test_conv.py), a
    # recurrent step's activation slope, or the gate order
    assert copied or any(name in vars(bug) for name in ("_reduce", "_grad_per_element", "_input_gradient", "_slope",
                                                        "gate_order"))
