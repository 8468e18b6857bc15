"""LayerNorm and one head of GPT's causal self-attention: the transformer's two exercises."""

import numpy as np

from manualnet._numerics import softmax
from manualnet.testing.chain import Chain, Mistake, MistakeTable, Step

# -- LayerNorm ----------------------------------------------------------------------------------

def _layernorm_given(reference, inputs):
    x = inputs[0]
    rows = x.reshape(-1, x.shape[-1])
    mean, var = rows.mean(axis=1, keepdims=True), rows.var(axis=1, keepdims=True)
    s = 1 / np.sqrt(var + reference.eps)
    return {"x_hat": (rows - mean) * s, "s": s, "D": rows.shape[1], "N": len(rows),
            "gamma": reference.weight.data.reshape(-1)}


def _layernorm_dx(q, sum_d_x_hat, sum_d_x_hat_x_hat, D=None):
    """Eq. (12) from the two sums; ``D`` the count the learner divides by (the row's length when None)."""
    D = q.D if D is None else D
    return q.s / D * (D * q.d_x_hat - sum_d_x_hat - q.x_hat * sum_d_x_hat_x_hat)


def _averaged(d_gamma, d_beta):
    """dγ and dβ as means over the rows where the sums belong: each of the two, or both."""
    return {**({"d_gamma": lambda q: (q.G * q.x_hat).mean(axis=0)} if d_gamma else {}),
            **({"d_beta": lambda q: q.G.mean(axis=0)} if d_beta else {})}


