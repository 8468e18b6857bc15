"""PyTorch parity for the training stack: optimizers, init, Dropout and BatchNorm1d.

Float64, to ~1e-10: torch.optim's updates over many steps, torch.nn.init's
gains and fans, torch's Dropout (with the mask torch drew) and BatchNorm1d
over training steps followed by evaluation, running statistics included.
The properties that need no torch live in test_optim.py, test_init.py,
test_dropout.py and test_batchnorm.py, so they run without it.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.nn import init
from manualnet import optim

from ..strategies import random_array
from ..nn.test_batchnorm import random_batchnorm
from ..nn.test_init import BIG
from ..optim.test_optim import gradients, make_parameters, set_gradients
from ..optim.test_optim_parity import step_both
from ..torch_required import import_torch

torch = import_torch()


# -- optimizers -------------------------------------------------------------------------

PARITY_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]


@pytest.mark.parametrize("name, options", PARITY_CASES, ids=[f"{n}-{o}" for n, o in PARITY_CASES])
def test_optimizer_matches_torch_optim_over_twelve_steps(name, options):
    rng = np.random.default_rng(7)
    ours = make_parameters(rng)
    theirs = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ours]
    optimizer = getattr(optim, name)(ours, **options)
    reference = getattr(torch.optim, name)(theirs, **options)
    step_both(ours, theirs, optimizer, reference, rng, steps=12)
    # The state has torch's names and values.
    for index, t in enumerate(theirs):
        expected = reference.state[t]
        saved = optimizer.state_dict()["state"].get(index, {})
        assert set(saved) == set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(saved[key], value.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


def test_parameter_groups_match_torch_with_per_group_options():
    rng = np.random.default_rng(3)
    ours = make_parameters(rng)
    theirs = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ours]

    def groups(params):
        return [{"params": params[:1], "lr": 0.3, "momentum": 0.5}, {"params": params[1:]}]

    optimizer = optim.SGD(groups(ours), lr=0.1, momentum=0.9, weight_decay=0.01)
    reference = torch.optim.SGD(groups(theirs), lr=0.1, momentum=0.9, weight_decay=0.01)
    step_both(ours, theirs, optimizer, reference, rng, steps=10)
    assert optimizer.param_groups[0]["lr"] == 0.3 and optimizer.param_groups[1]["lr"] == 0.1


def test_changing_a_groups_learning_rate_takes_effect_as_in_torch():
    """Schedulers write group["lr"]; the next step must use it."""
    rng = np.random.default_rng(4)
    ours = make_parameters(rng)
    theirs = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ours]
    optimizer, reference = optim.Adam(ours, lr=0.1), torch.optim.Adam(theirs, lr=0.1)
    for step in range(6):
        for group in optimizer.param_groups + reference.param_groups:
            group["lr"] = 0.1 / (step + 1)
        grads = gradients(rng, step)
        set_gradients(ours, grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g.copy())
        optimizer.step()
        reference.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


# -- init ------------------------------------------------------------------------------

TORCH_NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


@pytest.mark.parametrize("nonlinearity", TORCH_NONLINEARITIES)
def test_calculate_gain_equals_torch_for_every_nonlinearity(nonlinearity):
    assert init.calculate_gain(nonlinearity) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity), rel=1e-15)


@pytest.mark.parametrize("slope", [None, 0, 0.2, 1, 3, 0.5])
def test_calculate_gain_leaky_relu_slope_equals_torch(slope):
    assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", slope), rel=1e-15)


@pytest.mark.parametrize("nonlinearity, param", [("identity", None), ("gelu", None), ("softmax", None),
                                                 ("leaky_relu", True), ("leaky_relu", "0.1")])
def test_calculate_gain_rejects_what_torch_rejects(nonlinearity, param):
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain(nonlinearity, param)
    with pytest.raises(ValueError, match="calculate_gain"):
        init.calculate_gain(nonlinearity, param)


@given(shape=st.lists(st.integers(1, 7), min_size=2, max_size=5).map(tuple))
def test_fans_equal_torch_on_2d_to_5d_shapes(shape):
    """Property: (fan_in, fan_out) = (in·k, out·k) with k the receptive field, as torch computes them."""
    ours = init.calculate_fan_in_and_fan_out(np.empty(shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_statistics_agree_with_torchs_own_init():
    """The same shape through torch.nn.init: the sample statistics agree with ours."""
    for ours_init, torch_init in [(init.kaiming_normal_, torch.nn.init.kaiming_normal_),
                                  (init.xavier_uniform_, torch.nn.init.xavier_uniform_)]:
        ours = ours_init(np.empty(BIG), rng=4)
        theirs = torch_init(torch.empty(BIG, dtype=torch.float64)).numpy()
        assert ours.std() == pytest.approx(theirs.std(), rel=0.02)
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.25)


# -- Dropout ---------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_match_torch(p):
    """The masks differ (different RNGs); their statistics agree: keep rate 1 − p, E[y] = x."""
    size = 200_000
    x = np.ones(size)
    ours = mn.Dropout(p, rng=0)(x)
    theirs = torch.nn.functional.dropout(torch.ones(size, dtype=torch.float64), p, training=True).numpy()
    tolerance = 5 * np.sqrt(p * (1 - p) / size)          # five standard deviations of a keep rate
    for y in (ours, theirs):
        assert abs(np.mean(y != 0) - (1 - p)) < tolerance
        assert abs(np.mean(y) - 1.0) < tolerance / (1 - p)
        np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - p)])


def test_dropout_matches_torch_in_train_and_eval_over_several_steps(rng):
    """Torch draws the mask; ours applies the same mask: outputs and input gradients agree."""
    p = 0.3
    ours, theirs = mn.Dropout(p, rng=1), torch.nn.Dropout(p)
    for _ in range(4):
        x = random_array(int(rng.integers(2**31)), (6, 5), margin=0.1)
        G = rng.standard_normal((6, 5))
        x_torch = torch.from_numpy(x.copy()).requires_grad_()
        y_torch = theirs(x_torch)
        (y_torch * torch.from_numpy(G)).sum().backward()
        mask = y_torch.detach().numpy() != 0
        np.testing.assert_allclose(ours(x, mask), y_torch.detach().numpy(), rtol=1e-15, atol=0)
        np.testing.assert_allclose(ours.backward(G), x_torch.grad.numpy(), rtol=1e-15, atol=0)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((6, 5))
    np.testing.assert_array_equal(ours(x), theirs(torch.from_numpy(x)).numpy())


# -- BatchNorm1d and BatchNorm2d --------------------------------------------------------

PARITY_OPTIONS = [
    ({}, (6, 4)),
    ({}, (3, 4, 5)),
    ({}, (3, 4, 2, 3)),
    ({"momentum": None, "bias": False}, (2, 4, 3, 1)),
    ({"bias": False}, (6, 4)),
    ({"momentum": None}, (6, 4)),
    ({"momentum": 0.3, "eps": 1e-3}, (2, 4, 2)),
    ({"affine": False}, (6, 4)),
    ({"track_running_stats": False}, (6, 4)),
]


@pytest.mark.parametrize("options, shape", PARITY_OPTIONS, ids=[f"{o}-{s}" for o, s in PARITY_OPTIONS])
@pytest.mark.slow
def test_batchnorm_matches_torch_over_training_steps_then_eval(options, shape):
    rng = np.random.default_rng(11)
    ours = random_batchnorm(4, 5, ndim=len(shape), **options)
    theirs = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(4, dtype=torch.float64, **options)
    theirs.load_state_dict({key: torch.from_numpy(value) for key, value in ours.state_dict().items()})

    def compare(x):
        G = rng.standard_normal(x.shape)
        x_torch = torch.from_numpy(x.copy()).requires_grad_()
        theirs.zero_grad()
        ours.zero_grad()
        y_torch = theirs(x_torch)
        (y_torch * torch.from_numpy(G)).sum().backward()
        np.testing.assert_allclose(ours(x), y_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.backward(G), x_torch.grad.numpy(), rtol=1e-10, atol=1e-12)
        for name, parameter in ours.named_parameters():
            np.testing.assert_allclose(parameter.grad, getattr(theirs, name).grad.numpy(), rtol=1e-10, atol=1e-12)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12, atol=1e-14, err_msg=key)

    for _ in range(5):
        compare(rng.standard_normal(shape) * 3 + 1)
    ours.eval()
    theirs.eval()
    compare(rng.standard_normal(shape) * 3 + 1)
    if options.get("track_running_stats", True):
        compare(rng.standard_normal((1,) + shape[1:]))    # one sample at a time works in eval


@pytest.mark.slow
def test_network_with_batchnorm_and_dropout_trains_like_torch_then_evaluates_alike():
    """Linear-BatchNorm-ReLU-Dropout-Linear, CrossEntropy, SGD with momentum: 6 steps, then eval.

    Torch applies the mask our Dropout drew, so both compute the same function.
    """
    rng = np.random.default_rng(2)
    p = 0.25
    ours = mn.Sequential(mn.Linear(5, 8, rng=0, dtype=np.float64), random_batchnorm(8, 1), mn.ReLU(),
                         mn.Dropout(p, rng=3), mn.Linear(8, 3, rng=4, dtype=np.float64))
    linear_1, norm, linear_2 = (torch.nn.Linear(5, 8, dtype=torch.float64),
                                torch.nn.BatchNorm1d(8, dtype=torch.float64), torch.nn.Linear(8, 3, dtype=torch.float64))
    theirs = torch.nn.ModuleDict({"0": linear_1, "1": norm, "4": linear_2})
    theirs.load_state_dict({key: torch.from_numpy(value) for key, value in ours.state_dict().items()})

    def torch_forward(x, mask):
        h = torch.relu(norm(linear_1(x)))
        if mask is not None:
            h = h * torch.from_numpy(mask) / (1 - p)
        return linear_2(h)

    optimizer = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    reference = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    criterion, torch_criterion = mn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for _ in range(6):
        x, y = rng.standard_normal((10, 5)), rng.integers(0, 3, size=10)
        optimizer.zero_grad()
        reference.zero_grad()
        loss = criterion(ours(x), y)
        ours.backward(criterion.backward(), need_input_grad=False)
        optimizer.step()
        torch_loss = torch_criterion(torch_forward(torch.from_numpy(x), ours[3].mask), torch.from_numpy(y))
        torch_loss.backward()
        reference.step()
        np.testing.assert_allclose(loss, torch_loss.item(), rtol=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-9, atol=1e-12, err_msg=key)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((7, 5))
    np.testing.assert_allclose(ours(x), torch_forward(torch.from_numpy(x), None).detach().numpy(), rtol=1e-9, atol=1e-12)
