"""manualnet.autograd against PyTorch's autograd: values, grad_fn names, error messages, training.

float64 throughout; gradients agree to 1e-10.  Skipped with a visible reason
when torch is absent; required in CI (MANUALNET_REQUIRE_TORCH=1).
"""

import collections

import numpy as np
import pytest
from hypothesis import given

import manualnet as mn
from manualnet import autograd as ag
from manualnet.autograd import ParameterTensor, Tensor, graph
from manualnet.testing.catalogue import AUTOGRAD_PRIMITIVES as PRIMITIVES
from manualnet.testing.catalogue import autograd_inputs
from manualnet.interop.pytorch import to_torch

from ..autograd_cases import LAYER_CASES, run_graph
from ..strategies import seeds
from ..torch_required import import_torch

torch = import_torch()
TOLERANCE = dict(rtol=1e-10, atol=1e-12)
# PyTorch records these as other nodes: 2.0 − a as RsubBackward1, 1/a as MulBackward0 after
# ReciprocalBackward0, a vector times a matrix as SqueezeBackward4 after MmBackward0.
OTHER_NAMES_IN_PYTORCH = {"rsub", "rdiv", "vm"}


@pytest.fixture
def one_torch_thread():
    """Many tiny float64 ops: on a shared 2-core machine torch's two OpenMP threads spin-wait for each other
    (100 Adam steps of a small MLP took 11 s with two threads, 0.2 s with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def close(ours, theirs, what=""):
    np.testing.assert_allclose(np.asarray(ours), theirs.detach().numpy(), err_msg=what, **TOLERANCE)


def torch_name(node):
    return type(node).__name__ if node is not None else None      # torch's AccumulateGrad.name() has a prefix


# -- the primitives ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PRIMITIVES)
@given(seed=seeds)
@pytest.mark.slow
def test_primitive_matches_torch(name, seed):
    function, specs = PRIMITIVES[name]
    arrays = autograd_inputs(specs, np.random.default_rng(seed))
    ours, theirs = [Tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]
    output, torch_output = function(*ours), function(*theirs)
    close(output.data, torch_output, "forward")
    upstream = np.random.default_rng(seed + 1).standard_normal(output.shape)
    output.backward(upstream)
    torch_output.backward(torch.from_numpy(upstream))
    for index, (mine, reference) in enumerate(zip(ours, theirs)):
        close(mine.grad.numpy(), reference.grad, f"gradient of input {index}")


@pytest.mark.parametrize("name", [name for name in PRIMITIVES if name not in OTHER_NAMES_IN_PYTORCH])
def test_primitive_records_the_node_pytorch_records(name):
    function, specs = PRIMITIVES[name]
    arrays = autograd_inputs(specs, np.random.default_rng(0))
    output = function(*(Tensor(a, requires_grad=True) for a in arrays))
    torch_output = function(*(torch.tensor(a, requires_grad=True) for a in arrays))
    assert output.grad_fn.name() == torch_output.grad_fn.name()


# -- every public layer and loss ----------------------------------------------------------------------

def _torch_run(case, upstream):
    """PyTorch's autograd on the same forward: the layer's twin from to_torch, or the case's own formula."""
    first = case.forward_args[0]
    x = torch.tensor(first, requires_grad=first.dtype.kind == "f")       # integer indices get no gradient
    if case.torch_forward is not None:
        params = {}
        output = case.torch_forward(torch, x, params)
    else:
        module = to_torch(case.layer)
        params = dict(module.named_parameters())
        output = module(x, torch.from_numpy(case.forward_args[1])) if case.is_loss else module(x)
    output.backward(None if upstream is None else torch.from_numpy(upstream))
    return output, x, params


