"""Losses: CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss.

Each loss is a Module: ``forward(input, target)`` returns the loss (a NumPy
scalar of the input's dtype, so ``loss.item()`` works as in PyTorch) and
``backward(grad_output=1.0)`` returns dL/d input.  A loss is where backward
starts: ``model.backward(criterion.backward())`` is what PyTorch's
``loss.backward()`` does.

``reduction`` is 'mean' (default), 'sum' or 'none' (per-element losses; then
backward takes an upstream gradient of that shape).  Each backward line
carries the number of the equation it implements in the loss's page under
derivations/.
"""

import numbers

import numpy as np

from . import functional as F
from ._checks import check_float_array, check_grad_output, check_ndim, check_shape, name_of
from .module import Module

REDUCTIONS = ("mean", "sum", "none")
BCE_LOG_FLOOR = -100.0     # PyTorch clamps log(p) at −100 so p = 0 gives a finite loss
# ... and divides by max(p (1 − p), ε) in the gradient, ε being 1e-12 stored as a float32.
BCE_GRAD_EPSILON = float(np.float32(1e-12))


class _Loss(Module):
    """Shared parts: the reduction and the upstream gradient of each element's loss."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _reduce(self, losses):
        """L = (1/M) Σ l (mean), Σ l (sum), or the array l itself (none)."""
        if self.reduction == "mean":
            return losses.mean()
        if self.reduction == "sum":
            return losses.sum()
        return losses

    def _grad_per_element(self, grad_output, losses_shape, dtype):
        """dL_total/d l for every element loss l: g/M for mean, g for sum, G for none."""
        owner = self
        if self.reduction == "none":
            check_grad_output(owner, np.asarray(grad_output), losses_shape, dtype)
            return np.asarray(grad_output)
        if isinstance(grad_output, np.ndarray) and grad_output.ndim == 0:
            grad_output = grad_output.item()
        if isinstance(grad_output, bool) or not isinstance(grad_output, numbers.Real) \
                or not np.isfinite(grad_output):
            raise ValueError(
                f"{name_of(owner)}: with reduction={self.reduction!r} the loss is a scalar, so grad_output "
                f"must be a finite number (default 1.0), got {grad_output!r}"
            )
        count = int(np.prod(losses_shape)) if self.reduction == "mean" else 1
        return np.asarray(grad_output / max(count, 1), dtype=dtype)

    def extra_repr(self):
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


def _check_class_targets(owner, target, logits):
    """Integer labels of shape (N,) in [0, C) for an (N, C) input."""
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{name_of(owner)}: expected target to be a numpy.ndarray of class labels, got {type(target).__name__}")
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{name_of(owner)}: expected integer class labels (int64), got dtype {target.dtype}; "
            "for one-hot targets pass target.argmax(axis=1)"
        )
    batch, classes = logits.shape
    if target.shape != (batch,):
        raise ValueError(
            f"{name_of(owner)}: expected target of shape ({batch},) to match the batch size of input "
            f"{logits.shape}, got {target.shape}"
        )
    if batch and (target.min() < 0 or target.max() >= classes):
        bad = target[(target < 0) | (target >= classes)][0]
        raise ValueError(
            f"{name_of(owner)}: class labels must be in [0, {classes - 1}] for {classes} classes, "
            f"got {bad} (labels range from {target.min()} to {target.max()})"
        )


def _check_input_2d(owner, x, what):
    check_float_array(owner, x)
    check_ndim(owner, x, (2,), f"(N, C) of {what}")


def _check_target_like(owner, target, x, unit_interval=False):
    """A real-valued target of the input's shape (in [0, 1] for the BCE losses), cast to its dtype."""
    if not isinstance(target, np.ndarray) or target.dtype.kind not in "fiub":
        raise TypeError(f"{name_of(owner)}: expected target to be a numeric numpy.ndarray, got {type(target).__name__}")
    check_shape(owner, target, x.shape, "target", hint=" (the shape of input)")
    target = target.astype(x.dtype, copy=False)
    check_float_array(owner, target, "target")
    if unit_interval and target.size and (target.min() < 0 or target.max() > 1):
        raise ValueError(
            f"{name_of(owner)}: expected target values in [0, 1], got values from {target.min()} to {target.max()}"
        )
    return target


