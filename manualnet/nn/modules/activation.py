"""Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax.

None has parameters, so backward only turns G = dL/dy into dL/dx.  Every
layer accepts any input shape, 0-d arrays included, as PyTorch does, and
keeps its dtype.  A layer that keeps its output for backward
hands it out read-only (``keep_output``): ``y *= 2`` would change what
backward reads.  ``inplace=True`` (ReLU, LeakyReLU) is accepted so PyTorch
code runs unchanged, and changes nothing: a layer here never overwrites its
input, because backward may read it.  Each backward line carries the
number of the equation it implements in the layer's page under derivations/.
"""

import numpy as np

from manualnet._numerics import sigmoid, softmax, softmax_parts
from manualnet._checks import check_float_array, check_grad_output, check_real
from manualnet.nn.modules.module import Module, as_ndarray, keep_input, keep_output


class ReLU(Module):
    """y = max(x, 0), element-wise.  Derivation: derivations/relu.md

    Shape: x (*) -> y (*), the same shape.  At the kink x = 0 the gradient
    is taken as 0, as in PyTorch.  Backward reads the mask from the kept
    output: y > 0 exactly where x > 0.
    """

    saved_for_backward = ("y",)

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = bool(inplace)                 # accepted, changes nothing (module docstring)

    def forward(self, x):
        check_float_array(self, x)
        # Against an array of zeros, not the number 0: NumPy 2 runs np.maximum(x, 0) on
        # large arrays about twice as slowly (benchmarks/README.md, "Element-wise layers").
        zeros = np.zeros_like(x)
        self.y = keep_output(np.maximum(x, zeros, out=zeros))     # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ 1[x > 0]."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output * (y > 0))     # eq. (4)


class LeakyReLU(Module):
    """y = x for x > 0, a·x otherwise (a = negative_slope).  Derivation: derivations/relu.md

    Shape: x (*) -> y (*).  At x = 0 the gradient is taken as a, as in
    PyTorch.  Backward needs the side of the kink each x was on, so forward
    keeps x (the sign of y would not tell it for a < 0).
    """

    saved_for_backward = ("x",)

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = check_real("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = bool(inplace)                 # accepted, changes nothing (module docstring)

    def forward(self, x):
        check_float_array(self, x)
        self.x = keep_input(x)                       # kept for backward
        return as_ndarray(np.maximum(x, 0) + self.negative_slope * np.minimum(x, 0))   # eq. (2)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G where x > 0, a·G elsewhere."""
        x = self.x
        check_grad_output(self, grad_output, x.shape, x.dtype)
        if not need_input_grad:
            return None
        positive = x > 0
        return as_ndarray(grad_output * positive + (self.negative_slope * grad_output) * ~positive)   # eq. (6)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e^{−x}), element-wise.  Derivation: derivations/sigmoid.md

    Shape: x (*) -> y (*).  Computed without overflow for any |x| (see
    ``functional.sigmoid``); backward uses the kept output: σ' = y (1 − y).
    """

    saved_for_backward = ("y",)

    def forward(self, x):
        check_float_array(self, x)
        self.y = keep_output(sigmoid(x))           # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ y ⊙ (1 − y)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output * y * (1 - y))     # eq. (3)


class Tanh(Module):
    """y = tanh(x), element-wise.  Derivation: derivations/tanh.md

    Shape: x (*) -> y (*).  Backward uses the kept output: tanh' = 1 − y².
    """

    saved_for_backward = ("y",)

    def forward(self, x):
        check_float_array(self, x)
        self.y = keep_output(np.tanh(x))             # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ (1 − y²)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output * (1 - y * y))     # eq. (3)


class Softmax(Module):
    """y_i = e^{x_i} / Σ_j e^{x_j} along ``dim``.  Derivation: derivations/softmax.md

    Shape: x (*) -> y (*), entries in [0, 1] summing to 1 along ``dim`` (any
    axis; a 0-d x gives y = 1).  Backward applies the Jacobian diag(y) − y yᵀ
    to G without building it.

    ``dim=None`` is PyTorch's default, with its implicit choice: the only axis
    of a 1-D input and dim 1 of a 2-D one — the last axis either way, here
    too.  For 3 or more dimensions PyTorch picks dim 0 for 3-D and dim 1
    otherwise (a deprecated rule that normalises over the batch of an
    (N, T, C) input); manualnet refuses those and asks for ``dim``.
    """

    saved_for_backward = ("y",)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim(type(self).__name__, dim)

    def forward(self, x):
        axis = _check_input_along_dim(self, x)
        self.y = keep_output(softmax(x, axis=axis))        # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = y ⊙ (G − Σ_j G_j y_j)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        weighted_sum = np.sum(grad_output * y, axis=_softmax_axis(self, y.shape), keepdims=True)
        return as_ndarray(y * (grad_output - weighted_sum))      # eq. (4)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y_i = x_i − log Σ_j e^{x_j} along ``dim``.  Derivation: derivations/softmax.md

    Shape: x (*) -> y (*) (any axis; a 0-d x gives y = 0).  Computed from the
    shifted logits x − max x, so it is exact to rounding at any offset
    (logits of 1e8 included) and never takes the log of an underflowed
    softmax.  Backward needs p = softmax(x), which forward keeps, computed
    from the same shifted logits.  ``dim=None`` as in Softmax.
    """

    saved_for_backward = ("probs",)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim(type(self).__name__, dim)

    def forward(self, x):
        axis = _check_input_along_dim(self, x)
        shifted, self.probs, log_total = softmax_parts(x, axis=axis)   # p = e^y, eq. (5), kept for backward
        return as_ndarray(shifted - log_total)                       # eq. (2)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G − p ⊙ Σ_j G_j, with p = softmax(x)."""
        p = self.probs
        check_grad_output(self, grad_output, p.shape, p.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output - p * np.sum(grad_output, axis=_softmax_axis(self, p.shape), keepdims=True))   # eq. (6)

    def extra_repr(self):
        return f"dim={self.dim}"


# -- checks -------------------------------------------------------------------

def _check_dim(owner, dim):
    if dim is None:
        return None
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{owner}: expected an integer dim (or None), got {dim!r}")
    return int(dim)


def _check_input_along_dim(layer, x):
    """A float array (any shape, 0-d included); return the axis to normalise along."""
    check_float_array(layer, x)
    return _softmax_axis(layer, x.shape)


def _softmax_axis(layer, shape):
    """The axis Softmax/LogSoftmax normalise along for an input of ``shape``: ``layer.dim``, or PyTorch's implicit one.

    A 0-d input counts as one axis (dim 0 or −1, as in PyTorch) and gives
    axis=None, which NumPy's reductions read as "the whole 0-d array".
    """
    ndim, dim = len(shape), layer.dim
    if dim is None:
        if ndim >= 3:
            raise ValueError(
                f"{layer.describe()}: dim=None on a {ndim}-D input of shape {shape}: PyTorch's implicit choice "
                f"would be dim {0 if ndim == 3 else 1} (a deprecated rule: dim 0 of a 3-D input is its batch); "
                f"say which axis holds the classes, e.g. {type(layer).__name__}(dim=-1)"
            )
        dim = -1                                 # PyTorch's implicit dim for 0-, 1- and 2-D inputs is the last axis
    axes = max(ndim, 1)
    if not -axes <= dim < axes:
        raise ValueError(
            f"{layer.describe()}: dim {dim} is out of range for an input of shape "
            f"{shape} ({ndim}-D); expected dim in [{-axes}, {axes - 1}]"
        )
    return dim if ndim else None
