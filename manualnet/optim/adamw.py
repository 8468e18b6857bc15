"""AdamW, as ``torch/optim/adamw.py``: Adam with decoupled weight decay.  Derivation: derivations/optimizers.md"""

from .adam import Adam


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay θ ← θ(1 − γλ) instead of an L2 term in g.  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.AdamW documents it: Adam's eq. (7)–(13)
    without eq. (2), preceded by shrinking the weights directly::

        θ ← θ (1 − γ λ)                                                    eq. (14)

    With an L2 term (Adam's weight_decay) the decay passes through m and is
    divided by √v̂, so weights with large gradients are barely decayed;
    decoupled, every weight shrinks by the same factor (Loshchilov & Hutter,
    2019).  Default weight_decay=1e-2, as PyTorch's.

    Shape: as Adam.
    """

    _options_added_later = {**Adam._options_added_later, "decoupled_weight_decay": True}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
