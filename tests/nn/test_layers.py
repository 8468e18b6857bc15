"""Linear, Flatten and Sequential: gradients, shapes, dtypes and bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import check_module

from ..strategies import batch_sizes, feature_sizes, float_dtypes, random_array, seeds, shapes


def random_linear(in_features, out_features, seed, bias=True):
    """A float64 Linear with random (never all-zero or all-one) weights."""
    return mn.Linear(in_features, out_features, bias=bias, rng=seed, dtype=np.float64)


# -- Linear ------------------------------------------------------------------

@given(batch=batch_sizes, n_in=feature_sizes, n_out=feature_sizes, bias=st.booleans(), seed=seeds)
def test_linear_backward_matches_finite_differences(batch, n_in, n_out, bias, seed):
    """Property: dL/dx, dL/dW and dL/db equal central differences of L = sum(R * y)."""
    layer = random_linear(n_in, n_out, seed, bias)
    report = check_module(layer, random_array(seed, (batch, n_in)), rng=seed)
    assert report.passed and report.excluded == 0
    assert [a.name for a in report.arrays] == ["input", "weight"] + (["bias"] if bias else [])


def test_linear_worked_example():
    """The numbers of derivations/linear.md's worked example."""
    layer = mn.Linear(2, 2, dtype=np.float64)
    layer.weight.data[...] = [[1.0, 2.0], [3.0, -1.0]]
    layer.bias.data[...] = [0.5, -0.5]
    x = np.array([[1.0, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(layer(x), [[3.5, 1.5], [2.5, 5.5]])
    grad_output = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(layer.backward(grad_output), [[1.0, 2.0], [6.0, -2.0]])
    np.testing.assert_allclose(layer.weight.grad, [[1.0, 1.0], [4.0, 0.0]])
    np.testing.assert_allclose(layer.bias.grad, [1.0, 2.0])


def test_linear_backward_accumulates_into_grad(rng):
    """Two backward passes add up: .grad is a sum until zero_grad() clears it."""
    layer = mn.Linear(3, 2, rng=rng, dtype=np.float64)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_linear_skips_input_gradient_when_not_needed(rng):
    layer = mn.Linear(3, 2, rng=rng)
    layer(rng.standard_normal((4, 3)).astype(np.float32))
    assert layer.backward(np.ones((4, 2), np.float32), need_input_grad=False) is None
    assert layer.weight.grad.any()


def test_linear_default_init_matches_pytorch_bounds():
    """PyTorch's default: W and b uniform in ±1/√in_features."""
    layer = mn.Linear(400, 300, rng=0)
    bound = 1 / np.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.01 * bound


def test_linear_init_is_reproducible_with_a_seed():
    a, b, c = mn.Linear(5, 4, rng=7), mn.Linear(5, 4, rng=7), mn.Linear(5, 4, rng=8)
    assert np.array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


@given(dtype=float_dtypes, seed=seeds)
def test_linear_keeps_dtype(dtype, seed):
    layer = mn.Linear(3, 2, rng=seed, dtype=dtype)
    x = random_array(seed, (4, 3), dtype=dtype)
    y = layer(x)
    dx = layer.backward(random_array(seed + 1, y.shape, dtype=dtype))
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.dtype(dtype)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((64, 28, 28), np.float32),
     r"expected input of shape \(\*, 784\) \(in_features last, after any leading dimensions\), "
     r"got shape \(64, 28, 28\) \(3-D\); flatten images first"),
    (np.zeros(100, np.float32), r"expected input of shape \(\*, 784\) .*, got shape \(100,\) \(1-D\)$"),
    (np.zeros((64, 100), np.float32), r"expected input of shape \(\*, 784\) .*, got shape \(64, 100\) \(2-D\)$"),
    (np.zeros((), np.float32), r"expected input of shape \(\*, 784\) .*, got shape \(\) \(0-D\)$"),
])
def test_linear_rejects_wrong_shapes_naming_layer(bad, message):
    with pytest.raises(ValueError, match=r"Linear\(in_features=784, out_features=256, bias=True\): " + message):
        mn.Linear(784, 256)(bad)


