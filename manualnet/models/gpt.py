"""GPT: nanoGPT's model (karpathy/nanoGPT, ``model.py``), with every backward written out.

The same classes as nanoGPT — ``CausalSelfAttention``, ``MLP``, ``Block``,
``GPT`` — the same children and the same state-dict keys
(``transformer.wte.weight``, ``transformer.h.0.attn.c_attn.weight``,
``lm_head.weight``, ...), so nanoGPT's weights load as arrays.  Each forward
is nanoGPT's; each backward walks it in reverse, calling the backward of the
layers it is made of (Linear, LayerNorm, GELU, Embedding, the attention
math of ``manualnet/nn/modules/_attention.py``).  What is new on top of
them — the residual stream that adds two gradients, the tied weight whose
two uses add up, the order of a block's backward as llm.c writes it — is
derived in derivations/gpt.md; the attention's own lines cite
derivations/attention.md.
"""

import math

import numpy as np

from manualnet._checks import check_grad_output, check_positive_int, check_real, name_of
from manualnet._grad_mode import no_grad
from manualnet._rng import as_generator
from manualnet.nn import init
from manualnet.nn.modules._attention import Attention, causal_mask, merge_heads, softmax_rows, split_heads
from manualnet.nn.modules.activation import GELU
from manualnet.nn.modules.container import ModuleDict, ModuleList
from manualnet.nn.modules.dropout import Dropout
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.module import Module
from manualnet.nn.modules.normalization import LayerNorm
from manualnet.nn.modules.sparse import Embedding
from manualnet.nn.parameter import as_float_dtype


def _drop(dropout, x):
    """Dropout's forward, skipped when p = 0 (nanoGPT's default): no mask to draw, nothing to undo."""
    return dropout(x) if dropout.p else x


def _drop_backward(dropout, grad):
    return dropout.backward(grad) if dropout.p else grad


class CausalSelfAttention(Attention, Module):
    """Masked self-attention in n_head heads: query t sees keys 0 … t only.  Derivation: derivations/attention.md

    nanoGPT's layer: ``c_attn`` (Linear(n_embd, 3·n_embd)) gives q, k, v side
    by side (eq. (13)), the heads attend under the causal mask (eq. (12),
    (1)-(5), dropout on the weights), ``c_proj`` mixes the heads (eq. (15)),
    then ``resid_dropout``.  Shape: x (B, T, n_embd) -> (B, T, n_embd);
    ``backward(dL/dy)`` returns dL/dx, the three uses of x (as q, k and v)
    added by ``c_attn``'s backward (eq. (17), (19)).
    """

    saved_for_backward = ("q", "k", "v", "probs", "keep", "scale", "dropout_scale")

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"CausalSelfAttention: n_embd must be divisible by n_head (each head reads "
                             f"n_embd/n_head features), got n_embd={n_embd} and n_head={n_head}")
        self.rng = as_generator(rng)
        self.n_embd, self.n_head, self.dropout = n_embd, n_head, float(dropout)
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias, dtype=dtype, rng=self.rng)
        self.c_proj = Linear(n_embd, n_embd, bias=bias, dtype=dtype, rng=self.rng)
        self.resid_dropout = Dropout(dropout, rng=self.rng)

    def forward(self, x):
        length = x.shape[1]
        qkv = self.c_attn(x)                                             # eq. (13)
        q, k, v = (np.ascontiguousarray(split_heads(a, self.n_head)) for a in np.split(qkv, 3, axis=2))   # eq. (14)
        y, _ = self._attend(q, k, v, causal_mask(length, length, x.dtype),
                            dropout_p=self.dropout if self.training else 0.0, rng=self.rng)               # eq. (1)-(5)
        return _drop(self.resid_dropout, self.c_proj(merge_heads(y)))   # eq. (15)

    def backward(self, grad_output, need_input_grad=True):
        """Take dL/dy; add the projections' gradients; return dL/dx."""
        d_y = split_heads(self.c_proj.backward(_drop_backward(self.resid_dropout, grad_output)), self.n_head)  # eq. (16)
        d_q, d_k, d_v = self._attend_backward(d_y)                       # eq. (6)-(11)
        d_qkv = np.concatenate([merge_heads(d_q), merge_heads(d_k), merge_heads(d_v)], axis=2)   # eq. (14)
        return self.c_attn.backward(d_qkv, need_input_grad)             # eq. (17), (19)

    def extra_repr(self):
        return f"n_embd={self.n_embd}, n_head={self.n_head}, dropout={self.dropout}"


