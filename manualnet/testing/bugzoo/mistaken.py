"""The reference, re-run the way a classic mistake would run it: the numbers a failing row is compared with.

Some mistakes leave no simple relation between mine (M) and the reference
(R) — a recurrent layer that forgets to carry dL/dh_t back through time is
not a constant times the right answer.  But each can be REPRODUCED with
the reference itself: run a copy of it, through the comparison's two passes
with the same inputs and upstream gradients, in the way the mistake runs —
each time step on its own, the last step alone, the gate blocks permuted,
the upstream gradient rescaled, a repeated token's earlier gradients
zeroed.  If a failing row of mine equals the reproduction (to the
comparison's tolerance) and the right answer does not, the diagnosis is a
fact about the numbers, like every other in ``diagnoses``.

``mistaken_runs`` returns ``{mistake: Run}`` for the mistakes that apply to
the reference (sequence layers, gated layers, one-step tanh layers,
lookups, and the layers the bug zoo holds a wrong version of: convolution,
pooling, batch norm over images; and for any layer, a backward that never
reads its upstream gradient); the comparison turns each Run into rows with
its own names.
"""

import copy
import itertools
from dataclasses import dataclass, field

import numpy as np

from manualnet.testing.gradcheck import map_structure
from manualnet.nn.modules.module import Module
from manualnet.nn.utils.init import skip_init

GATE_NAMES = {4: "ifgo", 3: "rzn"}          # PyTorch's block order: LSTM i, f, g, o; GRU r, z, n


@dataclass
class Run:
    """What a copy of the reference gave: output (pass 1), input gradients (pass 1), parameter gradients (both passes)."""

    output: object = None
    input_grads: object = None
    parameter_grads: dict = field(default_factory=dict)
    detail: str = ""


def mistaken_runs(reference, inputs, mine_output, upstreams):
    """{mistake name: Run} for every reproducible mistake that applies to this reference."""
    if not isinstance(reference, Module):
        return {}
    runs = {}
    for name, reproduce in _REPRODUCTIONS:
        run = reproduce(reference, inputs, mine_output, upstreams)
        if run is not None:
            runs[name] = run
    return runs


def run_passes(reference, inputs, upstreams):
    """Forward and backward once per upstream gradient on a fresh copy (no zero_grad between), as the comparison does."""
    probe = copy.deepcopy(reference)
    probe.zero_grad()
    run = Run()
    for index, upstream in enumerate(upstreams):
        output = probe.forward(*inputs)
        input_grads = probe.backward(upstream)
        if index == 0:
            run.output, run.input_grads = _copy(output), _copy(input_grads)
    run.parameter_grads = {name: parameter.grad.copy() for name, parameter in probe.named_parameters()}
    return run


def _copy(value):
    return map_structure(lambda array: np.array(array, dtype=np.float64), value)


# -- recurrent layers: time ----------------------------------------------------------------

def _time_axis(reference, inputs):
    """The time axis of a unidirectional sequence layer's input, or None when this is not one."""
    x = inputs[0]
    if not hasattr(reference, "batch_first") or getattr(reference, "bidirectional", True) or x.ndim not in (2, 3):
        return None
    return 1 if reference.batch_first and x.ndim == 3 else 0


def _steps(x, axis):
    return [np.take(x, [t], axis=axis) for t in range(x.shape[axis])]


def _gradient_not_carried(reference, inputs, mine_output, upstreams):
    """Every step back-propagates only its own output's gradient: nothing carried from step t+1 to t.

    Each step runs as a sequence of one, from the state the reference reached
    there, with the upstream gradient of that step's output alone.
    """
    axis = _time_axis(reference, inputs)
    if axis is None:
        return None
    probe = copy.deepcopy(reference)
    probe.zero_grad()
    x, hx = inputs[0], inputs[1] if len(inputs) > 1 else None
    run = Run()
    for index, (d_output, _) in enumerate(upstreams):
        state, dx_steps, d_hx = hx, [], None
        for t, x_t in enumerate(_steps(x, axis)):
            _, next_state = probe.forward(x_t, state)
            dx_t, d_state = probe.backward((np.take(d_output, [t], axis=axis), None))
            dx_steps.append(dx_t)
            d_hx = d_state if t == 0 else d_hx
            state = map_structure(np.array, next_state)
        if index == 0:
            run.input_grads = _copy((np.concatenate(dx_steps, axis=axis), d_hx))
    run.parameter_grads = {name: parameter.grad.copy() for name, parameter in probe.named_parameters()}
    return run


def _last_step_only(reference, inputs, mine_output, upstreams):
    """The weights' gradients of the last time step alone, where the sum over every step belongs.

    The last step needs nothing from later steps, so it is the reference run
    on that step alone, from the state the reference reached before it.
    """
    axis = _time_axis(reference, inputs)
    if axis is None:
        return None
    x, hx = inputs[0], inputs[1] if len(inputs) > 1 else None
    steps = x.shape[axis]
    probe = copy.deepcopy(reference)
    state = hx
    if steps > 1:
        _, state = probe.forward(np.take(x, range(steps - 1), axis=axis), hx)
        state = map_structure(np.array, state)
    last = (np.take(x, [steps - 1], axis=axis), state)
    return Run(parameter_grads=run_passes(reference, last, [(np.take(d_output, [steps - 1], axis=axis), d_state)
                                                              for d_output, d_state in upstreams]).parameter_grads)


# -- gated layers: the order of the blocks ----------------------------------------------------

