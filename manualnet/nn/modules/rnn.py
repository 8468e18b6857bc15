"""Recurrent layers: RNNCell, LSTMCell, GRUCell (one time step) and RNN, LSTM, GRU (whole sequences).

A recurrent layer reads a sequence x_1 … x_T one step at a time and carries a
hidden state h_t (and, for the LSTM, a cell state c_t) from step to step:
h_t = step(x_t, h_{t−1}).  Backward is backpropagation through time: the
same steps walked in reverse, carrying dL/dh_t (and dL/dc_t) from step t+1
back to step t.  Derivations: derivations/rnn.md (the time loop, shared by
all three), derivations/lstm.md, derivations/gru.md.

How the work is shared.  Every step begins with the same affine map of its
input, x_t W_ihᵀ + b_ih, which does not depend on the state: it is computed
for all T steps at once (one matrix product, ``_project``).  What remains
is the recurrence proper, ``_step`` (forward) and ``_step_backward``, one
method per kind (tanh/ReLU RNN, LSTM, GRU); ``_run`` loops ``_step`` over
time and ``_run_backward`` loops ``_step_backward`` back.  A cell is a
sequence of length 1 through exactly the same three methods, so the cells
and the sequence layers share ONE implementation of a time step.  The
weight gradients are sums over time (rnn.md eq. (8)–(10)): they are taken
after the loop as one matrix product over the stacked steps
(``_add_weight_grads``).

The backward contract for tuple outputs.  ``forward(input, hx)`` returns
``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``; cells: ``h'`` or
``(h', c')``), as PyTorch does.  ``backward(grad_output)`` takes dL/d(what
forward returned) in the same structure — any part may be None, meaning
zero (say ``(None, dh_n)`` when only h_n feeds the loss), and a bare array
means dL/doutput alone — and returns dL/d(what forward took), again in the
same structure: ``(d_input, d_h0)`` (LSTM: ``(d_input, (d_h0, d_c0))``).
The initial-state gradient is returned even when ``hx`` was left None (it
is then the gradient with respect to the zero state).
``need_input_grad=False`` skips the product that gives d_input (it is
returned as None); the weights' gradients are still added into ``.grad``
and d_h0 comes for free with the last step.

Layouts follow PyTorch: time-major (T, N, F) unless ``batch_first=True``
(N, T, F); gate blocks stacked along the rows of ``weight_ih``/``weight_hh``
in PyTorch's order (LSTM i, f, g, o; GRU r, z, n); state-dict keys
``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``…_reverse``, ``…_l1``; every parameter initialised U(−1/√H, 1/√H).
"""

import functools

import numpy as np


from ._rnn_base import _add, _CellBase, _SequenceBase, _Trace

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


# -- the three kinds of step: tanh / ReLU -------------------------------------------------

class _ElmanStep:
    """The Elman RNN step h_t = φ(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh), φ = tanh or ReLU.  rnn.md."""

    num_gates = 1

    def _new_trace(self, x, xw, h0, c0):
        h = np.empty((len(xw) + 1,) + h0.shape, xw.dtype)
        h[0] = h0
        return _Trace(x, h)

    def _step(self, trace, k, xw_k, W_hh, b_hh):
        a = trace.h[k] @ W_hh.T
        a += xw_k                                    # rnn.md eq. (1): a_t, the pre-activation
        if self.nonlinearity == "tanh":
            np.tanh(a, out=trace.h[k + 1])           # rnn.md eq. (2)
        else:
            np.maximum(a, 0, out=trace.h[k + 1])     # rnn.md eq. (2)

    def _step_backward(self, trace, k, dh, dc, W_hh, d_xw_k, d_hw_k):
        np.multiply(dh, self._slope(trace, k), out=d_xw_k)      # rnn.md eq. (5)
        return d_xw_k @ W_hh, None                   # rnn.md eq. (6): dL/dh_{t−1} through W_hh

    def _slope(self, trace, k):
        """φ'(a_t) read from the OUTPUT h_t forward kept: tanh' = 1 − h², ReLU' = 1[h > 0].  rnn.md eq. (5)."""
        h = trace.h[k + 1]
        return 1 - h * h if self.nonlinearity == "tanh" else h > 0

    def _check_nonlinearity(self, owner, nonlinearity):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{owner}: unknown nonlinearity {nonlinearity!r}; select 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity


