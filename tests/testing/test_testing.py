"""manualnet.testing: comparing a learner's module with a reference, naming the mistake, strategies."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

import manualnet as mn
from manualnet.testing.gradcheck import check_module
from manualnet.testing import (
    MISTAKES, ComparisonReport, FunctionModule, MismatchError, assert_modules_match, bugzoo, compare_modules,
)
from manualnet.testing.strategies import away_from_kinks, batches, class_labels, seeds

from ..corruptions import (
    DoublesItsUpstreamInPlace, ReturnsAScalar, ReturnsComplex, ReturnsNothing, ReturnsObjects, ScalesItsInputInPlace,
    ZeroBackwardSoftmax, corrupted_cases,
)
from ..strategies import KINK_MARGIN, random_array

README = Path(__file__).resolve().parents[2] / "README.md"
SEED = 20261122
UPSTREAM_SEED = SEED + 1      # the upstream gradients never come from the data's own stream


# -- a learner's layers, as the study notes write them ------------------------------

class MyLinear(mn.Module):
    """The study notes' MyLinear: weights stored (in, out), y = x @ W + b, backward by hand."""

    def __init__(self, in_features, out_features, bias_grad=lambda g: g.sum(axis=0)):
        super().__init__()
        self.weights = mn.Parameter(np.random.default_rng(7).standard_normal((in_features, out_features)))
        self.bias = mn.Parameter(np.random.default_rng(8).standard_normal(out_features))
        self.bias_grad = bias_grad

    def forward(self, x):
        self.x = x
        return x @ self.weights.data + self.bias.data

    def backward(self, grad_output):
        self.weights.grad += self.x.T @ grad_output
        self.bias.grad += self.bias_grad(grad_output)
        return grad_output @ self.weights.data.T


class DuckLinear:
    """Not a manualnet Module at all: forward, backward and parameters() are enough."""

    def __init__(self, in_features, out_features):
        self.w = mn.Parameter(np.zeros((out_features, in_features)))
        self.b = mn.Parameter(np.zeros(out_features))

    def parameters(self):
        return [self.w, self.b]

    def forward(self, x):
        self.x = x
        return x @ self.w.data.T + self.b.data

    def backward(self, grad_output):
        self.w.grad += grad_output.T @ self.x
        self.b.grad += grad_output.sum(axis=0)
        return grad_output @ self.w.data


def affine_forward(x, w, b):
    """CS231n's affine layer: w of shape (in, out)."""
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    return dout * (x > 0)


class Centering(mn.Module):
    """y = x − mean_n(x): every sample minus the batch mean (the core of batch norm)."""

    saved_for_backward = ("x",)

    def __init__(self, keep_mean_term=True):
        super().__init__()
        self.keep_mean_term = keep_mean_term

    def forward(self, x):
        return x - x.mean(axis=0)

    def backward(self, grad_output):
        return grad_output - grad_output.mean(axis=0) if self.keep_mean_term else grad_output


class ScaledTanh(mn.Tanh):
    """Tanh whose backward is three times too large."""

    def backward(self, grad_output, need_input_grad=True):
        return 3 * super().backward(grad_output)


class BiasGradNeverWritten(mn.Linear):
    """Linear whose backward writes dL/dW and returns dL/dx, and forgets the bias."""

    def backward(self, grad_output, need_input_grad=True):
        self.weight.grad += grad_output.T @ self.x
        return grad_output @ self.weight.data


class FirstRowLost(mn.Tanh):
    """Tanh whose input gradient loses its first sample (a loop that starts at 1)."""

    def backward(self, grad_output, need_input_grad=True):
        grad = super().backward(grad_output).copy()
        grad[0] = 0
        return grad


class IgnoresItsUpstream(mn.Tanh):
    """Tanh whose backward returns the local derivative 1 − y², never multiplied by grad_output."""

    def backward(self, grad_output, need_input_grad=True):
        return super().backward(np.ones_like(grad_output))


def x_batch(shape=(4, 3), margin=0.0):
    return random_array(SEED, shape, margin=margin)


def linear(n_in=3, n_out=2):
    return mn.Linear(n_in, n_out, rng=SEED, dtype=np.float64)


def square_linear(cls):
    return cls(3, 3, rng=SEED, dtype=np.float64)


# -- comparing a learner's module -----------------------------------------------------

