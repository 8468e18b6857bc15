"""Hypothesis strategies shared by the tests.

The general ones (arrays, shapes, seeds, batches, labels) are the public
``manualnet.testing.strategies``, the same ones a learner uses for property
tests of their own layers; strategies only this suite needs go below.
``margin`` keeps every value at least that far from 0, the kink of ReLU and
LeakyReLU: with a finite-difference step of 1e-6 · max(1, |x|), a margin of
0.01 means no step can cross the kink.
"""

from manualnet.testing.strategies import (  # noqa: F401  (re-exported for the tests)
    KINK_MARGIN,
    arrays,
    away_from_kinks,
    batch_sizes,
    batches,
    class_labels,
    distinct_values,
    feature_sizes,
    float_dtypes,
    logits_and_labels,
    probabilities_and_targets,
    random_array,
    seeds,
    shapes,
)


# -- the losses' options and any-shape inputs ------------------------------------

import numpy as np  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@st.composite
def class_loss_cases(draw, smoothing=False, probabilities=False, min_classes=1, max_classes=5):
    """(input, target, options) for CrossEntropyLoss (or NLLLoss), in any of PyTorch's layouts.

    Layouts: one sample (C,) with a 0-d label, a batch (N, C), positions
    (N, C, d1[, d2]) with labels (N, d1[, d2]).  Options: reduction; weight
    (C,) in [0.2, 3] or none; ignore_index, either -100 or a label (a class,
    or -1) that about a third of the positions then carry — never all of them;
    label_smoothing (``smoothing=True``) 0 or in (0, 1].  ``probabilities=True``
    draws class-probability targets of the input's shape instead of labels
    (rows that sum to 1, or, a third of the time, any numbers in [0, 1]).
    """
    rng = np.random.default_rng(draw(seeds))
    classes = draw(st.integers(min_classes, max_classes))
    layout = draw(st.sampled_from(["sample", "batch", "positions"]))
    if layout == "sample":
        shape = (classes,)
    elif layout == "batch":
        shape = (draw(st.integers(1, 5)), classes)
    else:
        shape = (draw(st.integers(1, 3)), classes, *draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    axis = 1 if len(shape) > 1 else 0
    options = {"reduction": draw(REDUCTIONS)}
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.2, 3.0, classes)
    if smoothing and draw(st.booleans()):
        options["label_smoothing"] = draw(st.floats(0.01, 1.0))
    input = np.asarray(rng.standard_normal(shape) * 3)
    if probabilities:
        if draw(st.integers(0, 2)):
            scores = np.exp(rng.standard_normal(shape))
            target = scores / scores.sum(axis=axis, keepdims=True)
        else:
            target = np.asarray(rng.uniform(0, 1, shape))
        return input, target, options
    target = np.asarray(rng.integers(0, classes, shape[:axis] + shape[axis + 1:]))
    if draw(st.booleans()):
        ignore = draw(st.sampled_from([-1, *range(classes)]))
        options["ignore_index"] = ignore
        ignored = np.array(rng.random(target.shape) < 0.35)
        ignored.flat[0] = False                                       # one position always counts
        target = np.where(ignored, ignore, target)
        if ignore >= 0:                                               # a kept position must not carry the label
            target = np.where(~ignored & (target == ignore), (ignore + 1) % classes, target)
            if classes == 1:
                options.pop("ignore_index")
                target = np.zeros_like(target)
    return input, target, options


def broadcastable_shapes(draw, shape):
    """A shape that broadcasts to ``shape`` without enlarging it: a suffix of it, some sides made 1."""
    kept = draw(st.integers(0, len(shape)))
    return tuple(side if draw(st.booleans()) else 1 for side in shape[len(shape) - kept:])


