"""Layers that hold or route data: Linear, Flatten and the Sequential container.

Each backward line carries the number of the equation it implements in the
layer's derivation page (derivations/<name>.md).
"""

import math
from collections import OrderedDict

import numpy as np

from . import init
from ._checks import (check_device, check_dtype_matches, check_float_array, check_grad_output, check_positive_int,
                      check_shape)
from .module import Module, keep_input
from .parameter import Parameter, as_float_dtype
from .rng import as_generator


class Linear(Module):
    """Affine map y = x Wᵀ + b.  Derivation: derivations/linear.md

    Shape: x (*, in_features) -> y (*, out_features): any leading dimensions,
    each position mapped alike, as in PyTorch — (N, in) -> (N, out),
    (N, T, in) -> (N, T, out), and one sample (in,) -> (out,).
    weight (out_features, in_features), bias (out_features,) — PyTorch's layout.

    Initialised as PyTorch does: W ~ U(−1/√in, 1/√in) (``kaiming_uniform_`` with
    a = √5) and b ~ U(−1/√in, 1/√in).  ``rng`` (Generator or int seed) makes it
    reproducible; ``dtype`` is float32 (default) or float64; ``device`` may
    be None or "cpu" (NumPy runs on the CPU).
    """

    saved_for_backward = ("x",)

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=np.float32, *, rng=None):
        super().__init__()
        check_device("Linear", device)
        self.in_features = check_positive_int("Linear", "in_features", in_features)
        self.out_features = check_positive_int("Linear", "out_features", out_features)
        dtype = as_float_dtype(dtype, "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """PyTorch's default init: W and b uniform in ±1/√in_features."""
        rng = as_generator(rng)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def forward(self, x):
        self._check_input(x)
        self.x = keep_input(x)                       # kept for backward
        # Every leading position is a row: (*, in) as (M, in), one matrix product.
        y = x.reshape(-1, self.in_features) @ self.weight.data.T     # eq. (1), (5)
        if self.bias is not None:
            y += self.bias.data                      # eq. (1)
        return y.reshape(x.shape[:-1] + (self.out_features,))

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        x = self.x
        check_grad_output(self, grad_output, x.shape[:-1] + (self.out_features,), x.dtype)
        G = grad_output.reshape(-1, self.out_features)                  # each leading position is a row, eq. (5)
        self.weight.grad += G.T @ x.reshape(-1, self.in_features)       # eq. (3)
        if self.bias is not None:
            self.bias.grad += G.sum(axis=0)                              # eq. (4)
        if not need_input_grad:
            return None
        return (G @ self.weight.data).reshape(x.shape)                   # eq. (2)

    def _check_input(self, x):
        check_float_array(self, x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            images = x.ndim > 2 and math.prod(x.shape[1:]) == self.in_features
            hint = "; flatten images first with Flatten() or x.reshape(len(x), -1)" if images else ""
            raise ValueError(
                f"{self.describe()}: expected input of shape (*, {self.in_features}) (in_features last, "
                f"after any leading dimensions), got shape {x.shape} ({x.ndim}-D){hint}"
            )
        check_dtype_matches(self, x, self.weight.dtype)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Reshape dims start_dim..end_dim into one: (N, 28, 28) -> (N, 784).  Derivation: derivations/flatten.md

    Shape: x (N, *dims) -> y (N, prod(dims)) with the defaults start_dim=1, end_dim=-1.
    Backward only reshapes G back to x's shape: flattening moves no values.
    """

    saved_for_backward = ("input_shape",)

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        check_float_array(self, x)
        self.input_shape = x.shape                   # kept for backward: where G goes back to
        return x.reshape(self._flat_shape(x.shape))  # eq. (1)

    def backward(self, grad_output, need_input_grad=True):
        """Reshape G back to the input's shape (eq. 2); None if no input gradient is needed."""
        input_shape = self.input_shape
        check_float_array(self, grad_output, "grad_output")
        check_shape(self, grad_output, self._flat_shape(input_shape), "grad_output")
        if not need_input_grad:
            return None
        return grad_output.reshape(input_shape)      # eq. (2)

    def _flat_shape(self, shape):
        """The shape with dims start_dim..end_dim multiplied into one (size known even for 0-size inputs)."""
        ndim = max(len(shape), 1)                    # a 0-d input flattens as one dimension: () -> (1,), as in PyTorch
        start = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= start <= end < ndim):
            raise ValueError(
                f"{self.describe()}: cannot flatten dims {self.start_dim}..{self.end_dim} "
                f"of an input with {len(shape)} dimension(s)"
            )
        return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Sequential(Module):
    """Run modules in order: y = f_K(... f_2(f_1(x))).  Derivation: derivations/backprop.md

    Children are named "0", "1", ... as in PyTorch, so ``state_dict()`` keys
    read ``0.weight``, ``2.bias``; PyTorch's other form, one OrderedDict of
    {name: module}, names them (``fc.weight``).  Backward is the chain rule
    walked in reverse: each module turns dL/d(its output) into dL/d(its input).
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self._add(name, module)
        else:
            for module in modules:
                self.append(module)

    def append(self, module):
        """Add a module at the end; return self."""
        return self._add(str(len(self._modules)), module)

    def _add(self, name, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: expected a Module, got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name or name in self.__dict__ or hasattr(type(self), name):
            raise ValueError(f"Sequential: a child's name must be a non-empty str without '.' that names nothing "
                             f"else of the container, got {name!r}")
        setattr(self, name, module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def backward(self, grad_output, need_input_grad=True):
        """Walk the chain backwards; return dL/dx (None when need_input_grad=False).

        A module's input gradient is computed only when something before it
        learns (has parameters) or the caller asked for dL/dx: with
        ``need_input_grad=False`` the first Linear skips G W, about half the
        matrix work of a two-layer MLP's backward (derivations/backprop.md, section 3).
        """
        modules = list(self)
        learns_before = _learns_before(modules)
        grad = grad_output
        for index in reversed(range(len(modules))):
            needed = need_input_grad or learns_before[index]
            if not needed and not modules[index].has_parameters():
                return None                          # nothing left that learns
            grad = modules[index].backward(grad, need_input_grad=needed)   # eq. (7)
        return grad


def _learns_before(modules):
    """For each position, whether any module before it has parameters."""
    flags, seen = [], False
    for module in modules:
        flags.append(seen)
        seen = seen or module.has_parameters()
    return flags
