"""MultiheadAttention's machinery: its parameters, layouts, input checks, masks and projections.

The layer itself (``activation.py``) reads top to bottom as derivations/attention.md
does — project, split the heads, attend, merge, project — and calls these
for everything that is bookkeeping rather than a derivative: PyTorch's three
layouts ((L, N, E), (N, L, E) with ``batch_first``, (L, E) unbatched),
its masks, ``add_bias_kv`` and ``add_zero_attn``, and the checks that make a
wrong shape an error naming the layer.  The in-projection's gradients (eq. (17)) are
here too, next to the forward they invert.  Derivation: derivations/attention.md
"""

from dataclasses import dataclass

import numpy as np

from manualnet._checks import (as_float_dtype, check_device, check_dtype_matches, check_float_array,
                               check_grad_output, check_positive_int, name_of)
from manualnet.nn import init
from manualnet.nn.parameter import Parameter

from ._attention import additive_mask, check_mask_shape, combine
from .linear import Linear
from .module import keep_input, split_pair


def build(layer, embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim, vdim, batch_first,
          device, dtype):
    """Set the options and register PyTorch's parameters, in PyTorch's order, on ``layer``."""
    owner = "MultiheadAttention"
    check_device(owner, device)
    layer.embed_dim = check_positive_int(owner, "embed_dim", embed_dim)
    layer.num_heads = check_positive_int(owner, "num_heads", num_heads)
    if layer.embed_dim % layer.num_heads:
        raise ValueError(f"{owner}: embed_dim must be divisible by num_heads (each head reads embed_dim/num_heads "
                         f"features), got embed_dim={embed_dim} and num_heads={num_heads}")
    layer.kdim = layer.embed_dim if kdim is None else check_positive_int(owner, "kdim", kdim)
    layer.vdim = layer.embed_dim if vdim is None else check_positive_int(owner, "vdim", vdim)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
        raise ValueError(f"{owner}: expected dropout, the probability of dropping an attention weight, in [0, 1], "
                         f"got {dropout!r}")
    for name, value in (("bias", bias), ("add_bias_kv", add_bias_kv), ("add_zero_attn", add_zero_attn),
                        ("batch_first", batch_first)):
        if not isinstance(value, bool):
            raise TypeError(f"{owner}: expected {name} to be True or False, got {value!r}")
    layer.dropout, layer.batch_first, layer.add_zero_attn = float(dropout), batch_first, add_zero_attn
    layer.head_dim = layer.embed_dim // layer.num_heads
    dtype = as_float_dtype(dtype, owner)
    E = layer.embed_dim
    layer._qkv_same_embed_dim = layer.kdim == E and layer.vdim == E
    if layer._qkv_same_embed_dim:
        layer.in_proj_weight = Parameter(np.empty((3 * E, E), dtype))
        layer.q_proj_weight = layer.k_proj_weight = layer.v_proj_weight = None
    else:
        layer.in_proj_weight = None
        layer.q_proj_weight = Parameter(np.empty((E, E), dtype))
        layer.k_proj_weight = Parameter(np.empty((E, layer.kdim), dtype))
        layer.v_proj_weight = Parameter(np.empty((E, layer.vdim), dtype))
    layer.in_proj_bias = Parameter(np.empty(3 * E, dtype)) if bias else None
    layer.out_proj = Linear(E, E, bias=bias, dtype=dtype, rng=layer.rng)
    if add_bias_kv:
        layer.bias_k = Parameter(np.empty((1, 1, E), dtype))
        layer.bias_v = Parameter(np.empty((1, 1, E), dtype))
    else:
        layer.bias_k = layer.bias_v = None


def reset_parameters(layer):
    """Xavier-uniform projections, zero biases, Xavier-normal bias_k and bias_v, drawn from ``layer.rng``."""
    rng = layer.rng
    for weight in (layer.in_proj_weight, layer.q_proj_weight, layer.k_proj_weight, layer.v_proj_weight):
        if weight is not None:
            init.xavier_uniform_(weight, rng=rng)
    if layer.in_proj_bias is not None:
        init.zeros_(layer.in_proj_bias)
        init.zeros_(layer.out_proj.bias)
    for extra in (layer.bias_k, layer.bias_v):
        if extra is not None:
            init.xavier_normal_(extra, rng=rng)


