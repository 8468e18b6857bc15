"""manualnet and PyTorch side by side: convert modules both ways and compare their gradients.

Needs the ``compare`` extra (``pip install torch==2.13.0``, then
``pip install -e '.[compare]'``); torch is imported only when a function here
is called.  ``manualnet.compare``, this module's name before version 2, still
imports it (an alias: the same module, under the old name).

* ``to_torch(module)`` builds the equivalent ``torch.nn`` module holding the
  same weights (and BatchNorm's running statistics), with the same
  state-dict keys and the same train/eval mode;
* ``from_torch(torch_module)`` builds the manualnet module back; the round
  trip ``from_torch(to_torch(m))`` keeps every array bit for bit;
* ``compare_with_torch(module, *inputs)`` runs your module and its PyTorch
  twin in float64 with the same random upstream gradients and returns the
  report of ``manualnet.testing.compare_modules``: PyTorch's autograd is the
  reference for your hand-written backward.  Dropout must be in eval mode
  there: the two libraries draw different random masks.

``MLP`` becomes the study notes' ``MultiLayerPerceptronClass`` (lin_1, ReLU,
lin_2), whose state dict has the same keys; ``notes_mlp_class()`` returns
that PyTorch class itself.  A module with no PyTorch
equivalent (``LogisticRegression``, your own classes) is a TypeError that
names it.  Subclasses convert as the manualnet class they extend, so a layer
whose backward you rewrote is compared with the PyTorch layer it should match.
"""

import copy
import functools

import numpy as np

from manualnet.nn.modules.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from manualnet.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
from manualnet.nn.modules.dropout import Dropout
from manualnet.nn.modules.flatten import Flatten
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.container import Sequential
from manualnet.nn.modules.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from manualnet.models.cnn import CNN
from manualnet.models.mlp import MLP
from manualnet.nn.modules.module import Module
from manualnet.nn.modules.conv import Conv1d, Conv2d
from manualnet.nn.modules.pooling import AvgPool2d, MaxPool2d
from manualnet.nn.modules.sparse import Embedding
from manualnet.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from manualnet.testing.reports import ATOL, RTOL
from manualnet.testing.comparison import compare_modules

from .nanogpt import is_nanogpt, manualnet_gpt, transformer_from_torch, transformer_to_torch

TORCH_SPEC = "torch==2.13.0"
_LOSSES = (CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss)
_LOSS_OPTIONS = ("weight", "pos_weight", "ignore_index", "label_smoothing")   # attributes named as PyTorch's
_SUPPORTED = ("Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax, Flatten, Dropout, BatchNorm1d, "
              "Sequential, MLP (the study notes' MultiLayerPerceptronClass in PyTorch), the losses, "
              "Conv1d, Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, CNN (to PyTorch only), Embedding, "
              "RNN, LSTM, GRU and their cells, LayerNorm, GELU, MultiheadAttention, ModuleList, ModuleDict, "
              "GPT (nanoGPT's model in PyTorch) and its Block, CausalSelfAttention and MLP")


