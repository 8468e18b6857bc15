"""The machinery every recurrent layer shares: parameters, the time loop, tuple gradients, state checks.

The math of each step is in ``rnn.py`` (``_ElmanStep``, ``_LSTMStep``,
``_GRUStep``); this module holds what does not depend on the kind of step:
``_RecurrentBase`` (the weights, the input projection for all T steps at
once, the weight gradients summed over time), ``_CellBase`` (one step) and
``_SequenceBase`` (layers, directions, dropout between layers, the time loop
and its reverse), and the checks of states and their gradients.
Derivation: derivations/rnn.md.
"""

import math
import numbers
import warnings

import numpy as np

from manualnet._checks import (as_float_dtype, check_dtype_matches, check_float_array, check_grad_output,
                               check_positive_int, name_of)
from manualnet._rng import as_generator
from manualnet._threads import threads_for
from manualnet.nn import init
from manualnet.nn._version_counter import check_versions, versions
from manualnet.nn.parameter import Parameter

from .dropout import Dropout
from .module import Module, keep_input, keep_output, split_pair


class _Trace:
    """What one layer keeps for backward in one direction: its arrays over T steps, in processing order.

    Index k = 0 … T−1 is the k-th step processed (for the reverse direction
    of a bidirectional layer, time T−1−k).  States have T+1 entries:
    ``h[0]`` is the initial state, ``h[k + 1]`` the state after step k.
    """

    __slots__ = ("x", "h", "c", "gates", "tanh_c", "v_n")

    def __init__(self, x, h, c=None, gates=None, tanh_c=None, v_n=None):
        self.x = x              # (T, N, I) the layer's input, processing order
        self.h = h              # (T+1, N, H) hidden states
        self.c = c              # (T+1, N, H) LSTM cell states
        self.gates = gates      # (T, N, G·H) activated gates (LSTM i, f, g, o; GRU r, z, n)
        self.tanh_c = tanh_c    # (T, N, H) LSTM tanh(c_t)
        self.v_n = v_n          # (T, N, H) GRU h_{t−1} W_hnᵀ + b_hn


# -- what every recurrent layer shares ---------------------------------------------------

