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
from manualnet.registry import ENTRIES


RNG = np.random.default_rng(20261129)


def batch(*shape, margin=0.0):
    values = RNG.standard_normal(shape)
    return np.sign(values) * (margin + np.abs(values))


def labels(n, classes):
    return RNG.integers(0, classes, n)


# (name, build the module, the inputs of one forward): every sample of the registry, then a few more options.
CASES = [(f"{entry.layer.__name__}" + (f"({option})" if option else ""),
          lambda make=make: make(np.random.default_rng(0))[0], lambda make=make: make(np.random.default_rng(0))[1])
         for entry in ENTRIES if entry.layer is not mn.LogisticRegression for option, make in entry.samples.items()]
CASES += [
    ("BatchNorm1d(affine=False)", lambda: mn.BatchNorm1d(4, affine=False, dtype=np.float64), lambda: (batch(5, 4),)),
    ("Softmax(dim=0 of 3-D)", lambda: mn.Softmax(dim=0), lambda: (batch(3, 2, 4),)),
    ("CrossEntropyLoss(class probabilities, label_smoothing)", lambda: mn.CrossEntropyLoss(label_smoothing=0.2),
     lambda: (batch(5, 4), RNG.dirichlet(np.ones(4), 5))),
    ("Conv2d(1 × 1: no padding copy)", lambda: mn.Conv2d(2, 3, 1, rng=0, dtype=np.float64), lambda: (batch(2, 2, 4, 4),)),
    ("Conv2d(padding=1)", lambda: mn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64), lambda: (batch(2, 2, 4, 4),)),
    ("MaxPool2d(2: windows that tile)", lambda: mn.MaxPool2d(2), lambda: (batch(2, 2, 4, 4),)),
    ("AvgPool2d(2)", lambda: mn.AvgPool2d(2), lambda: (batch(2, 2, 4, 4),)),
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
              and issubclass(getattr(mn, name), mn.Module) and name != "Module"}
    covered = {case[0].split("(")[0] for case in CASES} | KEEPS_NOTHING
    assert not public - covered, f"add in-place cases for: {sorted(public - covered)}"
