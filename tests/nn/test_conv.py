"""Conv2d and Conv1d: finite differences over the argument grid, the naive loops, errors, in-place safety.

PyTorch parity is in tests/nn/test_conv_parity.py.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.nn import functional as F
from manualnet.nn.modules.conv import conv2d_naive_backward, conv2d_naive_forward
from manualnet.testing.gradcheck import check_module

from ..strategies import conv_configs, random_array, seeds

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _layer(cls, kwargs, seed):
    """A float64 layer with random normal parameters (never check gradients at a fresh init's small values)."""
    layer = cls(**kwargs, rng=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for parameter in layer.parameters():
        parameter.data[...] = rng.standard_normal(parameter.shape)
    return layer


def _reads_the_input(layer, x):
    """Whether any window reads an input cell: a stride-2, 1 × 1 kernel over one row padded by 1 reads only
    padding, so dL/dx is 0 everywhere (right, and vacuous for a gradient check)."""
    y = layer(x)
    return bool(np.abs(layer.backward(np.ones_like(y))).max() > 0)


# -- finite differences ------------------------------------------------------------------

@given(config=conv_configs(dims=2, padding_modes=PADDING_MODES), seed=seeds)
@pytest.mark.slow
def test_conv2d_backward_matches_finite_differences(config, seed):
    """Input, weight and bias gradients over kernel 1–5, stride 1–3, padding 0–2/'same'/'valid',
    dilation 1–3, groups (depthwise included), every padding mode, odd and even sizes, batch 1–3."""
    kwargs, shape = config
    layer, x = _layer(mn.Conv2d, kwargs, seed), random_array(seed, shape)
    assume(_reads_the_input(layer, x))
    check_module(layer, x, rng=seed)


@given(config=conv_configs(dims=1, padding_modes=PADDING_MODES), seed=seeds)
def test_conv1d_backward_matches_finite_differences(config, seed):
    kwargs, shape = config
    layer, x = _layer(mn.Conv1d, kwargs, seed), random_array(seed, shape)
    assume(_reads_the_input(layer, x))
    check_module(layer, x, rng=seed)


# -- the naive loops and the fast layer compute the same numbers -----------------------------

@given(config=conv_configs(dims=2), seed=seeds)
def test_naive_loops_equal_the_im2col_layer(config, seed):
    kwargs, shape = config
    layer = _layer(mn.Conv2d, kwargs, seed)
    x = random_array(seed, shape)
    padding = 0 if kwargs["padding"] == "valid" else kwargs["padding"]
    if padding == "same":          # the naive loops take symmetric padding: 'same' with an odd span only
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kwargs["kernel_size"], kwargs["dilation"]))
        if any(d * (k - 1) % 2 for k, d in zip(kwargs["kernel_size"], kwargs["dilation"])):
            return
    arguments = dict(stride=kwargs["stride"], padding=padding, dilation=kwargs["dilation"], groups=kwargs["groups"])
    bias = layer.bias.data if layer.bias is not None else None
    y = layer(x)
    np.testing.assert_allclose(conv2d_naive_forward(x, layer.weight.data, bias, **arguments), y, rtol=1e-12, atol=1e-12)
    G = random_array(seed + 2, y.shape)
    dx = layer.backward(G)
    naive_dx, naive_dweight, naive_dbias = conv2d_naive_backward(G, x, layer.weight.data, **arguments)
    np.testing.assert_allclose(naive_dx, dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(naive_dweight, layer.weight.grad, rtol=1e-12, atol=1e-12)
    if layer.bias is not None:
        np.testing.assert_allclose(naive_dbias, layer.bias.grad, rtol=1e-12, atol=1e-12)


def test_naive_loops_compute_the_worked_example():
    """derivations/conv2d.md's worked example, by the loops."""
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    weight = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    y = conv2d_naive_forward(x, weight, np.array([0.5]))
    np.testing.assert_array_equal(y, [[[[-3.5, -3.5], [-3.5, -3.5]]]])
    dx, dweight, dbias = conv2d_naive_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), x, weight)
    np.testing.assert_array_equal(dx, [[[[1, 2, 0], [3, 3, -2], [0, -3, -4]]]])
    np.testing.assert_array_equal(dweight, [[[[37, 47], [67, 77]]]])
    np.testing.assert_array_equal(dbias, [10])


