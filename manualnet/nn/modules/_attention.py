"""Scaled dot-product attention: the math every attention layer shares, and the masks that feed it.

``Attention`` is a mixin holding the one forward and the one backward of
y = softmax(s Q Kᵀ + M) V, eq. (1)-(11) of derivations/attention.md.
``MultiheadAttention`` (``activation.py``), GPT's ``CausalSelfAttention``
(``manualnet/models/gpt.py``) and ``functional.scaled_dot_product_attention``
(through ``ScaledDotProductAttention`` below) call these methods; nothing
else writes an attention derivative.  The rest of this module turns
PyTorch's ways of saying which keys a query may see — boolean or float
``attn_mask`` (whose boolean meaning is opposite in the layer and in the
function), ``key_padding_mask``, ``is_causal`` — into the one additive mask
M of eq. (2): 0 where a key is seen, −∞ where it is hidden, any number for
a float mask.  Derivation: derivations/attention.md
"""

import functools
import math
import numbers

import numpy as np

from manualnet._checks import check_dtype_matches, check_float_array, check_grad_output, name_of
from manualnet._rng import as_generator

from .module import Module, keep_input, keep_output


def softmax_rows(scores):
    """softmax along the last axis, in place; a row whose every entry is −∞ (every key hidden) gives zeros.

    Shifted by the row's maximum, so nothing overflows.  A fully hidden row
    has maximum −∞: the shift is clamped to the most negative float (so
    −∞ − shift stays −∞, never NaN), its exponentials are all 0, and the sum
    is floored at 1, which no row with a visible key can fall below.
    """
    peak = scores.max(axis=-1, keepdims=True)
    np.maximum(peak, np.finfo(scores.dtype).min, out=peak)
    scores -= peak
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    np.maximum(total, 1, out=total)
    scores /= total
    return scores


class Attention:
    """y = P̃ V with P = softmax(s Q Kᵀ + M) along each row and P̃ = P after dropout.  Derivation: derivations/attention.md

    A mixin for a Module: ``_attend`` keeps ``q``, ``k``, ``v``, ``probs``
    (P, read-only: it is also the weights handed out when there is no
    dropout), ``keep`` (dropout's keep-mask, None without dropout), ``scale``
    (s) and ``dropout_scale`` (1/(1 − p)) on the module, which names them in
    its ``saved_for_backward``; ``_attend_backward`` reads them.

    Shape: q (*, L, d), k (*, S, d), v (*, S, d_v), mask M broadcastable to
    (*, L, S) -> y (*, L, d_v) and P̃ (*, L, S); * is any leading axes
    (batch, heads).
    """

    def _attend(self, q, k, v, mask=None, scale=None, dropout_p=0.0, rng=None):
        """Forward, eq. (1)-(5); returns (y, P̃): the output and the attention weights it used."""
        scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
        scores = self._scores(q, k, scale)                                                # eq. (1)
        probs = keep_output(softmax_rows(scores if mask is None else np.add(scores, mask, out=scores)))   # eq. (2), (3)
        self.q, self.k, self.v, self.probs, self.scale = q, k, v, probs, scale
        self.keep, self.dropout_scale = None, 1.0
        weights = probs
        if dropout_p > 0:
            self.keep = as_generator(rng).random(probs.shape, dtype=probs.dtype) >= dropout_p
            self.dropout_scale = 1 / (1 - dropout_p) if dropout_p < 1 else 0.0
            weights = probs * self.keep
            weights *= self.dropout_scale                                # eq. (4)
        return weights @ v, weights                                      # eq. (5)

    def _scores(self, q, k, scale):
        """s Q Kᵀ, one row of scores per query, one column per key, eq. (1)."""
        scores = q @ k.swapaxes(-1, -2)
        scores *= scale                                                  # eq. (1)
        return scores

    def _attend_backward(self, grad_output, grad_weights=None):
        """Take dL/dy (and dL/dP̃ when the weights were used too); return (dL/dq, dL/dk, dL/dv), eq. (6)-(11)."""
        q, k, v, probs, keep, scale = self.q, self.k, self.v, self.probs, self.keep, self.scale
        weights = probs if keep is None else probs * keep * self.dropout_scale          # eq. (4)
        d_v = weights.swapaxes(-1, -2) @ grad_output                                     # eq. (6)
        d_probs = grad_output @ v.swapaxes(-1, -2)                                       # eq. (7)
        if grad_weights is not None:
            d_probs += grad_weights                                                      # eq. (7)
        if keep is not None:
            d_probs *= keep * self.dropout_scale                                         # eq. (8)
        d_scores = probs * (d_probs - np.sum(d_probs * probs, axis=-1, keepdims=True))   # eq. (9): row by row
        return scale * (d_scores @ k), scale * (d_scores.swapaxes(-1, -2) @ q), d_v      # eq. (10), (11)


