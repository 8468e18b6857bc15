"""SGD, Adam, AdamW: the algorithms' properties, in-place updates, state dicts and bad arguments.

Parity with torch.optim is in test_training_parity.py.
"""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet import optim

from ..strategies import random_array, seeds
from ..torch_required import import_torch

SHAPES = [(3, 4), (4,), (2, 3, 2)]

def make_parameters(rng, dtype=np.float64):
    return [mn.Parameter(rng.standard_normal(shape), dtype=dtype) for shape in SHAPES]


def gradients(rng, step):
    """Random gradients whose scale jumps between steps, so AMSGrad's running max matters."""
    scale = 3.0 if step % 3 == 0 else 0.2
    return [scale * rng.standard_normal(shape) for shape in SHAPES]


def set_gradients(params, grads):
    for p, g in zip(params, grads):
        p.zero_grad()
        p.grad += g


def run_steps(optimizer, params, rng, steps):
    for step in range(steps):
        optimizer.zero_grad()
        set_gradients(params, gradients(rng, step))
        optimizer.step()


# -- PyTorch parity ------------------------------------------------------------

# -- the algorithms' properties --------------------------------------------------

def test_adam_increments_step_once_per_step():
    """tinygrad's first Adam bumped t once per parameter; t must count calls to step()."""
    rng = np.random.default_rng(0)
    params = make_parameters(rng)
    optimizer = optim.Adam(params)
    run_steps(optimizer, params, rng, steps=5)
    assert [optimizer.state[p]["step"] for p in params] == [5, 5, 5]


def test_sgd_first_momentum_buffer_is_the_gradient():
    """PyTorch starts the buffer at g₁ (eq. 3), not at (1 − τ) g₁ or 0."""
    p = mn.Parameter(np.array([1.0, -2.0]))
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad[...] = [0.4, 0.2]
    optimizer.step()
    np.testing.assert_array_equal(optimizer.state[p]["momentum_buffer"], [0.4, 0.2])
    np.testing.assert_allclose(p.data, [1.0 - 0.04, -2.0 - 0.02])


@given(momentum=st.floats(0.1, 0.99), dampening=st.floats(0.0, 0.9), steps=st.integers(1, 8), seed=seeds)
def test_sgd_momentum_buffer_is_a_weighted_sum_of_past_gradients(momentum, dampening, steps, seed):
    """Property: b_t = μ^(t−1) g₁ + (1 − τ) Σ_{k=2..t} μ^(t−k) g_k (the closed form in optimizers.md)."""
    rng = np.random.default_rng(seed)
    p = mn.Parameter(rng.standard_normal(3))
    optimizer = optim.SGD([p], lr=0.01, momentum=momentum, dampening=dampening)
    grads = rng.standard_normal((steps, 3))
    for g in grads:
        p.zero_grad()
        p.grad += g
        optimizer.step()
    weights = [momentum ** (steps - 1)] + [(1 - dampening) * momentum ** (steps - k) for k in range(2, steps + 1)]
    np.testing.assert_allclose(optimizer.state[p]["momentum_buffer"], np.dot(weights, grads), rtol=1e-12)


@given(scale=st.floats(1e-3, 1e3), seed=seeds)
def test_adam_first_step_moves_each_weight_by_lr_whatever_the_gradient_scale(scale, seed):
    """Property: bias correction makes m̂₁ = g and v̂₁ = g², so the first step is lr·g/(|g| + ε) ≈ lr·sign(g)."""
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(5)
    grad = scale * random_array(seed, 5, margin=0.1)
    p = mn.Parameter(start)
    optimizer = optim.Adam([p], lr=0.01)
    p.grad += grad
    optimizer.step()
    np.testing.assert_allclose(start - p.data, 0.01 * grad / (np.abs(grad) + 1e-8), rtol=1e-9)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_with_zero_gradients_only_decays_the_weights(amsgrad):
    """With g = 0 the Adam part is 0/(0 + ε) = 0: θ_t = θ₀ (1 − γλ)^t exactly (eq. 14)."""
    start = np.array([[1.5, -2.0], [0.25, 3.0]])
    p = mn.Parameter(start)
    optimizer = optim.AdamW([p], lr=0.1, weight_decay=0.2, amsgrad=amsgrad)
    for _ in range(4):
        optimizer.step()
    np.testing.assert_allclose(p.data, start * (1 - 0.1 * 0.2) ** 4, rtol=1e-14)


