"""PyTorch parity for the sequence operations: RNN/LSTM/GRU, their cells, Embedding and gradient clipping.

Same weights (moved by state dict, both ways), same input, same upstream
gradients: outputs, final states and every gradient — dL/dinput, dL/dh0,
dL/dc0 and each weight's — match torch's autograd in float64 to ~1e-10,
also when only dL/dh_n (or dL/dc_n) is given.  Skipped with a visible reason
when torch is absent; required in CI (MANUALNET_REQUIRE_TORCH=1).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import leaves, map_structure

from ..strategies import random_array, seeds
from ..parity import TOLERANCE, assert_close, tensor
from ..torch_required import import_torch

torch = import_torch()
TORCH_CLASSES = {mn.RNN: torch.nn.RNN, mn.LSTM: torch.nn.LSTM, mn.GRU: torch.nn.GRU,
                 mn.RNNCell: torch.nn.RNNCell, mn.LSTMCell: torch.nn.LSTMCell, mn.GRUCell: torch.nn.GRUCell}
SEQUENCE_LAYERS = [mn.RNN, mn.LSTM, mn.GRU]
CELLS = [mn.RNNCell, mn.LSTMCell, mn.GRUCell]


def map_structure_of(structure, function):
    return map_structure(function, structure)


def flat(structure):
    """Every part of a nested tuple in order, None parts included (they pair with the output's parts)."""
    if isinstance(structure, tuple):
        return [leaf for part in structure for leaf in flat(part)]
    return [structure]


def torch_twin(ours, **arguments):
    """The torch.nn module of the same class and arguments, holding our weights (moved by state dict)."""
    theirs = TORCH_CLASSES[type(ours)](ours.input_size, ours.hidden_size, dtype=torch.float64, **arguments)
    theirs.load_state_dict({key: torch.from_numpy(value) for key, value in ours.state_dict().items()}, strict=True)
    return theirs


def run_both(ours, theirs, x, hx, upstream):
    """Forward both, backward both with ``upstream`` (forward's output structure, None parts = zero);
    compare the outputs, dL/dx, dL/dhx and every parameter's gradient."""
    output = ours(x, hx)
    x_torch = tensor(x, requires_grad=True)
    hx_torch = map_structure_of(hx, lambda a: tensor(a, requires_grad=True))
    output_torch = theirs(x_torch, hx_torch)
    for mine, its in zip(flat(output), flat(output_torch)):
        assert_close(mine, its, "forward output")
    dx, dhx = ours.backward(upstream)
    pairs = [(its, tensor(g)) for its, g in zip(flat(output_torch), flat(upstream)) if g is not None]
    torch.autograd.backward([its for its, _ in pairs], [g for _, g in pairs])
    assert_close(dx, x_torch.grad, "dL/dinput")
    for mine, its in zip(flat(dhx), flat(hx_torch)):
        assert_close(mine, its.grad, "dL/dh0 (dL/dc0)")
    theirs_named = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        assert_close(parameter.grad, theirs_named[name].grad, f"gradient of {name}")


def random_upstream(output, seed):
    return map_structure_of(output, lambda a: random_array(seed + 7, a.shape))


# -- sequence layers -------------------------------------------------------------------------

@pytest.mark.parametrize("cls", SEQUENCE_LAYERS, ids=lambda cls: cls.__name__)
@given(steps=st.integers(1, 6), batch=st.integers(1, 4), input_size=st.integers(1, 5), hidden=st.integers(1, 5),
       layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans(),
       seed=seeds)
@pytest.mark.slow
def test_sequence_layer_matches_torch(cls, steps, batch, input_size, hidden, layers, bidirectional, batch_first,
                                      bias, seed):
    arguments = dict(num_layers=layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    ours = cls(input_size, hidden, rng=seed, dtype=np.float64, **arguments)
    theirs = torch_twin(ours, **arguments)
    x = random_array(seed, (batch, steps, input_size) if batch_first else (steps, batch, input_size))
    state_shape = (layers * (2 if bidirectional else 1), batch, hidden)
    h0 = random_array(seed + 1, state_shape)
    hx = (h0, random_array(seed + 2, state_shape)) if cls is mn.LSTM else h0
    upstream = random_upstream(ours(x, hx), seed)
    run_both(ours, theirs, x, hx, upstream)


ONE_PART = [(cls, part) for cls in SEQUENCE_LAYERS for part in ("output", "h_n", "c_n")
            if part != "c_n" or cls is mn.LSTM]


@pytest.mark.parametrize("cls, given_part", ONE_PART, ids=lambda value: getattr(value, "__name__", value))
def test_a_gradient_given_for_one_output_alone_matches_torch(cls, given_part, rng):
    """dL/dh_n alone (a classifier on the last state), dL/dc_n alone, dL/doutput alone: the rest is zero."""
    ours = cls(3, 4, num_layers=2, bidirectional=True, rng=1, dtype=np.float64)
    theirs = torch_twin(ours, num_layers=2, bidirectional=True)
    x = rng.standard_normal((5, 2, 3))
    h0 = rng.standard_normal((4, 2, 4))
    hx = (h0, rng.standard_normal((4, 2, 4))) if cls is mn.LSTM else h0
    output, state = ours(x, hx)
    G = {name: rng.standard_normal(array.shape) for name, array in
         zip(("output", "h_n", "c_n"), flat((output, state)))}
    keep = {name: (G[name] if name == given_part else None) for name in G}
    upstream = (keep["output"], (keep["h_n"], keep["c_n"])) if cls is mn.LSTM else (keep["output"], keep["h_n"])
    run_both(ours, theirs, x, hx, upstream)


@pytest.mark.parametrize("cls", SEQUENCE_LAYERS, ids=lambda cls: cls.__name__)
def test_without_initial_state_matches_torch(cls, rng):
    """hx=None is zeros in both; dL/dinput and the weights' gradients still match."""
    ours = cls(3, 4, num_layers=2, batch_first=True, rng=2, dtype=np.float64)
    theirs = torch_twin(ours, num_layers=2, batch_first=True)
    x = rng.standard_normal((2, 6, 3))
    output, state = ours(x)
    output_torch, state_torch = theirs(x_torch := tensor(x, requires_grad=True))
    assert_close(output, output_torch, "output")
    for mine, its in zip(flat(state), flat(state_torch)):
        assert_close(mine, its, "final state")
    G = rng.standard_normal(output.shape)
    dx, _ = ours.backward(G)
    output_torch.backward(tensor(G))
    assert_close(dx, x_torch.grad, "dL/dinput")
    for name, parameter in theirs.named_parameters():
        assert_close(dict(ours.named_parameters())[name].grad, parameter.grad, name)


def test_relu_rnn_matches_torch(rng):
    ours = mn.RNN(3, 5, num_layers=2, nonlinearity="relu", rng=3, dtype=np.float64)
    theirs = torch_twin(ours, num_layers=2, nonlinearity="relu")
    x, h0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((2, 2, 5))
    run_both(ours, theirs, x, h0, random_upstream(ours(x, h0), 3))


@pytest.mark.parametrize("cls", SEQUENCE_LAYERS, ids=lambda cls: cls.__name__)
def test_unbatched_sequence_matches_torch(cls, rng):
    ours = cls(3, 4, num_layers=2, bidirectional=True, rng=4, dtype=np.float64)
    theirs = torch_twin(ours, num_layers=2, bidirectional=True)
    x, h0 = rng.standard_normal((5, 3)), rng.standard_normal((4, 4))
    hx = (h0, rng.standard_normal((4, 4))) if cls is mn.LSTM else h0
    run_both(ours, theirs, x, hx, random_upstream(ours(x, hx), 4))


@pytest.mark.parametrize("cls", CELLS, ids=lambda cls: cls.__name__)
@given(batch=st.integers(1, 4), input_size=st.integers(1, 5), hidden=st.integers(1, 5), bias=st.booleans(),
       unbatched=st.booleans(), seed=seeds)
@pytest.mark.slow
def test_cell_matches_torch(cls, batch, input_size, hidden, bias, unbatched, seed):
    ours = cls(input_size, hidden, bias=bias, rng=seed, dtype=np.float64)
    theirs = torch_twin(ours, bias=bias)
    x = random_array(seed, (input_size,) if unbatched else (batch, input_size))
    shape = (hidden,) if unbatched else (batch, hidden)
    hx = (random_array(seed + 1, shape), random_array(seed + 2, shape)) if cls is mn.LSTMCell \
        else random_array(seed + 1, shape)
    run_both(ours, theirs, x, hx, random_upstream(ours(x, hx), seed))


# -- state dicts, both ways --------------------------------------------------------------------

@pytest.mark.parametrize("cls", SEQUENCE_LAYERS + CELLS, ids=lambda cls: cls.__name__)
def test_state_dicts_move_both_ways_with_the_same_keys(cls, rng):
    arguments = {} if cls in CELLS else dict(num_layers=2, bidirectional=True)
    torch.manual_seed(0)
    theirs = TORCH_CLASSES[cls](3, 4, dtype=torch.float64, **arguments)
    ours = cls(3, 4, dtype=np.float64, **arguments)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({key: value.numpy() for key, value in theirs.state_dict().items()}, strict=True)
    x = rng.standard_normal((2, 3) if cls in CELLS else (5, 2, 3))
    for mine, its in zip(flat(ours(x)), flat(theirs(tensor(x)))):
        assert_close(mine, its, "output with torch's weights")
    back = TORCH_CLASSES[cls](3, 4, dtype=torch.float64, **arguments)
    ours_again = cls(3, 4, rng=9, dtype=np.float64, **arguments)
    back.load_state_dict({key: torch.from_numpy(value) for key, value in ours_again.state_dict().items()}, strict=True)
    for mine, its in zip(flat(ours_again(x)), flat(back(tensor(x)))):
        assert_close(mine, its, "output with our weights")


# -- Embedding ------------------------------------------------------------------------------------

EMBEDDING_OPTIONS = [{}, {"padding_idx": 2}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
                     {"scale_grad_by_freq": True, "padding_idx": 0}, {"max_norm": 1.0},
                     {"max_norm": 0.7, "norm_type": 1.0}]


@pytest.mark.parametrize("options", EMBEDDING_OPTIONS, ids=str)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), seed=seeds)
@pytest.mark.slow
def test_embedding_matches_torch(options, shape, seed):
    """Output, weight.grad (duplicates summed) and, with max_norm, the renormalised table itself."""
    ours = mn.Embedding(6, 3, rng=seed, dtype=np.float64, **options)
    theirs = torch.nn.Embedding(6, 3, dtype=torch.float64, **options)
    theirs.load_state_dict({"weight": torch.from_numpy(ours.weight.data.copy())})
    indices = np.random.default_rng(seed).integers(0, 6, shape)
    y = ours(indices)
    y_torch = theirs(torch.from_numpy(indices))
    assert_close(y, y_torch, "lookup")
    assert_close(ours.weight.data, theirs.weight, "table after the lookup (max_norm renormalises in place)")
    G = random_array(seed + 1, y.shape)
    assert ours.backward(G) is None
    y_torch.backward(tensor(G))
    assert_close(ours.weight.grad, theirs.weight.grad, "weight.grad")


