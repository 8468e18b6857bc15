"""Random generators: every source of randomness in manualnet is an ``rng`` argument.

A layer's initial weights, a Dropout mask, a DataLoader's shuffle and a
gradient check's upstream gradient all come from a ``numpy.random.Generator``
passed in, never from a global seed, so two runs with the same seeds give
the same numbers whatever else the program does.
"""

import numbers

import numpy as np


def as_generator(rng, argument="rng"):
    """Return a numpy Generator from a Generator, a non-negative int seed, or None (fresh entropy).

    ``argument`` names the parameter in the error (``rng``, or a DataLoader's ``seed``).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
        raise TypeError(
            f"{argument}: expected a numpy.random.Generator, a non-negative int seed or None, "
            f"got {type(rng).__name__} {rng!r}"
        )
    if rng < 0:
        raise ValueError(f"{argument}: expected a non-negative int seed, got {rng!r}")
    return np.random.default_rng(int(rng))
