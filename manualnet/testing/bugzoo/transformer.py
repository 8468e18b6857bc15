"""The transformer's classic wrong lines: LayerNorm, attention, the GPT's residual stream and tied weight.

As in the rest of the bug zoo, each class subclasses the correct layer and
copies ONE method with ONE line changed, marked ``# BUG:`` with the right
line beside it.  The attention's mistakes subclass GPT's
``CausalSelfAttention``, the layer of the ``attention`` exercise (its math is
the ``Attention`` mixin every attention layer shares); the residual's
subclasses GPT's ``Block``.  The comparison names each one by re-running
the reference the way the mistake runs (``manualnet.testing.mistaken``).
"""

import math

import numpy as np

from manualnet._checks import check_grad_output
from manualnet._rng import as_generator
from manualnet.models.gpt import GPT, Block, CausalSelfAttention, _drop_backward
from manualnet.nn.modules._attention import softmax_rows
from manualnet.nn.modules.module import keep_output
from manualnet.nn.modules.normalization import LayerNorm


class LayerNormOverWrongAxis(LayerNorm):
    """LayerNorm's statistics taken down the batch (axis 0, batch norm's axis) where each row's own belong.

    It runs silently (the (1, D) statistics broadcast over the rows), and
    backward, written for per-row statistics, no longer matches forward.
    Shows as: a wrong output that equals this class's ("layer-norm axes");
    every gradient wrong with it.

    The right gradient: derivations/layernorm.md, eq. (1).
    """

    def forward(self, x):
        self._check_input(x)
        rows = x.reshape(-1, math.prod(self.normalized_shape))   # every leading position a row of D values
        mean, var = rows.mean(axis=0, keepdims=True), rows.var(axis=0, keepdims=True)   # BUG: should be axis=1, each row's own, eq. (1), (2)
        self.inv_std = 1 / np.sqrt(var + self.eps)               # eq. (3), kept for backward: (M, 1)
        x_hat = (rows - mean) * self.inv_std                     # eq. (4)
        self.x_hat = x_hat.reshape(x.shape)                      # kept for backward, in the input's shape
        if self.weight is None and self.bias is None:
            return keep_output(self.x_hat)                       # y = x̂: handed out read-only
        y = x_hat * self.weight.data.reshape(-1) if self.weight is not None else x_hat.copy()   # eq. (5)
        if self.bias is not None:
            y += self.bias.data.reshape(-1)                      # eq. (5)
        return y.reshape(x.shape)


class LayerNormWithoutMeanTerm(LayerNorm):
    """LayerNorm's input gradient without −Σ dx̂: forgets that each row's mean depends on every value of the row.

    dL/dx = s/D · (D dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂); dropping the middle term
    treats μ as a constant.  Shows as: input.grad off by one constant per
    row, the same for every feature ("mean term missing"); γ's and β's
    gradients stay right.

    The right gradient: derivations/layernorm.md, eq. (12).
    """

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dγ, dL/dβ to .grad; return dL/dx through each sample's mean and variance."""
        x_hat, inv_std = self.x_hat, self.inv_std
        check_grad_output(self, grad_output, x_hat.shape, x_hat.dtype)
        size = math.prod(self.normalized_shape)
        G, x_hat = grad_output.reshape(-1, size), x_hat.reshape(-1, size)
        if self.weight is not None:
            self.weight.grad += np.sum(G * x_hat, axis=0).reshape(self.normalized_shape)   # eq. (7)
        if self.bias is not None:
            self.bias.grad += G.sum(axis=0).reshape(self.normalized_shape)                 # eq. (8)
        if not need_input_grad:
            return None
        d_x_hat = G if self.weight is None else G * self.weight.data.reshape(-1)          # eq. (6)
        sum_d_x_hat = d_x_hat.sum(axis=1, keepdims=True)
        sum_d_x_hat_x_hat = np.sum(d_x_hat * x_hat, axis=1, keepdims=True)
        dx = (size * d_x_hat - x_hat * sum_d_x_hat_x_hat) * (inv_std / size)  # BUG: − sum_d_x_hat missing, eq. (12)
        return dx.reshape(grad_output.shape)


