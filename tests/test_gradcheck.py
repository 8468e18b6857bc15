"""The gradient checker itself: right on known derivatives, catches wrong ones, refuses vacuous checks."""

import warnings

import numpy as np
import pytest
from hypothesis import given

import manualnet as mn
from manualnet.gradcheck import (
    ATOL, RTOL, GradcheckError, GradcheckWarning, check_loss, check_module, numerical_gradient,
)

from .strategies import arrays, shapes


# -- numerical_gradient on functions with known derivatives ---------------------------

@given(x=arrays(shapes(), scale=3.0))
def test_numerical_gradient_of_sum_of_squares_is_2x(x):
    """Property: d/dx Σx² = 2x."""
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), x), 2 * x, rtol=RTOL, atol=ATOL)


@given(x=arrays(shapes(), scale=3.0))
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

class LinearWithTransposedBug(mn.Linear):
    """dW computed as xᵀ G (shape (in, out)) — transposed, so only square layers even run."""

    def backward(self, grad_output, need_input_grad=True):
        x = self.x
        self.weight.grad += x.T @ grad_output
        self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data


class SigmoidWithoutOneMinus(mn.Sigmoid):
    """σ'(z) written as σ(z) instead of σ(z)(1 − σ(z))."""

    def backward(self, grad_output, need_input_grad=True):
        return grad_output * self.y


def test_checker_catches_a_transposed_weight_gradient(rng):
    layer = LinearWithTransposedBug(3, 3, rng=0, dtype=np.float64)
    with pytest.raises(GradcheckError) as caught:
        check_module(layer, rng.standard_normal((4, 3)))
    report = caught.value.report
    assert not report["weight"].passed and report["input"].passed and report["bias"].passed
    assert "FAIL" in str(caught.value) and "weight" in str(caught.value)


def test_checker_catches_a_wrong_activation_derivative_and_passes_the_right_one(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(GradcheckError, match="Sigmoid"):
        check_module(SigmoidWithoutOneMinus(), x)
    assert check_module(mn.Sigmoid(), x).passed


def test_report_without_raising_names_the_worst_entry(rng):
    report = check_module(SigmoidWithoutOneMinus(), rng.standard_normal((2, 3)), raise_on_failure=False)
    worst = report["input"]
    assert not report.passed and worst.max_abs_error > 1e-3
    assert abs(worst.analytic - worst.numeric) == pytest.approx(worst.max_abs_error)
    assert len(worst.worst_index) == 2


def test_check_loss_catches_a_missing_one_over_n(rng):
    class SumInsteadOfMean(mn.MSELoss):
        def backward(self, grad_output=1.0):
            return 2 * self.difference * grad_output

    with pytest.raises(GradcheckError):
        check_loss(SumInsteadOfMean(), rng.standard_normal((4, 2)), rng.standard_normal((4, 2)))


# -- the checker refuses to pass what proves nothing ----------------------------------

def test_kink_crossings_are_excluded_not_passed():
    """x = 1e-7 is closer to ReLU's kink than the step: that entry is reported as excluded."""
    report = check_module(mn.ReLU(), np.array([[1e-7, -0.5, 0.3]]))
    assert report.passed and report["input"].excluded == 1


def test_kink_exclusion_does_not_hide_a_wrong_gradient(rng):
    class ReLUWithWrongSign(mn.ReLU):
        def backward(self, grad_output, need_input_grad=True):
            return -grad_output * (self.y > 0)

    with pytest.raises(GradcheckError):
        check_module(ReLUWithWrongSign(), np.array([[1e-7, -0.5, 0.3]]))


def test_all_zero_gradients_fail_as_vacuous():
    with pytest.warns(GradcheckWarning, match="proves nothing"):
        with pytest.raises(GradcheckError, match="every gradient is ~0"):
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