LAYERNORM = MistakeTable(
    Chain(_layernorm_given, ("G",), (
        Step("d_x_hat", "dx̂ = G γ", "(6)", lambda q: q.G * q.gamma),
        Step("d_gamma", "dγ = Σ_rows G x̂", "(7)", lambda q: (q.G * q.x_hat).sum(axis=0)),
        Step("d_beta", "dβ = Σ_rows G", "(8)", lambda q: q.G.sum(axis=0)),
        Step("sum_d_x_hat_x_hat", "Σ_i dx̂_i x̂_i along the row, the path through σ²", "(9)",
             lambda q: (q.d_x_hat * q.x_hat).sum(axis=1, keepdims=True)),
        Step("sum_d_x_hat", "Σ_i dx̂_i along the row, the path through μ", "(10)",
             lambda q: q.d_x_hat.sum(axis=1, keepdims=True)),
        Step("dx", "dx = (s/D)(D dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂)", "(12)",
             lambda q: _layernorm_dx(q, q.sum_d_x_hat, q.sum_d_x_hat_x_hat)),
    ), inputs={"input.grad": "dx"}, parameters={"weight.grad": "d_gamma", "bias.grad": "d_beta"}),
    (
        Mistake("mean term missing", "your dx leaves out −Σ dx̂, the path through the row's mean",
                "dx = (s/D)(D dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), eq. (10), (12)",
                "μ is the mean of the row's D values (eq. (1)), so each x_j also reaches the loss through μ; that "
                "road adds −Σ dx̂", replace={"dx": lambda q: _layernorm_dx(q, 0, q.sum_d_x_hat_x_hat)}),
        Mistake("variance term missing", "your dx leaves out −x̂ Σ dx̂ x̂, the path through the row's variance",
                "dx = (s/D)(D dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), eq. (9), (12)",
                "σ² is computed from the row's D values (eq. (2)), so each x_j also reaches the loss through σ²; "
                "that road adds −x̂ Σ dx̂ x̂", replace={"dx": lambda q: _layernorm_dx(q, q.sum_d_x_hat, 0)}),
        Mistake("μ and σ as constants", "your dx is dx̂ s: the row's μ and σ treated as constants",
                "dx = (s/D)(D dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), eq. (11), (12)",
                "μ and σ² are computed from the row itself, so x reaches the loss three ways (eq. (11)): directly, "
                "through μ and through σ²", replace={"dx": lambda q: q.d_x_hat * q.s}),
        Mistake("sums down the batch", "your sums Σ dx̂ and Σ dx̂ x̂ run down the batch (axis 0), batch norm's axis, "
                "not along each row", "Σ_i over the row's D features, eq. (9), (10), (12)",
                "layer norm normalises each row with its own mean and variance (eq. (1), (2)): its statistics, and "
                "the sums of their paths, run along the row (axis 1, keepdims=True)",
                variants=(("with 1/D", {"dx": lambda q: _layernorm_dx(
                              q, q.d_x_hat.sum(axis=0, keepdims=True),
                              (q.d_x_hat * q.x_hat).sum(axis=0, keepdims=True))}),
                          ("batch norm's formula, 1/N and all", {"dx": lambda q: _layernorm_dx(
                              q, q.d_x_hat.sum(axis=0, keepdims=True),
                              (q.d_x_hat * q.x_hat).sum(axis=0, keepdims=True), D=q.N)}))),
        Mistake("N for D", "your dx divides by the batch size N = len(G) where D, the length of a row, belongs",
                "dx = (s/D)(D dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), eq. (12)",
                "μ and σ² are means over the row's D values (eq. (1), (2)), so the paths through them carry 1/D; "
                "N is batch norm's count", replace={"dx": lambda q: _layernorm_dx(
                    q, q.sum_d_x_hat, q.sum_d_x_hat_x_hat, D=q.N)}),
        Mistake("1/D missing", "your dx is s (D dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), without the 1/D in front",
                "dx = (s/D)(D dx̂ − …), eq. (12)", "μ and σ² are means over the row's D values (eq. (1), (2)): the "
                "paths through them carry 1/D",
                replace={"dx": lambda q: q.D * _layernorm_dx(q, q.sum_d_x_hat, q.sum_d_x_hat_x_hat)}),
        Mistake("γ forgotten", "your dx̂ is G, without the γ that forward multiplied x̂ by", "dx̂ = G γ, eq. (6)",
                "y = γ x̂ + β (eq. (5)), so every gradient that goes back through x̂ carries γ",
                replace={"d_x_hat": lambda q: q.G}),
        Mistake("dγ and dβ averaged", "your γ and β gradients average over the rows instead of summing",
                "dγ = Σ_rows G x̂, dβ = Σ_rows G, eq. (7), (8)", "γ and β are used by every row (eq. (5)), so their "
                "gradients add one term per row", variants=(("both", _averaged(True, True)),
                                                            ("dγ only", _averaged(True, False)),
                                                            ("dβ only", _averaged(False, True)))),
        Mistake("dγ and dβ swapped", "your dγ is Σ G and your dβ is Σ G x̂: the two are swapped",
                "dγ = Σ_rows G x̂, dβ = Σ_rows G, eq. (7), (8)", "γ multiplies x̂ (eq. (5)), so its gradient carries "
                "x̂; β is added, so its gradient is G summed",
                replace={"d_gamma": lambda q: q.G.sum(axis=0), "d_beta": lambda q: (q.G * q.x_hat).sum(axis=0)}),
    ), page="derivations/layernorm.md#backward")


# -- one head of GPT's causal self-attention ---------------------------------------------------------

def _attention_given(reference, inputs):
    x = inputs[0]
    C = reference.n_embd
    W_attn, W_proj = reference.c_attn.weight.data, reference.c_proj.weight.data
    b_attn = reference.c_attn.bias.data if reference.c_attn.bias is not None else np.zeros(3 * C)
    qkv = x @ W_attn.T + b_attn
    Q, K, V = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
    s = 1 / np.sqrt(C)
    scores = s * Q @ K.swapaxes(-1, -2)
    length = x.shape[1]
    later = np.triu(np.ones((length, length), dtype=bool), k=1)
    P = softmax(np.where(later, -np.inf, scores), axis=-1)
    return {"x": x, "C": C, "W_attn": W_attn, "W_proj": W_proj, "Q": Q, "K": K, "V": V, "s": s,
            "scores": scores, "P": P, "Y": P @ V,
            "has_attn_bias": reference.c_attn.bias is not None, "has_proj_bias": reference.c_proj.bias is not None}


