"""The layers whose forward takes several tensors or returns a tuple: attention and the recurrent layers.

``StructuredLayerNode`` is ``LayerNode`` for such a layer: forward takes the
layer's arguments as given (nested tuples allowed: an LSTM's ``(h_0, c_0)``)
and may return a tuple; backward hands the layer the gradient of each
output, in forward's structure (None for an output no gradient reached, as
the layers' own convention has it), and reads the gradient of each input
tensor back from what the layer returns — ``(dL/dquery, dL/dkey,
dL/dvalue)``, ``(dL/dinput, (dL/dh_0, dL/dc_0))``.  The math stays in the
layers; ``record`` (tensor.py) links the tuples into the graph.

Names: ``scaled_dot_product_attention`` records PyTorch's node for its CPU
kernel; PyTorch builds multi-head attention and the recurrent layers out of
many small nodes, so manualnet's one node each has a name of its own
(``MultiheadAttentionBackward``, ``LSTMBackward``, ...), as
``cross_entropy``'s ``CrossEntropyLossBackward``.  Derivations:
derivations/autograd.md and each layer's page.
"""

from manualnet._structure import flatten, flatten_like
from manualnet.nn.modules._attention import ScaledDotProductAttention
from manualnet.nn.modules.activation import MultiheadAttention
from manualnet.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

from manualnet.nn.utils.init import skip_init
from manualnet.registry import REGISTRY

from .functional import _refuse, _tensor
from .layer_node import LayerNode
from .tensor import _array, record


class StructuredLayerNode(LayerNode):
    """A layer node whose forward takes ``arguments`` inputs (tuples allowed) before the parameters, and may
    return a tuple; its backward returns one gradient per input tensor, then the parameters' gradients."""

    def __init__(self, name, layer, arguments, **options):
        super().__init__(name, layer)
        self.arguments, self.options = arguments, options

    def forward(self, *arrays):
        inputs, parameter_arrays = arrays[:self.arguments], arrays[self.arguments:]
        for parameter, array in zip(self.layer.parameters(), parameter_arrays):
            parameter.data = array
        self.input_template = tuple(_placeholders(value) for value in inputs)
        return self.layer.forward(*inputs, **self.options)

    def backward(self, grad_output):
        layer = self.layer
        for parameter in layer.parameters():
            parameter.zero_grad()
        inputs = len(flatten(self.input_template))
        grads = layer.backward(grad_output, need_input_grad=any(self.needs_input_grad[:inputs]))
        grads = grads if self.arguments > 1 else (grads,)
        return (*flatten_like(self.input_template, grads), *(parameter.grad for parameter in layer.parameters()))


def _placeholders(value):
    """The nesting of an input, its leaves replaced by None: all backward needs to read the gradients back."""
    if isinstance(value, (tuple, list)):
        return tuple(_placeholders(part) for part in value)
    return None


def _maybe(value, function, name):
    return None if value is None else _tensor(value, function, name)


# -- attention -------------------------------------------------------------------------------------------------

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, rng=None):
    """softmax(s Q Kᵀ + M) V through the attention layers' own code (derivations/attention.md):
    ScaledDotProductFlashAttentionForCpuBackward0, PyTorch's node for its CPU kernel.

    ``attn_mask`` is a constant (boolean: True may attend; or float, added); masks get no gradient.
    """
    _refuse("scaled_dot_product_attention", "scaled_dot_product_attention", enable_gqa=(enable_gqa, False))
    layer = ScaledDotProductAttention(_array(attn_mask), dropout_p, is_causal, scale, rng)
    function = "scaled_dot_product_attention"
    return record(StructuredLayerNode("ScaledDotProductFlashAttentionForCpuBackward0", layer, 3),
                  _tensor(query, function, "query"), _tensor(key, function, "key"), _tensor(value, function, "value"))


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False, *, rng=None):
    """PyTorch's ``F.multi_head_attention_forward`` through ``MultiheadAttention``: one node,
    MultiheadAttentionBackward (PyTorch records the projections, the bmm's and the softmax one by one).

    Shapes as PyTorch's function: (L, N, E) sequences first (or unbatched
    (L, E)); returns ``(attn_output, attn_weights or None)`` as tensors.
    ``static_k``/``static_v`` (precomputed keys and values) are refused by name.
    """
    function = "multi_head_attention_forward"
    _refuse(function, "MultiheadAttention", static_k=(static_k, None), static_v=(static_v, None))
    query, key, value = (_tensor(a, function, name) for a, name in ((query, "query"), (key, "key"), (value, "value")))
    weights = ([q_proj_weight, k_proj_weight, v_proj_weight] if use_separate_proj_weight else [in_proj_weight])
    weights = [_tensor(w, function, "projection weight") for w in weights]
    extras = [_maybe(t, function, name) for t, name in ((in_proj_bias, "in_proj_bias"), (bias_k, "bias_k"),
                                                         (bias_v, "bias_v"))]
    out_weight, out_bias = _tensor(out_proj_weight, function, "out_proj_weight"), _maybe(out_proj_bias, function,
                                                                                         "out_proj_bias")
    kdim, vdim = (weights[1].shape[1], weights[2].shape[1]) if use_separate_proj_weight else (None, None)
    layer = skip_init(MultiheadAttention, embed_dim_to_check, num_heads, dropout_p, in_proj_bias is not None,
                   bias_k is not None, add_zero_attn, kdim, vdim, dtype=query.dtype)
    layer.train(training)
    parameters = [*weights, *[t for t in extras if t is not None], out_weight, *([out_bias] if out_bias is not None else [])]
    options = dict(key_padding_mask=_array(key_padding_mask), need_weights=need_weights, attn_mask=_array(attn_mask),
                   average_attn_weights=average_attn_weights, is_causal=is_causal)
    if rng is not None:
        layer.rng = rng
    return record(StructuredLayerNode(REGISTRY[MultiheadAttention].node, layer, 3, **options), query, key, value,
                  *parameters)


