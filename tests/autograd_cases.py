"""Every public layer and loss, next to the autograd graph of the same forward.

``LAYER_CASES`` maps each public Module class to a function ``case(rng)``
returning a ``LayerCase``: the layer (float64, random parameters), the
arguments of its forward, and ``graph(x, params)``, the same forward written
with manualnet.autograd operations on tensors (``params`` maps each of the
layer's parameter names to a Tensor holding a copy of its values).  The
tests run both and compare (tests/autograd/test_autograd.py: manual chain against
graph, bit for bit; tests/autograd/test_autograd_parity.py: graph against PyTorch).
``torch_forward`` is set where ``manualnet.interop.to_torch`` has no exact
twin (Dropout draws its own mask in PyTorch; BatchNorm2d is not in it yet)
or is called differently (nanoGPT's forward takes targets).  A layer whose
forward differentiates several arguments (attention's query, key and value;
a recurrent layer's input and hx) sets ``differentiated``: ``graph`` then
receives those arguments as (nested) tuples of Tensors, and a tuple output
(``(output, h_n)``, ``(attn_output, attn_weights)``) gets an upstream
gradient in its structure.

The primitive operations' cases are the gradcheck catalogue's
(``manualnet.testing.catalogue.AUTOGRAD_PRIMITIVES``): each function runs on
manualnet tensors and on torch tensors alike.
"""

from dataclasses import dataclass

import numpy as np

import manualnet as mn
from manualnet import autograd as ag
from manualnet.interop.pytorch import to_torch
from manualnet.registry import BATCH, CLASSES, FEATURES, REGISTRY
from manualnet.testing.gradcheck import leaves, map_structure

LOSSES = (mn.CrossEntropyLoss, mn.NLLLoss, mn.BCELoss, mn.BCEWithLogitsLoss, mn.MSELoss)


@dataclass
class LayerCase:
    layer: mn.Module
    forward_args: tuple             # layer(*forward_args); the first one is differentiated
    graph: object                   # (x Tensor, {name: Tensor}) -> output Tensor
    torch_forward: object = None    # (torch, x tensor, {} to fill with its torch leaves) -> output, where to_torch cannot
    differentiated: int = 1         # how many of forward_args the graph differentiates (each may be a tuple)

    @property
    def is_loss(self):
        return isinstance(self.layer, LOSSES)


def _randomize(layer, rng):
    for parameter in layer.parameters():
        parameter.data[...] = rng.uniform(0.5, 1.5, parameter.shape) * rng.choice([-1, 1], parameter.shape)
    return layer


def _away_from_zero(rng, shape, margin=0.05):
    values = rng.standard_normal(shape)
    return np.sign(values) * (margin + np.abs(values))


def _linear(rng):
    layer = _randomize(mn.Linear(FEATURES, CLASSES, rng=rng, dtype=np.float64), rng)
    return LayerCase(layer, (rng.standard_normal((BATCH, FEATURES)),),
                     lambda x, p: ag.linear(x, p["weight"], p["bias"]))


def _activation(layer, function, margin=0.0):
    def case(rng):
        return LayerCase(layer(), (_away_from_zero(rng, (BATCH, FEATURES), margin) if margin
                                   else rng.standard_normal((BATCH, FEATURES)),),
                         lambda x, p: function(x))
    return case


def _flatten(rng):
    return LayerCase(mn.Flatten(), (rng.standard_normal((BATCH, 2, 3)),), lambda x, p: ag.flatten(x, 1))


def _dropout(rng):
    mask = rng.random((BATCH, FEATURES)) >= 0.3

    def torch_forward(torch, x, params):
        return x * torch.from_numpy(mask) / (1 - 0.3)

    return LayerCase(mn.Dropout(0.3), (rng.standard_normal((BATCH, FEATURES)), mask),
                     lambda x, p: ag.dropout(x, 0.3, mask=mask), torch_forward)


def _batchnorm(rng):
    layer = _randomize(mn.BatchNorm1d(FEATURES, dtype=np.float64), rng)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()   # before the manual forward moves them
    return LayerCase(layer, (rng.standard_normal((BATCH, FEATURES)),),
                     lambda x, p: ag.batch_norm(x, mean, var, p["weight"], p["bias"], training=True))