class _RecurrentBase(Module):
    """Parameters, the input projection, the time loops and the weight gradients, shared by all six layers.

    Subclasses set ``num_gates`` (1, 4 or 3 blocks of ``hidden_size`` rows in
    the weights) and define ``_new_trace``, ``_step`` and ``_step_backward``;
    ``has_cell_state`` is True for the LSTM.
    """

    num_gates = 1
    has_cell_state = False
    folds_hidden_bias = True    # b_ih + b_hh added once to the projected inputs (not GRU: b_hn sits inside r ⊙ (…))

    def _init_weights(self, owner, input_size, hidden_size, bias, device, dtype):
        self.input_size = check_positive_int(owner, "input_size", input_size)
        self.hidden_size = check_positive_int(owner, "hidden_size", hidden_size)
        if not isinstance(bias, bool):
            raise TypeError(f"{owner}: expected bias to be True or False, got {bias!r}")
        self.bias = bias
        _check_device(owner, device)
        return as_float_dtype(np.float32 if dtype is None else dtype, owner)

    def _add_weights(self, suffix, input_size, dtype):
        """Register weight_ih{suffix}, weight_hh{suffix} (and the two biases) in PyTorch's order."""
        rows = self.num_gates * self.hidden_size
        # backward reads the weights again (the biases it does not): their versions are checked there
        self.backward_reads = (*self.backward_reads, f"weight_ih{suffix}", f"weight_hh{suffix}")
        setattr(self, f"weight_ih{suffix}", Parameter(np.empty((rows, input_size), dtype)))
        setattr(self, f"weight_hh{suffix}", Parameter(np.empty((rows, self.hidden_size), dtype)))
        if self.bias:
            setattr(self, f"bias_ih{suffix}", Parameter(np.empty(rows, dtype)))
            setattr(self, f"bias_hh{suffix}", Parameter(np.empty(rows, dtype)))

    def reset_parameters(self, rng=None):
        """PyTorch's default init: every weight and bias U(−1/√hidden_size, 1/√hidden_size)."""
        rng = as_generator(rng)
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound, rng=rng)

    def _weights(self, suffix):
        """(W_ih, W_hh, b_ih, b_hh) Parameters of one layer and direction; biases None without bias."""
        get = self._parameters.get
        return (get(f"weight_ih{suffix}"), get(f"weight_hh{suffix}"),
                get(f"bias_ih{suffix}"), get(f"bias_hh{suffix}"))

    # -- forward: project the inputs, then loop the step over time ----------------

    def _project(self, x, W_ih, b_ih, b_hh):
        """x W_ihᵀ + b_ih for every step at once: x (T, N, I) -> (T, N, G·H).  rnn.md eq. (1)."""
        threads_for(x.size * len(W_ih.data))                # BLAS threads by the product's size (_threads.py)
        xw = (x.reshape(-1, x.shape[-1]) @ W_ih.data.T).reshape(x.shape[:-1] + (len(W_ih.data),))
        if b_ih is not None:
            xw += b_ih.data
            if self.folds_hidden_bias:
                xw += b_hh.data
        return xw

    def _initial_states(self, h, c, shape, dtype):
        """(h0, c0) of ``shape`` (batched): zeros where not given; c0 None without a cell state."""
        h0 = np.zeros(shape, dtype) if h is None else h.reshape(shape)
        if not self.has_cell_state:
            return h0, None
        return h0, np.zeros(shape, dtype) if c is None else c.reshape(shape)

    def _run(self, x, xw, h0, c0, W_hh, b_hh):
        """Run the recurrence over the T steps of xw from the state h0 (c0); return the _Trace."""
        trace = self._new_trace(x, xw, h0, c0)
        threads_for(len(h0) * W_hh.size)                  # one step's product: (N, H) by (H, G·H)
        for k in range(len(xw)):
            self._step(trace, k, xw[k], W_hh.data, None if b_hh is None else b_hh.data)
        return trace

    # -- backward: loop the step back over time, then the weights' sums ------------

    def _run_backward(self, trace, d_h, dh_n, dc_n, W_hh):
        """Backpropagation through time over one trace.

        d_h (T, N, H) is dL/dh_t from above (the output, or the next layer),
        dh_n/dc_n the gradient of the final state; any may be None (zero).
        Returns d_xw, d_hw (T, N, G·H) — dL/d(x_t W_ihᵀ + b_ih) and
        dL/d(h_{t−1} W_hhᵀ + b_hh), the same array except in the GRU — and
        dL/dh_0, dL/dc_0.
        """
        steps, batch = len(trace.h) - 1, trace.h.shape[1]
        d_xw = np.empty((steps, batch, self.num_gates * self.hidden_size), trace.h.dtype)
        d_hw = d_xw if self.folds_hidden_bias else np.empty_like(d_xw)
        dh_next, dc_next = dh_n, dc_n          # the gradient arriving from step t+1
        threads_for(batch * W_hh.size)         # one step's product
        for k in reversed(range(steps)):
            dh = self._state_gradient(None if d_h is None else d_h[k], dh_next, trace.h[k + 1])
            dh_next, dc_next = self._step_backward(trace, k, dh, dc_next, W_hh.data, d_xw[k], d_hw[k])
        return d_xw, d_hw, dh_next, dc_next

    def _state_gradient(self, from_above, from_next_step, h):
        """dL/dh_t = (from the output, or the layer above) + (from step t+1): two sources.  rnn.md eq. (4)."""
        total = _add(from_above, from_next_step)                 # rnn.md eq. (4)
        return np.zeros_like(h) if total is None else total

    def _add_weight_grads(self, trace, d_xw, d_hw, W_ih, W_hh, b_ih, b_hh):
        """dW = Σ_t δ_tᵀ (what step t multiplied W by): one product over the stacked steps.  rnn.md eq. (8)–(10)."""
        for W, b, delta, inputs in ((W_ih, b_ih, d_xw, trace.x), (W_hh, b_hh, d_hw, trace.h[:-1])):
            delta, inputs = delta.reshape(-1, delta.shape[-1]), inputs.reshape(-1, inputs.shape[-1])  # every step: (T·N, ·)
            threads_for(delta.size * inputs.shape[1])
            W.grad += delta.T @ inputs                   # rnn.md eq. (8), (9): the sum over t and n in one product
            if b is not None:
                b.grad += delta.sum(axis=0)              # rnn.md eq. (10)