def import_torch():
    """Import torch, or explain how to install it."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"manualnet.torch_interop needs PyTorch: pip install {TORCH_SPEC} (exactly this spelling, for the CPU "
            "wheel), then pip install -e '.[compare]'"
        ) from error
    return torch


# -- manualnet -> PyTorch ------------------------------------------------------

def to_torch(module):
    """The ``torch.nn`` module equivalent to ``module``, with copies of its weights and its mode."""
    _check_manualnet_module("to_torch", module)
    return _to_torch(module, import_torch(), path="")


def _to_torch(module, torch, path):
    nn = torch.nn
    build = _first_match(type(module), {
        Linear: lambda m: _torch_linear(m, torch),
        ReLU: lambda m: nn.ReLU(),
        LeakyReLU: lambda m: nn.LeakyReLU(m.negative_slope),
        Sigmoid: lambda m: nn.Sigmoid(),
        Tanh: lambda m: nn.Tanh(),
        Softmax: lambda m: nn.Softmax(dim=m.dim),
        LogSoftmax: lambda m: nn.LogSoftmax(dim=m.dim),
        Flatten: lambda m: nn.Flatten(m.start_dim, m.end_dim),
        Dropout: lambda m: nn.Dropout(m.p),
        BatchNorm1d: lambda m: _torch_batchnorm(m, torch),
        Sequential: lambda m: nn.Sequential(*(_to_torch(child, torch, _join(path, name))
                                              for name, child in m.named_children())),
        MLP: lambda m: _torch_mlp(m, torch),
        **{loss: _torch_loss(loss, torch) for loss in _LOSSES},
        **_conv_to_torch(torch, path),
        **_sequences_to_torch(torch),
        **transformer_to_torch(torch, lambda child, name: _to_torch(child, torch, _join(path, name)),
                               lambda twin, m: _with_state(twin, m, torch), lambda m: _torch_dtype(m, torch)),
    })
    if build is None:
        raise TypeError(
            f"to_torch: {module.describe()}{_at(path)} has no PyTorch equivalent here; supported: {_SUPPORTED}"
        )
    torch_module = build(module)
    torch_module.training = module.training
    return torch_module


def _torch_linear(module, torch):
    linear = torch.nn.Linear(module.in_features, module.out_features, bias=module.bias is not None,
                             dtype=_torch_dtype(module, torch))
    return _with_state(linear, module, torch)


def _torch_batchnorm(module, torch):
    """With its running statistics and num_batches_tracked, which the state dict carries."""
    batchnorm = torch.nn.BatchNorm1d(module.num_features, module.eps, module.momentum, module.affine,
                                     module.track_running_stats, dtype=_torch_dtype(module, torch))
    return _with_state(batchnorm, module, torch)


def _torch_mlp(module, torch):
    mlp = notes_mlp_class()(module.name, module.xdim, module.hdim, module.ydim)
    return _with_state(mlp.to(_torch_dtype(module, torch)), module, torch)


def _torch_loss(loss_class, torch):
    """PyTorch's loss with the same reduction and options (weight, pos_weight, ignore_index, label_smoothing)."""
    def build(loss):
        options = {name: getattr(loss, name) for name in _LOSS_OPTIONS if hasattr(loss, name)}
        options = {name: torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value
                   for name, value in options.items()}
        return getattr(torch.nn, loss_class.__name__)(reduction=loss.reduction, **options)
    return build


def _with_state(torch_module, module, torch):
    """The torch module, holding copies of every array of module's state dict (same keys)."""
    state = {key: torch.from_numpy(np.array(value)) for key, value in module.state_dict().items()}
    torch_module.load_state_dict(state, strict=True)
    return torch_module


@functools.cache
def notes_mlp_class():
    """The study notes' PyTorch ``MultiLayerPerceptronClass`` (004), the class itself.

    ``notes_mlp_class()(name="mlp", xdim=784, hdim=256, ydim=10)`` is the
    notes' model: lin_1, ReLU, lin_2, Kaiming-normal weights and zero biases
    from ``init_param()``, the state-dict keys of ``manualnet.MLP``.  A
    function, not a class here, because torch is imported only when it is
    called (the same class on every call).
    """
    torch = import_torch()
    nn, F = torch.nn, torch.nn.functional

    class MultiLayerPerceptronClass(nn.Module):
        """Multilayer Perceptron (MLP) Class: lin_2(relu(lin_1(x))), as in the study notes."""

        def __init__(self, name="mlp", xdim=784, hdim=256, ydim=10):
            super().__init__()
            self.name, self.xdim, self.hdim, self.ydim = name, xdim, hdim, ydim
            self.lin_1 = nn.Linear(xdim, hdim)
            self.lin_2 = nn.Linear(hdim, ydim)
            self.init_param()

        def init_param(self):
            nn.init.kaiming_normal_(self.lin_1.weight)
            nn.init.zeros_(self.lin_1.bias)
            nn.init.kaiming_normal_(self.lin_2.weight)
            nn.init.zeros_(self.lin_2.bias)

        def forward(self, x):
            net = x
            net = self.lin_1(net)
            net = F.relu(net)
            net = self.lin_2(net)
            return net

    return MultiLayerPerceptronClass


# -- PyTorch -> manualnet ------------------------------------------------------