def _batchnorm2d(rng):
    layer = _randomize(mn.BatchNorm2d(3, dtype=np.float64), rng)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()

    def torch_forward(torch, x, params):
        for name, parameter in layer.named_parameters():
            params[name] = torch.tensor(parameter.data, requires_grad=True)
        return torch.nn.functional.batch_norm(x, torch.tensor(mean), torch.tensor(var), params["weight"],
                                              params["bias"], training=True)

    return LayerCase(layer, (rng.standard_normal((2, 3, 2, 2)),),
                     lambda x, p: ag.batch_norm(x, mean, var, p["weight"], p["bias"], training=True), torch_forward)


def _sequential(rng):
    layer = mn.Sequential(mn.Linear(FEATURES, 6, rng=rng, dtype=np.float64), mn.Tanh(),
                          mn.Linear(6, CLASSES, rng=rng, dtype=np.float64))
    _randomize(layer, rng)

    def graph(x, p):
        return ag.linear(ag.tanh(ag.linear(x, p["0.weight"], p["0.bias"])), p["2.weight"], p["2.bias"])

    return LayerCase(layer, (rng.standard_normal((BATCH, FEATURES)),), graph)


def _mlp(rng):
    layer = _randomize(mn.MLP(FEATURES, 6, CLASSES, rng=rng, dtype=np.float64), rng)

    def graph(x, p):
        hidden = ag.relu(ag.linear(x, p["lin_1.weight"], p["lin_1.bias"]))
        return ag.linear(hidden, p["lin_2.weight"], p["lin_2.bias"])

    return LayerCase(layer, (rng.standard_normal((BATCH, FEATURES)),), graph)


def _loss(loss_class, function, reduction="mean"):
    """The registry's plain sample of the loss: its (input, target)."""
    def case(rng):
        _, (input, target) = REGISTRY[loss_class].samples[""](rng)
        return LayerCase(loss_class(reduction=reduction), (input, target),
                         lambda x, p: function(x, target, reduction=reduction))
    return case


# -- convolution and pooling ----------------------------------------------------------------

CONV2D = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)


def _conv2d(rng):
    layer = _randomize(mn.Conv2d(4, 6, (3, 2), **CONV2D, rng=rng, dtype=np.float64), rng)
    return LayerCase(layer, (rng.standard_normal((2, 4, 5, 6)),),
                     lambda x, p: ag.conv2d(x, p["weight"], p["bias"], **CONV2D))


def _conv1d(rng):
    layer = _randomize(mn.Conv1d(2, 3, 3, padding="same", dilation=2, rng=rng, dtype=np.float64), rng)
    return LayerCase(layer, (rng.standard_normal((2, 2, 7)),),
                     lambda x, p: ag.conv1d(x, p["weight"], p["bias"], padding="same", dilation=2))


def _max_pool2d(rng):
    x = 0.01 * rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6)          # distinct values: no ties
    return LayerCase(mn.MaxPool2d(3, 2, padding=1), (x,), lambda x, p: ag.max_pool2d(x, 3, 2, padding=1))


def _avg_pool2d(rng):
    return LayerCase(mn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (rng.standard_normal((2, 2, 5, 6)),),
                     lambda x, p: ag.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False))


def _cnn(rng):
    layer = _randomize(mn.CNN(image_size=8, channels=(2, 3), hidden=6, rng=rng, dtype=np.float64), rng)
    statistics = [(bn.running_mean.copy(), bn.running_var.copy()) for bn in (layer.features[1], layer.features[5])]

    def block(x, p, conv, bn, stats):
        x = ag.conv2d(x, p[f"features.{conv}.weight"], padding=1)
        x = ag.batch_norm(x, *stats, p[f"features.{bn}.weight"], p[f"features.{bn}.bias"], training=True)
        return ag.max_pool2d(ag.relu(x), 2)

    def graph(x, p):
        x = ag.flatten(block(block(x, p, 0, 1, statistics[0]), p, 4, 5, statistics[1]), 1)
        x = ag.relu(ag.linear(x, p["classifier.1.weight"], p["classifier.1.bias"]))
        return ag.linear(x, p["classifier.3.weight"], p["classifier.3.bias"])

    return LayerCase(layer, (rng.standard_normal((3, 1, 8, 8)),), graph)


