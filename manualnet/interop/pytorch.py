"""manualnet and PyTorch side by side: convert modules both ways and compare their gradients.

Needs the ``compare`` extra (``pip install torch==2.13.0``, then
``pip install -e '.[compare]'``); torch is imported only when a function here
is called.  ``manualnet.torch_interop`` and ``manualnet.compare``, its names
before version 3, still import it.

A layer converts through its entry in ``manualnet.registry``: the PyTorch
class of the same name and arguments (tests/test_signatures.py holds the two
signatures equal), built from the attributes named after those arguments,
then given a copy of the state dict.  Only the whole models have a twin
written here (the notes' MLP, the CNN) or in ``nanogpt.py`` (nanoGPT's GPT
and its parts).

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
import inspect

import numpy as np

from manualnet.models import CNN, MLP
from manualnet.nn import Dropout, Module, ModuleDict, ModuleList, Sequential
from manualnet.registry import BY_TORCH_NAME, entry_of
from manualnet.testing.comparison import compare_modules
from manualnet.testing.reports import ATOL, RTOL

from .nanogpt import is_nanogpt, manualnet_gpt, nanogpt_twin

TORCH_SPEC = "torch==2.13.0"
# Arguments that are not a layer's configuration: where it lives, its dtype (read from the state), its randomness.
NOT_CONFIGURATION = ("device", "dtype", "rng", "size_average", "reduce")
# Arguments a layer keeps only as what they made: MultiheadAttention's bias and add_bias_kv are its bias arrays.
MADE_BY = {"bias": "in_proj_bias", "add_bias_kv": "bias_k"}


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
    if isinstance(module, (Sequential, ModuleList, ModuleDict)):
        children = {name: _to_torch(child, torch, _join(path, name)) for name, child in module.named_children()}
        twin = (torch.nn.Sequential(*children.values()) if isinstance(module, Sequential) else
                torch.nn.ModuleList(children.values()) if isinstance(module, ModuleList) else
                torch.nn.ModuleDict(children))
    elif (twin := nanogpt_twin(module, torch)) is not None:
        twin = twin.to(_torch_dtype(module, torch))
    elif isinstance(module, MLP):
        twin = notes_mlp_class()(module.name, module.xdim, module.hdim, module.ydim).to(_torch_dtype(module, torch))
    elif isinstance(module, CNN):
        twin = _torch_cnn_class(torch)(_to_torch(module.features, torch, _join(path, "features")),
                                       _to_torch(module.classifier, torch, _join(path, "classifier")))
    else:
        entry = entry_of(type(module))
        if entry is None or entry.torch is None:
            raise TypeError(f"to_torch: {module.describe()}{_at(path)} has no PyTorch equivalent; "
                            f"supported: {_supported()}")
        torch_class = getattr(torch.nn, entry.torch)
        arguments = {name: _torch_value(name, value, torch) for name, value in _configuration(module, entry.layer)}
        if "dtype" in inspect.signature(entry.layer).parameters:
            arguments["dtype"] = _torch_dtype(module, torch)
        twin = torch_class(**arguments)
    twin.load_state_dict({key: torch.from_numpy(np.array(value)) for key, value in module.state_dict().items()},
                         strict=True)
    twin.training = module.training                  # this module only: each child carried its own
    return twin


def _configuration(module, layer_class):
    """(argument, value) for each constructor argument of ``layer_class`` that ``module`` keeps as an attribute."""
    for name, parameter in inspect.signature(layer_class).parameters.items():
        if name in NOT_CONFIGURATION or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if hasattr(module, name):
            yield name, getattr(module, name)
        elif name in MADE_BY and hasattr(module, MADE_BY[name]):
            yield name, getattr(module, MADE_BY[name]) is not None


def _torch_value(name, value, torch):
    """An argument as PyTorch takes it: a bias Parameter as True, an array (a loss's weight) as a tensor."""
    if name == "bias" and not isinstance(value, bool):
        return value is not None and value is not False
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    return value


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
    name = type(torch_module).__name__
    if isinstance(torch_module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        children = {child_name: _from_torch(child, torch, _join(path, child_name))
                    for child_name, child in torch_module.named_children()}
        module = (Sequential(*children.values()) if isinstance(torch_module, nn.Sequential) else
                  ModuleList(children.values()) if isinstance(torch_module, nn.ModuleList) else
                  ModuleDict(children))
    elif is_nanogpt(torch_module):
        module = manualnet_gpt(torch_module, lambda twin: _numpy_dtype(twin, path))
    elif _is_notes_mlp(torch_module, nn):
        lin_1, lin_2 = torch_module.lin_1, torch_module.lin_2
        module = MLP(lin_1.in_features, lin_1.out_features, lin_2.out_features,
                     name=getattr(torch_module, "name", "mlp"), dtype=_numpy_dtype(torch_module, ""))
    elif name in BY_TORCH_NAME and type(torch_module) is getattr(nn, name, None):
        layer_class = BY_TORCH_NAME[name].layer
        arguments = {key: _numpy_value(key, value) for key, value in _configuration(torch_module, layer_class)}
        if "dtype" in inspect.signature(layer_class).parameters:
            arguments["dtype"] = _numpy_dtype(torch_module, path)
        module = layer_class(**arguments)
    else:
        raise TypeError(f"from_torch: {name}{_at(path)} has no manualnet equivalent; supported: {_supported()}")
    if module.state_dict():
        module.load_state_dict({key: value.detach().cpu().numpy().copy()
                                for key, value in torch_module.state_dict().items()}, strict=True)
    module.training = torch_module.training
    return module


def _numpy_value(name, value):
    """An argument as manualnet takes it: a bias tensor as True, a tensor (a loss's weight) as an array."""
    if name == "bias" and not isinstance(value, bool):
        return value is not None
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy().copy()
    return value


def _is_notes_mlp(torch_module, nn):
    """The study notes' class (ours or a learner's copy): lin_1 and lin_2 Linear layers with biases."""
    lin_1, lin_2 = getattr(torch_module, "lin_1", None), getattr(torch_module, "lin_2", None)
    return (type(torch_module).__name__ == "MultiLayerPerceptronClass"
            and isinstance(lin_1, nn.Linear) and isinstance(lin_2, nn.Linear)
            and lin_1.bias is not None and lin_2.bias is not None)


def _supported():
    return (", ".join(sorted(BY_TORCH_NAME)) + "; the containers Sequential, ModuleList, ModuleDict; the models "
            "MLP (the study notes' MultiLayerPerceptronClass), CNN and GPT (nanoGPT's, with its parts)")


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
