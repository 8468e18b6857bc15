"""PyTorch parity for the arguments and shapes PyTorch takes, in float64 to ~1e-10, over hypothesis-drawn cases.

Losses with weight, ignore_index, label_smoothing, class-probability targets,
pos_weight, in every layout PyTorch takes; Linear on any leading dimensions;
activations on any shape and dim, 0-d included; Dropout on any shape with
the mask torch drew; every module on a zero-size batch.  Skipped without
torch, required in CI (MANUALNET_REQUIRE_TORCH=1).
"""

import warnings
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn

from ..strategies import KINK_MARGIN, binary_loss_cases, class_loss_cases, random_array, seeds, shapes
from ..parity import TOLERANCE, assert_matches_torch, tensor
from ..torch_required import import_torch

torch = import_torch()


def torch_options(options):
    return {name: tensor(value) if isinstance(value, np.ndarray) else value for name, value in options.items()}


def compare_loss(ours, theirs, input, target, target_torch, seed):
    """Loss value and dL/d input of both, for the same upstream gradient, through the one parity helper."""
    assert_matches_torch(ours, (input, target), seed, theirs=theirs)


# -- losses ---------------------------------------------------------------------------

@given(case=class_loss_cases(smoothing=True), seed=seeds)
@pytest.mark.slow
def test_cross_entropy_with_options_matches_torch(case, seed):
    """weight, ignore_index (some positions, a class or not), label_smoothing, (C,), (N, C), (N, C, d1[, d2])."""
    input, target, options = case
    compare_loss(mn.CrossEntropyLoss(**options), torch.nn.CrossEntropyLoss(**torch_options(options)),
                 input, target, torch.tensor(target), seed)


@given(case=class_loss_cases(smoothing=True, probabilities=True), seed=seeds)
def test_cross_entropy_with_probability_targets_matches_torch(case, seed):
    input, target, options = case
    compare_loss(mn.CrossEntropyLoss(**options), torch.nn.CrossEntropyLoss(**torch_options(options)),
                 input, target, tensor(target), seed)


@given(case=class_loss_cases(), seed=seeds)
@pytest.mark.slow
def test_nll_with_options_matches_torch(case, seed):
    input, target, options = case
    log_p = mn.LogSoftmax(dim=1 if input.ndim > 1 else 0)(input)
    compare_loss(mn.NLLLoss(**options), torch.nn.NLLLoss(**torch_options(options)),
                 log_p, target, torch.tensor(target), seed)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2}, {"weight": np.array([0.5, 2.0, 1.0, 3.0])}])
def test_every_position_ignored_matches_torch(reduction, options):
    """nan for the mean (0/0), 0 for the sum, zeros per position; the gradient is 0 in every case."""
    input, target = random_array(0, (3, 4)), np.full(3, 1)
    for ours, theirs, x in ((mn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, input),
                            (mn.NLLLoss, torch.nn.NLLLoss, input)):
        if ours is mn.NLLLoss and "label_smoothing" in options:
            continue
        compare_loss(ours(ignore_index=1, reduction=reduction, **options),
                     theirs(ignore_index=1, reduction=reduction, **torch_options(options)),
                     x, target, torch.tensor(target), 0)


@given(case=binary_loss_cases(logits=True), seed=seeds)
@pytest.mark.slow
def test_bce_with_logits_weight_and_pos_weight_match_torch(case, seed):
    """Any shape (0-d too), broadcast weight and pos_weight, targets outside [0, 1]."""
    input, target, options = case
    compare_loss(mn.BCEWithLogitsLoss(**options), torch.nn.BCEWithLogitsLoss(**torch_options(options)),
                 input, target, tensor(target), seed)


@given(case=binary_loss_cases(logits=False), seed=seeds)
def test_bce_weight_matches_torch(case, seed):
    input, target, options = case
    compare_loss(mn.BCELoss(**options), torch.nn.BCELoss(**torch_options(options)), input, target, tensor(target), seed)


@given(shape=shapes(min_dims=0, max_dims=3), reduction=st.sampled_from(["mean", "sum", "none"]), seed=seeds)
def test_mse_on_any_shape_matches_torch(shape, reduction, seed):
    x, y = np.asarray(random_array(seed, shape)), np.asarray(random_array(seed + 1, shape))
    compare_loss(mn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), x, y, tensor(y), seed)


# -- layers on any shape ------------------------------------------------------------------