def test_adam_weight_decay_is_an_l2_gradient_unlike_adamw():
    """Adam's decay enters g (eq. 2): for g = 0 its first step is lr·sign(θ), not θ·γλ."""
    p, q = mn.Parameter(np.array([2.0, -0.5])), mn.Parameter(np.array([2.0, -0.5]))
    optim.Adam([p], lr=0.1, weight_decay=0.2).step()
    optim.AdamW([q], lr=0.1, weight_decay=0.2).step()
    np.testing.assert_allclose(p.data, [2.0 - 0.1, -0.5 + 0.1], rtol=1e-7)
    np.testing.assert_allclose(q.data, [2.0 * 0.98, -0.5 * 0.98], rtol=1e-14)


def test_amsgrad_uses_the_largest_second_moment_seen():
    p = mn.Parameter(np.array([0.0]))
    optimizer = optim.Adam([p], lr=0.1, betas=(0.5, 0.5), amsgrad=True)
    for g in (4.0, 0.0):
        p.zero_grad()
        p.grad += g
        optimizer.step()
    state = optimizer.state[p]
    np.testing.assert_allclose(state["exp_avg_sq"], [4.0])        # 0.5 · 8
    np.testing.assert_allclose(state["max_exp_avg_sq"], [8.0])    # 0.5 · 16, kept


def test_worked_examples_of_optimizers_page():
    """The numbers of derivations/optimizers.md's worked example."""
    p = mn.Parameter(np.array([1.0]))
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    path = []
    for _ in range(3):
        p.zero_grad()
        p.grad += 1.0
        sgd.step()
        path.append(p.data[0])
    np.testing.assert_allclose(sgd.state[p]["momentum_buffer"], [2.71])
    np.testing.assert_allclose(path, [0.9, 0.71, 0.439])

    q = mn.Parameter(np.array([1.0]))
    adam = optim.Adam([q], lr=0.1)
    q.grad += 0.5
    adam.step()
    np.testing.assert_allclose(adam.state[q]["exp_avg"], [0.05])
    np.testing.assert_allclose(adam.state[q]["exp_avg_sq"], [0.00025])
    np.testing.assert_allclose(q.data, [0.9], rtol=1e-7)


# -- in place, dtypes, zero_grad ---------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: optim.Adam(ps, amsgrad=True, weight_decay=0.1),
    lambda ps: optim.AdamW(ps),
], ids=["SGD", "Adam", "AdamW"])
def test_step_updates_parameters_and_state_in_place_and_keeps_dtype(make):
    rng = np.random.default_rng(1)
    params = make_parameters(rng, dtype=np.float32)
    optimizer = make(params)
    arrays = [p.data for p in params]
    run_steps(optimizer, params, rng, steps=1)
    state_arrays = [id(v) for p in params for v in optimizer.state[p].values() if isinstance(v, np.ndarray)]
    before = [p.data.copy() for p in params]
    run_steps(optimizer, params, rng, steps=2)
    assert all(p.data is array for p, array in zip(params, arrays))
    assert state_arrays == [id(v) for p in params for v in optimizer.state[p].values() if isinstance(v, np.ndarray)]
    assert all(not np.array_equal(p.data, old) for p, old in zip(params, before))
    assert all(v.dtype == np.float32 for p in params for v in optimizer.state[p].values() if isinstance(v, np.ndarray))
    assert all(p.data.dtype == np.float32 for p in params)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_step_allocates_no_parameter_sized_array(amsgrad):
    """The moments and θ change in place and intermediates reuse one work array."""
    p = mn.Parameter(np.random.default_rng(0).standard_normal(250_000))    # 2 MB
    optimizer = optim.Adam([p], amsgrad=amsgrad)
    p.grad += 1.0
    optimizer.step()                       # the first step allocates the state
    tracemalloc.start()
    try:
        optimizer.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes / 4


def test_zero_grad_clears_gradients_in_place():
    rng = np.random.default_rng(2)
    params = make_parameters(rng)
    grads = [p.grad for p in params]
    set_gradients(params, gradients(rng, 0))
    optim.SGD(params, lr=0.1).zero_grad()
    assert all(p.grad is g and not g.any() for p, g in zip(params, grads))


