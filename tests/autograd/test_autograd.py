"""manualnet.autograd without PyTorch: the engine, the primitives, and one derivative with two users.

PyTorch parity (values, grad_fn names, error messages, the notes' MLP
trained with Adam) is in tests/autograd/test_autograd_parity.py.
"""

import inspect
import re
import runpy
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet import autograd as ag
from manualnet.autograd import ParameterTensor, Tensor, graph, no_grad
from manualnet.autograd import primitives as P
from manualnet.autograd.engine import Node
from manualnet.testing.catalogue import AUTOGRAD_PRIMITIVES as PRIMITIVES
from manualnet.testing.catalogue import autograd_inputs, run_autograd
from manualnet.testing.gradcheck import check_function, check_loss, check_module
from manualnet.testing import bugzoo

from ..autograd_cases import LAYER_CASES, NO_AUTOGRAD_NODE_YET, SEPARATELY_TESTED, run_graph, run_manual
from ..strategies import random_array, seeds

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def leaf(array):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def notes_graph(backward=lambda z: z.backward()):
    """The study notes' z = x·(a x + b) at x = 2, a = 3, b = 1: x is used twice."""
    x, a, b = leaf(2.0), leaf(3.0), leaf(1.0)
    z = x * (a * x + b)
    backward(z)
    return x.grad.item(), a.grad.item(), b.grad.item()


# -- the Tensor API --------------------------------------------------------------------------

def test_leaves_and_recorded_tensors():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    assert not y.is_leaf and y.grad_fn.name() == "MulBackward0" and y.requires_grad
    assert Tensor(np.ones(3)).is_leaf and (Tensor(np.ones(3)) * 2).is_leaf     # nothing recorded
    assert y.grad_fn.next_functions[0][0].variable is x and y.grad_fn.next_functions[1] == (None, 0)


def test_python_floats_become_float32_and_arrays_keep_their_dtype():
    assert Tensor(2.0).dtype == np.float32 and Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.ones(2)).dtype == np.float64 and Tensor([1, 2]).dtype == np.int64
    array = np.ones(2)
    tensor = Tensor(array)
    array[0] = 5                                        # Tensor copies, as torch.tensor does
    assert tensor.data[0] == 1


def test_grad_is_none_until_backward_reaches_the_leaf():
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert unused.grad is None


def test_grad_accumulates_across_two_backward_calls_and_zero_clears_it():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    grad = x.grad
    x.grad.zero_()
    assert x.grad is grad and not x.grad.numpy().any()


def test_backward_of_a_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(np.ones(3))


def test_backward_of_a_tensor_that_records_nothing_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        Tensor(np.ones(1)).backward()


def test_a_second_backward_through_a_freed_graph_is_pytorchs_error_unless_retained():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        loss.backward()
    retained = (x * x).sum()
    retained.backward(retain_graph=True)
    retained.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 3 * np.array([2.0, 4.0]))


def test_a_layer_node_walked_twice_with_retain_graph_gives_the_same_gradient_twice(rng):
    """The node starts its layer's .grad from zero each time; the leaf's .grad adds the two passes."""
    x, W, b = leaf(rng.standard_normal((4, 3))), leaf(rng.standard_normal((2, 3))), leaf(rng.standard_normal(2))
    loss = ag.linear(x, W, b).tanh().sum()
    loss.backward(retain_graph=True)
    once = W.grad.numpy().copy()
    loss.backward()
    np.testing.assert_array_equal(W.grad.numpy(), 2 * once)


def test_a_graph_that_saved_nothing_can_be_walked_again_as_in_pytorch():
    x = leaf([1.0, 2.0])
    loss = (x + x).sum()
    loss.backward()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_retain_grad_keeps_a_non_leaf_gradient_and_accumulates_it():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    loss = (h * h).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])
    loss.backward()
    np.testing.assert_array_equal(h.grad.numpy(), [12.0, 24.0])
    assert h.retains_grad


def test_reading_grad_of_a_non_leaf_warns_as_pytorch_does():
    h = leaf([1.0]) * 2
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert h.grad is None


def test_retain_grad_on_a_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has requires_grad=False"):
        Tensor(np.ones(2)).retain_grad()


