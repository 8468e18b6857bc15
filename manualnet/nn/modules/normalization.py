"""LayerNorm: normalise each sample over its last axes, as ``torch/nn/modules/normalization.py``.

Batch norm's statistics run down the batch (one mean per feature); layer
norm's run across each sample's own features (one mean per sample), so it
needs no running averages and treats training and evaluation alike.  Each
forward and backward line carries the number of its equation in
derivations/layernorm.md.
"""

import math
import numbers

import numpy as np

from manualnet._checks import check_device, check_dtype_matches, check_float_array, check_grad_output, name_of
from manualnet.nn.parameter import Parameter, as_float_dtype

from .module import Module, keep_output


class LayerNorm(Module):
    """y = γ ⊙ (x − μ) / √(σ² + ε) + β, μ and σ² over each sample's last axes.  Derivation: derivations/layernorm.md

    Shape: x (*, *normalized_shape) -> y of the same shape; statistics over
    the D = prod(normalized_shape) trailing values of each leading position;
    weight γ and bias β of shape normalized_shape (ones and zeros at first,
    as PyTorch).  ``elementwise_affine=False`` drops γ and β, ``bias=False``
    drops β only.  σ² is the biased variance (divided by D), as in PyTorch.
    """

    saved_for_backward = ("x_hat", "inv_std")

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None,
                 dtype=np.float32):
        super().__init__()
        check_device("LayerNorm", device)
        self.normalized_shape = _check_normalized_shape(normalized_shape)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < np.inf:
            raise ValueError(f"LayerNorm: expected eps > 0 (it keeps 1/√(σ² + ε) finite), got {eps!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = as_float_dtype(dtype, "LayerNorm")
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if elementwise_affine and bias else None

    def forward(self, x):
        self._check_input(x)
        rows = x.reshape(-1, math.prod(self.normalized_shape))   # every leading position a row of D values
        mean, var = rows.mean(axis=1, keepdims=True), rows.var(axis=1, keepdims=True)   # eq. (1), (2): each row's own
        self.inv_std = 1 / np.sqrt(var + self.eps)               # eq. (3), kept for backward: (M, 1)
        x_hat = (rows - mean) * self.inv_std                     # eq. (4)
        self.x_hat = x_hat.reshape(x.shape)                      # kept for backward, in the input's shape
        if self.weight is None and self.bias is None:
            return keep_output(self.x_hat)                       # y = x̂: handed out read-only
        y = x_hat * self.weight.data.reshape(-1) if self.weight is not None else x_hat.copy()   # eq. (5)
        if self.bias is not None:
            y += self.bias.data.reshape(-1)                      # eq. (5)
        return y.reshape(x.shape)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dγ, dL/dβ to .grad; return dL/dx through each sample's mean and variance."""
        x_hat, inv_std = self.x_hat, self.inv_std
        check_grad_output(self, grad_output, x_hat.shape, x_hat.dtype)
        size = math.prod(self.normalized_shape)
        G, x_hat = grad_output.reshape(-1, size), x_hat.reshape(-1, size)
        if self.weight is not None:
            self.weight.grad += np.sum(G * x_hat, axis=0).reshape(self.normalized_shape)   # eq. (7)
        if self.bias is not None:
            self.bias.grad += G.sum(axis=0).reshape(self.normalized_shape)                 # eq. (8)
        if not need_input_grad:
            return None
        d_x_hat = G if self.weight is None else G * self.weight.data.reshape(-1)          # eq. (6)
        sum_d_x_hat = d_x_hat.sum(axis=1, keepdims=True)
        sum_d_x_hat_x_hat = np.sum(d_x_hat * x_hat, axis=1, keepdims=True)
        dx = (size * d_x_hat - sum_d_x_hat - x_hat * sum_d_x_hat_x_hat) * (inv_std / size)  # eq. (12)
        return dx.reshape(grad_output.shape)

    def _check_input(self, x):
        check_float_array(self, x)
        trailing = self.normalized_shape
        if x.ndim < len(trailing) or x.shape[x.ndim - len(trailing):] != trailing:
            raise ValueError(f"{name_of(self)}: expected input of shape (*, {', '.join(map(str, trailing))}) "
                             f"(normalized_shape last, after any leading dimensions), got shape {x.shape}")
        if self.weight is not None or self.bias is not None:
            check_dtype_matches(self, x, (self.weight if self.weight is not None else self.bias).dtype)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
                + ("" if self.bias is not None or not self.elementwise_affine else ", bias=False"))


def _check_normalized_shape(normalized_shape):
    """An int or a sequence of positive ints, as a tuple: PyTorch's ``LayerNorm(8)`` and ``LayerNorm((4, 8))``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if not shape or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"LayerNorm: expected normalized_shape to be a positive integer or a non-empty sequence "
                         f"of them (the trailing shape to normalise over), got {normalized_shape!r}")
    return tuple(int(n) for n in shape)