# -- recurrent layers: the weights in PyTorch's state-dict order (weight_ih_l0, weight_hh_l0, bias_ih_l0, ...) -----

def _recurrent(function, layer_class, input, hx, weights, sizes, options):
    input = _tensor(input, function)
    hx = None if hx is None else tuple(_tensor(h, function, "hx") for h in hx) if isinstance(hx, (tuple, list)) \
        else _tensor(hx, function, "hx")
    weights = [_tensor(w, function, "weight") for w in weights]
    layer = skip_init(layer_class, *sizes, dtype=input.dtype, **options)
    if len(weights) != len(layer.parameters()):
        raise ValueError(f"{function}: expected {len(layer.parameters())} weights in PyTorch's order "
                         f"({', '.join(n for n, _ in layer.named_parameters())}), got {len(weights)}")
    return record(StructuredLayerNode(REGISTRY[layer_class].node, layer, 2), input, hx, *weights)


def _sizes(weights):
    """(input_size, hidden_size) read from the first two weights: weight_ih (G·H, I), weight_hh (G·H, H)."""
    return _array(weights[0]).shape[1], _array(weights[1]).shape[1]


def rnn(input, hx, weights, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, *, rng=None):
    """An Elman RNN through ``RNN`` (derivations/rnn.md): RNNBackward; returns (output, h_n)."""
    return _recurrent("rnn", RNN, input, hx, weights, _sizes(weights),
                      dict(num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first,
                           dropout=dropout, bidirectional=bidirectional, rng=rng))


def lstm(input, hx, weights, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, *,
         rng=None):
    """An LSTM through ``LSTM`` (derivations/lstm.md): LSTMBackward; returns (output, (h_n, c_n))."""
    return _recurrent("lstm", LSTM, input, hx, weights, _sizes(weights),
                      dict(num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout,
                           bidirectional=bidirectional, rng=rng))


def gru(input, hx, weights, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, *,
        rng=None):
    """A GRU through ``GRU`` (derivations/gru.md): GRUBackward; returns (output, h_n)."""
    return _recurrent("gru", GRU, input, hx, weights, _sizes(weights),
                      dict(num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout,
                           bidirectional=bidirectional, rng=rng))


def rnn_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman step through ``RNNCell`` (derivations/rnn.md): RNNCellBackward; returns h'."""
    weights = [w for w in (w_ih, w_hh, b_ih, b_hh) if w is not None]
    return _recurrent("rnn_cell", RNNCell, input, hx, weights, _sizes(weights),
                      dict(bias=b_ih is not None, nonlinearity=nonlinearity))


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step through ``LSTMCell`` (derivations/lstm.md): LSTMCellBackward; returns (h', c')."""
    weights = [w for w in (w_ih, w_hh, b_ih, b_hh) if w is not None]
    return _recurrent("lstm_cell", LSTMCell, input, hx, weights, _sizes(weights),
                      dict(bias=b_ih is not None))


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step through ``GRUCell`` (derivations/gru.md): GRUCellBackward; returns h'."""
    weights = [w for w in (w_ih, w_hh, b_ih, b_hh) if w is not None]
    return _recurrent("gru_cell", GRUCell, input, hx, weights, _sizes(weights),
                      dict(bias=b_ih is not None))
