"""The gradient checker itself: right on known derivatives, catches wrong ones, refuses vacuous checks."""

import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import ATOL, EPS_MAX, EPS_MIN, RTOL, GradcheckError, GradcheckWarning, check_loss, check_module, numerical_gradient, random_upstream
from manualnet.testing import bugzoo

from ..corruptions import (
    BiasGradAsScalar, DoublesItsUpstreamInPlace, ReturnsAScalar, ReturnsComplex, ReturnsNothing, ReturnsObjects,
    ZeroBackwardSoftmax, corrupted_cases,
)
from ..strategies import arrays, seeds, shapes


# -- numerical_gradient on functions with known derivatives ---------------------------

@given(x=arrays(shapes(), scale=3.0))
@pytest.mark.slow
def test_numerical_gradient_of_sum_of_squares_is_2x(x):
    """Property: d/dx Σx² = 2x."""
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), x), 2 * x, rtol=RTOL, atol=ATOL)


@given(x=arrays(shapes(), scale=3.0))
@pytest.mark.slow
def test_numerical_gradient_of_sum_of_sines_is_cos(x):
    """Property: d/dx Σ sin x = cos x."""
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(np.sin(v)), x), np.cos(x), rtol=RTOL, atol=ATOL)


@given(a=arrays((3, 4)), b=arrays((4, 2)), r=arrays((3, 2)))
def test_numerical_gradient_of_a_matrix_product(a, b, r):
    """Property: for L = Σ R ⊙ (A B), dL/dA = R Bᵀ and dL/dB = Aᵀ R."""
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(r * (v @ b)), a), r @ b.T, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(r * (a @ v)), b), a.T @ r, rtol=RTOL, atol=ATOL)


def test_numerical_gradient_restores_its_input_and_needs_float64():
    x = np.array([1.0, -2.0, 3.0])
    numerical_gradient(lambda v: np.sum(v**3), x)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])
    with pytest.raises(TypeError, match="expected a float64"):
        numerical_gradient(np.sum, x.astype(np.float32))


# -- the checker can fail ---------------------------------------------------------

def test_checker_catches_a_transposed_weight_gradient(rng):
    layer = bugzoo.TransposedWeightGradLinear(3, 3, rng=0, dtype=np.float64)
    with pytest.raises(GradcheckError) as caught:
        check_module(layer, rng.standard_normal((4, 3)))
    report = caught.value.report
    assert not report["weight"].passed and report["input"].passed and report["bias"].passed
    assert "FAIL" in str(caught.value) and "weight" in str(caught.value)


