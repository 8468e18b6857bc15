"""SGD, as ``torch/optim/sgd.py``: the update rule written out.  Derivation: derivations/optimizers.md"""

import numpy as np

from manualnet._checks import check_learning_rate

from .optimizer import Optimizer, check_common_options, check_flag, check_number


class SGD(Optimizer):
    """Stochastic gradient descent with momentum: θ ← θ − γ·b, b = μ·b + (1 − τ)·g.  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.SGD documents it (γ lr, λ weight_decay,
    μ momentum, τ dampening), for each parameter θ at step t = 1, 2, ...::

        g ← θ.grad                                 what backward left there
        if maximize:  g ← −g                       climb instead         eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty            eq. (2)
        if μ ≠ 0:
            b ← g                   if t = 1       first step: no history   eq. (3)
            b ← μ b + (1 − τ) g     otherwise      exponential average      eq. (4)
            g ← g + μ b  if nesterov, else b       look ahead                eq. (5)
        θ ← θ − γ g                                                         eq. (6)

    Shape: every state array (the momentum buffer b) has its parameter's
    shape and dtype.  Nesterov momentum needs μ > 0 and τ = 0, as in PyTorch.
    """

    _options_added_later = {"maximize": False, "foreach": None, "differentiable": False, "fused": None}

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach, "differentiable": differentiable,
                    "fused": fused}
        super().__init__(params, defaults)

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        group["momentum"] = check_number(owner, "momentum", group["momentum"], lower=0.0)
        group["dampening"] = check_number(owner, "dampening", group["dampening"])
        group["weight_decay"] = check_number(owner, "weight_decay", group["weight_decay"], lower=0.0)
        group["nesterov"] = check_flag(owner, "nesterov", group["nesterov"])
        check_common_options(owner, group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{owner}: Nesterov momentum requires momentum > 0 and dampening = 0, "
                f"got momentum={group['momentum']!r} and dampening={group['dampening']!r}"
            )
        return group

    def _state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, p, group, state):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        grad = -p.grad if group["maximize"] else p.grad               # eq. (16)
        if group["weight_decay"] != 0:
            # Into the work array: p.grad itself must stay dL/dθ for whoever reads it next.
            decay = np.multiply(p.data, group["weight_decay"], out=self._work_array(p))
            grad = np.add(grad, decay, out=decay)                 # eq. (2)
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()  # eq. (3)
            else:
                buffer *= momentum                                # eq. (4)
                buffer += (1 - dampening) * grad                  # eq. (4)
            grad = grad + momentum * buffer if group["nesterov"] else buffer   # eq. (5)
        # In place: `p.data = p.data - ...` would bind a new array that the
        # model's layers never see.
        p.data -= np.multiply(grad, lr, out=self._work_array(p))     # eq. (6)