def test_optimizer_accepts_a_generator_and_a_single_parameter_group():
    model = mn.MLP(4, 3, 2, rng=0)
    optimizer = optim.SGD((p for p in model.parameters()), lr=0.1)
    assert optimizer.parameters() == model.parameters()
    grouped = optim.SGD([{"params": model.lin_1.weight}], lr=0.1)
    assert grouped.parameters() == [model.lin_1.weight]
    grouped.add_param_group({"params": model.lin_2.parameters(), "lr": 0.5})
    assert grouped.param_groups[1]["lr"] == 0.5 and grouped.param_groups[1]["momentum"] == 0.0


# -- what step() refuses, and what it lets through as PyTorch does ------------------------

OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.01),
    lambda ps: optim.AdamW(ps, lr=0.01),
]


def snapshot(optimizer, params):
    return [p.data.copy() for p in params], optimizer.state_dict()


def assert_unchanged(optimizer, params, before):
    data, state = before
    for p, old in zip(params, data):
        np.testing.assert_array_equal(p.data, old)
    after = optimizer.state_dict()
    assert after["state"].keys() == state["state"].keys()
    for index, entries in state["state"].items():
        for name, value in entries.items():
            np.testing.assert_array_equal(after["state"][index][name], value)


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["SGD", "Adam", "AdamW"])
@pytest.mark.parametrize("bad_grad, error, message", [
    (np.ones((1, 3, 2)), ValueError, r"shape \(1, 3, 2\), but the parameter's shape is \(2, 3, 2\) \(NumPy would broadcast"),
    (np.ones(2), ValueError, r"shape \(2,\), but the parameter's shape is \(2, 3, 2\)"),
    (np.float64(1.0), TypeError, "type float64, not a numpy.ndarray"),
    (np.ones((2, 3, 2), np.float32), TypeError, "dtype float32, but the parameter's dtype is float64"),
    (None, TypeError, r"type NoneType, not a numpy.ndarray; .*clear it with zero_grad\(\), not p.grad = None"),
    ([[1.0] * 2] * 3, TypeError, "type list, not a numpy.ndarray"),
])
def test_step_refuses_a_grad_that_does_not_fit_its_parameter_and_changes_nothing(make, bad_grad, error, message):
    """A user-assigned .grad of the wrong shape would broadcast silently; the step names the parameter instead."""
    rng = np.random.default_rng(3)
    params = make_parameters(rng)
    optimizer = make([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}])
    run_steps(optimizer, params, rng, steps=2)
    before = snapshot(optimizer, params)
    params[2].grad = bad_grad
    with pytest.raises(error, match=r"\.step: parameter 2 \(group 1, position 0\) has a \.grad of " + message):
        optimizer.step()
    assert_unchanged(optimizer, params, before)


def test_a_non_finite_gradient_is_applied_as_pytorch_applies_it():
    """The documented choice: step() checks shapes, not values; NaN and inf reach the weights, as in torch.optim."""
    for make in OPTIMIZERS:
        p = mn.Parameter(np.array([1.0, 2.0, 3.0]))
        optimizer = make([p])
        p.grad[...] = [np.nan, 0.5, np.inf]
        with np.errstate(invalid="ignore"):          # Adam's inf / inf: NumPy warns, PyTorch does not
            optimizer.step()
        assert np.isnan(p.data[0]) and np.isfinite(p.data[1]) and p.data[1] < 2.0
        assert not np.isfinite(p.data[2])


def test_a_non_finite_gradient_gives_what_torch_optim_gives():
    torch = import_torch()
    grad = [np.nan, 0.5, np.inf, -np.inf]
    pairs = [(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
             (lambda ps: optim.Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01))]
    for mine, theirs in pairs:
        p = mn.Parameter(np.array([1.0, 2.0, 3.0, 4.0]))
        q = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, requires_grad=True)
        step_mine, step_theirs = mine([p]), theirs([q])
        for _ in range(2):
            p.grad[...] = grad
            q.grad = torch.tensor(grad, dtype=torch.float64)
            with np.errstate(invalid="ignore"):
                step_mine.step()
            step_theirs.step()
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, equal_nan=True)


