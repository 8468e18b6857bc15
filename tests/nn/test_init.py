"""mn.init: PyTorch's gains and fans, the statistics each init promises, in place, seeded, bad arguments."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.nn import init

from ..strategies import seeds

BIG = (512, 384)            # 196,608 draws: a sample std lands within 0.5% of the true one


# -- gains and fans ----------------------------------------------------------------------------

# torch.nn.init.calculate_gain's table (checked against torch itself in test_training_parity.py).
GAINS = {"linear": 1.0, "relu": math.sqrt(2), "tanh": 5 / 3, "selu": 0.75}


def expected_gain(nonlinearity, a):
    return math.sqrt(2 / (1 + a**2)) if nonlinearity == "leaky_relu" else GAINS[nonlinearity]


@pytest.mark.parametrize("nonlinearity, a", [(name, 0) for name in GAINS] + [("leaky_relu", 0), ("leaky_relu", 0.2)])
def test_calculate_gain_follows_torchs_table(nonlinearity, a):
    assert init.calculate_gain(nonlinearity, a) == pytest.approx(expected_gain(nonlinearity, a), rel=1e-15)
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))    # default slope 0.01


@given(shape=st.lists(st.integers(1, 7), min_size=2, max_size=5).map(tuple))
def test_fans_multiply_the_channels_by_the_receptive_field(shape):
    """Property: a weight (out, in, *kernel) has fan_in = in·k and fan_out = out·k, k = prod(kernel)."""
    kernel = math.prod(shape[2:])
    assert init.calculate_fan_in_and_fan_out(np.empty(shape)) == (shape[1] * kernel, shape[0] * kernel)


def test_fans_of_a_linear_and_a_conv_weight():
    assert init.calculate_fan_in_and_fan_out(mn.Linear(784, 256).weight) == (784, 256)
    assert init.calculate_fan_in_and_fan_out(np.empty((16, 3, 5, 5))) == (3 * 25, 16 * 25)


@pytest.mark.parametrize("shape", [(5,), ()])
def test_fans_of_fewer_than_two_dimensions_are_an_error(shape):
    with pytest.raises(ValueError, match=r"fan in and fan out cannot be computed for a tensor of shape .*fewer than 2"):
        init.calculate_fan_in_and_fan_out(np.empty(shape))
    with pytest.raises(ValueError, match="fewer than 2"):
        init.kaiming_normal_(np.empty(shape), rng=0)


def test_bad_mode_is_an_error_and_mode_case_does_not_matter():
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported, use 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(np.empty((3, 4)), mode="fan_avg")
    upper, lower = np.empty((30, 40)), np.empty((30, 40))
    init.kaiming_uniform_(upper, mode="FAN_OUT", rng=0)
    init.kaiming_uniform_(lower, mode="fan_out", rng=0)
    np.testing.assert_array_equal(upper, lower)


# -- the statistics each init promises -----------------------------------------------------------

def assert_normal_with_std(values, std):
    assert abs(values.mean()) < 0.02 * std
    assert values.std() == pytest.approx(std, rel=0.01)


def assert_uniform_within(values, bound):
    assert values.min() >= -bound and values.max() <= bound
    assert values.max() > 0.99 * bound and values.min() < -0.99 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a", [("relu", 0), ("leaky_relu", 0), ("leaky_relu", 0.2), ("tanh", 0), ("linear", 0)])
def test_kaiming_normal_has_std_gain_over_root_fan(mode, nonlinearity, a):
    weight = mn.Parameter(np.empty(BIG))
    init.kaiming_normal_(weight, a=a, mode=mode, nonlinearity=nonlinearity, rng=0)
    fan = BIG[1] if mode == "fan_in" else BIG[0]
    assert_normal_with_std(weight.data, expected_gain(nonlinearity, a) / math.sqrt(fan))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a", [("relu", 0), ("leaky_relu", math.sqrt(5)), ("selu", 0)])
def test_kaiming_uniform_bound_is_gain_times_root_three_over_fan(mode, nonlinearity, a):
    weight = np.empty((64, 16, 3, 3), np.float32)                # a conv weight: fans count the 3×3 kernel
    init.kaiming_uniform_(weight, a=a, mode=mode, nonlinearity=nonlinearity, rng=1)
    fan = (16 if mode == "fan_in" else 64) * 9
    assert_uniform_within(weight, expected_gain(nonlinearity, a) * math.sqrt(3 / fan))


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_normal_and_uniform_use_both_fans(gain):
    fan_sum = BIG[0] + BIG[1]
    normal, uniform = np.empty(BIG), np.empty(BIG)
    init.xavier_normal_(normal, gain=gain, rng=2)
    init.xavier_uniform_(uniform, gain=gain, rng=3)
    assert_normal_with_std(normal, gain * math.sqrt(2 / fan_sum))
    assert_uniform_within(uniform, gain * math.sqrt(6 / fan_sum))


def test_normal_uniform_and_constants_fill_as_asked():
    values = init.normal_(np.empty(BIG), mean=3.0, std=0.5, rng=5)
    assert values.mean() == pytest.approx(3.0, abs=0.01) and values.std() == pytest.approx(0.5, rel=0.01)
    values = init.uniform_(np.empty(BIG), -2.0, 4.0, rng=6)
    assert values.min() >= -2.0 and values.max() < 4.0 and values.mean() == pytest.approx(1.0, abs=0.02)
    p = mn.Parameter(np.full((2, 3), 7.0))
    assert not init.zeros_(p).data.any()
    assert (init.ones_(p).data == 1).all()
    assert (init.constant_(p, -0.25).data == -0.25).all()


# -- in place, dtype, seeds --------------------------------------------------------------------

INITS = [
    lambda t, rng: init.kaiming_normal_(t, rng=rng),
    lambda t, rng: init.kaiming_uniform_(t, a=math.sqrt(5), rng=rng),
    lambda t, rng: init.xavier_normal_(t, rng=rng),
    lambda t, rng: init.xavier_uniform_(t, rng=rng),
    lambda t, rng: init.normal_(t, rng=rng),
    lambda t, rng: init.uniform_(t, -1, 1, rng=rng),
]
NAMES = ["kaiming_normal_", "kaiming_uniform_", "xavier_normal_", "xavier_uniform_", "normal_", "uniform_"]


@pytest.mark.parametrize("fill", INITS, ids=NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_works_in_place_keeps_dtype_and_returns_its_argument(fill, dtype):
    p = mn.Parameter(np.zeros((6, 5), dtype))
    array, grad = p.data, p.grad
    assert fill(p, 0) is p
    assert p.data is array and p.grad is grad and p.data.dtype == dtype and p.data.any()
    plain = np.zeros((6, 5), dtype)
    assert fill(plain, 0) is plain and plain.any()


@pytest.mark.parametrize("fill", INITS, ids=NAMES)
@given(seed=seeds)
def test_init_is_reproducible_with_a_seed(fill, seed):
    """Property: the same seed (or a Generator in the same state) gives the same values; another seed does not."""
    a, b, c = fill(np.empty((4, 5)), seed), fill(np.empty((4, 5)), np.random.default_rng(seed)), fill(np.empty((4, 5)), seed + 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_init_without_a_seed_ignores_numpys_global_seed():
    np.random.seed(0)
    first = init.normal_(np.empty(10))
    np.random.seed(0)
    assert not np.array_equal(first, init.normal_(np.empty(10)))


def test_mlp_init_param_is_reproducible_and_matches_the_notes():
    model = mn.MLP(xdim=784, hdim=256, ydim=10, rng=0)
    again = mn.MLP(xdim=784, hdim=256, ydim=10, rng=9)
    again.init_param(rng=0)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[key], value)
    assert model.lin_1.weight.data.std() == pytest.approx(math.sqrt(2 / 784), rel=0.02)


# -- bad arguments ------------------------------------------------------------------------------

def test_zero_element_tensors_are_left_alone_with_a_warning_as_in_torch():
    empty = np.empty((0, 4))
    with pytest.warns(UserWarning, match="zero-element tensor is a no-op"):
        assert init.kaiming_normal_(empty) is empty


def test_init_rejects_non_float_targets_bad_rngs_and_bad_ranges():
    with pytest.raises(TypeError, match="init.normal_: expected a Parameter or a float ndarray, got ndarray"):
        init.normal_(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="got list"):
        init.zeros_([0.0, 1.0])
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator, a non-negative int seed or None, got float"):
        init.normal_(np.empty(3), rng=0.5)
    with pytest.raises(ValueError, match="init.uniform_: expected a <= b .*got a=1, b=0"):
        init.uniform_(np.empty(3), 1, 0)
    with pytest.raises(ValueError, match="init.normal_: expected std >= 0, got -1"):
        init.normal_(np.empty(3), 0, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
            init.kaiming_normal_(np.empty((3, 3)), nonlinearity="swish")