def test_no_grad_records_nothing_and_restores_the_mode():
    x = leaf([1.0])
    with no_grad():
        y = x * 2
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad

    @no_grad()
    def doubled(value):
        return value * 2

    assert doubled(x).grad_fn is None


def test_a_recursive_function_decorated_with_no_grad_leaves_grad_mode_as_it_found_it():
    """One context object re-entered would restore False at the inner exit and keep it; each call gets its own."""

    @no_grad()
    def countdown(n):
        assert not ag.is_grad_enabled()
        return 0 if n == 0 else countdown(n - 1) + 1

    assert countdown(3) == 3
    assert ag.is_grad_enabled()
    assert (leaf([1.0]) * 2).grad_fn is not None


def test_x_to_the_power_0_has_gradient_0_even_at_0():
    x = leaf([0.0, 2.0, -1.0])
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])     # p·x^(p−1) would be 0·inf = NaN at 0


@pytest.mark.parametrize("compare, expected", [
    (lambda x: x == 3.0, [False, True]), (lambda x: 3.0 == x, [False, True]), (lambda x: x != 3.0, [True, False]),
    (lambda x: x < 2, [True, False]), (lambda x: x <= 1, [True, False]), (lambda x: x > 1, [False, True]),
    (lambda x: x >= 3, [False, True]), (lambda x: np.float64(2.0) < x, [False, True]),
    (lambda x: x == Tensor([1.0, 2.0]), [True, False]), (lambda x: x == np.array([0.0, 3.0]), [False, True]),
], ids=["==", "reflected ==", "!=", "<", "<=", ">", ">=", "numpy scalar <", "tensor ==", "array =="])
def test_comparisons_are_element_wise_as_pytorchs(compare, expected):
    result = compare(Tensor([1.0, 3.0], requires_grad=True))
    assert isinstance(result, Tensor) and result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal(result.numpy(), expected)


def test_a_tensor_compared_with_what_is_not_a_number_is_unequal_and_hashes_by_identity():
    x = Tensor([1.0, 3.0])
    assert (x == "3") is False and (x != None) is True  # noqa: E711  (Python's fallback, as PyTorch's)
    assert {x: 1}[x] == 1 and len({x, Tensor([1.0, 3.0])}) == 2
    with pytest.raises(ValueError, match=r"equal: cannot broadcast shapes \(2,\) and \(3,\)"):
        x == Tensor([1.0, 2.0, 3.0])


def test_the_truth_of_a_tensor_is_its_one_value_and_ambiguous_otherwise():
    assert bool(Tensor([0.0])) is False and bool(Tensor(2.0)) is True and bool(Tensor([[3.0]]) == 3.0) is True
    assert bool((Tensor([1.0, 3.0]) == 3.0).sum() == 1)
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(Tensor([1.0, 3.0]))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with no values is ambiguous"):
        bool(Tensor(np.zeros(0)))


def test_detach_shares_the_array_and_records_nothing():
    x = leaf([1.0, 2.0])
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad
    z = x * 1
    assert z.detach().data is z.data


def test_numpy_and_item():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"Use tensor.detach\(\).numpy\(\) instead"):
        x.numpy()
    assert x.detach().numpy() is x.data
    assert (x * x).sum().item() == 5.0 and isinstance(x.sum().item(), float)
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        x.item()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        Tensor([1, 2], requires_grad=True)


def test_in_place_changes_are_refused_on_leaves_and_allowed_under_no_grad():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        w -= 1
    (w * w).sum().backward()
    with no_grad():
        w -= 0.5 * w.grad                               # the notes' update by hand
    np.testing.assert_array_equal(w.data, [0.0, 0.0])
    h = w * 2
    with pytest.raises(RuntimeError, match="records no in-place operations"):
        h += 1


def test_changing_a_saved_tensor_before_backward_is_pytorchs_error():
    w = leaf([1.0, 2.0])
    loss = (w * w).sum()
    with no_grad():
        w -= 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_gradients_are_cast_back_to_each_inputs_dtype():
    x32 = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    x64 = Tensor(np.full(2, 3.0), requires_grad=True)
    product = x32 * x64
    assert product.dtype == np.float64
    product.sum().backward()
    assert x32.grad.dtype == np.float32 and x64.grad.dtype == np.float64
    np.testing.assert_array_equal(x32.grad.numpy(), [3.0, 3.0])


