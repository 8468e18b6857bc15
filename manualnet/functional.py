"""Numerically stable building blocks shared by layers, losses and models.

Plain functions on arrays (no caching, no checks): the layers call them in
forward.  Each keeps the dtype it is given and never overflows, even for
inputs of magnitude 1e4 in float32.  Why each form is stable:
derivations/sigmoid.md, derivations/softmax.md, derivations/bce.md.
"""

import numpy as np


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{-z}), computed from e^{-|z|} <= 1 so nothing overflows.

    For z >= 0 it uses 1 / (1 + e^{-z}); for z < 0 the equal form
    e^{z} / (1 + e^{z}); both only ever exponentiate -|z|.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softplus_of_negative_abs(z):
    """log(1 + e^{-|z|}), the bounded tail of the stable log-sigmoid."""
    return np.log1p(np.exp(-np.abs(z)))


def logsumexp(z, axis=-1):
    """log Σ_j e^{z_j} along ``axis`` (kept as a size-1 axis), shifted by the max to avoid overflow."""
    shift = np.max(z, axis=axis, keepdims=True)
    return shift + np.log(np.sum(np.exp(z - shift), axis=axis, keepdims=True))


def log_softmax(z, axis=-1):
    """log softmax(z) = z − logsumexp(z): never takes the log of an underflowed 0."""
    return z - logsumexp(z, axis)


def softmax(z, axis=-1):
    """softmax(z)_i = e^{z_i − max z} / Σ_j e^{z_j − max z}; every entry in [0, 1], rows sum to 1."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