# -- bad arguments -------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.SGD(ps, lr=-0.1), r"SGD: expected a finite learning rate >= 0, got -0.1"),
    (lambda ps: optim.SGD(ps, lr=float("nan")), r"finite learning rate >= 0, got nan"),
    (lambda ps: optim.Adam(ps, lr=float("inf")), r"Adam: expected a finite learning rate >= 0, got inf"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), r"SGD: invalid momentum -0.5"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1e-4), r"SGD: invalid weight_decay -0.0001"),
    (lambda ps: optim.SGD(ps, lr=0.1, dampening=float("inf")), r"SGD: invalid dampening inf"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), r"Nesterov momentum requires momentum > 0 and dampening = 0, got momentum=0.0"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), r"dampening=0.1"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), r"Adam: invalid beta parameter at index 0: 1.0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"invalid beta parameter at index 1: -0.1"),
    (lambda ps: optim.Adam(ps, betas=0.9), r"expected betas to be a pair"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), r"Adam: invalid eps -1e-08"),
    (lambda ps: optim.AdamW(ps, weight_decay=-0.01), r"AdamW: invalid weight_decay -0.01"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -1.0}], lr=0.1), r"got -1.0"),
    (lambda ps: optim.SGD([{"params": ps, "lr": 0.1}], lr=-2.0), r"got -2.0"),
])
def test_bad_hyper_parameters_are_rejected_naming_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make(make_parameters(np.random.default_rng(0)))


def test_flags_must_be_booleans():
    with pytest.raises(TypeError, match="expected amsgrad to be True or False, got 'yes'"):
        optim.Adam(make_parameters(np.random.default_rng(0)), amsgrad="yes")


def test_bad_parameter_lists_are_rejected_with_the_fix():
    model = mn.MLP(4, 3, 2, rng=0)
    p = model.lin_1.weight
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"got a MLP module; pass model.parameters\(\)"):
        optim.SGD(model, lr=0.1)
    with pytest.raises(TypeError, match="got a single Parameter"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="expected Parameters, got ndarray at position 1"):
        optim.SGD([p, np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match=r"named_parameters\(\)"):
        optim.Adam(model.named_parameters())
    with pytest.raises(ValueError, match=r"the same Parameter \(3, 4\) appears twice, at positions 0 and 2"):
        optim.Adam([p, model.lin_1.bias, p])
    with pytest.raises(ValueError, match="appears in more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": model.parameters()}])
    with pytest.raises(TypeError, match="not a set"):
        optim.Adam(set(model.parameters()))
    with pytest.raises(TypeError, match="a mix of dicts and Parameters"):
        optim.Adam([{"params": [p]}, model.lin_2.weight])
    with pytest.raises(ValueError, match="needs a 'params' entry"):
        optim.Adam([{"lr": 0.1}])
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['learning_rate'\]"):
        optim.Adam([{"params": [p], "learning_rate": 0.1}])


# -- state dicts ----------------------------------------------------------------------

def train_mlp(model, optimizer, batches):
    criterion = mn.CrossEntropyLoss()
    for x, y in batches:
        optimizer.zero_grad()
        criterion(model(x), y)
        model.backward(criterion.backward())
        optimizer.step()