def test_learner_linear_with_in_out_layout_matches_and_the_transpose_is_noted():
    report = assert_modules_match(MyLinear(3, 2), linear(), x_batch(), rng=UPSTREAM_SEED)
    assert [a.name for a in report.arrays] == ["output", "input.grad", "weight.grad", "bias.grad"]
    assert report.passed and report.diagnoses == []
    assert any("'weights' (3, 2) is the reference's 'weight' (2, 3) transposed" in note for note in report.notes)


def test_square_in_out_layout_is_detected_from_the_output():
    """A (3, 3) weight's layout cannot be read from its shape; the forward tells."""
    report = compare_modules(MyLinear(3, 3), linear(3, 3), x_batch(), rng=UPSTREAM_SEED)
    assert report.passed
    assert any("transposed" in note for note in report.notes)


def test_comparison_leaves_my_module_untouched():
    mine = MyLinear(3, 2)
    before = mine.weights.data.copy()
    compare_modules(mine, linear(), x_batch(), rng=UPSTREAM_SEED)
    np.testing.assert_array_equal(mine.weights.data, before)
    assert not mine.weights.grad.any()


def test_wrong_bias_gradient_is_reported_with_worst_entry_and_diagnosis():
    report = compare_modules(MyLinear(3, 2, bias_grad=lambda g: g.mean(axis=0)), linear(), x_batch(),
                             rng=UPSTREAM_SEED)
    assert not report.passed
    assert [a.name for a in report.arrays if not a.passed] == ["bias.grad"]
    bias = report["bias.grad"]
    assert bias.analytic * 4 == pytest.approx(bias.numeric)       # mine = reference / N at the worst entry
    assert bias.max_abs_error == pytest.approx(abs(bias.analytic - bias.numeric))
    assert report.diagnosed() == ["sum vs mean"]
    assert report.diagnoses[0].explanation.startswith("mine = reference / 4, with N = 4 the batch size")


def test_assert_modules_match_raises_an_assertion_error_with_the_table():
    with pytest.raises(MismatchError) as caught:
        assert_modules_match(MyLinear(3, 2, bias_grad=lambda g: g.mean(axis=0)), linear(), x_batch(), rng=0)
    assert isinstance(caught.value, AssertionError)
    assert isinstance(caught.value.report, ComparisonReport)
    message = str(caught.value)
    assert "compared" in message and "bias.grad" in message and "FAIL" in message
    assert "diagnosis: bias.grad: sum vs mean" in message


def test_float32_module_is_compared_in_float64():
    mine = mn.Linear(3, 2, rng=1)                      # float32
    report = assert_modules_match(mine, linear(), x_batch().astype(np.float32), rng=UPSTREAM_SEED)
    assert report.max_rel_error < 1e-12


def test_duck_typed_module_is_matched_by_order():
    report = assert_modules_match(DuckLinear(3, 2), linear(), x_batch(), rng=UPSTREAM_SEED)
    assert "mine's 'parameters()[0]' plays the reference's 'weight'" in report.notes


@given(x=batches(features=4), seed=seeds)
@pytest.mark.slow
def test_every_module_matches_itself(x, seed):
    """Property: a module compared with an identical copy passes, whatever the data."""
    model = mn.Sequential(mn.Linear(4, 3, rng=seed, dtype=np.float64), mn.Tanh(),
                          mn.Linear(3, 2, rng=seed + 1, dtype=np.float64), mn.LogSoftmax())
    assert compare_modules(model, model, x, rng=seed + 2).passed


def test_losses_compare_with_their_targets_held_fixed():
    logits, labels = x_batch((5, 4)), np.array([0, 3, 1, 1, 2])
    report = assert_modules_match(mn.CrossEntropyLoss(), mn.CrossEntropyLoss(), logits, labels, rng=UPSTREAM_SEED)
    assert [a.name for a in report.arrays] == ["output", "input.grad"]


def test_upstream_gradient_is_random_not_uniform():
    """All ones would make the true softmax input gradient 0 and let a zero backward pass."""
    x = x_batch((4, 5))
    softmax = mn.Softmax()
    y = softmax(x)
    np.testing.assert_allclose(softmax.backward(np.ones_like(y)), 0, atol=1e-15)
    assert not compare_modules(ZeroBackwardSoftmax(), mn.Softmax(), x, rng=UPSTREAM_SEED).passed