def from_torch(torch_module):
    """The manualnet module equivalent to a ``torch.nn`` module, with copies of its weights and its mode."""
    return _from_torch(torch_module, import_torch(), path="")


def _from_torch(torch_module, torch, path):
    nn = torch.nn
    build = _first_match(type(torch_module), {
        nn.Linear: lambda t: Linear(t.in_features, t.out_features, bias=t.bias is not None,
                                    dtype=_numpy_dtype(t, path)),
        nn.ReLU: lambda t: ReLU(),
        nn.LeakyReLU: lambda t: LeakyReLU(t.negative_slope),
        nn.Sigmoid: lambda t: Sigmoid(),
        nn.Tanh: lambda t: Tanh(),
        nn.Softmax: lambda t: Softmax(t.dim),
        nn.LogSoftmax: lambda t: LogSoftmax(t.dim),
        nn.Flatten: lambda t: Flatten(t.start_dim, t.end_dim),
        nn.Dropout: lambda t: Dropout(t.p),
        nn.BatchNorm1d: lambda t: BatchNorm1d(t.num_features, t.eps, t.momentum, t.affine, t.track_running_stats,
                                              dtype=_numpy_dtype(t, path)),
        nn.Sequential: lambda t: Sequential(*(_from_torch(child, torch, _join(path, name))
                                              for name, child in t.named_children())),
        **{getattr(nn, loss.__name__): _manualnet_loss(loss) for loss in _LOSSES},
        **_conv_from_torch(nn, path),
        **_sequences_from_torch(nn, path),
        **transformer_from_torch(torch, lambda child, name: _from_torch(child, torch, _join(path, name)),
                                 lambda t: _numpy_dtype(t, path)),
    })
    if build is None and _is_notes_mlp(torch_module, nn):
        build = _manualnet_mlp
    if build is None and is_nanogpt(torch_module):
        build = lambda t: manualnet_gpt(t, lambda m: _numpy_dtype(m, path))   # noqa: E731
    if build is None:
        raise TypeError(
            f"from_torch: {type(torch_module).__name__}{_at(path)} has no manualnet equivalent; supported: "
            f"{_SUPPORTED}"
        )
    module = build(torch_module)
    if module.state_dict():
        _copy_from_torch(module, torch_module)
    module.training = torch_module.training
    return module


def _manualnet_loss(loss_class):
    """A manualnet loss from PyTorch's, with the same reduction and options."""
    def build(torch_loss):
        options = {name: getattr(torch_loss, name) for name in _LOSS_OPTIONS if hasattr(torch_loss, name)}
        options = {name: value.detach().cpu().numpy().copy() if hasattr(value, "detach") else value
                   for name, value in options.items()}
        return loss_class(reduction=torch_loss.reduction, **options)
    return build


def _is_notes_mlp(torch_module, nn):
    """The study notes' class (ours or a learner's copy): lin_1 and lin_2 Linear layers with biases."""
    lin_1, lin_2 = getattr(torch_module, "lin_1", None), getattr(torch_module, "lin_2", None)
    return (type(torch_module).__name__ == "MultiLayerPerceptronClass"
            and isinstance(lin_1, nn.Linear) and isinstance(lin_2, nn.Linear)
            and lin_1.bias is not None and lin_2.bias is not None)


def _manualnet_mlp(torch_module):
    lin_1, lin_2 = torch_module.lin_1, torch_module.lin_2
    return MLP(lin_1.in_features, lin_1.out_features, lin_2.out_features,
               name=getattr(torch_module, "name", "mlp"), dtype=_numpy_dtype(torch_module, ""))


def _copy_from_torch(module, torch_module):
    state = {key: value.detach().cpu().numpy().copy() for key, value in torch_module.state_dict().items()}
    module.load_state_dict(state, strict=True)


# -- comparing -----------------------------------------------------------------