def _input_grad(d_xw, W_ih):
    """dL/dx_t = δ_t W_ih for every step at once: (T, N, G·H) -> (T, N, I).  rnn.md eq. (7)."""
    threads_for(d_xw.size * W_ih.data.shape[1])
    return (d_xw.reshape(-1, d_xw.shape[-1]) @ W_ih.data).reshape(d_xw.shape[:-1] + (W_ih.shape[1],))


def _add(a, b):
    """a + b where None stands for zero (a gradient nobody sent)."""
    if a is None:
        return b
    return a if b is None else a + b


# -- one time step: the cells ----------------------------------------------------------

class _CellBase(_RecurrentBase):
    """A cell: one step of its kind, through the same _project, _run and _run_backward as a whole sequence (T = 1).

    Parameters ``weight_ih`` (G·H, input_size), ``weight_hh`` (G·H, H),
    ``bias_ih``, ``bias_hh`` (G·H,), as PyTorch's cells.
    """

    saved_for_backward = ("trace", "unbatched", "versions")

    def _build(self, owner, input_size, hidden_size, bias, device, dtype, rng):
        dtype = self._init_weights(owner, input_size, hidden_size, bias, device, dtype)
        self._add_weights("", self.input_size, dtype)
        self.reset_parameters(rng)

    def forward(self, input, hx=None):
        x, h0, c0 = self._check_input(input, hx)            # batched: (N, input_size), (N, H)
        W_ih, W_hh, b_ih, b_hh = self._weights("")
        self.versions = versions(self)
        steps = keep_input(x)[None]                          # a sequence of one step: (1, N, input_size)
        trace = self._run(steps, self._project(steps, W_ih, b_ih, b_hh), h0, c0, W_hh, b_hh)
        self.trace, self.unbatched = trace, input.ndim == 1
        h = keep_output(trace.h)[1]                          # the new state, read-only: backward reads it
        if not self.has_cell_state:
            return h[0] if self.unbatched else h
        c = keep_output(trace.c)[1]
        return (h[0], c[0]) if self.unbatched else (h, c)

    def backward(self, grad_output, need_input_grad=True):
        """Take dL/dh' (LSTMCell: (dL/dh', dL/dc')); add the weights' gradients; return (dL/dx, dL/dh) (LSTMCell: (dL/dx, (dL/dh, dL/dc)))."""
        trace = self.trace
        check_versions(self, self.versions)
        dh_new, dc_new = self._check_grad(grad_output, trace)
        W_ih, W_hh, b_ih, b_hh = self._weights("")
        d_xw, d_hw, dh, dc = self._run_backward(trace, None, dh_new, dc_new, W_hh)
        self._add_weight_grads(trace, d_xw, d_hw, W_ih, W_hh, b_ih, b_hh)
        dx = _input_grad(d_xw, W_ih)[0] if need_input_grad else None
        if self.unbatched:
            dx, dh, dc = (None if a is None else a[0] for a in (dx, dh, dc))
        return (dx, (dh, dc)) if self.has_cell_state else (dx, dh)

    # -- checks --------------------------------------------------------------------

    def _check_input(self, input, hx):
        """Validate input (N, input_size) or (input_size,) and hx; return them batched, with zero states for None."""
        dtype = self.weight_ih.dtype
        check_float_array(self, input)
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name_of(self)}: expected input of shape (N, {self.input_size}) or ({self.input_size},) "
                             f"unbatched, got shape {input.shape}")
        check_dtype_matches(self, input, dtype)
        x = input if input.ndim == 2 else input[None]
        state_shape = (len(x), self.hidden_size) if input.ndim == 2 else (self.hidden_size,)
        h, c = _check_states(self, hx, state_shape, dtype, self.has_cell_state, names=("hx", "cx"))
        return x, *self._initial_states(h, c, (len(x), self.hidden_size), dtype)

    def _check_grad(self, grad_output, trace):
        """Split grad_output into (dL/dh', dL/dc') batched, None where absent."""
        shape = (trace.h.shape[2],) if self.unbatched else trace.h.shape[1:]
        if self.has_cell_state:
            parts = _split_pair(self, grad_output, "(dL/dh', dL/dc')")
        else:
            parts = (grad_output, None)
        checked = []
        for part, name in zip(parts, ("grad_output (dL/dh')", "grad_output (dL/dc')")):
            if part is not None:
                check_grad_output(self, part, shape, trace.h.dtype)
                part = part if not self.unbatched else part[None]
            checked.append(part)
        return checked

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text