@pytest.mark.parametrize("layer_class", list(LAYER_CASES), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.slow
def test_graph_of_every_layer_matches_torch(layer_class, seed):
    rng = np.random.default_rng(seed)
    case = LAYER_CASES[layer_class](rng)
    values = {name: parameter.data.copy() for name, parameter in case.layer.named_parameters()}
    output = np.asarray(case.layer(*case.forward_args))       # to_torch copies the state (running stats) first
    upstream = None if case.is_loss else rng.standard_normal(output.shape)
    torch_case = LAYER_CASES[layer_class](np.random.default_rng(seed))   # a fresh layer: state before forward
    torch_output, torch_x, torch_params = _torch_run(torch_case, upstream)
    graph_output, x, params = run_graph(case, upstream, values)
    close(graph_output.data, torch_output, "forward")
    if torch_x.requires_grad:
        close(x.grad.numpy(), torch_x.grad, "input gradient")
    assert set(torch_params) <= set(params)
    for name, parameter in torch_params.items():
        close(params[name].grad.numpy(), parameter.grad, f"gradient of {name}")


def test_layer_nodes_have_pytorchs_names(rng):
    x = rng.standard_normal((4, 3))
    W, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    labels = np.array([0, 1, 1, 0])
    pairs = [
        (lambda t, W, b: ag.linear(t, W, b), lambda t, W, b: torch.nn.functional.linear(t, W, b)),
        (lambda t, W, b: ag.linear(t, W), lambda t, W, b: torch.nn.functional.linear(t, W)),
        (lambda t, W, b: ag.relu(t), lambda t, W, b: torch.relu(t)),
        (lambda t, W, b: ag.leaky_relu(t, 0.2), lambda t, W, b: torch.nn.functional.leaky_relu(t, 0.2)),
        (lambda t, W, b: ag.sigmoid(t), lambda t, W, b: torch.sigmoid(t)),
        (lambda t, W, b: ag.tanh(t), lambda t, W, b: torch.tanh(t)),
        (lambda t, W, b: ag.softmax(t, dim=1), lambda t, W, b: torch.softmax(t, dim=1)),
        (lambda t, W, b: ag.log_softmax(t, dim=1), lambda t, W, b: torch.log_softmax(t, dim=1)),
        (lambda t, W, b: ag.flatten(t), lambda t, W, b: torch.flatten(t)),
        (lambda t, W, b: ag.nll_loss(t[:, :2], labels), lambda t, W, b: torch.nn.functional.nll_loss(
            t[:, :2], torch.from_numpy(labels))),
        (lambda t, W, b: ag.mse_loss(t, x), lambda t, W, b: torch.nn.functional.mse_loss(t, torch.from_numpy(x))),
        (lambda t, W, b: ag.binary_cross_entropy(ag.sigmoid(t), x > 0),
         lambda t, W, b: torch.nn.functional.binary_cross_entropy(torch.sigmoid(t), torch.from_numpy((x > 0).astype(np.float64)))),
        (lambda t, W, b: ag.binary_cross_entropy_with_logits(t, x > 0),
         lambda t, W, b: torch.nn.functional.binary_cross_entropy_with_logits(t, torch.from_numpy((x > 0).astype(np.float64)))),
        (lambda t, W, b: ag.batch_norm(t, None, None, W[0], b[:1].reshape(1) * np.ones(3), training=True),
         lambda t, W, b: torch.nn.functional.batch_norm(t, None, None, W[0], b[:1] * torch.ones(3), training=True)),
    ]
    for ours, theirs in pairs:
        mine = ours(Tensor(x, requires_grad=True), Tensor(W, requires_grad=True), Tensor(b, requires_grad=True))
        reference = theirs(*(torch.tensor(a, requires_grad=True) for a in (x, W, b)))
        assert mine.grad_fn.name() == reference.grad_fn.name()


# -- the engine: reuse, broadcasting, repeated indices, depth ------------------------------------------------

def _both(function, *arrays):
    """function on manualnet tensors and on torch tensors, backward from a scalar; the two sets of leaves."""
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    function(*ours).backward()
    function(*theirs).backward()
    return ours, theirs


def test_the_notes_graph_prints_what_pytorch_prints():
    ours, theirs = _both(lambda x, a, b: x * (a * x + b), *(np.float32(v) for v in (2.0, 3.0, 1.0)))
    assert [repr(t.grad) for t in ours] == [repr(t.grad) for t in theirs] == ["tensor(13.)", "tensor(4.)", "tensor(2.)"]


def test_a_reused_node_a_broadcast_add_and_repeated_indices_match_torch(rng):
    def function(x, b, W):
        h = (x + b).tanh() @ W                       # a broadcast add
        picked = h[[0, 0, 2, 1, 0]]                  # repeated indices
        return (picked * picked + picked).sum() + h.mean()    # h and picked each used twice

    arrays = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 2))
    for mine, reference in zip(*_both(function, *arrays)):
        close(mine.grad.numpy(), reference.grad)


@pytest.mark.slow
def test_a_chain_of_10000_operations_matches_torch(one_torch_thread):
    def function(x):
        for _ in range(10_000):
            x = x * 1.0001
        return x

    (mine,), (reference,) = _both(function, np.float64(0.5))
    close(mine.grad.numpy(), reference.grad)


def test_grad_accumulation_and_retain_grad_match_torch():
    ours = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    theirs = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    kept = []
    for x in (ours, theirs):
        h = x * 3
        h.retain_grad()
        loss = (h * h).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        kept.append(h)
    close(ours.grad.numpy(), theirs.grad)
    close(kept[0].grad.numpy(), kept[1].grad)


