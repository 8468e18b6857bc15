"""In-place edits can never give a wrong gradient.

backward reads what forward kept.  If the caller could change it in place —
the input it passed (``lin(x); x *= 0``) or the output it got back
(``y = sigmoid(x); y *= 2``) — backward would silently compute the gradient
of something that never happened (PyTorch raises "modified by an inplace
operation").  The rule (README, Conventions): an input a layer keeps is a
private copy unless it is read-only all the way down; an output a layer
keeps is handed out read-only.  For every layer and loss, these tests edit
every input and the output in place after forward (where NumPy lets them)
and check that backward returns exactly what it returns without the edits.
"""

import numpy as np
import pytest

import manualnet as mn
from manualnet.testing.gradcheck import leaves, map_structure
from manualnet.nn.modules.module import keep_input, keep_output

from .strategies import KINK_MARGIN

RNG = np.random.default_rng(20261129)


def batch(*shape, margin=0.0):
    values = RNG.standard_normal(shape)
    return np.sign(values) * (margin + np.abs(values))


def labels(n, classes):
    return RNG.integers(0, classes, n)


# (name, build the module, the inputs of one forward)
CASES = [
    ("Linear", lambda: mn.Linear(4, 3, rng=0, dtype=np.float64), lambda: (batch(5, 4),)),
    ("Flatten", lambda: mn.Flatten(), lambda: (batch(5, 2, 3),)),
    ("Sequential", lambda: mn.Sequential(mn.Linear(4, 6, rng=0, dtype=np.float64), mn.ReLU(),
                                         mn.Linear(6, 3, rng=1, dtype=np.float64)), lambda: (batch(5, 4),)),
    ("MLP", lambda: mn.MLP(4, 6, 3, rng=0, dtype=np.float64), lambda: (batch(5, 4),)),
    ("ReLU", lambda: mn.ReLU(), lambda: (batch(5, 4, margin=KINK_MARGIN),)),
    ("LeakyReLU", lambda: mn.LeakyReLU(0.1), lambda: (batch(5, 4, margin=KINK_MARGIN),)),
    ("Sigmoid", lambda: mn.Sigmoid(), lambda: (batch(5, 4),)),
    ("Tanh", lambda: mn.Tanh(), lambda: (batch(5, 4),)),
    ("Softmax", lambda: mn.Softmax(dim=1), lambda: (batch(5, 4),)),
    ("LogSoftmax", lambda: mn.LogSoftmax(dim=1), lambda: (batch(5, 4),)),
    ("Dropout", lambda: mn.Dropout(0.3, rng=0), lambda: (batch(5, 4), RNG.random((5, 4)) >= 0.3)),
    ("BatchNorm1d", lambda: mn.BatchNorm1d(4, dtype=np.float64), lambda: (batch(5, 4),)),
    ("BatchNorm1d(affine=False)", lambda: mn.BatchNorm1d(4, affine=False, dtype=np.float64), lambda: (batch(5, 4),)),
    ("BatchNorm2d", lambda: mn.BatchNorm2d(2, dtype=np.float64), lambda: (batch(3, 2, 2, 2),)),
    ("CrossEntropyLoss", lambda: mn.CrossEntropyLoss(), lambda: (batch(5, 4), labels(5, 4))),
    ("NLLLoss", lambda: mn.NLLLoss(), lambda: (batch(5, 4), labels(5, 4))),
    ("BCELoss", lambda: mn.BCELoss(), lambda: (RNG.uniform(0.05, 0.95, (5, 4)), RNG.uniform(0, 1, (5, 4)))),
    ("BCEWithLogitsLoss", lambda: mn.BCEWithLogitsLoss(), lambda: (batch(5, 4), RNG.uniform(0, 1, (5, 4)))),
    ("MSELoss", lambda: mn.MSELoss(), lambda: (batch(5, 4), batch(5, 4))),
    # issue 13: the options and layouts keep what they need privately too
    ("Linear(on (N, T, in))", lambda: mn.Linear(4, 3, rng=0, dtype=np.float64), lambda: (batch(2, 5, 4),)),
    ("Softmax(dim=0 of 3-D)", lambda: mn.Softmax(dim=0), lambda: (batch(3, 2, 4),)),
    ("CrossEntropyLoss(weight, ignore_index, label_smoothing on (N, C, d))",
     lambda: mn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5, 1.5]), ignore_index=1, label_smoothing=0.1),
     lambda: (batch(5, 4, 3), labels(15, 4).reshape(5, 3))),
    ("CrossEntropyLoss(class probabilities)", lambda: mn.CrossEntropyLoss(label_smoothing=0.2),
     lambda: (batch(5, 4), RNG.dirichlet(np.ones(4), 5))),
    ("NLLLoss(weight, ignore_index)", lambda: mn.NLLLoss(weight=np.array([1.0, 2.0, 0.5, 1.5]), ignore_index=2),
     lambda: (batch(5, 4), labels(5, 4))),
    ("BCEWithLogitsLoss(weight, pos_weight)",
     lambda: mn.BCEWithLogitsLoss(weight=np.array([1.0, 2.0, 0.5, 1.5]), pos_weight=np.array([3.0, 1.0, 2.0, 0.5])),
     lambda: (batch(5, 4), RNG.uniform(-0.5, 1.5, (5, 4)))),
    # sequences (issue 16): (output, h_n) and (dL/dinput, dL/dh0) are compared array by array
    ("Embedding", lambda: mn.Embedding(5, 3, rng=0, dtype=np.float64), lambda: (RNG.integers(0, 5, (2, 4)),)),
    ("RNNCell", lambda: mn.RNNCell(4, 3, rng=0, dtype=np.float64), lambda: (batch(5, 4), batch(5, 3))),
    ("LSTMCell", lambda: mn.LSTMCell(4, 3, rng=0, dtype=np.float64), lambda: (batch(5, 4), (batch(5, 3), batch(5, 3)))),
    ("GRUCell", lambda: mn.GRUCell(4, 3, rng=0, dtype=np.float64), lambda: (batch(5, 4), batch(5, 3))),
    ("RNN", lambda: mn.RNN(4, 3, num_layers=2, rng=0, dtype=np.float64), lambda: (batch(6, 2, 4), batch(2, 2, 3))),
    ("LSTM", lambda: mn.LSTM(4, 3, batch_first=True, rng=0, dtype=np.float64),
     lambda: (batch(2, 6, 4), (batch(1, 2, 3), batch(1, 2, 3)))),
    ("GRU", lambda: mn.GRU(4, 3, bidirectional=True, rng=0, dtype=np.float64), lambda: (batch(6, 2, 4), batch(2, 2, 3))),
]
# Convolution and pooling (issue 14): each keeps its own copy (im2col columns, max-pool routes).
CASES += [
    ("Conv2d", lambda: mn.Conv2d(2, 3, 1, rng=0, dtype=np.float64), lambda: (batch(2, 2, 4, 4),)),   # 1 × 1: no padding copy
    ("Conv2d(padding=1)", lambda: mn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64), lambda: (batch(2, 2, 4, 4),)),
    ("Conv1d", lambda: mn.Conv1d(2, 3, 3, rng=0, dtype=np.float64), lambda: (batch(2, 2, 6),)),
    ("MaxPool2d", lambda: mn.MaxPool2d(2), lambda: (batch(2, 2, 4, 4),)),
    ("AvgPool2d", lambda: mn.AvgPool2d(2), lambda: (batch(2, 2, 4, 4),)),
    ("CNN", lambda: mn.CNN(image_size=8, channels=(2, 3), rng=0, dtype=np.float64), lambda: (batch(2, 1, 8, 8),)),
    ("LSTMClassifier", lambda: mn.LSTMClassifier(4, 3, 2, rng=0, dtype=np.float64), lambda: (batch(2, 5, 4),)),
]
# The transformer: attention keeps its projections' inputs (one copy for self-attention) and
# hands out its weights; LayerNorm without γ and β hands out the x̂ it keeps, read-only.
CASES += [
    ("LayerNorm", lambda: mn.LayerNorm(4, dtype=np.float64), lambda: (batch(5, 4),)),
    ("LayerNorm(elementwise_affine=False)", lambda: mn.LayerNorm((2, 2), elementwise_affine=False, dtype=np.float64),
     lambda: (batch(3, 2, 2),)),
    ("GELU", lambda: mn.GELU(), lambda: (batch(5, 4),)),
    ("GELU(approximate='tanh')", lambda: mn.GELU("tanh"), lambda: (batch(5, 4),)),
    ("MultiheadAttention", lambda: mn.MultiheadAttention(4, 2, kdim=3, add_bias_kv=True, dtype=np.float64, rng=0),
     lambda: (batch(3, 2, 4), batch(5, 2, 3), batch(5, 2, 4))),
    ("MultiheadAttention(each head's weights)", lambda: mn.MultiheadAttention(4, 2, dtype=np.float64, rng=0),
     lambda: (batch(3, 2, 4), batch(5, 2, 4), batch(5, 2, 4), None, True, None, False)),
    ("GPT", lambda: mn.GPT(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4, dtype=np.float64, rng=0),
     lambda: (RNG.integers(0, 5, (2, 4)),)),
]
# LogisticRegression keeps nothing: its backward(x, yhat, y) is given every array it reads.
KEEPS_NOTHING = {"LogisticRegression"}