def projections(layer):
    """((W_q, b_q), (W_k, b_k), (W_v, b_v)): Parameters, or row blocks of the packed in_proj_weight/in_proj_bias.

    Each entry is (weight data, weight grad, bias data, bias grad): views, so
    adding into a block's grad adds into the packed Parameter's.
    """
    E = layer.embed_dim
    blocks = []
    for index, separate in enumerate((layer.q_proj_weight, layer.k_proj_weight, layer.v_proj_weight)):
        rows = slice(index * E, (index + 1) * E)
        weight = separate if separate is not None else layer.in_proj_weight
        W, dW = (weight.data, weight.grad) if separate is not None else (weight.data[rows], weight.grad[rows])
        b = db = None
        if layer.in_proj_bias is not None:
            b, db = layer.in_proj_bias.data[rows], layer.in_proj_bias.grad[rows]
        blocks.append((W, dW, b, db))
    return blocks


def project(x, W, b):
    """x Wᵀ + b over every position: (N, L, in) -> (N, L, E), eq. (13)."""
    y = (x.reshape(-1, x.shape[-1]) @ W.T).reshape(x.shape[:-1] + (W.shape[0],))
    if b is not None:
        y += b                                                           # eq. (13)
    return y


def project_backward(d, x, W, dW, db, need_input_grad):
    """Add dL/dW = dᵀ x and dL/db = Σ d; return dL/dx = d W, eq. (17)."""
    rows, inputs = d.reshape(-1, d.shape[-1]), x.reshape(-1, x.shape[-1])
    dW += rows.T @ inputs                                                # eq. (17)
    if db is not None:
        db += rows.sum(axis=0)                                           # eq. (17)
    return (rows @ W).reshape(x.shape) if need_input_grad else None     # eq. (17)


# -- layouts -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How the caller lays out the sequences, and which weights forward returned: what backward must undo."""

    batch_first: bool
    unbatched: bool
    need_weights: bool
    average: bool

    def inward(self, x):
        """The caller's array as (N, L, F)."""
        if self.unbatched:
            return x[None]
        return x if self.batch_first else x.swapaxes(0, 1)

    def outward(self, x):
        """(N, L, F) as the caller lays it out."""
        if self.unbatched:
            return x[0]
        return x if self.batch_first else x.swapaxes(0, 1)

    def output_shape(self, shape):
        """The caller's shape of an (N, L, F) array."""
        batch, length, features = shape
        if self.unbatched:
            return length, features
        return shape if self.batch_first else (length, batch, features)

    def weights_shape(self, shape):
        """The shape of the weights forward returned, from P̃'s (N, H, L, S)."""
        returned = (shape[0],) + shape[2:] if self.average else shape
        return returned[1:] if self.unbatched else returned

    def weights_outward(self, weights):
        """P̃ (N, H, L, S) as returned: averaged over the heads (N, L, S) or each head's; without N unbatched."""
        returned = weights.mean(axis=1) if self.average else weights         # eq. (18)
        return returned[0] if self.unbatched else returned

    def weights_inward(self, grad, heads):
        """dL/d(returned weights) as dL/dP̃, broadcastable to (N, H, L, S), eq. (18)."""
        grad = grad[None] if self.unbatched else grad
        return grad[:, None] / heads if self.average else grad           # eq. (18)