# -- LSTM ----------------------------------------------------------------------------

class _LSTMStep:
    """The LSTM step: gates i, f, g, o; c_t = f ⊙ c_{t−1} + i ⊙ g; h_t = o ⊙ tanh(c_t).  lstm.md."""

    num_gates = 4
    has_cell_state = True
    gate_order = "ifgo"          # PyTorch's order of the four blocks of rows in weight_ih / weight_hh

    def _new_trace(self, x, xw, h0, c0):
        steps = len(xw)
        h = np.empty((steps + 1,) + h0.shape, xw.dtype)
        c = np.empty_like(h)
        h[0], c[0] = h0, c0
        return _Trace(x, h, c=c, gates=np.empty_like(xw), tanh_c=np.empty_like(h[1:]))

    def _step(self, trace, k, xw_k, W_hh, b_hh):
        s = _gate_slices(self.gate_order, self.hidden_size)
        scale, offset = _lstm_activation_constants(self.gate_order, self.hidden_size, xw_k.dtype, len(xw_k))
        gates = trace.gates[k]
        np.matmul(trace.h[k], W_hh.T, out=gates)
        gates += xw_k                                           # lstm.md eq. (1): a = [a_i, a_f, a_g, a_o]
        # One tanh for all four blocks: σ(a) = (1 + tanh(a/2))/2 (eq. 18) for i, f, o; tanh(a) for g.
        gates *= scale
        np.tanh(gates, out=gates)
        gates *= scale
        gates += offset                                         # lstm.md eq. (2), (3)
        i, f, g, o = gates[:, s["i"]], gates[:, s["f"]], gates[:, s["g"]], gates[:, s["o"]]
        c, tanh_c = trace.c[k + 1], trace.tanh_c[k]
        np.multiply(f, trace.c[k], out=c)
        c += i * g                                              # lstm.md eq. (4)
        np.tanh(c, out=tanh_c)
        np.multiply(o, tanh_c, out=trace.h[k + 1])              # lstm.md eq. (5)

    def _step_backward(self, trace, k, dh, dc, W_hh, d_xw_k, d_hw_k):
        s = _gate_slices(self.gate_order, self.hidden_size)
        gates, tanh_c, c_prev = trace.gates[k], trace.tanh_c[k], trace.c[k]
        i, f, g, o = gates[:, s["i"]], gates[:, s["f"]], gates[:, s["g"]], gates[:, s["o"]]
        dc = _add(dh * o * (1 - tanh_c * tanh_c), dc)          # lstm.md eq. (7): two sources for dL/dc_t
        np.multiply(dh, tanh_c, out=d_xw_k[:, s["o"]])          # lstm.md eq. (6): dL/do
        np.multiply(dc, g, out=d_xw_k[:, s["i"]])               # lstm.md eq. (8): dL/di
        np.multiply(dc, c_prev, out=d_xw_k[:, s["f"]])          # lstm.md eq. (9): dL/df
        np.multiply(dc, i, out=d_xw_k[:, s["g"]])               # lstm.md eq. (10): dL/dg
        activation_slope = gates * (1 - gates)                  # σ' = σ(1 − σ) for i, f, o ...
        activation_slope[:, s["g"]] = 1 - g * g                 # ... and tanh' = 1 − g² for g
        d_xw_k *= activation_slope                              # lstm.md eq. (11): dL/da
        return d_xw_k @ W_hh, dc * f                            # lstm.md eq. (12), (13)


@functools.lru_cache(maxsize=None)
def _gate_slices(order, hidden):
    """{gate: the slice of its block of columns} for gate blocks stacked in ``order``."""
    return {gate: slice(j * hidden, (j + 1) * hidden) for j, gate in enumerate(order)}


@functools.lru_cache(maxsize=16)
def _lstm_activation_constants(order, hidden, dtype, batch):
    """Per column: σ blocks get scale 1/2 and offset 1/2 (σ(a) = ½ tanh(a/2) + ½), the g block 1 and 0."""
    scale, offset = np.ones((batch, 4 * hidden), dtype), np.zeros((batch, 4 * hidden), dtype)
    for gate, block in _gate_slices(order, hidden).items():
        if gate != "g":
            scale[:, block], offset[:, block] = 0.5, 0.5
    scale.flags.writeable = offset.flags.writeable = False
    return scale, offset