def gradients(module, inputs, upstream, edit):
    """Forward, then (if ``edit``) overwrite every input and the output in place, then backward.

    A recurrent layer's inputs, outputs and gradients are tuples (x, hx), (output, h_n),
    (dL/dx, dL/dhx): every array in them counts.
    """
    output = module(*inputs)
    if edit:
        for _, array in leaves(inputs):
            array[...] = np.flip(array) if array.dtype == bool else (array + 1) * 3 % 2 + 0.5
        for _, array in leaves(output):
            if isinstance(array, np.ndarray) and array.ndim and array.flags.writeable:
                array[...] = 7.0
    grad = module.backward(upstream)
    return [array for _, array in leaves(grad)] + [p.grad.copy() for p in module.parameters()]


@pytest.mark.parametrize("name, build, make_inputs", CASES, ids=[case[0] for case in CASES])
def test_editing_inputs_and_outputs_in_place_never_changes_the_gradient(name, build, make_inputs):
    inputs = make_inputs()
    reference = build()
    output = reference(*map_structure(np.copy, inputs))
    upstream = map_structure(lambda y: RNG.standard_normal(np.shape(y)) if np.ndim(y) else 0.7, output)
    expected = gradients(build(), map_structure(np.copy, inputs), upstream, edit=False)
    edited = gradients(build(), map_structure(np.copy, inputs), upstream, edit=True)
    for ours, theirs in zip(edited, expected):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("layer", [mn.ReLU(), mn.Sigmoid(), mn.Tanh(), mn.Softmax(), mn.BatchNorm1d(3, affine=False)],
                         ids=lambda layer: type(layer).__name__)