# -- masks: PyTorch's three ways of hiding keys, as the additive M of eq. (2) -----------------------------

@functools.lru_cache(maxsize=32)
def causal_mask(length, source_length, dtype):
    """M of eq. (12): 0 where key j ≤ query i, −∞ above the diagonal (a query never sees a later key).

    (L, S), aligned at the top left as PyTorch's ``is_causal``; read-only and
    cached, so a model that runs every step at one length builds it once.
    """
    mask = np.triu(np.full((length, source_length), -np.inf, dtype=dtype), k=1)
    mask.flags.writeable = False
    return mask


def additive_mask(owner, mask, name, dtype, hidden_where):
    """A boolean or float mask as the additive M of eq. (2), in ``dtype``.

    ``hidden_where`` is what True means: True hides a key in
    ``MultiheadAttention``'s masks, True shows it in
    ``scaled_dot_product_attention``'s (PyTorch's two conventions).  A float
    mask is added as it is; it must have the attention's dtype.
    """
    if mask.dtype == np.bool_:
        hidden = mask if hidden_where else ~mask
        return np.where(hidden, np.array(-np.inf, dtype), np.array(0, dtype))
    if mask.dtype.kind != "f":
        raise TypeError(f"{name_of(owner)}: expected {name} to be a boolean mask or a float mask of dtype {dtype}, "
                        f"got dtype {mask.dtype}")
    if mask.dtype != dtype:
        raise TypeError(f"{name_of(owner)}: {name} has dtype {mask.dtype} but the attention computes in {dtype}; "
                        f"pass a boolean mask or {name}.astype(np.{dtype})")
    if np.isnan(mask).any():
        raise ValueError(f"{name_of(owner)}: {name} contains NaN; a float mask holds numbers added to the scores "
                         "(0 to keep a key, -inf to hide it)")
    return mask


def combine(first, second):
    """M₁ + M₂ where None is no mask (two masks hide what either hides)."""
    if first is None:
        return second
    return first if second is None else first + second