def test_embedding_default_init_matches_torchs_distribution_and_padding_row():
    ours, theirs = mn.Embedding(1000, 8, padding_idx=3, rng=0), torch.nn.Embedding(1000, 8, padding_idx=3)
    assert not ours.weight.data[3].any() and not theirs.weight.detach().numpy()[3].any()
    for table in (ours.weight.data, theirs.weight.detach().numpy()):
        assert abs(table.std() - 1) < 0.03 and abs(table.mean()) < 0.03     # N(0, 1)


# -- gradient clipping ------------------------------------------------------------------------------

def parameters_with_gradients(seed, dtype=np.float64, scale=3.0):
    rng = np.random.default_rng(seed)
    parameters = [mn.Parameter(rng.standard_normal(shape).astype(dtype)) for shape in [(3, 4), (5,), (2, 2, 2)]]
    for parameter in parameters:
        parameter.grad[...] = rng.standard_normal(parameter.shape) * scale
    twins = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in parameters]
    for twin, parameter in zip(twins, parameters):
        twin.grad = torch.from_numpy(parameter.grad.copy())
    return parameters, twins


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3, 0.5, "inf", float("inf"), 0])
@given(max_norm=st.floats(0.0, 50.0), scale=st.floats(0.01, 10.0), seed=seeds)
@pytest.mark.slow
def test_clip_grad_norm_matches_torch(norm_type, max_norm, scale, seed):
    ours, theirs = parameters_with_gradients(seed, scale=scale)
    total = mn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    total_torch = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(total, total_torch.item(), **TOLERANCE)
    for parameter, twin in zip(ours, theirs):
        assert_close(parameter.grad, twin.grad, "clipped gradient")


