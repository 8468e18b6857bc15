"""Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, and MultiheadAttention.

None has parameters, so backward only turns G = dL/dy into dL/dx.  Every
layer accepts any input shape, 0-d arrays included, as PyTorch does, and
keeps its dtype.  A layer that keeps its output for backward
hands it out read-only (``keep_output``): ``y *= 2`` would change what
backward reads.  ``inplace=True`` (ReLU, LeakyReLU) is accepted so PyTorch
code runs unchanged, and changes nothing: a layer here never overwrites its
input, because backward may read it.  Each backward line carries the
number of the equation it implements in the layer's page under derivations/.
``MultiheadAttention`` lives here as it does in ``torch/nn/modules/activation.py``
(it has parameters; its attention math is in ``_attention.py``, its
machinery in ``_multihead.py``).
"""

import math

import numpy as np

from manualnet._numerics import sigmoid, softmax, softmax_parts
from manualnet._checks import check_float_array, check_grad_output, check_real
from manualnet._rng import as_generator
from manualnet.nn.modules.module import Module, as_ndarray, keep_input, keep_output

from . import _multihead as machinery
from ._attention import Attention, merge_heads, split_heads


class ReLU(Module):
    """y = max(x, 0), element-wise.  Derivation: derivations/relu.md

    Shape: x (*) -> y (*), the same shape.  At the kink x = 0 the gradient
    is taken as 0, as in PyTorch.  Backward reads the mask from the kept
    output: y > 0 exactly where x > 0.
    """

    saved_for_backward = ("y",)

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = bool(inplace)                 # accepted, changes nothing (module docstring)

    def forward(self, x):
        check_float_array(self, x)
        # Against an array of zeros, not the number 0: NumPy 2 runs np.maximum(x, 0) on
        # large arrays about twice as slowly (benchmarks/README.md, "Element-wise layers").
        zeros = np.zeros_like(x)
        self.y = keep_output(np.maximum(x, zeros, out=zeros))     # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ 1[x > 0]."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output * (y > 0))     # eq. (4)