def test_linear_rejects_wrong_dtypes():
    layer = mn.Linear(3, 2)
    with pytest.raises(TypeError, match="float32 or float64, got uint8"):
        layer(np.zeros((2, 3), np.uint8))
    with pytest.raises(TypeError, match="input has dtype float64 but the layer's parameters are float32"):
        layer(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="numpy.ndarray, got list"):
        layer([[0.0, 0.0, 0.0]])


def test_linear_rejects_non_finite_input():
    x = np.zeros((2, 3), np.float32)
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"non-finite.*index \(1, 2\)"):
        mn.Linear(3, 2)(x)


def test_linear_rejects_bad_grad_output_and_backward_before_forward():
    layer = mn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        layer.backward(np.zeros((4, 2), np.float32))
    layer(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(4, 2\).*got \(4, 3\)"):
        layer.backward(np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("args", [(0, 3), (3, -1), (2.5, 3), (True, 3)])
def test_linear_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="positive integer"):
        mn.Linear(*args)


# -- Flatten -----------------------------------------------------------------

@given(shape=shapes(min_dims=2, max_dims=4, max_side=4), seed=seeds)
def test_flatten_backward_matches_finite_differences(shape, seed):
    """Property: Flatten's backward (a reshape) equals central differences."""
    report = check_module(mn.Flatten(), random_array(seed, shape), rng=seed)
    assert report.passed


def test_flatten_shapes_like_pytorch():
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert mn.Flatten()(x).shape == (2, 60)
    assert mn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert mn.Flatten(0, -1)(x).shape == (120,)


def test_flatten_rejects_dims_out_of_range():
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=1, end_dim=-1\): cannot flatten dims 1..-1 of an input with 1 dimension"):
        mn.Flatten()(np.zeros(3, np.float32))


# -- Sequential --------------------------------------------------------------

def small_mlp(seed):
    return mn.Sequential(random_linear(4, 5, seed), mn.Tanh(), random_linear(5, 3, seed + 1))


