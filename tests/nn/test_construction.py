"""One way to build a layer around given arrays (nn.utils.skip_init, from_arrays), and constructor records."""

import numpy as np
import pytest

import manualnet as mn
from manualnet.nn.utils import from_arrays, skip_init


def test_skip_init_draws_nothing_from_the_generator():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    skip_init(mn.Linear, 30, 20, rng=rng)
    skip_init(mn.LSTM, 3, 4, num_layers=2, rng=rng)
    assert rng.bit_generator.state == before
    mn.Linear(30, 20, rng=rng)                       # the ordinary constructor does draw
    assert rng.bit_generator.state != before


def test_skip_init_leaves_init_working_afterwards():
    skip_init(mn.Linear, 3, 2)
    layer = mn.Linear(3, 2, rng=0)
    assert np.all(layer.weight.data != 0) and np.all(np.abs(layer.weight.data) <= 1 / np.sqrt(3))


def test_from_arrays_shares_the_given_arrays():
    rng = np.random.default_rng(1)
    weight, bias = rng.standard_normal((2, 3)), rng.standard_normal(2)
    layer = from_arrays(mn.Linear, {"weight": weight, "bias": bias}, 3, 2, dtype=np.float64)
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(layer(x), x @ weight.T + bias)
    weight *= 2                                       # shared, not copied
    np.testing.assert_array_equal(layer(x), x @ weight.T + bias)
    assert layer.weight.data is weight and not layer.weight.grad.any()


@pytest.mark.parametrize("arrays, message", [
    ({"weight": np.zeros((3, 2))}, r"expected arrays for \['bias', 'weight'\], got \['weight'\]"),
    ({"weight": np.zeros((3, 2)), "bias": np.zeros(2)}, r"expected weight of shape \(2, 3\)"),
    ({"weight": np.zeros((2, 3), np.float32), "bias": np.zeros(2)}, "dtype float64"),
])
def test_from_arrays_refuses_what_does_not_fit_by_name(arrays, message):
    with pytest.raises(ValueError, match=message):
        from_arrays(mn.Linear, arrays, 3, 2, dtype=np.float64)


def test_constructor_arguments_rebuild_the_same_configuration():
    for module in (mn.Linear(3, 2, bias=False, dtype=np.float64, rng=0), mn.Conv2d(2, 4, (3, 1), stride=2, rng=0),
                   mn.LSTM(3, 5, num_layers=2, batch_first=True), mn.CNN(image_size=8, channels=(2, 3), hidden=6),
                   mn.CrossEntropyLoss(label_smoothing=0.1)):
        rebuilt = type(module)(**module.constructor_arguments())
        assert rebuilt.describe() == module.describe()
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
               {k: v.shape for k, v in module.state_dict().items()}
    assert mn.Linear(3, 2, bias=False).constructor_arguments() == {"in_features": 3, "out_features": 2, "bias": False}


def test_constructor_arguments_refuse_star_args_by_name():
    with pytest.raises(TypeError, match=r"takes \*modules"):
        mn.Sequential(mn.ReLU()).constructor_arguments()
