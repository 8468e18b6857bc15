"""Module: the base class every layer, loss and model derives from.

A Module does three things by hand that PyTorch's ``nn.Module`` and autograd do
for you:

* ``forward(x)`` computes the output and keeps what backward will need;
* ``backward(grad_output)`` takes G = dL/dy, ADDS (``+=``) dL/dparameter into
  each own parameter's ``.grad`` and returns dL/dx — the chain rule, one layer
  at a time (derivations/backprop.md explains why the gradients add up, and so
  why ``zero_grad()`` exists);
* ``optimize(lr)`` takes one plain gradient-descent step on every parameter.

Parameters and child modules assigned as attributes are registered in
definition order, so ``named_parameters()`` and ``state_dict()`` use
PyTorch's dotted names (``0.weight``, ``lin_1.bias``).
"""

import inspect
from collections import namedtuple

import numpy as np

from manualnet._checks import as_state_array, check_learning_rate
from manualnet._grad_mode import _mode
from manualnet.nn._version_counter import bump, node_input
from manualnet.nn.parameter import Parameter, as_float_dtype

LoadResult = namedtuple("LoadResult", ["missing_keys", "unexpected_keys"])


def keep_input(x):
    """What forward keeps of an input array: x itself if nobody can change it unseen, else a private copy.

    backward reads what forward kept, so ``lin(x); x *= 0; lin.backward(g)``
    must not see the zeros (PyTorch raises "modified by an inplace
    operation").  NumPy's ``x *= 0`` tells nobody (nn/_version_counter.py),
    so x is kept as it is only where no such change can happen: an array
    read-only all the way down to the memory it views (the outputs layers
    hand out with ``keep_output``), or the input of an autograd node, whose
    version the node records and its backward checks.  Anything else is copied.
    """
    if not _mode.enabled or x is node_input.array:    # no_grad() keeps nothing; a node watches its input
        return x
    array = x
    while isinstance(array, np.ndarray):
        if array.flags.writeable:
            return x.copy()
        array = array.base
    return x if array is None else x.copy()


def keep_output(y):
    """Mark an array that forward both keeps for backward and returns as read-only; return it.

    ``y = sigmoid(x); y *= 2`` then raises NumPy's "output array is read-only"
    instead of silently changing what backward reads; ``y = y * 2`` works.
    The next layer can keep it without a copy (see ``keep_input``).
    """
    y = as_ndarray(y)
    if _mode.enabled:
        y.flags.writeable = False
    return y


def as_ndarray(y):
    """``y`` as an ndarray: NumPy's arithmetic on 0-d arrays returns scalars, and layers hand out arrays.

    ``np.maximum(np.array(0.7), 0)`` is the scalar ``np.float64(0.7)``; a
    layer returns it as the 0-d array PyTorch would, so the next layer's
    checks, ``keep_output`` and ``.flags`` work on it as on any other output.
    """
    return y if type(y) is np.ndarray else np.asarray(y)


def split_pair(owner, grad_output, names):
    """(G of the first output, G of the second or None) from a tuple layer's ``backward`` argument.

    A layer whose forward returns two things (``(output, h_n)``,
    ``(attn_output, attn_weights)``) takes their gradients in that structure,
    or a bare array for the first alone: the tuple-output convention of the
    README's Conventions.  ``names`` names the two in the error.
    """
    if not isinstance(grad_output, (tuple, list)):
        return grad_output, None
    if len(grad_output) != 2:
        raise ValueError(f"{owner}: expected grad_output = ({names[0]}, {names[1]}), the structure of forward's "
                         f"output, got a sequence of {len(grad_output)}")
    return tuple(grad_output)