def compare_module(ours, theirs, x, seed):
    """Same weights (torch's, copied by name), same input and upstream gradient: output, dL/dx, every .grad."""
    ours.astype(np.float64)
    theirs.double()
    for name, parameter in theirs.named_parameters():
        dict(ours.named_parameters())[name].data[...] = parameter.detach().numpy()
    y = ours(x)
    x_torch = tensor(x, requires_grad=True)
    y_torch = theirs(x_torch)
    assert isinstance(y, np.ndarray) and y.shape == tuple(y_torch.shape)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), err_msg="output", **TOLERANCE)
    upstream = np.asarray(random_array(seed, y.shape))
    dx = ours.backward(upstream)
    y_torch.backward(tensor(upstream))
    assert isinstance(dx, np.ndarray) and dx.shape == np.shape(x)
    np.testing.assert_allclose(dx, x_torch.grad.numpy(), err_msg="input gradient", **TOLERANCE)
    for name, parameter in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad, parameter.grad.numpy(),
                                   err_msg=f"gradient of {name}", **TOLERANCE)


@given(leading=shapes(min_dims=0, max_dims=3, max_side=4), n_in=st.integers(1, 4), n_out=st.integers(1, 4),
       bias=st.booleans(), seed=seeds)
@pytest.mark.slow
def test_linear_on_any_leading_dimensions_matches_torch(leading, n_in, n_out, bias, seed):
    """(*, in_features): one sample (in,), a batch, and (N, T, in)-like inputs, as PyTorch."""
    torch.manual_seed(seed % 2**31)
    compare_module(mn.Linear(n_in, n_out, bias=bias), torch.nn.Linear(n_in, n_out, bias=bias),
                   np.asarray(random_array(seed, leading + (n_in,))), seed)


ELEMENTWISE = [
    (mn.ReLU, torch.nn.ReLU),
    (lambda: mn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (mn.Sigmoid, torch.nn.Sigmoid),
    (mn.Tanh, torch.nn.Tanh),
]


@pytest.mark.parametrize("ours, theirs", ELEMENTWISE, ids=["ReLU", "LeakyReLU", "Sigmoid", "Tanh"])
@given(shape=shapes(min_dims=0, max_dims=4, max_side=3), seed=seeds)
def test_activations_on_any_shape_match_torch(ours, theirs, shape, seed):
    compare_module(ours(), theirs(), np.asarray(random_array(seed, shape, 3.0, margin=KINK_MARGIN)), seed)


@pytest.mark.parametrize("ours, theirs", [(mn.Softmax, torch.nn.Softmax), (mn.LogSoftmax, torch.nn.LogSoftmax)],
                         ids=["Softmax", "LogSoftmax"])
@given(data=st.data(), seed=seeds)
def test_softmax_along_any_dim_matches_torch(ours, theirs, data, seed):
    """Every dim of every shape (a 0-d input: dim 0 or -1, as PyTorch allows), and dim=None up to 2-D."""
    shape = data.draw(shapes(min_dims=0, max_dims=4, max_side=3))
    axes = max(len(shape), 1)
    dims = [None] if len(shape) <= 2 else []
    dim = data.draw(st.sampled_from(dims + list(range(-axes, axes))))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Implicit dimension choice", UserWarning)   # torch's, for dim=None
        compare_module(ours(dim=dim), theirs(dim=dim), np.asarray(random_array(seed, shape, 3.0)), seed)


@given(shape=shapes(min_dims=0, max_dims=4, max_side=3), p=st.sampled_from([0.0, 0.3, 0.5, 1.0]), seed=seeds)
def test_dropout_on_any_shape_matches_torch_with_its_mask(shape, p, seed):
    """Torch draws the mask (read off its output on ones); manualnet applies it: same output and gradient."""
    torch.manual_seed(seed % 2**31)
    theirs = torch.nn.Dropout(p).double()
    x = np.asarray(random_array(seed, shape) + 2.0)                  # no zero inputs: a kept x shows as nonzero
    x_torch = tensor(x, requires_grad=True)
    y_torch = theirs(x_torch)
    mask = np.asarray(y_torch.detach().numpy() != 0)
    ours = mn.Dropout(p)
    y = ours(x, mask)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **TOLERANCE)
    upstream = np.asarray(random_array(seed + 1, shape))
    y_torch.backward(tensor(upstream))
    np.testing.assert_allclose(ours.backward(upstream), x_torch.grad.numpy(), **TOLERANCE)


def test_sequential_of_an_ordered_dict_matches_torch():
    """PyTorch's second form names the children: the same state-dict keys and the same numbers."""
    ours = mn.Sequential(OrderedDict([("fc", mn.Linear(3, 4)), ("act", mn.Tanh()), ("out", mn.Linear(4, 2))]))
    theirs = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(3, 4)), ("act", torch.nn.Tanh()),
                                              ("out", torch.nn.Linear(4, 2))]))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare_module(ours, theirs, random_array(0, (5, 3)), 0)


