"""Adagrad, as ``torch/optim/adagrad.py``.  Derivation: derivations/optimizers.md"""

import numpy as np

from manualnet._checks import check_learning_rate

from .optimizer import Optimizer, check_common_options, check_number


class Adagrad(Optimizer):
    """Adagrad: θ ← θ − γ_t·g / (√Σg² + ε), each weight's step shrunk by all its past gradients.  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.Adagrad documents it (γ lr, η lr_decay,
    λ weight_decay, ε eps, s₀ initial_accumulator_value), for each
    parameter θ at step t = 1, 2, ...::

        g ← θ.grad, or −θ.grad with maximize                               eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty, as in SGD   eq. (2)
        γ_t ← γ / (1 + (t − 1) η)                  a decaying rate         eq. (22)
        s ← s + g²                                 a sum, not an average   eq. (23)
        θ ← θ − γ_t g / (√s + ε)                                           eq. (24)

    s starts at s₀.  As PyTorch does, every parameter's state (``step`` 0,
    ``sum`` s₀) exists from construction, so ``state_dict()`` lists it before
    the first step.  (A parameter group's own ``initial_accumulator_value``
    is honoured here; PyTorch fills every state with the constructor's.)

    Shape: ``sum`` has its parameter's shape and dtype; ``step`` is an int.
    """

    _nonnegative_state = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._initial_state(p, group, self.state.setdefault(p, {}))

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            group[name] = check_number(owner, name, group[name], lower=0.0)
        check_common_options(owner, group)
        return group

    def _state_names(self, group):
        return ("step", "sum")

    def _initial_state(self, p, group, state):
        if not state:
            state.update({"step": 0, "sum": np.full_like(p.data, group["initial_accumulator_value"])})

    def _update(self, p, group, state):
        self._initial_state(p, group, state)          # a parameter added by add_param_group after construction
        state["step"] += 1
        grad = -p.grad if group["maximize"] else p.grad                  # eq. (16)
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data                 # eq. (2)
        decayed_lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])   # eq. (22)
        state["sum"] += grad * grad                                      # eq. (23)
        p.data -= decayed_lr * (grad / (np.sqrt(state["sum"]) + group["eps"]))     # eq. (24)