def test_unmatched_parameters_are_a_clear_error_listing_both_sides():
    class ThreeParameters(MyLinear):
        def __init__(self):
            super().__init__(3, 2)
            self.scale = mn.Parameter(np.ones(2))

    with pytest.raises(ValueError) as caught:
        compare_modules(ThreeParameters(), linear(), x_batch())
    message = str(caught.value)
    assert "mine has 'scale', which the reference lacks" in message
    assert "mine:      weights (3, 2), bias (2,), scale (2,)" in message
    assert "reference: weight (2, 3), bias (2,)" in message


def test_parameters_of_incompatible_shapes_are_a_clear_error():
    with pytest.raises(ValueError, match=r"mine's 'weights' has shape \(4, 2\), the reference's 'weight' \(2, 3\)"):
        compare_modules(MyLinear(4, 2), linear(), x_batch())


def test_objects_without_forward_and_backward_are_refused():
    class ForwardOnly:
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"mine \(ForwardOnly\) has no backward\(\) method.*FunctionModule"):
        compare_modules(ForwardOnly(), mn.ReLU(), x_batch())


# -- plain function pairs -------------------------------------------------------------

@pytest.mark.parametrize("n_out", [2, 3])
def test_cs231n_function_pair_matches_linear(n_out):
    rng = np.random.default_rng(SEED)
    affine = FunctionModule(affine_forward, affine_backward,
                            {"w": rng.standard_normal((3, n_out)), "b": rng.standard_normal(n_out)})
    report = assert_modules_match(affine, linear(3, n_out), x_batch(), rng=UPSTREAM_SEED)
    assert "mine's 'b' plays the reference's 'bias'" in report.notes


def test_function_pair_without_parameters_matches_relu_and_passes_gradcheck():
    x = x_batch(margin=KINK_MARGIN)
    relu = FunctionModule(relu_forward, relu_backward)
    assert_modules_match(relu, mn.ReLU(), x, rng=UPSTREAM_SEED)
    assert check_module(relu, x, rng=UPSTREAM_SEED).passed


def test_function_pair_returning_a_transposed_gradient_is_a_clear_error():
    def transposed_backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, dw.T, db

    affine = FunctionModule(affine_forward, transposed_backward, {"w": np.ones((3, 2)), "b": np.zeros(2)})
    affine(x_batch())
    with pytest.raises(ValueError, match=r"dw of shape \(2, 3\) for parameter 'w' of shape \(3, 2\) \(its transpose"):
        affine.backward(np.ones((4, 2)))


def test_function_pair_returning_too_few_gradients_is_a_clear_error():
    affine = FunctionModule(affine_forward, lambda dout, cache: affine_backward(dout, cache)[:2],
                            {"w": np.ones((3, 2)), "b": np.zeros(2)})
    affine(x_batch())
    with pytest.raises(ValueError, match=r"returned 2 array\(s\); expected dx and one gradient per parameter \(w, b\)"):
        affine.backward(np.ones((4, 2)))


def test_function_module_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        FunctionModule(relu_forward, relu_backward).backward(np.ones(3))


# -- every diagnosis, named for a deliberately broken layer ------------------------------