@st.composite
def binary_loss_cases(draw, logits=True):
    """(input, target, options) for BCEWithLogitsLoss (logits) or BCELoss (probabilities in [0.02, 0.98]).

    Any shape, 0-d included; weight (and pos_weight for logits) of a shape
    that broadcasts to the input's, or none; logit targets are any numbers in
    [-1, 2] a third of the time (PyTorch uses them as numbers), else in [0, 1].
    """
    rng = np.random.default_rng(draw(seeds))
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=4))
    options = {"reduction": draw(REDUCTIONS)}
    if draw(st.booleans()):
        options["weight"] = np.asarray(rng.uniform(0.2, 3.0, broadcastable_shapes(draw, shape)))
    if logits and draw(st.booleans()):
        options["pos_weight"] = np.asarray(rng.uniform(0.1, 4.0, broadcastable_shapes(draw, shape)))
    if logits:
        input = np.asarray(rng.standard_normal(shape) * 3)
        target = np.asarray(rng.uniform(-1, 2, shape) if draw(st.integers(0, 2)) == 0 else rng.uniform(0, 1, shape))
    else:
        input = np.asarray(rng.uniform(0.02, 0.98, shape))
        target = np.asarray(rng.uniform(0, 1, shape))
    return input, target, options


# -- convolution and pooling ------------------------------------------------

@st.composite
def conv_configs(draw, dims=2, padding_modes=("zeros",), max_extra=3):
    """(Conv keyword arguments, input shape) covering the issue's grid, small enough for finite differences.

    kernel 1–5, stride 1–3, padding 0–2 or 'same'/'valid', dilation 1–3 (each
    per axis), groups 1–3 including depthwise (groups = in_channels), bias or
    not, batch 1–3, and input sides from the smallest that fits the dilated
    kernel to ``max_extra`` more (so odd and even sizes both come up).
    """
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding_mode = draw(st.sampled_from(padding_modes))
    padding = draw(st.sampled_from(["same", "valid", "ints"]))
    stride = (1,) * dims if padding == "same" else tuple(draw(st.integers(1, 3)) for _ in range(dims))
    if padding == "ints":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    if padding == "same":
        amounts = [dilation_i * (kernel_i - 1) for kernel_i, dilation_i in zip(kernel, dilation)]
        widest = [amount - amount // 2 for amount in amounts]
    else:
        amounts = [0] * dims if padding == "valid" else [2 * p for p in padding]
        widest = [amount // 2 for amount in amounts]
    sides = []
    for k, d, total, wide in zip(kernel, dilation, amounts, widest):
        smallest = max(1, d * (k - 1) + 1 - total)
        if padding_mode != "zeros":
            smallest = max(smallest, wide + 1)          # reflect needs padding < size
        sides.append(smallest + draw(st.integers(0, max_extra)))
    batch = draw(st.integers(1, 3))
    kwargs = dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel, stride=stride,
                  padding=padding, dilation=dilation, groups=groups, bias=draw(st.booleans()),
                  padding_mode=padding_mode)
    return kwargs, (batch, in_channels, *sides)


@st.composite
def pool_configs(draw, average=False, max_extra=3):
    """(MaxPool2d or AvgPool2d keyword arguments, input shape): kernel 1–5, stride 1–3 or None,
    padding 0 to kernel/2, dilation 1–3 (max only), ceil_mode, count_include_pad and divisor_override
    (average only); input sides from the smallest that fits to ``max_extra`` more.  With padding, a side
    is at least the dilation d: a smaller one lets a window's taps, d apart, step over the input onto
    padding alone, which MaxPool2d refuses."""
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(2))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (1, 1) if average else tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    if average:
        kwargs.update(count_include_pad=draw(st.booleans()),
                      divisor_override=draw(st.one_of(st.none(), st.integers(1, 7))))
    else:
        kwargs.update(dilation=dilation)
    sides = [max(1, d * (k - 1) + 1 - 2 * p, d if p else 1) + draw(st.integers(0, max_extra))
             for k, d, p in zip(kernel, dilation, padding)]
    return kwargs, (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *sides)
