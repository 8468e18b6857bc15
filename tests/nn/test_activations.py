"""ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax: gradients, invariants, stability, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import check_module

from ..strategies import KINK_MARGIN, float_dtypes, random_array, seeds, shapes

def with_room_along(shape, dim):
    """Give ``dim`` at least 2 entries: softmax over one entry is constant, its gradient 0."""
    shape = list(shape)
    shape[dim] = max(shape[dim], 2)
    return tuple(shape)


ELEMENTWISE = [mn.ReLU, lambda: mn.LeakyReLU(0.2), mn.Sigmoid, mn.Tanh]
ALL_LAYERS = ELEMENTWISE + [mn.Softmax, mn.LogSoftmax]


# -- finite differences --------------------------------------------------------

@given(shape=shapes(), seed=seeds)
def test_relu_backward_matches_finite_differences(shape, seed):
    """Property: dL/dx = G ⊙ 1[x > 0] matches central differences away from the kink."""
    x = random_array(seed, shape, margin=KINK_MARGIN)   # |x| >= 0.01 >> step 1e-6: no step crosses 0
    x.flat[0] = abs(x.flat[0])                          # one positive entry, or the check proves nothing
    report = check_module(mn.ReLU(), x, rng=seed)
    assert report.passed and report.excluded == 0


@given(shape=shapes(), seed=seeds, slope=st.floats(-2, 2).filter(lambda a: abs(a) > 1e-3))
@pytest.mark.slow
def test_leaky_relu_backward_matches_finite_differences(shape, seed, slope):
    """Property: dL/dx = G where x > 0, a·G elsewhere, for any slope a, away from the kink."""
    x = random_array(seed, shape, margin=KINK_MARGIN)
    report = check_module(mn.LeakyReLU(slope), x, rng=seed)
    assert report.passed and report.excluded == 0


@given(shape=shapes(), seed=seeds, scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_sigmoid_backward_matches_finite_differences(shape, seed, scale):
    """Property: dL/dx = G ⊙ σ(x)(1 − σ(x)) matches central differences."""
    assert check_module(mn.Sigmoid(), random_array(seed, shape, scale), rng=seed).passed


@given(shape=shapes(), seed=seeds, scale=st.sampled_from([0.1, 1.0, 3.0]))
def test_tanh_backward_matches_finite_differences(shape, seed, scale):
    """Property: dL/dx = G ⊙ (1 − tanh²x) matches central differences."""
    assert check_module(mn.Tanh(), random_array(seed, shape, scale), rng=seed).passed


@given(shape=shapes(), seed=seeds, data=st.data())
def test_softmax_backward_matches_finite_differences(shape, seed, data):
    """Property: the Jacobian-vector product y ⊙ (G − ΣG y) matches central differences along any dim."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = random_array(seed, with_room_along(shape, dim), 2.0)
    assert check_module(mn.Softmax(dim), x, rng=seed).passed