def test_an_output_kept_for_backward_is_handed_out_read_only(layer):
    y = layer(np.ones((4, 3), np.float32) * np.arange(3, dtype=np.float32))
    with pytest.raises(ValueError, match="read-only"):
        y *= 2
    assert np.array_equal(y * 2, 2 * y)              # out-of-place arithmetic works as always


def test_a_read_only_input_is_kept_without_a_copy_and_anything_else_is_copied():
    private = keep_output(np.ones(3))
    assert keep_input(private) is private
    assert keep_input(private[1:]) is not None and np.shares_memory(keep_input(private[1:]), private)
    writeable = np.ones(3)
    assert not np.shares_memory(keep_input(writeable), writeable)
    view = writeable.view()
    view.flags.writeable = False                     # read-only, but its memory is not
    assert not np.shares_memory(keep_input(view), writeable)


def test_a_network_copies_only_its_data_batch():
    """Linear keeps the read-only output of ReLU as it is: only the first layer's input is copied."""
    model = mn.Sequential(mn.Linear(4, 6, rng=0), mn.ReLU(), mn.Linear(6, 3, rng=1))
    x = np.ones((2, 4), np.float32)
    model(x)
    assert not np.shares_memory(model[0].x, x)
    assert model[2].x is model[1].y


def test_every_layer_and_loss_has_an_inplace_case():
    public = {name for name in mn.__all__ if isinstance(getattr(mn, name), type)
              and issubclass(getattr(mn, name), mn.Module) and name != "Module"
              and getattr(mn, name).forward is not mn.Module.forward}     # ModuleList, ModuleDict compute nothing
    covered = {case[0].split("(")[0] for case in CASES} | KEEPS_NOTHING
    assert not public - covered, f"add in-place cases for: {sorted(public - covered)}"
