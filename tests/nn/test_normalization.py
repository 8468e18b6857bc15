"""LayerNorm: gradients against finite differences, invariants, the worked example, options and bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.nn import functional as F
from manualnet.testing.gradcheck import check_module

from ..strategies import random_array, seeds


def random_layer_norm(shape, seed, **options):
    """A float64 LayerNorm with random γ and β (never the ones and zeros it starts with: they hide bugs)."""
    layer = mn.LayerNorm(shape, dtype=np.float64, **options)
    rng = np.random.default_rng(seed + 1)
    for parameter in layer.parameters():
        parameter.data[...] = rng.uniform(0.5, 1.5, parameter.shape) * rng.choice([-1, 1], parameter.shape)
    return layer


@given(leading=st.lists(st.integers(1, 3), max_size=2), trailing=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       affine=st.booleans(), bias=st.booleans(), seed=seeds)
def test_layer_norm_backward_matches_finite_differences(leading, trailing, affine, bias, seed):
    """Property: dL/dx (through each row's mean and variance), dL/dγ and dL/dβ, any leading and trailing shape.

    At least 3 values per row: two values normalise to ±1 whatever they are, a gradient of 0 (up to ε).
    """
    trailing[-1] = max(trailing[-1], 4 - np.prod(trailing[:-1], dtype=int))
    layer = random_layer_norm(tuple(trailing), seed, elementwise_affine=affine, bias=bias)
    report = check_module(layer, random_array(seed, (*leading, *trailing), scale=2.0), rng=seed)
    assert report.passed
    assert [a.name for a in report.arrays] == ["input"] + (["weight"] if affine else []) + (
        ["bias"] if affine and bias else [])


@given(shape=st.tuples(st.integers(1, 4), st.integers(2, 6)), seed=seeds)
def test_each_row_is_normalised_and_its_input_gradient_sums_to_zero(shape, seed):
    """x̂ has mean 0 and variance D/(D + ε D/σ²) ≈ 1 per row; adding a constant to a row changes nothing,
    so dL/dx sums to 0 over each row (the mean term), and so does Σ dL/dx x̂ up to ε (the variance term)."""
    layer = mn.LayerNorm(shape[1], elementwise_affine=False, dtype=np.float64)
    x = random_array(seed, shape, scale=3.0)
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(layer(x + 5.0), y, atol=1e-9)
    layer(x)
    dx = layer.backward(random_array(seed + 1, shape))
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-12)


def test_layer_norm_worked_example():
    """The numbers of derivations/layernorm.md's worked example: x = [0, 0, 3, 3], γ = [2, 1, 1, 0.5], β = [0.5, 0, 0, 0]."""
    layer = mn.LayerNorm(4, dtype=np.float64)
    layer.weight.data[...] = [2.0, 1.0, 1.0, 0.5]
    layer.bias.data[...] = [0.5, 0.0, 0.0, 0.0]
    y = layer(np.array([[0.0, 0.0, 3.0, 3.0]]))
    s = 1 / np.sqrt(2.25 + 1e-5)                                # μ = 1.5, σ² = 2.25
    np.testing.assert_allclose(layer.x_hat, [[-1.5 * s, -1.5 * s, 1.5 * s, 1.5 * s]], rtol=1e-14)
    np.testing.assert_allclose(y, [[-1.5, -1.0, 1.0, 0.5]], atol=1e-5)
    dx = layer.backward(np.array([[1.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(layer.weight.grad, [-1.5 * s, 0, 0, 0], rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(dx, [[2 / 3, -2 / 3, 0.0, 0.0]], atol=1e-5)
    x_hat = layer.x_hat[0]
    np.testing.assert_allclose(dx[0], s / 4 * (4 * np.array([2.0, 0, 0, 0]) - 2.0 - x_hat * (2 * x_hat[0])),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_keeps_dtype_and_takes_any_leading_axes(dtype):
    layer = mn.LayerNorm((3, 4), dtype=dtype)
    for shape in [(3, 4), (2, 3, 4), (2, 5, 3, 4), (0, 3, 4)]:
        y = layer(np.ones(shape, dtype))
        assert y.shape == shape and y.dtype == dtype
        assert layer.backward(np.ones(shape, dtype)).shape == shape


def test_layer_norm_options_and_pytorchs_initial_values():
    layer = mn.LayerNorm(5)
    assert np.array_equal(layer.weight.data, np.ones(5)) and np.array_equal(layer.bias.data, np.zeros(5))
    assert mn.LayerNorm(5, bias=False).bias is None
    plain = mn.LayerNorm(5, elementwise_affine=False)
    assert plain.weight is None and plain.bias is None and not plain.parameters()
    y = plain(np.arange(10, dtype=np.float32).reshape(2, 5))
    with pytest.raises(ValueError, match="read-only"):
        y *= 2                                       # y is x̂, kept for backward: handed out read-only


def test_functional_layer_norm_is_the_layers_forward_and_backward(rng):
    x, G = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    weight, bias = rng.standard_normal(4), rng.standard_normal(4)
    layer = mn.LayerNorm(4, dtype=np.float64)
    layer.weight.data[...], layer.bias.data[...] = weight, bias
    assert np.array_equal(F.layer_norm(x, (4,), weight, bias), layer(x))
    dx, dweight, dbias = F.layer_norm_backward(G, x, 4, weight, bias)
    assert np.array_equal(dx, layer.backward(G))
    assert np.array_equal(dweight, layer.weight.grad) and np.array_equal(dbias, layer.bias.grad)
    only_bias = F.layer_norm(x, (4,), None, bias)
    np.testing.assert_allclose(only_bias, F.layer_norm(x, (4,)) + bias, rtol=1e-14)


@pytest.mark.parametrize("build, match", [
    (lambda: mn.LayerNorm(0), r"LayerNorm: expected normalized_shape to be a positive integer.*got 0"),
    (lambda: mn.LayerNorm([]), r"normalized_shape.*got \[\]"),
    (lambda: mn.LayerNorm(4, eps=0), r"eps > 0"),
    (lambda: mn.LayerNorm(4, device="cuda"), r"no device 'cuda'"),
])
def test_bad_arguments_are_refused_by_name(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_a_wrong_trailing_shape_names_the_layer_the_expected_and_the_actual_shape():
    layer = mn.LayerNorm((3, 4))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(3, 4\), eps=1e-05, elementwise_affine=True\): expected input "
                                         r"of shape \(\*, 3, 4\) .*got shape \(2, 4, 3\)"):
        layer(np.ones((2, 4, 3), np.float32))
    with pytest.raises(TypeError, match="input has dtype float64 but the layer's parameters are float32"):
        layer(np.ones((3, 4)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        mn.LayerNorm(4).backward(np.ones((2, 4), np.float32))
    layer(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 3, 4\)"):
        layer.backward(np.ones((3, 4), np.float32))