class MLP(Module):
    """c_proj(GELU(c_fc(x))), 4·n_embd wide inside, then dropout: nanoGPT's feed-forward.  Derivation: derivations/gpt.md"""

    def __init__(self, n_embd, dropout=0.0, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.c_fc = Linear(n_embd, 4 * n_embd, bias=bias, dtype=dtype, rng=rng)
        self.gelu = GELU()
        self.c_proj = Linear(4 * n_embd, n_embd, bias=bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)

    def forward(self, x):
        return _drop(self.dropout, self.c_proj(self.gelu(self.c_fc(x))))         # eq. (3)

    def backward(self, grad_output, need_input_grad=True):
        grad = self.gelu.backward(self.c_proj.backward(_drop_backward(self.dropout, grad_output)))
        return self.c_fc.backward(grad, need_input_grad)                         # eq. (3), in reverse


class Block(Module):
    """x + attn(ln_1(x)), then + mlp(ln_2(·)): nanoGPT's pre-LayerNorm block.  Derivation: derivations/gpt.md

    Shape: x (B, T, n_embd) -> the same.  Each sub-layer reads the residual
    stream and ADDS its result to it (eq. (2)), so backward adds too: the
    gradient reaching x is the stream's own plus the branch's (eq. (8), (9)).
    """

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.ln_1 = LayerNorm(n_embd, bias=bias, dtype=dtype)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias, dtype, rng)
        self.ln_2 = LayerNorm(n_embd, bias=bias, dtype=dtype)
        self.mlp = MLP(n_embd, dropout, bias, dtype, rng)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))                                  # eq. (2)
        return x + self.mlp(self.ln_2(x))                                # eq. (2)

    def backward(self, grad_output, need_input_grad=True):
        """llm.c's order: the MLP branch, then the attention branch; each adds to the stream's gradient."""
        grad = grad_output + self.ln_2.backward(self.mlp.backward(grad_output))     # eq. (8)
        return grad + self.ln_1.backward(self.attn.backward(grad))                   # eq. (9)


