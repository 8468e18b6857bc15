"""Dropout and BatchNorm1d: the layers that behave differently in training and in evaluation."""

import numpy as np

from manualnet.testing.chain import Chain, Mistake, MistakeTable, Step

# -- Dropout --------------------------------------------------------------------------------------

def _dropout_given(reference, inputs):
    p = reference.p
    return {"m": np.asarray(inputs[1], dtype=bool), "p": p, "scale": 1 / (1 - p), "training": reference.training}


DROPOUT = MistakeTable(
    Chain(_dropout_given, ("G",), (
        Step("dx", "dx = G ⊙ m/(1 − p) in training, G in evaluation", "(4), (5)",
             lambda q: q.G * q.m * q.scale if q.training else q.G),
    ), inputs={"input.grad": "dx"}),
    (
        Mistake("mask missing", "your dx scales every entry of G by 1/(1 − p), the dropped ones too",
                "dx = G ⊙ m/(1 − p), eq. (4)", "a dropped entry never reached the output, so no gradient goes back "
                "to it", replace={"dx": lambda q: q.G * q.scale if q.training else q.G}),
        Mistake("scale missing", "your dx is G ⊙ m, without the 1/(1 − p) forward multiplied the kept entries by",
                "dx = G ⊙ m/(1 − p), eq. (4)", "forward scaled every kept entry by 1/(1 − p) (eq. (2)), so its "
                "gradient carries that factor too", replace={"dx": lambda q: q.G * q.m if q.training else q.G}),
        Mistake("scaled by 1/p", "your dx scales the kept entries by 1/p, reading p as the probability of keeping",
                "dx = G ⊙ m/(1 − p), eq. (4)", "here, as in PyTorch, p is the probability of dropping: the kept "
                "entries were scaled by 1/(1 − p)",
                replace={"dx": lambda q: q.G * q.m / q.p if q.training else q.G}),
        Mistake("mask inverted", "your dx passes G at the dropped entries and blocks it at the kept ones",
                "dx = G ⊙ m/(1 − p), eq. (4)", "m is 1 where an entry was kept (eq. (1)): that is where the gradient "
                "goes", replace={"dx": lambda q: q.G * ~q.m * q.scale if q.training else q.G}),
        Mistake("scaled in evaluation", "your dx scales G by 1/(1 − p) after an evaluation forward, where dropout is the "
                "identity", "dx = G in evaluation, eq. (5)", "in evaluation forward returned x unchanged (eq. (3)), "
                "so its gradient is G unchanged", replace={"dx": lambda q: q.G * q.scale}),
    ), page="derivations/dropout.md#backward")


# -- BatchNorm1d --------------------------------------------------------------------------------------

def _batchnorm_given(reference, inputs):
    x = inputs[0]
    if reference.training:
        mean, var = x.mean(axis=0), x.var(axis=0)
    else:
        mean, var = np.asarray(reference.running_mean, np.float64), np.asarray(reference.running_var, np.float64)
    s = 1 / np.sqrt(var + reference.eps)
    return {"x_hat": (x - mean) * s, "s": s, "M": len(x), "gamma": reference.weight.data,
            "training": reference.training}


def _dx(q, sum_d_x_hat, sum_d_x_hat_x_hat):
    """Eq. (14) from the two sums."""
    return q.s / q.M * (q.M * q.d_x_hat - sum_d_x_hat - q.x_hat * sum_d_x_hat_x_hat)


