"""Learning-rate schedulers: the closed forms, step() semantics, state dicts and bad arguments (no torch needed).

Parity with torch.optim.lr_scheduler is in test_lr_scheduler_parity.py.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.optim import lr_scheduler

from ..strategies import seeds


def optimizer(lrs=(0.1,), name="SGD", **options):
    """An optimizer with one parameter group per lr."""
    return getattr(mn.optim, name)([{"params": [mn.Parameter(np.zeros(2))], "lr": lr} for lr in lrs], **options)


def lrs_over(scheduler, epochs):
    """[lr of group 0 at epoch t] for t = 0 .. epochs−1, stepping the optimizer before the scheduler."""
    seen = []
    for _ in range(epochs):
        seen.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return seen


def test_the_torch_spellings_import():
    from manualnet.optim.lr_scheduler import StepLR
    assert StepLR is mn.optim.lr_scheduler.StepLR is lr_scheduler.StepLR


@given(step_size=st.integers(1, 6), gamma=st.floats(0.1, 0.99), epochs=st.integers(1, 25))
def test_step_lr_is_base_times_gamma_to_the_floor_of_t_over_step_size(step_size, gamma, epochs):
    """Property (eq. 26): γ_t = γ₀ gamma^⌊t / step_size⌋."""
    seen = lrs_over(lr_scheduler.StepLR(optimizer(), step_size, gamma), epochs)
    np.testing.assert_allclose(seen, [0.1 * gamma ** (t // step_size) for t in range(epochs)], rtol=1e-12)


def test_step_lr_example_of_pytorchs_documentation():
    """lr 0.05, step_size=30, gamma=0.1: 0.05 below epoch 30, 0.005 below 60, 0.0005 below 90."""
    seen = lrs_over(lr_scheduler.StepLR(optimizer((0.05,)), step_size=30, gamma=0.1), 100)
    np.testing.assert_allclose([seen[0], seen[29], seen[30], seen[59], seen[60], seen[89], seen[90]],
                               [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005, 0.00005], rtol=1e-12)


@given(gamma=st.floats(0.5, 1.0), epochs=st.integers(1, 30))
def test_exponential_lr_is_base_times_gamma_to_the_t(gamma, epochs):
    """Property (eq. 27)."""
    seen = lrs_over(lr_scheduler.ExponentialLR(optimizer(), gamma), epochs)
    np.testing.assert_allclose(seen, [0.1 * gamma**t for t in range(epochs)], rtol=1e-12)


@given(period=st.integers(1, 12), eta_min=st.sampled_from([0.0, 0.01]), epochs=st.integers(1, 40))
def test_cosine_annealing_recursion_follows_the_closed_form_also_past_t_max(period, eta_min, epochs):
    """Property: eq. (29)-(30) (the lr from the previous one) give eq. (28) at every epoch, down and back up."""
    seen = lrs_over(lr_scheduler.CosineAnnealingLR(optimizer(), period, eta_min), epochs)
    closed = [eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * t / period)) / 2 for t in range(epochs)]
    np.testing.assert_allclose(seen, closed, rtol=1e-10, atol=1e-15)


def test_cosine_annealing_carries_a_change_made_from_outside():
    """The recursion scales what is there: halve the lr at epoch 5 and the rest of the schedule follows the change."""
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer(), T_max=10)
    lrs_over(scheduler, 5)
    scheduler.optimizer.param_groups[0]["lr"] /= 2
    before = scheduler.optimizer.param_groups[0]["lr"]
    scheduler.step()
    ratio = (1 + math.cos(math.pi * 6 / 10)) / (1 + math.cos(math.pi * 5 / 10))
    assert scheduler.get_last_lr()[0] == pytest.approx(before * ratio, rel=1e-12)


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_starts_peaks_and_ends_where_it_should(three_phase, anneal):
    """Eq. (31)-(32): from max_lr/div_factor up to max_lr at step pct·T − 1, down to
    initial_lr/final_div_factor at step T − 1; SGD's momentum goes the other way."""
    scheduler = lr_scheduler.OneCycleLR(optimizer(name="SGD", momentum=0.9), max_lr=1.0, total_steps=100,
                                        anneal_strategy=anneal, three_phase=three_phase)
    lrs, momenta = [], []
    for _ in range(100):
        lrs.append(scheduler.get_last_lr()[0])
        momenta.append(scheduler.optimizer.param_groups[0]["momentum"])
        scheduler.optimizer.step()
        if len(lrs) < 100:
            scheduler.step()
    assert lrs[0] == pytest.approx(1.0 / 25) and momenta[0] == pytest.approx(0.95)
    assert lrs[29] == pytest.approx(1.0) and momenta[29] == pytest.approx(0.85)
    assert max(lrs) == pytest.approx(1.0)
    assert lrs[99] == pytest.approx(1.0 / 25 / 1e4) and momenta[99] == pytest.approx(0.95)
    if three_phase:
        assert lrs[58] == pytest.approx(1.0 / 25)                                  # back to initial_lr at 2·pct·T − 2
    with pytest.raises(ValueError, match=r"OneCycleLR: tried to step 101 times; the schedule has total_steps=100"):
        scheduler.step()
        scheduler.step()


