"""Embedding and one LSTM step: a lookup's scatter, and the gates of a cell."""

import itertools

import numpy as np

from manualnet._numerics import sigmoid
from manualnet.testing.chain import Chain, Mistake, MistakeTable, Step

# -- Embedding ----------------------------------------------------------------------------------

def _embedding_given(reference, inputs):
    return {"idx": np.asarray(inputs[0]).reshape(-1), "rows": reference.num_embeddings}


def _scatter_add(q):
    d_weight = np.zeros((q.rows, q.G.shape[-1]))
    np.add.at(d_weight, q.idx, q.G.reshape(-1, q.G.shape[-1]))
    return d_weight


def _last_occurrence_only(q):
    d_weight = np.zeros((q.rows, q.G.shape[-1]))
    d_weight[q.idx] += q.G.reshape(-1, q.G.shape[-1])   # one write per position: the last one of each row wins
    return d_weight


EMBEDDING = MistakeTable(
    Chain(_embedding_given, ("G",), (
        Step("dW", "dW[k] = Σ_{p: idx_p = k} G_p", "(3)", _scatter_add),
    ), inputs={}, parameters={"weight.grad": "dW"}),
    (
        Mistake("duplicates lost", "your dW is written weight.grad[idx] += G: a token used twice keeps only its last "
                "occurrence's gradient", "dW[k] = Σ_{p: idx_p = k} G_p, eq. (3)",
                "NumPy reads weight.grad[idx] += G as weight.grad[idx] = weight.grad[idx] + G, one write per "
                "position; np.add.at(weight.grad, idx, G) adds every occurrence",
                replace={"dW": _last_occurrence_only}),
        Mistake("duplicates lost and not added", "your dW is written weight.grad[idx] = G: a token used twice keeps only "
                "its last occurrence's gradient, and .grad loses what it held", "dW[k] = Σ_{p: idx_p = k} G_p, "
                "added into .grad, eq. (3)", "every occurrence of a token adds its G (np.add.at), and backward adds "
                "into .grad (+=) what it finds", replace={"dW": _last_occurrence_only}, assigns=("dW",)),
    ), page="derivations/embedding.md#backward")


# -- LSTMCell ------------------------------------------------------------------------------------

GATES = "ifgo"                          # PyTorch's order of the four blocks of rows (lstm.md eq. (1))


def _lstm_given(reference, inputs):
    x, (h, c) = inputs
    W_ih, W_hh = reference.weight_ih.data, reference.weight_hh.data
    a = x @ W_ih.T + h @ W_hh.T
    if reference.bias:
        a = a + reference.bias_ih.data + reference.bias_hh.data
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c_new = f * c + i * g
    return {"x": x, "h": h, "c": c, "W_ih": W_ih, "W_hh": W_hh, "has_bias": bool(reference.bias),
            "i": i, "f": f, "g": g, "o": o, "c_new": c_new, "tanh_c": np.tanh(c_new)}


def _pre_activation_blocks(q, sigmoid_slope=lambda s: s * (1 - s), tanh_slope=lambda t: 1 - t * t):
    """{gate: its block of da}, eq. (11), each through its activation's slope."""
    return {"i": q.di * sigmoid_slope(q.i), "f": q.df * sigmoid_slope(q.f), "g": q.dg * tanh_slope(q.g),
            "o": q.do * sigmoid_slope(q.o)}


def _stacked(order, **slopes):
    return lambda q: np.concatenate([_pre_activation_blocks(q, **slopes)[gate] for gate in order], axis=1)


def _other_orders():
    """(detail, replace) for every order of the four blocks but PyTorch's: the permutations tried."""
    return tuple((f"as {', '.join(order)} where the rows are i, f, g, o", {"da": _stacked(order)})
                 for order in itertools.permutations(GATES) if order != tuple(GATES))


