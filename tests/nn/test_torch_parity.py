"""PyTorch parity for every core operation: same weights, same input, same upstream gradient.

Forward output, input gradient and parameter gradients must match torch's
autograd in float64 to ~1e-10.  Skipped with a visible reason when torch is
absent; required in CI (MANUALNET_REQUIRE_TORCH=1).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn

from ..strategies import KINK_MARGIN, logits_and_labels, probabilities_and_targets, random_array, seeds, shapes
from ..parity import assert_close, assert_matches_torch, tensor
from ..torch_required import import_torch

torch = import_torch()


def compare_module(ours, theirs, x, seed):
    """Give ours torch's weights (by name), then hold the two to each other through the one parity helper."""
    theirs.double()
    ours.astype(np.float64)
    for name, parameter in theirs.named_parameters():
        dict(ours.named_parameters())[name].data[...] = parameter.detach().numpy()
    assert_matches_torch(ours, (x,), seed, theirs=theirs)


# -- layers ------------------------------------------------------------------------

@given(batch=st.integers(1, 5), n_in=st.integers(1, 5), n_out=st.integers(1, 5), bias=st.booleans(), seed=seeds)
@pytest.mark.slow
def test_linear_matches_torch(batch, n_in, n_out, bias, seed):
    torch.manual_seed(seed)
    compare_module(mn.Linear(n_in, n_out, bias=bias), torch.nn.Linear(n_in, n_out, bias=bias),
                   random_array(seed, (batch, n_in)), seed)


ACTIVATIONS = [
    (mn.ReLU, torch.nn.ReLU),
    (lambda: mn.LeakyReLU(0.1), lambda: torch.nn.LeakyReLU(0.1)),
    (mn.Sigmoid, torch.nn.Sigmoid),
    (mn.Tanh, torch.nn.Tanh),
    (lambda: mn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda: mn.LogSoftmax(dim=-1), lambda: torch.nn.LogSoftmax(dim=-1)),
    (mn.Flatten, torch.nn.Flatten),
]


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS)
@given(shape=shapes(min_dims=2, max_dims=3), seed=seeds)
@pytest.mark.slow
def test_parameterless_layers_match_torch(ours, theirs, shape, seed):
    x = random_array(seed, shape, 3.0, margin=KINK_MARGIN)
    compare_module(ours(), theirs(), x, seed)


def test_relu_and_leaky_relu_match_torch_exactly_at_zero():
    """The subgradient convention at the kink is PyTorch's."""
    x = np.zeros((1, 3))
    compare_module(mn.ReLU(), torch.nn.ReLU(), x, 0)
    compare_module(mn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3), x, 0)


@given(seed=seeds)
@pytest.mark.slow
def test_sequential_and_mlp_match_torch(seed):
    torch.manual_seed(seed)
    x = random_array(seed, (4, 6))
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    compare_module(mn.Sequential(mn.Linear(6, 5), mn.Tanh(), mn.Linear(5, 3)), theirs, x, seed)

    class NotesMLP(torch.nn.Module):                 # the study notes' MultiLayerPerceptronClass
        def __init__(self):
            super().__init__()
            self.lin_1, self.lin_2 = torch.nn.Linear(6, 8), torch.nn.Linear(8, 3)

        def forward(self, x):
            return self.lin_2(torch.nn.functional.relu(self.lin_1(x)))

    compare_module(mn.MLP(6, 8, 3), NotesMLP(), x, seed)


# -- losses ------------------------------------------------------------------------

def compare_loss(ours, theirs, x, target, target_torch, seed):
    """The loss value and dL/dx against torch's, through the one parity helper (the target gets no gradient)."""
    assert_matches_torch(ours, (x, target), seed, theirs=theirs)


reductions = st.sampled_from(["mean", "sum", "none"])


@given(data=logits_and_labels(scale=5.0), reduction=reductions, seed=seeds)
@pytest.mark.slow
def test_class_losses_match_torch(data, reduction, seed):
    logits, labels = data
    compare_loss(mn.CrossEntropyLoss(reduction=reduction), torch.nn.CrossEntropyLoss(reduction=reduction),
                 logits, labels, torch.tensor(labels), seed)
    log_probs = mn.LogSoftmax()(logits)
    compare_loss(mn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction),
                 log_probs, labels, torch.tensor(labels), seed)


@given(data=probabilities_and_targets(), reduction=reductions, seed=seeds)
def test_binary_and_regression_losses_match_torch(data, reduction, seed):
    p, y = data
    z = random_array(seed, p.shape, 4.0)
    compare_loss(mn.BCELoss(reduction=reduction), torch.nn.BCELoss(reduction=reduction), p, y, tensor(y), seed)
    compare_loss(mn.BCEWithLogitsLoss(reduction=reduction), torch.nn.BCEWithLogitsLoss(reduction=reduction),
                 z, y, tensor(y), seed)
    compare_loss(mn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), z, y, tensor(y), seed)


def test_bce_matches_torch_at_saturated_probabilities():
    """p = 0 and p = 1: PyTorch's clamps (log >= −100, denominator >= 1e-12) reproduced."""
    p, y = np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0, 0.0])
    compare_loss(mn.BCELoss(), torch.nn.BCELoss(), p, y, tensor(y), 0)


# -- the study notes' logistic regression against autograd -----------------------------

@given(batch=st.integers(1, 8), dim=st.integers(1, 5), seed=seeds)
def test_logistic_regression_gradient_matches_torch_autograd(batch, dim, seed):
    """backward(x, ŷ, y) equals autograd's gradient of the mean BCE of σ(x w + b)."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((batch, dim)), rng.integers(0, 2, batch).astype(np.float64)
    model = mn.LogisticRegression(dim, dtype=np.float64)
    model.w.data[...], model.b.data[...] = rng.standard_normal(dim), rng.standard_normal()
    yhat = model(x)
    model.backward(x, yhat, y)

    w, b = tensor(model.w.data, True), tensor(model.b.data, True)
    yhat_torch = torch.sigmoid(tensor(x) @ w + b)
    loss = torch.nn.functional.binary_cross_entropy(yhat_torch, tensor(y))
    loss.backward()
    assert_close(yhat, yhat_torch, "probabilities")
    assert_close(model.loss(yhat, y), loss, "loss")
    assert_close(model.w.grad, w.grad, "dL/dw")
    assert_close(model.b.grad, b.grad, "dL/db")
