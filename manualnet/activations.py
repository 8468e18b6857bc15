"""Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax.

None has parameters, so backward only turns G = dL/dy into dL/dx.  Every
layer accepts any input shape (Softmax and LogSoftmax need at least one
dimension) and keeps its dtype.  Each backward line carries the number of the
equation it implements in the layer's page under derivations/.
"""

import numpy as np

from . import functional as F
from ._checks import check_float_array, check_grad_output
from .module import Module


class _Activation(Module):
    """Shared checks: a float input in forward, a G shaped like the output in backward."""

    def _check_input(self, x):
        check_float_array(self, x)

    def _check_grad(self, grad_output, like):
        check_grad_output(self, grad_output, like.shape, like.dtype)


class ReLU(_Activation):
    """y = max(x, 0), element-wise.  Derivation: derivations/relu.md

    Shape: x (*) -> y (*), the same shape.  At the kink x = 0 the gradient
    is taken as 0, as in PyTorch.
    """

    def forward(self, x):
        self._check_input(x)
        self.x = x                                   # kept for backward
        return np.maximum(x, 0)                      # eq. (1)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ 1[x > 0]."""
        x = self._saved("x")
        self._check_grad(grad_output, x)
        if not need_input_grad:
            return None
        return grad_output * (x > 0)                 # eq. (4)


class LeakyReLU(_Activation):
    """y = x for x > 0, a·x otherwise (a = negative_slope).  Derivation: derivations/relu.md

    Shape: x (*) -> y (*).  At x = 0 the gradient is taken as a, as in PyTorch.
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) \
                or not np.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU: expected a finite negative_slope, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        self._check_input(x)
        self.x = x                                   # kept for backward
        return np.maximum(x, 0) + self.negative_slope * np.minimum(x, 0)     # eq. (2)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G where x > 0, a·G elsewhere."""
        x = self._saved("x")
        self._check_grad(grad_output, x)
        if not need_input_grad:
            return None
        positive = x > 0
        return grad_output * positive + (self.negative_slope * grad_output) * ~positive   # eq. (6)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Activation):
    """y = σ(x) = 1 / (1 + e^{−x}), element-wise.  Derivation: derivations/sigmoid.md

    Shape: x (*) -> y (*).  Computed without overflow for any |x| (see
    ``functional.sigmoid``); backward uses the saved output: σ' = y (1 − y).
    """

    def forward(self, x):
        self._check_input(x)
        self.y = F.sigmoid(x)                        # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ y ⊙ (1 − y)."""
        y = self._saved("y")
        self._check_grad(grad_output, y)
        if not need_input_grad:
            return None
        return grad_output * y * (1 - y)             # eq. (3)


class Tanh(_Activation):
    """y = tanh(x), element-wise.  Derivation: derivations/tanh.md

    Shape: x (*) -> y (*).  Backward uses the saved output: tanh' = 1 − y².
    """

    def forward(self, x):
        self._check_input(x)
        self.y = np.tanh(x)                          # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ (1 − y²)."""
        y = self._saved("y")
        self._check_grad(grad_output, y)
        if not need_input_grad:
            return None
        return grad_output * (1 - y * y)             # eq. (3)


class _AlongDim(_Activation):
    """An activation that normalises along one axis ``dim`` (Softmax, LogSoftmax)."""

    def __init__(self, dim=-1):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: expected an integer dim, got {dim!r}")
        self.dim = int(dim)

    def _check_input(self, x):
        super()._check_input(x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(
                f"{self.describe()}: dim {self.dim} is out of range for an input of shape "
                f"{x.shape} ({x.ndim}-D); expected dim in [{-x.ndim}, {x.ndim - 1}]"
            )

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """y_i = e^{x_i} / Σ_j e^{x_j} along ``dim``.  Derivation: derivations/softmax.md

    Shape: x (*) -> y (*), entries in [0, 1] summing to 1 along ``dim``.
    Backward applies the Jacobian diag(y) − y yᵀ to G without building it.
    """

    def forward(self, x):
        self._check_input(x)
        self.y = F.softmax(x, axis=self.dim)         # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = y ⊙ (G − Σ_j G_j y_j)."""
        y = self._saved("y")
        self._check_grad(grad_output, y)
        if not need_input_grad:
            return None
        weighted_sum = np.sum(grad_output * y, axis=self.dim, keepdims=True)
        return y * (grad_output - weighted_sum)      # eq. (4)


class LogSoftmax(_AlongDim):
    """y_i = x_i − log Σ_j e^{x_j} along ``dim``.  Derivation: derivations/softmax.md

    Shape: x (*) -> y (*).  Stable for any |x|: it never takes the log of an
    underflowed softmax.
    """

    def forward(self, x):
        self._check_input(x)
        self.y = F.log_softmax(x, axis=self.dim)     # eq. (2), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G − softmax(x) ⊙ Σ_j G_j, with softmax(x) = e^y."""
        y = self._saved("y")
        self._check_grad(grad_output, y)
        if not need_input_grad:
            return None
        return grad_output - np.exp(y) * np.sum(grad_output, axis=self.dim, keepdims=True)   # eq. (6)