@pytest.mark.parametrize("action", [
    lambda x: (x * 2).backward(),
    lambda x: [loss.backward() for loss in [(x * x).sum()] * 2],
    lambda x: x.detach().retain_grad(),
    lambda x: x.numpy(),
    lambda x: x.item(),
    lambda x: x.__isub__(1),
    lambda x: x.detach().backward(),
], ids=["non-scalar", "freed graph", "retain_grad without grad", "numpy", "item", "in-place leaf", "no grad_fn"])
def test_error_messages_are_pytorchs(action):
    messages = []
    for x in (Tensor(np.array([1.0, 2.0]), requires_grad=True),
              torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)):
        with pytest.raises(RuntimeError) as caught:
            action(x)
        messages.append(str(caught.value).split(" (Triggered internally")[0])
    assert messages[0] == messages[1]


# -- the notes' MLP ------------------------------------------------------------------------------------------

def test_the_graph_of_the_notes_mlp_loss_has_pytorchs_nodes(rng):
    model = mn.MLP(xdim=6, hdim=5, ydim=3, rng=0, dtype=np.float64)
    x, y = rng.standard_normal((4, 6)), np.array([0, 2, 1, 1])
    params = [ParameterTensor(p) for p in model.parameters()]
    loss = ag.nll_loss(ag.log_softmax(ag.linear(ag.relu(ag.linear(x, *params[:2])), *params[2:]), dim=1), y)
    torch_loss = torch.nn.CrossEntropyLoss()(to_torch(model)(torch.from_numpy(x)), torch.from_numpy(y))
    close(loss.data, torch_loss)
    seen, stack, names = set(), [torch_loss.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(torch_name(node))
        stack.extend(child for child, _ in node.next_functions)
    theirs = collections.Counter(name for name in names if name != "TBackward0")   # W.T: manualnet's Linear needs none
    ours = collections.Counter(node.name() for node in graph(loss).nodes)
    assert ours == theirs and graph(loss).nodes[0].name() == torch_name(torch_loss.grad_fn) == "NllLossBackward0"


@pytest.mark.slow
def test_the_notes_mlp_trained_100_steps_with_adam_matches_torch_and_the_manual_chain(one_torch_thread):
    """ParameterTensors over the model's Parameters + mn.optim.Adam, against torch.optim.Adam from the same weights."""
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 64)), rng.integers(0, 10, 64)
    recorded, manual = (mn.MLP(xdim=64, hdim=32, ydim=10, rng=1, dtype=np.float64) for _ in range(2))
    reference = to_torch(recorded)
    optimizers = [mn.optim.Adam(model.parameters(), lr=1e-3) for model in (recorded, manual)]
    torch_optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    criterion, torch_criterion = mn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    W1, b1, W2, b2 = (ParameterTensor(p) for p in recorded.parameters())
    losses = []
    for _ in range(100):
        for optimizer in (*optimizers, torch_optimizer):
            optimizer.zero_grad()
        loss = ag.cross_entropy(ag.linear(ag.relu(ag.linear(x, W1, b1)), W2, b2), y)
        loss.backward()
        manual_loss = criterion(manual(x), y)
        manual.backward(criterion.backward(), need_input_grad=False)
        torch_loss = torch_criterion(reference(torch.from_numpy(x)), torch.from_numpy(y))
        torch_loss.backward()
        for optimizer in (*optimizers, torch_optimizer):
            optimizer.step()
        losses.append((loss.item(), float(manual_loss), torch_loss.item()))
    ours, by_hand, theirs = np.array(losses).T
    assert np.array_equal(ours, by_hand)                       # the same lines ran: the same bits
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    assert theirs[-1] < 0.8 * theirs[0]                        # and it learned something
    for name, parameter in recorded.named_parameters():
        close(parameter.data, dict(reference.named_parameters())[name], name)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_node_matches_torch_with_repeats_and_padding(rng, padding_idx):
    """EmbeddingBackward0 runs Embedding's scatter-add: repeated ids add up, the padding row gets nothing."""
    weight, ids = rng.standard_normal((5, 3)), rng.integers(0, 5, (4, 6))
    upstream = rng.standard_normal((4, 6, 3))
    ours = Tensor(weight, requires_grad=True)
    output = ag.embedding(ids, ours, padding_idx=padding_idx)
    output.backward(upstream)
    theirs = torch.tensor(weight, requires_grad=True)
    reference = torch.nn.functional.embedding(torch.from_numpy(ids), theirs, padding_idx=padding_idx)
    reference.backward(torch.from_numpy(upstream))
    assert output.grad_fn.name() == reference.grad_fn.name()
    close(output.data, reference, "forward")
    close(ours.grad.numpy(), theirs.grad, "gradient of weight")
    if padding_idx is not None:
        assert not ours.grad.numpy()[padding_idx].any()