def test_repr_reads_as_pytorchs():
    x = Tensor(13.0)
    assert repr(x) == "tensor(13.)"
    y = leaf([1.0, 2.0]) * 2
    assert repr(y) == "tensor([2., 4.], dtype=float64, grad_fn=<MulBackward0>)"
    assert repr(Tensor(np.ones(1), requires_grad=True)) == "tensor([1.], dtype=float64, requires_grad=True)"


# -- the engine ------------------------------------------------------------------------------------

def test_a_value_used_twice_gets_the_sum_of_both_uses():
    assert notes_graph() == (13.0, 4.0, 2.0)            # by hand: derivations/backprop.md, section 1


def test_the_reuse_test_catches_the_recursive_walk_that_visits_a_node_once():
    """bugzoo's engine runs x's node when the first path reaches it: 7, the direct use only."""
    assert notes_graph(bugzoo.recursive_backward_visiting_once) == (7.0, 4.0, 2.0)


def test_the_recursive_walk_is_right_where_nothing_is_reused_which_is_why_it_survives():
    x, w = leaf([0.5, -1.0]), leaf([2.0, 3.0])
    bugzoo.recursive_backward_visiting_once(((x * w).exp()).sum())
    np.testing.assert_allclose(w.grad.numpy(), x.data * np.exp(x.data * w.data))


def test_an_intermediate_node_used_twice_matches_finite_differences():
    """h = tanh(x W) feeds both h·h and h: its node must wait for both shares."""
    def function(x, W):
        h = ag.tanh(x @ W)
        return (h * h + h).sum(dim=1)

    rng = np.random.default_rng(0)
    x, W, R = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(3)
    assert check_function(function, x, W, rng=1).passed
    right, wrong = leaf(W), leaf(W)
    (function(Tensor(x), right) * R).sum().backward()
    bugzoo.recursive_backward_visiting_once((function(Tensor(x), wrong) * R).sum())
    assert not np.allclose(wrong.grad.numpy(), right.grad.numpy())   # the bug zoo's walk gets W wrong


def chain(depth):
    x = leaf(1.0)
    y = x
    for _ in range(depth):
        y = y * 1.0001
    return x, y


@pytest.mark.slow
def test_a_chain_of_10000_operations_needs_no_recursion():
    x, y = chain(10_000)
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)
    assert len(graph(y).nodes) == 10_001 and graph(y).to_dot().count("->") == 10_000


def test_printing_a_graph_deeper_than_pythons_recursion_limit():
    """The printer keeps its own stack too (a tree's text grows with depth², so 2,000, not 10,000)."""
    _, y = chain(2_000)
    lines = str(graph(y)).splitlines()
    assert len(lines) == 2_001 and lines[-1].strip() == "└── AccumulateGrad ()"


@pytest.mark.slow
def test_the_recursive_walk_overflows_on_the_deep_chain():
    _, y = chain(10_000)
    with pytest.raises(RecursionError):
        bugzoo.recursive_backward_visiting_once(y)


def test_topological_order_puts_every_node_after_all_of_its_consumers():
    x = leaf(np.ones(3))
    h = x.exp()
    out = (h * h + h.sum() - x).sum()
    nodes = graph(out).nodes
    for position, node in enumerate(nodes):
        for child, _ in node.next_functions:
            assert child is None or nodes.index(child) > position
    assert len(nodes) == len(set(nodes))


def test_a_node_returning_a_wrong_shape_is_pytorchs_invalid_gradient_error():
    class ForgotToUnbroadcast(P.AddBackward0):
        def backward(self, grad):
            return grad, grad                          # the bug zoo of nodes: no unbroadcast, eq. (16)

    a, b = leaf(np.ones((3, 4))), leaf(np.ones(4))
    out = ag.tensor.record(ForgotToUnbroadcast(), a, b)
    with pytest.raises(RuntimeError, match=r"returned an invalid gradient at index 1 - got \[3, 4\] but expected "
                                           r"shape compatible with \[4\]"):
        out.sum().backward()


