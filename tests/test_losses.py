"""CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss: gradients, invariants, stability, bad input."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.gradcheck import check_loss

from .strategies import logits_and_labels, probabilities_and_targets, random_array, seeds, shapes

reductions = st.sampled_from(["mean", "sum", "none"])


# -- finite differences --------------------------------------------------------

@given(data=logits_and_labels(), reduction=reductions, seed=seeds)
def test_cross_entropy_backward_matches_finite_differences(data, reduction, seed):
    """Property: the fused gradient (softmax − onehot)·g/N matches central differences."""
    logits, labels = data
    assert check_loss(mn.CrossEntropyLoss(reduction), logits, labels, rng=seed).passed


@given(data=logits_and_labels(), reduction=reductions, seed=seeds)
def test_nll_backward_matches_finite_differences(data, reduction, seed):
    """Property: dL/dx is −g/N at each target, 0 elsewhere."""
    logits, labels = data
    assert check_loss(mn.NLLLoss(reduction), logits, labels, rng=seed).passed


@given(data=probabilities_and_targets(), reduction=reductions, seed=seeds)
def test_bce_backward_matches_finite_differences(data, reduction, seed):
    """Property: dL/dp = (p − y) / (p(1 − p)) · g/M matches central differences inside (0, 1)."""
    p, y = data
    assert check_loss(mn.BCELoss(reduction), p, y, rng=seed).passed


@given(data=probabilities_and_targets(), scale=st.sampled_from([0.5, 3.0, 20.0]), reduction=reductions, seed=seeds)
def test_bce_with_logits_backward_matches_finite_differences(data, scale, reduction, seed):
    """Property: dL/dz = (σ(z) − y)·g/M matches central differences, also for large logits."""
    _, y = data
    z = random_array(seed, y.shape, scale)
    assume(np.max(np.abs(mn.functional.sigmoid(z) - y)) > 1e-6)   # all saturated and right: gradient ~0
    assert check_loss(mn.BCEWithLogitsLoss(reduction), z, y, rng=seed).passed


@given(shape=shapes(), reduction=reductions, seed=seeds)
def test_mse_backward_matches_finite_differences(shape, reduction, seed):
    """Property: dL/dx = 2(x − y)·g/M matches central differences."""
    x, y = random_array(seed, shape), random_array(seed + 1, shape)
    assert check_loss(mn.MSELoss(reduction), x, y, rng=seed).passed


# -- invariants ------------------------------------------------------------------

@given(data=logits_and_labels(scale=10.0))
def test_cross_entropy_is_non_negative_and_grad_rows_sum_to_zero(data):
    """Property: −log p >= 0, and each row of (softmax − onehot) sums to 1 − 1 = 0."""
    logits, labels = data
    loss = mn.CrossEntropyLoss()
    assert loss(logits, labels) >= 0
    np.testing.assert_allclose(loss.backward().sum(axis=1), 0.0, atol=1e-12)


@given(data=logits_and_labels(), reduction=reductions, seed=seeds)
def test_nll_of_log_softmax_equals_cross_entropy(data, reduction, seed):
    """Property: NLLLoss(LogSoftmax(z)) = CrossEntropyLoss(z), in value and in gradient."""
    logits, labels = data
    log_softmax, nll, cross_entropy = mn.LogSoftmax(), mn.NLLLoss(reduction), mn.CrossEntropyLoss(reduction)
    g = 1.3 if reduction != "none" else random_array(seed, labels.shape)
    np.testing.assert_allclose(nll(log_softmax(logits), labels), cross_entropy(logits, labels), rtol=1e-12)
    np.testing.assert_allclose(log_softmax.backward(nll.backward(g)), cross_entropy.backward(g), atol=1e-12)


@given(data=probabilities_and_targets(), seed=seeds)
def test_bce_with_logits_equals_bce_of_sigmoid(data, seed):
    """Property: BCEWithLogitsLoss(z) = BCELoss(σ(z)), in value and in gradient."""
    _, y = data
    z = random_array(seed, y.shape, 3.0)
    sigmoid, bce, with_logits = mn.Sigmoid(), mn.BCELoss(), mn.BCEWithLogitsLoss()
    np.testing.assert_allclose(with_logits(z, y), bce(sigmoid(z), y), rtol=1e-10)
    np.testing.assert_allclose(with_logits.backward(), sigmoid.backward(bce.backward()), rtol=1e-8, atol=1e-15)


def test_cross_entropy_worked_example():
    """Uniform logits over 4 classes: loss log 4, gradient (1/4 − onehot)/N."""
    loss = mn.CrossEntropyLoss()
    value = loss(np.zeros((2, 4)), np.array([1, 3]))
    np.testing.assert_allclose(value, np.log(4))
    np.testing.assert_allclose(loss.backward(), [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


@pytest.mark.parametrize("reduction, expected", [("mean", 2.5), ("sum", 5.0), ("none", [4.0, 1.0])])
def test_mse_reductions(reduction, expected):
    loss = mn.MSELoss(reduction)
    np.testing.assert_allclose(loss(np.array([3.0, 0.0]), np.array([1.0, 1.0])), expected)


def test_bce_clamps_log_like_pytorch():
    """p = 0 with y = 1 costs 100 (log clamped at −100), not inf; the gradient stays finite."""
    loss = mn.BCELoss()
    assert loss(np.array([0.0, 1.0]), np.array([1.0, 1.0])) == pytest.approx(50.0)
    assert np.all(np.isfinite(loss.backward()))


def test_losses_return_numpy_scalars_with_item():
    """`loss.item()` works as in PyTorch."""
    value = mn.CrossEntropyLoss()(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert isinstance(value, np.float32) and isinstance(value.item(), float)


# -- dtypes and stability ----------------------------------------------------------

LOSS_CASES = [
    (mn.CrossEntropyLoss, lambda x: np.array([0, 2])),
    (mn.NLLLoss, lambda x: np.array([0, 2])),
    (mn.BCEWithLogitsLoss, lambda x: (x > 0).astype(x.dtype)),
    (mn.MSELoss, lambda x: np.ones_like(x)),
]


@pytest.mark.parametrize("make_loss, make_target", LOSS_CASES + [(mn.BCELoss, lambda x: np.ones_like(x))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_keep_dtype(make_loss, make_target, dtype):
    x = np.array([[0.2, 0.5, 0.7], [0.9, 0.1, 0.4]], dtype=dtype)
    loss = make_loss()
    value = loss(x, make_target(x))
    assert value.dtype == loss.backward().dtype == np.dtype(dtype)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("make_loss, make_target", LOSS_CASES[:3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_are_finite_for_huge_logits(make_loss, make_target, dtype):
    """Logits of magnitude 1e4: finite loss and gradient, no overflow warning (log-sum-exp, stable BCE)."""
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=dtype)
    loss = make_loss()
    assert np.isfinite(loss(x, make_target(x)))
    assert np.all(np.isfinite(loss.backward()))


@pytest.mark.filterwarnings("error")
def test_cross_entropy_of_confident_wrong_logits_is_exact():
    """log-sum-exp keeps the loss exact where a naive log(softmax) would give log(0) = −inf."""
    value = mn.CrossEntropyLoss()(np.array([[1e4, -1e4]]), np.array([1]))
    assert value == pytest.approx(2e4)


# -- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("make_loss", [mn.CrossEntropyLoss, mn.NLLLoss])
def test_class_losses_reject_bad_labels(make_loss):
    loss, logits = make_loss(), np.zeros((3, 4))
    name = type(loss).__name__
    with pytest.raises(ValueError, match=rf"{name}.*class labels must be in \[0, 3\] for 4 classes, got 4"):
        loss(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=rf"{name}.*got -1"):
        loss(logits, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match=rf"{name}.*expected integer class labels \(int64\), got dtype float64"):
        loss(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=rf"{name}.*expected target of shape \(3,\) to match the batch size of input \(3, 4\), got \(2,\)"):
        loss(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"{name}.*expected input of shape \(N, C\)"):
        loss(np.zeros(4), np.array([0]))


def test_bce_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"BCELoss\(\): expected probabilities in \[0, 1\], got values from -0.5 to 1.0; apply Sigmoid"):
        mn.BCELoss()(np.array([-0.5, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"BCELoss\(\): expected target values in \[0, 1\], got values from 0.0 to 2.0"):
        mn.BCELoss()(np.array([0.5, 0.5]), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"BCEWithLogitsLoss\(\): expected target of shape \(2,\) \(the shape of input\), got shape \(3,\)"):
        mn.BCEWithLogitsLoss()(np.zeros(2), np.zeros(3))


def test_losses_reject_bad_reduction_and_grad_output():
    with pytest.raises(ValueError, match="reduction must be one of"):
        mn.MSELoss("average")
    loss = mn.MSELoss()
    with pytest.raises(RuntimeError, match="MSELoss.backward called before forward"):
        loss.backward()
    loss(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="grad_output must be a finite number"):
        loss.backward(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="grad_output must be a finite number"):
        loss.backward(float("nan"))
    per_element = mn.MSELoss("none")
    per_element(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(3,\)"):
        per_element.backward(np.ones(2))


def test_losses_reject_nan_logits_with_a_hint():
    with pytest.raises(ValueError, match="CrossEntropyLoss.*non-finite.*learning rate"):
        mn.CrossEntropyLoss()(np.array([[np.nan, 0.0]]), np.array([0]))


def test_loss_backward_out_of_pytorch_habit_says_what_to_write_instead():
    """The notes' `loss.backward()`: the loss is a plain number here, and says so."""
    loss = mn.CrossEntropyLoss()(np.zeros((2, 3), np.float32), np.array([0, 1]))
    with pytest.raises(RuntimeError, match=r"model.backward\(criterion.backward\(\)\) is what loss.backward\(\) does"):
        loss.backward()
    assert isinstance(loss, np.float32) and isinstance(loss.item(), float)
    assert f"{loss:.3f}" == "1.099" and loss == np.float32(np.log(3)) and str(loss) == str(np.float32(np.log(3)))


@pytest.mark.parametrize("reduction, expected", [("mean", np.nan), ("sum", 0.0)])
def test_cross_entropy_of_an_empty_batch_is_what_torch_gives(reduction, expected):
    """PyTorch: nan for the mean of no samples (0/0), 0 for their sum — and no NumPy warning here."""
    loss = mn.CrossEntropyLoss(reduction=reduction)
    value = loss(np.zeros((0, 3), np.float32), np.zeros(0, np.int64))
    np.testing.assert_equal(value, np.float32(expected))
    assert loss.backward().shape == (0, 3)
