"""The version counter: an in-place change between forward and backward is PyTorch's error, never a wrong gradient.

A layer's backward reads its weights again (Linear: dL/dx = G W).  An
optimizer step, a ``load_state_dict``, an init or an assignment to
``.data`` between forward and backward used to hand backward the new
weights: the gradient of a forward that never happened.  Each such change
now bumps the weights' version, forward keeps the version it saw, and
backward raises PyTorch's "modified by an inplace operation", naming the
layer and the Parameter (README, Conventions).
"""

import copy
import gc

import numpy as np
import pytest

import manualnet as mn
from manualnet.nn import _version_counter
from manualnet.nn._version_counter import bump, version

MODIFIED = "modified by an inplace operation"
RNG = np.random.default_rng(20261204)


# -- the counter ------------------------------------------------------------------------------------

def test_an_array_and_its_views_share_one_version():
    array = np.zeros((2, 3))
    views = [array[1:], array.reshape(6), array.T, array[:, 0].view()]
    assert version(array) == 0
    bump(views[0])
    assert [version(view) for view in views] == [1, 1, 1, 1] and version(array) == 1
    bump(array)
    assert version(views[3]) == 2
    assert version(array.copy()) == 0                        # a copy is other memory


def test_the_count_goes_with_the_memory():
    array = np.zeros(3)
    bump(array)
    key = _version_counter.memory_of(array)
    assert _version_counter.counts[key] == 1
    del array
    gc.collect()
    assert key not in _version_counter.counts         # (other tests' arrays may go at the same collection)


# -- what bumps a Parameter's version -------------------------------------------------------------------

def test_an_in_place_update_through_data_bumps_the_version():
    p = mn.Parameter(np.ones(3))
    before = p._version
    p.data -= 0.1 * np.ones(3)                               # the notes' update: Python assigns the array back
    assert p._version == before + 1
    p.data *= 2
    assert p._version == before + 2


def test_replacing_data_moves_the_version_on_and_the_new_array_is_the_data():
    p = mn.Parameter(np.ones(3))
    p.data -= 1
    new = np.full(3, 5.0)
    p.data = new
    assert p.data is new and p._version == 2
    p.data = np.zeros(3)                                     # a fresh array: the version still only grows
    assert p._version == 3


def test_astype_to_the_same_dtype_changes_nothing():
    p = mn.Parameter(np.ones(3, np.float32))
    data = p.data
    p.astype(np.float32)
    assert p.data is data and p._version == 0
    p.astype(np.float64)
    assert p.data.dtype == np.float64 and p._version == 1


@pytest.mark.parametrize("fill", [
    lambda p: mn.init.uniform_(p, rng=0), lambda p: mn.init.normal_(p, rng=0), lambda p: mn.init.zeros_(p),
    lambda p: mn.init.kaiming_normal_(p, rng=0), lambda p: mn.init.xavier_uniform_(p, rng=0),
], ids=["uniform_", "normal_", "zeros_", "kaiming_normal_", "xavier_uniform_"])
def test_every_init_bumps_the_version(fill):
    p = mn.Parameter(np.ones((3, 2)))
    fill(p)
    assert p._version == 1


def test_load_state_dict_bumps_every_parameter_and_buffer():
    model = mn.Sequential(mn.Linear(3, 2, rng=0), mn.BatchNorm1d(2))
    before = {key: version(array) for key, array in model._state_arrays().items()}
    model.load_state_dict(model.state_dict())
    after = {key: version(array) for key, array in model._state_arrays().items()}
    assert all(after[key] == before[key] + 1 for key in before)


OPTIMIZERS = [
    ("SGD", lambda params: mn.optim.SGD(params, lr=0.1)),
    ("SGD(momentum, nesterov, weight_decay)",
     lambda params: mn.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", lambda params: mn.optim.Adam(params)),
    ("Adam(weight_decay, amsgrad)", lambda params: mn.optim.Adam(params, weight_decay=0.1, amsgrad=True)),
    ("AdamW", lambda params: mn.optim.AdamW(params)),
    ("RMSprop(momentum, centered)", lambda params: mn.optim.RMSprop(params, momentum=0.9, centered=True)),
    ("Adagrad", lambda params: mn.optim.Adagrad(params)),
    ("Module.optimize", None),
]


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[name for name, _ in OPTIMIZERS])
def test_every_optimizer_step_bumps_every_parameter(name, make):
    lin = mn.Linear(3, 2, rng=0)
    lin.weight.grad[...] = 1.0
    lin.bias.grad[...] = 1.0
    before = [p._version for p in lin.parameters()]
    if make is None:
        lin.optimize(0.1)
    else:
        make(lin.parameters()).step()
    assert all(p._version > version_then for p, version_then in zip(lin.parameters(), before))


def test_every_public_optimizer_is_checked_for_its_bump():
    checked = {name.split("(")[0] for name, _ in OPTIMIZERS}
    public = {name for name in mn.optim.__all__ if name not in ("Optimizer", "lr_scheduler")}
    assert public <= checked, f"add {sorted(public - checked)} to OPTIMIZERS"


# -- the manual chain: forward keeps the versions, backward checks them ----------------------------------

def f64(*shape):
    return RNG.standard_normal(shape)