def _diagnosed_cases():
    """(mistake, mine, reference, inputs, row): one broken layer per named mistake."""
    logits, labels = x_batch((4, 5)), np.array([0, 3, 1, 4])
    prediction, target = x_batch(), random_array(SEED + 2, (4, 3))
    square = lambda cls: cls(3, 3, rng=SEED, dtype=np.float64)      # noqa: E731
    keep = np.random.default_rng(SEED + 3).random((4, 3)) >= 0.25      # a fixed dropout mask
    recurrent = lambda cls: cls(3, 2, rng=SEED, dtype=np.float64)   # noqa: E731
    sequence, state = x_batch((6, 4, 3)), random_array(SEED + 4, (1, 4, 2))
    return [
        ("path missing", square(BiasGradNeverWritten), square(mn.Linear), (x_batch(),), "bias.grad"),
        ("entries missing", FirstRowLost(), mn.Tanh(), (x_batch(),), "input.grad"),
        ("upstream ignored", IgnoresItsUpstream(), mn.Tanh(), (x_batch(),), "input.grad"),
        ("not accumulated", square(bugzoo.OverwritingLinear), square(mn.Linear), (x_batch(),), "weight.grad"),
        ("transposed", square(bugzoo.TransposedWeightGradLinear), square(mn.Linear), (x_batch(),), "weight.grad"),
        ("sum vs mean", bugzoo.CrossEntropyMissingOneOverN(), mn.CrossEntropyLoss(), (logits, labels), "input.grad"),
        ("sign flipped", bugzoo.SignFlippedBCEWithLogitsLoss(), mn.BCEWithLogitsLoss(),
         (prediction, np.abs(np.tanh(target))), "input.grad"),
        ("factor of 2", bugzoo.MSELossMissingTwo(), mn.MSELoss(), (prediction, target), "input.grad"),
        ("constant factor", ScaledTanh(), mn.Tanh(), (x_batch(),), "input.grad"),
        ("mask missing", bugzoo.ReLUWithoutMask(), mn.ReLU(), (x_batch(margin=KINK_MARGIN),), "input.grad"),
        ("softmax diagonal", bugzoo.SoftmaxDiagonalOnly(), mn.Softmax(), (logits,), "input.grad"),
        ("derivative as value", bugzoo.SigmoidDerivativeAsValue(), mn.Sigmoid(), (x_batch(),), "input.grad"),
        ("mean term missing", Centering(keep_mean_term=False), Centering(), (x_batch(),), "input.grad"),
        ("shape", ReturnsNothing(), mn.Tanh(), (x_batch(),), "input.grad"),
        ("dropout scale", bugzoo.DropoutScaledByP(0.25), mn.Dropout(0.25), (x_batch(), keep), "input.grad"),
        # sequences: reproduced by re-running the reference (manualnet.testing.mistaken)
        ("gradient not carried", recurrent(bugzoo.RNNGradientNotCarried), recurrent(mn.RNN),
         (sequence, state), "input.grad"),
        ("last step only", recurrent(bugzoo.RNNWeightGradLastStepOnly), recurrent(mn.RNN), (sequence, state),
         "weight_ih_l0.grad"),
        ("gate order", recurrent(bugzoo.LSTMGatesInWrongOrder), recurrent(mn.LSTM), (sequence, (state, state)),
         "output[1][1]"),
        ("tanh derivative of pre-activation", recurrent(bugzoo.RNNCellTanhDerivativeOfPreactivation),
         recurrent(mn.RNNCell), (sequence[0], state[0]), "hx.grad"),
        ("duplicates lost", bugzoo.EmbeddingFancyIndexPlusEquals(4, 3, rng=SEED, dtype=np.float64),
         mn.Embedding(4, 3, dtype=np.float64), (np.array([[0, 3, 3], [1, 3, 0]]),), "weight.grad"),
    ]


def _diagnosed_conv_cases():
    """Convolution, pooling and BatchNorm2d: the bug zoo's layers, named by rerunning them."""
    images, tied = x_batch((2, 2, 7, 6)), np.random.default_rng(SEED).integers(0, 3, (2, 2, 6, 6)).astype(float)
    conv = lambda cls: cls(2, 4, 3, stride=2, padding=1, rng=SEED, dtype=np.float64)      # noqa: E731
    batchnorm = lambda cls: cls(2, dtype=np.float64)                                      # noqa: E731
    return [
        ("kernel not flipped", conv(bugzoo.UnflippedKernelConv2d), conv(mn.Conv2d), (images,), "input.grad"),
        ("stride not dilated", conv(bugzoo.UndilatedGradConv2d), conv(mn.Conv2d), (images,), "input.grad"),
        ("max to whole window", bugzoo.MaxPoolGradToWholeWindow(3, 2), mn.MaxPool2d(3, 2), (images,), "input.grad"),
        ("max to every tie", bugzoo.MaxPoolGradToAllTies(2), mn.MaxPool2d(2), (tied,), "input.grad"),
        ("average not divided", bugzoo.AvgPoolGradNotDivided(3, 2), mn.AvgPool2d(3, 2), (images,), "input.grad"),
        ("batch-norm axes", batchnorm(bugzoo.BatchNorm2dOverAllAxes), batchnorm(mn.BatchNorm2d), (images,), "output"),
    ]


CASES = _diagnosed_cases() + _diagnosed_conv_cases()


