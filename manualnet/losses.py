"""Losses: CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss.

Each loss is a Module: ``forward(input, target)`` returns the loss and
``backward(grad_output=1.0)`` returns dL/d input.  A loss is where backward
starts: ``model.backward(criterion.backward())`` is what PyTorch's
``loss.backward()`` does.  The loss value is a NumPy scalar of the input's
dtype (``loss.item()`` works, it prints and compares as a number); calling
``loss.backward()`` on it, out of PyTorch habit, says what to write instead.

``reduction`` is 'mean' (default), 'sum' or 'none' (per-element losses; then
backward takes an upstream gradient of that shape).  Each backward line
carries the number of the equation it implements in the loss's page under
derivations/.
"""

import numbers

import numpy as np

from . import functional as F
from ._checks import check_finite, check_float_array, check_grad_output, check_plain_ndarray, name_of
from .module import Module, keep_input

REDUCTIONS = ("mean", "sum", "none")
# PyTorch divides BCE's gradient by max(p (1 − p), ε), ε being 1e-12 stored as a float32.
BCE_GRAD_EPSILON = float(np.float32(1e-12))


class _Loss(Module):
    """Shared parts: the reduction, and the upstream gradient of each element's loss."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _reduce(self, losses):
        """L = (1/M) Σ l (mean), Σ l (sum), or the array l itself (none)."""
        if self.reduction == "none":
            return losses
        total = losses.sum() if self.reduction == "sum" else _mean(losses)
        return _LOSS_VALUE_TYPES[total.dtype](total)

    def _grad_per_element(self, grad_output, losses_shape, dtype):
        """dL_total/d l for every element loss l: g/M for mean, g for sum, G for none."""
        if self.reduction == "none":
            check_grad_output(self, grad_output, losses_shape, dtype)
            return grad_output
        if isinstance(grad_output, np.ndarray) and grad_output.ndim == 0:
            grad_output = grad_output.item()
        if isinstance(grad_output, bool) or not isinstance(grad_output, numbers.Real) \
                or not np.isfinite(grad_output):
            raise ValueError(
                f"{name_of(self)}: with reduction={self.reduction!r} the loss is a scalar, so grad_output "
                f"must be a finite number (default 1.0), got {grad_output!r}"
            )
        count = int(np.prod(losses_shape)) if self.reduction == "mean" else 1
        return np.asarray(grad_output / max(count, 1), dtype=dtype)

    def extra_repr(self):
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


def _mean(losses):
    """The mean, NaN for no elements as in PyTorch (without NumPy's empty-slice warning)."""
    return losses.mean() if losses.size else losses.dtype.type(np.nan)


def _no_backward(self, *args, **kwargs):
    raise RuntimeError(
        "a manualnet loss value is a plain number, with no graph behind it to walk back; start backward "
        "at the loss module instead: model.backward(criterion.backward()) is what loss.backward() does in PyTorch"
    )


class Float32Loss(np.float32):
    """A float32 loss value: prints, compares and ``.item()``s as a number; ``.backward()`` says what to write instead."""

    backward = _no_backward


class Float64Loss(np.float64):
    """A float64 loss value: prints, compares and ``.item()``s as a number; ``.backward()`` says what to write instead."""

    backward = _no_backward


_LOSS_VALUE_TYPES = {np.dtype(np.float32): Float32Loss, np.dtype(np.float64): Float64Loss}


class CrossEntropyLoss(_Loss):
    """Softmax and negative log-likelihood in one: l_n = log Σ_c e^{z_nc} − z_{n,y_n}.

    Derivation: derivations/cross_entropy.md

    Shape: input (N, C) logits, target (N,) integer labels in [0, C) -> scalar
    (or (N,) with reduction='none').  Computed from the shifted logits
    z − max z, exact to rounding at any offset.  Backward is the fused
    gradient (softmax(z) − onehot(y)) / N: no Jacobian, no log of 0.
    """

    saved_for_backward = ("probs", "target")

    def forward(self, input, target):
        _check_logits_and_labels(self, input, target, "logits")
        shifted, self.probs, log_total = F.softmax_parts(input, axis=1)    # p, eq. (1), kept for backward
        self.target = keep_input(target)                                    # kept for backward
        losses = log_total[:, 0] - shifted[np.arange(len(target)), target]  # eq. (3)
        return self._reduce(losses)                                         # eq. (4)

    def backward(self, grad_output=1.0):
        """dL/dz = (softmax(z) − onehot(y)) · g / N for the mean."""
        probs, target = self.probs, self.target
        scale = self._grad_per_element(grad_output, target.shape, probs.dtype)
        grad = probs * (scale[:, None] if scale.ndim else scale)           # eq. (5): p · g / N
        grad[np.arange(len(target)), target] -= scale                       # eq. (5): − onehot(y) · g / N
        return grad


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities: l_n = −x_{n,y_n}.  Derivation: derivations/nll.md

    Shape: input (N, C) log-probabilities (e.g. from LogSoftmax), target (N,)
    integer labels in [0, C) -> scalar.  NLLLoss(LogSoftmax(z)) = CrossEntropyLoss(z).
    """

    saved_for_backward = ("target", "input_shape", "input_dtype")

    def forward(self, input, target):
        _check_logits_and_labels(self, input, target, "log-probabilities")
        self.target = keep_input(target)                               # kept for backward, with
        self.input_shape, self.input_dtype = input.shape, input.dtype   # the gradient's shape and dtype
        losses = -input[np.arange(len(target)), target]                # eq. (1)
        return self._reduce(losses)                                    # eq. (2)

    def backward(self, grad_output=1.0):
        """dL/dx_{n,c} = −g/N where c = y_n, 0 elsewhere."""
        target = self.target
        scale = self._grad_per_element(grad_output, target.shape, self.input_dtype)
        grad = np.zeros(self.input_shape, dtype=self.input_dtype)
        grad[np.arange(len(target)), target] = -scale                  # eq. (3)
        return grad


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: l = −[y log p + (1 − y) log(1 − p)].

    Derivation: derivations/bce.md

    Shape: input (*) probabilities in [0, 1] (e.g. from Sigmoid), target (*)
    in [0, 1] -> scalar.  As in PyTorch, each log is clamped at −100 and the
    gradient's denominator at 1e-12, so p = 0 or 1 stay finite.  Prefer
    BCEWithLogitsLoss on logits: it is exact where this one clamps.
    """

    saved_for_backward = ("p", "target")

    def forward(self, input, target):
        _check_probabilities_and_targets(self, input, target)
        self.p = keep_input(input)                                     # kept for backward
        self.target = target.astype(input.dtype)                       # a private copy, kept for backward
        return self._reduce(F.binary_cross_entropy(input, self.target))   # eq. (1), (2)

    def backward(self, grad_output=1.0):
        """dL/dp = (p − y) / max(p (1 − p), 1e-12) · g / M."""
        p, target = self.p, self.target
        scale = self._grad_per_element(grad_output, p.shape, p.dtype)
        return (p - target) / np.maximum(p * (1 - p), BCE_GRAD_EPSILON) * scale   # eq. (4)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits z, stable: l = max(z, 0) − z·y + log(1 + e^{−|z|}).

    Derivation: derivations/bce.md

    Shape: input (*) logits, target (*) in [0, 1] -> scalar.  Equal to
    BCELoss(Sigmoid(z)) but never overflows and never clamps; dL/dz = σ(z) − y.
    """

    saved_for_backward = ("z", "target")

    def forward(self, input, target):
        check_float_array(self, input)
        _check_target_like(self, target, input, unit_interval=True)
        self.z = keep_input(input)                                     # kept for backward
        self.target = target.astype(input.dtype)                       # a private copy, kept for backward
        losses = np.maximum(input, 0) - input * self.target + F.softplus_of_negative_abs(input)   # eq. (3)
        return self._reduce(losses)                                    # eq. (2)

    def backward(self, grad_output=1.0):
        """dL/dz = (σ(z) − y) · g / M."""
        z, target = self.z, self.target
        scale = self._grad_per_element(grad_output, z.shape, z.dtype)
        return (F.sigmoid(z) - target) * scale                         # eq. (5)


class MSELoss(_Loss):
    """Mean squared error: l = (x − y)².  Derivation: derivations/mse.md

    Shape: input (*), target (*) of the same shape -> scalar (the mean over
    all M elements, as in PyTorch).
    """

    saved_for_backward = ("difference",)

    def forward(self, input, target):
        check_float_array(self, input)
        _check_target_like(self, target, input)
        self.difference = input - target.astype(input.dtype, copy=False)   # kept for backward
        return self._reduce(self.difference ** 2)                      # eq. (1), (2)

    def backward(self, grad_output=1.0):
        """dL/dx = 2 (x − y) · g / M."""
        difference = self.difference
        scale = self._grad_per_element(grad_output, difference.shape, difference.dtype)
        return difference * (2 * scale)              # eq. (3); 2·g/M first, so 2(x − y) cannot overflow


# -- checks -------------------------------------------------------------------

def _check_logits_and_labels(owner, input, target, what):
    """An (N, C) float input and integer labels of shape (N,) in [0, C)."""
    check_float_array(owner, input)
    if input.ndim != 2:
        raise ValueError(f"{name_of(owner)}: expected input of shape (N, C) of {what}, "
                         f"got shape {input.shape} ({input.ndim}-D)")
    check_plain_ndarray(owner, target, "target")
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{name_of(owner)}: expected integer class labels (int64), got dtype {target.dtype}; "
            "for one-hot targets pass target.argmax(axis=1)"
        )
    batch, classes = input.shape
    if target.shape != (batch,):
        raise ValueError(
            f"{name_of(owner)}: expected target of shape ({batch},) to match the batch size of input "
            f"{input.shape}, got {target.shape}"
        )
    if batch and (target.min() < 0 or target.max() >= classes):
        bad = target[(target < 0) | (target >= classes)][0]
        raise ValueError(
            f"{name_of(owner)}: class labels must be in [0, {classes - 1}] for {classes} classes, "
            f"got {bad} (labels range from {target.min()} to {target.max()})"
        )


def _check_target_like(owner, target, x, unit_interval=False):
    """A finite real-valued target of the input's shape (in [0, 1] for the BCE losses)."""
    check_plain_ndarray(owner, target, "target")
    if target.dtype.kind not in "fiub":
        raise TypeError(f"{name_of(owner)}: expected a numeric target, got dtype {target.dtype}")
    if target.shape != x.shape:
        raise ValueError(f"{name_of(owner)}: expected target of shape {x.shape} (the shape of input), "
                         f"got shape {target.shape}")
    if target.dtype.kind == "f":
        check_finite(owner, target, "target")
    if unit_interval and target.size and (target.min() < 0 or target.max() > 1):
        raise ValueError(
            f"{name_of(owner)}: expected target values in [0, 1], got values from {target.min()} to {target.max()}"
        )


def _check_probabilities_and_targets(owner, p, target):
    check_float_array(owner, p)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(
            f"{name_of(owner)}: expected probabilities in [0, 1], got values from {p.min()} to "
            f"{p.max()}; apply Sigmoid first, or use BCEWithLogitsLoss on the logits"
        )
    _check_target_like(owner, target, p, unit_interval=True)
