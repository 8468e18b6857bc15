"""Losses: CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss.

Each loss is a Module: ``forward(input, target)`` returns the loss and
``backward(grad_output=1.0)`` returns dL/d input.  A loss is where backward
starts: ``model.backward(criterion.backward())`` is what PyTorch's
``loss.backward()`` does.  The loss value is a NumPy scalar of the input's
dtype (``loss.item()`` works, it prints and compares as a number); calling
``loss.backward()`` on it, out of PyTorch habit, says what to write instead.

``reduction`` is 'mean' (default), 'sum' or 'none' (per-element losses; then
backward takes an upstream gradient of that shape).  Every constructor takes
PyTorch's arguments in PyTorch's order: ``weight``, ``ignore_index``,
``label_smoothing`` and ``pos_weight`` where PyTorch has them; the
deprecated ``size_average`` and ``reduce`` are refused by name with the
``reduction`` to write instead.  ``weight`` and ``pos_weight`` are constant
arrays (buffers in the state dict, as in PyTorch), used in the input's dtype.
Each backward line carries the number of the equation it implements in the
loss's page under derivations/.
"""

import math
import numbers

import numpy as np

from manualnet._numerics import binary_cross_entropy, sigmoid, softmax_parts, softplus_of_negative_abs
from manualnet._checks import check_float_array, check_grad_output, name_of
from ._loss_checks import (REDUCTIONS, class_axis, check_class_input, check_target_like, check_probabilities_and_targets, check_ignore_index, check_label_smoothing, check_constant_array, format_constant, refuse_legacy_reduction)
from .module import Module, as_ndarray, keep_input

# PyTorch divides BCE's gradient by max(p (1 − p), ε), ε being 1e-12 stored as a float32.
BCE_GRAD_EPSILON = float(np.float32(1e-12))