@pytest.mark.parametrize("mistake, mine, reference, inputs, row", CASES, ids=[case[0] for case in CASES])
def test_mistake_is_named_for_a_broken_layer_and_the_correct_one_passes(mistake, mine, reference, inputs, row):
    report = compare_modules(mine, reference, *inputs, rng=UPSTREAM_SEED)
    assert not report[row].passed
    assert report.diagnosed(row) == [mistake]
    diagnosis = next(line for line in " ".join(str(report).split()).split("diagnosis: ")[1:] if f" {mistake} — " in line)
    assert row in diagnosis.split(f": {mistake} — ")[0]
    assert all(len(line) <= 120 for line in str(report).splitlines()[3:])
    assert compare_modules(reference, reference, *inputs, rng=UPSTREAM_SEED).passed


def test_a_gradient_that_is_zero_is_a_missing_path_never_a_factor_of_zero():
    report = compare_modules(square_linear(BiasGradNeverWritten), square_linear(mn.Linear), x_batch(),
                             rng=UPSTREAM_SEED)
    assert report.diagnosed() == ["path missing"]
    assert "0 ×" not in str(report) and "constant factor" not in str(report)


def test_a_loss_that_ignores_its_upstream_gradient_is_named_so():
    class IgnoresG(mn.CrossEntropyLoss):
        def backward(self, grad_output=1.0):
            return super().backward(1.0)

    logits, labels = x_batch((4, 5)), np.array([0, 3, 1, 4])
    report = compare_modules(IgnoresG(), mn.CrossEntropyLoss(), logits, labels, rng=UPSTREAM_SEED)
    assert report.diagnosed() == ["upstream ignored"] and "grad_output" in str(report)


def test_a_module_without_parameters_says_nothing_about_accumulating():
    report = compare_modules(mn.Tanh(), mn.Tanh(), x_batch(), rng=UPSTREAM_SEED)
    assert "zero_grad" not in str(report)
    assert "2 passes, no zero_grad between" in str(compare_modules(linear(), linear(), x_batch(), rng=0))


def test_every_named_mistake_has_a_broken_layer_showing_it():
    """MISTAKES lists exactly what the diagnoses can name, and each one is shown above."""
    assert {case[0] for case in CASES} == set(MISTAKES)


def test_output_of_the_wrong_shape_stops_the_comparison_with_a_diagnosis():
    class TransposedOutput(mn.Tanh):
        def forward(self, x):
            return super().forward(x).T

    report = compare_modules(TransposedOutput(), mn.Tanh(), x_batch((4, 3)), rng=UPSTREAM_SEED)
    assert [a.name for a in report.arrays] == ["output"] and not report.passed
    assert report.diagnosed("output") == ["transposed"]


def test_a_failing_row_that_fits_no_relation_gets_no_diagnosis():
    class NoisyTanh(mn.Tanh):
        def backward(self, grad_output, need_input_grad=True):
            return super().backward(grad_output) + np.random.default_rng(0).standard_normal(grad_output.shape)

    report = compare_modules(NoisyTanh(), mn.Tanh(), x_batch(), rng=UPSTREAM_SEED)
    assert not report.passed and report.diagnoses == []


# -- never a NaN, never a vacuous pass ---------------------------------------------------------

@given(case=corrupted_cases(), seed=seeds)
@pytest.mark.slow
def test_no_corrupted_module_is_ever_passed(case, seed):
    """Property: one entry of the output, dL/dx or a parameter's gradient replaced by NaN, ±inf or a
    huge value fails compare_modules and assert_modules_match, and the report names it."""
    row_name = {"output": "output", "input": "input.grad"}.get(case.corruption.array, f"{case.corruption.array}.grad")
    report = compare_modules(case.module, case.reference, *case.inputs, rng=seed)
    assert not report.passed and not report[row_name].passed
    if not case.corruption.finite:
        assert report[row_name].problem.startswith(f"mine is {case.corruption.kind()} at index {case.corruption.index}")
        assert f"problem: {row_name}: mine is {case.corruption.kind()}" in str(report)
    with pytest.raises(MismatchError):
        assert_modules_match(case.module, case.reference, *case.inputs, rng=seed)


@pytest.mark.parametrize("mine, problem", [
    (ReturnsNothing(), r"mine is None, not an array"),
    (ReturnsAScalar(), r"mine has shape \(\), reference \(4, 3\): .* never broadcast"),
    (ReturnsObjects(), "mine holds object values, not real numbers"),
    (ReturnsComplex(), "mine holds complex128 values, not real numbers"),
], ids=lambda value: type(value).__name__ if isinstance(value, mn.Module) else None)
def test_what_is_not_a_gradient_array_fails_the_comparison_by_name(mine, problem):
    report = compare_modules(mine, mn.Tanh(), x_batch(), rng=UPSTREAM_SEED)
    assert not report.passed and re.match(problem, report["input.grad"].problem)