def _embedding(rng):
    """Token ids from a vocabulary of 4 in a (3, 5) batch: repeats are certain.  (No padding_idx: its row
    gets no gradient though the output depends on it, by PyTorch's definition, which finite differences
    would call wrong; tests/autograd/test_autograd_parity.py checks padding_idx against torch.)"""
    layer = _randomize(mn.Embedding(4, 3, rng=rng, dtype=np.float64), rng)
    return LayerCase(layer, (rng.integers(0, 4, (3, 5)),), lambda x, p: ag.embedding(x, p["weight"]))


LAYER_CASES = {
    mn.Linear: _linear,
    mn.Flatten: _flatten,
    mn.Sequential: _sequential,
    mn.Dropout: _dropout,
    mn.BatchNorm1d: _batchnorm,
    mn.BatchNorm2d: _batchnorm2d,
    mn.ReLU: _activation(mn.ReLU, ag.relu, margin=0.05),
    mn.LeakyReLU: _activation(lambda: mn.LeakyReLU(0.1), lambda x: ag.leaky_relu(x, 0.1), margin=0.05),
    mn.Sigmoid: _activation(mn.Sigmoid, ag.sigmoid),
    mn.Tanh: _activation(mn.Tanh, ag.tanh),
    mn.Softmax: _activation(lambda: mn.Softmax(dim=1), lambda x: ag.softmax(x, dim=1)),
    mn.LogSoftmax: _activation(lambda: mn.LogSoftmax(dim=1), lambda x: ag.log_softmax(x, dim=1)),
    mn.CrossEntropyLoss: _loss(mn.CrossEntropyLoss, ag.cross_entropy),
    mn.NLLLoss: _loss(mn.NLLLoss, ag.nll_loss),
    mn.BCELoss: _loss(mn.BCELoss, ag.binary_cross_entropy),
    mn.BCEWithLogitsLoss: _loss(mn.BCEWithLogitsLoss, ag.binary_cross_entropy_with_logits),
    mn.MSELoss: _loss(mn.MSELoss, ag.mse_loss),
    mn.MLP: _mlp,
    mn.Conv2d: _conv2d,
    mn.Conv1d: _conv1d,
    mn.MaxPool2d: _max_pool2d,
    mn.AvgPool2d: _avg_pool2d,
    mn.CNN: _cnn,
    mn.Embedding: _embedding,
}
# -- the transformer and the recurrent layers' tuple nodes ---------------------------------------

def _layer_norm(rng):
    layer = _randomize(mn.LayerNorm((2, 3), dtype=np.float64), rng)
    return LayerCase(layer, (rng.standard_normal((BATCH, 2, 3)),),
                     lambda x, p: ag.layer_norm(x, (2, 3), p["weight"], p["bias"]))


def _gelu(approximate):
    def case(rng):
        return LayerCase(mn.GELU(approximate), (2 * rng.standard_normal((BATCH, FEATURES)),),
                         lambda x, p: ag.gelu(x, approximate))
    return case


def _multihead_attention(rng):
    """Cross-attention (L = 3, S = 4), add_bias_kv, boolean attn_mask and key_padding_mask, the weights of each
    head returned: the node's two outputs and three differentiated inputs."""
    layer = _randomize(mn.MultiheadAttention(4, 2, add_bias_kv=True, dtype=np.float64, rng=rng), rng)
    query, key, value = (rng.standard_normal(shape) for shape in ((3, 2, 4), (4, 2, 4), (4, 2, 4)))
    attn_mask = rng.random((3, 4)) < 0.3
    attn_mask[:, 0] = False
    padding = rng.random((2, 4)) < 0.3
    padding[:, 0] = False

    def graph(x, p):
        q, k, v = x
        return ag.multi_head_attention_forward(
            q, k, v, 4, 2, p["in_proj_weight"], p["in_proj_bias"], p["bias_k"], p["bias_v"], False, 0.0,
            p["out_proj.weight"], p["out_proj.bias"], key_padding_mask=padding, attn_mask=attn_mask,
            average_attn_weights=False)

    def torch_forward(torch, x, params):
        twin = to_torch(layer)
        params.update(twin.named_parameters())
        return twin(*x, key_padding_mask=torch.from_numpy(padding), attn_mask=torch.from_numpy(attn_mask),
                    average_attn_weights=False)

    return LayerCase(layer, (query, key, value, padding, True, attn_mask, False), graph, torch_forward,
                     differentiated=3)