def mlp_batches(seed, count):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 6)), rng.integers(0, 3, size=8)) for _ in range(count)]


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
], ids=["SGD", "Adam", "AdamW"])
def test_state_dict_round_trip_resumes_training_identically(make):
    batches = mlp_batches(5, 8)
    straight = mn.MLP(6, 5, 3, rng=1, dtype=np.float64)
    train_mlp(straight, make(straight.parameters()), batches)

    first = mn.MLP(6, 5, 3, rng=1, dtype=np.float64)
    first_optimizer = make(first.parameters())
    train_mlp(first, first_optimizer, batches[:3])
    resumed = mn.MLP(6, 5, 3, rng=99, dtype=np.float64)
    resumed.load_state_dict(first.state_dict())
    resumed_optimizer = make(resumed.parameters())
    resumed_optimizer.load_state_dict(first_optimizer.state_dict())
    train_mlp(resumed, resumed_optimizer, batches[3:])
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_state_dict_is_a_copy_in_torch_layout():
    rng = np.random.default_rng(0)
    params = make_parameters(rng)
    optimizer = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.1}])
    assert optimizer.state_dict()["state"] == {}
    run_steps(optimizer, params, rng, steps=2)
    saved = optimizer.state_dict()
    assert [group["params"] for group in saved["param_groups"]] == [[0, 1], [2]]
    assert saved["param_groups"][1]["lr"] == 0.1 and saved["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(saved["state"]) == {0, 1, 2} and saved["state"][0]["step"] == 2
    saved["state"][0]["exp_avg"] += 1.0
    assert not np.array_equal(optimizer.state[params[0]]["exp_avg"], saved["state"][0]["exp_avg"])


def test_load_state_dict_casts_arrays_and_accepts_a_torch_style_step():
    p = mn.Parameter(np.zeros(2, np.float32))
    optimizer = optim.Adam([p])
    optimizer.load_state_dict({
        "state": {0: {"step": np.array(3.0, np.float32), "exp_avg": np.ones(2), "exp_avg_sq": np.ones(2)}},
        "param_groups": [{"lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                          "params": [0]}],
    })
    state = optimizer.state[p]
    assert state["step"] == 3 and isinstance(state["step"], int)
    assert state["exp_avg"].dtype == np.float32
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.99) and optimizer.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("tamper, message", [
    (lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), r"has 2 parameter group\(s\), this optimizer has 1"),
    (lambda sd: sd["param_groups"][0]["params"].pop(), r"group 0 has 2 parameter\(s\), this optimizer's has 3"),
    (lambda sd: sd["param_groups"][0].update(lr=-1.0), r"finite learning rate >= 0, got -1.0"),
    (lambda sd: sd["param_groups"][0].pop("eps"), r"lacks option\(s\) \['eps'\]"),
    (lambda sd: sd["param_groups"][0].update(momentum=0.9), r"unknown option\(s\) \['momentum'\]"),
    (lambda sd: sd["state"][1].update(exp_avg=np.zeros(5)), r"state of parameter 1: 'exp_avg' must be a real array of the parameter's shape \(4,\), got shape \(5,\)"),
    (lambda sd: sd["state"][0].pop("exp_avg_sq"), r"state of parameter 0: expected entries \['step', 'exp_avg', 'exp_avg_sq'\]"),
    (lambda sd: sd["state"][0].update(step=2.5), r"'step' must be a whole number >= 0, got 2.5"),
    (lambda sd: sd["state"][0]["exp_avg"].__setitem__((1, 2), np.nan),
     r"state of parameter 0: 'exp_avg' holds 1 NaN or infinite value\(s\); a saved state is finite"),
    (lambda sd: sd["state"][1]["exp_avg_sq"].__setitem__(3, np.inf), r"'exp_avg_sq' holds 1 NaN or infinite value"),
    (lambda sd: sd["state"][2]["exp_avg_sq"].__setitem__((0, 0, 0), -1e-3),
     r"state of parameter 2: 'exp_avg_sq' holds negative values \(the smallest -0.001\); it is an average of squared"),
    (lambda sd: sd["state"][1].update(exp_avg=[[1.0, 2.0], [3.0]]),
     r"state of parameter 1: 'exp_avg' is not a rectangular array of numbers"),
    (lambda sd: sd["state"][1].update(step=[1, [2]]), r"'step' is not a rectangular array of numbers"),
    (lambda sd: sd["state"].update({7: {}}), r"state for parameter 7, which no saved group lists"),
    (lambda sd: sd.pop("state"), r"expected a dict with keys 'state' and 'param_groups'"),
])
def test_load_state_dict_rejects_mismatched_state_and_changes_nothing(tamper, message):
    rng = np.random.default_rng(0)
    params = make_parameters(rng)
    optimizer = optim.Adam(params, lr=0.01)
    run_steps(optimizer, params, rng, steps=2)
    saved = optimizer.state_dict()
    tamper(saved)
    before = optimizer.state_dict()
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(saved)
    after = optimizer.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for index, entries in before["state"].items():
        for key, value in entries.items():
            np.testing.assert_array_equal(after["state"][index][key], value)


def test_load_state_dict_checks_amsgrad_maximum_and_lets_a_momentum_buffer_be_negative():
    p = mn.Parameter(np.zeros(2))
    amsgrad = optim.Adam([p], amsgrad=True)
    saved = {"state": {0: {"step": 1, "exp_avg": np.zeros(2), "exp_avg_sq": np.ones(2),
                           "max_exp_avg_sq": np.array([1.0, -1.0])}},
             "param_groups": amsgrad.state_dict()["param_groups"]}
    with pytest.raises(ValueError, match="'max_exp_avg_sq' holds negative values"):
        amsgrad.load_state_dict(saved)
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    sgd.load_state_dict({"state": {0: {"momentum_buffer": np.array([-1.0, 2.0])}},
                         "param_groups": sgd.state_dict()["param_groups"]})
    assert sgd.state[p]["momentum_buffer"].tolist() == [-1.0, 2.0]


def test_load_state_dict_takes_torch_tensors_but_not_ones_that_require_grad():
    torch = import_torch()
    p = mn.Parameter(np.zeros(2))
    optimizer = optim.Adam([p])
    groups = optimizer.state_dict()["param_groups"]

    def saved(exp_avg):
        return {"state": {0: {"step": torch.tensor(2.0), "exp_avg": exp_avg, "exp_avg_sq": torch.ones(2)}},
                "param_groups": groups}

    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state of parameter 0: 'exp_avg' is a torch tensor "
                                         r"that requires grad; .* pass value.detach\(\)"):
        optimizer.load_state_dict(saved(torch.ones(2, requires_grad=True)))
    assert optimizer.state == {}
    optimizer.load_state_dict(saved(torch.ones(2, requires_grad=True).detach()))
    assert optimizer.state[p]["step"] == 2 and optimizer.state[p]["exp_avg"].tolist() == [1.0, 1.0]