class CrossEntropyLoss(_Loss):
    """Softmax and negative log-likelihood in one: l_n = log Σ_c e^{z_nc} − z_{n,y_n}.

    Derivation: derivations/cross_entropy.md

    Shape: input (N, C) logits, target (N,) integer labels in [0, C) -> scalar
    (or (N,) with reduction='none').  Backward is the fused gradient
    (softmax(z) − onehot(y)) / N: no Jacobian, no log of 0.
    """

    def forward(self, input, target):
        owner = self
        _check_input_2d(owner, input, "logits")
        _check_class_targets(owner, target, input)
        shift = input.max(axis=1, keepdims=True)                      # log-sum-exp: exponents <= 0
        exponentials = np.exp(input - shift)
        total = exponentials.sum(axis=1, keepdims=True)
        self.probs = exponentials / total                              # eq. (1), kept for backward
        self.target = target
        log_sum_exp = (shift + np.log(total))[:, 0]
        losses = log_sum_exp - input[np.arange(len(target)), target]   # eq. (3)
        return self._reduce(losses)                                    # eq. (4)

    def backward(self, grad_output=1.0):
        """dL/dz = (softmax(z) − onehot(y)) · g / N for the mean."""
        probs = self._saved("probs")
        scale = self._grad_per_element(grad_output, self.target.shape, probs.dtype)
        grad = probs * (scale[:, None] if scale.ndim else scale)      # eq. (5): p · g / N
        grad[np.arange(len(self.target)), self.target] -= scale        # eq. (5): − onehot(y) · g / N
        return grad


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities: l_n = −x_{n,y_n}.  Derivation: derivations/nll.md

    Shape: input (N, C) log-probabilities (e.g. from LogSoftmax), target (N,)
    integer labels in [0, C) -> scalar.  NLLLoss(LogSoftmax(z)) = CrossEntropyLoss(z).
    """

    def forward(self, input, target):
        owner = self
        _check_input_2d(owner, input, "log-probabilities")
        _check_class_targets(owner, target, input)
        self.input_shape, self.input_dtype, self.target = input.shape, input.dtype, target
        losses = -input[np.arange(len(target)), target]                # eq. (1)
        return self._reduce(losses)                                    # eq. (2)

    def backward(self, grad_output=1.0):
        """dL/dx_{n,c} = −g/N where c = y_n, 0 elsewhere."""
        target = self._saved("target")
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

    def forward(self, input, target):
        owner = self
        check_float_array(owner, input)
        if input.size and (input.min() < 0 or input.max() > 1):
            raise ValueError(
                f"{name_of(owner)}: expected probabilities in [0, 1], got values from {input.min()} to "
                f"{input.max()}; apply Sigmoid first, or use BCEWithLogitsLoss on the logits"
            )
        target = _check_target_like(owner, target, input, unit_interval=True)
        self.p, self.target = input, target
        with np.errstate(divide="ignore"):                             # log(0) = −inf, then clamped
            log_p = np.maximum(np.log(input), BCE_LOG_FLOOR)
            log_1mp = np.maximum(np.log1p(-input), BCE_LOG_FLOOR)
        losses = -(target * log_p + (1 - target) * log_1mp)            # eq. (1)
        return self._reduce(losses)                                    # eq. (2)

    def backward(self, grad_output=1.0):
        """dL/dp = (p − y) / max(p (1 − p), 1e-12) · g / M."""
        p = self._saved("p")
        scale = self._grad_per_element(grad_output, p.shape, p.dtype)
        return (p - self.target) / np.maximum(p * (1 - p), BCE_GRAD_EPSILON) * scale   # eq. (4)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits z, stable: l = max(z, 0) − z·y + log(1 + e^{−|z|}).

    Derivation: derivations/bce.md

    Shape: input (*) logits, target (*) in [0, 1] -> scalar.  Equal to
    BCELoss(Sigmoid(z)) but never overflows and never clamps; dL/dz = σ(z) − y.
    """

    def forward(self, input, target):
        owner = self
        check_float_array(owner, input)
        target = _check_target_like(owner, target, input, unit_interval=True)
        self.z, self.target = input, target
        losses = np.maximum(input, 0) - input * target + F.softplus_of_negative_abs(input)   # eq. (3)
        return self._reduce(losses)                                    # eq. (2)

    def backward(self, grad_output=1.0):
        """dL/dz = (σ(z) − y) · g / M."""
        z = self._saved("z")
        scale = self._grad_per_element(grad_output, z.shape, z.dtype)
        return (F.sigmoid(z) - self.target) * scale                    # eq. (5)


class MSELoss(_Loss):
    """Mean squared error: l = (x − y)².  Derivation: derivations/mse.md

    Shape: input (*), target (*) of the same shape -> scalar (the mean over
    all M elements, as in PyTorch).
    """

    def forward(self, input, target):
        owner = self
        check_float_array(owner, input)
        target = _check_target_like(owner, target, input)
        self.difference = input - target
        return self._reduce(self.difference ** 2)                      # eq. (1), (2)

    def backward(self, grad_output=1.0):
        """dL/dx = 2 (x − y) · g / M."""
        difference = self._saved("difference")
        scale = self._grad_per_element(grad_output, difference.shape, difference.dtype)
        return 2 * difference * scale                                  # eq. (3)