def check_inputs(layer, query, key, value, need_weights, average_attn_weights):
    """Validate query, key and value; return them as (N, L, E), (N, S, kdim), (N, S, vdim) and the Layout."""
    dtype = layer.out_proj.weight.dtype
    for name, array in (("query", query), ("key", key), ("value", value)):
        check_float_array(layer, array, name)
        check_dtype_matches(layer, array, dtype, name)
    layout = "(N, L, E)" if layer.batch_first else "(L, N, E)"
    if query.ndim not in (2, 3) or query.shape[-1] != layer.embed_dim:
        raise ValueError(f"{name_of(layer)}: expected query of shape {layout.replace('E', str(layer.embed_dim))} or "
                         f"(L, {layer.embed_dim}) unbatched, got shape {query.shape}")
    for name, array, size in (("key", key, layer.kdim), ("value", value, layer.vdim)):
        if array.ndim != query.ndim or array.shape[-1] != size:
            what = "kdim" if name == "key" else "vdim"
            raise ValueError(f"{name_of(layer)}: expected {name} of shape {layout.replace('L', 'S').replace('E', str(size))} "
                             f"({what} = {size} features, as many dimensions as query's {query.ndim}), "
                             f"got shape {array.shape}")
    for name, flag in (("need_weights", need_weights), ("average_attn_weights", average_attn_weights)):
        if np.ndim(flag) != 0 or np.asarray(flag).dtype != np.bool_:
            raise TypeError(f"{name_of(layer)}: expected {name} to be True or False, got {flag!r}")
    found = Layout(layer.batch_first, query.ndim == 2, bool(need_weights), bool(average_attn_weights))
    q, k, v = (found.inward(array) for array in (query, key, value))
    if not q.shape[0] == k.shape[0] == v.shape[0]:
        raise ValueError(f"{name_of(layer)}: query, key and value must hold the same batch, got batch sizes {q.shape[0]}, "
                         f"{k.shape[0]} and {v.shape[0]} (batch_first={layer.batch_first}: is the layout right?)")
    if k.shape[1] != v.shape[1]:
        raise ValueError(f"{name_of(layer)}: key and value must have the same source length S (one value per key), got "
                         f"{k.shape[1]} and {v.shape[1]}")
    x_q = keep_input(q)
    x_k = x_q if key is query else keep_input(k)                       # self-attention: one kept copy
    x_v = x_k if value is key else keep_input(v)
    return x_q, x_k, x_v, found


def attention_mask(layer, key_padding_mask, attn_mask, is_causal, batch, length, source, dtype, unbatched):
    """The additive M of eq. (2), broadcastable to (N, H, L, S), from PyTorch's two masks (True hides a key)."""
    heads = layer.num_heads
    if is_causal and attn_mask is None:
        raise ValueError(f"{name_of(layer)}: is_causal=True is a hint that attn_mask is the causal mask, and attn_mask is "
                         "None; pass attn_mask (e.g. np.triu(np.ones((L, L), bool), k=1)), as PyTorch requires")
    mask = None
    if attn_mask is not None:
        batched_3d = (batch * heads, length, source) if not unbatched else (heads, length, source)
        check_mask_shape(layer, attn_mask, "attn_mask", {(length, source), batched_3d},
                         f"(L, S) = ({length}, {source}) or {'(num_heads' if unbatched else '(N·num_heads'}, L, S) "
                         f"= {batched_3d}")
        mask = additive_mask(layer, attn_mask, "attn_mask", dtype, hidden_where=True)
        mask = mask.reshape(((1, 1) if mask.ndim == 2 else (batch, heads)) + mask.shape[-2:])
    if key_padding_mask is not None:
        expected = (source,) if unbatched else (batch, source)
        check_mask_shape(layer, key_padding_mask, "key_padding_mask", {expected},
                         f"{'(S,)' if unbatched else '(N, S)'} = {expected}")
        padding = additive_mask(layer, key_padding_mask, "key_padding_mask", dtype, hidden_where=True)
        mask = combine(mask, padding.reshape(batch, 1, 1, source))
    return mask


def with_extra_key(mask):
    """M with a column of zeros for one more key (bias_k, or add_zero_attn's zero key): it is always seen."""
    if mask is None:
        return None
    return np.concatenate([mask, np.zeros(mask.shape[:-1] + (1,), mask.dtype)], axis=-1)


def split_grad_output(layer, grad_output, layout, output_shape, weights_shape, dtype):
    """(dL/dattn_output, dL/dattn_weights or None) from what backward was given, each checked."""
    d_output, d_weights = split_pair(name_of(layer), grad_output, ("dL/dattn_output", "dL/dattn_weights or None"))
    if d_weights is not None and not layout.need_weights:
        raise ValueError(f"{name_of(layer)}: got a gradient for attn_weights, but forward ran with "
                         "need_weights=False and returned None for them")
    if d_output is not None:
        check_grad_output(layer, d_output, output_shape, dtype)
    if d_weights is not None:
        check_grad_output(layer, d_weights, weights_shape, dtype)
    return d_output, d_weights