def test_clip_grad_norm_matches_torch_in_float32():
    ours, _ = parameters_with_gradients(0, np.float32)
    theirs = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ours]
    for twin, parameter in zip(theirs, ours):
        twin.grad = torch.from_numpy(parameter.grad.copy())
    total = mn.utils.clip_grad_norm_(ours, 1.0)
    total_torch = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert total.dtype == np.float32
    np.testing.assert_allclose(total, total_torch.item(), rtol=1e-6)
    for parameter, twin in zip(ours, theirs):
        np.testing.assert_allclose(parameter.grad, twin.grad.numpy(), rtol=1e-6, atol=1e-7)


@given(clip_value=st.floats(0.0, 5.0), seed=seeds)
def test_clip_grad_value_matches_torch(clip_value, seed):
    ours, theirs = parameters_with_gradients(seed)
    assert mn.utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for parameter, twin in zip(ours, theirs):
        assert_close(parameter.grad, twin.grad, "clipped gradient")


@pytest.mark.slow
def test_training_an_lstm_with_clipping_follows_torch_step_for_step(rng):
    """Ten Adam steps on an LSTM + Linear with clip_grad_norm_ between backward and step: the same weights."""
    model = mn.models.LSTMClassifier(4, 6, 3, rng=0, dtype=np.float64)
    twin_lstm = torch.nn.LSTM(4, 6, batch_first=True, dtype=torch.float64)
    twin_fc = torch.nn.Linear(6, 3, dtype=torch.float64)
    state = model.state_dict()
    twin_lstm.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in state.items() if k.startswith("lstm.")})
    twin_fc.load_state_dict({k[3:]: torch.from_numpy(v) for k, v in state.items() if k.startswith("fc.")})
    twin_parameters = list(twin_lstm.parameters()) + list(twin_fc.parameters())
    optimizer = mn.optim.Adam(model.parameters(), lr=0.05)
    optimizer_torch = torch.optim.Adam(twin_parameters, lr=0.05)
    criterion = mn.CrossEntropyLoss()
    for _ in range(10):
        x, y = rng.standard_normal((5, 7, 4)) * 3, rng.integers(0, 3, 5)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        model.backward(criterion.backward(), need_input_grad=False)
        norm = mn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        optimizer_torch.zero_grad()
        _, (h_n, _) = twin_lstm(tensor(x))
        loss_torch = torch.nn.functional.cross_entropy(twin_fc(h_n[-1]), torch.from_numpy(y))
        loss_torch.backward()
        norm_torch = torch.nn.utils.clip_grad_norm_(twin_parameters, 0.5)
        optimizer_torch.step()
        np.testing.assert_allclose(loss, loss_torch.item(), **TOLERANCE)
        np.testing.assert_allclose(norm, norm_torch.item(), **TOLERANCE)
    for (name, parameter), twin in zip(model.named_parameters(), twin_parameters):
        assert_close(parameter.data, twin, name)