def test_checker_catches_a_wrong_activation_derivative_and_passes_the_right_one(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(GradcheckError, match="Sigmoid"):
        check_module(bugzoo.SigmoidDerivativeAsValue(), x)
    assert check_module(mn.Sigmoid(), x).passed


def test_report_without_raising_names_the_worst_entry(rng):
    report = check_module(bugzoo.SigmoidDerivativeAsValue(), rng.standard_normal((2, 3)), raise_on_failure=False)
    worst = report["input"]
    assert not report.passed and worst.max_abs_error > 1e-3
    assert abs(worst.analytic - worst.numeric) == pytest.approx(worst.max_abs_error)
    assert len(worst.worst_index) == 2


def test_check_loss_catches_a_missing_one_over_n(rng):
    with pytest.raises(GradcheckError):
        check_loss(bugzoo.CrossEntropyMissingOneOverN(), rng.standard_normal((4, 3)), np.array([0, 2, 1, 1]))


# -- the checker refuses to pass what proves nothing ----------------------------------

def test_kink_crossings_are_excluded_not_passed():
    """x = 1e-7 is closer to ReLU's kink than the step: that entry is reported as excluded."""
    report = check_module(mn.ReLU(), np.array([[1e-7, -0.5, 0.3]]))
    assert report.passed and report["input"].excluded == 1


def test_kink_exclusion_does_not_hide_a_wrong_gradient(rng):
    class ReLUWithWrongSign(mn.ReLU):
        def backward(self, grad_output, need_input_grad=True):
            return -super().backward(grad_output)

    with pytest.raises(GradcheckError):
        check_module(ReLUWithWrongSign(), np.array([[1e-7, -0.5, 0.3]]))


def test_all_zero_gradients_fail_as_vacuous():
    with pytest.warns(GradcheckWarning, match="'input' proves nothing: both sides are within 1e-07 of 0"):
        with pytest.raises(GradcheckError, match="no gradient was compared"):
            check_module(mn.ReLU(), -np.ones((2, 3)) - np.arange(6).reshape(2, 3))


def test_uniform_upstream_gradient_draws_a_warning(rng):
    with pytest.warns(GradcheckWarning, match="uniform"):
        check_module(mn.Tanh(), rng.standard_normal((2, 3)), grad_output=np.ones((2, 3)))


def test_random_upstream_gradient_draws_no_warning(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_module(mn.Softmax(), rng.standard_normal((2, 3)), rng=1)


# -- the checker is safe to use on your model ------------------------------------------

def test_check_module_leaves_the_module_untouched(rng):
    layer = mn.Linear(3, 2, rng=0)
    weight = layer.weight.data.copy()
    report = check_module(layer, rng.standard_normal((4, 3)).astype(np.float32))
    assert report.passed
    assert layer.weight.dtype == np.float32 and np.array_equal(layer.weight.data, weight)
    assert not layer.weight.grad.any()


def test_report_table_lists_every_gradient(rng):
    text = str(check_module(mn.Linear(2, 2, rng=0), rng.standard_normal((3, 2))))
    lines = text.splitlines()
    assert lines[0].startswith("gradcheck Linear(in_features=2, out_features=2, bias=True): passed")
    assert [line.split()[0] for line in lines[2:]] == ["input", "weight", "bias"]


def test_check_module_rejects_non_modules():
    with pytest.raises(TypeError, match="expected a manualnet Module"):
        check_module(np.tanh, np.zeros(2))


# -- never a NaN: the corruption property --------------------------------------------------

def _check(case, **kwargs):
    """check_loss for a loss, check_module otherwise; the report, without raising."""
    if case.is_loss:
        return check_loss(case.module, *case.inputs, raise_on_failure=False, **kwargs)
    return check_module(case.module, *case.inputs, raise_on_failure=False, **kwargs)


@given(case=corrupted_cases(finite_output=False), seed=seeds)
@pytest.mark.slow
def test_no_corrupted_gradient_is_ever_passed(case, seed):
    """Property: the right gradient with one entry NaN, ±inf or huge, in dL/dx or a parameter's
    gradient (or a NaN/±inf in the forward output), fails check_module and check_loss, by name."""
    report = _check(case, rng=seed)
    assert not report.passed
    row = report["input" if case.corruption.array == "output" else case.corruption.array]
    assert not row.passed
    if not case.corruption.finite:
        if case.corruption.array == "output":         # every L is non-finite: so is every estimate
            assert row.problem.startswith("numeric is ") and "forward output (or the loss) is not finite" in row.problem
        else:
            assert row.problem.startswith(f"analytic is {case.corruption.kind()} at index {case.corruption.index}")
            assert "your backward returned it" in row.problem
        assert f"problem: {row.name}: {row.problem[:40]}" in str(report)
    with pytest.raises(GradcheckError):
        (check_loss if case.is_loss else check_module)(case.module, *case.inputs, rng=seed)


class NaNBackwardTanh(mn.Tanh):
    """The right gradient, with NaN at entry (1, 2): what `error > tol` alone would pass."""

    def backward(self, grad_output, need_input_grad=True):
        grad = super().backward(grad_output).copy()
        grad[1, 2] = np.nan
        return grad


def test_a_nan_returning_backward_fails_and_the_message_says_where(rng):
    with pytest.raises(GradcheckError) as caught:
        check_module(NaNBackwardTanh(), rng.standard_normal((3, 4)))
    message, row = str(caught.value), caught.value.report["input"]
    assert "gradcheck NaNBackwardTanh(): FAILED" in message
    assert "problem: input: analytic is NaN at index (1, 2), where numeric is" in message
    assert row.problem.endswith("your backward returned it: look for 0/0, inf - inf, log(0) or an overflow in backward")
    assert row.max_abs_error == np.inf and row.worst_index == (1, 2)     # never NaN: max() would lose it


# -- the step: eps refused where the check would prove nothing -------------------------------

@pytest.mark.parametrize("eps", [0, 0.0, -1e-6, 1e-300, 1e-17, np.nan, np.inf, -np.inf, 2 * EPS_MAX, 10.0])
@pytest.mark.parametrize("bug", [bugzoo.SigmoidDerivativeAsValue, bugzoo.ReLUWithoutMask, bugzoo.SoftmaxDiagonalOnly])
def test_eps_outside_its_range_is_refused_not_passed(eps, bug, rng):
    """eps = 0 or 1e-300 made every estimate 0/0 = NaN, which passed every bug; eps = 10 excused every
    ReLU entry as a kink."""
    with pytest.raises(ValueError, match=r"check_module: eps=\S+ is outside \[2.22e-16, 0.001\]"):
        check_module(bug(), rng.standard_normal((3, 4)), eps=eps)


@pytest.mark.parametrize("eps", [True, "1e-6", None, 1e-6j])
def test_eps_that_is_not_a_real_number_is_refused(eps):
    with pytest.raises(TypeError, match="eps must be a real number"):
        check_module(mn.Tanh(), np.ones((2, 2)), eps=eps)
    with pytest.raises(TypeError, match="eps must be a real number"):
        numerical_gradient(np.sum, np.ones(2), eps=eps)


def test_numerical_gradient_refuses_a_vanishing_step_and_a_non_finite_function():
    with pytest.raises(ValueError, match="x \\+ h == x"):
        numerical_gradient(np.sum, np.ones(2), eps=0)
    with pytest.raises(ValueError, match=r"F is not finite at x ± h at index \(1,\)"):
        numerical_gradient(lambda v: np.sum(np.log(v)), np.array([1.0, 1e-7]))


@given(x=st.floats(allow_nan=False, allow_infinity=False, max_value=1e300, min_value=-1e300),
       eps=st.floats(EPS_MIN, EPS_MAX))
def test_every_allowed_eps_moves_every_float(x, eps):
    """Property, eq. (11): eps >= 2⁻⁵² gives fl(x ± h) != x for every finite x, so no step vanishes."""
    x = np.float64(x)
    h = eps * max(1.0, abs(x))
    assert x + h != x and x - h != x


def test_a_step_that_overflows_is_refused():
    with pytest.raises(ValueError, match=r"the input\[\(0,\)\] = 1.79769e\+308 is so large that x \+ h overflows"):
        check_module(mn.Tanh(), np.array([np.finfo(np.float64).max, 1.0]))


# -- what is refused before any work ---------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_and_parameters_are_refused_by_name(bad, rng):
    x = rng.standard_normal((3, 4))
    x[2, 1] = bad
    with pytest.raises(ValueError, match=rf"check_module: the input holds {bad} at index \(2, 1\)"):
        check_module(mn.Tanh(), x)
    with pytest.raises(ValueError, match=rf"check_loss: the input holds {bad} at index \(2, 1\)"):
        check_loss(mn.MSELoss(), x, np.zeros((3, 4)))
    layer = mn.Linear(4, 2, dtype=np.float64)
    layer.weight.data[1, 3] = bad
    with pytest.raises(ValueError, match=rf"parameter 'weight' holds {bad} at index \(1, 3\)"):
        check_module(layer, rng.standard_normal((3, 4)))


class WrongSquare(mn.Module):
    """y = x², with the backward 3x·G where 2x·G belongs; it accepts any array, integers too."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad_output):
        return 3 * self.x * grad_output


class ForgetsG(WrongSquare):
    """y = x², with the backward 2x: right only when G is all ones."""

    def backward(self, grad_output):
        return 2.0 * self.x


@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool])
def test_an_integer_input_is_refused_not_passed(dtype):
    """A step of 1e-6 cannot move an integer: 0 ± 1e-6 was truncated back to 0, the estimate was
    0/0 = NaN, and the wrong backward passed."""
    with pytest.raises(TypeError, match="the input must be a float array to be differentiated, got dtype"):
        check_module(WrongSquare(), np.zeros((2, 3), dtype=dtype))


def test_a_scalar_upstream_gradient_that_would_broadcast_is_refused(rng):
    """grad_output=1.0 broadcast into a uniform R that the uniform-R warning missed (size 1): a
    backward that forgets to multiply by G passed without a word."""
    x = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match=r"grad_output has shape \(\), the output \(3, 4\)"):
        check_module(ForgetsG(), x, grad_output=1.0)
    with pytest.raises(ValueError, match="grad_output holds NaN or inf"):
        check_module(mn.Softmax(), x, grad_output=np.full((3, 4), np.nan))
    assert not check_module(ForgetsG(), x, raise_on_failure=False).passed


# -- what a backward returns, and what it leaves in .grad -----------------------------------

@pytest.mark.parametrize("module, row, problem", [
    (ReturnsNothing(), "input", r"analytic is None, not an array \(a `return` missing\?\)"),
    (ReturnsAScalar(), "input", r"analytic has shape \(\), numeric \(3, 4\): .* never broadcast"),
    (ReturnsObjects(), "input", "analytic holds object values, not real numbers"),
    (ReturnsComplex(), "input", "analytic holds complex128 values, not real numbers"),
    (BiasGradAsScalar(4, 2, dtype=np.float64), "bias", r"analytic has shape \(\), numeric \(2,\)"),
], ids=lambda value: type(value).__name__ if isinstance(value, mn.Module) else None)
def test_what_is_not_a_gradient_array_fails_by_name_and_is_reported(module, row, problem, rng):
    report = check_module(module, rng.standard_normal((3, 4)), raise_on_failure=False)
    assert not report.passed and not report[row].passed
    assert re.match(problem, report[row].problem)
    assert f"problem: {row}: " in str(report)


def test_a_backward_that_changes_its_upstream_gradient_fails(rng):
    report = check_module(DoublesItsUpstreamInPlace(), rng.standard_normal((3, 4)), raise_on_failure=False)
    assert not report.passed
    assert report["input"].analytic == pytest.approx(2 * report["input"].numeric)


# -- checks that would have proved nothing -------------------------------------------------------

def test_an_empty_input_proves_nothing_and_fails(rng):
    with pytest.warns(GradcheckWarning, match="'input' proves nothing: an empty array has no entry"):
        report = check_module(bugzoo.SigmoidDerivativeAsValue(), np.zeros((0, 4)), raise_on_failure=False)
    assert not report.passed and report["input"].status == "ok (empty)"


def test_zeros_on_one_side_fail(rng):
    x = rng.standard_normal((3, 4))
    assert not check_module(ZeroBackwardSoftmax(), x, raise_on_failure=False).passed   # analytic 0, numeric not

    class ConstantForward(mn.Tanh):                    # numeric 0, analytic not
        def forward(self, x):
            super().forward(x)
            return np.ones_like(x)

    report = check_module(ConstantForward(), x, raise_on_failure=False)
    assert not report.passed and np.abs(report["input"].numeric) < 1e-9


def test_a_gradient_within_atol_everywhere_proves_nothing():
    """A true gradient of 1e-9 everywhere: a backward returning zeros was within ATOL of it, and passed."""
    class TinyZero(mn.Module):
        def forward(self, x):
            return 1e-9 * x

        def backward(self, grad_output):
            return np.zeros_like(grad_output)

    with pytest.warns(GradcheckWarning, match="within 1e-07 of 0"):
        report = check_module(TinyZero(), np.ones((2, 3)), raise_on_failure=False)
    assert not report.passed and report.proves_nothing and report["input"].status == "ok (all ~0)"


def test_every_entry_excused_at_a_kink_proves_nothing():
    """Each input within one step of ReLU's kink: every error of a mask-less backward was excused."""
    x = np.array([[1e-7, -5e-8, 2e-8]])
    with pytest.warns(GradcheckWarning, match="every step crossed a kink"):
        report = check_module(bugzoo.ReLUWithoutMask(), x, raise_on_failure=False)
    assert report.excluded == 3 and not report.passed and report["input"].status == "ok (all excluded)"


def test_rounding_noise_is_never_taken_for_a_kink(rng):
    """Eq. (10): at eps = 1e-15 the estimate is rounding noise; a smooth layer must show none of it as kinks
    (before, 20 of Linear's 27 entries were excluded)."""
    layer = mn.Linear(3, 3, rng=1, dtype=np.float64)
    report = check_module(layer, rng.standard_normal((4, 3)), eps=1e-15, raise_on_failure=False)
    assert report.excluded == 0 and not report.passed


def test_upstream_gradient_is_never_the_input():
    """x drawn from seed 0, and R from the default rng=0, made R = x and x.T @ R symmetric: a transposed
    weight gradient passed."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer = bugzoo.TransposedWeightGradLinear(3, 3, rng=0, dtype=np.float64)
    assert not check_module(layer, x, raise_on_failure=False).passed
    assert not check_module(layer, 2.5 * x, raise_on_failure=False).passed          # R ∝ x hides it too


def test_upstream_gradient_avoids_only_what_it_can_be_proportional_to():
    """An input of zeros, or one holding inf or NaN, is no multiple of any R: drawing again would never end."""
    R = random_upstream(0, (3, 4), avoid=(np.zeros((3, 4)), np.full((3, 4), np.inf), np.full((3, 4), np.nan)))
    np.testing.assert_array_equal(R, np.random.default_rng(0).standard_normal((3, 4)))
    assert not np.array_equal(random_upstream(0, (3, 4), avoid=(-3 * R,)), R)
    x = np.random.default_rng(1).standard_normal((3, 4))
    assert check_loss(mn.MSELoss(reduction="none"), x, np.zeros_like(x)).passed
