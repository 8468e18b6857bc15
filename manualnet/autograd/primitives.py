"""The operations no manualnet layer has, each with its derivative right beside it.

+ − × ÷ @ ** and negation, sum and mean, reshape, transpose, indexing,
exp and log.  Each class is named as PyTorch names the node it records
(``MulBackward0``), works on NumPy arrays, keeps in ``saved`` what its
backward reads, and tags each backward line with its equation.  The
Tensor methods in ``tensor.py`` record them; everything with a layer
(linear, relu, the losses, ...) is in ``functional.py`` and calls the
layer's own backward instead.

Derivation: derivations/autograd.md
"""

import numpy as np

from .engine import Node


def unbroadcast(grad, shape):
    """Sum G over the axes broadcasting added or stretched, so it gets ``shape`` back, eq. (16).

    Forward's broadcasting copies each entry of an input to many places; the
    chain rule adds up the gradients of all the copies.
    """
    added = grad.ndim - len(shape)
    if added:
        grad = grad.sum(axis=tuple(range(added)))                      # eq. (16): leading axes added
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)                 # eq. (16): size-1 axes stretched
    return grad


class AddBackward0(Node):
    """z = a + b (broadcast): dL/da = Σ G, dL/db = Σ G over the broadcast axes."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = np.shape(a), np.shape(b)
        return a + b                                                   # eq. (2)

    def backward(self, grad):
        return unbroadcast(grad, self.a_shape), unbroadcast(grad, self.b_shape)   # eq. (17)


class SubBackward0(Node):
    """z = a − b (broadcast): dL/da = Σ G, dL/db = −Σ G."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = np.shape(a), np.shape(b)
        return a - b                                                   # eq. (3)

    def backward(self, grad):
        return unbroadcast(grad, self.a_shape), unbroadcast(-grad, self.b_shape)  # eq. (18)


class MulBackward0(Node):
    """z = a ⊙ b (broadcast): dL/da = Σ G ⊙ b, dL/db = Σ G ⊙ a."""

    saved = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b                                                   # eq. (4)

    def backward(self, grad):
        a, b = self.a, self.b
        da = unbroadcast(grad * b, a.shape) if self.needs_input_grad[0] else None   # eq. (19)
        db = unbroadcast(grad * a, b.shape) if self.needs_input_grad[1] else None   # eq. (19)
        return da, db


class DivBackward0(Node):
    """z = a / b (broadcast): dL/da = Σ G / b, dL/db = −Σ G ⊙ a / b²."""

    saved = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b                                                   # eq. (5)

    def backward(self, grad):
        a, b = self.a, self.b
        da = unbroadcast(grad / b, a.shape) if self.needs_input_grad[0] else None           # eq. (20)
        db = unbroadcast(-grad * a / (b * b), b.shape) if self.needs_input_grad[1] else None  # eq. (20)
        return da, db


class PowBackward0(Node):
    """z = aᵖ for a number p: dL/da = G ⊙ p aᵖ⁻¹."""

    saved = ("a",)

    def __init__(self, exponent):
        super().__init__()
        self.exponent = exponent

    def forward(self, a):
        self.a = a
        return a ** self.exponent                                      # eq. (6)

    def backward(self, grad):
        p = self.exponent
        if p == 0:                     # a⁰ = 1 is flat everywhere, a = 0 too, where p·aᵖ⁻¹ would be 0·∞ = NaN
            return (np.zeros_like(grad),)
        return (grad * (p * self.a ** (p - 1)),)                       # eq. (21)


class NegBackward0(Node):
    """z = −a: dL/da = −G."""

    def forward(self, a):
        return -a                                                      # eq. (7)

    def backward(self, grad):
        return (-grad,)                                                # eq. (22)


class MatmulBackward(Node):
    """Z = A B for 1-D and 2-D A, B: dL/dA = G Bᵀ, dL/dB = Aᵀ G.

    PyTorch names the node after the case: ``MmBackward0`` (matrix times
    matrix), ``MvBackward0`` (matrix times vector), ``DotBackward0`` (two
    vectors).  A vector is treated as a one-row (on the left) or one-column
    (on the right) matrix, so one pair of formulas serves all cases.
    """

    saved = ("a", "b")
    NAMES = {(2, 2): "MmBackward0", (2, 1): "MvBackward0", (1, 1): "DotBackward0", (1, 2): "MmBackward0"}

    def forward(self, a, b):
        self.a, self.b = a, b
        self.node_name = self.NAMES[a.ndim, b.ndim]
        return a @ b                                                   # eq. (8)

    def backward(self, grad):
        a, b = self.a, self.b
        a_matrix = a.reshape(-1, a.shape[-1])                          # (1, k) for a vector
        b_matrix = b.reshape(b.shape[0], -1)                           # (k, 1) for a vector
        g_matrix = grad.reshape(a_matrix.shape[0], b_matrix.shape[1])
        da = (g_matrix @ b_matrix.T).reshape(a.shape) if self.needs_input_grad[0] else None   # eq. (23)
        db = (a_matrix.T @ g_matrix).reshape(b.shape) if self.needs_input_grad[1] else None   # eq. (23)
        return da, db


