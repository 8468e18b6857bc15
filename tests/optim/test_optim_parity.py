"""torch.optim parity for RMSprop, Adagrad and maximize: 25 steps, hypothesis-drawn options, float64 to ~1e-10.

Also: a torch optimizer's state dict loads into manualnet's and the two go on
in step, and the other way round; and in float32, Adam's moments that become
subnormal are set to 0 while the weights stay torch's (the stated bound).  test_training_parity.py holds the
original SGD/Adam/AdamW cases.  Skipped without torch, required in CI.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from manualnet import optim
from manualnet.nn.parameter import Parameter as mn_parameter

from ..strategies import seeds
from .test_optim import gradients, make_parameters, set_gradients
from ..torch_required import import_torch

torch = import_torch()
STEPS = 25


@st.composite
def optimizer_cases(draw):
    """(name, options): every optimizer, each option drawn (maximize everywhere)."""
    name = draw(st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]))
    options = {"maximize": draw(st.booleans()), "weight_decay": draw(st.sampled_from([0.0, 0.05]))}
    if name == "SGD":
        options["lr"] = draw(st.floats(0.01, 0.2))
        options["momentum"] = draw(st.sampled_from([0.0, 0.5, 0.9]))
        options["nesterov"] = options["momentum"] > 0 and draw(st.booleans())
        options["dampening"] = 0.0 if options["nesterov"] else draw(st.sampled_from([0.0, 0.3]))
    elif name in ("Adam", "AdamW"):
        options.update(lr=draw(st.floats(1e-3, 0.05)), amsgrad=draw(st.booleans()),
                       betas=(draw(st.floats(0.5, 0.95)), draw(st.floats(0.9, 0.9999))))
        if name == "Adam":
            options["decoupled_weight_decay"] = draw(st.booleans())
    elif name == "RMSprop":
        options.update(lr=draw(st.floats(1e-3, 0.05)), alpha=draw(st.floats(0.5, 0.999)),
                       eps=draw(st.sampled_from([1e-8, 1e-4])), momentum=draw(st.sampled_from([0.0, 0.5])),
                       centered=draw(st.booleans()))
    else:
        options.update(lr=draw(st.floats(1e-3, 0.5)), lr_decay=draw(st.sampled_from([0.0, 0.01])),
                       initial_accumulator_value=draw(st.sampled_from([0.0, 0.1])),
                       eps=draw(st.sampled_from([1e-10, 1e-6])))
    return name, options


def step_both(ours, theirs, optimizer, reference, rng, steps, start=0):
    for step in range(start, start + steps):
        grads = gradients(rng, step)
        set_gradients(ours, grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g.copy())
        optimizer.step()
        reference.step()
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}")


def twins(seed):
    ours = make_parameters(np.random.default_rng(seed))
    return ours, [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ours]


@given(case=optimizer_cases(), seed=seeds)
@pytest.mark.slow
def test_optimizer_matches_torch_optim_over_25_steps(case, seed):
    name, options = case
    ours, theirs = twins(seed)
    optimizer, reference = getattr(optim, name)(ours, **options), getattr(torch.optim, name)(theirs, **options)
    step_both(ours, theirs, optimizer, reference, np.random.default_rng(seed), STEPS)
    mine, torch_state = optimizer.state_dict(), numpy_state(reference.state_dict())
    assert [sorted(group) for group in mine["param_groups"]] == [sorted(group) for group in torch_state["param_groups"]]
    assert sorted(mine["state"]) == sorted(torch_state["state"])
    for index, entries in torch_state["state"].items():          # the state has torch's names and values
        assert set(mine["state"][index]) == set(entries)
        for name, value in entries.items():
            np.testing.assert_allclose(mine["state"][index][name], value, rtol=1e-10, atol=1e-12, err_msg=name)


def numpy_state(state_dict):
    """torch's state dict with its tensors as NumPy arrays (step included, a 0-d float tensor there)."""
    return {"state": {index: {name: value.numpy() if torch.is_tensor(value) else value
                              for name, value in entries.items()}
                      for index, entries in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


def torch_state(state_dict):
    return {"state": {index: {name: torch.tensor(float(value)) if name == "step" else torch.from_numpy(value)
                              for name, value in entries.items()}
                      for index, entries in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


@given(case=optimizer_cases(), seed=seeds)
@pytest.mark.slow
def test_state_dicts_cross_over_and_training_goes_on_in_step(case, seed):
    """Ten steps in one library, its state dict loaded into the other's optimizer, ten more steps in step."""
    name, options = case
    rng = np.random.default_rng(seed)
    ours, theirs = twins(seed)
    optimizer, reference = getattr(optim, name)(ours, **options), getattr(torch.optim, name)(theirs, **options)
    step_both(ours, theirs, optimizer, reference, rng, 10)
    fresh_ours, fresh_theirs = twins(seed)
    for mine, theirs_p, p, t in zip(fresh_ours, fresh_theirs, ours, theirs):
        mine.data[...] = p.data
        theirs_p.data.copy_(t.data)
    resumed = getattr(optim, name)(fresh_ours, **options)
    resumed.load_state_dict(numpy_state(reference.state_dict()))                 # torch -> manualnet
    resumed_reference = getattr(torch.optim, name)(fresh_theirs, **options)
    resumed_reference.load_state_dict(torch_state(optimizer.state_dict()))       # manualnet -> torch
    step_both(fresh_ours, fresh_theirs, resumed, resumed_reference, rng, 10, start=10)


def test_adam_sets_subnormal_moments_to_zero_and_moves_the_weights_within_the_stated_bound():
    """float32: each weight gets one gradient, then 0 for 950 steps, so its m shrinks by β₁ a step into
    the subnormals (below 2^-126) around step 750.  Every flush_every steps manualnet sets those to 0
    where torch keeps them.  The step that changes is below γ·2^-126 / ((1 − β₁^t)·ε) (the page's
    "Subnormal moments"): against the same Adam without the flush the weights differ by at most that
    many times the steps (bit-equal here), and against torch by float32 rounding only, as any run."""
    lr, eps, beta1 = 1e-3, 1e-8, 0.9
    rng = np.random.default_rng(0)
    start = rng.standard_normal(64).astype(np.float32)
    first = (rng.standard_normal(64) * 1e-3).astype(np.float32)
    flushing, plain = mn_parameter(start), mn_parameter(start)
    ours, unflushed = optim.Adam([flushing], lr=lr, eps=eps), optim.Adam([plain], lr=lr, eps=eps)
    unflushed.flush_every = 10**9
    weight = torch.nn.Parameter(torch.from_numpy(start.copy()))
    reference = torch.optim.Adam([weight], lr=lr, eps=eps)
    tiny, flushed = np.finfo(np.float32).tiny, 0
    for step in range(1, 951):
        for p in (flushing, plain):
            p.grad[...] = first if step == 1 else 0
        weight.grad = torch.from_numpy(flushing.grad.copy())
        ours.step()
        reference.step()
        unflushed.step()
        np.testing.assert_allclose(flushing.data, plain.data, rtol=0,
                                   atol=step * lr * tiny / ((1 - beta1) * eps))
        m, m_torch = ours.state[flushing]["exp_avg"], reference.state[weight]["exp_avg"].numpy()
        subnormal = (m_torch != 0) & (np.abs(m_torch) < tiny)
        if step % ours.flush_every == 0 and subnormal.any():
            assert np.all(m[subnormal] == 0)
            flushed += 1
    assert flushed > 0                                       # the run did reach the subnormals
    np.testing.assert_array_equal(flushing.data, plain.data)
    np.testing.assert_allclose(flushing.data, weight.detach().numpy(), rtol=1e-6)