def test_conv2d_worked_example():
    """The numbers of derivations/conv2d.md's worked example, through the layer (im2col)."""
    layer = mn.Conv2d(1, 1, 2, dtype=np.float64)
    layer.weight.data[...] = [[[[1.0, 0.0], [0.0, -1.0]]]]
    layer.bias.data[...] = 0.5
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer(x), [[[[-3.5, -3.5], [-3.5, -3.5]]]])
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(dx, [[[[1, 2, 0], [3, 3, -2], [0, -3, -4]]]])
    np.testing.assert_array_equal(layer.weight.grad, [[[[37, 47], [67, 77]]]])
    np.testing.assert_array_equal(layer.bias.grad, [10])


# -- the shared machinery: Conv1d is Conv2d of height 1; the functional calls the layer -----------------

@given(config=conv_configs(dims=1, padding_modes=PADDING_MODES), seed=seeds)
def test_conv1d_equals_conv2d_on_images_of_height_one(config, seed):
    kwargs, shape = config
    conv1d = _layer(mn.Conv1d, kwargs, seed)
    lifted = {name: ((1, *value) if isinstance(value, tuple) and name != "padding" else value)
              for name, value in kwargs.items()}
    if isinstance(kwargs["padding"], tuple):
        lifted["padding"] = (0, *kwargs["padding"])
    conv2d = mn.Conv2d(**lifted, dtype=np.float64)
    conv2d.weight.data[...] = conv1d.weight.data[:, :, np.newaxis]
    if conv1d.bias is not None:
        conv2d.bias.data[...] = conv1d.bias.data
    x = random_array(seed, shape)
    y = conv1d(x)
    np.testing.assert_array_equal(conv2d(x[:, :, np.newaxis])[:, :, 0], y)
    G = random_array(seed + 2, y.shape)
    np.testing.assert_array_equal(conv2d.backward(G[:, :, np.newaxis])[:, :, 0], conv1d.backward(G))
    np.testing.assert_array_equal(conv2d.weight.grad[:, :, 0], conv1d.weight.grad)


@given(config=conv_configs(dims=2), seed=seeds)
def test_functional_conv2d_is_the_layer(config, seed):
    kwargs, shape = config
    layer = _layer(mn.Conv2d, kwargs, seed)
    bias = None if layer.bias is None else layer.bias.data
    arguments = dict(stride=kwargs["stride"], padding=kwargs["padding"], dilation=kwargs["dilation"],
                     groups=kwargs["groups"])
    x = random_array(seed, shape)
    y = layer(x)
    np.testing.assert_array_equal(F.conv2d(x, layer.weight.data, bias, **arguments), y)
    G = random_array(seed + 2, y.shape)
    dx, dweight, dbias = F.conv2d_backward(G, x, layer.weight.data, bias, **arguments)
    np.testing.assert_array_equal(dx, layer.backward(G))
    np.testing.assert_array_equal(dweight, layer.weight.grad)
    assert dbias is None if bias is None else np.array_equal(dbias, layer.bias.grad)


def test_functional_conv1d_is_the_layer(rng):
    layer = mn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2, rng=rng, dtype=np.float64)
    x, G = rng.standard_normal((3, 2, 9)), rng.standard_normal((3, 4, 5))
    np.testing.assert_array_equal(F.conv1d(x, layer.weight.data, layer.bias.data, 2, 1, 1, 2), layer(x))
    dx, dweight, dbias = F.conv1d_backward(G, x, layer.weight.data, layer.bias.data, 2, 1, 1, 2)
    np.testing.assert_array_equal(dx, layer.backward(G))
    np.testing.assert_array_equal(dweight, layer.weight.grad)
    np.testing.assert_array_equal(dbias, layer.bias.grad)


def test_functional_backward_leaves_the_given_arrays_alone(rng):
    weight, x = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal((1, 3, 5, 5))
    before = weight.copy(), x.copy()
    F.conv2d_backward(rng.standard_normal((1, 2, 3, 3)), x, weight)
    np.testing.assert_array_equal(weight, before[0])
    np.testing.assert_array_equal(x, before[1])


