"""The checks every loss runs on its input, target and options, each naming the loss and what came.

A loss's forward calls one of these before any arithmetic, so a label out of
range, a target of the wrong shape or a weight of the wrong size is reported
in the loss's own terms instead of as an IndexError or a broadcast error
inside NumPy.
"""

import numbers

import numpy as np

from manualnet._checks import check_finite, check_float_array, check_plain_ndarray, name_of

REDUCTIONS = ("mean", "sum", "none")


def class_axis(x):
    """The class axis: 1 for (N, C, d1, ...) inputs, 0 for a single sample (C,)."""
    return 1 if x.ndim > 1 else 0


def check_class_input(owner, input, target, what, probabilities_allowed=False):
    """Input (C,), (N, C) or (N, C, d1, ...) and its target; return (probabilities, kept).

    ``probabilities`` says the target holds class probabilities (a float array
    of the input's shape; CrossEntropyLoss only), ``kept`` is the mask of the
    positions whose label is not ``ignore_index`` (None when none is ignored).
    Only the labels' minimum and maximum are computed unless a label is out of
    [0, C) or ``ignore_index`` is a class.
    """
    check_float_array(owner, input)
    if input.ndim == 0:
        raise ValueError(f"{name_of(owner)}: expected input of shape (N, C) of {what} (or (C,), or (N, C, d1, ...)), "
                         "got a 0-d array")
    if owner.weight_dtype_given and owner.weight.dtype != input.dtype:
        raise TypeError(f"{name_of(owner)}: expected input of the weight's dtype {owner.weight.dtype}, got "
                        f"{input.dtype}; a dtype mismatch is an error, not a silent cast (PyTorch: expected scalar "
                        f"type ...): pass weight.astype(np.{input.dtype}), or convert the loss with "
                        f".astype(np.{input.dtype})")
    check_plain_ndarray(owner, target, "target")
    axis = class_axis(input)
    classes = input.shape[axis]
    if probabilities_allowed and target.shape == input.shape:
        check_probabilities_target(owner, target)
        return True, None
    expected = input.shape[:axis] + input.shape[axis + 1:]
    if target.dtype.kind not in "iu":
        also = f" or class probabilities: a float target of the input's shape {input.shape}" \
            if probabilities_allowed else ""
        raise TypeError(
            f"{name_of(owner)}: expected integer class labels (int64){also}, got dtype {target.dtype} of shape "
            f"{target.shape}; for one-hot targets pass target.argmax(axis={axis})"
        )
    if target.shape != expected:
        raise ValueError(
            f"{name_of(owner)}: expected target of shape {expected} (input {input.shape} without its class "
            f"dimension {axis}), got {target.shape}"
        )
    check_class_weight_size(owner, classes)
    if not target.size:
        return False, None
    low, high, ignore = target.min(), target.max(), owner.ignore_index
    if 0 <= low and high < classes and not 0 <= ignore < classes:
        return False, None                         # every label a class, none ignored
    ignored = target == ignore
    bad = ~ignored & ((target < 0) | (target >= classes))
    if bad.any():
        unless = f" (or ignore_index={ignore})" if ignore != -100 else ""
        raise ValueError(
            f"{name_of(owner)}: class labels must be in [0, {classes - 1}] for {classes} classes{unless}, "
            f"got {target[bad].flat[0]} (labels range from {low} to {high})"
        )
    return False, (~ignored if ignored.any() else None)


def check_probabilities_target(owner, target):
    """Class probabilities: a finite float target (PyTorch refuses ignore_index >= 0 with them)."""
    if target.dtype.kind != "f":
        raise TypeError(
            f"{name_of(owner)}: a target of the input's shape {target.shape} holds class probabilities and must be "
            f"a float array, got dtype {target.dtype}; for class labels pass one integer per position "
            "(the input's shape without the class dimension)"
        )
    check_finite(owner, target, "target")
    if owner.ignore_index >= 0:
        raise ValueError(
            f"{name_of(owner)}: ignore_index={owner.ignore_index} applies to class labels only; with class "
            "probabilities as target (as in PyTorch) leave it at its default -100"
        )
    check_class_weight_size(owner, target.shape[class_axis(target)])