def test_repr_lists_each_group():
    text = repr(optim.SGD(make_parameters(np.random.default_rng(0)), lr=0.1, momentum=0.9))
    assert text.splitlines()[:3] == ["SGD (", "Parameter Group 0", "    lr: 0.1"]
    assert "    momentum: 0.9" in text


# == RMSprop, Adagrad, maximize, PyTorch's whole signatures ============================

ALL_OPTIMIZERS = {
    "SGD": lambda ps, **kw: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.05, **kw),
    "Adam": lambda ps, **kw: optim.Adam(ps, lr=0.01, weight_decay=0.05, amsgrad=True, **kw),
    "AdamW": lambda ps, **kw: optim.AdamW(ps, lr=0.01, **kw),
    "RMSprop": lambda ps, **kw: optim.RMSprop(ps, momentum=0.5, centered=True, weight_decay=0.05, **kw),
    "Adagrad": lambda ps, **kw: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.05,
                                              initial_accumulator_value=0.1, **kw),
}


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
@given(seed=seeds)
def test_maximize_climbs_as_minimizing_the_negated_gradient_descends(name, seed):
    """Property (eq. 16): maximize=True on g takes exactly the steps of maximize=False on −g."""
    rng = np.random.default_rng(seed)
    climbing, descending = make_parameters(rng), None
    descending = [mn.Parameter(p.data.copy()) for p in climbing]
    up, down = ALL_OPTIMIZERS[name](climbing, maximize=True), ALL_OPTIMIZERS[name](descending)
    for step in range(6):
        grads = gradients(rng, step)
        set_gradients(climbing, grads)
        set_gradients(descending, [-g for g in grads])
        up.step()
        down.step()
    for p, q in zip(climbing, descending):
        np.testing.assert_array_equal(p.data, q.data)


def test_maximize_increases_a_concave_function():
    """f(θ) = −θ²: its gradient −2θ points uphill, and maximize follows it to 0."""
    p = mn.Parameter(np.array([3.0, -2.0]))
    optimizer = optim.SGD([p], lr=0.1, maximize=True)
    for _ in range(50):
        p.zero_grad()
        p.grad += -2 * p.data
        optimizer.step()
    np.testing.assert_allclose(p.data, 0.0, atol=1e-4)


@given(alpha=st.floats(0.5, 0.999), scale=st.floats(1e-3, 1e3), seed=seeds)
def test_rmsprop_first_step_is_lr_over_root_one_minus_alpha(alpha, scale, seed):
    """Property: v₁ = (1 − α) g², so the first step is γ g / (√(1 − α) |g| + ε): no bias correction,
    unlike Adam (eq. 17, 21) — 10γ per weight for α = 0.99, whatever the gradient's scale."""
    grad = scale * random_array(seed, 5, margin=0.1)
    p = mn.Parameter(np.zeros(5))
    optimizer = optim.RMSprop([p], lr=0.01, alpha=alpha)
    p.grad += grad
    optimizer.step()
    np.testing.assert_allclose(-p.data, 0.01 * grad / (np.sqrt(1 - alpha) * np.abs(grad) + 1e-8), rtol=1e-12)


