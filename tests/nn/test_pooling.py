"""MaxPool2d and AvgPool2d: finite differences, routing and spreading, ties, errors.

PyTorch parity (including exact ties) is in tests/nn/test_conv_parity.py.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.nn import functional as F
from manualnet.testing.gradcheck import check_module

from ..strategies import distinct_values, float_dtypes, pool_configs, random_array, seeds


# -- finite differences ------------------------------------------------------------------

@given(config=pool_configs(), seed=seeds)
@pytest.mark.slow
def test_max_pool_backward_matches_finite_differences(config, seed):
    """Kernel 1–5, stride 1–3 or None, padding, dilation 1–3, ceil_mode.  The kink guard: inputs are
    distinct values 0.01 apart, so no window has a tie and no step changes which entry is its maximum."""
    kwargs, shape = config
    layer = mn.MaxPool2d(**kwargs)
    x = distinct_values(seed, shape)
    assume(np.isfinite(layer(x)).all())          # a window of padding alone has no maximum to route to
    check_module(layer, x, rng=seed)


@given(config=pool_configs(average=True), seed=seeds)
def test_avg_pool_backward_matches_finite_differences(config, seed):
    """Kernel, stride, padding, ceil_mode, count_include_pad and divisor_override."""
    kwargs, shape = config
    check_module(mn.AvgPool2d(**kwargs), random_array(seed, shape), rng=seed)


# -- what backward does ----------------------------------------------------------------

def test_max_pool_routes_each_gradient_to_its_windows_maximum():
    """pooling.md's worked example: 2 × 2 windows, stride 2."""
    x = np.array([[[[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 1.0, 5.0], [0.0, 1.0, 6.0, 2.0], [2.0, 3.0, 1.0, 1.0]]]])
    layer = mn.MaxPool2d(2)
    np.testing.assert_array_equal(layer(x), [[[[4.0, 5.0], [3.0, 6.0]]]])
    dx = layer.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0, 0, 0, 0], [10, 0, 0, 20], [0, 0, 40, 0], [0, 30, 0, 0]]]])


def test_overlapping_max_windows_add_their_gradients():
    """Stride 1 < kernel 2 on a 3 × 3 image whose maximum is the centre: all four windows pick it."""
    x = np.array([[[[0.0, 1.0, 0.0], [2.0, 9.0, 3.0], [0.0, 4.0, 0.0]]]])
    layer = mn.MaxPool2d(2, stride=1)
    np.testing.assert_array_equal(layer(x), np.full((1, 1, 2, 2), 9.0))
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0, 0, 0], [0, 10, 0], [0, 0, 0]]]])


def test_max_pool_sends_a_ties_gradient_to_the_first_maximum_in_window_order():
    """Row by row, left to right: PyTorch's choice (the exact-ties parity test is in test_conv_parity.py)."""
    x = np.array([[[[1.0, 7.0], [7.0, 7.0]]]])
    layer = mn.MaxPool2d(2)
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.array([[[[5.0]]]])), [[[[0, 5], [0, 0]]]])


def test_avg_pool_spreads_each_gradient_equally_over_its_window():
    """pooling.md's worked example: every cell of a 2 × 2 window gets G/4."""
    x = np.array([[[[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 1.0, 5.0], [0.0, 1.0, 6.0, 2.0], [2.0, 3.0, 1.0, 1.0]]]])
    layer = mn.AvgPool2d(2)
    np.testing.assert_array_equal(layer(x), [[[[2.5, 2.0], [1.5, 2.5]]]])
    dx = layer.backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]))
    np.testing.assert_array_equal(dx, [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]])


