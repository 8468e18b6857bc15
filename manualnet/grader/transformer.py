"""The transformer's steps of the path: ``layernorm`` and ``attention`` (one head of GPT's causal self-attention).

Each case builds the learner's class and manualnet's own in float64 and
grades them as every other layer is graded (``_layer_reports``: the
comparison, which names the classic mistakes, then finite differences).
The reference for ``attention`` is GPT's ``CausalSelfAttention`` with one
head, whose parameters have the stub's names (``c_attn.weight`` ...).
"""

import numpy as np

from manualnet.models.gpt import CausalSelfAttention
from manualnet.nn.modules.normalization import LayerNorm

from . import Exercise, _layer_reports, _random_parameters, _strategies


def _run_layernorm(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, features = case["batch"], case["features"]
    reference = _random_parameters(LayerNorm(features, dtype=np.float64), rng)
    x = 2 * rng.standard_normal((n, features)) + 1
    return _layer_reports(learner(features), reference, (x,), case["seed"])


def _run_attention(learner, case):
    rng = np.random.default_rng(case["seed"])
    batch, length, width = case["batch"], case["length"], case["n_embd"]
    reference = _random_parameters(CausalSelfAttention(width, 1, dtype=np.float64, rng=rng), rng)
    x = rng.standard_normal((batch, length, width))
    return _layer_reports(learner(width), reference, (x,), case["seed"])


def _draw_layernorm():
    st, seeds, batch, _ = _strategies()
    # At least 3 features: two values normalise to ±1 whatever they are, and their gradient is ~0.
    return st.fixed_dictionaries({"batch": batch, "features": st.integers(3, 6), "seed": seeds})


def _draw_attention():
    st, seeds, _, _ = _strategies()
    # At least 2 positions (query 0 sees key 0 alone: a constant weight) and 2 features (s = 1/√C < 1).
    return st.fixed_dictionaries({"batch": st.integers(1, 3), "length": st.integers(2, 4),
                                  "n_embd": st.integers(2, 4), "seed": seeds})


TRANSFORMER_EXERCISES = (
    Exercise(
        "layernorm", "LayerNorm", "backward", "derivations/layernorm.md#backward", "(6)-(12)",
        {"input": ("(12)", "dL/dx, through each row's mean and variance"), "weight": ("(7)", "dL/dγ"),
         "bias": ("(8)", "dL/dβ")},
        "derivations/layernorm.md#dimension-check", "—",
        fixed={"batch": 4, "features": 3, "seed": 0}, draw=_draw_layernorm, run=_run_layernorm,
        describe=lambda c: f"x ({c['batch']}, {c['features']}), LayerNorm({c['features']}), seed {c['seed']}"),
    Exercise(
        "attention", "CausalSelfAttention", "backward", "derivations/attention.md#backward", "(6)-(19)",
        {"input": ("(16), (6)-(11), (17), (19)", "dL/dx, x's three uses added"),
         "c_attn.weight": ("(17)", "dL/dW_attn = [dQ dK dV]ᵀ x"), "c_attn.bias": ("(17)", "dL/db_attn"),
         "c_proj.weight": ("(16)", "dL/dW_proj = dOᵀ Y"), "c_proj.bias": ("(16)", "dL/db_proj")},
        "derivations/attention.md#dimension-check", "—",
        fixed={"batch": 2, "length": 3, "n_embd": 2, "seed": 0}, draw=_draw_attention, run=_run_attention,
        describe=lambda c: (f"x ({c['batch']}, {c['length']}, {c['n_embd']}), one causal head of "
                            f"{c['n_embd']} features, seed {c['seed']}")),
)

TRANSFORMER_HINTS = {
    "scale forgotten": "forward multiplied the scores by s = 1/√d: dQ and dK each carry that s again "
                       "(eq. (10), (11))",
    "softmax wrong axis": "each row of P is one query's softmax over its keys: the sum in eq. (9) runs along the "
                          "row, the axis forward normalised",
    "future leaking": "backward must use the weights forward computed WITH the mask: a hidden key got weight 0, "
                      "so it gets no gradient (eq. (2), (12))",
    "mask after softmax": "the mask is added to the scores before the softmax (eq. (2)), so the visible weights "
                          "still sum to 1",
    "layer-norm axes": "each row is normalised with its own mean and variance, over its D features (eq. (1), (2))",
    "residual gradient dropped": "x + f(x) uses x twice: the gradient reaching x is G plus the branch's "
                                 "(derivations/gpt.md, eq. (8))",
    "tied gradient overwritten": "a weight used twice gets the sum of both uses' gradients (derivations/gpt.md, "
                                 "eq. (12))",
}