def test_one_cycle_cycles_adams_beta1_and_writes_its_keys_into_the_groups():
    scheduler = lr_scheduler.OneCycleLR(optimizer(name="Adam"), max_lr=0.01, epochs=2, steps_per_epoch=5)
    group = scheduler.optimizer.param_groups[0]
    assert group["betas"] == (0.95, 0.999)
    assert {key: group[key] for key in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")} == \
        {"initial_lr": 0.01 / 25, "max_lr": 0.01, "min_lr": 0.01 / 25 / 1e4, "max_momentum": 0.95, "base_momentum": 0.85}


@pytest.mark.parametrize("mode, metrics, expected", [
    # patience 2: the 3rd bad epoch in a row cuts the lr; cooldown 1 ignores the next one.
    ("min", [5.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 4.0], [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025]),
    ("max", [0.5, 0.4, 0.4, 0.4, 0.9, 0.9], [0.1, 0.1, 0.1, 0.05, 0.05, 0.05]),
])
def test_reduce_on_plateau_cuts_after_patience_bad_epochs(mode, metrics, expected):
    """Eq. (33): more than ``patience`` epochs without improvement cut the lr by ``factor``."""
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer(), mode=mode, factor=0.5, patience=2, cooldown=1)
    seen = []
    for metric in metrics:
        scheduler.optimizer.step()
        scheduler.step(metric)
        seen.append(scheduler.get_last_lr()[0])
    np.testing.assert_allclose(seen, expected, rtol=1e-15)


def test_reduce_on_plateau_respects_min_lr_and_eps():
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer((0.1, 1e-8)), factor=0.1, patience=0, min_lr=[0.05, 0.0])
    scheduler.step(1.0)
    scheduler.step(2.0)                            # bad: 0.1 -> max(0.01, 0.05); 1e-8 -> 1e-9 changes by < eps
    assert scheduler.get_last_lr() == [0.05, 1e-8]


def test_construction_is_epoch_zero_and_keeps_the_lr():
    opt = optimizer((0.1, 0.3))
    scheduler = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert scheduler.last_epoch == 0 and scheduler.get_last_lr() == [0.1, 0.3]
    assert [group["initial_lr"] for group in opt.param_groups] == scheduler.base_lrs == [0.1, 0.3]


def test_stepping_the_scheduler_before_the_optimizer_warns_as_pytorch():
    scheduler = lr_scheduler.StepLR(optimizer(), step_size=1)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        scheduler.step()
    scheduler = lr_scheduler.StepLR(optimizer(), step_size=1)
    scheduler.optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


def test_get_lr_outside_step_warns_to_use_get_last_lr():
    scheduler = lr_scheduler.StepLR(optimizer(), step_size=2)
    with pytest.warns(UserWarning, match=r"please use `get_last_lr\(\)`"):
        scheduler.get_lr()


@pytest.mark.parametrize("build", [
    lambda opt: lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
    lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.9),
    lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.001),
    lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=[0.5, 1.0], total_steps=20, three_phase=True),
    lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=1, min_lr=[0.0, 0.01]),
], ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau"])
@given(seed=seeds)
@pytest.mark.slow
def test_a_schedule_resumes_from_its_state_dict_through_a_file(build, seed, tmp_path_factory):
    """Save optimizer and scheduler after 6 epochs, load both into fresh ones: the next 8 epochs give the same lrs."""
    path = tmp_path_factory.mktemp("schedule") / "checkpoint.npz"
    metrics = np.random.default_rng(seed).integers(0, 4, 14).astype(float)

    def advance(scheduler, epochs):
        for epoch in epochs:
            scheduler.optimizer.step()
            scheduler.step(metrics[epoch]) if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau) else scheduler.step()
            yield scheduler.get_last_lr()

    scheduler = build(optimizer((0.1, 0.2), momentum=0.9))
    list(advance(scheduler, range(6)))
    mn.save({"optimizer": scheduler.optimizer.state_dict(), "scheduler": scheduler.state_dict()}, path)
    expected = list(advance(scheduler, range(6, 14)))
    checkpoint = mn.load(path)
    fresh = optimizer((0.1, 0.2), momentum=0.9)
    resumed = build(fresh)
    fresh.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["scheduler"])
    assert list(advance(resumed, range(6, 14))) == expected