def test_avg_pool_divisor_counts_padding_unless_told_not_to():
    """3 × 3 windows, padding 1, on a 2 × 2 image of ones: each window holds 4 ones."""
    x = np.ones((1, 1, 2, 2))
    np.testing.assert_allclose(mn.AvgPool2d(3, 1, padding=1)(x), np.full((1, 1, 2, 2), 4 / 9))
    np.testing.assert_allclose(mn.AvgPool2d(3, 1, padding=1, count_include_pad=False)(x), np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(mn.AvgPool2d(3, 1, padding=1, divisor_override=2)(x), np.full((1, 1, 2, 2), 2.0))


def test_ceil_mode_adds_the_partial_last_window():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    assert mn.MaxPool2d(2)(x).shape == (1, 1, 2, 2)
    y = mn.MaxPool2d(2, ceil_mode=True)(x)
    np.testing.assert_array_equal(y[0, 0, :, 2], [9.0, 19.0, 24.0])          # windows of 2 × 1, 1 × 1 cells
    average = mn.AvgPool2d(2, ceil_mode=True)(x)
    assert average[0, 0, 2, 2] == 24.0                                       # a 1-cell window divides by 1


@given(config=pool_configs(), seed=seeds)
def test_max_pool_gradient_sums_to_the_upstream_gradient(config, seed):
    """Property: each G[n, c, i, j] goes to exactly one input cell, so Σ dx = Σ G."""
    kwargs, shape = config
    layer = mn.MaxPool2d(**kwargs)
    x = distinct_values(seed, shape)
    y = layer(x)
    assume(np.isfinite(y).all())
    G = random_array(seed + 1, y.shape)
    np.testing.assert_allclose(layer.backward(G).sum(), G.sum(), rtol=1e-10, atol=1e-10)


def test_return_indices_gives_the_flat_positions_of_the_maxima():
    x = np.array([[[[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 1.0, 5.0], [0.0, 1.0, 6.0, 2.0], [2.0, 3.0, 1.0, 1.0]]]])
    y, indices = mn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(indices, [[[[4, 7], [13, 10]]]])
    np.testing.assert_array_equal(x.reshape(1, 1, -1)[0, 0, indices], y)


# -- windows that tile the input: the gradient written where it was read ----------------

def _loop_max_pool(x, kernel, G):
    """Eq. (1), (2), (4), (5) as loops over windows side by side (stride = kernel): y, and dx with each
    G at its window's first maximum in window order (np.argmax returns the first)."""
    (kh, kw), (N, C, H, W) = kernel, x.shape
    y = np.empty((N, C, H // kh, W // kw), x.dtype)
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(y.shape):
        window = x[n, c, kh * i:kh * i + kh, kw * j:kw * j + kw]
        p, q = divmod(int(np.argmax(window)), kw)
        y[n, c, i, j] = window[p, q]
        dx[n, c, kh * i + p, kw * j + q] = G[n, c, i, j]
    return y, dx


def _general_path(layer, G):
    """Eq. (4) and (5) as overlapping windows need them: every window's gradient, then strided adds
    into zeros, then the border cut (``_add_to_input``)."""
    routes = layer.routes
    d_windows = np.empty((*routes.shape[:2], *layer.kernel_size, *routes.shape[3:]), G.dtype)
    for offset, (p, q) in enumerate(np.ndindex(layer.kernel_size)):
        d_windows[:, :, p, q] = routes[:, :, offset] * G
    return layer._add_to_input(d_windows, layer.input_shape)


@given(kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dtype=float_dtypes, seed=seeds)
def test_max_pool_on_tiling_windows_equals_the_loops_and_the_general_path_ties_included(kernel, extra, dtype, seed):
    """Stride = kernel, no padding (the CNN's MaxPool2d(2)): backward writes each G where its maximum was
    read.  Inputs of few distinct values, so most windows hold ties: the first maximum in window order
    wins, as PyTorch; sides that leave rows and columns past the last window (floor mode) get 0 there."""
    rng = np.random.default_rng(seed)
    shape = (2, 3, kernel[0] * 3 + extra[0], kernel[1] * 2 + extra[1])
    x = rng.integers(0, 3, shape).astype(dtype)
    layer = mn.MaxPool2d(kernel)
    y = layer(x)
    G = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(G)
    loop_y, loop_dx = _loop_max_pool(x, kernel, G)
    np.testing.assert_array_equal(y, loop_y)
    np.testing.assert_array_equal(dx, loop_dx)
    np.testing.assert_array_equal(dx, _general_path(layer, G))
    assert y.dtype == dx.dtype == dtype


@given(kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dtype=float_dtypes, seed=seeds)
def test_avg_pool_on_tiling_windows_spreads_each_gradient_over_its_window_only(kernel, extra, dtype, seed):
    """Each cell of window (i, j) gets G / (kH·kW); the cells past the last window get 0."""
    rng = np.random.default_rng(seed)
    shape = (2, 2, kernel[0] * 2 + extra[0], kernel[1] * 3 + extra[1])
    layer = mn.AvgPool2d(kernel)
    y = layer(rng.standard_normal(shape).astype(dtype))
    G = rng.standard_normal(y.shape).astype(dtype)
    expected = np.zeros(shape, dtype)
    covered = np.kron(G, np.ones(kernel, dtype)) / (kernel[0] * kernel[1])
    expected[:, :, :covered.shape[2], :covered.shape[3]] = covered
    np.testing.assert_allclose(layer.backward(G), expected, rtol=1e-6 if dtype == np.float32 else 1e-14)


# -- the functional counterparts run the layers ---------------------------------------

@given(config=pool_configs(), seed=seeds)
def test_functional_max_pool2d_is_the_layer(config, seed):
    kwargs, shape = config
    x = distinct_values(seed, shape)
    layer = mn.MaxPool2d(**kwargs)
    y = layer(x)
    G = random_array(seed + 1, y.shape)
    np.testing.assert_array_equal(F.max_pool2d(x, **kwargs), y)
    np.testing.assert_array_equal(F.max_pool2d_backward(G, x, **kwargs), layer.backward(G))


@given(config=pool_configs(average=True), seed=seeds)
def test_functional_avg_pool2d_is_the_layer(config, seed):
    kwargs, shape = config
    x = random_array(seed, shape)
    layer = mn.AvgPool2d(**kwargs)
    y = layer(x)
    G = random_array(seed + 1, y.shape)
    np.testing.assert_array_equal(F.avg_pool2d(x, **kwargs), y)
    np.testing.assert_array_equal(F.avg_pool2d_backward(G, x, **kwargs), layer.backward(G))


# -- the Module contract ------------------------------------------------------------------

@pytest.mark.parametrize("layer", [mn.MaxPool2d(3, 2, 1), mn.AvgPool2d(3, 2, 1)], ids=lambda layer: type(layer).__name__)
def test_pooling_is_unaffected_by_changes_to_the_input_or_output(layer, rng):
    x = rng.standard_normal((2, 2, 5, 6))
    G = rng.standard_normal((2, 2, 3, 3))
    layer(x.copy())
    expected = layer.backward(G)
    y = layer(x)
    x *= -1
    y *= 0
    np.testing.assert_array_equal(layer.backward(G), expected)
    assert layer.backward(G, need_input_grad=False) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [mn.MaxPool2d, mn.AvgPool2d])
def test_pooling_keeps_the_dtype(cls, dtype, rng):
    layer = cls(2)
    y = layer(rng.standard_normal((2, 3, 4, 4)).astype(dtype))
    assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype


def test_pooling_repr_is_pytorchs():
    assert repr(mn.MaxPool2d(2)) == ("MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), "
                                     "ceil_mode=False)")
    assert repr(mn.AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [mn.MaxPool2d, mn.AvgPool2d])
def test_pooling_refuses_input_that_is_not_4d(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(kernel_size=\(2, 2\).*expected input of shape "
                                         r"\(N, C, H, W\), got shape \(3, 4, 4\) \(3-D\).*np.newaxis"):
        cls(2)(np.ones((3, 4, 4), np.float32))


@pytest.mark.parametrize("cls", [mn.MaxPool2d, mn.AvgPool2d])
def test_pooling_refuses_input_smaller_than_the_window(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(.*input of shape \(1, 1, 2, 5\) is too small.*output "
                                         r"size \(0, 1\)"):
        cls(3)(np.ones((1, 1, 2, 5), np.float32))


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=2, padding=2), r"padding should be at most half of the effective kernel size d·\(k − 1\) \+ 1 = "
                                     r"\(2, 2\)"),
    (dict(kernel_size=0), "expected kernel_size to be a positive integer"),
    (dict(kernel_size=2, stride=0), "expected stride to be a positive integer"),
    (dict(kernel_size=(2, 2, 2)), "or a tuple of 2 of them"),
])
@pytest.mark.parametrize("cls", [mn.MaxPool2d, mn.AvgPool2d])
def test_pooling_refuses_bad_arguments_by_name(cls, kwargs, message):
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: .*{message}"):
        cls(**kwargs)


