"""BatchNorm1d and BatchNorm2d: gradients through the batch statistics, running statistics, bad input.

One implementation serves both (statistics over every axis but the channel
axis), so the properties are drawn over (N, C), (N, C, L) and (N, C, H, W)
inputs alike.  PyTorch parity: tests/interop/test_training_parity.py.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import check_module

from ..strategies import float_dtypes, random_array, seeds


@st.composite
def batchnorm_inputs(draw, min_batch=2):
    """(shape, seed): (N, C), (N, C, L) or (N, C, H, W), with at least two values per channel."""
    batch, features = draw(st.integers(min_batch, 6)), draw(st.integers(1, 4))
    rest = draw(st.sampled_from([(), (1,), (3,), (2, 3), (1, 1)]))
    return (batch, features, *rest), draw(seeds)


def random_batchnorm(features, seed, ndim=2, **options):
    """A float64 BatchNorm1d (ndim 2, 3) or BatchNorm2d (ndim 4) with random γ, β and running statistics."""
    layer = (mn.BatchNorm2d if ndim == 4 else mn.BatchNorm1d)(features, dtype=np.float64, **options)
    rng = np.random.default_rng(seed)
    if layer.affine:
        layer.weight.data[...] = rng.uniform(0.5, 2.0, features) * rng.choice([-1, 1], features)
    if layer.bias is not None:
        layer.bias.data[...] = rng.standard_normal(features)
    if layer.track_running_stats:
        layer.running_mean[...] = rng.standard_normal(features)
        layer.running_var[...] = rng.uniform(0.5, 2.0, features)
    return layer


# -- gradients -------------------------------------------------------------------

@given(data=batchnorm_inputs(), affine=st.booleans(), bias=st.booleans())
def test_batchnorm_training_backward_matches_finite_differences(data, affine, bias):
    """Property: dL/dx through μ and σ², and dL/dγ, dL/dβ, equal central differences (random R)."""
    shape, seed = data
    layer = random_batchnorm(shape[1], seed, ndim=len(shape), affine=affine, bias=bias)
    report = check_module(layer, random_array(seed, shape, scale=2.0) + 1.0, rng=seed)
    assert report.passed
    assert [a.name for a in report.arrays] == ["input"] + (["weight"] if affine else []) + (
        ["bias"] if affine and bias else [])


@given(data=batchnorm_inputs(min_batch=1))
def test_batchnorm_eval_backward_matches_finite_differences(data):
    """Property: in eval the running statistics are constants; even one sample checks out."""
    shape, seed = data
    layer = random_batchnorm(shape[1], seed, ndim=len(shape)).eval()
    assert check_module(layer, random_array(seed, shape), rng=seed).passed


@given(data=batchnorm_inputs(), dtype=float_dtypes)
def test_batchnorm_input_gradient_sums_to_zero_per_feature(data, dtype):
    """Property: Σ_n dL/dx_n = 0 per feature: shifting a whole feature changes nothing after normalising."""
    shape, seed = data
    layer = random_batchnorm(shape[1], seed, ndim=len(shape)).astype(dtype)
    x = random_array(seed, shape, dtype=dtype)
    layer(x)
    G = random_array(seed + 1, shape, dtype=dtype)
    dx = layer.backward(G)
    axes = (0, *range(2, len(shape)))
    # dx is a difference of terms of size s·Σ|dx̂| that cancel (by far, when σ is small): rounding
    # errors scale with those terms, not with dx.
    gamma = layer.weight.data.reshape((-1,) + (1,) * (len(shape) - 2))
    terms = layer.inv_std * np.abs(G * gamma).sum(axis=axes)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert np.all(np.abs(dx.sum(axis=axes)) <= tolerance * terms)


def test_batchnorm_input_gradient_is_orthogonal_to_x_hat(rng):
    """Σ_n dL/dx_n · x̂_n = 0 up to ε/(σ² + ε): scaling a feature's deviations changes nothing either."""
    layer = random_batchnorm(4, 0)
    x = rng.standard_normal((8, 4)) * 3
    layer(x)
    G = rng.standard_normal((8, 4))
    dx = layer.backward(G)
    # What survives is the fraction ε/(σ² + ε) of the x̂-component s·Σ dx̂·x̂ (derivations/batchnorm.md).
    x_hat_component = layer.inv_std * np.abs((G * layer.weight.data * layer.x_hat).sum(axis=0))
    residual_bound = 1.01 * x_hat_component * 1e-5 / (x.var(axis=0) + 1e-5) + 1e-15
    assert np.all(np.abs((dx * layer.x_hat).sum(axis=0)) <= residual_bound)
    assert np.all(x_hat_component > 1e3 * residual_bound)      # the bound is far below the component removed