class LeakyReLU(Module):
    """y = x for x > 0, a·x otherwise (a = negative_slope).  Derivation: derivations/relu.md

    Shape: x (*) -> y (*).  At x = 0 the gradient is taken as a, as in
    PyTorch.  Backward needs the side of the kink each x was on, so forward
    keeps x (the sign of y would not tell it for a < 0).
    """

    saved_for_backward = ("x",)

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = check_real("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = bool(inplace)                 # accepted, changes nothing (module docstring)

    def forward(self, x):
        check_float_array(self, x)
        self.x = keep_input(x)                       # kept for backward
        return as_ndarray(np.maximum(x, 0) + self.negative_slope * np.minimum(x, 0))   # eq. (2)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G where x > 0, a·G elsewhere."""
        x = self.x
        check_grad_output(self, grad_output, x.shape, x.dtype)
        if not need_input_grad:
            return None
        positive = x > 0
        return as_ndarray(grad_output * positive + (self.negative_slope * grad_output) * ~positive)   # eq. (6)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e^{−x}), element-wise.  Derivation: derivations/sigmoid.md

    Shape: x (*) -> y (*).  Computed without overflow for any |x| (see
    ``functional.sigmoid``); backward uses the kept output: σ' = y (1 − y).
    """

    saved_for_backward = ("y",)

    def forward(self, x):
        check_float_array(self, x)
        self.y = keep_output(sigmoid(x))           # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ y ⊙ (1 − y)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output * y * (1 - y))     # eq. (3)


class Tanh(Module):
    """y = tanh(x), element-wise.  Derivation: derivations/tanh.md

    Shape: x (*) -> y (*).  Backward uses the kept output: tanh' = 1 − y².
    """

    saved_for_backward = ("y",)

    def forward(self, x):
        check_float_array(self, x)
        self.y = keep_output(np.tanh(x))             # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ (1 − y²)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output * (1 - y * y))     # eq. (3)


class GELU(Module):
    """y = x Φ(x), Φ the standard normal CDF; ``approximate='tanh'``: Φ by a tanh.  Derivation: derivations/gelu.md

    Shape: x (*) -> y (*).  Both forms are y = x ⊙ g(x) with a gate g
    between 0 and 1: the exact g = Φ(x) = ½(1 + erf(x/√2)) (PyTorch's
    default, nanoGPT's) and the tanh form g = ½(1 + tanh(√(2/π)(x + 0.044715 x³)))
    (GPT-2's, llm.c's).  Forward keeps x and the gate: backward needs
    dy/dx = g + x g'.
    """

    saved_for_backward = ("x", "gate")

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' (the exact erf form) or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        check_float_array(self, x)
        self.x = keep_input(x)                                   # kept for backward
        if self.approximate == "none":
            gate = as_ndarray(x * _SQRT_HALF)
            from scipy.special import erf       # SciPy loads with the first exact GELU, not with manualnet
            erf(gate, out=gate)                                  # erf(x/√2), in place: one temporary
        else:
            gate = as_ndarray(x * x * x)
            gate *= _TANH_CUBIC
            gate += x
            gate *= _SQRT_2_OVER_PI
            np.tanh(gate, out=gate)                              # t = tanh(u), eq. (2)
        gate += 1
        gate *= 0.5                                              # g = Φ(x), eq. (1); g = ½(1 + t), eq. (2)
        self.gate = gate
        return as_ndarray(x * gate)                              # eq. (1), (2)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ (g + x g'): g' = φ(x) (exact), ½(1 − t²) √(2/π)(1 + 3·0.044715 x²) (tanh)."""
        x, gate = self.x, self.gate
        check_grad_output(self, grad_output, x.shape, x.dtype)
        if not need_input_grad:
            return None
        slope = as_ndarray(x * x)
        if self.approximate == "none":
            slope *= -0.5
            np.exp(slope, out=slope)
            slope *= _INV_SQRT_2PI                               # φ(x), eq. (3)
        else:
            t = 2 * gate - 1
            slope *= 3 * _TANH_CUBIC
            slope += 1
            slope *= (0.5 * _SQRT_2_OVER_PI) * (1 - t * t)       # eq. (5)
        slope *= x
        slope += gate                                            # dy/dx = g + x g', eq. (3), (5)
        slope *= grad_output
        return slope                                             # eq. (4), (6)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_TANH_CUBIC = 0.044715


class Softmax(Module):
    """y_i = e^{x_i} / Σ_j e^{x_j} along ``dim``.  Derivation: derivations/softmax.md

    Shape: x (*) -> y (*), entries in [0, 1] summing to 1 along ``dim`` (any
    axis; a 0-d x gives y = 1).  Backward applies the Jacobian diag(y) − y yᵀ
    to G without building it.

    ``dim=None`` is PyTorch's default, with its implicit choice: the only axis
    of a 1-D input and dim 1 of a 2-D one — the last axis either way, here
    too.  For 3 or more dimensions PyTorch picks dim 0 for 3-D and dim 1
    otherwise (a deprecated rule that normalises over the batch of an
    (N, T, C) input); manualnet refuses those and asks for ``dim``.
    """

    saved_for_backward = ("y",)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim(type(self).__name__, dim)

    def forward(self, x):
        axis = _check_input_along_dim(self, x)
        self.y = keep_output(softmax(x, axis=axis))        # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = y ⊙ (G − Σ_j G_j y_j)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        weighted_sum = np.sum(grad_output * y, axis=_softmax_axis(self, y.shape), keepdims=True)
        return as_ndarray(y * (grad_output - weighted_sum))      # eq. (4)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y_i = x_i − log Σ_j e^{x_j} along ``dim``.  Derivation: derivations/softmax.md

    Shape: x (*) -> y (*) (any axis; a 0-d x gives y = 0).  Computed from the
    shifted logits x − max x, so it is exact to rounding at any offset
    (logits of 1e8 included) and never takes the log of an underflowed
    softmax.  Backward needs p = softmax(x), which forward keeps, computed
    from the same shifted logits.  ``dim=None`` as in Softmax.
    """

    saved_for_backward = ("probs",)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim(type(self).__name__, dim)

    def forward(self, x):
        axis = _check_input_along_dim(self, x)
        shifted, self.probs, log_total = softmax_parts(x, axis=axis)   # p = e^y, eq. (5), kept for backward
        return as_ndarray(shifted - log_total)                       # eq. (2)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G − p ⊙ Σ_j G_j, with p = softmax(x)."""
        p = self.probs
        check_grad_output(self, grad_output, p.shape, p.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output - p * np.sum(grad_output, axis=_softmax_axis(self, p.shape), keepdims=True))   # eq. (6)

    def extra_repr(self):
        return f"dim={self.dim}"


class MultiheadAttention(Attention, Module):
    """softmax(s Q Kᵀ + M) V in num_heads heads, between an in- and an out-projection.  Derivation: derivations/attention.md

    Q = query W_qᵀ + b_q, K = key W_kᵀ + b_k, V = value W_vᵀ + b_v (eq. (13)),
    each split into num_heads heads of d = embed_dim/num_heads features
    (eq. (14)); each head attends (eq. (1)-(5), scale s = 1/√d); the heads
    side by side go through ``out_proj`` (eq. (15)).  PyTorch's parameters
    and layout: ``in_proj_weight`` (3E, E) stacking W_q, W_k, W_v and
    ``in_proj_bias`` (3E,) — or ``q_proj_weight`` (E, E), ``k_proj_weight``
    (E, kdim), ``v_proj_weight`` (E, vdim) when kdim or vdim differ from
    embed_dim — ``out_proj.weight``, ``out_proj.bias``, and with
    ``add_bias_kv`` ``bias_k``, ``bias_v`` (1, 1, E), appended to every
    sequence of keys and values.  ``add_zero_attn`` appends a key and value
    of zeros after the heads are split.

    Shape: query (L, N, E), key (S, N, kdim), value (S, N, vdim) — (N, L, E)
    etc. with ``batch_first``, (L, E) unbatched — -> ``(attn_output,
    attn_weights)``: attn_output as query, attn_weights (N, L, S) averaged
    over the heads (``average_attn_weights``), else (N, num_heads, L, S),
    None with ``need_weights=False``.  Masks as PyTorch's: ``attn_mask``
    (L, S) or (N·num_heads, L, S), ``key_padding_mask`` (N, S); boolean
    (True hides the key) or float (added to the scores).  ``is_causal`` is
    PyTorch's hint that attn_mask is the causal mask: attn_mask is required
    and applied as given.  A query whose every key is hidden gets output 0
    (PyTorch gives NaN when need_weights=True, 0 otherwise).

    ``backward((dL/dattn_output, dL/dattn_weights or None))`` returns
    ``(dL/dquery, dL/dkey, dL/dvalue)``; for self-attention (query, key and
    value the same array) the caller adds the three.  ``dropout`` drops
    attention weights in training, with masks from ``rng``.
    """

    saved_for_backward = ("q", "k", "v", "probs", "keep", "scale", "dropout_scale", "inputs", "layout")

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=np.float32, *, rng=None):
        super().__init__()
        self.rng = as_generator(rng)
        machinery.build(self, embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim, vdim,
                        batch_first, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's init: Xavier-uniform projections, zero biases, Xavier-normal bias_k and bias_v."""
        machinery.reset_parameters(self)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        x_q, x_k, x_v, layout = machinery.check_inputs(self, query, key, value, need_weights, average_attn_weights)
        mask = machinery.attention_mask(self, key_padding_mask, attn_mask, is_causal, len(x_q), x_q.shape[1],
                                        x_k.shape[1], x_q.dtype, layout.unbatched)
        (W_q, _, b_q, _), (W_k, _, b_k, _), (W_v, _, b_v, _) = machinery.projections(self)
        q, k, v = machinery.project(x_q, W_q, b_q), machinery.project(x_k, W_k, b_k), machinery.project(x_v, W_v, b_v)
        if self.bias_k is not None:                                      # one more key and value, eq. (20)
            k = np.concatenate([k, np.broadcast_to(self.bias_k.data, (len(k), 1, self.embed_dim))], axis=1)
            v = np.concatenate([v, np.broadcast_to(self.bias_v.data, (len(v), 1, self.embed_dim))], axis=1)
            mask = machinery.with_extra_key(mask)
        q, k, v = (split_heads(a, self.num_heads) for a in (q, k, v))   # eq. (14)
        if self.add_zero_attn:                                           # one more key and value of zeros, eq. (20)
            k, v = (np.concatenate([a, np.zeros(a.shape[:2] + (1, a.shape[3]), a.dtype)], axis=2) for a in (k, v))
            mask = machinery.with_extra_key(mask)
        y, weights = self._attend(q, k, v, mask, dropout_p=self.dropout if self.training else 0.0,
                                  rng=self.rng)                          # eq. (1)-(5)
        self.inputs, self.layout = (x_q, x_k, x_v), layout
        output = layout.outward(self.out_proj(merge_heads(y)))          # eq. (15)
        return output, layout.weights_outward(weights) if layout.need_weights else None

    def backward(self, grad_output, need_input_grad=True):
        """Take (dL/dattn_output, dL/dattn_weights or None); add every parameter's gradient; return
        (dL/dquery, dL/dkey, dL/dvalue)."""
        (x_q, x_k, x_v), layout, probs = self.inputs, self.layout, self.probs
        d_output, d_weights = machinery.split_grad_output(
            self, grad_output, layout, layout.output_shape(x_q.shape[:2] + (self.embed_dim,)),
            layout.weights_shape(probs.shape), probs.dtype)
        if d_output is not None:
            d_y = split_heads(self.out_proj.backward(layout.inward(d_output)), self.num_heads)   # eq. (16)
        else:
            d_y = np.zeros(probs.shape[:-1] + (self.head_dim,), probs.dtype)
        d_q, d_k, d_v = self._attend_backward(d_y, None if d_weights is None
                                              else layout.weights_inward(d_weights, self.num_heads))   # eq. (6)-(11)
        if self.add_zero_attn:
            d_k, d_v = d_k[:, :, :-1], d_v[:, :, :-1]                    # the zero key has no parameter
        d_q, d_k, d_v = merge_heads(d_q), merge_heads(d_k), merge_heads(d_v)   # eq. (14)
        if self.bias_k is not None:
            self.bias_k.grad += d_k[:, -1:].sum(axis=0, keepdims=True)  # eq. (20)
            self.bias_v.grad += d_v[:, -1:].sum(axis=0, keepdims=True)  # eq. (20)
            d_k, d_v = d_k[:, :-1], d_v[:, :-1]
        grads = [machinery.project_backward(d, x, W, dW, db, need_input_grad)            # eq. (17)
                 for d, x, (W, dW, _, db) in zip((d_q, d_k, d_v), (x_q, x_k, x_v), machinery.projections(self))]
        if not need_input_grad:
            return None, None, None
        return tuple(layout.outward(grad) for grad in grads)

    def extra_repr(self):
        text = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.kdim != self.embed_dim or self.vdim != self.embed_dim:
            text += f", kdim={self.kdim}, vdim={self.vdim}"
        for name in ("add_zero_attn", "batch_first"):
            if getattr(self, name):
                text += f", {name}=True"
        if self.bias_k is not None:
            text += ", add_bias_kv=True"
        if self.in_proj_bias is None:
            text += ", bias=False"
        return text


# -- checks -------------------------------------------------------------------

def _check_dim(owner, dim):
    if dim is None:
        return None
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{owner}: expected an integer dim (or None), got {dim!r}")
    return int(dim)


def _check_input_along_dim(layer, x):
    """A float array (any shape, 0-d included); return the axis to normalise along."""
    check_float_array(layer, x)
    return _softmax_axis(layer, x.shape)


def _softmax_axis(layer, shape):
    """The axis Softmax/LogSoftmax normalise along for an input of ``shape``: ``layer.dim``, or PyTorch's implicit one.

    A 0-d input counts as one axis (dim 0 or −1, as in PyTorch) and gives
    axis=None, which NumPy's reductions read as "the whole 0-d array".
    """
    ndim, dim = len(shape), layer.dim
    if dim is None:
        if ndim >= 3:
            raise ValueError(
                f"{layer.describe()}: dim=None on a {ndim}-D input of shape {shape}: PyTorch's implicit choice "
                f"would be dim {0 if ndim == 3 else 1} (a deprecated rule: dim 0 of a 3-D input is its batch); "
                f"say which axis holds the classes, e.g. {type(layer).__name__}(dim=-1)"
            )
        dim = -1                                 # PyTorch's implicit dim for 0-, 1- and 2-D inputs is the last axis
    axes = max(ndim, 1)
    if not -axes <= dim < axes:
        raise ValueError(
            f"{layer.describe()}: dim {dim} is out of range for an input of shape "
            f"{shape} ({ndim}-D); expected dim in [{-axes}, {axes - 1}]"
        )
    return dim if ndim else None