LSTM_CELL = MistakeTable(
    Chain(_lstm_given, ("dh_next", "dc_next"), (
        Step("do", "do = dh' ⊙ tanh(c')", "(6)", lambda q: q.dh_next * q.tanh_c),
        Step("dc", "dc = dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))", "(7)",
             lambda q: q.dc_next + q.dh_next * q.o * (1 - q.tanh_c ** 2)),
        Step("di", "di = dc ⊙ g", "(8)", lambda q: q.dc * q.g),
        Step("df", "df = dc ⊙ c", "(9)", lambda q: q.dc * q.c),
        Step("dg", "dg = dc ⊙ i", "(10)", lambda q: q.dc * q.i),
        Step("da", "da = [di ⊙ i(1 − i), df ⊙ f(1 − f), dg ⊙ (1 − g²), do ⊙ o(1 − o)]", "(11)", _stacked(GATES)),
        Step("dh", "dh = da W_hh", "(12)", lambda q: q.da @ q.W_hh),
        Step("dc_prev", "dc_prev = dc ⊙ f", "(13)", lambda q: q.dc * q.f),
        Step("dx", "dx = da W_ih", "(14)", lambda q: q.da @ q.W_ih),
        Step("dW_ih", "dW_ih = daᵀ x", "(15)", lambda q: q.da.T @ q.x),
        Step("dW_hh", "dW_hh = daᵀ h", "(16)", lambda q: q.da.T @ q.h),
        Step("db", "db_ih = db_hh = Σ_n da", "(17)", lambda q: q.da.sum(axis=0) if q.has_bias else None),
    ), inputs={"input.grad": "dx", "hx[0].grad": "dh", "hx[1].grad": "dc_prev"},
        parameters={"weight_ih.grad": "dW_ih", "weight_hh.grad": "dW_hh", "bias_ih.grad": "db",
                    "bias_hh.grad": "db"}),
    (
        Mistake("gate order", "your da stacks its gate blocks in another order than the weights' rows",
                "da = [da_i, da_f, da_g, da_o], eq. (11), in PyTorch's order of eq. (1)",
                "the rows of W_ih and W_hh come in blocks i, f, g, o (CS231n's order is i, f, o, g): each block of "
                "da must sit where its gate's rows are", variants=_other_orders()),
        Mistake("c for tanh(c')", "your do multiplies dh' by the cell state where tanh(c') belongs", "do = dh' ⊙ tanh(c'), "
                "eq. (6)", "h' = o ⊙ tanh(c') (eq. (5)): the output gate multiplies tanh of the NEW cell state",
                variants=(("the c given to this step", {"do": lambda q: q.dh_next * q.c}),
                          ("the new cell state c'", {"do": lambda q: q.dh_next * q.c_new}))),
        Mistake("tanh' from the cell state", "your dc takes tanh' as 1 − c², from the cell state, where "
                "1 − tanh²(c') belongs", "dc = dc' + dh' ⊙ o ⊙ (1 − tanh²(c')), eq. (7)",
                "tanh'(u) = 1 − tanh²(u): the slope is read from tanh(c'), which forward kept",
                variants=(("the c given to this step",
                           {"dc": lambda q: q.dc_next + q.dh_next * q.o * (1 - q.c ** 2)}),
                          ("the new cell state c'",
                           {"dc": lambda q: q.dc_next + q.dh_next * q.o * (1 - q.c_new ** 2)}))),
        Mistake("dc' from step t+1 missing", "your dc leaves out dc', the gradient c' receives from step t+1",
                "dc = dc' + dh' ⊙ o ⊙ (1 − tanh²(c')), eq. (7)",
                "c' reaches the loss two ways, directly (the next step uses it) and through h': the two gradients add",
                replace={"dc": lambda q: q.dh_next * q.o * (1 - q.tanh_c ** 2)}),
        Mistake("path through h' missing", "your dc is dc' alone: the path through h' = o ⊙ tanh(c') is left out",
                "dc = dc' + dh' ⊙ o ⊙ (1 − tanh²(c')), eq. (7)",
                "c' reaches the loss two ways, directly (the next step uses it) and through h': the two gradients add",
                replace={"dc": lambda q: q.dc_next}),
        Mistake("forget gate left out", "your dc_prev leaves out the forget gate", "dc_prev = dc ⊙ f, eq. (13)",
                "c reaches c' = f ⊙ c + i ⊙ g only through its product with f, so its gradient carries f",
                replace={"dc_prev": lambda q: q.dc}),
        Mistake("σ' for the tanh gate", "your g block of da uses σ' = g(1 − g), the sigmoid's slope, where g = tanh(a_g)",
                "da_g = dg ⊙ (1 − g²), eq. (11)", "g is the one gate made by tanh (eq. (3)), and tanh' = 1 − tanh²",
                replace={"da": _stacked(GATES, tanh_slope=lambda t: t * (1 - t))}),
        Mistake("tanh' for the sigmoid gates", "your i, f and o blocks of da use 1 − σ², tanh's slope, where "
                "σ' = σ(1 − σ) belongs", "da_i = di ⊙ i(1 − i) …, eq. (11)",
                "i, f and o are sigmoids (eq. (2)), and σ' = σ(1 − σ)",
                replace={"da": _stacked(GATES, sigmoid_slope=lambda s: 1 - s * s)}),
    ), page="derivations/lstm.md#backward")