def check_mask_shape(owner, mask, name, allowed, description):
    """Require ``mask.shape`` to be one of ``allowed``; ``description`` spells them for the message."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name_of(owner)}: expected {name} to be a numpy.ndarray (boolean or float), "
                        f"got {type(mask).__name__}")
    if mask.shape not in allowed:
        raise ValueError(f"{name_of(owner)}: expected {name} of shape {description}, got {mask.shape}")


# -- the function: functional.scaled_dot_product_attention's layer ------------------------------------

class ScaledDotProductAttention(Attention, Module):
    """softmax(s Q Kᵀ + M) V, PyTorch's ``scaled_dot_product_attention`` as a layer.  Derivation: derivations/attention.md

    ``functional.scaled_dot_product_attention`` and ``autograd``'s node of
    the same name run it.  Shape: query (N, ..., L, E), key (N, ..., S, E),
    value (N, ..., S, E_v) -> (N, ..., L, E_v).  ``attn_mask``: boolean
    (True = the query may attend to the key, PyTorch's meaning here) or
    float (added), broadcastable to (N, ..., L, S); ``is_causal``: the mask
    of eq. (12), top-left aligned.  ``backward(dL/dy)`` returns
    ``(dL/dquery, dL/dkey, dL/dvalue)``.  A query whose every key is hidden
    gets output 0 and passes no gradient, as PyTorch's function does.
    """

    saved_for_backward = ("q", "k", "v", "probs", "keep", "scale", "dropout_scale")

    def __init__(self, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, rng=None):
        super().__init__()
        owner = "scaled_dot_product_attention"
        if attn_mask is not None and is_causal:
            raise ValueError(f"{owner}: give attn_mask or is_causal=True, not both (PyTorch refuses the pair too)")
        if isinstance(dropout_p, bool) or not isinstance(dropout_p, numbers.Real) or not 0 <= dropout_p <= 1:
            raise ValueError(f"{owner}: expected dropout_p, the probability of dropping a weight, in [0, 1], "
                             f"got {dropout_p!r}")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)
                                  or not math.isfinite(scale)):
            raise ValueError(f"{owner}: expected scale to be a finite number or None (1/√E), got {scale!r}")
        self.attn_mask, self.dropout_p, self.is_causal = attn_mask, float(dropout_p), bool(is_causal)
        self.attention_scale = None if scale is None else float(scale)
        self.rng = as_generator(rng)

    def forward(self, query, key, value):
        self._check_inputs(query, key, value)
        mask = None
        if self.is_causal:
            mask = causal_mask(query.shape[-2], key.shape[-2], query.dtype)
        elif self.attn_mask is not None:
            mask = additive_mask(self, self.attn_mask, "attn_mask", query.dtype, hidden_where=False)
        y, _ = self._attend(keep_input(query), keep_input(key), keep_input(value), mask,
                            self.attention_scale, self.dropout_p, self.rng)
        return y

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; return (dL/dquery, dL/dkey, dL/dvalue)."""
        check_grad_output(self, grad_output, self.q.shape[:-1] + self.v.shape[-1:], self.q.dtype)
        return self._attend_backward(grad_output)

    def _check_inputs(self, query, key, value):
        for name, array in (("query", query), ("key", key), ("value", value)):
            check_float_array(self, array, name)
            if array.ndim < 2:
                raise ValueError(f"{self.describe()}: expected {name} of shape (..., sequence, features), "
                                 f"got shape {array.shape}")
            check_dtype_matches(self, array, query.dtype, name)
        if query.shape[-1] != key.shape[-1]:
            raise ValueError(f"{self.describe()}: query and key must have the same number of features E "
                             f"(q·k is a dot product), got query {query.shape} and key {key.shape}")
        if key.shape[-2] != value.shape[-2]:
            raise ValueError(f"{self.describe()}: key and value must have the same source length S "
                             f"(one value per key), got key {key.shape} and value {value.shape}")
        try:
            np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
            if self.attn_mask is not None:
                np.broadcast_shapes(self.attn_mask.shape, query.shape[:-1] + key.shape[-2:-1])
        except ValueError:
            raise ValueError(f"{self.describe()}: the leading axes of query {query.shape}, key {key.shape} and "
                             f"value {value.shape} (and attn_mask "
                             f"{getattr(self.attn_mask, 'shape', None)}) do not broadcast together") from None

    def describe(self):
        options = [f"dropout_p={self.dropout_p}"] + (["is_causal=True"] if self.is_causal else [])
        return f"scaled_dot_product_attention({', '.join(options)})"


# -- heads: one (N, L, E) array as H arrays (N, H, L, d), and back ----------------------------------------

def split_heads(x, heads):
    """(N, L, E) -> (N, H, L, E/H): head h reads features h·d … (h + 1)·d − 1, eq. (14)."""
    batch, length, features = x.shape
    return x.reshape(batch, length, heads, features // heads).transpose(0, 2, 1, 3)


def merge_heads(y):
    """(N, H, L, d) -> (N, L, H·d): the heads side by side again, eq. (15)."""
    batch, heads, length, head_features = y.shape
    return y.transpose(0, 2, 1, 3).reshape(batch, length, heads * head_features)