def test_centered_rmsprop_divides_by_the_spread_of_the_gradient():
    """A constant gradient has no spread: v − ḡ² is (1 − α)α g² at step 2, much less than v (eq. 18, 19)."""
    alpha, g = 0.9, 2.0
    plain, centered = mn.Parameter(np.zeros(1)), mn.Parameter(np.zeros(1))
    optimizers = optim.RMSprop([plain], lr=0.1, alpha=alpha), optim.RMSprop([centered], lr=0.1, alpha=alpha,
                                                                             centered=True)
    for _ in range(2):
        for p, optimizer in zip((plain, centered), optimizers):
            p.zero_grad()
            p.grad += g
            optimizer.step()
    v = (1 - alpha) * g**2 * (1 + alpha)                                   # two steps of eq. (17)
    mean = (1 - alpha) * g * (1 + alpha)                                   # two steps of eq. (18)
    np.testing.assert_allclose(optimizers[1].state[centered]["grad_avg"], [mean], rtol=1e-15)
    second_step = 0.1 * g / (np.sqrt(v - mean**2) + 1e-8)
    first_step = 0.1 * g / (np.sqrt((1 - alpha) * g**2 - ((1 - alpha) * g) ** 2) + 1e-8)
    np.testing.assert_allclose(-centered.data, [first_step + second_step], rtol=1e-12)


@given(steps=st.integers(1, 8), lr_decay=st.floats(0, 1), initial=st.floats(0, 2), seed=seeds)
def test_adagrad_sums_squared_gradients_and_decays_its_rate(steps, lr_decay, initial, seed):
    """Property (eq. 22-24): s_t = s₀ + Σ g_k², and step t moves θ by γ/(1 + (t − 1)η) · g_t / (√s_t + ε)."""
    rng = np.random.default_rng(seed)
    p = mn.Parameter(rng.standard_normal(3))
    optimizer = optim.Adagrad([p], lr=0.1, lr_decay=lr_decay, initial_accumulator_value=initial)
    total = np.full(3, initial)
    for t in range(1, steps + 1):
        g = rng.standard_normal(3)
        total += g * g
        before = p.data.copy()
        p.zero_grad()
        p.grad += g
        optimizer.step()
        # before − after is exact only to the rounding of θ itself: a few ulp of |θ|, whatever the step.
        np.testing.assert_allclose(before - p.data, 0.1 / (1 + (t - 1) * lr_decay) * g / (np.sqrt(total) + 1e-10),
                                   rtol=1e-12, atol=4 * np.finfo(np.float64).eps * np.abs(before).max())
    np.testing.assert_allclose(optimizer.state[p]["sum"], total, rtol=1e-13)
    assert optimizer.state[p]["step"] == steps


def test_adagrad_has_state_from_construction_as_pytorch():
    """step 0 and sum s₀ for every parameter before the first step, so state_dict() lists them."""
    params = make_parameters(np.random.default_rng(0))
    state = optim.Adagrad(params, initial_accumulator_value=0.5).state_dict()["state"]
    assert sorted(state) == [0, 1, 2]
    assert all(entry["step"] == 0 and np.all(entry["sum"] == 0.5) for entry in state.values())


def test_optimizer_worked_examples_of_rmsprop_and_adagrad():
    """derivations/optimizers.md: g = 0.5 from θ = 1, lr 0.1."""
    p, q = mn.Parameter(np.array([1.0])), mn.Parameter(np.array([1.0]))
    rmsprop, adagrad = optim.RMSprop([p], lr=0.1), optim.Adagrad([q], lr=0.1)
    p.grad += 0.5
    q.grad += 0.5
    rmsprop.step()
    adagrad.step()
    np.testing.assert_allclose(rmsprop.state[p]["square_avg"], [0.0025], rtol=1e-14)     # 0.01 · 0.25
    np.testing.assert_allclose(p.data, [1 - 0.1 * 0.5 / (0.05 + 1e-8)], rtol=0, atol=1e-15)   # ≈ 0: a step of 1
    np.testing.assert_allclose(q.data, [1 - 0.1 * 0.5 / (0.5 + 1e-10)], rtol=1e-14)      # 0.9: a step of γ


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_every_optimizer_resumes_exactly_from_its_state_dict(name, tmp_path):
    """Save after 3 steps (to a file), load into a fresh optimizer: the next 3 steps are the same bits."""
    rng = np.random.default_rng(5)
    params = make_parameters(rng)
    optimizer = ALL_OPTIMIZERS[name](params)
    run_steps(optimizer, params, rng, steps=3)
    mn.save(optimizer, tmp_path / "optimizer.npz")
    copies = [mn.Parameter(p.data.copy()) for p in params]
    resumed = ALL_OPTIMIZERS[name](copies)
    resumed.load_state_dict(mn.load(tmp_path / "optimizer.npz"))
    step_in_lockstep(optimizer, params, resumed, copies, rng, range(3, 6))