# -- zero-size batches ----------------------------------------------------------------------

EMPTY_MODULES = [
    (lambda: mn.Linear(3, 2), lambda: torch.nn.Linear(3, 2), (0, 3)),
    (lambda: mn.Linear(3, 2), lambda: torch.nn.Linear(3, 2), (2, 0, 3)),
    (mn.ReLU, torch.nn.ReLU, (0, 3)),
    (lambda: mn.LeakyReLU(0.1), lambda: torch.nn.LeakyReLU(0.1), (0, 3)),
    (mn.Sigmoid, torch.nn.Sigmoid, (0, 3)),
    (mn.Tanh, torch.nn.Tanh, (0, 3)),
    (lambda: mn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1), (0, 3)),
    (lambda: mn.LogSoftmax(dim=1), lambda: torch.nn.LogSoftmax(dim=1), (0, 3)),
    (lambda: mn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1), (3, 0)),
    (mn.Flatten, torch.nn.Flatten, (0, 2, 3)),
    (lambda: mn.Dropout(0.5), lambda: torch.nn.Dropout(0.5), (0, 3)),
    (lambda: mn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (0, 3)),
    (lambda: mn.BatchNorm2d(2), lambda: torch.nn.BatchNorm2d(2), (0, 2, 3, 3)),
    (lambda: mn.Sequential(mn.Linear(3, 4), mn.ReLU(), mn.Linear(4, 2)),
     lambda: torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)), (0, 3)),
]


@pytest.mark.parametrize("ours, theirs, shape", EMPTY_MODULES, ids=lambda value: str(value) if isinstance(value, tuple)
                         else "")
def test_every_module_on_a_zero_size_batch_matches_torch(ours, theirs, shape):
    """An empty output of torch's shape; empty input gradient; parameter gradients (zeros) as torch's."""
    compare_module(ours(), theirs(), np.zeros(shape), 0)


@pytest.mark.parametrize("ours, theirs, target", [
    (mn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, np.zeros(0, np.int64)),
    (mn.NLLLoss, torch.nn.NLLLoss, np.zeros(0, np.int64)),
    (mn.BCELoss, torch.nn.BCELoss, np.zeros((0, 3))),
    (mn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, np.zeros((0, 3))),
    (mn.MSELoss, torch.nn.MSELoss, np.zeros((0, 3))),
], ids=lambda value: getattr(value, "__name__", ""))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_every_loss_on_a_zero_size_batch_matches_torch(ours, theirs, target, reduction):
    """nan for the mean of nothing, 0 for the sum, an empty array per element: PyTorch's answers."""
    target_torch = torch.tensor(target) if target.dtype.kind == "i" else tensor(target)
    compare_loss(ours(reduction=reduction), theirs(reduction=reduction), np.zeros((0, 3)), target, target_torch, 0)


# -- the same options through manualnet.autograd's functional losses ---------------------------

def compare_functional(ours, theirs, input, target, target_torch, options, seed):
    """A manualnet.autograd functional loss against torch.nn.functional's: value and the graph's gradient."""
    from manualnet import autograd as ag
    x, x_torch = ag.Tensor(input, requires_grad=True), tensor(input, requires_grad=True)
    loss, loss_torch = ours(x, target, **options), theirs(x_torch, target_torch, **torch_options(options))
    np.testing.assert_allclose(loss.data, loss_torch.detach().numpy(), **TOLERANCE)
    upstream = np.asarray(random_array(seed, np.shape(loss.data)))
    loss.backward(upstream)
    loss_torch.backward(tensor(upstream))
    np.testing.assert_allclose(x.grad, x_torch.grad.numpy(), **TOLERANCE)


@given(case=class_loss_cases(smoothing=True), seed=seeds)
@pytest.mark.slow
def test_autograd_cross_entropy_with_options_matches_torch(case, seed):
    """ag.cross_entropy runs the layer, options included: the graph's gradient is torch's."""
    from manualnet import autograd as ag
    input, target, options = case
    compare_functional(ag.cross_entropy, torch.nn.functional.cross_entropy, input, target, torch.tensor(target),
                       options, seed)


@given(case=binary_loss_cases(logits=True), seed=seeds)
@pytest.mark.slow
def test_autograd_bce_with_logits_with_weights_matches_torch(case, seed):
    from manualnet import autograd as ag
    input, target, options = case
    compare_functional(ag.binary_cross_entropy_with_logits, torch.nn.functional.binary_cross_entropy_with_logits,
                       input, target, tensor(target), options, seed)