@given(batch=batch_sizes, seed=seeds)
def test_sequential_backward_matches_finite_differences(batch, seed):
    """Property: the chain rule walked in reverse gives every parameter's gradient."""
    report = check_module(small_mlp(seed), random_array(seed, (batch, 4)), rng=seed)
    assert report.passed
    assert [a.name for a in report.arrays] == ["input", "0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_without_input_grad_gives_the_same_parameter_grads(rng):
    model = small_mlp(3)
    x, g = rng.standard_normal((4, 4)), rng.standard_normal((4, 3))
    model(x)
    model.backward(g)
    full = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model(x)
    assert model.backward(g, need_input_grad=False) is None
    for expected, parameter in zip(full, model.parameters()):
        np.testing.assert_allclose(parameter.grad, expected)


def test_sequential_skips_parameterless_modules_before_the_first_learner(rng):
    model = mn.Sequential(mn.Flatten(), mn.Linear(6, 2, rng=0, dtype=np.float64))
    model(rng.standard_normal((3, 2, 3)))
    model[0].input_shape = None      # Flatten's backward would now fail if it ran
    assert model.backward(rng.standard_normal((3, 2)), need_input_grad=False) is None


def test_sequential_names_indexing_and_repr():
    model = mn.Sequential(mn.Linear(2, 3), mn.ReLU(), mn.Linear(3, 1))
    assert len(model) == 3 and isinstance(model[1], mn.ReLU) and isinstance(model[-1], mn.Linear)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert repr(model).splitlines()[1] == "  (0): Linear(in_features=2, out_features=3, bias=True)"
    assert len(model[:2]) == 2
    with pytest.raises(TypeError, match="expected a Module, got ufunc"):
        mn.Sequential(np.tanh)


def test_flatten_of_an_empty_batch_is_empty_as_in_torch():
    layer = mn.Flatten()
    y = layer(np.zeros((0, 28, 28), np.float32))
    assert y.shape == (0, 784)
    assert layer.backward(np.zeros((0, 784), np.float32)).shape == (0, 28, 28)


def test_linear_of_an_empty_batch_is_empty_and_adds_nothing():
    layer = mn.Linear(3, 2, rng=0)
    assert layer(np.zeros((0, 3), np.float32)).shape == (0, 2)
    assert layer.backward(np.zeros((0, 2), np.float32)).shape == (0, 3)
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


# -- Linear on (*, in_features), Sequential's OrderedDict -------------------------------

@given(leading=shapes(min_dims=0, max_dims=3, max_side=4), seed=seeds, bias=st.booleans())
def test_linear_on_any_leading_dimensions_matches_finite_differences(leading, seed, bias):
    """Property (linear.md, eq. 5): (*, in) -> (*, out); dW and db sum over every leading position."""
    layer = mn.Linear(3, 2, bias=bias, rng=seed, dtype=np.float64)
    assert check_module(layer, np.asarray(random_array(seed, leading + (3,))), rng=seed).passed


@given(leading=shapes(min_dims=0, max_dims=3, max_side=4), seed=seeds)
def test_linear_on_leading_dimensions_equals_linear_on_rows(leading, seed):
    """The positions of any leading shape are rows: output, dL/dx and the weight gradients agree exactly."""
    x = np.asarray(random_array(seed, leading + (3,)))
    g = np.asarray(random_array(seed + 1, leading + (2,)))
    shaped, rows = mn.Linear(3, 2, rng=0, dtype=np.float64), mn.Linear(3, 2, rng=0, dtype=np.float64)
    np.testing.assert_allclose(shaped(x), rows(x.reshape(-1, 3)).reshape(leading + (2,)), rtol=1e-15)
    np.testing.assert_allclose(shaped.backward(g), rows.backward(g.reshape(-1, 2)).reshape(x.shape), rtol=1e-15)
    np.testing.assert_allclose(shaped.weight.grad, rows.weight.grad, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(shaped.bias.grad, rows.bias.grad, rtol=1e-14, atol=1e-15)


def test_linear_of_one_sample_is_a_vector():
    layer = mn.Linear(3, 2, rng=0, dtype=np.float64)
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(layer(x), layer.weight.data @ x + layer.bias.data, rtol=1e-15)
    g = np.array([0.3, -1.0])
    np.testing.assert_allclose(layer.backward(g), g @ layer.weight.data, rtol=1e-15)
    np.testing.assert_allclose(layer.weight.grad, np.outer(g, x), rtol=1e-15)


@pytest.mark.parametrize("shape", [(0, 3), (2, 0, 3)])
def test_linear_on_an_empty_batch_is_empty_with_zero_gradients(shape):
    layer = mn.Linear(3, 2, rng=0)
    y = layer(np.zeros(shape, np.float32))
    assert y.shape == shape[:-1] + (2,)
    assert layer.backward(np.zeros(y.shape, np.float32)).shape == shape
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_linear_refuses_a_device_other_than_the_cpu_by_name():
    assert mn.Linear(3, 2, device="cpu").weight.shape == (2, 3)
    with pytest.raises(ValueError, match=r"Linear: manualnet runs on the CPU with NumPy; there is no device 'cuda:1'"):
        mn.Linear(3, 2, device="cuda:1")


def test_sequential_of_an_ordered_dict_names_its_children():
    from collections import OrderedDict
    model = mn.Sequential(OrderedDict([("hidden", mn.Linear(3, 4, rng=0)), ("act", mn.ReLU()),
                                       ("out", mn.Linear(4, 2, rng=1))]))
    assert list(model.state_dict()) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert model[1] is model.act and len(model) == 3
    with pytest.raises(ValueError, match=r"Sequential: a child's name must be a non-empty str without '.'"):
        mn.Sequential(OrderedDict([("a.b", mn.ReLU())]))
    with pytest.raises(ValueError, match=r"names nothing else of the container, got 'forward'"):
        mn.Sequential(OrderedDict([("forward", mn.ReLU())]))