def reduction_dims(what, shape, dim, keepdim, axis, keepdims):
    """``sum``/``mean``'s arguments as (the sorted axes, or None for all; keepdim); ``axis``/``keepdims`` are NumPy's names."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{what}: give dim or axis (its NumPy name), not both")
        dim = axis
    keepdim = keepdim if keepdims is None else keepdims
    if dim is None:
        return None, bool(keepdim)
    ndim = len(shape)
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not all(isinstance(d, (int, np.integer)) and -ndim <= d < ndim for d in dims):
        raise ValueError(f"{what}: dim {dim!r} is out of range for a tensor of shape {shape}")
    return tuple(sorted(int(d) % ndim for d in dims)), bool(keepdim)


class _Reduction(Node):
    """Shared by sum and mean: which axes are reduced, and G's shape with them kept as size 1."""

    def __init__(self, axes, keepdims):
        super().__init__()
        self.axes, self.keepdims = axes, keepdims
        # PyTorch: ...Backward0 for a reduction over everything, ...Backward1 along given dims.
        self.node_name = f"{self.base_name}Backward{0 if axes is None else 1}"

    def _spread(self, grad, shape):
        """G, with the reduced axes put back as size 1, broadcast over x's shape (a read-only view)."""
        if not self.keepdims:
            axes = range(len(shape)) if self.axes is None else self.axes
            grad = np.expand_dims(grad, tuple(axes))
        return np.broadcast_to(grad, shape)


class SumBackward(_Reduction):
    """s = Σ x over ``axes``: every x that was summed gets G, dL/dx = G spread back over x."""

    base_name = "Sum"

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)           # eq. (9)

    def backward(self, grad):
        return (self._spread(grad, self.x_shape),)                     # eq. (24)


class MeanBackward(_Reduction):
    """m = (1/K) Σ x over ``axes`` (K summed entries each): dL/dx = G/K spread back over x."""

    base_name = "Mean"

    def forward(self, x):
        self.x_shape = x.shape
        result = x.mean(axis=self.axes, keepdims=self.keepdims)        # eq. (10)
        self.count = x.size // max(np.size(result), 1)
        return result

    def backward(self, grad):
        return (self._spread(grad / self.count, self.x_shape),)        # eq. (25)


class ViewBackward0(Node):
    """y = x reshaped (the same entries, in the same order): dL/dx = G reshaped back."""

    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)                                   # eq. (11)

    def backward(self, grad):
        return (grad.reshape(self.x_shape),)                           # eq. (26)


class PermuteBackward0(Node):
    """y = x with its axes permuted (``.T``, ``transpose``): dL/dx = G with the inverse permutation."""

    def __init__(self, axes, name="PermuteBackward0"):
        super().__init__()
        self.axes, self.node_name = tuple(axes), name

    def forward(self, x):
        return x.transpose(self.axes)                                  # eq. (12)

    def backward(self, grad):
        return (grad.transpose(np.argsort(self.axes)),)                # eq. (27)


class IndexBackward(Node):
    """y = x[index]: dL/dx scatters G back with np.add.at, so an entry picked twice gets both.

    ``grad_x[index] += G`` would be wrong for fancy indices with repeats:
    NumPy's buffered assignment keeps only the last of the repeated writes.
    PyTorch names the node after the index: SelectBackward0 for integers,
    SliceBackward0 for slices, IndexBackward0 for arrays.
    """

    def __init__(self, index):
        super().__init__()
        self.index = index
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(part, (np.ndarray, list, bool, np.bool_)) for part in parts):
            self.node_name = "IndexBackward0"
        elif all(isinstance(part, (int, np.integer)) for part in parts):
            self.node_name = "SelectBackward0"
        else:
            self.node_name = "SliceBackward0"

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return x[self.index]                                           # eq. (13)

    def backward(self, grad):
        dx = np.zeros(self.x_shape, dtype=self.x_dtype)
        np.add.at(dx, self.index, grad)                                # eq. (28)
        return (dx,)


class ExpBackward0(Node):
    """y = eˣ: dL/dx = G ⊙ y (the exponential is its own derivative)."""

    saved = ("y",)

    def forward(self, x):
        self.y = np.exp(x)                                             # eq. (14)
        return self.y

    def backward(self, grad):
        return (grad * self.y,)                                        # eq. (29)


class LogBackward0(Node):
    """y = log x: dL/dx = G / x."""

    saved = ("x",)

    def forward(self, x):
        self.x = x
        return np.log(x)                                               # eq. (15)

    def backward(self, grad):
        return (grad / self.x,)                                        # eq. (30)
