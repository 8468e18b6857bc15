"""The bug zoo's recurrent and lookup mistakes.

The comparison names these by re-running the reference the way each mistake runs
(manualnet.testing.bugzoo.mistaken): every step on its own, the last step alone, the gate blocks
permuted, the upstream rescaled, repeated tokens' earlier gradients zeroed.
"""

import numpy as np

from manualnet._checks import check_grad_output
from manualnet._threads import threads_for
from manualnet.nn.modules.sparse import Embedding
from manualnet.nn.modules.rnn import LSTM, RNN, RNNCell


class RNNGradientNotCarried(RNN):
    """Backpropagation through time that drops dL/dh_t's second source: each step learns from its own output only.

    dL/dh_t = G_t + (what step t+1 sends back); without the second term
    the gradient never travels back in time.  Invisible for sequences of
    one step.  Shows as: every gradient equals the reference's when each
    step is back-propagated on its own ("gradient not carried").

    The right gradient: derivations/rnn.md.
    """

    def _state_gradient(self, from_above, from_next_step, h):
        """dL/dh_t = (from the output, or the layer above) + (from step t+1): two sources.  rnn.md eq. (4)."""
        total = from_above                           # BUG: should be _add(from_above, from_next_step), eq. (4)
        return np.zeros_like(h) if total is None else total


class RNNWeightGradLastStepOnly(RNN):
    """The weights' gradients taken from the last time step alone, where the sum over all steps belongs.

    W_ih and W_hh are used at every step, so dW = Σ_t δ_tᵀ (input of step t).
    The input and state gradients stay right.  Shows as: every weight's
    gradient equals the last step's contribution ("last step only").

    The right gradient: derivations/rnn.md.
    """

    def _add_weight_grads(self, trace, d_xw, d_hw, W_ih, W_hh, b_ih, b_hh):
        """dW = Σ_t δ_tᵀ (what step t multiplied W by): one product over the stacked steps.  rnn.md eq. (8)–(10)."""
        for W, b, delta, inputs in ((W_ih, b_ih, d_xw, trace.x), (W_hh, b_hh, d_hw, trace.h[:-1])):
            delta, inputs = delta[-1], inputs[-1]    # BUG: should be every step, reshaped (T·N, ·), eq. (8)
            threads_for(delta.size * inputs.shape[1])
            W.grad += delta.T @ inputs                   # rnn.md eq. (8), (9): the sum over t and n in one product
            if b is not None:
                b.grad += delta.sum(axis=0)              # rnn.md eq. (10)


class LSTMGatesInWrongOrder(LSTM):
    """An LSTM reading the four blocks of its weights as i, f, o, g (the textbook and CS231n order).

    Self-consistent — forward and backward agree, so finite differences pass
    — but with PyTorch's weights (stacked i, f, g, o) it computes another
    function.  Shows as: output and gradients equal the reference's with
    the blocks of every weight permuted ("gate order").

    The right gradient: derivations/lstm.md, eq. (1).
    """

    gate_order = "ifog"                              # BUG: PyTorch stacks the blocks i, f, g, o, eq. (1)


class RNNCellTanhDerivativeOfPreactivation(RNNCell):
    """tanh' written 1 − a² with a the pre-activation, instead of 1 − h² with h = tanh(a) the output.

    To make the mistake the cell keeps a, which the correct layer never
    needs.  Shows as: the gradients equal the reference's for an upstream
    gradient rescaled by (1 − a²)/(1 − h²) ("tanh derivative of
    pre-activation").

    The right gradient: derivations/rnn.md.
    """

    def _step(self, trace, k, xw_k, W_hh, b_hh):
        super()._step(trace, k, xw_k, W_hh, b_hh)
        self.a = xw_k + trace.h[k] @ W_hh.T          # eq. (1): the pre-activation, kept for the wrong slope

    def _slope(self, trace, k):
        return 1 - self.a * self.a                   # BUG: should be 1 − h² with h = trace.h[k + 1], eq. (5)


class EmbeddingFancyIndexPlusEquals(Embedding):
    """Embedding's scatter written ``weight.grad[idx] += G``: a token used twice keeps one gradient.

    NumPy evaluates it as weight.grad[idx] = weight.grad[idx] + G, one write
    per position, so the last occurrence of each index wins.  Shows as:
    weight.grad right for tokens used once, and for repeated tokens equal to
    the last occurrence's gradient alone ("duplicates lost").

    The right gradient: derivations/embedding.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; scatter-add its rows into weight.grad (eq. 3); return None (indices have no gradient)."""
        indices = self.indices
        check_grad_output(self, grad_output, indices.shape + (self.embedding_dim,), self.weight.dtype)
        rows, G = indices.reshape(-1), grad_output.reshape(-1, self.embedding_dim)
        if self.scale_grad_by_freq:
            counts = np.bincount(rows, minlength=self.num_embeddings)
            G = G / counts[rows, None].astype(G.dtype)     # eq. (5)
        if self.padding_idx is not None:
            used = rows != self.padding_idx                # eq. (4): the padding row learns nothing
            rows, G = rows[used], G[used]
        self.weight.grad[rows] += G                        # BUG: should be np.add.at(self.weight.grad, rows, G), eq. (3)
        return None


SEQUENCE_BUGS = (RNNGradientNotCarried, RNNWeightGradLastStepOnly, LSTMGatesInWrongOrder,
                 RNNCellTanhDerivativeOfPreactivation, EmbeddingFancyIndexPlusEquals)