# -- to_torch / from_torch: the same layer on the other side -----------------------------------------

@pytest.mark.parametrize("make", [
    lambda: mn.Embedding(6, 3, padding_idx=1, rng=0, dtype=np.float64),
    lambda: mn.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, rng=0, dtype=np.float64),
    lambda: mn.LSTM(3, 4, batch_first=True, rng=0, dtype=np.float64),
    lambda: mn.GRU(3, 4, bias=False, rng=0, dtype=np.float64),
    lambda: mn.RNNCell(3, 4, nonlinearity="relu", rng=0, dtype=np.float64),
    lambda: mn.LSTMCell(3, 4, rng=0, dtype=np.float64),
    lambda: mn.GRUCell(3, 4, rng=0, dtype=np.float64),
], ids=["Embedding", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_to_torch_and_back_keep_the_arguments_weights_and_outputs(make, rng):
    from manualnet.interop.pytorch import from_torch, to_torch
    layer = make()
    twin = to_torch(layer)
    if isinstance(layer, mn.Embedding):
        x = rng.integers(0, 6, (2, 5))
        ours, theirs = layer(x), twin(torch.from_numpy(x))
    else:
        x = rng.standard_normal((5, 2, 3) if hasattr(layer, "num_layers") else (2, 3))
        ours, theirs = layer(x), twin(torch.from_numpy(x))
    for (_, mine), (_, reference) in zip(leaves(ours), leaves(theirs)):
        np.testing.assert_allclose(mine, reference.detach().numpy(), rtol=1e-12, atol=1e-12)
    back = from_torch(twin)
    assert type(back) is type(layer) and back.describe() == layer.describe()
    assert all(np.array_equal(value, back.state_dict()[key]) for key, value in layer.state_dict().items())