# -- the Module contract -----------------------------------------------------------------

def test_conv2d_accumulates_gradients_and_skips_the_input_gradient_on_request(rng):
    layer = mn.Conv2d(2, 3, 3, padding=1, rng=rng, dtype=np.float64)
    x, G = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 3, 5, 5))
    layer(x)
    dx = layer.backward(G)
    once = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer(x)
    assert layer.backward(G, need_input_grad=False) is None
    np.testing.assert_allclose(layer.weight.grad, 2 * once[0])
    np.testing.assert_allclose(layer.bias.grad, 2 * once[1])
    assert dx.shape == x.shape


def test_conv2d_keeps_its_own_copy_of_the_input(rng):
    """Changing x (or the output) after forward must not change what backward computes."""
    layer = mn.Conv2d(2, 3, 1, rng=rng, dtype=np.float64)       # a 1 × 1 kernel, no padding: no copy but im2col's
    x, G = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((1, 3, 4, 4))
    reference = mn.Conv2d(2, 3, 1, rng=0, dtype=np.float64)
    reference.load_state_dict(layer.state_dict())
    y = layer(x)
    reference(x.copy())
    x *= 0
    y *= 0
    layer.backward(G)
    reference.backward(G)
    np.testing.assert_array_equal(layer.weight.grad, reference.weight.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_keeps_the_dtype(dtype, rng):
    for layer, shape in ((mn.Conv2d(2, 3, 3, dtype=dtype, rng=rng), (2, 2, 5, 5)),
                         (mn.Conv1d(2, 3, 3, dtype=dtype, rng=rng), (2, 2, 5))):
        x = rng.standard_normal(shape).astype(dtype)
        y = layer(x)
        assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype
        assert layer.weight.grad.dtype == dtype


def test_conv2d_default_init_is_pytorchs_bound(rng):
    """kaiming_uniform_(a=√5) gives W in ±1/√fan_in; the bias is uniform in the same ±1/√fan_in."""
    layer = mn.Conv2d(8, 64, 3, groups=2, rng=rng)
    bound = 1 / np.sqrt(8 // 2 * 3 * 3)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.95 * bound       # uniform over the whole range
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.05 * bound


def test_conv2d_is_reproducible_from_a_seed():
    first, second = mn.Conv2d(3, 4, 3, rng=7), mn.Conv2d(3, 4, 3, rng=7)
    for key, value in first.state_dict().items():
        np.testing.assert_array_equal(value, second.state_dict()[key])
    assert list(first.state_dict()) == ["weight", "bias"]
    assert "bias" not in mn.Conv2d(3, 4, 3, bias=False).state_dict()


def test_same_padding_keeps_the_size_and_puts_an_even_kernels_extra_cell_last(rng):
    """PyTorch's rule: d(k − 1) cells in all, ⌊·/2⌋ before, the rest after."""
    layer = mn.Conv2d(1, 1, (2, 4), padding="same", dilation=(1, 1), bias=False, dtype=np.float64)
    assert layer._padding == ((0, 1), (1, 2))
    x = rng.standard_normal((1, 1, 5, 6))
    assert layer(x).shape == x.shape
    assert mn.Conv2d(1, 1, 3, padding="valid")(np.ones((1, 1, 5, 6), np.float32)).shape == (1, 1, 3, 4)


def test_depthwise_convolution_mixes_no_channels(rng):
    """groups = in_channels: each output channel sees only its own input channel."""
    layer = mn.Conv2d(3, 3, 3, groups=3, bias=False, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 3, 5, 5))
    y = layer(x)
    x[:, 1] += 10.0
    changed = layer(x) != y
    assert changed[:, 1].all() and not changed[:, [0, 2]].any()


def test_conv2d_repr_is_pytorchs():
    assert repr(mn.Conv2d(3, 4, 3)) == "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(mn.Conv2d(4, 4, (3, 5), stride=2, padding=(1, 2), dilation=2, groups=2, bias=False,
                          padding_mode="reflect")) == (
        "Conv2d(4, 4, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), dilation=(2, 2), groups=2, bias=False, "
        "padding_mode=reflect)")
    assert repr(mn.Conv1d(2, 3, 3, padding="same")) == "Conv1d(2, 3, kernel_size=(3,), stride=(1,), padding=same)"