def _gate_order(reference, inputs, mine_output, upstreams):
    """The gate blocks read in another order: the reference with its weights' blocks permuted.

    Tries every order; reproduces the one whose output equals mine.
    """
    hidden = getattr(reference, "hidden_size", None)
    gated = [(name, p) for name, p in reference.named_parameters() if name.split("_")[0] in ("weight", "bias")]
    if not hidden or not gated or gated[0][1].shape[0] // hidden not in GATE_NAMES \
            or any(p.shape[0] != gated[0][1].shape[0] for _, p in gated):
        return None
    count = gated[0][1].shape[0] // hidden
    names = GATE_NAMES[count]
    mine_first = mine_output[0] if isinstance(mine_output, tuple) else mine_output
    for order in itertools.permutations(range(count)):
        if order == tuple(range(count)):
            continue
        permute = _permuting(order, hidden)
        probe = copy.deepcopy(reference)
        permute(probe)
        output = probe.forward(*inputs)
        first = output[0] if isinstance(output, tuple) else output
        if np.shape(first) == np.shape(mine_first) and np.allclose(first, mine_first, rtol=1e-6, atol=1e-9):
            run = run_passes(probe, inputs, upstreams)
            inverse = np.argsort(order)
            run.parameter_grads = {name: _blocks(grad, inverse, hidden) for name, grad in run.parameter_grads.items()}
            mine_names = "".join(names[order.index(j)] for j in range(count))
            run.detail = (f"mine reads the blocks of rows as ({', '.join(mine_names)}), "
                          f"PyTorch stacks ({', '.join(names)})")
            return run
    return None


def _blocks(array, order, hidden):
    """The array with its blocks of ``hidden`` rows taken in ``order``."""
    return np.concatenate([array[j * hidden:(j + 1) * hidden] for j in order], axis=0)


def _permuting(order, hidden):
    def permute(probe):
        for _, parameter in probe.named_parameters():
            parameter.data[...] = _blocks(parameter.data, order, hidden)
    return permute


# -- tanh: the derivative from the pre-activation ----------------------------------------------

def _tanh_derivative_of_preactivation(reference, inputs, mine_output, upstreams):
    """tanh'(a) written 1 − a² (a the pre-activation) for 1 − y²: for an output y = tanh(a) of one step,
    the reference's backward of G ⊙ (1 − a²)/(1 − y²), with a = artanh(y)."""
    y = copy.deepcopy(reference).forward(*inputs)
    if isinstance(y, tuple) or not isinstance(y, np.ndarray) or y.size == 0 or not np.all(np.abs(y) < 1):
        return None
    a = np.arctanh(y)
    rescale = (1 - a * a) / (1 - y * y)
    run = run_passes(reference, inputs, [upstream * rescale for upstream in upstreams])
    run.output = None
    return run


# -- lookups: repeated indices ----------------------------------------------------------------------

def _duplicates_lost(reference, inputs, mine_output, upstreams):
    """A scatter written as fancy-index ``+=``: of each repeated index only the last occurrence's gradient.

    The reference's backward of G with every earlier occurrence's rows zeroed.
    """
    indices = inputs[0]
    if not isinstance(indices, np.ndarray) or indices.dtype.kind not in "iu" or indices.size < 2 \
            or isinstance(upstreams[0], tuple) or np.ndim(upstreams[0]) <= indices.ndim:
        return None
    flat = indices.reshape(-1)
    last = np.zeros(flat.size, bool)
    last[flat.size - 1 - np.unique(flat[::-1], return_index=True)[1]] = True
    if last.all():
        return None                              # nothing repeated: nothing to lose
    keep = last.reshape(indices.shape + (1,) * (np.ndim(upstreams[0]) - indices.ndim))
    return Run(parameter_grads=run_passes(reference, inputs, [upstream * keep for upstream in upstreams]).parameter_grads)


# -- any layer: the upstream gradient never read ---------------------------------------------------

def _upstream_ignored(reference, inputs, mine_output, upstreams):
    """What a backward that never reads grad_output gives: the reference's backward of an upstream of all ones
    (1.0 for a loss's scalar)."""
    ones = [map_structure(lambda part: 1.0 if np.ndim(part) == 0 else np.ones_like(part), upstream)
            for upstream in upstreams]
    return run_passes(reference, inputs, ones)


# -- convolution and pooling: the bug zoo's wrong layer, run on the reference's state ---------------------

def _bug_zoo_layer(bug_name):
    """The reference run as the bug-zoo class ``bug_name`` runs it: that class is the reference's own
    layer with the mistake's one line changed, so only a reference of its parent class can make it.
    It is built with the reference's constructor arguments and given its state (parameters, buffers)."""
    def reproduce(reference, inputs, mine_output, upstreams):
        from manualnet.testing import bugzoo  # bugzoo imports the layers; imported on first use
        bug = getattr(bugzoo, bug_name)
        if type(reference) is not bug.__bases__[0]:
            return None
        probe = skip_init(bug, **reference.constructor_arguments())
        probe.load_state_dict(reference.state_dict())
        return run_passes(probe.train(reference.training), inputs, upstreams)
    return reproduce


_REPRODUCTIONS = (
    ("kernel not flipped", _bug_zoo_layer("UnflippedKernelConv2d")),
    ("stride not dilated", _bug_zoo_layer("UndilatedGradConv2d")),
    ("max to whole window", _bug_zoo_layer("MaxPoolGradToWholeWindow")),
    ("max to every tie", _bug_zoo_layer("MaxPoolGradToAllTies")),
    ("average not divided", _bug_zoo_layer("AvgPoolGradNotDivided")),
    ("batch-norm axes", _bug_zoo_layer("BatchNorm2dOverAllAxes")),
    ("gradient not carried", _gradient_not_carried),
    ("last step only", _last_step_only),
    ("gate order", _gate_order),
    ("tanh derivative of pre-activation", _tanh_derivative_of_preactivation),
    ("duplicates lost", _duplicates_lost),
    ("upstream ignored", _upstream_ignored),
)