# -- the primitives: finite differences, broadcasting --------------------------------------------

@pytest.mark.parametrize("name", PRIMITIVES)
@given(seed=seeds)
def test_primitive_backward_matches_finite_differences(name, seed):
    function, specs = PRIMITIVES[name]
    report = check_function(function, *autograd_inputs(specs, np.random.default_rng(seed)), rng=seed)
    assert report.passed


def test_the_catalogue_checks_every_autograd_primitive_and_each_passes():
    results = run_autograd(seed=4)
    assert [result.operation for result in results] == [f"autograd {name}" for name in PRIMITIVES]
    assert [result.operation for result in results if not result.passed] == []


def test_every_primitive_node_is_exercised():
    """A primitive added to primitives.py without a catalogue entry (manualnet/testing/catalogue.py) fails here."""
    nodes = {cls for cls in vars(P).values()
             if inspect.isclass(cls) and issubclass(cls, Node) and cls is not Node and not cls.__name__.startswith("_")}
    used = set()
    for function, specs in PRIMITIVES.values():
        tensors = [leaf(a) for a in autograd_inputs(specs, np.random.default_rng(0))]
        used |= {type(node) for node in graph(function(*tensors)).nodes}
    assert nodes <= used, f"no test case for {sorted(cls.__name__ for cls in nodes - used)}"


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=seeds, data=st.data())
def test_broadcasting_backward_sums_over_exactly_the_broadcast_axes(shape, seed, data):
    """unbroadcast undoes broadcasting: it is the adjoint of np.broadcast_to, eq. (16)."""
    small = tuple(data.draw(st.sampled_from([1, side])) for side in shape)[data.draw(st.integers(0, len(shape))):]
    x, G = random_array(seed, small), random_array(seed + 1, shape)
    # <broadcast(x), G> = <x, unbroadcast(G)> for every x and G: the definition of the backward.
    np.testing.assert_allclose(np.sum(np.broadcast_to(x, shape) * G), np.sum(x * P.unbroadcast(G, small)))
    assert P.unbroadcast(G, small).shape == small


def test_repeated_fancy_indices_accumulate():
    x = leaf(np.arange(3.0))
    x[[0, 0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


# -- one derivative, two users ------------------------------------------------------------------------

def _parameters(layer):
    return {name: parameter.data.copy() for name, parameter in layer.named_parameters()}


def public_module_classes():
    exported = (getattr(mn, name) for name in mn.__all__)
    return {obj for obj in exported if inspect.isclass(obj) and issubclass(obj, mn.Module) and obj is not mn.Module}


def test_every_public_layer_and_loss_has_an_autograd_case():
    """A layer added to manualnet.__all__ without its autograd counterpart fails here."""
    missing = public_module_classes() - set(LAYER_CASES) - set(SEPARATELY_TESTED) - set(NO_AUTOGRAD_NODE_YET)
    assert not missing, f"add autograd cases to tests/autograd_cases.py for {sorted(c.__name__ for c in missing)}"


@pytest.mark.parametrize("layer_class", list(LAYER_CASES), ids=lambda cls: cls.__name__)
@given(seed=seeds)
def test_manual_chain_and_graph_give_the_same_bits(layer_class, seed):
    """The graph's node runs the layer's own backward: not close, equal."""
    rng = np.random.default_rng(seed)
    case = LAYER_CASES[layer_class](rng)
    values = _parameters(case.layer)
    output, input_grad, grads, upstream = run_manual(case, rng)
    graph_output, x, params = run_graph(case, upstream, values)
    assert np.array_equal(graph_output.data, output)
    assert np.array_equal(x.grad.numpy(), input_grad) if input_grad is not None else x.grad is None
    for name, grad in grads.items():
        assert np.array_equal(params[name].grad.numpy(), grad), name


def test_float32_in_float32_out_and_still_the_same_bits(rng):
    model = mn.MLP(4, 8, 3, rng=0)                                       # float32, the default
    x, y = rng.standard_normal((5, 4)).astype(np.float32), np.array([0, 2, 1, 1, 0])
    criterion = mn.CrossEntropyLoss()
    criterion(model(x), y)
    model.backward(criterion.backward(), need_input_grad=False)
    W1, b1, W2, b2 = (Tensor(p.data, requires_grad=True) for p in model.parameters())
    loss = ag.cross_entropy(ag.linear(ag.relu(ag.linear(x, W1, b1)), W2, b2), y)
    assert loss.dtype == np.float32
    loss.backward()
    for tensor, parameter in zip((W1, b1, W2, b2), model.parameters()):
        assert tensor.grad.dtype == np.float32 and np.array_equal(tensor.grad.numpy(), parameter.grad)


def test_the_notes_logistic_regression_and_its_graph_agree(rng):
    """Its backward(x, yhat, y) is the closed form (ŷ − y)/N, not the chain of layers: equal to rounding."""
    model = mn.LogisticRegression(4, dtype=np.float64)
    model.w.data[...] = rng.standard_normal(4)
    model.b.data[...] = 0.3
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 2, 6).astype(np.float64)
    model.backward(x, model(x), y)
    w, b = ParameterTensor(model.w), Tensor(model.b.data, requires_grad=True)
    model.w.grad[...] = 0
    loss = ag.binary_cross_entropy(ag.sigmoid(x @ w + b), y)
    assert loss.item() == pytest.approx(model.loss(model(x), y), rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), x.T @ (model(x) - y) / 6, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), np.mean(model(x) - y), rtol=1e-12)