def gpt_graph(x, p, n_layer, n_head):
    """nanoGPT's forward with manualnet.autograd operations: embeddings, blocks of layer_norm, linear, the
    heads' slices, scaled_dot_product_attention, gelu and residual adds, then the tied head."""
    wte = p["transformer.wte.weight"]
    x_ids = x.data
    B, T = x_ids.shape
    C = wte.shape[1]
    h = ag.embedding(x_ids, wte) + ag.embedding(np.arange(T), p["transformer.wpe.weight"])
    for layer in range(n_layer):
        name = f"transformer.h.{layer}."

        def w(part):
            return p[name + part + ".weight"], p[name + part + ".bias"]

        qkv = ag.linear(ag.layer_norm(h, (C,), *w("ln_1")), *w("attn.c_attn"))
        heads = [qkv[:, :, i * C:(i + 1) * C].reshape(B, T, n_head, C // n_head).permute(0, 2, 1, 3)
                 for i in range(3)]
        y = ag.scaled_dot_product_attention(*heads, is_causal=True).permute(0, 2, 1, 3).reshape(B, T, C)
        h = h + ag.linear(y, *w("attn.c_proj"))
        hidden = ag.gelu(ag.linear(ag.layer_norm(h, (C,), *w("ln_2")), *w("mlp.c_fc")))
        h = h + ag.linear(hidden, *w("mlp.c_proj"))
    h = ag.layer_norm(h, (C,), p["transformer.ln_f.weight"], p["transformer.ln_f.bias"])
    return ag.linear(h, wte)


def _gpt(rng):
    layer = _randomize(mn.GPT(vocab_size=5, block_size=4, n_layer=2, n_head=2, n_embd=4, dtype=np.float64, rng=rng),
                       rng)
    idx = rng.integers(0, 5, (2, 4))

    def torch_forward(torch, x, params):
        twin = to_torch(layer)
        params.update(twin.named_parameters())
        return twin(x, torch.zeros_like(x))[0]          # nanoGPT returns every position's logits given targets

    return LayerCase(layer, (idx,), lambda x, p: gpt_graph(x, p, 2, 2), torch_forward)


def _weights(layer, p):
    return [p[name] for name, _ in layer.named_parameters()]


def _recurrent(cls, function, pair, **options):
    def case(rng):
        layer = _randomize(cls(FEATURES, 3, dtype=np.float64, rng=rng, **options), rng)
        states = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)
        x = rng.standard_normal((2, 5, FEATURES) if options.get("batch_first") else (5, 2, FEATURES))
        h0 = rng.standard_normal((states, 2, 3))
        hx = (h0, rng.standard_normal((states, 2, 3))) if pair else h0
        return LayerCase(layer, (x, hx), lambda x, p: function(*x, _weights(layer, p), **options), differentiated=2)
    return case


def _cell(cls, function, pair):
    def case(rng):
        layer = _randomize(cls(FEATURES, 3, dtype=np.float64, rng=rng), rng)
        h = rng.standard_normal((BATCH, 3))
        hx = (h, rng.standard_normal((BATCH, 3))) if pair else h
        return LayerCase(layer, (rng.standard_normal((BATCH, FEATURES)), hx),
                         lambda x, p: function(*x, *_weights(layer, p)), differentiated=2)
    return case


def _lstm_classifier(rng):
    layer = _randomize(mn.LSTMClassifier(FEATURES, 3, CLASSES, dtype=np.float64, rng=rng), rng)

    def graph(x, p):
        _, (h_n, _) = ag.lstm(x, None, [p[f"lstm.{n}"] for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                                 "bias_hh_l0")], batch_first=True)
        return ag.linear(h_n[-1], p["fc.weight"], p["fc.bias"])

    def torch_forward(torch, x, params):
        lstm, fc = to_torch(layer.lstm), to_torch(layer.fc)
        params.update({f"lstm.{n}": t for n, t in lstm.named_parameters()})
        params.update({f"fc.{n}": t for n, t in fc.named_parameters()})
        return fc(lstm(x)[1][0][-1])

    return LayerCase(layer, (rng.standard_normal((2, 5, FEATURES)),), graph, torch_forward)