# -- whole sequences ---------------------------------------------------------------------

class _SequenceBase(_RecurrentBase):
    """num_layers stacked layers, each one or two directions, looping the shared step over time.

    Layer l > 0 reads the output of layer l − 1 (both directions
    concatenated), through Dropout(p=dropout) in training mode.
    """

    saved_for_backward = ("traces", "unbatched", "dropped", "versions")

    def _build(self, owner, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
               proj_size, device, dtype, rng):
        dtype = self._init_weights(owner, input_size, hidden_size, bias, device, dtype)
        self.num_layers = check_positive_int(owner, "num_layers", num_layers)
        for name, value in (("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise TypeError(f"{owner}: expected {name} to be True or False, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise ValueError(f"{owner}: expected dropout, the probability of zeroing an element between layers, "
                             f"in [0, 1], got {dropout!r}")
        if proj_size != 0:
            raise ValueError(f"{owner}: proj_size={proj_size!r} (LSTM projections, weight_hr) is not implemented "
                             "in manualnet; use proj_size=0")
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{owner}: dropout={dropout} acts between layers only, so it does nothing with "
                          "num_layers=1 (PyTorch warns the same)", UserWarning, stacklevel=3)
        self.batch_first, self.bidirectional, self.dropout = batch_first, bidirectional, float(dropout)
        self.num_directions = 2 if bidirectional else 1
        rng = as_generator(rng)
        for layer in range(self.num_layers):
            layer_input_size = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for suffix in self._suffixes(layer):
                self._add_weights(suffix, layer_input_size, dtype)
        self.dropouts = [Dropout(self.dropout, rng=rng) for _ in range(self.num_layers - 1)]
        self.reset_parameters(rng)

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.num_directions]

    def forward(self, input, hx=None):
        x, h0, c0 = self._check_input(input, hx)             # time-major (T, N, input_size), (L·D, N, H)
        self.versions = versions(self)
        self.dropped = self.training and self.dropout > 0
        traces, layer_input = [], x
        for layer in range(self.num_layers):
            if layer > 0 and self.dropped:
                layer_input = self.dropouts[layer - 1](layer_input)      # dropout.md eq. (2)
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                W_ih, W_hh, b_ih, b_hh = self._weights(suffix)
                steps = layer_input if direction == 0 else layer_input[::-1]    # reverse: time runs backwards
                index = layer * self.num_directions + direction
                trace = self._run(steps, self._project(steps, W_ih, b_ih, b_hh), h0[index],
                                  None if c0 is None else c0[index], W_hh, b_hh)
                keep_output(trace.h)                         # read-only: the output is a view of it
                traces.append(trace)
                outputs.append(trace.h[1:] if direction == 0 else trace.h[:0:-1])
            layer_input = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=-1)
        self.traces = traces
        output = self._from_time_major(layer_input)
        h_n = self._unbatch(np.stack([trace.h[-1] for trace in traces]))
        if not self.has_cell_state:
            return output, h_n
        return output, (h_n, self._unbatch(np.stack([trace.c[-1] for trace in traces])))

    def backward(self, grad_output, need_input_grad=True):
        """Backpropagation through time: take dL/doutput (and dL/dh_n, dL/dc_n); add every weight's
        gradient; return (dL/dinput, dL/dh0) (LSTM: (dL/dinput, (dL/dh0, dL/dc0))).  rnn.md eq. (4)–(11)."""
        traces = self.traces
        check_versions(self, self.versions)
        d_above, dh_n, dc_n = self._check_grad(grad_output, traces)
        hidden, directions = self.hidden_size, self.num_directions
        dh0, dc0 = [None] * len(traces), [None] * len(traces)
        for layer in reversed(range(self.num_layers)):
            d_input = None
            for direction, suffix in enumerate(self._suffixes(layer)):
                index = layer * directions + direction
                trace = traces[index]
                W_ih, W_hh, b_ih, b_hh = self._weights(suffix)
                d_h = None if d_above is None else d_above[..., direction * hidden:(direction + 1) * hidden]
                if direction == 1 and d_h is not None:
                    d_h = d_h[::-1]                          # into the reverse direction's processing order
                d_xw, d_hw, dh0[index], dc0[index] = self._run_backward(
                    trace, d_h, None if dh_n is None else dh_n[index], None if dc_n is None else dc_n[index], W_hh)
                self._add_weight_grads(trace, d_xw, d_hw, W_ih, W_hh, b_ih, b_hh)
                if layer > 0 or need_input_grad:
                    dx = _input_grad(d_xw, W_ih)
                    d_input = _add(d_input, dx if direction == 0 else dx[::-1])
            if layer > 0 and self.dropped:
                d_input = self.dropouts[layer - 1].backward(d_input)     # dropout.md eq. (4)
            d_above = d_input
        dx = None if d_above is None else self._from_time_major(d_above)
        d_h0 = self._unbatch(np.stack(dh0))
        return (dx, (d_h0, self._unbatch(np.stack(dc0)))) if self.has_cell_state else (dx, d_h0)

    # -- layouts -------------------------------------------------------------------------

    def _from_time_major(self, array):
        """(T, N, F) -> the caller's layout: (N, T, F) with batch_first, (T, F) unbatched."""
        if self.unbatched:
            return array[:, 0]
        return array.transpose(1, 0, 2) if self.batch_first else array

    def _to_time_major(self, array):
        if self.unbatched:
            return array[:, None]
        return array.transpose(1, 0, 2) if self.batch_first else array

    def _unbatch(self, states):
        return states[:, 0] if self.unbatched else states

    # -- checks ----------------------------------------------------------------------------

    def _check_input(self, input, hx):
        """Validate input and hx; return input time-major (T, N, input_size) and the states (L·D, N, H), zeros for None."""
        dtype = self.weight_ih_l0.dtype
        check_float_array(self, input)
        layout = "(N, T, {0})" if self.batch_first else "(T, N, {0})"
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name_of(self)}: expected input of shape {layout.format(self.input_size)} or "
                             f"(T, {self.input_size}) unbatched, got shape {input.shape}")
        check_dtype_matches(self, input, dtype)
        self.unbatched = input.ndim == 2
        x = self._to_time_major(input)
        x = keep_input(x) if x.flags.c_contiguous else np.ascontiguousarray(x)     # a private copy either way
        steps, batch = x.shape[:2]
        if steps == 0:
            raise ValueError(f"{name_of(self)}: expected a sequence of at least one step, got input of shape "
                             f"{input.shape}")
        count = self.num_layers * self.num_directions
        state_shape = (count, batch, self.hidden_size) if not self.unbatched else (count, self.hidden_size)
        h, c = _check_states(self, hx, state_shape, dtype, self.has_cell_state, ("h_0", "c_0"),
                             lambda state: self._batch_first_hint(input, state))
        return x, *self._initial_states(h, c, (count, batch, self.hidden_size), dtype)

    def _check_grad(self, grad_output, traces):
        """Split grad_output into dL/doutput (time-major), dL/dh_n, dL/dc_n; None where absent."""
        top = traces[-self.num_directions:]
        steps, batch = top[0].h.shape[0] - 1, top[0].h.shape[1]
        output_shape = ((steps, batch, self.hidden_size * self.num_directions) if not self.unbatched
                        else (steps, self.hidden_size * self.num_directions))
        if self.batch_first and not self.unbatched:
            output_shape = (batch, steps, output_shape[-1])
        state_shape = ((len(traces), batch, self.hidden_size) if not self.unbatched
                       else (len(traces), self.hidden_size))
        d_output, d_state = split_pair(name_of(self), grad_output, ("dL/doutput", f"dL/d{self._state_name()}"))
        if self.has_cell_state:
            dh_n, dc_n = _split_pair(self, d_state, "(dL/dh_n, dL/dc_n)") if d_state is not None else (None, None)
        else:
            dh_n, dc_n = d_state, None
        dtype = top[0].h.dtype
        if d_output is not None:
            check_grad_output(self, d_output, output_shape, dtype)
            d_output = self._to_time_major(d_output)
        for name, state in (("dL/dh_n", dh_n), ("dL/dc_n", dc_n)):
            if state is not None:
                _check_state_grad(self, state, state_shape, dtype, name)
        batched = (lambda s: None if s is None else s.reshape(len(traces), batch, self.hidden_size))
        return d_output, batched(dh_n), batched(dc_n)

    def _batch_first_hint(self, input, state):
        """When h_0's batch size is the size of the input's other leading axis, batch_first is probably wrong."""
        if self.unbatched or state.ndim != 3:
            return ""
        batch_axis = 0 if self.batch_first else 1
        if state.shape[1] != input.shape[1 - batch_axis]:
            return ""
        return (f"; with batch_first={self.batch_first} the input's batch axis is {batch_axis} "
                f"(size {input.shape[batch_axis]}), but h_0's batch size {state.shape[1]} is the size of axis "
                f"{1 - batch_axis}: was the layer meant to have batch_first={not self.batch_first}?")

    def _state_name(self):
        return "(h_n, c_n)" if self.has_cell_state else "h_n"

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


