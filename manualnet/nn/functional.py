"""Stateless forms of the layers, as ``torch.nn.functional``: the layer's own code on given arrays.

``conv2d(input, weight, bias, ...)`` is the stateless Conv2d.  The math lives
once, in the layers (``manualnet/nn/modules/conv.py``, ``pooling.py``): each
function builds the layer around the given arrays and calls its forward, and
each ``*_backward`` runs that forward (it keeps what backward reads) and then
the layer's backward.  No derivative is written twice.
"""

import numpy as np

from manualnet._checks import check_float_array, check_ndim, check_positive_int, check_shape
from manualnet._grad_mode import no_grad

from .modules._attention import ScaledDotProductAttention
from .modules.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .modules.conv import Conv1d, Conv2d
from .modules.linear import Linear
from .modules.loss import BCELoss, CrossEntropyLoss, MSELoss, NLLLoss
from .modules.normalization import LayerNorm, _check_normalized_shape
from .modules.pooling import AvgPool2d, MaxPool2d
from .utils.init import from_arrays


def relu(input):
    """max(x, 0), element-wise: ReLU's forward.  Derivation: derivations/relu.md"""
    return _forward(ReLU(), input)


def leaky_relu(input, negative_slope=0.01):
    """x where x > 0, negative_slope·x elsewhere: LeakyReLU's forward.  Derivation: derivations/relu.md"""
    return _forward(LeakyReLU(negative_slope), input)


def sigmoid(input):
    """σ(x) = 1 / (1 + e^{−x}), element-wise, without overflow: Sigmoid's forward.  Derivation: derivations/sigmoid.md"""
    return _forward(Sigmoid(), input)


def tanh(input):
    """tanh(x), element-wise: Tanh's forward.  Derivation: derivations/tanh.md"""
    return _forward(Tanh(), input)


def gelu(input, approximate="none"):
    """x Φ(x) (``approximate='tanh'``: Φ by a tanh), element-wise: GELU's forward.  Derivation: derivations/gelu.md"""
    return _forward(GELU(approximate), input)


def softmax(input, dim=None):
    """e^{x_i} / Σ_j e^{x_j} along ``dim``, shifted by the maximum: Softmax's forward.  Derivation: derivations/softmax.md"""
    return _forward(Softmax(dim), input)


def log_softmax(input, dim=None):
    """x_i − log Σ_j e^{x_j} along ``dim``: LogSoftmax's forward.  Derivation: derivations/softmax.md"""
    return _forward(LogSoftmax(dim), input)


def linear(input, weight, bias=None):
    """y = x Wᵀ + b: Linear's forward with the given weight and bias.  Derivation: derivations/linear.md

    Shape: input (*, in_features), weight (out_features, in_features), bias (out_features,) or None.
    """
    check_float_array("linear", weight, "weight")
    check_ndim("linear", weight, (2,), "(out_features, in_features)", "weight")
    arrays = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    return _forward(from_arrays(Linear, arrays, weight.shape[1], weight.shape[0], bias=bias is not None,
                                dtype=weight.dtype), input)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """CrossEntropyLoss's forward: log-softmax and negative log-likelihood.  Derivation: derivations/cross_entropy.md"""
    loss = CrossEntropyLoss(weight=weight, ignore_index=ignore_index, reduction=reduction,
                            label_smoothing=label_smoothing)
    return _forward(loss, input, target)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """NLLLoss's forward: −input[n, y_n], weighted and reduced.  Derivation: derivations/nll.md"""
    return _forward(NLLLoss(weight=weight, ignore_index=ignore_index, reduction=reduction), input, target)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCELoss's forward: −[y log p + (1 − y) log(1 − p)], each log clamped at −100.  Derivation: derivations/bce.md"""
    return _forward(BCELoss(weight=weight, reduction=reduction), input, target)


def mse_loss(input, target, reduction="mean"):
    """MSELoss's forward: (x − y)², reduced.  Derivation: derivations/mse.md"""
    return _forward(MSELoss(reduction=reduction), input, target)


def _forward(layer, *inputs):
    """The layer's forward under no_grad(): a stateless call keeps nothing for a backward."""
    with no_grad():
        return layer(*inputs)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """LayerNorm's forward with the given γ and β (None: 1 and 0).  Derivation: derivations/layernorm.md

    Shape: input (*, *normalized_shape); weight, bias normalized_shape -> the input's shape.
    """
    return _forward(_layer_norm("layer_norm", input, normalized_shape, weight, bias, eps), input)