def test_batchnorm_worked_example():
    """The numbers of derivations/batchnorm.md's worked example (ε = 1e-5: four decimals)."""
    layer = mn.BatchNorm1d(1, dtype=np.float64)
    layer.weight.data[...] = 2.0
    layer.bias.data[...] = 0.5
    y = layer(np.array([[1.0], [1.0], [3.0], [3.0]]))
    np.testing.assert_allclose(y[:, 0], [-1.5, -1.5, 2.5, 2.5], atol=1e-4)
    dx = layer.backward(np.array([[1.0], [2.0], [0.0], [-1.0]]))
    np.testing.assert_allclose(dx[:, 0], [-1.0, 1.0, 1.0, -1.0], atol=1e-4)
    np.testing.assert_allclose(layer.weight.grad, [-4.0], atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad, [2.0])
    np.testing.assert_allclose(layer.running_mean, [0.2])
    np.testing.assert_allclose(layer.running_var, [0.9 + 0.1 * 4 / 3])


# -- running statistics -------------------------------------------------------------

def test_running_statistics_use_the_unbiased_variance_and_update_in_place(rng):
    layer = mn.BatchNorm1d(3, dtype=np.float64)
    buffers = (layer.running_mean, layer.running_var, layer.num_batches_tracked)
    x = rng.standard_normal((5, 3)) * 3 + 2
    layer(x)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1))
    assert (layer.running_mean, layer.running_var, layer.num_batches_tracked) == buffers    # the same arrays
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked.shape == () \
        and int(layer.num_batches_tracked) == 1


@given(batches=st.integers(1, 6), seed=seeds)
def test_momentum_none_makes_running_statistics_the_average_of_all_batches(batches, seed):
    """Property: with momentum=None, running_mean is the mean of the batch means, running_var of the unbiased variances."""
    rng = np.random.default_rng(seed)
    layer = mn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    xs = rng.standard_normal((batches, 4, 2)) * 2 + 1
    for x in xs:
        layer(x)
    np.testing.assert_allclose(layer.running_mean, xs.mean(axis=1).mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.running_var, xs.var(axis=1, ddof=1).mean(axis=0), rtol=1e-12)
    assert int(layer.num_batches_tracked) == batches


def test_eval_uses_running_statistics_and_does_not_update_them(rng):
    layer = random_batchnorm(3, 0).eval()
    before = layer.state_dict()
    x = rng.standard_normal((4, 3))
    expected = (x - before["running_mean"]) / np.sqrt(before["running_var"] + 1e-5) * before["weight"] + before["bias"]
    np.testing.assert_allclose(layer(x), expected)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_without_running_statistics_eval_uses_the_batch(rng):
    layer = mn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64)
    assert list(layer.state_dict()) == ["weight", "bias"] and layer.running_mean is None
    x = rng.standard_normal((5, 3))
    train_output = layer(x)
    np.testing.assert_array_equal(layer.eval()(x), train_output)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(x[:1])


def test_state_dict_has_pytorchs_buffer_names_and_round_trips(rng):
    layer = mn.BatchNorm1d(3)
    layer(rng.standard_normal((4, 3)).astype(np.float32))
    state = layer.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]   # torch's
    fresh = mn.BatchNorm1d(3)
    fresh.load_state_dict(state)
    assert int(fresh.num_batches_tracked) == 1
    np.testing.assert_array_equal(fresh.running_var, layer.running_var)
    fresh.astype(np.float64)
    assert fresh.running_var.dtype == np.float64 and fresh.num_batches_tracked.dtype == np.int64


# -- PyTorch parity --------------------------------------------------------------

# -- dtypes, stability, bad input ---------------------------------------------------

@given(dtype=float_dtypes, seed=seeds)
def test_batchnorm_keeps_dtype(dtype, seed):
    layer = mn.BatchNorm1d(3, dtype=dtype)
    x = random_array(seed, (4, 3), dtype=dtype)
    y = layer(x)
    dx = layer.backward(random_array(seed + 1, (4, 3), dtype=dtype))
    arrays = (y, dx, layer.weight.grad, layer.running_mean, layer.running_var)
    assert all(array.dtype == np.dtype(dtype) for array in arrays)


def test_batchnorm_float32_is_accurate_for_a_large_mean_with_a_small_spread(rng):
    """The two-pass variance: E[x²] − μ² would lose every digit of a spread of 1 around 1e4 in float32."""
    x = (1e4 + rng.standard_normal((64, 3))).astype(np.float32)
    y = mn.BatchNorm1d(3)(x)
    exact = (x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)) / np.sqrt(x.var(axis=0, dtype=np.float64) + 1e-5)
    np.testing.assert_allclose(y, exact, atol=1e-2)