# -- shared checks -------------------------------------------------------------------------

def _check_device(owner, device):
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"{owner}: device={device!r} is not supported; manualnet computes on the CPU with NumPy "
                         "(device=None or 'cpu')")


def _split_pair(owner, pair, what):
    """An LSTM state (or its gradient) as two parts; a bare array counts as the first alone."""
    if isinstance(pair, (tuple, list)):
        if len(pair) != 2:
            raise ValueError(f"{name_of(owner)}: expected {what}, a pair, got a sequence of {len(pair)}")
        return tuple(pair)
    return pair, None


def _check_states(owner, hx, shape, dtype, pair, names, hint=None):
    """hx as a tuple of states (h, or h and c) each of ``shape``, None where not given.

    ``hint(state)``, called only when a shape is wrong, adds a likely cause to the message.
    """
    if hx is None:
        return None, None
    if pair:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{name_of(owner)}: expected hx = ({names[0]}, {names[1]}), a pair of arrays of shape "
                            f"{shape}, got {type(hx).__name__}")
        states = tuple(hx)
    else:
        states = (hx,)
    for name, state in zip(names, states):
        check_float_array(owner, state, name)
        if state.shape != shape:
            layout = " (num_layers·num_directions, batch, hidden_size)" if len(shape) == 3 else ""
            raise ValueError(f"{name_of(owner)}: expected {name} of shape {shape}{layout}, got {state.shape}"
                             f"{hint(state) if hint else ''}")
        check_dtype_matches(owner, state, dtype, name)
    return states if pair else (hx, None)


def _check_state_grad(owner, grad, shape, dtype, name):
    check_float_array(owner, grad, f"grad_output ({name})")
    if grad.shape != shape:
        raise ValueError(f"{name_of(owner)}: expected {name} of shape {shape} (the shape of the final state), "
                         f"got {grad.shape}")
    check_dtype_matches(owner, grad, dtype, f"grad_output ({name})")