# -- bad input: each error names the layer, what it expected and what came ------------------------

def test_conv2d_refuses_a_wrong_channel_count():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 4, .*expected input of shape \(N, 3, H, W\).*got shape "
                                         r"\(2, 2, 5, 5\)"):
        mn.Conv2d(3, 4, 3)(np.ones((2, 2, 5, 5), np.float32))


@pytest.mark.parametrize("shape, hint", [((3, 5, 5), "x\\[np.newaxis\\]"), ((2, 3, 5), "3-D"),
                                         ((1, 2, 3, 5, 5), "5-D"), ((5,), "1-D")])
def test_conv2d_refuses_input_that_is_not_4d(shape, hint):
    with pytest.raises(ValueError, match=rf"Conv2d\(3, 4, .*expected input of shape \(N, 3, H, W\).*{hint}"):
        mn.Conv2d(3, 4, 3)(np.ones(shape, np.float32))


def test_conv1d_refuses_input_that_is_not_3d():
    with pytest.raises(ValueError, match=r"Conv1d\(2, 4, .*expected input of shape \(N, 2, L\).*\(2, 5\).*newaxis"):
        mn.Conv1d(2, 4, 3)(np.ones((2, 5), np.float32))


@pytest.mark.parametrize("kwargs, shape, span", [(dict(kernel_size=3), (1, 1, 2, 5), 3),
                                                 (dict(kernel_size=3, dilation=3), (1, 1, 6, 8), 7),
                                                 (dict(kernel_size=5, padding=1), (1, 1, 2, 9), 5)])
def test_conv2d_refuses_input_smaller_than_the_dilated_kernel(kwargs, shape, span):
    with pytest.raises(ValueError, match=rf"Conv2d\(1, 1, .*too small.*dilated kernel \(span .* = {span}\)"):
        mn.Conv2d(1, 1, **kwargs)(np.ones(shape, np.float32))


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=3, out_channels=4, groups=2), "in_channels must be divisible by groups, got in_channels=3"),
    (dict(in_channels=4, out_channels=3, groups=2), "out_channels must be divisible by groups, got out_channels=3"),
    (dict(in_channels=2, out_channels=2, padding="same", stride=2), "padding='same' is not supported for strided"),
    (dict(in_channels=2, out_channels=2, padding="full"), "invalid padding string 'full'"),
    (dict(in_channels=2, out_channels=2, padding_mode="mirror"), "padding_mode must be one of"),
    (dict(in_channels=2, out_channels=2, padding=-1), "expected padding to be an integer >= 0"),
    (dict(in_channels=2, out_channels=2, kernel_size=0), "expected kernel_size to be a positive integer"),
    (dict(in_channels=2, out_channels=2, kernel_size=(3, 3, 3)), "or a tuple of 2 of them, got \\(3, 3, 3\\)"),
    (dict(in_channels=2, out_channels=2, stride=0), "expected stride to be a positive integer"),
    (dict(in_channels=2, out_channels=2, dilation=1.5), "expected dilation to be a positive integer"),
    (dict(in_channels=0, out_channels=2), "expected in_channels to be a positive integer"),
    (dict(in_channels=2, out_channels=2, groups=0), "expected groups to be a positive integer"),
    (dict(in_channels=2, out_channels=2, device="cuda"), "there is no device 'cuda'"),
])
def test_conv2d_refuses_bad_arguments_by_name(kwargs, message):
    kwargs.setdefault("kernel_size", 3)
    with pytest.raises(ValueError, match=rf"^Conv2d: .*{message}"):
        mn.Conv2d(**kwargs)


def test_conv2d_refuses_padding_wider_than_reflect_allows():
    with pytest.raises(ValueError, match=r"Conv2d\(.*padding_mode='reflect' needs padding < the input size, got "
                                         r"padding 3"):
        mn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(np.ones((1, 1, 3, 3), np.float32))


