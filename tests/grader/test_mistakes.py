"""The exercises' mistake tables: each chain, unchanged, is its layer's own backward; the teacher's page is the tables.

A chain that drifted from its layer would reproduce mistakes wrongly and name
them wrongly, so every chain is checked against manualnet's layer on the
exercise's fixed case and on cases hypothesis draws (an optimizer's chain
against manualnet's optimizer, step by step).
"""

import copy
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manualnet import grader as E
from manualnet import optim
from manualnet.grader.mistakes.optimizers import OptimizerChain
from manualnet.grader.teacher import teacher_page
from manualnet.nn.parameter import Parameter
from manualnet.testing.chain import Chain, Step
from manualnet.testing.comparison import _input_gradient_leaves
from manualnet.testing.gradcheck import leaves, map_structure

ROOT = Path(__file__).resolve().parents[2]
CHAINED = [e.name for e in E.EXERCISES if isinstance(getattr(e.mistakes, "chain", None), Chain)]
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam}


def layer_rows(reference, inputs, upstreams):
    """{row: value} as the comparison's two passes leave the reference layer (no zero_grad between)."""
    probe = copy.deepcopy(reference)
    probe.zero_grad()
    first = None
    for index, upstream in enumerate(upstreams):
        probe.forward(*copy.deepcopy(inputs))
        grads = probe.backward(copy.deepcopy(upstream))
        first = grads if index == 0 else first
    rows = {f"{name}.grad": p.grad for name, p in probe.named_parameters()}
    rows.update(_input_gradient_leaves(reference, inputs, first))
    return rows


def upstreams_for(reference, inputs, seed):
    rng = np.random.default_rng(seed + 1)
    output = copy.deepcopy(reference).forward(*copy.deepcopy(inputs))
    draw = lambda part: float(rng.standard_normal()) if np.ndim(part) == 0 else rng.standard_normal(np.shape(part))  # noqa: E731
    return [map_structure(draw, output) for _ in range(2)]


def assert_chain_is_the_layer(exercise, case):
    built = exercise.run.setup(case)
    reference = built.reference.astype(np.float64)
    upstreams = upstreams_for(reference, built.inputs, case["seed"])
    expected = layer_rows(reference, built.inputs, upstreams)
    chained = exercise.mistakes.chain.rows(reference, built.inputs, upstreams)
    assert set(chained) <= set(expected), f"{exercise.name}: rows the layer does not have: {set(chained) - set(expected)}"
    for row, value in chained.items():
        np.testing.assert_allclose(value, expected[row], rtol=1e-9, atol=1e-12, err_msg=f"{exercise.name}: {row}")
    missing = {row for row, value in expected.items() if value is not None and row not in chained}
    assert missing <= {"input.grad"} and (not missing or exercise.name == "logistic_regression"), missing


@pytest.mark.parametrize("name", CHAINED)
def test_each_chain_unchanged_is_its_layers_backward_on_the_fixed_case(name):
    assert_chain_is_the_layer(E.get(name), E.get(name).fixed)


@pytest.mark.parametrize("name", CHAINED)
@pytest.mark.slow
def test_each_chain_unchanged_is_its_layers_backward_on_drawn_cases(name):
    exercise = E.get(name)

    @settings(max_examples=10, deadline=None)
    @given(case=exercise.draw())
    def check(case):
        assert_chain_is_the_layer(exercise, case)
    check()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@given(seed=st.integers(0, 2 ** 16), options=st.data())
@settings(max_examples=10, deadline=None)
def test_each_optimizer_chain_follows_manualnets_optimizer(name, seed, options):
    exercise = E.get(name)
    chosen = options.draw(exercise.draw())["options"]
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    grads = [[rng.standard_normal(v.shape) for v in values] for _ in range(4)]
    params = [Parameter(v) for v in values]
    optimizer = OPTIMIZERS[name](params, **chosen)
    chained = exercise.mistakes.chain.trajectory(values, grads, chosen)
    for step, step_grads in enumerate(grads):
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        optimizer.step()
        for p, value in zip(params, chained[step]):
            np.testing.assert_allclose(value, p.data, rtol=1e-9, atol=1e-12)


def test_an_optimizer_chain_changes_only_where_a_line_is_replaced():
    chain = OptimizerChain((Step("p", "θ ← θ − γ g", "(6)", lambda q: q.p - q.lr * q.g),), state={})
    run = chain.trajectory([np.ones(2)], [[np.ones(2)]] * 2, {"lr": 0.5}, replace={"p": lambda q: q.p + q.lr * q.g})
    np.testing.assert_allclose(run[-1][0], [2.0, 2.0])


# -- what a chain says about the rows a failure reaches ---------------------------------------------

def test_the_first_suspect_is_the_first_line_reaching_exactly_the_failing_rows():
    chain = E.get("lstm_cell").mistakes.chain
    built = E.get("lstm_cell").run.setup(E.get("lstm_cell").fixed)
    upstream = upstreams_for(built.reference, built.inputs, 0)[0]
    weights = ["weight_ih.grad", "weight_hh.grad", "bias_ih.grad", "bias_hh.grad"]
    suspects = chain.first_suspects(built.reference, built.inputs, upstream, ["input.grad", "hx[0].grad", *weights],
                                    ["hx[1].grad"])
    assert [step.name for step in suspects] == ["do", "di", "df", "dg", "da"]
    only_dc_prev = chain.first_suspects(built.reference, built.inputs, upstream, ["hx[1].grad"],
                                        ["input.grad", "hx[0].grad", *weights])
    assert [step.name for step in only_dc_prev] == ["dc_prev"]
    everything = chain.first_suspects(built.reference, built.inputs, upstream, ["input.grad", "hx[1].grad"], [])
    assert everything[0].name == "dc"


# -- the teacher's page --------------------------------------------------------------------------------

def test_the_teachers_page_is_the_grader_s_own_tables():
    """exercises/README.md lists, per exercise, exactly the mistakes the grader names: it cannot drift."""
    page = (ROOT / "exercises" / "README.md").read_text(encoding="utf-8")
    assert page == teacher_page(), "exercises/README.md is stale: python -m manualnet.grader.teacher > exercises/README.md"
    for exercise in E.EXERCISES:
        for mistake in exercise.mistakes.mistakes:
            assert f"`{mistake.name}`" in page.split(f"## {exercise.name}")[1].split("\n## ")[0]