class AttentionScaleForgottenInBackward(CausalSelfAttention):
    """dL/dq and dL/dk without the scale s = 1/√d that forward multiplied the scores by.

    S = s Q Kᵀ, so each of dQ = s dS K and dK = s dSᵀ Q carries the s
    again.  Shows as: the query and key parts of every gradient √d times
    too large, the value part right ("scale forgotten").

    The right gradient: derivations/attention.md, eq. (10), (11).
    """

    def _attend_backward(self, grad_output, grad_weights=None):
        """Take dL/dy (and dL/dP̃ when the weights were used too); return (dL/dq, dL/dk, dL/dv), eq. (6)-(11)."""
        q, k, v, probs, keep, scale = self.q, self.k, self.v, self.probs, self.keep, self.scale
        weights = probs if keep is None else probs * keep * self.dropout_scale          # eq. (4)
        d_v = weights.swapaxes(-1, -2) @ grad_output                                     # eq. (6)
        d_probs = grad_output @ v.swapaxes(-1, -2)                                       # eq. (7)
        if grad_weights is not None:
            d_probs += grad_weights                                                      # eq. (7)
        if keep is not None:
            d_probs *= keep * self.dropout_scale                                         # eq. (8)
        d_scores = probs * (d_probs - np.sum(d_probs * probs, axis=-1, keepdims=True))   # eq. (9): row by row
        return d_scores @ k, d_scores.swapaxes(-1, -2) @ q, d_v      # BUG: should be scale * (d_scores @ k), scale * (…), eq. (10), (11)


class AttentionSoftmaxJacobianWrongAxis(CausalSelfAttention):
    """The softmax's Jacobian applied down the columns (axis −2, over the queries) where each row is its own softmax.

    P is normalised along each row (one query over its keys), so
    dS = P ⊙ (dP − Σ_keys dP ⊙ P) sums along the row.  Shows as: every
    gradient but the values' wrong ("softmax wrong axis").

    The right gradient: derivations/attention.md, eq. (9).
    """

    def _attend_backward(self, grad_output, grad_weights=None):
        """Take dL/dy (and dL/dP̃ when the weights were used too); return (dL/dq, dL/dk, dL/dv), eq. (6)-(11)."""
        q, k, v, probs, keep, scale = self.q, self.k, self.v, self.probs, self.keep, self.scale
        weights = probs if keep is None else probs * keep * self.dropout_scale          # eq. (4)
        d_v = weights.swapaxes(-1, -2) @ grad_output                                     # eq. (6)
        d_probs = grad_output @ v.swapaxes(-1, -2)                                       # eq. (7)
        if grad_weights is not None:
            d_probs += grad_weights                                                      # eq. (7)
        if keep is not None:
            d_probs *= keep * self.dropout_scale                                         # eq. (8)
        d_scores = probs * (d_probs - np.sum(d_probs * probs, axis=-2, keepdims=True))   # BUG: should be axis=-1, the row, eq. (9)
        return scale * (d_scores @ k), scale * (d_scores.swapaxes(-1, -2) @ q), d_v      # eq. (10), (11)


class AttentionMaskAfterSoftmax(CausalSelfAttention):
    """The causal mask applied to the softmax's output (the hidden weights set to 0) instead of added before it.

    The visible weights of a row then no longer sum to 1, and backward,
    written for the softmax of masked scores, no longer matches forward:
    the true Jacobian of P ⊙ m still reaches the hidden scores.  Shows as:
    a wrong output that equals this class's ("mask after softmax").

    The right gradient: derivations/attention.md, eq. (2), (3).
    """

    def _attend(self, q, k, v, mask=None, scale=None, dropout_p=0.0, rng=None):
        """Forward, eq. (1)-(5); returns (y, P̃): the output and the attention weights it used."""
        scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
        scores = self._scores(q, k, scale)                                                # eq. (1)
        probs = keep_output(softmax_rows(scores) * (1 if mask is None else np.isfinite(mask)))   # BUG: should add M to the scores before the softmax, eq. (2), (3)
        self.q, self.k, self.v, self.probs, self.scale = q, k, v, probs, scale
        self.keep, self.dropout_scale = None, 1.0
        weights = probs
        if dropout_p > 0:
            self.keep = as_generator(rng).random(probs.shape, dtype=probs.dtype) >= dropout_p
            self.dropout_scale = 1 / (1 - dropout_p) if dropout_p < 1 else 0.0
            weights = probs * self.keep
            weights *= self.dropout_scale                                # eq. (4)
        return weights @ v, weights                                      # eq. (5)


