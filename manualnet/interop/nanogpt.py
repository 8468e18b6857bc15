"""nanoGPT's model in PyTorch, and the transformer layers both ways between manualnet and torch.

``nanogpt_classes(torch)`` returns karpathy/nanoGPT's ``model.py`` classes as
written there (``LayerNorm`` with an optional bias, ``CausalSelfAttention``
on ``F.scaled_dot_product_attention``, ``MLP``, ``Block``, ``GPT`` with its
tied ``lm_head`` and its ``forward(idx, targets=None)``), built on the torch
that is installed: the reference ``manualnet.GPT`` is checked against, step
for step (tests/test_gpt_parity.py).  ``to_torch``/``from_torch`` in
``manualnet.interop.pytorch`` convert ``GPT`` and its parts through
``nanogpt_twin`` and ``manualnet_gpt``; the state-dict keys are the same on
both sides, so every array moves as it is.
"""

import functools
import math
from dataclasses import dataclass

from manualnet.models.gpt import GPT, MLP, Block, CausalSelfAttention


@dataclass
class GPTConfig:
    """nanoGPT's GPTConfig, with its defaults."""

    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True


@functools.cache
def nanogpt_classes(torch):
    """{name: class} of nanoGPT's model.py (LayerNorm, CausalSelfAttention, MLP, Block, GPT) on this torch."""
    nn, F = torch.nn, torch.nn.functional

    class LayerNorm(nn.Module):
        """LayerNorm but with an optional bias. PyTorch doesn't support simply bias=False"""

        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, input):
            return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            assert config.n_embd % config.n_head == 0
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
            self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
            self.attn_dropout = nn.Dropout(config.dropout)
            self.resid_dropout = nn.Dropout(config.dropout)
            self.n_head = config.n_head
            self.n_embd = config.n_embd
            self.dropout = config.dropout

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None,
                                               dropout_p=self.dropout if self.training else 0, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
            self.attn = CausalSelfAttention(config)
            self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
            self.mlp = MLP(config)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            ))
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            b, t = idx.size()
            assert t <= self.config.block_size, \
                f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}"
            pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
            tok_emb = self.transformer.wte(idx)
            pos_emb = self.transformer.wpe(pos)
            x = self.transformer.drop(tok_emb + pos_emb)
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is not None:
                logits = self.lm_head(x)
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            else:
                logits = self.lm_head(x[:, [-1], :])
                loss = None
            return logits, loss

        def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
            param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [{"params": decay_params, "weight_decay": weight_decay},
                            {"params": nodecay_params, "weight_decay": 0.0}]
            return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)

    return {"LayerNorm": LayerNorm, "CausalSelfAttention": CausalSelfAttention, "MLP": MLP, "Block": Block,
            "GPT": GPT}


# -- what manualnet.interop.pytorch asks -------------------------------------------------------------------

def _config(module):
    """A GPTConfig from a manualnet GPT (or a part: the sizes it has)."""
    return GPTConfig(**{name: getattr(module, name) for name in GPTConfig.__dataclass_fields__ if hasattr(module, name)})


def nanogpt_twin(module, torch):
    """nanoGPT's class for a manualnet GPT or one of its parts (Block, CausalSelfAttention, MLP), built with the
    same sizes on this torch (the weights come after, from the state dict); None for any other module."""
    classes = nanogpt_classes(torch)
    if isinstance(module, GPT):
        return classes["GPT"](_config(module))
    if isinstance(module, Block):
        attention = module.attn
        return classes["Block"](GPTConfig(n_embd=attention.n_embd, n_head=attention.n_head,
                                          dropout=attention.dropout, bias=module.ln_1.bias is not None))
    if isinstance(module, CausalSelfAttention):
        return classes["CausalSelfAttention"](GPTConfig(n_embd=module.n_embd, n_head=module.n_head,
                                                        dropout=module.dropout, bias=module.c_attn.bias is not None))
    if isinstance(module, MLP):
        return classes["MLP"](GPTConfig(n_embd=module.c_fc.in_features, dropout=module.dropout.p,
                                        bias=module.c_fc.bias is not None))
    return None


class TorchTrainer:
    """nanoGPT's step in PyTorch, for ``manualnet.train_gpt.train_gpt``: forward with targets, ``loss.backward()``,
    ``clip_grad_norm_``, AdamW with nanoGPT's parameter groups, ``zero_grad`` — ``ManualnetTrainer``'s two
    methods, so one loop trains both from the same batches."""

    def __init__(self, model, config):
        import torch                    # the model is a torch module: torch is there
        self.torch, self.model, self.config = torch, model, config
        self.optimizer = model.configure_optimizers(config.weight_decay, config.learning_rate,
                                                    (config.beta1, config.beta2), "cpu")

    def step(self, x, y, lr):
        torch = self.torch
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        _, loss = self.model(torch.from_numpy(x), torch.from_numpy(y))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def evaluate(self, x, y):
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(x), self.torch.from_numpy(y))[1].item()

    def train(self, mode=True):
        self.model.train(mode)


def is_nanogpt(torch_module):
    """nanoGPT's GPT (ours or a learner's copy): a ``config`` with its sizes, ``transformer`` and ``lm_head``."""
    config = getattr(torch_module, "config", None)
    return (type(torch_module).__name__ == "GPT" and hasattr(torch_module, "transformer")
            and hasattr(torch_module, "lm_head")
            and all(hasattr(config, name) for name in GPTConfig.__dataclass_fields__))


def manualnet_gpt(torch_module, numpy_dtype):
    config = torch_module.config
    return GPT(**{name: getattr(config, name) for name in GPTConfig.__dataclass_fields__},
               dtype=numpy_dtype(torch_module))
