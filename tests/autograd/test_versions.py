"""The autograd graph sees every in-place change made through manualnet, through any tensor over the same memory.

A node that saves its inputs records their versions; the engine checks them
before the node's backward.  A version belongs to the memory, so a change
through a view (``x[:]``, ``x.reshape(...)``), through ``x.detach()``,
through a second ParameterTensor of the same Parameter, or by an optimizer
step on the Parameter is seen wherever the memory is saved.  Each case below
used to give a silently wrong gradient.
"""

import numpy as np
import pytest

import manualnet as mn
from manualnet.autograd import ParameterTensor, Tensor, no_grad
from manualnet.autograd import functional as F

MODIFIED = ("one of the variables needed for gradient computation has been modified by an inplace operation: "
            r"\[{}.*\], an input of {}, is at version {}; expected version {} instead")


def leaf(values):
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_an_optimizer_step_between_two_backward_passes_over_one_weight():
    """l1, l2 share W; stepping after l1.backward() changed the W that l2's nodes saved."""
    lin = mn.Linear(3, 2, rng=0, dtype=np.float64)
    W, b = ParameterTensor(lin.weight), ParameterTensor(lin.bias)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)))
    l1 = F.linear(x, W, b).sum()
    l2 = (F.linear(x, W, b) * F.linear(x, W, b)).sum()
    l1.backward()
    mn.optim.SGD(lin.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match=MODIFIED.format("ParameterTensor", r"AddmmBackward0 \(Linear\(.*\)\)", 2, 1)):
        l2.backward()


def test_a_detached_tensor_shares_the_version():
    x, w = Tensor([1.0, 2.0, 3.0]), leaf([1.0, 2.0, 3.0])
    loss = (x * w).sum()
    d = x.detach()
    d += 10                                                  # w.grad would be [11, 12, 13], not [1, 2, 3]
    assert x._version == d._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED.format("Tensor", "MulBackward0", 1, 0)):
        loss.backward()
    assert w.grad is None


@pytest.mark.parametrize("view", [lambda x: x[:], lambda x: x[1:], lambda x: x.reshape(6), lambda x: x.T],
                         ids=["x[:]", "x[1:]", "x.reshape(6)", "x.T"])
def test_an_edit_through_a_view_is_an_edit_of_the_tensor(view):
    x, w = Tensor(np.ones((2, 3))), leaf(np.ones((2, 3)))
    loss = (x * w).sum()
    edited = view(x)
    edited += 1
    with pytest.raises(RuntimeError, match=MODIFIED.format("Tensor", "MulBackward0", 1, 0)):
        loss.backward()


def test_an_edit_of_a_view_of_a_leaf_under_no_grad():
    w = leaf([1.0, 2.0, 3.0])
    loss = (w * w).sum()
    with no_grad():
        row = w[1:]
        row += 1
    with pytest.raises(RuntimeError, match=MODIFIED.format("Tensor", "MulBackward0", 1, 0)):
        loss.backward()


def test_an_update_through_a_second_parameter_tensor_of_the_same_parameter():
    p = mn.Parameter(np.ones(3))
    first, second = ParameterTensor(p), ParameterTensor(p)
    loss = (first * first).sum()
    with no_grad():
        second -= 0.5
    assert first._version == second._version == p._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED.format("ParameterTensor", "MulBackward0", 1, 0)):
        loss.backward()


def test_nodes_that_save_nothing_do_not_care():
    """x + w saves neither: as in PyTorch, changing x afterwards is no error and the gradient is right."""
    x, w = Tensor([1.0, 2.0]), leaf([3.0, 4.0])
    loss = (x + w).sum()
    x += 1
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


def test_a_layer_node_keeps_its_input_without_a_copy_and_checks_its_version():
    x = Tensor(np.ones((4, 3)))
    W = leaf(np.full((2, 3), 0.5))
    y = F.linear(x, W)
    assert y.grad_fn.layer.x is x.data                       # the counter stands in for keep_input's copy
    x += 1
    with pytest.raises(RuntimeError, match=MODIFIED.format("Tensor", r"MmBackward0 \(Linear\(.*\)\)", 1, 0)):
        y.sum().backward()


def test_a_plain_array_given_to_a_node_is_a_private_copy():
    """NumPy's own x *= 0 has no version: the array a caller passes in is copied, as a layer copies it."""
    x = np.ones((4, 3))
    W = leaf(np.full((2, 3), 0.5))
    y = F.linear(x, W)
    x *= 0
    y.sum().backward()
    np.testing.assert_array_equal(W.grad.numpy(), np.full((2, 3), 4.0))


def test_a_constant_array_a_primitive_saves_is_a_private_copy():
    c, w = np.array([1.0, 2.0, 3.0]), leaf([1.0, 1.0, 1.0])
    loss = (w * c).sum()
    c *= 0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0, 3.0])


def test_numpys_own_in_place_operators_on_data_are_not_seen_as_in_pytorch():
    """The documented limit (README, Conventions): x.data is the array itself, and NumPy tells nobody."""
    x, w = Tensor([1.0, 2.0, 3.0]), leaf([1.0, 1.0, 1.0])
    loss = (x * w).sum()
    x.data[...] += 10
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [11.0, 12.0, 13.0])
