"""The study notes' hand-written LogisticRegression (forward, sigmoid, backward(x, yhat, y), optimize), made correct.

Derivation: derivations/logistic_regression.md
"""

import numbers

import numpy as np

from manualnet import _numerics
from manualnet._checks import (as_float_dtype, check_dtype_matches, check_float_array, check_learning_rate,
                               check_plain_ndarray, check_shape, name_of)
from manualnet.nn.modules.module import Module
from manualnet.nn.parameter import Parameter


class LogisticRegression(Module):
    """ŷ = σ(x w + b), trained on the mean binary cross-entropy.  Derivation: derivations/logistic_regression.md

    Shape: x (N, dim) -> ŷ (N,) probabilities; w (dim,), b () — one row per
    sample, where the notes put samples in columns (``w.T @ x``).

    A whole model, loss included: ``backward(x, yhat, y)`` OVERWRITES each
    parameter's ``.grad`` with the full gradient of the mean BCE, as the notes'
    model does, and ``optimize()`` steps with the model's own ``lr``.  The
    notes' bugs, fixed: ``super(LR, self)`` named a class that does not exist;
    ``(1/x.shape[1])(torch.sum(...))`` called a float; ``self.w = self.w - ...``
    rebound the name instead of updating in place; and its forward
    ``z = torch.mm(self.w.T, x)`` never added ``b``, so b was trained but
    never used (here z = x w + b).
    """

    def __init__(self, dim, lr=0.01, dtype=np.float32):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"LogisticRegression: expected dim to be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.lr = check_learning_rate("LogisticRegression", lr)
        dtype = as_float_dtype(dtype, "LogisticRegression")
        self.w = Parameter(np.zeros(self.dim, dtype=dtype))
        self.b = Parameter(np.zeros((), dtype=dtype))

    def forward(self, x):
        self._check_x(x)
        z = x @ self.w.data + self.b.data            # eq. (1)
        return self.sigmoid(z)                       # eq. (2)

    def sigmoid(self, z):
        """σ(z) = 1 / (1 + e^{−z}), without overflow for large |z|."""
        return _numerics.sigmoid(z)

    def loss(self, yhat, y):
        """Mean binary cross-entropy −(1/N) Σ [y log ŷ + (1 − y) log(1 − ŷ)], logs clamped at −100."""
        y = self._check_targets(yhat, y)
        return np.mean(_numerics.binary_cross_entropy(yhat, y))   # eq. (3)

    def backward(self, x, yhat, y):
        """Store dL/dw = xᵀ(ŷ − y)/N and dL/db = mean(ŷ − y) in ``w.grad`` and ``b.grad``."""
        self._check_x(x)
        y = self._check_targets(yhat, y)
        if len(yhat) != len(x):
            raise ValueError(f"{self.describe()}: x has {len(x)} rows but yhat has {len(yhat)}")
        residual = yhat - y                          # eq. (4): dL/dz = (ŷ − y) / N
        self.w.grad[...] = x.T @ residual / len(x)   # eq. (5)
        self.b.grad[...] = residual.mean()           # eq. (6)

    def optimize(self, lr=None):
        """w -= lr · dL/dw and b -= lr · dL/db, in place, with the model's own lr by default."""
        super().optimize(self.lr if lr is None else lr)

    def predict(self, x, threshold=0.5):
        """Class labels (int64): 1 where ŷ >= threshold, else 0."""
        return (self.forward(x) >= threshold).astype(np.int64)

    def _check_x(self, x):
        check_float_array(self, x, "x")
        check_shape(self, x, (None, self.dim), "x")
        check_dtype_matches(self, x, self.w.dtype, "x")

    def _check_targets(self, yhat, y):
        check_float_array(self, yhat, "yhat")
        check_shape(self, yhat, (None,), "yhat")
        check_plain_ndarray(self, y, "y")
        if y.dtype.kind not in "fiub":
            raise TypeError(f"{name_of(self)}: expected y to be a numeric array of 0/1 labels, got dtype {y.dtype}")
        check_shape(self, y, yhat.shape, "y", hint=" (the shape of yhat)")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{name_of(self)}: expected labels y in [0, 1], got values from {y.min()} to {y.max()}")
        return y.astype(yhat.dtype, copy=False)

    def extra_repr(self):
        return f"dim={self.dim}, lr={self.lr}"