def layer_norm_backward(grad_output, input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """(dL/dinput, dL/dweight or None, dL/dbias or None) of y = layer_norm(...), by LayerNorm.backward."""
    layer = _layer_norm("layer_norm_backward", input, normalized_shape, weight, bias, eps)
    layer(input)
    grad_input = layer.backward(grad_output)
    return (grad_input, None if weight is None else layer.weight.grad, None if bias is None else layer.bias.grad)


def _layer_norm(owner, input, normalized_shape, weight, bias, eps):
    """A LayerNorm over ``weight`` and ``bias`` (affine when either is given; β without γ has γ = 1)."""
    check_float_array(owner, input)
    affine = weight is not None or bias is not None
    shape = _check_normalized_shape(normalized_shape)
    arrays = {}
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None:
            check_float_array(owner, value, name)
            check_shape(owner, value, shape, name, hint=" (normalized_shape)")
            arrays[name] = np.asarray(value, input.dtype)
    if affine and weight is None:
        arrays["weight"] = np.ones(shape, input.dtype)
    return from_arrays(LayerNorm, arrays, normalized_shape, eps, elementwise_affine=affine, bias=bias is not None,
                       dtype=input.dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, rng=None):
    """softmax(s Q Kᵀ + M) V, s = 1/√E unless ``scale`` is given: PyTorch's function.  Derivation: derivations/attention.md

    Shape: query (N, ..., L, E), key (N, ..., S, E), value (N, ..., S, E_v)
    -> (N, ..., L, E_v).  ``attn_mask`` boolean — True where the query MAY
    attend, the opposite of MultiheadAttention's masks, as in PyTorch — or
    float (added to the scores); ``is_causal`` hides every later key.
    ``dropout_p`` drops weights with masks from ``rng``.  The same code as
    the attention layers (``ScaledDotProductAttention``, the ``Attention``
    math they share); ``enable_gqa=True`` (grouped-query attention) is refused.
    """
    return _forward(_attention("scaled_dot_product_attention", attn_mask, dropout_p, is_causal, scale, enable_gqa,
                               rng), query, key, value)


def scaled_dot_product_attention_backward(grad_output, query, key, value, attn_mask=None, dropout_p=0.0,
                                          is_causal=False, scale=None, enable_gqa=False, *, rng=None):
    """(dL/dquery, dL/dkey, dL/dvalue) of y = scaled_dot_product_attention(...), by the attention's backward.

    With dropout, pass the ``rng`` (a seed) the forward used: the same masks are drawn again.
    """
    layer = _attention("scaled_dot_product_attention_backward", attn_mask, dropout_p, is_causal, scale, enable_gqa,
                       rng)
    layer(query, key, value)
    return layer.backward(grad_output)


def _attention(owner, attn_mask, dropout_p, is_causal, scale, enable_gqa, rng):
    if enable_gqa:
        raise ValueError(f"{owner}: enable_gqa=True (grouped-query attention, fewer key heads than query heads) "
                         "is not implemented in manualnet; repeat the key and value heads yourself")
    return ScaledDotProductAttention(attn_mask, dropout_p, is_causal, scale, rng)


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
    """A Conv1d/Conv2d whose Parameters are ``weight`` and ``bias`` themselves; its sizes read from weight's shape."""
    check_float_array(owner, weight, "weight")
    layout = "(out_channels, in_channels/groups, kH, kW)" if dims == 2 else "(out_channels, in_channels/groups, k)"
    check_ndim(owner, weight, (2 + dims,), layout, "weight")
    groups = check_positive_int(owner, "groups", groups)
    if bias is not None:
        check_float_array(owner, bias, "bias")
        check_shape(owner, bias, (len(weight),), "bias", hint=" (one per output channel: weight.shape[0])")
    arrays = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    return from_arrays(Conv2d if dims == 2 else Conv1d, arrays, weight.shape[1] * groups, weight.shape[0],
                       weight.shape[2:], stride, padding, dilation, groups, bias=bias is not None, dtype=weight.dtype)


def _conv_backward(layer, grad_output, input):
    layer(input)                                  # keeps the columns backward reads
    grad_input = layer.backward(grad_output)
    return grad_input, layer.weight.grad, None if layer.bias is None else layer.bias.grad