# -- GRU -----------------------------------------------------------------------------

class _GRUStep:
    """PyTorch's GRU step: r, z gates; n = tanh(u_n + r ⊙ v_n); h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.  gru.md.

    u = x_t W_ihᵀ + b_ih (``xw``) and v = h_{t−1} W_hhᵀ + b_hh, each in blocks r, z, n.
    """

    num_gates = 3
    folds_hidden_bias = False

    def _new_trace(self, x, xw, h0, c0):
        h = np.empty((len(xw) + 1,) + h0.shape, xw.dtype)
        h[0] = h0
        return _Trace(x, h, gates=np.empty_like(xw), v_n=np.empty_like(h[1:]))

    def _step(self, trace, k, u, W_hh, b_hh):
        H = self.hidden_size
        v = trace.h[k] @ W_hh.T
        if b_hh is not None:
            v += b_hh                                           # gru.md eq. (1)
        gates = trace.gates[k]
        r_z = gates[:, :2 * H]
        np.add(u[:, :2 * H], v[:, :2 * H], out=r_z)
        _sigmoid_in_place(r_z)                                  # gru.md eq. (2), (3)
        r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
        trace.v_n[k] = v[:, 2 * H:]
        np.multiply(r, trace.v_n[k], out=n)
        n += u[:, 2 * H:]
        np.tanh(n, out=n)                                       # gru.md eq. (4)
        h = trace.h[k + 1]
        np.subtract(trace.h[k], n, out=h)
        h *= z
        h += n                                                  # gru.md eq. (5): (1 − z) ⊙ n + z ⊙ h_{t−1}

    def _step_backward(self, trace, k, dh, dc, W_hh, du, dv):
        H = self.hidden_size
        gates, h_prev = trace.gates[k], trace.h[k]
        r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
        delta_n = du[:, 2 * H:]
        np.multiply(dh, (1 - z) * (1 - n * n), out=delta_n)    # gru.md eq. (6), (7), and du_n of (10)
        np.multiply(dh, (h_prev - n) * z * (1 - z), out=du[:, H:2 * H])         # gru.md eq. (8)
        np.multiply(delta_n, trace.v_n[k] * r * (1 - r), out=du[:, :H])         # gru.md eq. (9)
        dv[:, :2 * H] = du[:, :2 * H]
        np.multiply(delta_n, r, out=dv[:, 2 * H:])              # gru.md eq. (10)
        return dh * z + dv @ W_hh, None                         # gru.md eq. (11)


def _sigmoid_in_place(a):
    """a <- σ(a) = (1 + tanh(a/2))/2: tanh never overflows, so neither does this (tanh.md)."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


class RNNCell(_ElmanStep, _CellBase):
    """One Elman step h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or ReLU).  Derivation: derivations/rnn.md

    Shape: input (N, input_size) or (input_size,), hx (N, hidden_size) or
    (hidden_size,) (None: zeros) -> h' of hx's shape; weight_ih
    (hidden_size, input_size), weight_hh (hidden_size, hidden_size), bias_ih,
    bias_hh (hidden_size,), each U(−1/√H, 1/√H) as PyTorch.

    ``backward(dL/dh')`` returns ``(dL/dx, dL/dh)`` (see the module docstring).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None, *,
                 rng=None):
        super().__init__()
        self._check_nonlinearity("RNNCell", nonlinearity)
        self._build("RNNCell", input_size, hidden_size, bias, device, dtype, rng)


