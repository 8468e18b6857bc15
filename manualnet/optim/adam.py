"""Adam, as ``torch/optim/adam.py``: the update rule written out.  Derivation: derivations/optimizers.md"""

import math

import numpy as np

from manualnet._checks import check_learning_rate

from .optimizer import Optimizer, check_betas, check_common_options, check_flag, check_number



class Adam(Optimizer):
    """Adam: θ ← θ − γ·m̂ / (√v̂ + ε), with bias-corrected averages m̂, v̂ of g and g².  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.Adam documents it (γ lr, β₁, β₂ betas,
    ε eps, λ weight_decay), for each parameter θ; t counts this parameter's
    steps and goes up by one per ``step()`` call::

        t ← t + 1                                                          eq. (7)
        g ← θ.grad, or −θ.grad with maximize                               eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty, as in SGD   eq. (2)
        m ← β₁ m + (1 − β₁) g                      average of g            eq. (8)
        v ← β₂ v + (1 − β₂) g²                     average of g²           eq. (9)
        if amsgrad:  v_max ← max(v_max, v); use v_max in place of v         eq. (10)
        θ ← θ − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)                     eq. (13)

    which is θ ← θ − γ m̂ / (√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
    (eq. (11), (12)), arranged as PyTorch computes it.  m, v and v_max start
    at zeros.

    Shape: each state array (``exp_avg`` m, ``exp_avg_sq`` v, and
    ``max_exp_avg_sq`` with amsgrad) has its parameter's shape and dtype;
    ``step`` is an int.
    """

    # Where g stays 0 (a dead ReLU unit's weights), m shrinks by β₁ every step and
    # spends ~150 steps as a subnormal number before it rounds to 0, and many CPUs
    # compute with subnormals tens of times slower (derivations/optimizers.md,
    # "Subnormal moments").  Setting them to 0 every flush_every steps costs three
    # passes over the moments each time: a few percent of an Adam step.
    flush_every = 16

    _options_added_later = {"maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                            "fused": None, "decoupled_weight_decay": False}
    _nonnegative_state = ("exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        group["betas"] = check_betas(owner, group["betas"])
        group["eps"] = check_number(owner, "eps", group["eps"], lower=0.0)
        group["weight_decay"] = check_number(owner, "weight_decay", group["weight_decay"], lower=0.0)
        group["amsgrad"] = check_flag(owner, "amsgrad", group["amsgrad"])
        group["decoupled_weight_decay"] = check_flag(owner, "decoupled_weight_decay", group["decoupled_weight_decay"])
        check_common_options(owner, group)
        return group

    def _state_names(self, group):
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _update(self, p, group, state):
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state.update({name: 0 if name == "step" else np.zeros_like(p.data) for name in self._state_names(group)})
        state["step"] += 1                                       # eq. (7)
        t = state["step"]
        grad = -p.grad if group["maximize"] else p.grad          # eq. (16)
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.data *= 1 - lr * weight_decay                  # eq. (14)
            else:
                grad = grad + weight_decay * p.data              # eq. (2)

        # m, v and θ change in place; `work` holds each intermediate product,
        # so the step allocates no new arrays.
        m, v, work = state["exp_avg"], state["exp_avg_sq"], self._work_array(p)
        m *= beta1                                               # eq. (8)
        m += np.multiply(grad, 1 - beta1, out=work)              # eq. (8)
        v *= beta2                                               # eq. (9)
        np.multiply(grad, grad, out=work)
        v += np.multiply(work, 1 - beta2, out=work)              # eq. (9)
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])   # eq. (10)

        # eq. (11)-(13) rearranged to save a pass (derivations/optimizers.md, eq. (15)):
        # m̂ / (√v̂ + ε) = c·m / (√v + c·ε) with c = √(1 − β₂ᵗ).
        root_correction = math.sqrt(1 - beta2**t)
        denominator = np.sqrt(v, out=work)
        denominator += eps * root_correction                     # eq. (15)
        update = np.divide(m, denominator, out=work)
        update *= lr * root_correction / (1 - beta1**t)          # eq. (15)
        p.data -= update                                         # eq. (15)
        if t % self.flush_every == 0:                            # "Subnormal moments" in the page
            for name in self._state_names(group)[1:]:            # m, v (and v_max)
                flush_subnormals(state[name], work)


def flush_subnormals(a, work):
    """Set the entries of ``a`` below the smallest normal number of its dtype to 0, in place (``work``: scratch)."""
    np.abs(a, out=work)
    np.greater_equal(work, np.finfo(a.dtype).tiny, out=work)
    a *= work
