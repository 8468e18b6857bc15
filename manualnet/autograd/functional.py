"""The operations that have a manualnet layer: each node runs THAT layer's forward and backward.

``linear(x, W, b)`` records one node holding a ``Linear`` whose Parameters'
``.data`` are the tensors' arrays (no copy).  Forward is ``Linear.forward``;
backward zeroes the layer's ``.grad`` arrays, calls ``Linear.backward(G)``
and hands the engine dL/dx and the ``.grad`` the layer accumulated.  No
derivative is written here: the manual chain (``model.backward(...)``) and
the recorded graph run the same lines, so they give the same numbers, bit
for bit (derivations/autograd.md, section "Why the nodes are the layers").

The names and arguments are ``torch.nn.functional``'s; an argument whose
non-default value the manualnet layer does not support is refused by name.
Each layer's math is on its own page (derivations/linear.md, relu.md, ...).
"""

import numbers

import numpy as np

from manualnet.nn.modules.activation import LeakyReLU
from manualnet.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
from manualnet.nn.modules.conv import Conv1d, Conv2d
from manualnet.nn.modules.dropout import Dropout
from manualnet.nn.modules.sparse import Embedding
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from manualnet.nn.modules.module import keep_input
from manualnet.nn.modules.pooling import AvgPool2d, MaxPool2d
from manualnet.nn.utils.init import skip_init

from manualnet.registry import REGISTRY

from .layer_node import LayerNode, LossNode
from .tensor import Tensor, record


def _tensor(value, function, name="input"):
    """A Tensor as it is; an array or number as a constant Tensor; anything else a TypeError.

    The constant is over a private copy of a writable array (``keep_input``): a
    node checks its inputs' versions instead of copying them, and NumPy's own
    in-place changes to the caller's array would have no version.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, int, float)):
        return Tensor._wrap(keep_input(np.asarray(value)))
    raise TypeError(f"{function}: expected {name} to be a Tensor or a numpy.ndarray, got {type(value).__name__}")


def _refuse(function, layer, **arguments):
    """Refuse, by name, PyTorch arguments given a value the manualnet layer does not support."""
    for name, (value, default) in arguments.items():
        if value is not default and (default is None or value != default):
            raise TypeError(
                f"{function}: {name}={value!r} is not supported (manualnet's {layer} has no such option); "
                f"leave {name} at its default {default!r}"
            )


def _constant(value, function, name="weight"):
    """A loss's weight or pos_weight: None, or a constant array (a Tensor's values; it gets no gradient)."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise ValueError(f"{function}: {name} requires grad, but manualnet's losses differentiate their input "
                             f"only; pass {name}.detach()")
        return value.data
    return value


def _target(value, function):
    """A loss target as a plain array: labels and targets get no gradient here."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise ValueError(
                f"{function}: the target requires grad, but manualnet's losses differentiate their input only; "
                "pass target.detach()"
            )
        return value.data
    return value


def _parameters_of(function, weight, bias, want_weight_ndim):
    weight = _tensor(weight, function, "weight")
    bias = None if bias is None else _tensor(bias, function, "bias")
    if weight.ndim != want_weight_ndim:
        raise ValueError(f"{function}: expected a {want_weight_ndim}-D weight, got shape {weight.shape}")
    return weight, bias


# -- layers --------------------------------------------------------------------------------

def linear(input, weight, bias=None):
    """y = x Wᵀ + b through ``Linear``: one node, AddmmBackward0 (MmBackward0 without a bias).

    Shape: input (N, in_features), weight (out_features, in_features), bias (out_features,).
    """
    input = _tensor(input, "linear")
    weight, bias = _parameters_of("linear", weight, bias, 2)
    out_features, in_features = weight.shape
    if bias is not None and (bias.shape != (out_features,) or bias.dtype != weight.dtype):
        raise ValueError(
            f"linear: expected bias of shape ({out_features},) and dtype {weight.dtype} for weight {weight.shape}, "
            f"got shape {bias.shape} and dtype {bias.dtype}"
        )
    layer = skip_init(Linear, in_features, out_features, bias=bias is not None, dtype=weight.dtype)
    name = REGISTRY[Linear].node if bias is not None else "MmBackward0"
    return record(LayerNode(name, layer), input, weight, *([bias] if bias is not None else []))


def relu(input, inplace=False):
    """max(x, 0) through ``ReLU``: ReluBackward0."""
    _refuse("relu", "ReLU", inplace=(inplace, False))
    return _tensor(input, "relu").relu()


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, a·x otherwise, through ``LeakyReLU``: LeakyReluBackward0."""
    _refuse("leaky_relu", "LeakyReLU", inplace=(inplace, False))
    return record(LayerNode(REGISTRY[LeakyReLU].node, LeakyReLU(negative_slope)), _tensor(input, "leaky_relu"))


