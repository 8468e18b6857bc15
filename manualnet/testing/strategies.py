"""Hypothesis strategies for property tests of your own layers (needs ``pip install hypothesis``).

A property test of your layer against manualnet's, in three lines::

    from hypothesis import given
    import manualnet as mn
    from manualnet.testing import assert_modules_match
    from manualnet.testing.strategies import batches, seeds

    @given(x=batches(features=3), seed=seeds)
    def test_my_linear_matches_linear(x, seed):
        assert_modules_match(MyLinear(3, 2), mn.Linear(3, 2, rng=seed), x, rng=seed)

Hypothesis then tries batch sizes from 1 to 6 and many values, and shrinks a
failure to the smallest batch that shows it.  For ReLU-like layers draw
``batches(features=3, margin=KINK_MARGIN)``: values at least 0.01 from the
kink at 0, so a finite-difference step (1e-6 · max(1, |x|)) never crosses it.

Arrays are generated from a drawn seed (fast for any shape; hypothesis still
shrinks shapes and seeds).  Values are well conditioned: normal with
standard deviation ``scale``, in float64 unless asked otherwise.
"""

import numpy as np
from hypothesis import strategies as st

from manualnet.testing.gradcheck import KINK_MARGIN

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


def distinct_values(seed, shape, spacing=0.01):
    """A random arrangement of values at least ``spacing`` apart: no window has a tie, and no
    finite-difference step (1e-6 · max(1, |x|)) can change which entry is a window's maximum."""
    rng = np.random.default_rng(seed)
    values = spacing * rng.permutation(int(np.prod(shape))).reshape(shape)
    return values - values.mean()


@st.composite
def arrays(draw, shape, scale=1.0, margin=0.0, dtype=np.float64):
    """A float array of the given shape (a tuple, or a strategy for one)."""
    if not isinstance(shape, tuple):
        shape = draw(shape)
    return random_array(draw(seeds), shape, scale, margin, dtype)


def shapes(min_dims=1, max_dims=3, max_side=5):
    """Array shapes with every side >= 1."""
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def batches(features, batch=batch_sizes, scale=1.0, margin=0.0, dtype=np.float64):
    """Layer inputs x of shape (N, features): N drawn from ``batch`` (an int or a strategy)."""
    batch = st.just(batch) if isinstance(batch, int) else batch
    return arrays(batch.map(lambda n: (n, features)), scale, margin, dtype)


def away_from_kinks(shape, margin=KINK_MARGIN, dtype=np.float64):
    """Arrays whose every entry is at least ``margin`` from 0 (the kink of ReLU and LeakyReLU)."""
    return arrays(shape, margin=margin, dtype=dtype)


@st.composite
def class_labels(draw, batch, classes):
    """Integer labels (batch,) in [0, classes), int64: the targets of CrossEntropyLoss and NLLLoss."""
    return np.random.default_rng(draw(seeds)).integers(0, classes, size=batch)


@st.composite
def logits_and_labels(draw, max_batch=6, max_classes=6, scale=3.0):
    """(logits (N, C) float64, labels (N,) int64 in [0, C))."""
    batch, classes = draw(st.integers(1, max_batch)), draw(st.integers(2, max_classes))   # one class: loss 0, gradient 0
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