def compare_with_torch(module, *inputs, atol=ATOL, rtol=RTOL, rng=None):
    """Compare ``module`` with its PyTorch twin (autograd as the reference), in float64.

    Returns the ComparisonReport of ``manualnet.testing.compare_modules``:
    output, input gradient and every parameter gradient after two
    forward/backward passes with the same random upstream gradients.
    """
    _check_manualnet_module("compare_with_torch", module)
    torch = import_torch()
    probe = copy.deepcopy(module).astype(np.float64)
    for name, layer in probe.named_modules():
        if isinstance(layer, Dropout) and layer.training and layer.p > 0:
            raise ValueError(
                f"compare_with_torch: {layer.describe()}{_at(name)} is in training mode, where manualnet and "
                "PyTorch draw different random masks; call .eval() first (or compare one fixed mask with "
                "manualnet.testing.compare_modules(mine, mn.Dropout(p), x, mask))"
            )
    reference = TorchReference(_to_torch(probe, torch, path=""))
    return compare_modules(probe, reference, *inputs, atol=atol, rtol=rtol, rng=rng)


class TorchReference:
    """A torch module behind manualnet's Module contract: NumPy in, NumPy out, backward returns dL/dx.

    The first input is differentiated; others (a loss's target) are passed
    as tensors.  Parameter gradients accumulate in torch's ``.grad``, as
    manualnet's do.
    """

    def __init__(self, torch_module):
        self.module = torch_module

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def forward(self, *inputs):
        torch = import_torch()
        first, *rest = (torch.from_numpy(np.array(x)) for x in inputs)
        self.input = first.requires_grad_(True)
        self.output = self.module(self.input, *rest)
        return self.output.detach().numpy().copy()

    def backward(self, grad_output):
        self.output.backward(import_torch().as_tensor(grad_output, dtype=self.output.dtype))
        return self.input.grad.numpy().copy()

    def named_parameters(self):
        return [(name, _TorchParameter(p)) for name, p in self.module.named_parameters()]

    def zero_grad(self):
        self.module.zero_grad()

    def describe(self):
        """'torch.nn.Linear(in_features=3, ...)', 'torch.nn.Sequential(Linear, ReLU)': one line, as Module.describe."""
        inside = self.module.extra_repr() or ", ".join(type(child).__name__ for child in self.module.children())
        return f"torch.nn.{type(self.module).__name__}({inside})"


class _TorchParameter:
    """A torch parameter seen as manualnet's: ``.data`` and ``.grad`` as NumPy arrays (live views)."""

    def __init__(self, parameter):
        self.parameter = parameter

    @property
    def data(self):
        return self.parameter.detach().numpy()

    @property
    def grad(self):
        grad = self.parameter.grad
        return np.zeros(tuple(self.parameter.shape)) if grad is None else grad.numpy()


# -- small helpers -------------------------------------------------------------

def _check_manualnet_module(owner, module):
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: expected a manualnet Module, got {type(module).__name__}; to check a module of "
                        "your own, compare it with a manualnet one: manualnet.testing.compare_modules(mine, reference, x)")


def _first_match(cls, table):
    """The table entry of the first class in cls's method resolution order, or None."""
    return next((table[base] for base in cls.__mro__ if base in table), None)


def _join(path, name):
    return f"{path}.{name}" if path else name


def _at(path):
    return f" (at {path!r})" if path else ""


def _torch_dtype(module, torch):
    """float64 if the module holds float64 arrays, else float32 (also for a module holding none)."""
    dtypes = [array.dtype for array in module.state_dict().values() if array.dtype.kind == "f"]
    return torch.float64 if dtypes and dtypes[0] == np.float64 else torch.float32


def _numpy_dtype(torch_module, path):
    """The NumPy dtype of a torch module's floating-point tensors (float32 if it has none)."""
    dtypes = [str(t.dtype) for t in torch_module.state_dict().values() if t.is_floating_point()]
    names = {"torch.float32": np.float32, "torch.float64": np.float64}
    if dtypes and dtypes[0] not in names:
        raise TypeError(f"from_torch: {type(torch_module).__name__}{_at(path)} has dtype {dtypes[0]}; "
                        "manualnet holds float32 or float64")
    return names[dtypes[0]] if dtypes else np.float32


# -- convolution and pooling (issue 14) ------------------------------------------------------