# Every layer whose backward reads a Parameter again, with one input.
LAYERS = [
    ("Linear", lambda: mn.Linear(4, 3, rng=0, dtype=np.float64), lambda: f64(5, 4)),
    ("Conv2d", lambda: mn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64), lambda: f64(2, 2, 4, 4)),
    ("Conv1d", lambda: mn.Conv1d(2, 3, 3, rng=0, dtype=np.float64), lambda: f64(2, 2, 5)),
    ("BatchNorm1d", lambda: mn.BatchNorm1d(4, dtype=np.float64), lambda: f64(5, 4)),
    ("BatchNorm2d", lambda: mn.BatchNorm2d(2, dtype=np.float64), lambda: f64(3, 2, 2, 2)),
    ("RNN", lambda: mn.RNN(4, 3, num_layers=2, bidirectional=True, dtype=np.float64, rng=0), lambda: f64(5, 2, 4)),
    ("LSTM", lambda: mn.LSTM(4, 3, dtype=np.float64, rng=0), lambda: f64(5, 2, 4)),
    ("GRU", lambda: mn.GRU(4, 3, dtype=np.float64, rng=0), lambda: f64(5, 2, 4)),
    ("RNNCell", lambda: mn.RNNCell(4, 3, dtype=np.float64, rng=0), lambda: f64(2, 4)),
    ("LSTMCell", lambda: mn.LSTMCell(4, 3, dtype=np.float64, rng=0), lambda: f64(2, 4)),
    ("GRUCell", lambda: mn.GRUCell(4, 3, dtype=np.float64, rng=0), lambda: f64(2, 4)),
]


def upstream(output):
    """dL/doutput: ones for the output, None for a recurrent layer's states (a tuple's second part)."""
    return (np.ones_like(output[0]), None) if isinstance(output, tuple) else np.ones_like(output)


@pytest.mark.parametrize("name, build, make_input", LAYERS, ids=[name for name, *_ in LAYERS])
def test_a_step_between_forward_and_backward_is_pytorchs_error_naming_the_layer_and_weight(name, build, make_input):
    layer = build()
    output = layer(make_input())
    mn.optim.SGD(layer.parameters(), lr=0.1).step()
    first = layer.backward_reads[0]
    with pytest.raises(RuntimeError, match=rf"{name}\(.*\)\.backward: one of the variables needed for gradient "
                                           rf"computation has been {MODIFIED}: {first} \[float64 .*\] is at "
                                           r"version \d+; expected version \d+ instead"):
        layer.backward(upstream(output))


@pytest.mark.parametrize("name, build, make_input", LAYERS, ids=[name for name, *_ in LAYERS])
def test_the_step_after_backward_is_the_training_loop_and_raises_nothing(name, build, make_input):
    layer = build()
    optimizer = mn.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        output = layer(make_input())
        layer.backward(upstream(output))
        optimizer.step()


def test_the_issues_linear_gives_the_error_not_dl_dx_of_the_stepped_weight():
    lin = mn.Linear(3, 2, rng=0, dtype=np.float64)
    x, g = f64(4, 3), f64(4, 2)
    y = lin(x)
    mn.optim.SGD(lin.parameters(), lr=0.5).step()
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=3, out_features=2, bias=True\)\.backward: .*weight "
                                           r"\[float64 \(2, 3\)\] is at version 2; expected version 1 instead"):
        lin.backward(g)
    assert y.shape == (4, 2)


@pytest.mark.parametrize("change", [
    lambda model: model.load_state_dict(mn.Sequential(mn.Linear(3, 2, rng=1), mn.ReLU()).state_dict()),
    lambda model: model.optimize(0.1),
    lambda model: mn.init.zeros_(model[0].weight),
    lambda model: setattr(model[0].weight, "data", np.zeros((2, 3), np.float32)),
    lambda model: model.astype(np.float64),
], ids=["load_state_dict", "Module.optimize", "init.zeros_", "data = new array", "astype(float64)"])
def test_any_change_of_the_weights_between_forward_and_backward_is_caught(change):
    model = mn.Sequential(mn.Linear(3, 2, rng=0), mn.ReLU())
    output = model(np.ones((4, 3), np.float32))
    change(model)
    with pytest.raises(RuntimeError, match=MODIFIED):
        model.backward(np.ones_like(output))


def test_a_change_that_backward_does_not_read_raises_nothing():
    """Linear's backward reads W again, never b: changing the bias in between is harmless, as in PyTorch."""
    lin = mn.Linear(3, 2, rng=0, dtype=np.float64)
    x, g = f64(4, 3), f64(4, 2)
    lin(x)
    lin.bias.data += 1
    np.testing.assert_array_equal(lin.backward(g), g @ lin.weight.data)


def test_embedding_max_norm_rescaling_a_tied_table_is_caught():
    """Embedding's max_norm rescales rows in place (PyTorch's embedding_renorm_): a layer sharing the table sees it."""
    embedding = mn.Embedding(5, 3, max_norm=0.1, dtype=np.float64, rng=0)
    head = mn.Linear(3, 5, bias=False, dtype=np.float64, rng=0)
    head.weight = embedding.weight                           # tied, as GPT's lm_head
    logits = head(f64(2, 3))
    embedding(np.array([0, 1]))
    with pytest.raises(RuntimeError, match=MODIFIED):
        head.backward(np.ones_like(logits))


def test_a_forward_under_no_grad_keeps_no_versions_and_says_so():
    lin = mn.Linear(3, 2, rng=0)
    with mn.no_grad():
        lin(np.ones((1, 3), np.float32))
    assert "versions" not in vars(lin)
    with pytest.raises(RuntimeError, match="ran under mn.no_grad"):
        lin.backward(np.ones((1, 2), np.float32))


def test_a_deep_copy_counts_its_own_memory():
    original = mn.Linear(3, 2, rng=0)
    copied = copy.deepcopy(original)
    before = copied.weight._version
    original.weight.data -= 1
    assert copied.weight._version == before
    copied.weight.data -= 1
    assert copied.weight._version == before + 1
