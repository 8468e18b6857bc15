"""nn.functional: PyTorch's stateless names, each the layer's own forward, equal to torch.nn.functional's."""

import numpy as np
import pytest

import manualnet as mn
from manualnet.nn import functional as F

from ..torch_required import import_torch

torch = import_torch()

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 5))
LABELS = np.array([0, 2, 4, 1])
PROBABILITIES = RNG.uniform(0.05, 0.95, (4, 5))
TARGETS = RNG.uniform(0, 1, (4, 5))
WEIGHT, BIAS = RNG.standard_normal((3, 5)), RNG.standard_normal(3)

CASES = {
    "relu": (lambda: F.relu(X), lambda t: t.nn.functional.relu(t.tensor(X))),
    "leaky_relu": (lambda: F.leaky_relu(X, 0.2), lambda t: t.nn.functional.leaky_relu(t.tensor(X), 0.2)),
    "sigmoid": (lambda: F.sigmoid(X), lambda t: t.sigmoid(t.tensor(X))),
    "tanh": (lambda: F.tanh(X), lambda t: t.tanh(t.tensor(X))),
    "softmax": (lambda: F.softmax(X, dim=0), lambda t: t.softmax(t.tensor(X), dim=0)),
    "log_softmax": (lambda: F.log_softmax(X, dim=1), lambda t: t.log_softmax(t.tensor(X), dim=1)),
    "linear": (lambda: F.linear(X, WEIGHT, BIAS),
               lambda t: t.nn.functional.linear(t.tensor(X), t.tensor(WEIGHT), t.tensor(BIAS))),
    "linear without bias": (lambda: F.linear(X, WEIGHT), lambda t: t.nn.functional.linear(t.tensor(X), t.tensor(WEIGHT))),
    "cross_entropy": (lambda: F.cross_entropy(X, LABELS, label_smoothing=0.1),
                      lambda t: t.nn.functional.cross_entropy(t.tensor(X), t.tensor(LABELS), label_smoothing=0.1)),
    "nll_loss": (lambda: F.nll_loss(X, LABELS, reduction="sum"),
                 lambda t: t.nn.functional.nll_loss(t.tensor(X), t.tensor(LABELS), reduction="sum")),
    "binary_cross_entropy": (lambda: F.binary_cross_entropy(PROBABILITIES, TARGETS),
                             lambda t: t.nn.functional.binary_cross_entropy(t.tensor(PROBABILITIES), t.tensor(TARGETS))),
    "mse_loss": (lambda: F.mse_loss(X, TARGETS, reduction="none"),
                 lambda t: t.nn.functional.mse_loss(t.tensor(X), t.tensor(TARGETS), reduction="none")),
}


@pytest.mark.parametrize("name", CASES)
def test_functional_matches_torch(name):
    ours, theirs = CASES[name]
    np.testing.assert_allclose(ours(), theirs(torch).numpy(), rtol=1e-12, atol=1e-14)


def test_functional_is_the_layers_forward_and_keeps_nothing():
    layer = mn.Linear(5, 3, dtype=np.float64, rng=0)
    np.testing.assert_array_equal(F.linear(X, layer.weight.data, layer.bias.data), layer(X))
    out = F.relu(X)
    out *= 2                                # not kept for a backward, so not handed out read-only
    np.testing.assert_array_equal(out, 2 * np.maximum(X, 0))


def test_functional_names_the_function_and_what_came():
    with pytest.raises(ValueError, match=r"linear: expected weight of shape \(out_features, in_features\)"):
        F.linear(X, BIAS)
    with pytest.raises(ValueError, match="CrossEntropyLoss"):
        F.cross_entropy(X, np.array([0, 1]))
