"""Parameter and Module: registration, names, zero_grad, optimize, modes, state dicts, dtypes."""

import re

import numpy as np
import pytest

import manualnet as mn


class TwoLayer(mn.Module):
    """A user-defined module: own parameter first, then children."""

    def __init__(self):
        super().__init__()
        self.scale = mn.Parameter(np.array([2.0, 3.0]))
        self.first = mn.Linear(3, 2, rng=0, dtype=np.float64)
        self.act = mn.ReLU()
        self.second = mn.Sequential(mn.Linear(2, 2, rng=1, dtype=np.float64))


# -- Parameter -------------------------------------------------------------------

def test_parameter_has_zero_grad_of_same_shape_and_dtype():
    p = mn.Parameter(np.ones((2, 3), np.float32))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()
    assert p.shape == (2, 3) and p.dtype == np.float32 and p.size == 6


def test_parameter_copies_its_data():
    source = np.zeros(3)
    p = mn.Parameter(source)
    p.data += 1
    assert not source.any()


@pytest.mark.parametrize("data", [np.arange(3), [True, False], np.zeros(2, np.float16)])
def test_parameter_rejects_non_float_data(data):
    with pytest.raises(TypeError, match="Parameter: expected .*float32 or float64"):
        mn.Parameter(data)


# -- registration and names -------------------------------------------------------

def test_named_parameters_follow_definition_order_with_dotted_names():
    names = [name for name, _ in TwoLayer().named_parameters()]
    assert names == ["scale", "first.weight", "first.bias", "second.0.weight", "second.0.bias"]


def test_shared_parameter_is_listed_once():
    model = mn.Sequential(mn.Linear(2, 2), mn.Linear(2, 2))
    model[1].weight = model[0].weight
    assert len(model.parameters()) == 3


def test_assigning_an_array_to_a_parameter_is_an_error_with_the_fix():
    """The study notes' `self.w = self.w - lr * dw` would silently detach w from the optimizer."""
    layer = mn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign a ndarray to parameter 'weight'.*self.weight.data -= lr"):
        layer.weight = layer.weight.data - 0.1


def test_assigning_before_init_is_a_clear_error():
    class Forgetful(mn.Module):
        def __init__(self):
            self.w = mn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match=r"Forgetful: cannot assign 'w' before Module.__init__\(\)"):
        Forgetful()


def test_deleting_a_child_unregisters_it():
    model = TwoLayer()
    del model.first
    assert "first.weight" not in dict(model.named_parameters())


def test_base_module_forward_and_backward_say_what_is_missing():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        mn.Module()(np.zeros(1))
    with pytest.raises(NotImplementedError, match="Module does not define backward"):
        mn.Module().backward(np.zeros(1))


# -- zero_grad and optimize -------------------------------------------------------

def test_zero_grad_clears_every_gradient_in_place(rng):
    model = TwoLayer()
    arrays = [p.grad for p in model.parameters()]
    for grad in arrays:
        grad[...] = rng.standard_normal(grad.shape)
    model.zero_grad()
    assert all(p.grad is a and not a.any() for p, a in zip(model.parameters(), arrays))


def test_optimize_is_gradient_descent_in_place_on_children_too(rng):
    model = TwoLayer()
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    objects = {name: p.data for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad[...] = rng.standard_normal(p.shape)
    model.optimize(0.1)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.data, before[name] - 0.1 * p.grad)
        assert p.data is objects[name]


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -0.1, "0.1", None])
def test_optimize_rejects_bad_learning_rates(lr):
    with pytest.raises(ValueError, match="expected a finite learning rate >= 0"):
        mn.Linear(2, 2).optimize(lr)


# -- train / eval -----------------------------------------------------------------

def test_train_and_eval_set_the_mode_recursively():
    model = TwoLayer()
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


# -- state dicts ------------------------------------------------------------------