def _positions(a):
    """(B, T, F) -> (B·T, F): every position a row, as linear.md's x."""
    return a.reshape(-1, a.shape[-1])


def _dx(*uses):
    """dL/dx through the uses of x named ("Q", "K", "V"), eq. (17), (19): each d of a use times its block of W_attn."""
    def compute(q):
        C = q.C
        blocks = {"Q": (q.d_Q, q.W_attn[:C]), "K": (q.d_K, q.W_attn[C:2 * C]), "V": (q.d_V, q.W_attn[2 * C:])}
        return sum(blocks[use][0] @ blocks[use][1] for use in uses)
    return compute


def _not_all_uses():
    """(detail, replace) for every set of x's uses short of all three."""
    sets = (("Q",), ("K",), ("V",), ("Q", "K"), ("Q", "V"), ("K", "V"))
    words = {"Q": "the queries", "K": "the keys", "V": "the values"}
    return tuple((f"through {' and '.join(words[use] for use in uses)} only", {"dx": _dx(*uses)}) for uses in sets)


def _bias_averaged(attn, proj):
    return {**({"d_b_attn": lambda q: _positions(q.d_QKV).mean(axis=0) if q.has_attn_bias else None} if attn else {}),
            **({"d_b_proj": lambda q: _positions(q.G).mean(axis=0) if q.has_proj_bias else None} if proj else {})}


def _softmax_backward(P, d_P, axis=-1):
    """Eq. (9): dS = P ⊙ (dP − Σ dP ⊙ P), the sum along ``axis`` (the row's, -1, is right)."""
    return P * (d_P - (d_P * P).sum(axis=axis, keepdims=True))