def _engine_check(case):
    """Finite differences of the graph's forward against the graph's backward (no layer check involved)."""
    x, *rest = case.forward_args
    values = _parameters(case.layer)
    names = list(values)

    def function(x, *parameters):
        return case.graph(x, dict(zip(names, parameters)))

    return check_function(function, x, *values.values(), rng=3, raise_on_failure=False)


def _layer_check(case):
    if case.is_loss:
        return check_loss(case.layer, *case.forward_args, rng=3, raise_on_failure=False)
    return check_module(case.layer, *case.forward_args, rng=3, raise_on_failure=False)


def _fails(check, case):
    """The check's report fails, or the wrong line crashes it (NumPy refusing a wrong shape)."""
    try:
        return not check(case).passed
    except ValueError:
        return True


def _wrong_methods(bug):
    """The methods the bug zoo class overrides: its one wrong line is in one of them."""
    return {name: value for name, value in vars(bug).items() if callable(value) and not name.startswith("__")}


# MaxPoolGradToAllTies is right wherever max is differentiable: at a tie (a kink) finite differences cannot
# judge it, so no gradient check fails it (tests/testing/test_bugzoo.py catches it by comparison).
# CrossEntropyWeightedGradOverN is wrong only with class weights, which the plain cases here do not set.
@pytest.mark.parametrize("bug", [bug for bug in bugzoo.BUGS
                                 if bug not in (bugzoo.OverwritingLinear, bugzoo.MaxPoolGradToAllTies,
                                                bugzoo.CrossEntropyWeightedGradOverN)
                                 and bug.__bases__[0] not in NO_AUTOGRAD_NODE_YET],
                         ids=lambda bug: bug.__name__)
@pytest.mark.slow
def test_a_wrong_line_in_a_layer_breaks_both_the_layer_and_the_graph(bug, monkeypatch):
    """Patch the bug zoo's wrong method into the layer class itself: both of its users see it."""
    parent = bug.__bases__[0]
    case = LAYER_CASES[parent](np.random.default_rng(7))
    assert _layer_check(case).passed and _engine_check(case).passed       # right before the patch
    for name, method in _wrong_methods(bug).items():
        monkeypatch.setattr(parent, name, method)
    case = LAYER_CASES[parent](np.random.default_rng(7))
    assert _fails(_layer_check, case), "the layer's own gradient check missed it"
    assert _fails(_engine_check, case), "the graph's gradient check missed it"