def test_state_dict_round_trip_and_copies(rng):
    source, target = TwoLayer(), TwoLayer()
    for p in source.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    state = source.state_dict()
    state["scale"][...] = 99.0                    # a copy: the model is unaffected
    assert source.scale.data[0] != 99.0
    state = source.state_dict()
    target.load_state_dict(state)
    for (name, a), (_, b) in zip(source.named_parameters(), target.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    model = TwoLayer()
    state = model.state_dict()
    del state["first.bias"]
    state["extra"] = np.zeros(1)
    state["first.weight"] = np.zeros((3, 2))
    before = model.first.weight.data.copy()
    with pytest.raises(ValueError, match=r"missing key\(s\): 'first.bias'.*unexpected key\(s\): 'extra'"
                                         r".*'first.weight': expected shape \(2, 3\), got \(3, 2\)"):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model.first.weight.data, before)    # nothing half-loaded


def test_load_state_dict_non_strict_reports_keys():
    model = TwoLayer()
    state = model.state_dict()
    del state["scale"]
    state["extra"] = np.zeros(1)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]


def test_load_state_dict_rejects_non_numeric_values():
    model = mn.Linear(1, 1)
    with pytest.raises(ValueError, match=r"'weight': expected a numeric array, got dtype <U1"):
        model.load_state_dict({"weight": np.array([["a"]]), "bias": np.zeros(1)})
    with pytest.raises(TypeError, match="expected a dict of arrays, got list"):
        model.load_state_dict([])


def test_load_state_dict_casts_to_the_model_dtype():
    model = mn.Linear(2, 1)
    model.load_state_dict({"weight": np.array([[0.5, 0.25]]), "bias": np.array([1.0])})
    assert model.weight.dtype == np.float32 and model.weight.data[0, 1] == 0.25


# -- dtypes ------------------------------------------------------------------------

def test_astype_converts_parameters_and_grads():
    model = TwoLayer().astype(np.float32)
    assert all(p.dtype == p.grad.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="expected dtype float32 or float64, got int32"):
        model.astype(np.int32)


def test_describe_and_repr():
    assert mn.Linear(3, 2).describe() == "Linear(in_features=3, out_features=2, bias=True)"
    assert mn.Sequential(mn.Linear(1, 1), mn.ReLU()).describe() == "Sequential(Linear, ReLU)"
    assert repr(TwoLayer()).startswith("TwoLayer(\n  (first): Linear(")


def test_has_parameters_looks_into_children():
    assert TwoLayer().has_parameters() and mn.Sequential(mn.ReLU(), mn.Linear(1, 1)).has_parameters()
    assert not mn.Sequential(mn.ReLU(), mn.Sequential(mn.Flatten())).has_parameters()


def test_load_state_dict_refuses_ragged_lists_and_tensors_that_require_grad_by_key():
    layer = mn.Linear(2, 3)
    with pytest.raises(ValueError, match=r"Linear.load_state_dict: 'weight' is not a rectangular array"):
        layer.load_state_dict({"weight": [[1, 2], [3]], "bias": np.zeros(3)})

    class RequiresGrad:                               # what a torch parameter looks like to NumPy
        requires_grad = True

    with pytest.raises(ValueError, match=r"'bias' is a torch tensor that requires grad.*value.detach\(\)"):
        layer.load_state_dict({"weight": np.zeros((3, 2)), "bias": RequiresGrad()})


@pytest.mark.parametrize("layer, inputs, names", [
    (lambda: mn.LSTM(3, 2, rng=0), (np.ones((5, 2, 3), np.float32),), "(dL/doutput, dL/d(h_n, c_n))"),
    (lambda: mn.MultiheadAttention(4, 2, rng=0), (np.ones((5, 2, 4), np.float32),) * 3,
     "(dL/dattn_output, dL/dattn_weights or None)"),
])
def test_a_tuple_layer_names_the_structure_its_backward_wants(layer, inputs, names):
    module = layer()
    output = module(*inputs)
    with pytest.raises(ValueError, match=re.escape(f"expected grad_output = {names}, the structure of forward's "
                                                   "output, got a sequence of 3")):
        module.backward((output[0], None, None))