class AttentionFutureLeakingInBackward(CausalSelfAttention):
    """Backward recomputes P from the kept scores — llm.c's way of saving memory — and forgets the causal mask there.

    Forward is right; the P backward uses has weight on later keys, so
    gradient flows from query t to the keys and values after t: the future
    leaks back through the mask.  Shows as: the input, key and value
    gradients wrong while the output is right ("future leaking").

    The right gradient: derivations/attention.md, eq. (2) and (12).
    """

    def _scores(self, q, k, scale):
        scores = super()._scores(q, k, scale)
        self.unmasked_scores = scores.copy()                             # kept to recompute P in backward
        return scores

    def _attend_backward(self, grad_output, grad_weights=None):
        """Take dL/dy (and dL/dP̃ when the weights were used too); return (dL/dq, dL/dk, dL/dv), eq. (6)-(11)."""
        q, k, v, probs, keep, scale = self.q, self.k, self.v, softmax_rows(self.unmasked_scores), self.keep, self.scale   # BUG: should be self.probs (or the mask added again), eq. (2)
        weights = probs if keep is None else probs * keep * self.dropout_scale          # eq. (4)
        d_v = weights.swapaxes(-1, -2) @ grad_output                                     # eq. (6)
        d_probs = grad_output @ v.swapaxes(-1, -2)                                       # eq. (7)
        if grad_weights is not None:
            d_probs += grad_weights                                                      # eq. (7)
        if keep is not None:
            d_probs *= keep * self.dropout_scale                                         # eq. (8)
        d_scores = probs * (d_probs - np.sum(d_probs * probs, axis=-1, keepdims=True))   # eq. (9): row by row
        return scale * (d_scores @ k), scale * (d_scores.swapaxes(-1, -2) @ q), d_v      # eq. (10), (11)


class BlockResidualGradientDropped(Block):
    """A block's backward that forgets the residual stream's own path: dL/dh gets only the MLP branch's gradient.

    x' = h + mlp(ln_2(h)) uses h twice, so dL/dh = G + (the branch's
    gradient); without the G the gradient that reached the block from
    above stops here.  Shows as: every gradient below the block wrong, the
    MLP's own parameters right ("residual gradient dropped").

    The right gradient: derivations/gpt.md, eq. (8).
    """

    def backward(self, grad_output, need_input_grad=True):
        """llm.c's order: the MLP branch, then the attention branch; each adds to the stream's gradient."""
        grad = self.ln_2.backward(self.mlp.backward(grad_output))                    # BUG: should be grad_output + …, eq. (8)
        return grad + self.ln_1.backward(self.attn.backward(grad))                   # eq. (9)


class GPTTiedGradientOverwritten(GPT):
    """The tied weight's head share assigned (=) into ``.grad``, where the token lookup's share already is.

    lm_head.weight IS transformer.wte.weight: its gradient is the sum of
    both uses.  Shows as: the tied weight's gradient equal to the head's
    share of the last backward alone ("tied gradient overwritten"); every
    other gradient right.

    The right gradient: derivations/gpt.md, eq. (12).
    """

    def backward(self, grad_output, need_input_grad=True):
        """Take dL/dlogits (B, T, vocab_size); add every parameter's gradient; return None."""
        head, transformer = self.lm_head, self.transformer
        check_grad_output(self, grad_output, head.x.shape[:-1] + (self.vocab_size,), head.weight.dtype)
        grad = (grad_output.reshape(-1, self.vocab_size) @ head.weight.data).reshape(head.x.shape)   # eq. (6)
        grad = transformer.ln_f.backward(grad)
        for block in reversed(transformer.h):
            grad = block.backward(grad)                                  # eq. (8), (9)
        grad = _drop_backward(transformer.drop, grad)
        transformer.wpe.backward(grad.sum(axis=0))                       # eq. (10)
        transformer.wte.backward(grad)                                   # eq. (11)
        head.weight.grad[...] = grad_output.reshape(-1, self.vocab_size).T @ head.x.reshape(-1, self.n_embd)   # BUG: should add (head.backward), eq. (7), (12)
        return None


TRANSFORMER_BUGS = (LayerNormOverWrongAxis, LayerNormWithoutMeanTerm, AttentionScaleForgottenInBackward,
                    AttentionSoftmaxJacobianWrongAxis, AttentionMaskAfterSoftmax, AttentionFutureLeakingInBackward,
                    BlockResidualGradientDropped, GPTTiedGradientOverwritten)