def check_class_weight_size(owner, classes):
    if owner.weight is not None and owner.weight.shape != (classes,):
        raise ValueError(
            f"{name_of(owner)}: weight must hold one value per class, {classes} for this input, "
            f"got shape {owner.weight.shape}"
        )


def check_target_like(owner, target, x):
    """A finite real-valued target of the input's shape."""
    check_plain_ndarray(owner, target, "target")
    if target.dtype.kind not in "fiub":
        raise TypeError(f"{name_of(owner)}: expected a numeric target, got dtype {target.dtype}")
    if target.shape != x.shape:
        raise ValueError(f"{name_of(owner)}: expected target of shape {x.shape} (the shape of input), "
                         f"got shape {target.shape}")
    if target.dtype.kind == "f":
        check_finite(owner, target, "target")
    for name in ("weight", "pos_weight"):
        constant = getattr(owner, name, None)
        if constant is not None and not broadcasts_onto(constant.shape, x.shape):
            raise ValueError(
                f"{name_of(owner)}: {name} of shape {constant.shape} does not broadcast to the input's shape "
                f"{x.shape} (it may repeat along the input's dimensions, not add to them)"
            )


def broadcasts_onto(shape, onto):
    """Whether an array of ``shape`` broadcasts to ``onto`` without enlarging it (PyTorch multiplies in place)."""
    return len(shape) <= len(onto) and all(size in (1, other) for size, other in zip(shape[::-1], onto[::-1]))


def check_probabilities_and_targets(owner, p, target):
    check_float_array(owner, p)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(
            f"{name_of(owner)}: expected probabilities in [0, 1], got values from {p.min()} to "
            f"{p.max()}; apply Sigmoid first, or use BCEWithLogitsLoss on the logits"
        )
    check_target_like(owner, target, p)
    if target.size and (target.min() < 0 or target.max() > 1):
        raise ValueError(
            f"{name_of(owner)}: expected target values in [0, 1], got values from {target.min()} to {target.max()}"
        )


def check_ignore_index(owner, ignore_index):
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise TypeError(f"{owner}: expected ignore_index to be an integer (a label to skip), got {ignore_index!r}")
    return int(ignore_index)


def check_label_smoothing(owner, label_smoothing):
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) \
            or not 0 <= label_smoothing <= 1:
        raise ValueError(f"{owner}: label_smoothing must be between 0.0 and 1.0 (the share of the target "
                         f"spread over all classes), got {label_smoothing!r}")
    return float(label_smoothing)


def check_constant_array(owner, name, value, first_positional):
    """``weight`` / ``pos_weight``: None, or finite real numbers, kept as a private float array."""
    if value is None:
        return None
    if isinstance(value, str):
        hint = (f"; {name} is the first positional argument, as in PyTorch: pass reduction={value!r} by name"
                if first_positional and value in REDUCTIONS else "")
        raise TypeError(f"{owner}: expected {name} to be an array of numbers, got the string {value!r}{hint}")
    try:
        array = np.array(value, dtype=None if getattr(value, "dtype", None) in (np.float32, np.float64) else np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: expected {name} to be an array of numbers, got {type(value).__name__}") from None
    check_finite(owner, array, name)
    return array


def format_constant(name, array):
    """weight=[1., 2., 0.5] for a few values in a row, weight=<(4, 5) array> beyond that (one line either way)."""
    if array.ndim <= 1 and array.size <= 6:
        return f"{name}={np.array2string(array, precision=4, separator=', ')}"
    return f"{name}=<{array.shape} array>"


def refuse_legacy_reduction(owner, size_average, reduce):
    """size_average and reduce are refused by name, with the reduction they stand for."""
    if size_average is None and reduce is None:
        return
    if isinstance(size_average, str):
        raise TypeError(
            f"{owner}: got size_average={size_average!r}; size_average is PyTorch's deprecated argument (first "
            f"positional in MSELoss, second in the others), so pass the reduction by name: reduction={size_average!r}"
        )
    # PyTorch's legacy rule: reduce=False means 'none', else size_average=False means 'sum', else 'mean'.
    reduction = "none" if reduce is False else ("sum" if size_average is False else "mean")
    raise TypeError(
        f"{owner}: size_average and reduce are PyTorch's deprecated spellings of reduction, which manualnet does "
        f"not take; write reduction={reduction!r} (what size_average={size_average!r}, reduce={reduce!r} meant)"
    )