@pytest.mark.parametrize("mine", [DoublesItsUpstreamInPlace(), ScalesItsInputInPlace()], ids=lambda m: type(m).__name__)
def test_a_module_that_changes_what_it_is_given_cannot_change_what_the_reference_sees(mine):
    """Both modules were given the same arrays: the reference saw mine's in-place changes, and agreed."""
    assert not compare_modules(mine, mn.Tanh(), x_batch(), rng=UPSTREAM_SEED).passed


@pytest.mark.parametrize("mine, reference, x", [
    (mn.ReLU(), mn.ReLU(), -np.abs(x_batch()) - 0.1),                  # every gradient exactly 0
    (ZeroBackwardSoftmax(), mn.Softmax(), x_batch((4, 1))),             # softmax over one class
    (MyLinear(3, 2), linear(), np.zeros((0, 3))),                      # nothing to compare
], ids=["relu-negative", "softmax-one-class", "empty-batch"])
def test_a_comparison_where_no_gradient_says_anything_fails(mine, reference, x):
    report = compare_modules(mine, reference, x, rng=UPSTREAM_SEED)
    assert not report.passed and report.proves_nothing
    assert "problem: no gradient was compared" in str(report)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_are_refused(bad):
    x = x_batch()
    x[3, 0] = bad
    with pytest.raises(ValueError, match=rf"compare_modules: input 0 holds {bad} at index \(3, 0\)"):
        compare_modules(MyLinear(3, 2), linear(), x)


# -- the package and its strategies ----------------------------------------------------

@pytest.mark.slow
def test_testing_package_imports_neither_hypothesis_nor_torch():
    code = ("import sys, manualnet.testing, manualnet.testing.bugzoo; "
            "print(sorted(m for m in ('hypothesis', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@given(x=batches(features=3), seed=seeds)
def test_learner_three_line_property_test(x, seed):
    """Property: the strategies' docstring example works as written (MyLinear against mn.Linear)."""
    assert_modules_match(MyLinear(3, 2), mn.Linear(3, 2, rng=seed), x, rng=seed)


@given(x=away_from_kinks((5, 4)), labels=class_labels(batch=5, classes=3))
def test_strategies_keep_away_from_kinks_and_draw_labels_in_range(x, labels):
    """Property: away_from_kinks stays >= KINK_MARGIN from 0; labels are int64 in [0, classes)."""
    assert np.abs(x).min() >= KINK_MARGIN
    assert labels.dtype == np.int64 and labels.shape == (5,) and labels.min() >= 0 and labels.max() < 3


@given(x=batches(features=2, batch=3, margin=KINK_MARGIN))
def test_batches_have_the_asked_shape(x):
    """Property: batches(features=F, batch=N) is an (N, F) float64 array."""
    assert x.shape == (3, 2) and x.dtype == np.float64 and np.abs(x).min() >= KINK_MARGIN


# -- the README walkthrough cannot drift -------------------------------------------------

def _readme_section(title):
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _masked(text):
    """The report with every number replaced by # and runs of spaces collapsed.

    The last digit of a float may differ between machines; the rows, the
    verdicts, the notes and the diagnoses may not.
    """
    return re.sub(r"[ \t]+", " ", re.sub(r"-?\d+\.\d+(e[+-]\d+)?", "#", text)).strip()


def test_readme_walkthrough_prints_the_report_it_shows(capsys):
    section = _readme_section("Check your own implementation")
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", section, re.S | re.M)
    buggy = next(code for kind, code in blocks if kind == "python" and "print(report)" in code)
    shown = next(text for kind, text in blocks if kind == "text" and text.startswith("compare MyLinear"))
    exec(compile(buggy, str(README), "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert _masked(printed) == _masked(shown)
    assert "diagnosis: bias.grad: sum vs mean" in printed


def test_readme_lists_every_named_mistake():
    section = _readme_section("Check your own implementation")
    listed = dict(re.findall(r"^\| `([^`]+)` \| (.+?) \|$", section, re.M))
    assert listed == MISTAKES
