"""ModuleList and ModuleDict: PyTorch's child names in state_dict, a list's and a dict's interface, bad input."""

import numpy as np
import pytest

import manualnet as mn


def test_module_list_names_children_by_position_as_pytorch():
    layers = mn.ModuleList([mn.Linear(3, 3, rng=0), mn.ReLU(), mn.Linear(3, 2, rng=1)])
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    layers.append(mn.LayerNorm(2))
    layers += [mn.Tanh()]
    layers.insert(1, mn.Linear(3, 3, rng=2))
    assert [type(m).__name__ for m in layers] == ["Linear", "Linear", "ReLU", "Linear", "LayerNorm", "Tanh"]
    assert list(layers.state_dict())[-2:] == ["4.weight", "4.bias"] and len(layers) == 6
    del layers[0]
    assert [name for name, _ in layers.named_children()] == ["0", "1", "2", "3", "4"]     # renumbered, as PyTorch
    assert isinstance(layers[1:3], mn.ModuleList) and layers[-1] is layers[4]
    layers[0] = mn.Sigmoid()
    assert isinstance(layers[0], mn.Sigmoid) and not any(name.startswith("0.") for name in layers.state_dict())


def test_module_dict_keeps_insertion_order_and_names():
    parts = mn.ModuleDict({"wte": mn.Embedding(5, 3, rng=0), "ln_f": mn.LayerNorm(3)})
    parts["h"] = mn.ModuleList([mn.Linear(3, 3, rng=1)])
    assert list(parts) == ["wte", "ln_f", "h"] and "h" in parts and len(parts) == 3
    assert list(parts.state_dict()) == ["wte.weight", "ln_f.weight", "ln_f.bias", "h.0.weight", "h.0.bias"]
    assert parts.pop("ln_f").normalized_shape == (3,) and list(parts.keys()) == ["wte", "h"]
    parts.update([("extra", mn.ReLU())])
    assert [name for name, _ in parts.items()] == ["wte", "h", "extra"]
    parts.clear()
    assert len(parts) == 0 and parts.state_dict() == {}


def test_containers_hold_modules_and_compute_nothing():
    with pytest.raises(NotImplementedError, match="ModuleList does not define forward"):
        mn.ModuleList([mn.ReLU()])(np.ones(2))
    with pytest.raises(NotImplementedError, match="ModuleDict does not define forward"):
        mn.ModuleDict({"relu": mn.ReLU()})(np.ones(2))


@pytest.mark.parametrize("call, error, match", [
    (lambda: mn.ModuleList([mn.ReLU(), 3]), TypeError, r"ModuleList: expected a Module, got int"),
    (lambda: mn.ModuleList(mn.ReLU()), TypeError, r"an iterable of modules, got ReLU"),
    (lambda: mn.ModuleList([mn.ReLU()])[3], IndexError, r"index 3 is out of range for a list of 1"),
    (lambda: mn.ModuleDict({"a.b": mn.ReLU()}), KeyError, r"without '\.'"),
    (lambda: mn.ModuleDict({"keys": mn.ReLU()}), KeyError, r"names nothing else of the container, got 'keys'"),
    (lambda: mn.ModuleDict({"relu": "ReLU"}), TypeError, r"ModuleDict: expected a Module, got str"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