def test_the_graph_is_immune_to_assigning_into_grad_because_the_engine_adds(monkeypatch):
    """OverwritingLinear (= where += belongs) breaks a weight used twice in the manual chain, not in the graph:
    each use is its own node, started from zero, and the engine adds the shares (derivations/autograd.md)."""
    monkeypatch.setattr(mn.Linear, "backward", bugzoo.OverwritingLinear.backward)
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
    assert check_function(lambda x, W, b: ag.linear(ag.tanh(ag.linear(x, W, b)), W, b), x, W, b, rng=1).passed
    first, second = (mn.Linear(3, 3, dtype=np.float64) for _ in range(2))
    second.weight = first.weight
    first.weight.data[...] = W
    assert not check_module(mn.Sequential(first, mn.Tanh(), second), x, raise_on_failure=False).passed


def test_layer_nodes_hold_the_tensors_arrays_without_copying(rng):
    W, b = leaf(rng.standard_normal((2, 3))), leaf(rng.standard_normal(2))
    y = ag.linear(leaf(rng.standard_normal((4, 3))), W, b)
    layer = y.grad_fn.layer
    assert type(layer).__name__ == "Linear" and isinstance(layer, mn.Linear)
    assert layer.weight.data is W.data and layer.bias.data is b.data


# -- ParameterTensor: the graph trains a model's Parameters ---------------------------------------------

def test_parameter_tensor_shares_data_and_grad_with_its_parameter(rng):
    parameter = mn.Parameter(rng.standard_normal((2, 3)))
    tensor = ParameterTensor(parameter)
    assert tensor.data is parameter.data and tensor.requires_grad and tensor.is_leaf
    (tensor * tensor).sum().backward()
    np.testing.assert_array_equal(parameter.grad, 2 * parameter.data)
    assert tensor.grad.data is parameter.grad
    parameter.data += 1                                   # an optimizer's in-place step is seen at once
    assert tensor.data is parameter.data
    tensor.grad = None
    assert not parameter.grad.any()


def test_parameter_tensors_train_with_manualnet_optimizers_as_the_manual_chain_does():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    manual, recorded = (mn.MLP(4, 8, 3, rng=1, dtype=np.float64) for _ in range(2))
    criterion = mn.CrossEntropyLoss()
    optimizers = [mn.optim.Adam(model.parameters(), lr=1e-2) for model in (manual, recorded)]
    W1, b1, W2, b2 = (ParameterTensor(p) for p in recorded.parameters())
    for _ in range(5):
        for optimizer in optimizers:
            optimizer.zero_grad()
        criterion(manual(x), y)
        manual.backward(criterion.backward(), need_input_grad=False)
        ag.cross_entropy(ag.linear(ag.relu(ag.linear(x, W1, b1)), W2, b2), y).backward()
        for optimizer in optimizers:
            optimizer.step()
    for (name, mine), (_, theirs) in zip(recorded.named_parameters(), manual.named_parameters()):
        assert np.array_equal(mine.data, theirs.data), name


# -- bad input ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda x: x + np.ones(5), ValueError, r"add: cannot broadcast shapes \(3, 4\) and \(5,\)"),
    (lambda x: x @ np.ones((5, 2)), ValueError, r"matmul: shapes \(3, 4\) and \(5, 2\) do not fit"),
    (lambda x: x.reshape(5, 5) @ x.reshape(5, 5), ValueError, r"reshape: shape \(5, 5\) is invalid"),
    (lambda x: x.reshape(3, 2, 2) @ x.reshape(2, 2, 3), ValueError, "multiplies 1-D and 2-D tensors"),
    (lambda x: x[7], IndexError, "index 7 is out of bounds"),
    (lambda x: x ** x, TypeError, "raises tensors to a number only"),
    (lambda x: x.sum(dim=2), ValueError, r"sum: dim 2 is out of range for a tensor of shape \(3, 4\)"),
    (lambda x: x.sum(dim=0, axis=1), TypeError, "give dim or axis"),
    (lambda x: x.permute(0, 0), ValueError, r"permute: dims \(0, 0\) are not a permutation"),
    (lambda x: x + "a", TypeError, "unsupported operand"),
    (lambda x: ag.relu(x, inplace=True), TypeError, "relu: inplace=True is not supported"),
    (lambda x: ag.cross_entropy(x, np.zeros(3, dtype=np.int64), reduce=False), TypeError,
     "cross_entropy: reduce=False is not supported"),
    (lambda x: ag.softmax(x), TypeError, "softmax: pass dim"),
    (lambda x: ag.log_softmax(x, 1, dtype=np.float64), TypeError, "log_softmax: dtype=.* is not supported"),
    (lambda x: ag.nll_loss(x, np.zeros(3, dtype=np.int64), size_average=False), TypeError,
     "nll_loss: size_average=False is not supported"),
    (lambda x: ag.linear(x, np.ones((2, 4)), np.ones(3)), ValueError, r"linear: expected bias of shape \(2,\)"),
    (lambda x: ag.linear(x, np.ones((2, 4)), np.ones(2, np.float32)), ValueError, "and dtype float64"),
    (lambda x: ag.linear(x, np.ones(4)), ValueError, "linear: expected a 2-D weight"),
    (lambda x: ag.linear(x, np.ones((2, 5))), ValueError, r"Linear\(in_features=5.*expected input of shape"),
    (lambda x: ag.mse_loss(x, x), ValueError, "the target requires grad"),
    (lambda x: ag.batch_norm(x, None, None, None, np.ones(4)), ValueError, "a bias needs a weight"),
    (lambda x: ag.batch_norm(x, np.zeros(4), None), ValueError, "give both running_mean and running_var"),
    (lambda x: ag.linear("x", np.ones((2, 4))), TypeError, "linear: expected input to be a Tensor"),
])
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call(leaf(np.ones((3, 4))))


