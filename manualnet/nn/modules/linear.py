"""Linear: the affine map y = x Wᵀ + b, as ``torch/nn/modules/linear.py``.

Each backward line carries the number of the equation it implements in
derivations/linear.md.
"""

import math

import numpy as np

from manualnet._checks import (as_float_dtype, check_device, check_dtype_matches, check_float_array,
                               check_grad_output, check_positive_int)
from manualnet._rng import as_generator
from manualnet._threads import threads_for
from manualnet.nn import init
from manualnet.nn._version_counter import check_versions, versions
from manualnet.nn.parameter import Parameter

from .module import Module, keep_input


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

    saved_for_backward = ("x", "versions")
    backward_reads = ("weight",)                     # for dL/dx: backward checks it is still at forward's version

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
        self.versions = versions(self)               # of W, which backward reads again
        # Every leading position is a row: (*, in) as (M, in), one matrix product.
        rows = x.reshape(-1, self.in_features)
        threads_for(rows.shape[0] * self.weight.size)    # BLAS threads by the product's size (_threads.py)
        y = rows @ self.weight.data.T                # eq. (1), (5)
        if self.bias is not None:
            y += self.bias.data                      # eq. (1)
        return y.reshape(x.shape[:-1] + (self.out_features,))

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        x = self.x
        check_versions(self, self.versions)
        check_grad_output(self, grad_output, x.shape[:-1] + (self.out_features,), x.dtype)
        G = grad_output.reshape(-1, self.out_features)                  # each leading position is a row, eq. (5)
        threads_for(G.shape[0] * self.weight.size)                      # each product below is this size
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
