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
    feature_sizes,
    float_dtypes,
    logits_and_labels,
    probabilities_and_targets,
    random_array,
    seeds,
    shapes,
)


# -- issue 13: the losses' options and any-shape inputs ------------------------------------

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