def test_graph_of_a_tensor_that_records_nothing_is_an_error():
    with pytest.raises(ValueError, match="does not require grad"):
        graph(Tensor(np.ones(2)))


def test_parameter_tensor_needs_a_parameter_and_tensor_refuses_one():
    with pytest.raises(TypeError, match="expected a manualnet Parameter"):
        ParameterTensor(np.ones(2))
    with pytest.raises(TypeError, match="ParameterTensor"):
        Tensor(mn.Parameter(np.ones(2)))


def test_conv2d_takes_numpy_integers_as_the_layer_does():
    """groups=np.int64(2) (what arithmetic on shapes gives) used to be refused as not an integer."""
    x, weight = leaf(np.ones((1, 4, 5, 5))), leaf(np.ones((4, 2, 3, 3)))
    y = ag.conv2d(x, weight, groups=np.int64(2), stride=np.int64(1), padding=np.int32(1))
    y.sum().backward()
    assert y.shape == (1, 4, 5, 5) and x.grad.shape == (1, 4, 5, 5)
    with pytest.raises(ValueError, match=r"conv2d: expected groups to be a positive integer, got 1.5"):
        ag.conv2d(x, weight, groups=1.5)


# -- seeing the graph ------------------------------------------------------------------------------------------

def notes_mlp():
    """The notes' MLP with small sizes, its loss written as PyTorch records nn.CrossEntropyLoss."""
    model = mn.MLP(xdim=4, hdim=8, ydim=3, rng=0, dtype=np.float64)
    params = {name: ParameterTensor(p) for name, p in model.named_parameters()}
    x, y = np.random.default_rng(1).standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    hidden = ag.relu(ag.linear(x, params["lin_1.weight"], params["lin_1.bias"]))
    logits = ag.linear(hidden, params["lin_2.weight"], params["lin_2.bias"])
    return ag.nll_loss(ag.log_softmax(logits, dim=1), y), params


def test_printed_graph_lists_nodes_with_pytorch_names_and_named_leaves():
    loss, params = notes_mlp()
    assert str(graph(loss, params)) == "\n".join([
        "NllLossBackward0 ()",
        "└── LogSoftmaxBackward0 (5, 3)",
        "    └── AddmmBackward0 (5, 3)",
        "        ├── ReluBackward0 (5, 8)",
        "        │   └── AddmmBackward0 (5, 8)",
        "        │       ├── AccumulateGrad lin_1.weight (8, 4)",
        "        │       └── AccumulateGrad lin_1.bias (8,)",
        "        ├── AccumulateGrad lin_2.weight (3, 8)",
        "        └── AccumulateGrad lin_2.bias (3,)",
    ])


