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