def test_max_pool_takes_pytorchs_padding_rule_with_dilation():
    """pad <= (d·(k − 1) + 1) / 2: dilation widens the window, so it allows more padding than 2p <= k."""
    assert mn.MaxPool2d(2, padding=2, dilation=3).padding == (2, 2)
    with pytest.raises(ValueError, match=r"^MaxPool2d: padding should be at most half of the effective kernel size "
                                         r"d·\(k − 1\) \+ 1 = \(3, 3\), got padding=\(2, 2\), kernel_size=\(2, 2\), "
                                         r"dilation=\(2, 2\)"):
        mn.MaxPool2d(2, padding=2, dilation=2)


def test_max_pool_refuses_an_input_a_dilated_window_steps_over_onto_padding_alone():
    """Rows −1 and 1 of a 1-row input are both padding: PyTorch returns −inf, index 4 of a 4-cell plane, and
    crashes in backward; the window has no maximum, so the input is refused by name."""
    pool = mn.MaxPool2d((2, 1), stride=(1, 3), padding=(1, 0), dilation=(2, 1), return_indices=True)
    with pytest.raises(ValueError, match=r"input of shape \(1, 1, 1, 4\) is too small for the dilated windows: window 0 "
                                         r"along the height reads rows \[-1, 1\], padding alone \(the input has 1\)"):
        pool(np.ones((1, 1, 1, 4)))
    y, indices = pool(np.arange(8.0).reshape(1, 1, 2, 4))    # two rows: every window reads one
    assert y.shape == (1, 1, 2, 2) and indices.min() >= 0 and indices.max() < 8


def test_avg_pool_refuses_a_bad_divisor_override():
    with pytest.raises(ValueError, match=r"^AvgPool2d: expected divisor_override to be a positive integer, got 0"):
        mn.AvgPool2d(2, divisor_override=0)


@pytest.mark.parametrize("cls", [mn.MaxPool2d, mn.AvgPool2d])
def test_pooling_backward_refuses_a_wrong_grad_output_and_backward_before_forward(cls):
    layer = cls(2)
    with pytest.raises(RuntimeError, match=rf"{cls.__name__}.backward called before forward"):
        layer.backward(np.ones((1, 1, 2, 2), np.float32))
    layer(np.ones((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(.*expected grad_output of shape \(1, 1, 2, 2\)"):
        layer.backward(np.ones((1, 1, 4, 4), np.float32))
    with pytest.raises(TypeError, match=rf"{cls.__name__}\(.*grad_output has dtype float64"):
        layer.backward(np.ones((1, 1, 2, 2)))