def test_batchnorm_constant_feature_gives_finite_output_and_gradient():
    layer = mn.BatchNorm1d(2, dtype=np.float64)
    x = np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 4.0]])
    y = layer(x)
    dx = layer.backward(np.array([[1.0, 0.5], [-2.0, 1.0], [0.5, 0.0]]))
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(y[:, 0], 0.0)


def test_training_on_one_value_per_feature_is_an_error_as_in_torch(rng):
    layer = mn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3, .*\): expected more than 1 value per channel .*"
                                         r"got input of shape \(1, 3\).*model.eval\(\)"):
        layer(rng.standard_normal((1, 3)).astype(np.float32))
    assert layer(rng.standard_normal((1, 3, 4)).astype(np.float32)).shape == (1, 3, 4)   # N·L = 4 values
    assert layer.eval()(rng.standard_normal((1, 3)).astype(np.float32)).shape == (1, 3)


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((4, 5), np.float32), ValueError, r"expected input of shape \(N, 3\) or \(N, 3, L\), got shape \(4, 5\) \(2-D\)"),
    (np.zeros(3, np.float32), ValueError, r"got shape \(3,\) \(1-D\)"),
    (np.zeros((2, 3, 4, 5), np.float32), ValueError, r"got shape \(2, 3, 4, 5\) \(4-D\)"),
    (np.zeros((4, 3)), TypeError, "input has dtype float64 but the layer's parameters are float32"),
    (np.zeros((4, 3), np.int64), TypeError, "float32 or float64, got int64"),
])
def test_batchnorm_rejects_bad_input_naming_the_layer(bad, error, message):
    with pytest.raises(error, match=r"BatchNorm1d\(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True\): .*" + message):
        mn.BatchNorm1d(3)(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_features": 0}, "expected num_features to be a positive integer, got 0"),
    ({"num_features": 3, "eps": 0}, r"expected eps > 0 .*got 0"),
    ({"num_features": 3, "momentum": 1.5}, r"expected momentum in \[0, 1\] or None .*got 1.5"),
])
def test_batchnorm_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mn.BatchNorm1d(**kwargs)


def test_batchnorm_rejects_bad_grad_output_and_backward_before_forward(rng):
    layer = mn.BatchNorm1d(3, dtype=np.float64)
    with pytest.raises(RuntimeError, match="BatchNorm1d.backward called before forward"):
        layer.backward(np.zeros((4, 3)))
    layer(rng.standard_normal((4, 3)))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(4, 3\)"):
        layer.backward(np.zeros((3, 4)))


def test_batchnorm2d_rejects_other_shapes_and_names_its_own():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3, .*\): expected input of shape \(N, 3, H, W\), got shape \(4, 3\)"):
        mn.BatchNorm2d(3)(np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("cls, shape", [(mn.BatchNorm1d, (0, 3)), (mn.BatchNorm1d, (0, 3, 5)), (mn.BatchNorm2d, (0, 3, 2, 2))])
def test_an_empty_batch_gives_an_empty_output_and_leaves_the_statistics_as_torch_does(cls, shape):
    """PyTorch returns an empty output, keeps running_mean/var and counts the batch in num_batches_tracked."""
    layer = cls(3)
    before = layer.state_dict()
    y = layer(np.zeros(shape, np.float32))
    assert y.shape == shape and y.dtype == np.float32
    after = layer.state_dict()
    np.testing.assert_array_equal(after["running_mean"], before["running_mean"])
    np.testing.assert_array_equal(after["running_var"], before["running_var"])
    assert after["num_batches_tracked"] == 1
    assert layer.backward(np.zeros(shape, np.float32)).shape == shape
    assert np.all(layer.weight.grad == 0) and np.all(np.isfinite(layer.bias.grad))


def test_bias_false_drops_beta_only_as_in_torch():
    layer = mn.BatchNorm1d(3, bias=False)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert list(layer.state_dict()) == ["weight", "running_mean", "running_var", "num_batches_tracked"]


@given(data=batchnorm_inputs(min_batch=1), dtype=float_dtypes)
def test_channel_sums_as_products_equal_numpys_sums_over_the_other_axes(data, dtype):
    """The layer's per-channel Σ a and Σ a ⊙ b (a product with ones, a dot product per row) are the
    readable np.sum over every axis but 1, to rounding."""
    from manualnet.nn.modules.batchnorm import _channel_sum
    shape, seed = data
    a, b = random_array(seed, shape, dtype=dtype), random_array(seed + 1, shape, dtype=dtype)
    axes = (0, *range(2, len(shape)))
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_channel_sum(a), np.sum(a, axis=axes), **tolerance)
    np.testing.assert_allclose(_channel_sum(a, b), np.sum(a * b, axis=axes), **tolerance)
    assert _channel_sum(a).dtype == _channel_sum(a, b).dtype == dtype
