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


BCE_LOG_FLOOR = -100.0     # PyTorch clamps log(p) at −100, so p = 0 or 1 gives a finite loss


def binary_cross_entropy(p, y):
    """l = −[y log p + (1 − y) log(1 − p)] element-wise, each log clamped at −100 as in PyTorch."""
    with np.errstate(divide="ignore"):                              # log(0) = −inf, then clamped
        log_p = np.maximum(np.log(p), BCE_LOG_FLOOR)
        log_1mp = np.maximum(np.log1p(-p), BCE_LOG_FLOOR)
    return -(y * log_p + (1 - y) * log_1mp)


def softmax_parts(z, axis=-1):
    """s = z − max z, p = softmax(z) and log Σ_j e^{s_j} along ``axis``: the pieces of every stable softmax.

    Shifting by the maximum makes every exponent <= 0, so nothing overflows,
    and s is exact where (max + log Σ) − z would cancel (logits of 1e8 in
    float32 give log C, not 0).  The sum always holds the maximum's own
    e^0 = 1, so log Σ_j e^{s_j} = log1p(Σ_{j ≠ max} e^{s_j}): adding the 1
    before the log would round the rest away exactly when it is small, when
    a loss is small (a confident right answer).  Computed this way, every
    log-softmax entry and every cross-entropy loss is within a few ulp of
    the exact value.  An axis of length 0 gives empty pieces; axis=None
    takes a 0-d z as a whole (softmax 1, log-softmax 0).
    """
    if (z.size if axis is None else z.shape[axis]) == 0:   # nothing to normalise (axis=None: a 0-d z, whole)
        return z.copy(), z.copy(), np.zeros_like(np.sum(z, axis=axis, keepdims=True))
    shifted = z - z.max(axis=axis, keepdims=True)
    exponentials = np.exp(shifted)
    at_max = shifted == 0                        # exactly where z equals the maximum (ties included)
    # Σ_{j ≠ max} e^{s_j}: each maximum's e^0 = 1 taken out exactly, the ties but one put back.
    ties = at_max.sum(axis=axis, keepdims=True, dtype=z.dtype) - 1
    rest = (exponentials - at_max).sum(axis=axis, keepdims=True) + ties
    return shifted, exponentials / (1 + rest), np.log1p(rest)


def log_softmax(z, axis=-1):
    """log softmax(z) = (z − max z) − log Σ e^{z − max z}: never the log of an underflowed 0."""
    shifted, _, log_total = softmax_parts(z, axis)
    return shifted - log_total


def softmax(z, axis=-1):
    """softmax(z)_i = e^{z_i − max z} / Σ_j e^{z_j − max z}; every entry in [0, 1], summing to 1 along axis."""
    return softmax_parts(z, axis)[1]


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