class _Loss(Module):
    """Shared parts: the reduction, and the upstream gradient of each element's loss."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        refuse_legacy_reduction(type(self).__name__, size_average, reduce)
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _reduce(self, losses, total=None):
        """L = Σ l / total for the mean (total: the number of losses M unless given), Σ l, or l itself."""
        if self.reduction == "none":
            return as_ndarray(losses)
        if self.reduction == "sum":
            value = losses.sum()
        elif total is None:
            value = _mean(losses)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):   # 0/0 = nan when no position counts, as in PyTorch
                value = losses.sum() / total
        return _LOSS_VALUE_TYPES[value.dtype](value)

    def _grad_per_element(self, grad_output, losses_shape, dtype, total=None):
        """dL_total/d l for every element loss l: g/total for mean (total defaults to M), g for sum, G for none."""
        if self.reduction == "none" and (losses_shape or isinstance(grad_output, np.ndarray)):
            check_grad_output(self, grad_output, losses_shape, dtype)
            return grad_output
        if isinstance(grad_output, np.ndarray) and grad_output.ndim == 0:
            grad_output = grad_output.item()
        if isinstance(grad_output, bool) or not isinstance(grad_output, numbers.Real) \
                or not math.isfinite(grad_output):
            raise ValueError(
                f"{name_of(self)}: with reduction={self.reduction!r} the loss is a scalar, so grad_output "
                f"must be a finite number (default 1.0), got {grad_output!r}"
            )
        if self.reduction != "mean":                  # sum, or none of one sample: a 0-d loss
            return np.asarray(grad_output, dtype=dtype)
        if total is None:
            return np.asarray(grad_output / max(math.prod(losses_shape), 1), dtype=dtype)
        with np.errstate(divide="ignore"):             # a total of 0: inf, used only where nothing is kept
            return np.asarray(np.divide(grad_output, total), dtype=dtype)

    def extra_repr(self):
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class _WeightedLoss(_Loss):
    """A loss with an optional constant ``weight`` array, kept as a buffer named as in PyTorch."""

    weight_per_class = False        # CrossEntropyLoss, NLLLoss: one weight per class, shape (C,)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self._keep_constant("weight", weight, first_positional=True)
        # A weight array has a dtype of its own, which the input must share (PyTorch's rule for one weight
        # per class); numbers in a list take the input's.
        self.weight_dtype_given = self.weight_per_class and isinstance(weight, np.ndarray)

    def _keep_constant(self, name, value, first_positional=False):
        """Store an optional constant array (``weight``, ``pos_weight``) as a buffer, or None."""
        array = check_constant_array(type(self).__name__, name, value, first_positional)
        if array is not None and name == "weight" and self.weight_per_class and array.ndim != 1:
            raise ValueError(f"{type(self).__name__}: weight must hold one value per class (shape (C,)), "
                             f"got shape {array.shape}")
        if array is None:
            setattr(self, name, None)
        else:
            self.register_buffer(name, array)

    def extra_repr(self):
        parts = [format_constant("weight", self.weight)] if self.weight is not None else []
        return ", ".join(parts + [part for part in [super().extra_repr()] if part])


def _mean(losses):
    """The mean, NaN for no elements as in PyTorch (without NumPy's empty-slice warning).

    Σ l / M is what ``losses.mean()`` computes (the same pairwise sum, in the
    losses' dtype), without its Python-level bookkeeping.
    """
    return losses.sum() / losses.size if losses.size else losses.dtype.type(np.nan)


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


class CrossEntropyLoss(_WeightedLoss):
    """Softmax and negative log-likelihood in one: l_n = log Σ_c e^{z_nc} − z_{n,y_n}.

    Derivation: derivations/cross_entropy.md

    Shape: input (N, C) logits, target (N,) integer labels in [0, C) -> scalar
    (or (N,) with reduction='none').  Also as PyTorch: input (C,) with a 0-d
    target (one sample), input (N, C, d1, d2, ...) with target (N, d1, d2, ...)
    (a class per position, e.g. per pixel), and class probabilities: a float
    target of the input's shape.  Computed from the shifted logits z − max z,
    exact to rounding at any offset.  Backward is the fused gradient
    (softmax(z) − onehot(y)) / N: no Jacobian, no log of 0.

    Options, as PyTorch: ``weight`` (C,) scales class c's losses by w_c, and
    the mean then divides by Σ w_{y_n} rather than N; positions whose label is
    ``ignore_index`` add no loss, no gradient and nothing to the mean's
    denominator; ``label_smoothing`` ε mixes the target with the uniform
    distribution, (1 − ε) onehot(y) + ε/C.  With any of them the loss is
    l = −Σ_c u_c log p_c with u = w ⊙ q (q the smoothed target) and the
    gradient s·p − u with s = Σ_c u_c (eq. (6)-(12) of the page).
    Class probabilities take ``weight`` and ``label_smoothing`` and average
    over the N·d1·... positions; ``ignore_index`` must then stay negative.
    """

    weight_per_class = True
    # weighted_target is None on the plain path (integer labels, nothing ignored, no
    # weight, no smoothing), whose backward needs only the labels; the other paths
    # keep u = w ⊙ q, the mask of kept positions and the mean's denominator instead.
    saved_for_backward = ("probs", "target", "weighted_target", "kept", "total")

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = check_ignore_index(type(self).__name__, ignore_index)
        self.label_smoothing = check_label_smoothing(type(self).__name__, label_smoothing)

    def forward(self, input, target):
        soft, kept = check_class_input(self, input, target, "logits", probabilities_allowed=True)
        axis = class_axis(input)
        shifted, self.probs, log_total = softmax_parts(input, axis=axis)   # p, eq. (1), kept for backward
        if not soft and kept is None and self.weight is None and not self.label_smoothing:
            self.target, self.weighted_target = keep_input(target), None               # kept for backward
            losses = log_total.reshape(target.shape) - shifted[_target_index(target)]   # eq. (3)
            return self._reduce(losses)                                                 # eq. (4)
        if soft:
            self.weighted_target, self.total = self._weighted_probabilities(input, target, axis), None   # eq. (9)
        else:
            self.weighted_target, self.total = self._weighted_labels(input, target, kept, axis)        # eq. (8), (10)
        self.kept = kept
        losses = np.sum(self.weighted_target * (log_total - shifted), axis=axis)      # eq. (7)
        return self._reduce(losses, self.total)                                       # eq. (10), (11)

    def backward(self, grad_output=1.0):
        """dL/dz = (softmax(z) − onehot(y)) · g / N for the mean; s·p − u per position with the options."""
        probs, weighted_target = self.probs, self.weighted_target
        axis = class_axis(probs)
        if weighted_target is None:
            target = self.target
            scale = self._grad_per_element(grad_output, target.shape, probs.dtype)
            grad = probs * _per_position(scale, axis)                # eq. (5): p · g / N
            grad[_target_index(target)] -= scale                     # eq. (5): − onehot(y) · g / N
            return grad
        positions = weighted_target.shape[:axis] + weighted_target.shape[axis + 1:]
        scale = self._grad_per_element(grad_output, positions, probs.dtype, self.total)
        if self.kept is not None:
            scale = np.where(self.kept, scale, 0)             # ignored positions: no gradient, even where g/Σw is inf
        mass = np.sum(weighted_target, axis=axis)                                  # s = Σ_c u_c, eq. (12)
        return probs * _per_position(scale * mass, axis) - _per_position(scale, axis) * weighted_target   # eq. (12)

    def _weighted_labels(self, input, target, kept, axis):
        """u = w ⊙ ((1 − ε) onehot(y) + ε/C) per position (0 where ignored), and the mean's Σ w_{y_n}."""
        classes, smoothing = input.shape[axis], self.label_smoothing
        weight = self._class_weights(input, axis)
        label = target if kept is None else np.where(kept, target, 0)   # an ignored position points at class 0 ...
        label_weight = np.ones(target.shape, input.dtype) if weight is None else weight.reshape(-1)[label]
        if kept is not None:
            label_weight *= kept                                         # ... with weight 0
        weighted_target = np.zeros_like(input)
        if smoothing:
            weighted_target += (smoothing / classes) * (1 if weight is None else weight)   # eq. (8): ε/C · w
            if kept is not None:
                weighted_target *= np.expand_dims(kept, axis)
        weighted_target[_target_index(label)] += (1 - smoothing) * label_weight           # eq. (8): (1 − ε) w_y
        return weighted_target, label_weight.sum()                                         # eq. (10)

    def _weighted_probabilities(self, input, target, axis):
        """u = w ⊙ ((1 − ε) t + ε/C) for a target t of class probabilities (a private copy)."""
        weighted_target = target.astype(input.dtype)
        if self.label_smoothing:
            weighted_target = weighted_target * (1 - self.label_smoothing) + self.label_smoothing / input.shape[axis]
        weight = self._class_weights(input, axis)
        return weighted_target if weight is None else weighted_target * weight

    def _class_weights(self, input, axis):
        """``weight`` in the input's dtype, shaped to broadcast along the class axis; None without one."""
        if self.weight is None:
            return None
        return self.weight.astype(input.dtype, copy=False).reshape((-1,) + (1,) * (input.ndim - axis - 1))

    def extra_repr(self):
        parts = [super().extra_repr()]
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(part for part in parts if part)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities: l_n = −x_{n,y_n}.  Derivation: derivations/nll.md

    Shape: input (N, C) log-probabilities (e.g. from LogSoftmax), target (N,)
    integer labels in [0, C) -> scalar.  Also input (C,) with a 0-d target and
    (N, C, d1, ...) with target (N, d1, ...), as in PyTorch.
    NLLLoss(LogSoftmax(z)) = CrossEntropyLoss(z).  ``weight`` (C,) makes
    l_n = −w_{y_n} x_{n,y_n} and the mean divide by Σ w_{y_n}; positions
    labelled ``ignore_index`` count for nothing (nll.md, eq. (4)-(6)).
    """

    weight_per_class = True
    # target_weight is None on the plain path: no weight, no position ignored.
    saved_for_backward = ("target", "target_weight", "kept", "total", "input_shape", "input_dtype")

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = check_ignore_index(type(self).__name__, ignore_index)

    def forward(self, input, target):
        _, kept = check_class_input(self, input, target, "log-probabilities")
        self.input_shape, self.input_dtype = input.shape, input.dtype   # the gradient's shape and dtype
        self.kept, self.total = kept, None
        if kept is None and self.weight is None:
            self.target, self.target_weight = keep_input(target), None  # kept for backward
            return self._reduce(-input[_target_index(target)])          # eq. (1), (2)
        label = keep_input(target) if kept is None else np.where(kept, target, 0)   # private; ignored -> class 0
        if self.weight is None:
            target_weight = kept.astype(input.dtype)                    # 1 where kept, 0 where ignored
        else:
            target_weight = self.weight.astype(input.dtype, copy=False)[label]   # w_{y_n}
            if kept is not None:
                target_weight *= kept
        self.target, self.target_weight = label, target_weight          # kept for backward
        self.total = target_weight.sum()                                # eq. (5)
        losses = -target_weight * input[_target_index(label)]          # eq. (4)
        return self._reduce(losses, self.total)                          # eq. (5)

    def backward(self, grad_output=1.0):
        """dL/dx_{n,c} = −w_{y_n} g / Σ w where c = y_n (−g/N without options), 0 elsewhere."""
        target, target_weight = self.target, self.target_weight
        scale = self._grad_per_element(grad_output, target.shape, self.input_dtype, self.total)
        grad = np.zeros(self.input_shape, dtype=self.input_dtype)
        if target_weight is None:
            grad[_target_index(target)] = -scale                        # eq. (3)
            return grad
        if self.kept is not None:
            scale = np.where(self.kept, scale, 0)             # ignored positions: no gradient, even where g/Σw is inf
        grad[_target_index(target)] = -scale * target_weight            # eq. (6)
        return grad

    def extra_repr(self):
        parts = [super().extra_repr(), f"ignore_index={self.ignore_index}" if self.ignore_index != -100 else ""]
        return ", ".join(part for part in parts if part)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities: l = −w [y log p + (1 − y) log(1 − p)].

    Derivation: derivations/bce.md

    Shape: input (*) probabilities in [0, 1] (e.g. from Sigmoid), target (*)
    in [0, 1] of the same shape -> scalar.  ``weight`` (optional) broadcasts
    against the input's shape without enlarging it (e.g. (C,) for (N, C));
    the mean still divides by the number of elements.  As in PyTorch, each
    log is clamped at −100 and the gradient's denominator at 1e-12, so p = 0
    or 1 stay finite.  Prefer BCEWithLogitsLoss on logits: it is exact where
    this one clamps.
    """

    saved_for_backward = ("probs", "target")

    def forward(self, input, target):
        check_probabilities_and_targets(self, input, target)
        self.probs = keep_input(input)                                  # kept for backward
        self.target = target.astype(input.dtype)                       # a private copy, kept for backward
        losses = binary_cross_entropy(input, self.target)           # eq. (1)
        if self.weight is not None:
            losses = losses * self.weight.astype(input.dtype, copy=False)   # eq. (6)
        return self._reduce(losses)                                    # eq. (2)

    def backward(self, grad_output=1.0):
        """dL/dp = w (p − y) / max(p (1 − p), 1e-12) · g / M."""
        p, target = self.probs, self.target
        scale = self._grad_per_element(grad_output, p.shape, p.dtype)
        grad = (p - target) / np.maximum(p * (1 - p), BCE_GRAD_EPSILON) * scale   # eq. (4)
        if self.weight is not None:
            grad = grad * self.weight.astype(p.dtype, copy=False)                  # eq. (6)
        return as_ndarray(grad)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy on logits z, stable: l = max(z, 0) − z·y + log(1 + e^{−|z|}).

    Derivation: derivations/bce.md

    Shape: input (*) logits, target (*) of the same shape -> scalar.  Equal to
    BCELoss(Sigmoid(z)) but never overflows and never clamps; dL/dz = σ(z) − y.
    The target is used as a number, not checked to be a probability (as in
    PyTorch).  ``weight`` scales each element's loss; ``pos_weight`` c_+
    scales the positive term, l = (1 − y) z + (1 + (c_+ − 1) y) log(1 + e^{−z})
    (bce.md, eq. (7)-(9)); both broadcast against the input's shape without
    enlarging it, e.g. pos_weight of shape (C,) for C binary classes.
    """

    saved_for_backward = ("z", "target")

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self._keep_constant("pos_weight", pos_weight)

    def forward(self, input, target):
        check_float_array(self, input)
        check_target_like(self, target, input)
        self.z = keep_input(input)                                     # kept for backward
        self.target = target.astype(input.dtype)                       # a private copy, kept for backward
        if self.pos_weight is None:
            losses = np.maximum(input, 0) - input * self.target + softplus_of_negative_abs(input)   # eq. (3)
        else:
            positive_scale = 1 + (self.pos_weight.astype(input.dtype, copy=False) - 1) * self.target   # eq. (8)
            softplus_of_minus_z = np.maximum(-input, 0) + softplus_of_negative_abs(input)          # eq. (8)
            losses = (1 - self.target) * input + positive_scale * softplus_of_minus_z                # eq. (8)
        if self.weight is not None:
            losses = losses * self.weight.astype(input.dtype, copy=False)                           # eq. (6)
        return self._reduce(losses)                                                                 # eq. (2)

    def backward(self, grad_output=1.0):
        """dL/dz = (σ(z) − y) · g / M; with weight or pos_weight, eq. (9)."""
        z, target = self.z, self.target
        scale = self._grad_per_element(grad_output, z.shape, z.dtype)
        if self.weight is None and self.pos_weight is None:
            return as_ndarray((sigmoid(z) - target) * scale)                 # eq. (5)
        return as_ndarray(self._weighted_gradient(z, target) * scale)          # eq. (9)

    def _weighted_gradient(self, z, target):
        """dl/dz = w ((1 + (c_+ − 1) y) σ(z) − c_+ y), which is w (σ(z) − y) without pos_weight."""
        gradient = sigmoid(z) - target
        if self.pos_weight is not None:
            pos_weight = self.pos_weight.astype(z.dtype, copy=False)
            gradient = (1 + (pos_weight - 1) * target) * sigmoid(z) - pos_weight * target   # eq. (9)
        if self.weight is not None:
            gradient = gradient * self.weight.astype(z.dtype, copy=False)                     # eq. (6)
        return gradient

    def extra_repr(self):
        parts = [super().extra_repr()]
        if self.pos_weight is not None:
            parts.append(format_constant("pos_weight", self.pos_weight))
        return ", ".join(part for part in parts if part)


class MSELoss(_Loss):
    """Mean squared error: l = (x − y)².  Derivation: derivations/mse.md

    Shape: input (*), target (*) of the same shape -> scalar (the mean over
    all M elements, as in PyTorch).
    """

    saved_for_backward = ("difference",)

    def forward(self, input, target):
        check_float_array(self, input)
        check_target_like(self, target, input)
        self.difference = as_ndarray(input - target.astype(input.dtype, copy=False))   # kept for backward
        return self._reduce(self.difference ** 2)                      # eq. (1), (2)

    def backward(self, grad_output=1.0):
        """dL/dx = 2 (x − y) · g / M."""
        difference = self.difference
        scale = self._grad_per_element(grad_output, difference.shape, difference.dtype)
        return as_ndarray(difference * (2 * scale))  # eq. (3); 2·g/M first, so 2(x − y) cannot overflow


# -- where the target class sits ------------------------------------------------

def _per_position(values, axis):
    """A number, or one value per position (the target's shape) made to broadcast along the class axis."""
    return np.expand_dims(values, axis) if values.ndim else values


def _target_index(target):
    """The index that picks each position's target class: ``x[_target_index(y)]`` has y's shape.

    (N,) labels give (arange(N), y), the familiar x[n, y_n]; (N, d1, ...)
    labels add the positions along d1, ...; a 0-d label picks from a (C,) sample.
    """
    if target.ndim == 1:
        return np.arange(len(target)), target
    positions = np.indices(target.shape, sparse=True)      # (N, 1, ...), (1, d1, 1, ...), ...
    return (*positions[:1], target, *positions[1:])
