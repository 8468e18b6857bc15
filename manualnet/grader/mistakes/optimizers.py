"""SGD and Adam: one step per parameter, line by line, and what a step keeps for the next one."""

from dataclasses import dataclass

import numpy as np

from manualnet.testing.chain import Mistake, MistakeTable, Step, evaluate


@dataclass(frozen=True)
class OptimizerChain:
    """An optimizer's update of one parameter, line by line (derivations/optimizers.md's symbols).

    Each line reads the optimizer's options (``lr``, ``momentum`` ...), the
    parameter ``p`` and its gradient ``g``, and what the previous step kept:
    ``state`` names those quantities and their values before the first step.
    """

    steps: tuple
    state: dict

    def trajectory(self, values, grads, options, replace=None):
        """[[θ of each parameter after step t] for each step t]: a run from ``values`` with the gradients
        ``grads`` ([the gradient of each parameter] per step), the lines ``replace`` names swapped."""
        params = [np.array(value, dtype=np.float64) for value in values]
        states = [dict(self.state) for _ in params]
        after = []
        for step_grads in grads:
            for index, g in enumerate(step_grads):
                with np.errstate(all="ignore"):
                    q = evaluate(self.steps, {**options, **states[index], "p": params[index], "g": g}, replace)
                params[index] = np.asarray(q["p"], dtype=np.float64)
                states[index] = {name: q[name] for name in self.state}
            after.append([p.copy() for p in params])
        return after

    def carried(self):
        """The lines that read what the previous step kept: only they can go wrong from step 2 on."""
        return [step for step in self.steps if step.name in self.state]


# -- SGD --------------------------------------------------------------------------------------------

def _buffer(q, first=lambda q: q.g):
    if not q.momentum:
        return None
    return first(q) if q.b is None else q.momentum * q.b + (1 - q.dampening) * q.g


def _direction(q):
    if not q.momentum:
        return q.g
    return q.g + q.momentum * q.b if q.nesterov else q.b


SGD = MistakeTable(
    OptimizerChain((
        Step("g", "g ← g + λ θ", "(2)", lambda q: q.g + q.weight_decay * q.p),
        Step("b", "b = g at the first step, μ b + (1 − τ) g after", "(3), (4)", _buffer),
        Step("d", "g ← g + μ b with Nesterov, b with momentum", "(5)", _direction),
        Step("p", "θ ← θ − γ g", "(6)", lambda q: q.p - q.lr * q.d),
    ), state={"b": None}),
    (
        Mistake("uphill", "your step moves θ up the gradient, θ + γ g", "θ ← θ − γ g, eq. (6)",
                "the gradient points to where the loss grows fastest: a step goes against it",
                replace={"p": lambda q: q.p + q.lr * q.d}),
        Mistake("θ not written", "your step computes the new θ but binds it to a name (p = p − γ g) instead of "
                "writing it into the parameter", "θ ← θ − γ g, in place: p.data -= lr * g, eq. (6)",
                "the parameter is the array the optimizer and the model share: only an in-place update reaches it",
                replace={"p": lambda q: q.p}),
        Mistake("learning rate missing", "your step moves θ by g itself, without the learning rate γ",
                "θ ← θ − γ g, eq. (6)", "γ = lr sets how far one step goes along −g",
                replace={"p": lambda q: q.p - q.d}),
        Mistake("first buffer dampened", "your first momentum buffer is (1 − τ) g; PyTorch starts it at g itself",
                "b = g at the first step, eq. (3)", "dampening applies from the second step on (eq. (4)): the first "
                "buffer is the gradient as it is", replace={"b": lambda q: _buffer(q, lambda q: (1 - q.dampening) * q.g)}),
        Mistake("momentum buffer not kept", "your momentum buffer starts again at g every step: it is not kept in "
                "self.state from one step to the next", "b = μ b + (1 − τ) g, eq. (4)",
                "momentum is a running sum over the steps: each step's buffer starts from the previous step's",
                replace={"b": lambda q: q.g if q.momentum else None}),
        Mistake("weight decay missing", "your gradient leaves out the weight decay λ θ", "g ← g + λ θ, eq. (2)",
                "weight_decay adds λ θ to the gradient before anything else reads it",
                replace={"g": lambda q: q.g}),
        Mistake("weight decay after momentum", "your λ θ is added to the step after the momentum buffer, not to the "
                "gradient before it", "g ← g + λ θ first, eq. (2), then eq. (3)-(5)",
                "PyTorch adds λ θ to g first, so the buffer averages it too",
                replace={"g": lambda q: q.g, "d": lambda q: _direction(q) + q.weight_decay * q.p}),
        Mistake("Nesterov ignored", "your step uses the momentum buffer b as it is, but nesterov=True",
                "g ← g + μ b with Nesterov, eq. (5)", "Nesterov's step looks ahead: g + μ b, not b",
                replace={"d": lambda q: q.b if q.momentum else q.g}),
    ), page="derivations/optimizers.md#sgd-optimsgd")


# -- Adam -------------------------------------------------------------------------------------------

def _update(q, m_hat, v_hat):
    return q.p - q.lr * m_hat / (np.sqrt(v_hat) + q.eps)