BATCHNORM = MistakeTable(
    Chain(_batchnorm_given, ("G",), (
        Step("d_x_hat", "dx̂ = G γ", "(8)", lambda q: q.G * q.gamma),
        Step("d_gamma", "dγ = Σ_m G_m x̂_m", "(9)", lambda q: (q.G * q.x_hat).sum(axis=0)),
        Step("d_beta", "dβ = Σ_m G_m", "(10)", lambda q: q.G.sum(axis=0)),
        Step("sum_d_x_hat_x_hat", "Σ_m dx̂_m x̂_m, the path through σ²", "(11)",
             lambda q: (q.d_x_hat * q.x_hat).sum(axis=0)),
        Step("sum_d_x_hat", "Σ_m dx̂_m, the path through μ", "(12)", lambda q: q.d_x_hat.sum(axis=0)),
        Step("dx", "dx = (s/M)(M dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂) in training, dx̂ s in evaluation", "(14), (15)",
             lambda q: _dx(q, q.sum_d_x_hat, q.sum_d_x_hat_x_hat) if q.training else q.d_x_hat * q.s),
    ), inputs={"input.grad": "dx"}, parameters={"weight.grad": "d_gamma", "bias.grad": "d_beta"}),
    (
        Mistake("x̂ term dropped", "your dx leaves out −x̂ Σ dx̂ x̂, the path through the batch variance",
                "dx = (s/M)(M dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), eq. (11), (14)",
                "σ² is computed from every sample (eq. (2)), so each x also reaches the loss through σ²; that road "
                "adds −x̂ Σ dx̂ x̂", replace={"dx": lambda q: _dx(q, q.sum_d_x_hat, 0) if q.training else q.d_x_hat * q.s}),
        Mistake("mean term dropped", "your dx leaves out −Σ dx̂, the path through the batch mean",
                "dx = (s/M)(M dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), eq. (12), (14)",
                "μ is computed from every sample (eq. (1)), so each x also reaches the loss through μ; that road adds "
                "−Σ dx̂", replace={"dx": lambda q: _dx(q, 0, q.sum_d_x_hat_x_hat) if q.training else q.d_x_hat * q.s}),
        Mistake("μ and σ as constants", "your dx is dx̂ s, the evaluation formula, after a training forward: the batch's "
                "μ and σ treated as constants", "dx = (s/M)(M dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), eq. (14)",
                "in training μ and σ² are computed from the batch itself, so x reaches the loss three ways "
                "(eq. (13)); only the running statistics of evaluation are constants",
                replace={"dx": lambda q: q.d_x_hat * q.s}),
        Mistake("training formula in evaluation", "your dx uses the training formula (14) after an evaluation forward",
                "dx = dx̂ s in evaluation, eq. (15)", "in evaluation μ and σ² are the running statistics, constants: "
                "the only path from x is through x̂ (eq. (15))",
                replace={"dx": lambda q: _dx(q, q.sum_d_x_hat, q.sum_d_x_hat_x_hat)}),
        Mistake("γ forgotten", "your dx̂ is G, without the γ that forward multiplied x̂ by", "dx̂ = G γ, eq. (8)",
                "y = γ x̂ + β (eq. (5)), so every gradient that goes back through x̂ carries γ",
                replace={"d_x_hat": lambda q: q.G}),
        Mistake("dγ and dβ swapped", "your dγ is Σ G and your dβ is Σ G x̂: the two are swapped", "dγ = Σ G x̂, dβ = Σ G, "
                "eq. (9), (10)", "γ multiplies x̂ (eq. (5)), so its gradient carries x̂; β is added, so its gradient "
                "is G summed", replace={"d_gamma": lambda q: q.G.sum(axis=0),
                                        "d_beta": lambda q: (q.G * q.x_hat).sum(axis=0)}),
        Mistake("1/M missing", "your dx is s (M dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), without the 1/M in front",
                "dx = (s/M)(M dx̂ − …), eq. (14)", "μ and σ² are means over the M samples (eq. (1), (2)): the paths "
                "through them carry 1/M",
                replace={"dx": lambda q: q.M * _dx(q, q.sum_d_x_hat, q.sum_d_x_hat_x_hat)
                         if q.training else q.d_x_hat * q.s}),
        Mistake("sums along the features", "your sums Σ dx̂ and Σ dx̂ x̂ run along each sample's features (axis 1), "
                "not over the batch", "Σ_m over the M samples, eq. (11), (12), (14)",
                "batch norm normalises each feature over the batch (axis 0): its statistics, and their sums, run "
                "down the columns", replace={"sum_d_x_hat": lambda q: q.d_x_hat.sum(axis=1, keepdims=True),
                                             "sum_d_x_hat_x_hat":
                                                 lambda q: (q.d_x_hat * q.x_hat).sum(axis=1, keepdims=True)}),
    ), page="derivations/batchnorm.md#backward")
