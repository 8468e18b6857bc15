"""RMSprop, as ``torch/optim/rmsprop.py``.  Derivation: derivations/optimizers.md"""

import numpy as np

from manualnet._checks import check_learning_rate

from .optimizer import Optimizer, check_common_options, check_flag, check_number


class RMSprop(Optimizer):
    """RMSprop: θ ← θ − γ·g / (√v + ε), v an exponential average of g².  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.RMSprop documents it (γ lr, α alpha,
    ε eps, λ weight_decay, μ momentum), for each parameter θ::

        g ← θ.grad, or −θ.grad with maximize                               eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty, as in SGD   eq. (2)
        v ← α v + (1 − α) g²                       average of g²           eq. (17)
        if centered:
            ḡ ← α ḡ + (1 − α) g                    average of g            eq. (18)
            d ← √(v − ḡ²) + ε                      a running std. dev.     eq. (19)
        else:
            d ← √v + ε                                                     eq. (19)
        if μ > 0:  b ← μ b + g / d;  θ ← θ − γ b   momentum on the step    eq. (20)
        else:      θ ← θ − γ g / d                                         eq. (21)

    v, ḡ and b start at zeros.  Unlike Adam there is no bias correction, so
    the first steps are large (v starts small): (1 − α) g² is all of v₁.

    Shape: each state array (``square_avg`` v, ``grad_avg`` ḡ when centered,
    ``momentum_buffer`` b when μ > 0) has its parameter's shape and dtype;
    ``step`` is an int.
    """

    _nonnegative_state = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            group[name] = check_number(owner, name, group[name], lower=0.0)
        group["centered"] = check_flag(owner, "centered", group["centered"])
        check_common_options(owner, group)
        return group

    def _state_names(self, group):
        return ("step", "square_avg") + (("momentum_buffer",) if group["momentum"] > 0 else ()) \
            + (("grad_avg",) if group["centered"] else ())

    def _update(self, p, group, state):
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        if not state:
            state.update({name: 0 if name == "step" else np.zeros_like(p.data) for name in self._state_names(group)})
        state["step"] += 1
        grad = -p.grad if group["maximize"] else p.grad                  # eq. (16)
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data                 # eq. (2)
        square_avg = state["square_avg"]
        square_avg *= alpha                                              # eq. (17)
        square_avg += (1 - alpha) * grad * grad                          # eq. (17)
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(p.data))
            grad_avg += (1 - alpha) * (grad - grad_avg)                  # eq. (18), as torch's lerp
            denominator = np.sqrt(square_avg - grad_avg * grad_avg)      # eq. (19)
        else:
            denominator = np.sqrt(square_avg)                            # eq. (19)
        denominator += eps                                               # eq. (19)
        if momentum > 0:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(p.data))
            buffer *= momentum                                           # eq. (20)
            buffer += grad / denominator                                 # eq. (20)
            p.data -= lr * buffer                                        # eq. (20)
        else:
            p.data -= lr * (grad / denominator)                          # eq. (21)