ATTENTION = MistakeTable(
    Chain(_attention_given, ("G",), (
        Step("d_Y", "dY = G W_proj", "(16)", lambda q: q.G @ q.W_proj),
        Step("d_W_proj", "dW_proj = Σ_positions Gᵀ Y", "(16)", lambda q: _positions(q.G).T @ _positions(q.Y)),
        Step("d_b_proj", "db_proj = Σ_positions G", "(16)",
             lambda q: _positions(q.G).sum(axis=0) if q.has_proj_bias else None),
        Step("d_V", "dV = Pᵀ dY", "(6)", lambda q: q.P.swapaxes(-1, -2) @ q.d_Y),
        Step("d_P", "dP = dY Vᵀ", "(7)", lambda q: q.d_Y @ q.V.swapaxes(-1, -2)),
        Step("d_S", "dS = P ⊙ (dP − Σ_j dP_ij P_ij), along each row", "(9)", lambda q: _softmax_backward(q.P, q.d_P)),
        Step("d_Q", "dQ = s dS K", "(10)", lambda q: q.s * q.d_S @ q.K),
        Step("d_K", "dK = s dSᵀ Q", "(11)", lambda q: q.s * q.d_S.swapaxes(-1, -2) @ q.Q),
        Step("d_QKV", "[dQ dK dV], side by side as c_attn's rows", "(17)",
             lambda q: np.concatenate([q.d_Q, q.d_K, q.d_V], axis=-1)),
        Step("d_W_attn", "dW_attn = Σ_positions [dQ dK dV]ᵀ x", "(17)",
             lambda q: _positions(q.d_QKV).T @ _positions(q.x)),
        Step("d_b_attn", "db_attn = Σ_positions [dQ dK dV]", "(17)",
             lambda q: _positions(q.d_QKV).sum(axis=0) if q.has_attn_bias else None),
        Step("dx", "dx = dQ W_q + dK W_k + dV W_v", "(17), (19)", _dx("Q", "K", "V")),
    ), inputs={"input.grad": "dx"},
        parameters={"c_attn.weight.grad": "d_W_attn", "c_attn.bias.grad": "d_b_attn",
                    "c_proj.weight.grad": "d_W_proj", "c_proj.bias.grad": "d_b_proj"}),
    (
        Mistake("scale forgotten", "your dQ and dK leave out the scale s = 1/√C", "dQ = s dS K, dK = s dSᵀ Q, "
                "eq. (10), (11)", "forward multiplied the scores by s = 1/√C (eq. (1)), so the gradients of both "
                "factors of Q Kᵀ carry that s again",
                variants=(("", {"d_Q": lambda q: q.d_S @ q.K, "d_K": lambda q: q.d_S.swapaxes(-1, -2) @ q.Q}),
                          ("dQ only", {"d_Q": lambda q: q.d_S @ q.K}),
                          ("dK only", {"d_K": lambda q: q.d_S.swapaxes(-1, -2) @ q.Q}))),
        Mistake("softmax wrong axis", "your dS sums dP ⊙ P down each column (axis −2, over the queries) where the "
                "row's sum belongs", "dS = P ⊙ (dP − Σ_j dP_ij P_ij), eq. (9)",
                "each row of P is one query's softmax over its keys (eq. (3)): the Jacobian's sum runs along the row, "
                "the axis forward normalised", replace={"d_S": lambda q: _softmax_backward(q.P, q.d_P, axis=-2)}),
        Mistake("future leaking", "your backward recomputes P from the scores without the causal mask: gradient "
                "flows from each query to later keys and values", "P = softmax(s Q Kᵀ + M), M the causal mask, "
                "eq. (2), (3), (12)", "forward gave every later key the weight 0 (eq. (2), (12)); the P backward "
                "uses must be that P, so a hidden key gets no gradient",
                replace={"P": lambda q: softmax(q.scores, axis=-1)}),
        Mistake("Pᵀ missing in dV", "your dV is P dY, without the transpose of P", "dV = Pᵀ dY, eq. (6)",
                "value j is used by every query i with the weight P_ij (eq. (5)), so its gradient sums over the "
                "queries: a column of P, a row of Pᵀ", replace={"d_V": lambda q: q.P @ q.d_Y}),
        Mistake("dSᵀ missing in dK", "your dK is s dS Q, without the transpose of dS", "dK = s dSᵀ Q, eq. (11)",
                "key j meets every query i in S_ij (eq. (1)), so its gradient sums down column j of dS: a row of dSᵀ",
                replace={"d_K": lambda q: q.s * q.d_S @ q.Q}),
        Mistake("uses of x not added", "your dx follows only some of x's three uses", "dx = dQ W_q + dK W_k + "
                "dV W_v, eq. (17), (19)", "x is used three times, as the queries, the keys and the values (eq. (13)): "
                "the gradients of the three uses add", variants=_not_all_uses()),
        Mistake("output projection skipped", "your dY is G itself: the gradient goes into the attention without "
                "passing back through c_proj", "dY = G W_proj, eq. (16)",
                "the output is Y W_projᵀ + b_proj (eq. (15)), so the gradient reaching Y is G W_proj",
                replace={"d_Y": lambda q: q.G}),
        Mistake("W_projᵀ in dY", "your dY multiplies G by W_projᵀ", "dY = G W_proj, eq. (16)",
                "out = Y W_projᵀ, so ∂out_j/∂Y_i = W_proj[j, i] and dY = G W_proj: the transpose of forward goes "
                "away, as in linear.md eq. (2)", replace={"d_Y": lambda q: q.G @ q.W_proj.T}),
        Mistake("bias averaged", "your bias gradients average over the B·T positions instead of summing",
                "db_attn = Σ_positions [dQ dK dV], db_proj = Σ_positions G, eq. (16), (17)",
                "a bias is added at every position of every sequence, so its gradient adds one term per position",
                variants=(("both", _bias_averaged(True, True)), ("c_attn's only", _bias_averaged(True, False)),
                          ("c_proj's only", _bias_averaged(False, True)))),
    ), page="derivations/attention.md#backward")