class GPT(Module):
    """nanoGPT: token and position embeddings, n_layer Blocks, a final LayerNorm, an lm_head tied to wte.  Derivation: derivations/gpt.md

    Shape: idx (B, T) integer token ids, T <= block_size -> logits
    (B, T, vocab_size); ``backward(dL/dlogits)`` adds every parameter's
    gradient and returns None (token ids have none).  Children as nanoGPT's:
    ``transformer`` (a ModuleDict of ``wte``, ``wpe``, ``drop``, ``h`` (a
    ModuleList of Blocks), ``ln_f``) and ``lm_head`` (Linear(n_embd,
    vocab_size, bias=False)), whose weight IS ``transformer.wte.weight``:
    one Parameter, listed once by ``parameters()``, under both names in
    ``state_dict()``, its ``.grad`` the sum of both uses (eq. (12)).
    nanoGPT's init: weights N(0, 0.02), each ``c_proj.weight``
    N(0, 0.02/√(2·n_layer)), biases 0, LayerNorms 1 and 0.  The defaults are
    nanoGPT's GPTConfig (GPT-2's 124M sizes); ``rng`` draws the initial
    weights and the dropout masks.
    """

    def __init__(self, vocab_size=50304, block_size=1024, n_layer=12, n_head=12, n_embd=768, dropout=0.0, bias=True,
                 dtype=np.float32, rng=None):
        super().__init__()
        owner = "GPT"
        for name, value in (("vocab_size", vocab_size), ("block_size", block_size), ("n_layer", n_layer),
                            ("n_head", n_head), ("n_embd", n_embd)):
            setattr(self, name, check_positive_int(owner, name, value))
        self.dropout = check_real(owner, "dropout", dropout)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{owner}: expected dropout, the probability of dropping an element, in [0, 1), "
                             f"got {dropout!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"{owner}: expected bias to be True or False, got {bias!r}")
        if n_embd % n_head:
            raise ValueError(f"{owner}: n_embd must be divisible by n_head, got n_embd={n_embd} and n_head={n_head}")
        self.bias = bias
        dtype = as_float_dtype(dtype, owner)
        rng = as_generator(rng)
        self.transformer = ModuleDict(dict(
            wte=Embedding(vocab_size, n_embd, dtype=dtype, rng=rng),
            wpe=Embedding(block_size, n_embd, dtype=dtype, rng=rng),
            drop=Dropout(dropout, rng=rng),
            h=ModuleList([Block(n_embd, n_head, dropout, bias, dtype, rng) for _ in range(n_layer)]),
            ln_f=LayerNorm(n_embd, bias=bias, dtype=dtype),
        ))
        self.lm_head = Linear(n_embd, vocab_size, bias=False, dtype=dtype, rng=rng)
        self.transformer.wte.weight = self.lm_head.weight               # weight tying: one Parameter, two uses
        self._init_weights(rng)

    def _init_weights(self, rng):
        """nanoGPT's ``_init_weights`` and its scaled init of the residual projections."""
        for name, parameter in self.named_parameters():
            if name.endswith("bias"):
                init.zeros_(parameter)
            elif parameter.data.ndim == 2:
                std = 0.02 / math.sqrt(2 * self.n_layer) if name.endswith("c_proj.weight") else 0.02
                init.normal_(parameter, 0.0, std, rng=rng)

    @property
    def config(self):
        """The constructor's arguments (nanoGPT's GPTConfig), e.g. to save beside the weights."""
        return {name: getattr(self, name) for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd",
                                                       "dropout", "bias")}

    def forward(self, idx):
        return self.lm_head(self._features(idx))                         # eq. (4)

    def _features(self, idx):
        """ln_f's output (B, T, n_embd): the transformer's part of forward, eq. (1), (2), (4)."""
        self._check_idx(idx)
        transformer = self.transformer
        x = transformer.wte(idx) + transformer.wpe(np.arange(idx.shape[1]))   # eq. (1)
        x = _drop(transformer.drop, x)
        for block in transformer.h:
            x = block(x)                                                 # eq. (2)
        return transformer.ln_f(x)                                       # eq. (4)

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
        head.backward(grad_output, need_input_grad=False)                # eq. (7), (12): ADDED to the lookup's share
        return None

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, rng=None):
        """nanoGPT's ``generate``: append ``max_new_tokens`` tokens, each drawn from the softmax of the last logits.

        The context is cropped to the last block_size tokens; logits are
        divided by ``temperature`` and, with ``top_k``, all but the k largest
        set to −∞.  Runs under no_grad (nothing kept for a backward); put the
        model in eval() first for dropout-free samples, as nanoGPT's
        sample.py does.  ``rng`` (Generator or seed) draws the tokens.
        Returns (B, T + max_new_tokens) int64 ids.
        """
        rng = as_generator(rng)
        idx = np.asarray(idx)
        check_real(name_of(self), "temperature", temperature)
        if temperature <= 0:
            raise ValueError(f"{name_of(self)}: expected temperature > 0, got {temperature!r}")
        if top_k is not None:
            top_k = check_positive_int(name_of(self), "top_k", top_k)
        with no_grad():
            for _ in range(max_new_tokens):
                context = idx if idx.shape[1] <= self.block_size else idx[:, -self.block_size:]
                logits = self.lm_head(self._features(context)[:, -1, :]).astype(np.float64) / temperature
                if top_k is not None:
                    kth = np.sort(logits, axis=-1)[:, -min(top_k, self.vocab_size)][:, None]
                    logits[logits < kth] = -np.inf
                probs = softmax_rows(logits)
                draws = rng.random((len(probs), 1))
                idx_next = np.minimum((probs.cumsum(axis=-1) <= draws).sum(axis=-1), self.vocab_size - 1)
                idx = np.concatenate([idx, idx_next[:, None].astype(idx.dtype)], axis=1)
        return idx

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type=None):
        """nanoGPT's AdamW: weight decay on every 2-D weight (matrices, embeddings), none on biases and LayerNorms."""
        from manualnet.optim import AdamW
        params = [parameter for _, parameter in self.named_parameters()]
        groups = [{"params": [p for p in params if p.data.ndim >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.data.ndim < 2], "weight_decay": 0.0}]
        return AdamW(groups, lr=learning_rate, betas=betas)

    def get_num_params(self, non_embedding=True):
        """The number of parameters (the tied weight once), without the position embeddings by default."""
        count = sum(parameter.size for parameter in self.parameters())
        return count - self.transformer.wpe.weight.size if non_embedding else count

    def _check_idx(self, idx):
        if not isinstance(idx, np.ndarray) or idx.dtype.kind not in "iu":
            got = f"dtype {idx.dtype}" if isinstance(idx, np.ndarray) else type(idx).__name__
            raise TypeError(f"{name_of(self)}: expected idx to be a numpy.ndarray of integer token ids (B, T), "
                            f"got {got}")
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"{name_of(self)}: expected idx of shape (B, T) with T >= 1, got shape {idx.shape}")
        if idx.shape[1] > self.block_size:
            raise ValueError(f"{name_of(self)}: cannot forward a sequence of length {idx.shape[1]}, the block size "
                             f"is only {self.block_size} (crop it: idx[:, -{self.block_size}:])")
        if idx.size and (idx.min() < 0 or idx.max() >= self.vocab_size):
            bad = idx[(idx < 0) | (idx >= self.vocab_size)]
            raise ValueError(f"{name_of(self)}: expected token ids in [0, {self.vocab_size}), got {len(bad)} outside "
                             f"it, e.g. {bad.flat[0]}")

    def extra_repr(self):
        return ", ".join(f"{name}={value}" for name, value in self.config.items())