def test_state_dict_is_a_copy():
    scheduler = lr_scheduler.StepLR(optimizer(), step_size=1)
    saved = scheduler.state_dict()
    scheduler.optimizer.step()
    scheduler.step()
    assert saved["last_epoch"] == 0 and saved["_last_lr"] == [0.1]


@pytest.mark.parametrize("change, message", [
    ({"last_epoch": 1.5}, r"'last_epoch' must be a whole number"),
    ({"base_lrs": [0.1, 0.2]}, r"'base_lrs' must be a list of 1 entries"),
    ({"gamma": float("nan")}, r"'gamma' must be a finite number"),
    ({"step_size": 0}, r"expected step_size to be an integer >= 1"),
    ({"extra": 1}, r"unexpected \['extra'\]"),
])
def test_load_state_dict_refuses_a_bad_state_and_changes_nothing(change, message):
    scheduler = lr_scheduler.StepLR(optimizer(), step_size=2)
    before = scheduler.state_dict()
    with pytest.raises((ValueError, TypeError), match=message):
        scheduler.load_state_dict({**before, **change})
    assert scheduler.state_dict() == before


@pytest.mark.parametrize("build, error, message", [
    (lambda: lr_scheduler.StepLR([], step_size=1), TypeError, r"StepLR: expected a manualnet optimizer"),
    (lambda: lr_scheduler.StepLR(optimizer(), step_size=0), ValueError, r"StepLR: expected step_size to be an integer >= 1"),
    (lambda: lr_scheduler.ExponentialLR(optimizer(), gamma=float("inf")), ValueError, r"gamma to be a finite number"),
    (lambda: lr_scheduler.CosineAnnealingLR(optimizer(), T_max=2.5), ValueError, r"T_max to be an integer >= 1"),
    (lambda: lr_scheduler.StepLR(optimizer(), step_size=1, last_epoch=3), ValueError,
     r"last_epoch=3 resumes a schedule, but parameter group 0 has no 'initial_lr'"),
    (lambda: lr_scheduler.OneCycleLR(optimizer(), max_lr=1.0), ValueError,
     r"give total_steps, or both epochs and steps_per_epoch"),
    (lambda: lr_scheduler.OneCycleLR(optimizer(), max_lr=1.0, total_steps=10, pct_start=1.5), ValueError,
     r"pct_start.*in \[0, 1\]"),
    (lambda: lr_scheduler.OneCycleLR(optimizer(), max_lr=1.0, total_steps=10, anneal_strategy="exp"), ValueError,
     r"anneal_strategy must be 'cos' or 'linear'"),
    (lambda: lr_scheduler.OneCycleLR(optimizer(), max_lr=[1.0, 2.0], total_steps=10), ValueError,
     r"max_lr lists 2 values for 1 parameter groups"),
    (lambda: lr_scheduler.OneCycleLR(optimizer(name="Adagrad"), max_lr=1.0, total_steps=10), ValueError,
     r"cycle_momentum=True needs an optimizer with momentum or betas.*Adagrad"),
    (lambda: lr_scheduler.ReduceLROnPlateau(optimizer(), factor=1.0), ValueError, r"factor must be < 1.0"),
    (lambda: lr_scheduler.ReduceLROnPlateau(optimizer(), mode="low"), ValueError, r"mode must be 'min'"),
    (lambda: lr_scheduler.ReduceLROnPlateau(optimizer(), threshold_mode="x"), ValueError, r"threshold_mode must be"),
    (lambda: lr_scheduler.ReduceLROnPlateau(optimizer()).step("low"), TypeError, r"expected the metric to watch"),
    (lambda: lr_scheduler.ReduceLROnPlateau(optimizer()).step(1.0, epoch=3), TypeError, r"step\(epoch\) is deprecated"),
])
def test_bad_scheduler_arguments_are_refused_by_name(build, error, message):
    with pytest.raises(error, match=message):
        build()
