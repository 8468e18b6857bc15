"""Dropout: a fixed mask's gradient, train/eval behaviour, mask statistics, PyTorch parity, bad input."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import check_module

from ..strategies import float_dtypes, random_array, seeds, shapes

drop_probabilities = st.floats(0.0, 0.95)


@given(shape=shapes(max_dims=3), p=drop_probabilities, seed=seeds)
def test_dropout_backward_matches_finite_differences_with_a_fixed_mask(shape, p, seed):
    """Property: with the mask held fixed, backward equals central differences of L = sum(R * y)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) >= p
    mask.flat[0] = True                                  # at least one kept element: never a vacuous check
    report = check_module(mn.Dropout(p), random_array(seed, shape), mask, rng=seed)
    assert report.passed


@given(shape=shapes(max_dims=3), p=drop_probabilities, seed=seeds)
def test_dropout_backward_uses_the_forward_mask(shape, p, seed):
    """Property: dx is G/(1 − p) exactly where forward kept x and 0 where it dropped it."""
    layer = mn.Dropout(p, rng=seed)
    x = random_array(seed, shape, margin=0.1)
    y = layer(x)
    G = random_array(seed + 1, shape, margin=0.1)
    dx = layer.backward(G)
    kept = y != 0
    np.testing.assert_array_equal(kept, layer.mask)
    np.testing.assert_allclose(dx[kept], G[kept] / (1 - p), rtol=1e-15)
    assert not dx[~kept].any()


def test_dropout_eval_is_identity(rng):
    layer = mn.Dropout(0.5, rng=0).eval()
    x, G = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(G), G)
    assert layer.mask is None


def test_dropout_p_zero_is_identity_in_training(rng):
    x = rng.standard_normal((5, 7))
    layer = mn.Dropout(0.0, rng=0)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_dropout_p_one_gives_zeros_without_nan(rng):
    x = rng.standard_normal((5, 7))
    layer = mn.Dropout(1.0, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no division-by-zero or invalid-value warning
        y = layer(x)
        dx = layer.backward(np.ones_like(x))
    assert not y.any() and not dx.any() and np.isfinite(y).all()


def test_dropout_worked_example():
    """The numbers of derivations/dropout.md's worked example."""
    layer = mn.Dropout(0.5)
    y = layer(np.array([1.0, 2.0, 3.0, 4.0]), mask=np.array([True, False, True, True]))
    np.testing.assert_array_equal(y, [2.0, 0.0, 6.0, 8.0])
    np.testing.assert_array_equal(layer.backward(np.array([0.5, -1.0, 2.0, 1.0])), [1.0, 0.0, 4.0, 2.0])


def test_dropout_is_reproducible_with_a_seed_and_draws_a_new_mask_each_forward():
    x = np.ones((20, 20))
    a, b, c = mn.Dropout(0.5, rng=3), mn.Dropout(0.5, rng=3), mn.Dropout(0.5, rng=4)
    first = a(x)
    np.testing.assert_array_equal(first, b(x))
    assert not np.array_equal(first, c(x))
    assert not np.array_equal(first, a(x))
    generator = np.random.default_rng(5)
    assert mn.Dropout(0.5, rng=generator).rng is generator


@given(dtype=float_dtypes, seed=seeds)
def test_dropout_keeps_dtype(dtype, seed):
    layer = mn.Dropout(0.4, rng=seed)
    x = random_array(seed, (3, 4), dtype=dtype)
    y = layer(x)
    assert y.dtype == layer.backward(np.ones_like(y)).dtype == np.dtype(dtype)


def test_model_eval_switches_dropout_off_inside_sequential(rng):
    model = mn.Sequential(mn.Linear(4, 8, rng=0), mn.ReLU(), mn.Dropout(0.5, rng=0), mn.Linear(8, 2, rng=1))
    x = rng.standard_normal((16, 4)).astype(np.float32)
    assert not np.array_equal(model(x), model(x))        # training: a new mask each time
    model.eval()
    np.testing.assert_array_equal(model(x), model(x))
    model.train()
    assert model[2].training


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_dropout_rejects_p_outside_zero_one(p):
    with pytest.raises(ValueError, match=r"Dropout: expected p, the probability of dropping an element, in \[0, 1\], got"):
        mn.Dropout(p)


def test_dropout_rejects_bad_input_masks_and_gradients(rng):
    layer = mn.Dropout(0.5)
    with pytest.raises(RuntimeError, match="Dropout.backward called before forward"):
        layer.backward(np.ones(3))
    with pytest.raises(TypeError, match=r"Dropout\(p=0.5\): expected input of dtype float32 or float64, got int64"):
        layer(np.arange(3))
    x = rng.standard_normal((2, 3))
    with pytest.raises(TypeError, match="expected mask to be a boolean numpy.ndarray"):
        layer(x, mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected mask of the input's shape \(2, 3\), got \(3, 2\)"):
        layer(x, mask=np.ones((3, 2), bool))
    layer(x)
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 3\)"):
        layer.backward(np.ones((3, 2)))


@pytest.mark.parametrize("training", [True, False], ids=["training", "eval"])
@pytest.mark.parametrize("grad_output, error, message", [
    (None, TypeError, "expected grad_output to be a numpy.ndarray, got NoneType"),
    ([[1.0, 1.0, 1.0]] * 2, TypeError, "expected grad_output to be a numpy.ndarray, got list"),
    (1.0, TypeError, "expected grad_output to be a numpy.ndarray, got float"),
    (np.ones((2, 3)), TypeError, "grad_output.*float64.*float32"),
], ids=["None", "list", "1.0", "float64 G after a float32 forward"])
def test_dropout_p_zero_refuses_a_gradient_that_is_not_one_by_name(training, grad_output, error, message):
    """p = 0 drops nothing, yet backward still checks G against forward's output (it used to raise AttributeError)."""
    layer = mn.Dropout(p=0).train(training)
    layer(np.ones((2, 3), np.float32))
    with pytest.raises(error, match=rf"Dropout\(p=0.0\): .*{message}"):
        layer.backward(grad_output)


# -- any shape, 0-d included ----------------------------------------------------------

@given(shape=shapes(min_dims=0, max_dims=4, max_side=3), seed=seeds)
def test_dropout_takes_any_shape_as_pytorch(shape, seed):
    """dropout.md, eq. (6): one mask entry per input entry; a 0-d input is one Bernoulli draw."""
    x = np.asarray(random_array(seed, shape))
    layer = mn.Dropout(0.4, rng=seed)
    y = layer(x)
    assert isinstance(y, np.ndarray) and y.shape == x.shape and layer.mask.shape == x.shape
    np.testing.assert_allclose(y, x * layer.mask / 0.6, rtol=1e-15)
    g = np.asarray(random_array(seed + 1, shape))
    grad = layer.backward(g)
    assert isinstance(grad, np.ndarray) and grad.shape == x.shape
    np.testing.assert_allclose(grad, g * layer.mask / 0.6, rtol=1e-15)