def _conv_to_torch(torch, path):
    nn = torch.nn

    def conv(m):
        cls = nn.Conv2d if isinstance(m, Conv2d) else nn.Conv1d
        return _with_state(cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                               m.groups, m.bias is not None, m.padding_mode, dtype=_torch_dtype(m, torch)), m, torch)

    def cnn(m):
        twin = _torch_cnn_class(torch)(_to_torch(m.features, torch, _join(path, "features")),
                                       _to_torch(m.classifier, torch, _join(path, "classifier")))
        return twin

    def batchnorm2d(m):
        return _with_state(nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats,
                                          dtype=_torch_dtype(m, torch), bias=m.bias is not None), m, torch)

    return {
        Conv2d: conv,
        Conv1d: conv,
        BatchNorm2d: batchnorm2d,
        MaxPool2d: lambda m: nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, m.return_indices,
                                          m.ceil_mode),
        AvgPool2d: lambda m: nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                                          m.divisor_override),
        CNN: cnn,
    }


def _conv_from_torch(nn, path):
    def conv(cls):
        return lambda t: cls(t.in_channels, t.out_channels, t.kernel_size, t.stride, t.padding, t.dilation, t.groups,
                             t.bias is not None, t.padding_mode, dtype=_numpy_dtype(t, path))

    return {
        nn.BatchNorm2d: lambda t: BatchNorm2d(t.num_features, t.eps, t.momentum, t.affine, t.track_running_stats,
                                              dtype=_numpy_dtype(t, path), bias=t.bias is not None),
        nn.Conv2d: conv(Conv2d),
        nn.Conv1d: conv(Conv1d),
        nn.MaxPool2d: lambda t: MaxPool2d(t.kernel_size, t.stride, t.padding, t.dilation, t.return_indices,
                                          t.ceil_mode),
        nn.AvgPool2d: lambda t: AvgPool2d(t.kernel_size, t.stride, t.padding, t.ceil_mode, t.count_include_pad,
                                          t.divisor_override),
    }


@functools.cache
def _torch_cnn_class(torch):
    """manualnet.models.CNN in PyTorch: the same ``features`` and ``classifier`` children and state-dict keys."""

    class CNN(torch.nn.Module):
        def __init__(self, features, classifier):
            super().__init__()
            self.features, self.classifier = features, classifier

        def forward(self, x):
            return self.classifier(self.features(x))

    return CNN


# -- sequences (issue 16): Embedding and the recurrent layers, same arguments and state-dict keys -------------

_RECURRENT = (RNN, LSTM, GRU)
_CELLS = (RNNCell, LSTMCell, GRUCell)


def _recurrent_options(m):
    """The constructor arguments both libraries share, read from either side's module."""
    options = {"bias": bool(m.bias)}
    if hasattr(m, "num_layers"):
        options.update(num_layers=m.num_layers, batch_first=m.batch_first, dropout=m.dropout,
                       bidirectional=m.bidirectional)
    if type(m).__name__ in ("RNN", "RNNCell"):
        options["nonlinearity"] = m.nonlinearity
    return options


def _embedding_options(m):
    return dict(padding_idx=m.padding_idx, max_norm=m.max_norm, norm_type=m.norm_type,
                scale_grad_by_freq=m.scale_grad_by_freq)


def _sequences_to_torch(torch):
    nn = torch.nn

    def recurrent(m):
        twin = getattr(nn, type(m).__name__)(m.input_size, m.hidden_size, **_recurrent_options(m),
                                             dtype=_torch_dtype(m, torch))
        return _with_state(twin, m, torch)

    def embedding(m):
        twin = nn.Embedding(m.num_embeddings, m.embedding_dim, **_embedding_options(m), dtype=_torch_dtype(m, torch))
        return _with_state(twin, m, torch)

    return {Embedding: embedding, **{cls: recurrent for cls in _RECURRENT + _CELLS}}


def _sequences_from_torch(nn, path):
    def recurrent(cls):
        return lambda t: cls(t.input_size, t.hidden_size, **_recurrent_options(t), dtype=_numpy_dtype(t, path))

    return {nn.Embedding: lambda t: Embedding(t.num_embeddings, t.embedding_dim, **_embedding_options(t),
                                              dtype=_numpy_dtype(t, path)),
            **{getattr(nn, cls.__name__): recurrent(cls) for cls in _RECURRENT + _CELLS}}