def sigmoid(input):
    """σ(x) through ``Sigmoid``: SigmoidBackward0."""
    return _tensor(input, "sigmoid").sigmoid()


def tanh(input):
    """tanh(x) through ``Tanh``: TanhBackward0."""
    return _tensor(input, "tanh").tanh()


def _dim(function, layer, dim, dtype):
    if dim is None:
        raise TypeError(f"{function}: pass dim, the axis to normalise along (PyTorch's implicit choice is deprecated)")
    _refuse(function, layer, dtype=(dtype, None))
    return dim


def softmax(input, dim=None, dtype=None):
    """e^{x_i} / Σ_j e^{x_j} along ``dim`` through ``Softmax``: SoftmaxBackward0."""
    return _tensor(input, "softmax").softmax(_dim("softmax", "Softmax", dim, dtype))


def log_softmax(input, dim=None, dtype=None):
    """x_i − log Σ_j e^{x_j} along ``dim`` through ``LogSoftmax``: LogSoftmaxBackward0."""
    return _tensor(input, "log_softmax").log_softmax(_dim("log_softmax", "LogSoftmax", dim, dtype))


def flatten(input, start_dim=0, end_dim=-1):
    """Dims start_dim..end_dim merged into one (``torch.flatten``'s defaults) through ``Flatten``: ViewBackward0."""
    return _tensor(input, "flatten").flatten(start_dim, end_dim)


def dropout(input, p=0.5, training=True, inplace=False, *, rng=None, mask=None):
    """Inverted dropout through ``Dropout``: MulBackward0 (PyTorch's CPU node: the product with the scaled mask); the input itself when not training.

    ``rng`` draws the keep-mask; ``mask`` (boolean, True = keep) fixes it, as
    ``Dropout.forward(x, mask)`` does — to apply the mask PyTorch drew, or to
    hold it still for finite differences.
    """
    _refuse("dropout", "Dropout", inplace=(inplace, False))
    input = _tensor(input, "dropout")
    layer = Dropout(p, rng=rng)
    if not training:
        return input
    return record(LayerNode(REGISTRY[Dropout].node, layer, *([] if mask is None else [mask])), input)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    """Batch normalisation through ``BatchNorm1d`` (or ``BatchNorm2d`` for images): NativeBatchNormBackward0.

    Shape: input (N, C), (N, C, L) or (N, C, H, W); weight γ, bias β,
    running_mean and running_var (C,).  As in PyTorch, training updates the
    running statistics in place; they get no gradient.
    """
    input = _tensor(input, "batch_norm")
    if bias is not None and weight is None:
        raise ValueError("batch_norm: a bias needs a weight (the layer's bias=True needs affine=True)")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *), got shape {input.shape}")
    parameters = [_parameters_of("batch_norm", value, None, 1)[0] for value in (weight, bias) if value is not None]
    layer = skip_init(BatchNorm2d if input.ndim == 4 else BatchNorm1d, input.shape[1], eps=eps, momentum=momentum,
                   affine=weight is not None, track_running_stats=running_mean is not None, dtype=input.dtype,
                   bias=bias is not None)
    if running_mean is not None:
        layer.running_mean, layer.running_var = _target(running_mean, "batch_norm"), _target(running_var, "batch_norm")
    layer.train(training)
    return record(LayerNode(REGISTRY[BatchNorm1d].node, layer), input, *parameters)


# -- losses --------------------------------------------------------------------------------

