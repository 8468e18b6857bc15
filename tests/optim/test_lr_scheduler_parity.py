"""torch.optim.lr_scheduler parity: the same lrs (and momenta) over 30 steps, equal state dicts, and state
dicts that load across, for hypothesis-drawn arguments.  Skipped without torch, required in CI."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn

from ..strategies import seeds
from ..torch_required import import_torch

torch = import_torch()
STEPS = 30


@st.composite
def scheduler_cases(draw):
    """(scheduler name, arguments, optimizer name, optimizer options) with drawn arguments, 1-2 groups."""
    name = draw(st.sampled_from(["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau"]))
    groups = draw(st.integers(1, 2))
    optimizer = draw(st.sampled_from(["SGD", "Adam", "RMSprop"]))
    options = {"momentum": 0.9} if optimizer == "SGD" else {}
    if name == "StepLR":
        arguments = {"step_size": draw(st.integers(1, 8)), "gamma": draw(st.floats(0.1, 0.99))}
    elif name == "ExponentialLR":
        arguments = {"gamma": draw(st.floats(0.8, 1.0))}
    elif name == "CosineAnnealingLR":
        arguments = {"T_max": draw(st.integers(1, 12)), "eta_min": draw(st.sampled_from([0.0, 0.001]))}
    elif name == "OneCycleLR":
        arguments = {"max_lr": draw(st.sampled_from([0.5, [0.5, 0.2][:groups] if groups == 2 else 0.3])),
                     "total_steps": STEPS + draw(st.integers(0, 5)), "pct_start": draw(st.floats(0.1, 0.6)),
                     "anneal_strategy": draw(st.sampled_from(["cos", "linear"])),
                     "three_phase": draw(st.booleans()), "cycle_momentum": draw(st.booleans()),
                     "div_factor": draw(st.sampled_from([25.0, 10.0])), "final_div_factor": 1e4}
    else:
        arguments = {"mode": draw(st.sampled_from(["min", "max"])), "factor": draw(st.floats(0.1, 0.9)),
                     "patience": draw(st.integers(0, 3)), "threshold": draw(st.sampled_from([1e-4, 0.1])),
                     "threshold_mode": draw(st.sampled_from(["rel", "abs"])), "cooldown": draw(st.integers(0, 2)),
                     "min_lr": draw(st.sampled_from([0.0, 0.005]))}
    return name, arguments, optimizer, options, groups


def twin_schedules(case):
    name, arguments, optimizer_name, options, groups = case
    lrs = [0.1 * (index + 1) for index in range(groups)]
    ours = getattr(mn.optim, optimizer_name)([{"params": [mn.Parameter(np.zeros(2))], "lr": lr} for lr in lrs],
                                             **options)
    theirs = getattr(torch.optim, optimizer_name)(
        [{"params": [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))], "lr": lr} for lr in lrs], **options)
    return (getattr(mn.optim.lr_scheduler, name)(ours, **arguments),
            getattr(torch.optim.lr_scheduler, name)(theirs, **arguments))


def step(scheduler, metric):
    scheduler.optimizer.step()
    if type(scheduler).__name__ == "ReduceLROnPlateau":
        scheduler.step(metric)
    else:
        scheduler.step()


def assert_same(ours, theirs):
    np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, atol=0)
    for group, reference in zip(ours.optimizer.param_groups, theirs.optimizer.param_groups):
        for key in ("lr", "momentum", "betas", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            if key in reference:
                np.testing.assert_allclose(group[key], reference[key], rtol=1e-12, err_msg=key)
    mine, torch_state = ours.state_dict(), theirs.state_dict()
    assert set(mine) == set(torch_state)
    for key, value in mine.items():
        if isinstance(value, float) and math.isinf(value):
            assert value == torch_state[key]
        elif isinstance(value, (float, list)) and key != "_schedule_phases":
            np.testing.assert_allclose(value, torch_state[key], rtol=1e-12, err_msg=key)
        else:
            assert value == torch_state[key], key


@given(case=scheduler_cases(), seed=seeds)
@pytest.mark.slow
def test_scheduler_matches_torch_step_by_step(case, seed):
    ours, theirs = twin_schedules(case)
    metrics = np.random.default_rng(seed).integers(0, 5, STEPS).astype(float)
    assert_same(ours, theirs)
    for metric in metrics:
        step(ours, metric)
        step(theirs, metric)
        assert_same(ours, theirs)


@given(case=scheduler_cases(), seed=seeds)
@pytest.mark.slow
def test_scheduler_state_dicts_load_across_and_the_schedules_go_on_together(case, seed):
    """After 12 steps, torch's state dict into a fresh manualnet scheduler and manualnet's into a fresh torch one."""
    ours, theirs = twin_schedules(case)
    metrics = np.random.default_rng(seed).integers(0, 5, STEPS).astype(float)
    for metric in metrics[:12]:
        step(ours, metric)
        step(theirs, metric)
    resumed_ours, resumed_theirs = twin_schedules(case)
    resumed_ours.optimizer.load_state_dict(ours.optimizer.state_dict())
    resumed_theirs.optimizer.load_state_dict(theirs.optimizer.state_dict())
    resumed_ours.load_state_dict(theirs.state_dict())
    resumed_theirs.load_state_dict(ours.state_dict())
    for metric in metrics[12:]:
        step(resumed_ours, metric)
        step(resumed_theirs, metric)
        assert_same(resumed_ours, resumed_theirs)
