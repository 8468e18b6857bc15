"""Numerically stable building blocks shared by layers, losses and models.

Plain functions on arrays (no caching, no checks): the layers call them in
forward.  Each keeps the dtype it is given and never overflows, even for
inputs of magnitude 1e4 in float32.  Why each form is stable:
derivations/sigmoid.md, derivations/softmax.md, derivations/bce.md.

At the end, the stateless counterparts of the convolution and pooling layers
(``conv2d``, ``conv1d``, ``max_pool2d``, ``avg_pool2d`` and a ``*_backward``
for each), as in ``torch.nn.functional``: they run the layers' own forward
and backward on the arrays they are given.
"""

import numpy as np

from ._checks import check_float_array, check_ndim, check_positive_int, check_shape
from .conv import Conv1d, Conv2d
from .pooling import AvgPool2d, MaxPool2d


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{-z}), computed from e = e^{-|z|} <= 1 so nothing overflows.

    For z >= 0, σ(z) = 1 / (1 + e); for z < 0 the equal form e / (1 + e).
    The numerator, 1 or e, is max(e, 1[z >= 0]): e <= 1 picks 1 where z >= 0
    and e > 0 picks e where z < 0.  The same numbers as selecting with
    ``np.where``, without a per-element branch (several times faster on
    random signs).
    """
    e = np.exp(-np.abs(z))
    return np.maximum(e, z >= 0) / (1 + e)


def softplus_of_negative_abs(z):
    """log(1 + e^{-|z|}), the bounded tail of the stable log-sigmoid."""
    return np.log1p(np.exp(-np.abs(z)))


def logsumexp(z, axis=-1):
    """log Σ_j e^{z_j} along ``axis`` (kept as a size-1 axis), shifted by the max to avoid overflow."""
    shift = np.max(z, axis=axis, keepdims=True)
    return shift + np.log(np.sum(np.exp(z - shift), axis=axis, keepdims=True))


def log_softmax(z, axis=-1):
    """log softmax(z) = z − logsumexp(z): never takes the log of an underflowed 0."""
    return z - logsumexp(z, axis)


def softmax(z, axis=-1):
    """softmax(z)_i = e^{z_i − max z} / Σ_j e^{z_j − max z}; every entry in [0, 1], rows sum to 1."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


# -- convolution and pooling: the layers' own forward and backward, on given arrays ----------------
#
# torch.nn.functional.conv2d is the stateless Conv2d.  Here the math lives once,
# in the layers (manualnet/conv.py, manualnet/pooling.py): each function below
# builds the layer around the given arrays and calls its forward, and each
# *_backward function runs that forward (it keeps what backward reads) and then
# the layer's backward.  No derivative is written twice.

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Conv2d's forward with the given weight and bias.  Derivation: derivations/conv2d.md

    Shape: input (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) or None -> (N, O, Ho, Wo).
    """
    return _conv_layer("conv2d", 2, weight, bias, stride, padding, dilation, groups)(input)


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """(dL/dinput, dL/dweight, dL/dbias or None) of y = conv2d(input, weight, bias, ...), by Conv2d.backward.

    Shape: grad_output (N, O, Ho, Wo) -> (the shapes of input, weight, bias).
    """
    return _conv_backward(_conv_layer("conv2d_backward", 2, weight, bias, stride, padding, dilation, groups),
                          grad_output, input)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Conv1d's forward with the given weight and bias.  Derivation: derivations/conv2d.md

    Shape: input (N, C, L), weight (O, C/groups, k), bias (O,) or None -> (N, O, Lo).
    """
    return _conv_layer("conv1d", 1, weight, bias, stride, padding, dilation, groups)(input)


def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """(dL/dinput, dL/dweight, dL/dbias or None) of y = conv1d(input, weight, bias, ...), by Conv1d.backward."""
    return _conv_backward(_conv_layer("conv1d_backward", 1, weight, bias, stride, padding, dilation, groups),
                          grad_output, input)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """MaxPool2d's forward (torch.nn.functional.max_pool2d's argument order).  Derivation: derivations/pooling.md"""
    return MaxPool2d(kernel_size, stride, padding, dilation, return_indices, ceil_mode)(input)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """dL/dinput of y = max_pool2d(input, ...), by MaxPool2d.backward: G routed to each window's maximum."""
    layer = MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)
    layer(input)
    return layer.backward(grad_output)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """AvgPool2d's forward.  Derivation: derivations/pooling.md"""
    return AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)(input)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """dL/dinput of y = avg_pool2d(input, ...), by AvgPool2d.backward: G shared equally by each window's cells."""
    layer = AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    layer(input)
    return layer.backward(grad_output)


def _conv_layer(owner, dims, weight, bias, stride, padding, dilation, groups):
    """A Conv1d/Conv2d whose parameters hold copies of ``weight`` and ``bias``; its sizes read from weight's shape."""
    check_float_array(owner, weight, "weight")
    layout = "(out_channels, in_channels/groups, kH, kW)" if dims == 2 else "(out_channels, in_channels/groups, k)"
    check_ndim(owner, weight, (2 + dims,), layout, "weight")
    groups = check_positive_int(owner, "groups", groups)
    if bias is not None:
        check_float_array(owner, bias, "bias")
        check_shape(owner, bias, (len(weight),), "bias", hint=" (one per output channel: weight.shape[0])")
    layer_class = Conv2d if dims == 2 else Conv1d
    layer = layer_class(weight.shape[1] * groups, weight.shape[0], weight.shape[2:], stride, padding, dilation,
                        groups, bias=bias is not None, dtype=weight.dtype, rng=0)
    layer.weight.data[...] = weight
    if bias is not None:
        layer.bias.data[...] = bias
    return layer


def _conv_backward(layer, grad_output, input):
    layer(input)                                  # keeps the columns backward reads
    grad_input = layer.backward(grad_output)
    return grad_input, layer.weight.grad, None if layer.bias is None else layer.bias.grad