LAYER_CASES.update({
    mn.LayerNorm: _layer_norm,
    mn.GELU: _gelu("tanh"),
    mn.MultiheadAttention: _multihead_attention,
    mn.GPT: _gpt,
    mn.RNN: _recurrent(mn.RNN, ag.rnn, False, num_layers=2, bidirectional=True),
    mn.LSTM: _recurrent(mn.LSTM, ag.lstm, True, batch_first=True),
    mn.GRU: _recurrent(mn.GRU, ag.gru, False),
    mn.RNNCell: _cell(mn.RNNCell, ag.rnn_cell, False),
    mn.LSTMCell: _cell(mn.LSTMCell, ag.lstm_cell, True),
    mn.GRUCell: _cell(mn.GRUCell, ag.gru_cell, False),
    mn.LSTMClassifier: _lstm_classifier,
})


# The notes' LogisticRegression is a whole model with its own backward(x, yhat, y);
# tests/autograd/test_autograd.py compares it with its graph separately.
SEPARATELY_TESTED = (mn.LogisticRegression,)
# Containers that hold modules and compute nothing (no forward, as PyTorch's): nothing to record.
NO_FORWARD = (mn.ModuleList, mn.ModuleDict)


# -- running a case both ways ----------------------------------------------------------------------

def run_manual(case, rng):
    """The manual chain: forward, then backward with a random upstream gradient (1.0 for a loss).

    A tuple output gets an upstream gradient in its structure (None stays None).
    """
    layer = case.layer
    output = layer(*case.forward_args)
    upstream = None if case.is_loss else map_structure(lambda y: rng.standard_normal(np.shape(y)), output)
    input_grad = layer.backward() if case.is_loss else layer.backward(map_structure(np.copy, upstream))
    grads = {name: parameter.grad.copy() for name, parameter in layer.named_parameters()}
    return map_structure(np.asarray, output), input_grad, grads, upstream


def tensors_of(value):
    """The differentiated arguments as Tensors, nested as given; integer indices get no gradient."""
    if isinstance(value, tuple):
        return tuple(tensors_of(part) for part in value)
    return None if value is None else ag.Tensor(value, requires_grad=value.dtype.kind == "f")


def backward_from(output, upstream):
    """output.backward(upstream); for a tuple output, backward from Σ Σ(leaf ⊙ R) over its leaves (each leaf
    then receives exactly its R: 1·R through the sum and the product)."""
    if not isinstance(output, tuple):
        output.backward(upstream)
        return
    pairs = [(leaf, r) for (_, leaf), (_, r) in zip(leaves(output), leaves(upstream))]
    total = None
    for leaf, r in pairs:
        term = (leaf * ag.Tensor(r)).sum()
        total = term if total is None else total + term
    total.backward()


def run_graph(case, upstream, parameter_values):
    """The recorded graph of the same forward, from copies of the parameters; backward with the same upstream."""
    arguments = case.forward_args[:case.differentiated]
    x = tensors_of(arguments[0]) if case.differentiated == 1 else tensors_of(tuple(arguments))
    params = {name: ag.Tensor(value, requires_grad=True) for name, value in parameter_values.items()}
    output = case.graph(x, params)
    backward_from(output, upstream)
    return output, x, params


def input_gradients(x):
    """[gradient array or None] of every Tensor in the differentiated arguments, in reading order."""
    return [None if t is None or t.grad is None else t.grad.numpy() for _, t in leaves(x)]


def manual_input_gradients(case, input_grad):
    """The manual chain's input gradients, read along the same structure as ``input_gradients``."""
    arguments = case.forward_args[:case.differentiated]
    return _along(arguments[0] if case.differentiated == 1 else tuple(arguments), input_grad)


def _along(template, value):
    if isinstance(template, tuple):
        parts = value if isinstance(value, tuple) else (None,) * len(template)
        return [leaf for part, piece in zip(template, parts) for leaf in _along(part, piece)]
    return [] if template is None else [value]
