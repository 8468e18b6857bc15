"""Hypothesis strategies shared by the tests.

Arrays are generated from a drawn seed (fast for any shape, and hypothesis
still shrinks shapes and seeds).  ``margin`` keeps every value at least that
far from 0, the kink of ReLU and LeakyReLU: with a finite-difference step of
1e-6 · max(1, |x|), a margin of 0.01 means no step can cross the kink.
"""

import numpy as np
from hypothesis import strategies as st

KINK_MARGIN = 0.01

seeds = st.integers(0, 2**32 - 1)
batch_sizes = st.integers(1, 6)
feature_sizes = st.integers(1, 6)
float_dtypes = st.sampled_from([np.float32, np.float64])


def random_array(seed, shape, scale=1.0, margin=0.0, dtype=np.float64):
    """Normal values times ``scale``, pushed at least ``margin`` away from 0."""
    values = np.random.default_rng(seed).standard_normal(shape) * scale
    if margin:
        values = np.sign(values + (values == 0)) * (margin + np.abs(values))
    return values.astype(dtype)


@st.composite
def arrays(draw, shape, scale=1.0, margin=0.0, dtype=np.float64):
    """A float array of the given shape (a tuple, or a strategy for one)."""
    if not isinstance(shape, tuple):
        shape = draw(shape)
    return random_array(draw(seeds), shape, scale, margin, dtype)


def shapes(min_dims=1, max_dims=3, max_side=5):
    """Array shapes with every side >= 1."""
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def logits_and_labels(draw, max_batch=6, max_classes=6, scale=3.0):
    """(logits (N, C) float64, labels (N,) int64 in [0, C))."""
    batch, classes = draw(batch_sizes), draw(st.integers(2, max_classes))   # one class: loss 0, gradient 0
    rng = np.random.default_rng(draw(seeds))
    logits = rng.standard_normal((batch, classes)) * scale
    return logits, rng.integers(0, classes, size=batch)


@st.composite
def probabilities_and_targets(draw, margin=0.02):
    """(p, y) of one random shape: p in [margin, 1 − margin], y in [0, 1]."""
    shape = draw(shapes(max_dims=2))
    rng = np.random.default_rng(draw(seeds))
    p = rng.uniform(margin, 1 - margin, size=shape)
    y = rng.uniform(0, 1, size=shape) if draw(st.booleans()) else rng.integers(0, 2, size=shape).astype(np.float64)
    return p, y