class Module:
    """Base class: registers parameters, buffers and children; runs forward on call.

    ``saved_for_backward`` names the attributes a layer's forward keeps for
    its backward (``("x", "versions")`` for Linear).  backward reads them
    directly, ``x = self.x``; read before any forward ran, one of them raises
    an error that says to run forward first.  ``backward_reads`` names the
    Parameters backward reads again (Linear's ``weight``, for dL/dx): forward
    keeps their versions and backward checks them (nn/_version_counter.py),
    so an optimizer step in between is PyTorch's "modified by an inplace
    operation", not a gradient of the stepped weights.
    """

    saved_for_backward = ()
    backward_reads = ()

    def __new__(cls, *args, **kwargs):
        module = super().__new__(cls)
        # What the constructor is given: a checkpoint records it, and the testing tools rebuild a
        # layer as a class with one line changed (the bug zoo's) from the same arguments.
        object.__setattr__(module, "_constructor_call", (args, kwargs))
        return module

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these to exist.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: cannot assign {name!r} before Module.__init__() "
                "has run; call super().__init__() first in your __init__"
            )
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._parameters:
            raise TypeError(
                f"{type(self).__name__}: cannot assign a {type(value).__name__} to parameter "
                f"{name!r}; update it in place instead, e.g. self.{name}.data -= lr * "
                f"self.{name}.grad (rebinding the name would detach it from the optimizer)"
            )
        elif name in self._buffers:
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._forget(name)
        object.__delattr__(self, name)

    def _forget(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)

    def register_buffer(self, name, array):
        """Keep a non-learned array (e.g. BatchNorm's running mean) in the state dict."""
        self._forget(name)
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # -- the three steps ----------------------------------------------------

    def __call__(self, *args, **kwargs):
        if _mode.enabled:
            if "_forward_without_grad" in self.__dict__:
                del self._forward_without_grad
            return self.forward(*args, **kwargs)
        output = self.forward(*args, **kwargs)
        for name in type(self).saved_for_backward:      # no_grad(): forward keeps nothing for backward
            self.__dict__.pop(name, None)
        object.__setattr__(self, "_forward_without_grad", True)
        return output

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dparameters into ``.grad``; return dL/dx.

        ``need_input_grad=False`` says nothing upstream needs dL/dx (the input is
        data, as when a PyTorch tensor has ``requires_grad=False``): the module
        then skips computing it and returns None.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def optimize(self, lr):
        """One step of plain gradient descent on every parameter: p.data -= lr * p.grad."""
        lr = check_learning_rate(f"{type(self).__name__}.optimize", lr)
        for parameter in self.parameters():
            # In place: `p.data = p.data - ...` would make a new array that an
            # optimizer or another reference holding the old one never sees.
            parameter.data -= lr * parameter.grad

    def __getattr__(self, name):
        # Called only when normal lookup fails, so reading a kept value costs nothing extra.
        if name in type(self).saved_for_backward and "_forward_without_grad" in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.backward: the last forward ran under mn.no_grad(), which keeps "
                f"nothing for backward (here {name!r}); run forward outside no_grad() to differentiate it"
            )
        if name in type(self).saved_for_backward:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before forward: "
                f"run forward first (it keeps {name!r} for backward)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- walking the tree ---------------------------------------------------

    def children(self):
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix=""):
        """Yield (dotted name, module) for this module and every descendant, depth first."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix=""):
        """Yield (dotted name, Parameter) in definition order; a shared Parameter once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self):
        return [parameter for _, parameter in self.named_parameters()]

    def has_parameters(self):
        """Whether this module or a descendant holds a Parameter (stops at the first one found)."""
        return bool(self._parameters) or any(child.has_parameters() for child in self._modules.values())

    def named_buffers(self, prefix=""):
        for module_name, module in self.named_modules(prefix):
            for name, buffer in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buffer

    def zero_grad(self):
        """Set every parameter's ``.grad`` to zeros (backward accumulates with +=)."""
        for parameter in self.parameters():
            parameter.zero_grad()

    # -- modes and dtypes ---------------------------------------------------

    def train(self, mode=True):
        """Set training mode (Dropout drops, BatchNorm uses batch statistics); return self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Set evaluation mode: same as ``train(False)``; return self."""
        return self.train(False)

    def to(self, *args, device=None, dtype=None):
        """PyTorch's ``model.to("cpu")`` / ``model.to(torch.float64)``: a float dtype converts (as ``astype``).

        NumPy runs on the CPU, so "cpu" is accepted and changes nothing; any
        other device ("cuda", "mps") is an error that says so.  Returns self.
        """
        owner = f"{type(self).__name__}.to"
        for arg in (*args, device, dtype):
            text = str(arg)
            if arg is None or text.split(":")[0] == "cpu":
                continue
            if arg is device or text.split(":")[0] in ("cuda", "mps", "xpu", "meta"):
                raise ValueError(f"{owner}: manualnet runs on the CPU with NumPy; there is no device {text!r} "
                                 "to move to (leave the .to(device) line out, or use 'cpu')")
            self.astype(as_float_dtype(text[len("torch."):] if text.startswith("torch.") else arg, owner))
        return self

    def astype(self, dtype=np.float32):
        """Convert parameters and floating-point buffers to float32 or float64 in place."""
        dtype = as_float_dtype(dtype, f"{type(self).__name__}.astype")
        for parameter in self.parameters():
            parameter.astype(dtype)
        for module in self.modules():
            for name, buffer in list(module._buffers.items()):
                if buffer.dtype.kind == "f":
                    setattr(module, name, buffer.astype(dtype))
        return self

    # -- state dicts --------------------------------------------------------

    def state_dict(self):
        """Return {dotted name: copy of the array}: parameters and buffers, PyTorch's keys.

        The arrays are copies, so a state dict kept as a checkpoint does not
        change when training goes on (in PyTorch it would).
        """
        return {key: np.array(array, copy=True) for key, array in self._state_arrays().items()}

    def _state_arrays(self):
        """Map each state-dict key to the live array behind it (no copies)."""
        arrays = {}
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, parameter in module._parameters.items():
                arrays[prefix + name] = parameter.data
            for name, buffer in module._buffers.items():
                arrays[prefix + name] = buffer
        return arrays

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Every key is checked before anything is copied, so a failed load leaves
        the module unchanged.  With ``strict=True`` missing or unexpected keys
        are an error; shape mismatches always are.  Values are cast to the
        module's dtype.  Returns (missing_keys, unexpected_keys).
        """
        owner = type(self).__name__
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"{owner}.load_state_dict: expected a dict of arrays, got {type(state_dict).__name__}")
        targets = self._state_arrays()
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        values = {}
        for key, current in targets.items():
            if key not in state_dict:
                continue
            value = as_state_array(f"{owner}.load_state_dict", key, state_dict[key])
            if value.shape != current.shape:
                problems.append(f"{key!r}: expected shape {current.shape}, got {value.shape}")
            elif value.dtype.kind not in "fiub" or (current.dtype.kind == "f" and value.dtype.kind == "b"):
                problems.append(f"{key!r}: expected a numeric array, got dtype {value.dtype}")
            elif current.dtype.kind in "iu" and value.dtype.kind == "f":
                problems.append(f"{key!r}: expected an integer array, got dtype {value.dtype}")
            else:
                values[key] = value
        if problems:
            raise ValueError(f"{owner}.load_state_dict: " + "; ".join(problems))
        for key, value in values.items():
            np.copyto(targets[key], value, casting="unsafe")
            bump(targets[key])                       # a backward pending on the old values raises
        return LoadResult(missing, unexpected)

    def constructor_arguments(self):
        """{name: value} of the arguments the constructor was called with (the defaults it used left out).

        ``type(module)(**module.constructor_arguments())`` builds the same
        configuration (with new initial values; ``load_state_dict`` brings
        the weights).
        """
        args, kwargs = self.__dict__.get("_constructor_call", ((), {}))
        bound = inspect.signature(type(self)).bind(*args, **kwargs)
        arguments = {}
        for name, value in bound.arguments.items():
            kind = bound.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                raise TypeError(f"{type(self).__name__}.constructor_arguments: the constructor takes *{name}, "
                                "which cannot be passed by name")
            else:
                arguments[name] = value
        return arguments

    # -- printing -----------------------------------------------------------

    def extra_repr(self):
        """The text between the parentheses of this module's repr (override in layers)."""
        return ""

    def describe(self):
        """A one-line name for messages: 'Linear(in_features=3, out_features=2, bias=True)', 'Sequential(Linear, ReLU)'."""
        inside = self.extra_repr() or ", ".join(type(child).__name__ for child in self.children())
        return f"{type(self).__name__}({inside})"

    def __repr__(self):
        if not self._modules:
            return self.describe()
        lines = [f"{type(self).__name__}("]
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        lines.append(")")
        return "\n".join(lines)