@pytest.mark.parametrize("name, later", [
    ("SGD", ["maximize", "foreach", "differentiable", "fused"]),
    ("Adam", ["maximize", "foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay"]),
    ("AdamW", ["decoupled_weight_decay", "maximize"]),
])
def test_a_state_dict_saved_before_the_new_options_still_loads(name, later):
    """Groups saved without maximize, foreach, ... get the values those saves meant (AdamW: decoupled)."""
    params = make_parameters(np.random.default_rng(0))
    saved = ALL_OPTIMIZERS[name](params).state_dict()
    for group in saved["param_groups"]:
        for option in later:
            del group[option]
    optimizer = ALL_OPTIMIZERS[name](params)
    optimizer.load_state_dict(saved)
    assert optimizer.param_groups[0]["maximize"] is False
    if name != "SGD":
        assert optimizer.param_groups[0]["decoupled_weight_decay"] is (name == "AdamW")


def test_groups_hold_pytorchs_option_names():
    p = mn.Parameter(np.zeros(2))
    assert sorted(optim.SGD([p]).param_groups[0]) == sorted(
        ["params", "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach",
         "differentiable", "fused"])
    assert sorted(optim.RMSprop([p]).param_groups[0]) == sorted(
        ["params", "lr", "momentum", "alpha", "eps", "centered", "weight_decay", "capturable", "foreach",
         "maximize", "differentiable"])
    assert optim.SGD([p]).param_groups[0]["lr"] == 1e-3                         # PyTorch 2.13's default


@pytest.mark.parametrize("build, message", [
    (lambda ps: optim.RMSprop(ps, alpha=-0.1), r"RMSprop: invalid alpha -0.1"),
    (lambda ps: optim.RMSprop(ps, eps=-1.0), r"RMSprop: invalid eps"),
    (lambda ps: optim.RMSprop(ps, momentum=-0.5), r"RMSprop: invalid momentum"),
    (lambda ps: optim.RMSprop(ps, centered=1), r"RMSprop: expected centered to be True or False"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-0.1), r"Adagrad: invalid lr_decay"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1.0), r"Adagrad: invalid initial_accumulator_value"),
    (lambda ps: optim.Adagrad(ps, lr=-1.0), r"Adagrad: expected a finite learning rate >= 0"),
    (lambda ps: optim.SGD(ps, maximize="yes"), r"SGD: expected maximize to be True or False"),
    (lambda ps: optim.Adam(ps, capturable=True), r"Adam: capturable=True captures the step in a CUDA graph"),
    (lambda ps: optim.RMSprop(ps, differentiable=True), r"RMSprop: differentiable=True lets autograd"),
    (lambda ps: optim.Adagrad(ps, foreach=True, fused=True), r"Adagrad: fused and foreach cannot both be True"),
    (lambda ps: optim.SGD([{"params": ps, "differentiable": True}]), r"SGD: differentiable=True"),
])
def test_new_optimizer_arguments_are_checked_by_name(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build(make_parameters(np.random.default_rng(0)))


@pytest.mark.parametrize("flags", [{"foreach": True}, {"foreach": False}, {"fused": True}])
def test_kernel_choices_are_accepted_and_change_nothing(flags):
    """foreach and fused pick PyTorch's kernels; here every choice takes the same steps."""
    rng = np.random.default_rng(3)
    params = make_parameters(rng)
    twins = [mn.Parameter(p.data.copy()) for p in params]
    step_in_lockstep(optim.Adam(params, **flags), params, optim.Adam(twins), twins, rng, range(3))


def step_in_lockstep(first, params, second, twins, rng, steps):
    """Step two optimizers on the same gradients; their parameters must end bit for bit equal."""
    for step in steps:
        grads = gradients(rng, step)
        set_gradients(params, grads)
        set_gradients(twins, grads)
        first.step()
        second.step()
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(p.data, q.data)