def test_dot_text_has_one_box_per_node_and_one_arrow_per_edge():
    loss, params = notes_mlp()
    dot = graph(loss, params).to_dot()
    assert dot.startswith("digraph autograd {") and dot.rstrip().endswith("}")
    assert len(re.findall(r"^  n\d+ \[label=", dot, flags=re.M)) == 9
    assert len(re.findall(r"^  n\d+ -> n\d+;$", dot, flags=re.M)) == 8
    assert '[label="AccumulateGrad lin_1.weight (8, 4)", style=filled' in dot


def test_dot_text_renders_to_svg_with_graphviz(tmp_path):
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz's dot is not on PATH (apt-get install graphviz): the DOT text is checked above")
    loss, params = notes_mlp()
    result = subprocess.run([dot, "-Tsvg"], input=graph(loss, params).to_dot(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout and "LogSoftmaxBackward0" in result.stdout


# -- cmp -------------------------------------------------------------------------------------------------------

def test_cmp_reports_exact_approximate_and_the_largest_difference(capsys):
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    exact = ag.cmp("x", np.array([2.0, 4.0]), x)
    close = ag.cmp("x", np.array([2.0, 4.0 + 1e-9]), x)
    wrong = ag.cmp("x", np.array([2.0, 5.0]), x)
    assert exact == ("x", True, True, 0.0)
    assert (close.exact, close.approximate) == (False, True) and close.maxdiff == pytest.approx(1e-9)
    assert (wrong.exact, wrong.approximate, wrong.maxdiff) == (False, False, 1.0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "x               | exact: True  | approximate: True  | maxdiff: 0.0"


def test_cmp_explains_a_missing_grad_and_a_wrong_shape(capsys):
    h = leaf([1.0, 2.0]) * 2
    h.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"call h.retain_grad\(\) before backward"):
            ag.cmp("h", np.ones(2), h)
    x = leaf([1.0, 2.0])
    x.sum().backward()
    assert ag.cmp("x", np.ones(3), x).approximate is False
    assert "shapes differ" in capsys.readouterr().out


# -- the examples ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_backprop_by_hand_example_matches_autograd_line_by_line(capsys):
    results = runpy.run_path(str(EXAMPLES / "backprop_by_hand.py"))["main"](["--torch", "no", "--batch-size", "8"])
    out = capsys.readouterr().out
    names = [result.name for result in results["autograd"]]
    assert names == ["logprobs", "logits", "b2", "W2", "h", "h_pre", "b1", "W1"] and results["torch"] is None
    assert all(result.approximate for result in results["autograd"]), out
    # The lines with no matrix product compute exactly what the nodes compute, in the same order:
    assert all(result.exact for result in results["autograd"] if result.name not in ("W2", "h", "W1")), out


def test_notes_autograd_example_prints_the_values_pytorch_prints(capsys):
    runpy.run_path(str(EXAMPLES / "autograd_basics.py"))["main"](["--torch", "no"])
    out = capsys.readouterr().out
    assert "x.grad = tensor(13.)" in out and "a.grad = tensor(4.)" in out and "b.grad = tensor(2.)" in out
    assert "    │   └── AccumulateGrad x () (used again, see above)" in out


@pytest.mark.slow
def test_the_notes_example_runs_as_a_script():
    result = subprocess.run([sys.executable, str(EXAMPLES / "autograd_basics.py"), "--torch", "no"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "x.grad = tensor(13.)" in result.stdout


# -- python -m manualnet graph ------------------------------------------------------------------------------------

def test_cli_graph_prints_the_notes_mlp_loss_graph_shown_in_the_readme(capsys):
    from manualnet.cli import main

    assert main(["graph"]) == 0
    printed = capsys.readouterr().out
    assert printed == str(ag.mlp_loss_graph()) + "\n"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert printed in readme                                  # the README's "Manual chain vs autograd" block
    assert main(["graph", "--dot", "--batch-size", "2"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph autograd {") and "LogSoftmaxBackward0 (2, 10)" in dot


def test_cli_graph_refuses_a_bad_batch_size(capsys):
    from manualnet.cli import main

    assert main(["graph", "--batch-size", "0"]) == 2
    assert "argument --batch-size: expected a positive integer, got '0'" in capsys.readouterr().err
