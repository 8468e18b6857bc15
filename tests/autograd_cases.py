"""Every public layer and loss, next to the autograd graph of the same forward.

``LAYER_CASES`` maps each public Module class to a function ``case(rng)``
returning a ``LayerCase``: the layer (float64, random parameters), the
arguments of its forward, and ``graph(x, params)``, the same forward written
with manualnet.autograd operations on tensors (``params`` maps each of the
layer's parameter names to a Tensor holding a copy of its values).  The
tests run both and compare (tests/autograd/test_autograd.py: manual chain against
graph, bit for bit; tests/autograd/test_autograd_parity.py: graph against PyTorch).
``torch_forward`` is set where ``manualnet.interop.to_torch`` has no exact
twin (Dropout draws its own mask in PyTorch; BatchNorm2d is not in it yet).

The primitive operations' cases are the gradcheck catalogue's
(``manualnet.testing.catalogue.AUTOGRAD_PRIMITIVES``): each function runs on
manualnet tensors and on torch tensors alike.
"""

from dataclasses import dataclass

import numpy as np

import manualnet as mn
from manualnet import autograd as ag
from manualnet.registry import BATCH, CLASSES, FEATURES, REGISTRY

LOSSES = (mn.CrossEntropyLoss, mn.NLLLoss, mn.BCELoss, mn.BCEWithLogitsLoss, mn.MSELoss)


@dataclass
class LayerCase:
    layer: mn.Module
    forward_args: tuple             # layer(*forward_args); the first one is differentiated
    graph: object                   # (x Tensor, {name: Tensor}) -> output Tensor
    torch_forward: object = None    # (torch, x tensor, {} to fill with its torch leaves) -> output, where to_torch cannot

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
# The notes' LogisticRegression is a whole model with its own backward(x, yhat, y);
# tests/autograd/test_autograd.py compares it with its graph separately.
SEPARATELY_TESTED = (mn.LogisticRegression,)
# The recurrent layers have no autograd node yet: RNN, LSTM, GRU and LSTMCell return tuples
# ((output, h_n), (h', c')), and every one differentiates its state hx as well as its input; the
# engine's nodes have one output and one differentiated first input.  tests/nn/test_rnn_parity.py
# checks each against PyTorch's autograd directly.
NO_AUTOGRAD_NODE_YET = (mn.RNNCell, mn.LSTMCell, mn.GRUCell, mn.RNN, mn.LSTM, mn.GRU, mn.LSTMClassifier)


# -- running a case both ways ----------------------------------------------------------------------

def run_manual(case, rng):
    """The manual chain: forward, then backward with a random upstream gradient (1.0 for a loss)."""
    layer = case.layer
    output = layer(*case.forward_args)
    upstream = None if case.is_loss else rng.standard_normal(np.shape(output))
    input_grad = layer.backward() if case.is_loss else layer.backward(upstream)
    grads = {name: parameter.grad.copy() for name, parameter in layer.named_parameters()}
    return np.asarray(output), input_grad, grads, upstream


def run_graph(case, upstream, parameter_values):
    """The recorded graph of the same forward, from copies of the parameters; backward with the same upstream."""
    first = case.forward_args[0]
    x = ag.Tensor(first, requires_grad=first.dtype.kind == "f")     # integer indices get no gradient
    params = {name: ag.Tensor(value, requires_grad=True) for name, value in parameter_values.items()}
    output = case.graph(x, params)
    output.backward(upstream)
    return output, x, params