class LSTMCell(_LSTMStep, _CellBase):
    """One LSTM step: i, f, g, o gates; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').  Derivation: derivations/lstm.md

    Shape: input (N, input_size) or (input_size,), hx = (h, c) each
    (N, hidden_size) or (hidden_size,) (None: zeros) -> (h', c');
    weight_ih (4·hidden_size, input_size), weight_hh (4·hidden_size,
    hidden_size), biases (4·hidden_size,), gate blocks in PyTorch's order
    i, f, g, o (eq. 1).

    ``backward((dL/dh', dL/dc'))`` returns ``(dL/dx, (dL/dh, dL/dc))``.
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, *, rng=None):
        super().__init__()
        self._build("LSTMCell", input_size, hidden_size, bias, device, dtype, rng)


class GRUCell(_GRUStep, _CellBase):
    """One GRU step, PyTorch's variant: n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.  Derivation: derivations/gru.md

    Shape: input (N, input_size) or (input_size,), hx (N, hidden_size) or
    (hidden_size,) (None: zeros) -> h'; weight_ih (3·hidden_size,
    input_size), weight_hh (3·hidden_size, hidden_size), biases
    (3·hidden_size,), gate blocks in PyTorch's order r, z, n.

    ``backward(dL/dh')`` returns ``(dL/dx, dL/dh)``.
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, *, rng=None):
        super().__init__()
        self._build("GRUCell", input_size, hidden_size, bias, device, dtype, rng)


class RNN(_ElmanStep, _SequenceBase):
    """Elman RNN over a sequence: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (or ReLU), per layer.  Derivation: derivations/rnn.md

    Shape: input (T, N, input_size) ((N, T, input_size) with batch_first;
    (T, input_size) unbatched), h_0 (L·D, N, hidden_size) (None: zeros) ->
    output (T, N, D·hidden_size), h_n (L·D, N, hidden_size), with L =
    num_layers and D = 2 if bidirectional else 1.  Parameters
    weight_ih_l{k}[_reverse] (hidden_size, input size of layer k),
    weight_hh_l{k}[_reverse] (hidden_size, hidden_size), bias_ih_l{k},
    bias_hh_l{k} (hidden_size,), each U(−1/√H, 1/√H) as PyTorch.

    ``backward((dL/doutput, dL/dh_n))`` returns ``(dL/dinput, dL/dh_0)`` (see
    the module docstring); ``rng`` draws the initial weights and the
    dropout masks.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, *, rng=None):
        super().__init__()
        self._check_nonlinearity("RNN", nonlinearity)
        self._build("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                    device, dtype, rng)


class LSTM(_LSTMStep, _SequenceBase):
    """LSTM over a sequence: i, f, g, o gates, c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t), per layer.  Derivation: derivations/lstm.md

    Shape: input (T, N, input_size) ((N, T, input_size) with batch_first;
    (T, input_size) unbatched), hx = (h_0, c_0) each (L·D, N, hidden_size)
    (None: zeros) -> output (T, N, D·hidden_size), (h_n, c_n) each
    (L·D, N, hidden_size).  Parameters weight_ih_l{k}[_reverse]
    (4·hidden_size, input size of layer k), weight_hh_l{k}[_reverse]
    (4·hidden_size, hidden_size), biases (4·hidden_size,), gate blocks in
    PyTorch's order i, f, g, o (eq. 1), each U(−1/√H, 1/√H).

    ``backward((dL/doutput, (dL/dh_n, dL/dc_n)))`` returns
    ``(dL/dinput, (dL/dh_0, dL/dc_0))``; ``proj_size`` other than 0 is refused.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None, *, rng=None):
        super().__init__()
        self._build("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                    proj_size, device, dtype, rng)


class GRU(_GRUStep, _SequenceBase):
    """GRU over a sequence, PyTorch's variant: the reset gate multiplies (h W_hnᵀ + b_hn).  Derivation: derivations/gru.md

    Shape: input (T, N, input_size) ((N, T, input_size) with batch_first;
    (T, input_size) unbatched), h_0 (L·D, N, hidden_size) (None: zeros) ->
    output (T, N, D·hidden_size), h_n (L·D, N, hidden_size).  Parameters
    weight_ih_l{k}[_reverse] (3·hidden_size, input size of layer k),
    weight_hh_l{k}[_reverse] (3·hidden_size, hidden_size), biases
    (3·hidden_size,), gate blocks in PyTorch's order r, z, n.

    ``backward((dL/doutput, dL/dh_n))`` returns ``(dL/dinput, dL/dh_0)``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, *, rng=None):
        super().__init__()
        self._build("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                    device, dtype, rng)
