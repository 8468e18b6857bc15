"""The numerics the layers share: stable sigmoid, log-sum-exp softmax, the BCE clamp.

Plain functions on arrays (no caching, no checks): the layers call them in
forward.  Each keeps the dtype it is given and never overflows, even for
inputs of magnitude 1e4 in float32.  Why each form is stable:
derivations/sigmoid.md, derivations/softmax.md, derivations/bce.md.

This module imports no layer: ``manualnet.nn.functional`` is the public,
PyTorch-named API; these are the few formulas several layers evaluate.
"""

import numpy as np



def sigmoid(z):
    """σ(z) = 1 / (1 + e^{-z}), computed from e = e^{-|z|} <= 1 so nothing overflows.

    For z >= 0, σ(z) = 1 / (1 + e); for z < 0 the equal form e / (1 + e).
    The numerator, 1 or e, is max(e, 1[z >= 0]): e <= 1 picks 1 where z >= 0
    and e > 0 picks e where z < 0.  The same numbers as selecting with
    ``np.where``, without a per-element branch (several times faster on
    random signs).
    """
    e = np.exp(-np.abs(z))
    return np.maximum(e, z >= 0) / (1 + e)


def softplus_of_negative_abs(z):
    """log(1 + e^{-|z|}), the bounded tail of the stable log-sigmoid."""
    return np.log1p(np.exp(-np.abs(z)))


BCE_LOG_FLOOR = -100.0     # PyTorch clamps log(p) at −100, so p = 0 or 1 gives a finite loss


def binary_cross_entropy(p, y):
    """l = −[y log p + (1 − y) log(1 − p)] element-wise, each log clamped at −100 as in PyTorch."""
    with np.errstate(divide="ignore"):                              # log(0) = −inf, then clamped
        log_p = np.maximum(np.log(p), BCE_LOG_FLOOR)
        log_1mp = np.maximum(np.log1p(-p), BCE_LOG_FLOOR)
    return -(y * log_p + (1 - y) * log_1mp)


def softmax_parts(z, axis=-1):
    """s = z − max z, p = softmax(z) and log Σ_j e^{s_j} along ``axis``: the pieces of every stable softmax.

    Shifting by the maximum makes every exponent <= 0, so nothing overflows,
    and s is exact where (max + log Σ) − z would cancel (logits of 1e8 in
    float32 give log C, not 0).  The sum always holds the maximum's own
    e^0 = 1, so log Σ_j e^{s_j} = log1p(Σ_{j ≠ max} e^{s_j}): adding the 1
    before the log would round the rest away exactly when it is small, when
    a loss is small (a confident right answer).  Computed this way, every
    log-softmax entry and every cross-entropy loss is within a few ulp of
    the exact value.  An axis of length 0 gives empty pieces; axis=None
    takes a 0-d z as a whole (softmax 1, log-softmax 0).
    """
    if (z.size if axis is None else z.shape[axis]) == 0:   # nothing to normalise (axis=None: a 0-d z, whole)
        return z.copy(), z.copy(), np.zeros_like(np.sum(z, axis=axis, keepdims=True))
    shifted = z - z.max(axis=axis, keepdims=True)
    exponentials = np.exp(shifted)
    at_max = shifted == 0                        # exactly where z equals the maximum (ties included)
    # Σ_{j ≠ max} e^{s_j}: each maximum's e^0 = 1 taken out exactly, the ties but one put back.
    ties = at_max.sum(axis=axis, keepdims=True, dtype=z.dtype) - 1
    rest = (exponentials - at_max).sum(axis=axis, keepdims=True) + ties
    return shifted, exponentials / (1 + rest), np.log1p(rest)


def log_softmax(z, axis=-1):
    """log softmax(z) = (z − max z) − log Σ e^{z − max z}: never the log of an underflowed 0."""
    shifted, _, log_total = softmax_parts(z, axis)
    return shifted - log_total


def softmax(z, axis=-1):
    """softmax(z)_i = e^{z_i − max z} / Σ_j e^{z_j − max z}; every entry in [0, 1], summing to 1 along axis."""
    return softmax_parts(z, axis)[1]