ADAM = MistakeTable(
    OptimizerChain((
        Step("g", "g ← g + λ θ", "(2)", lambda q: q.g + q.weight_decay * q.p),
        Step("t", "t ← t + 1", "(7)", lambda q: q.t + 1),
        Step("m", "m = β₁ m + (1 − β₁) g", "(8)", lambda q: q.betas[0] * q.m + (1 - q.betas[0]) * q.g),
        Step("v", "v = β₂ v + (1 − β₂) g²", "(9)", lambda q: q.betas[1] * q.v + (1 - q.betas[1]) * q.g ** 2),
        Step("m_hat", "m̂ = m / (1 − β₁ᵗ)", "(11)", lambda q: q.m / (1 - q.betas[0] ** q.t)),
        Step("v_hat", "v̂ = v / (1 − β₂ᵗ)", "(12)", lambda q: q.v / (1 - q.betas[1] ** q.t)),
        Step("p", "θ ← θ − γ m̂ / (√v̂ + ε)", "(13)", lambda q: _update(q, q.m_hat, q.v_hat)),
    ), state={"t": 0, "m": 0.0, "v": 0.0}),
    (
        Mistake("bias correction missing", "your step uses m and v where the bias-corrected m̂ and v̂ belong",
                "m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), eq. (11), (12)",
                "m and v start at 0, so in the first steps they are too small by the factors 1 − β₁ᵗ and 1 − β₂ᵗ",
                variants=(("both", {"m_hat": lambda q: q.m, "v_hat": lambda q: q.v}),
                          ("m's", {"m_hat": lambda q: q.m}), ("v's", {"v_hat": lambda q: q.v}))),
        Mistake("ε inside the root", "your step divides by √(v̂ + ε), not by √v̂ + ε", "θ ← θ − γ m̂/(√v̂ + ε), "
                "eq. (13)", "PyTorch adds ε after the square root", replace={
                    "p": lambda q: q.p - q.lr * q.m_hat / np.sqrt(q.v_hat + q.eps)}),
        Mistake("square root missing", "your step divides by v̂ + ε, not by √v̂ + ε", "θ ← θ − γ m̂/(√v̂ + ε), "
                "eq. (13)", "√v̂ is the size of a typical gradient, in the gradient's units, so m̂/√v̂ is about ±1",
                replace={"p": lambda q: q.p - q.lr * q.m_hat / (q.v_hat + q.eps)}),
        Mistake("g for g²", "your v averages g, not g²", "v = β₂ v + (1 − β₂) g², eq. (9)",
                "v estimates the second moment E[g²]: the squares, never negative",
                replace={"v": lambda q: q.betas[1] * q.v + (1 - q.betas[1]) * q.g}),
        Mistake("betas swapped", "your m averages with β₂ and your v with β₁", "m with β₁, v with β₂, eq. (8), (9)",
                "betas = (β₁, β₂): the first for the gradient's mean m, the second for its square v",
                replace={"m": lambda q: q.betas[1] * q.m + (1 - q.betas[1]) * q.g,
                         "v": lambda q: q.betas[0] * q.v + (1 - q.betas[0]) * q.g ** 2,
                         "m_hat": lambda q: q.m / (1 - q.betas[1] ** q.t),
                         "v_hat": lambda q: q.v / (1 - q.betas[0] ** q.t)}),
        Mistake("state not kept", "your t, m and v start over every step: they are not kept in self.state from one "
                "step to the next", "t ← t + 1, m = β₁ m + …, v = β₂ v + …, eq. (7)-(9)",
                "Adam's averages run over the steps: each step updates what the previous step left", replace={
                    "t": lambda q: 1, "m": lambda q: (1 - q.betas[0]) * q.g,
                    "v": lambda q: (1 - q.betas[1]) * q.g ** 2}),
        Mistake("weight decay missing", "your gradient leaves out the weight decay λ θ", "g ← g + λ θ, eq. (2)",
                "Adam's weight_decay adds λ θ to the gradient before the averages read it",
                replace={"g": lambda q: q.g}),
        Mistake("decoupled weight decay", "your θ shrinks by γ λ θ apart from the step (AdamW's rule), where Adam adds "
                "λ θ to the gradient", "g ← g + λ θ, eq. (2) (AdamW's is eq. (14))",
                "Adam's L2 penalty goes through m and v; only AdamW decouples it",
                replace={"g": lambda q: q.g, "p": lambda q: _update(q, q.m_hat, q.v_hat) - q.lr * q.weight_decay * q.p}),
        Mistake("θ not written", "your step computes the new θ but binds it to a name instead of writing it into "
                "the parameter", "θ ← θ − γ m̂/(√v̂ + ε), in place: p.data -= ..., eq. (13)",
                "the parameter is the array the optimizer and the model share: only an in-place update reaches it",
                replace={"p": lambda q: q.p}),
        Mistake("uphill", "your step moves θ up the gradient, θ + γ m̂/(√v̂ + ε)", "θ ← θ − γ m̂/(√v̂ + ε), eq. (13)",
                "the gradient points to where the loss grows fastest: a step goes against it",
                replace={"p": lambda q: q.p + q.lr * q.m_hat / (np.sqrt(q.v_hat) + q.eps)}),
    ), page="derivations/optimizers.md#adam-optimadam")