def _loss(function, name, layer, input, target):
    return record(LossNode(name, layer, _target(target, function)), _tensor(input, function))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax and negative log-likelihood in one node through ``CrossEntropyLoss``: CrossEntropyLossBackward.

    PyTorch records two nodes here, LogSoftmaxBackward0 then
    NllLossBackward0; manualnet's CrossEntropyLoss has the fused gradient
    (softmax(z) − onehot(y))/N, so it is one node with no PyTorch name.
    ``nll_loss(log_softmax(z, 1), y)`` records PyTorch's two.  ``weight``, ``ignore_index`` and
    ``label_smoothing`` are the layer's (derivations/cross_entropy.md, eq. (6)-(12)).
    """
    _refuse("cross_entropy", "CrossEntropyLoss", size_average=(size_average, None), reduce=(reduce, None))
    layer = CrossEntropyLoss(weight=_constant(weight, "cross_entropy"), ignore_index=ignore_index, reduction=reduction,
                             label_smoothing=label_smoothing)
    return _loss("cross_entropy", REGISTRY[CrossEntropyLoss].node, layer, input, target)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """−x[n, y_n] averaged, through ``NLLLoss``: NllLossBackward0."""
    _refuse("nll_loss", "NLLLoss", size_average=(size_average, None), reduce=(reduce, None))
    layer = NLLLoss(weight=_constant(weight, "nll_loss"), ignore_index=ignore_index, reduction=reduction)
    return _loss("nll_loss", REGISTRY[NLLLoss].node, layer, input, target)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(x − y)² averaged, through ``MSELoss``: MseLossBackward0."""
    _refuse("mse_loss", "MSELoss", size_average=(size_average, None), reduce=(reduce, None), weight=(weight, None))
    return _loss("mse_loss", REGISTRY[MSELoss].node, MSELoss(reduction=reduction), input, target)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """−[y log p + (1 − y) log(1 − p)] averaged, through ``BCELoss``: BinaryCrossEntropyBackward0."""
    _refuse("binary_cross_entropy", "BCELoss", size_average=(size_average, None), reduce=(reduce, None))
    layer = BCELoss(weight=_constant(weight, "binary_cross_entropy"), reduction=reduction)
    return _loss("binary_cross_entropy", REGISTRY[BCELoss].node, layer, input, target)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """BCE on logits, stable, through ``BCEWithLogitsLoss``: BinaryCrossEntropyWithLogitsBackward0."""
    _refuse("binary_cross_entropy_with_logits", "BCEWithLogitsLoss", size_average=(size_average, None),
            reduce=(reduce, None))
    function = "binary_cross_entropy_with_logits"
    layer = BCEWithLogitsLoss(weight=_constant(weight, function), reduction=reduction,
                              pos_weight=_constant(pos_weight, function, "pos_weight"))
    return _loss(function, REGISTRY[BCEWithLogitsLoss].node, layer, input, target)


# -- convolution and pooling: nodes running Conv2d, Conv1d, MaxPool2d, AvgPool2d ---------------

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Every window times the kernel through ``Conv2d`` (derivations/conv2d.md): ConvolutionBackward0.

    Shape: input (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) -> (N, O, Ho, Wo).
    """
    return _conv(Conv2d, "conv2d", 4, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The same along one axis through ``Conv1d``: ConvolutionBackward0.

    Shape: input (N, C, L), weight (O, C/groups, k), bias (O,) -> (N, O, Lo).
    """
    return _conv(Conv1d, "conv1d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv(layer_class, function, weight_ndim, input, weight, bias, stride, padding, dilation, groups):
    input = _tensor(input, function)
    weight, bias = _parameters_of(function, weight, bias, weight_ndim)
    out_channels, channels_per_group = weight.shape[:2]
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{function}: expected bias of shape ({out_channels},) for weight {weight.shape}, "
                         f"got shape {bias.shape}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{function}: expected groups to be a positive integer, got {groups!r}")
    groups = int(groups)
    layer = skip_init(layer_class, channels_per_group * groups, out_channels, weight.shape[2:], stride, padding,
                   dilation, groups, bias=bias is not None, dtype=weight.dtype)
    return record(LayerNode(REGISTRY[Conv2d].node, layer), input, weight, *([bias] if bias is not None else []))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Each window's maximum through ``MaxPool2d`` (derivations/pooling.md): MaxPool2DWithIndicesBackward0."""
    _refuse("max_pool2d", "MaxPool2d in a graph", return_indices=(return_indices, False))
    layer = MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)
    return record(LayerNode(REGISTRY[MaxPool2d].node, layer), _tensor(input, "max_pool2d"))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Each window's average through ``AvgPool2d`` (derivations/pooling.md): AvgPool2DBackward0."""
    layer = AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return record(LayerNode(REGISTRY[AvgPool2d].node, layer), _tensor(input, "avg_pool2d"))


# -- lookups: a node running Embedding ----------------------------------------------

def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by the integer ``input`` through ``Embedding`` (derivations/embedding.md):
    EmbeddingBackward0.  Its backward scatter-adds G into weight's rows; the indices get no gradient.

    Shape: input (*) of integers, weight (num_embeddings, embedding_dim) -> (*, embedding_dim).
    """
    _refuse("embedding", "Embedding in a graph", max_norm=(max_norm, None), sparse=(sparse, False))
    indices = _tensor(input, "embedding")
    weight = _tensor(weight, "embedding", "weight")
    if weight.ndim != 2:
        raise ValueError(f"embedding: expected a 2-D weight (num_embeddings, embedding_dim), got shape {weight.shape}")
    layer = skip_init(Embedding, *weight.shape, padding_idx=padding_idx, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, dtype=weight.dtype)
    return record(LayerNode(REGISTRY[Embedding].node, layer), indices, weight)