def test_conv2d_refuses_a_mismatched_dtype_and_non_finite_input():
    layer = mn.Conv2d(1, 1, 3)
    with pytest.raises(TypeError, match=r"Conv2d\(1, 1, .*dtype float64 but the layer's parameters are float32"):
        layer(np.ones((1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"Conv2d\(1, 1, .*non-finite"):
        layer(np.full((1, 1, 5, 5), np.nan, np.float32))


def test_conv2d_backward_refuses_a_wrong_grad_output_and_backward_before_forward():
    layer = mn.Conv2d(1, 2, 3)
    with pytest.raises(RuntimeError, match="Conv2d.backward called before forward"):
        layer.backward(np.ones((1, 2, 3, 3), np.float32))
    layer(np.ones((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(1, 2, .*expected grad_output of shape \(1, 2, 3, 3\).*got "
                                         r"\(1, 2, 5, 5\)"):
        layer.backward(np.ones((1, 2, 5, 5), np.float32))


def test_functional_conv2d_refuses_a_bad_weight_or_bias():
    x = np.ones((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: expected weight of shape \(out_channels, in_channels/groups, "
                                         r"kH, kW\), got shape \(4, 2, 3\)"):
        F.conv2d(x, np.ones((4, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(4,\), got shape \(3,\)"):
        F.conv2d(x, np.ones((4, 2, 3, 3), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(4, 4, .*expected input of shape \(N, 4, H, W\)"):
        F.conv2d(x, np.ones((4, 2, 3, 3), np.float32), groups=2)


@given(seed=seeds, batch=st.integers(1, 3))
def test_conv2d_property_the_bias_gradient_is_the_sum_of_g(seed, batch):
    """db_o = Σ_{n,i,j} G[n, o, i, j] (eq. 5), whatever the input."""
    layer = mn.Conv2d(2, 3, 3, stride=2, padding=1, rng=seed, dtype=np.float64)
    y = layer(random_array(seed, (batch, 2, 6, 7)))
    G = random_array(seed + 1, y.shape)
    layer.backward(G)
    np.testing.assert_allclose(layer.bias.grad, G.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_the_full_correlation_with_the_flipped_kernel_is_the_layers_input_gradient(stride, rng):
    """The bug zoo's conv mistakes hand this function a wrong kernel or dilation: with the right ones it
    gives the layer's dL/dx."""
    from manualnet.testing.bugzoo import full_correlation_input_gradient
    layer = mn.Conv2d(4, 6, 3, stride=stride, padding=1, groups=2, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 4, 7, 6))
    G = rng.standard_normal(layer(x).shape)
    dx = layer.backward(G)
    G_matrix = G.reshape(2, 6, -1).transpose(1, 0, 2).reshape(2, 3, -1)          # (g, O/g, N·Ho·Wo), as backward
    flipped = layer.weight.data[..., ::-1, ::-1]
    np.testing.assert_allclose(full_correlation_input_gradient(layer, G_matrix, x.shape, flipped, layer._stride), dx,
                               rtol=1e-12, atol=1e-12)


def test_conv2d_hands_back_a_contiguous_input_gradient(rng):
    """Not a view into the padded gradient: the layer before runs faster on contiguous memory."""
    layer = mn.Conv2d(2, 3, 3, padding=1, rng=0)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    assert layer.backward(np.ones_like(layer(x))).flags.c_contiguous


@pytest.mark.parametrize("layer, shape, expected", [
    (mn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), (0, 2, 5, 5), (0, 3, 5, 5)),
    (mn.Conv2d(4, 6, 3, stride=2, groups=2, padding=1, padding_mode="reflect", dtype=np.float64), (0, 4, 7, 7),
     (0, 6, 4, 4)),
    (mn.Conv1d(2, 3, 3, dilation=2, dtype=np.float64), (0, 2, 9), (0, 3, 5)),
], ids=["Conv2d", "Conv2d(stride, groups, reflect)", "Conv1d(dilation)"])
def test_an_empty_batch_gives_pytorchs_empty_output_and_a_backward(layer, shape, expected):
    """PyTorch returns (0, C_out, ...) for N = 0; the gradients are empty and the weights' zero."""
    y = layer(np.zeros(shape))
    assert y.shape == expected and y.dtype == np.float64
    assert layer.backward(np.zeros(expected)).shape == shape
    assert not layer.weight.grad.any() and not layer.bias.grad.any()