@given(shape=shapes(), seed=seeds, data=st.data())
def test_log_softmax_backward_matches_finite_differences(shape, seed, data):
    """Property: G − softmax(x) ΣG matches central differences along any dim."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = random_array(seed, with_room_along(shape, dim), 2.0)
    assert check_module(mn.LogSoftmax(dim), x, rng=seed).passed


# -- values and invariants -------------------------------------------------------

def test_relu_and_leaky_relu_values_and_kink_convention():
    """At x = 0 the gradient is PyTorch's: 0 for ReLU, the slope a for LeakyReLU."""
    x = np.array([-2.0, 0.0, 3.0])
    relu, leaky = mn.ReLU(), mn.LeakyReLU(0.1)
    np.testing.assert_array_equal(relu(x), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(leaky(x), [-0.2, 0.0, 3.0])
    np.testing.assert_array_equal(relu.backward(np.ones(3)), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(leaky.backward(np.ones(3)), [0.1, 0.1, 1.0])


@given(shape=shapes(), seed=seeds)
def test_sigmoid_is_symmetric(shape, seed):
    """Property: σ(−z) = 1 − σ(z)."""
    z = random_array(seed, shape, 4.0)
    np.testing.assert_allclose(mn.Sigmoid()(-z), 1 - mn.Sigmoid()(z), rtol=1e-12, atol=1e-15)


@given(shape=shapes(), seed=seeds, data=st.data())
def test_softmax_rows_are_probabilities(shape, seed, data):
    """Property: softmax entries lie in [0, 1] and sum to 1 along dim."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    y = mn.Softmax(dim)(random_array(seed, shape, 10.0))
    assert y.shape == shape
    assert np.all((y >= 0) & (y <= 1))
    np.testing.assert_allclose(y.sum(axis=dim), 1.0, rtol=1e-12)


@given(shape=shapes(), seed=seeds)
def test_log_softmax_is_log_of_softmax(shape, seed):
    """Property: LogSoftmax(x) = log(Softmax(x)) (where softmax does not underflow)."""
    x = random_array(seed, shape, 3.0)
    np.testing.assert_allclose(mn.LogSoftmax(dim=-1)(x), np.log(mn.Softmax(dim=-1)(x)), rtol=1e-10, atol=1e-12)


@given(shape=shapes(), seed=seeds)
def test_softmax_input_gradient_rows_sum_to_zero(shape, seed):
    """Property: softmax is shift-invariant along dim, so dL/dx sums to 0 along dim."""
    x, g = random_array(seed, shape), random_array(seed + 1, shape)
    layer = mn.Softmax(dim=-1)
    layer(x)
    np.testing.assert_allclose(layer.backward(g).sum(axis=-1), 0.0, atol=1e-12)


def test_uniform_upstream_gradient_hides_softmax_backward():
    """Why gradcheck uses a random upstream gradient: all-ones gives dL/dx = 0 for ANY softmax."""
    layer = mn.Softmax()
    layer(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(layer.backward(np.ones((1, 3))), 0.0, atol=1e-15)


# -- dtypes and stability ----------------------------------------------------------

@pytest.mark.parametrize("make_layer", ALL_LAYERS)
@given(dtype=float_dtypes, seed=seeds)
def test_activations_keep_dtype(make_layer, dtype, seed):
    layer = make_layer()
    x = random_array(seed, (3, 4), dtype=dtype)
    y = layer(x)
    assert y.dtype == layer.backward(np.ones_like(y)).dtype == np.dtype(dtype)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("make_layer", ALL_LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_finite_for_huge_inputs(make_layer, dtype):
    """Inputs of magnitude 1e4: finite outputs and gradients, no overflow warning."""
    x = np.array([[-1e4, -50.0, 0.5, 50.0, 1e4]], dtype=dtype)
    layer = make_layer()
    y = layer(x)
    dx = layer.backward(np.array([[0.3, -1.0, 2.0, 0.7, -0.4]], dtype=dtype))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_exactly(dtype):
    y = mn.Sigmoid()(np.array([-1e4, 1e4], dtype=dtype))
    assert y[0] == 0.0 and y[1] == 1.0


# -- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("make_layer", ALL_LAYERS)
def test_activations_reject_bad_input_naming_the_layer(make_layer):
    layer = make_layer()
    name = type(layer).__name__
    with pytest.raises(TypeError, match=f"{name}.*expected input of dtype float32 or float64, got int64"):
        layer(np.arange(3))
    with pytest.raises(ValueError, match=f"{name}.*non-finite"):
        layer(np.array([1.0, np.inf]))
    with pytest.raises(RuntimeError, match=f"{name}.backward called before forward"):
        make_layer().backward(np.ones(3))
    layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}.*expected grad_output of shape \(2, 3\).*got \(3, 2\)"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(TypeError, match=f"{name}.*grad_output has dtype float32 but the layer's parameters are float64"):
        layer.backward(np.zeros((2, 3), np.float32))


def test_softmax_rejects_dim_out_of_range():
    with pytest.raises(ValueError, match=r"Softmax\(dim=2\): dim 2 is out of range for an input of shape \(2, 3\)"):
        mn.Softmax(dim=2)(np.zeros((2, 3)))


@pytest.mark.parametrize("slope", [float("nan"), "0.1", None])
def test_leaky_relu_rejects_bad_slope(slope):
    with pytest.raises(ValueError, match="LeakyReLU: expected negative_slope to be a finite number"):
        mn.LeakyReLU(slope)


@pytest.mark.parametrize("layer", [mn.Softmax(dim=1), mn.LogSoftmax(dim=1)], ids=lambda layer: type(layer).__name__)
def test_softmax_over_zero_classes_is_empty_as_in_torch(layer):
    y = layer(np.zeros((4, 0), np.float32))
    assert y.shape == (4, 0) and y.dtype == np.float32
    assert layer.backward(np.zeros((4, 0), np.float32)).shape == (4, 0)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("layer", [mn.ReLU(), mn.Sigmoid(), mn.Tanh(), mn.LeakyReLU(), mn.Dropout(0.5, rng=0),
                                   mn.Linear(2, 2, rng=0), mn.Softmax()], ids=lambda layer: type(layer).__name__)
def test_np_matrix_is_refused_by_name(layer):
    """np.matrix turns * into a matrix product: with square shapes a layer would compute something else silently."""
    with pytest.raises(TypeError, match=r"expected input to be a plain numpy.ndarray, got numpy.*matrix.*__mul__"):
        layer(np.asmatrix(np.ones((2, 2), np.float32)))


def test_a_masked_array_is_refused_and_a_memmap_accepted(tmp_path):
    with pytest.raises(TypeError, match="MaskedArray"):
        mn.ReLU()(np.ma.masked_array(np.ones((2, 2), np.float32), mask=[[0, 1], [0, 0]]))
    mapped = np.memmap(tmp_path / "x.bin", dtype=np.float32, mode="w+", shape=(2, 2))
    mapped[...] = [[1, -1], [-2, 2]]
    np.testing.assert_array_equal(mn.ReLU()(mapped), [[1, 0], [0, 2]])


# -- any shape, 0-d inputs, PyTorch's dim=None --------------------------------------

@pytest.mark.parametrize("make_layer", ALL_LAYERS + [lambda: mn.Softmax(dim=0), lambda: mn.LogSoftmax(dim=-1)])
@given(value=st.floats(-5, 5).filter(lambda v: abs(v) > KINK_MARGIN), upstream=st.floats(-2, 2))
def test_activations_take_0d_inputs_as_pytorch(make_layer, value, upstream):
    """A 0-d input gives a 0-d ndarray output and gradient, the values of the same entry in a 1-element array."""
    scalar, vector = make_layer(), make_layer()
    y = scalar(np.array(value))
    grad = scalar.backward(np.array(upstream))
    assert isinstance(y, np.ndarray) and y.shape == () and isinstance(grad, np.ndarray) and grad.shape == ()
    np.testing.assert_allclose(y, vector(np.array([value]))[0], rtol=1e-15)
    np.testing.assert_allclose(grad, vector.backward(np.array([upstream]))[0], rtol=1e-15, atol=1e-300)


@pytest.mark.parametrize("layer", [mn.Softmax(dim=0), mn.LogSoftmax(dim=0)], ids=["Softmax", "LogSoftmax"])
def test_softmax_of_a_0d_input_is_one_and_log_softmax_zero_with_no_gradient(layer):
    """derivations/softmax.md, eq. (7)."""
    assert layer(np.array(3.7)) == (1.0 if isinstance(layer, mn.Softmax) else 0.0)
    assert layer.backward(np.array(2.0)) == 0.0
    with pytest.raises(ValueError, match=r"dim 1 is out of range for an input of shape \(\) \(0-D\); expected dim in \[-1, 0\]"):
        type(layer)(dim=1)(np.array(3.7))


@pytest.mark.parametrize("cls", [mn.Softmax, mn.LogSoftmax])
@given(shape=shapes(min_dims=0, max_dims=2), seed=seeds)
def test_dim_none_is_the_last_axis_up_to_two_dimensions(cls, shape, seed):
    """PyTorch's implicit dim for 0-, 1- and 2-D inputs (0, 0 and 1) is the last axis: the same numbers."""
    x = np.asarray(random_array(seed, shape, 2.0))
    implicit, explicit = cls(), cls(dim=-1)
    np.testing.assert_array_equal(implicit(x), explicit(x))
    g = np.asarray(random_array(seed + 1, shape))
    np.testing.assert_array_equal(implicit.backward(g), explicit.backward(g))


@pytest.mark.parametrize("cls", [mn.Softmax, mn.LogSoftmax])
@pytest.mark.parametrize("shape, torch_dim", [((2, 3, 4), 0), ((2, 3, 4, 5), 1)])
def test_dim_none_on_three_or_more_dimensions_is_refused_naming_pytorchs_choice(cls, shape, torch_dim):
    """PyTorch would take dim 0 of a 3-D input (its batch) and dim 1 of a 4-D one; manualnet asks for dim."""
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}\(dim=None\): dim=None on a {len(shape)}-D input .* PyTorch's "
                                         rf"implicit choice would be dim {torch_dim} .* e\.g\. {name}\(dim=-1\)"):
        cls()(np.zeros(shape))


def test_softmax_rejects_a_dim_that_is_not_an_integer():
    with pytest.raises(TypeError, match=r"Softmax: expected an integer dim \(or None\), got 1.0"):
        mn.Softmax(dim=1.0)
