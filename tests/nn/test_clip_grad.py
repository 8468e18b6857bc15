"""Gradient clipping (manualnet.utils): what it promises, without torch.

Parity with torch.nn.utils is in tests/nn/test_rnn_parity.py.
"""

import numpy as np
import pytest

import manualnet as mn


def parameters(*gradients):
    result = []
    for gradient in gradients:
        parameter = mn.Parameter(np.zeros(np.shape(gradient)))
        parameter.grad[...] = gradient
        result.append(parameter)
    return result


def test_clip_grad_norm_scales_the_whole_gradient_to_max_norm():
    """‖(3, 4)‖ = 5 over two parameters: scaled by 1/(5 + 1e-6), direction kept; returns the norm before."""
    a, b = parameters([3.0], [[4.0]])
    total = mn.utils.clip_grad_norm_([a, b], 1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose([a.grad[0], b.grad[0, 0]], [3 / (5 + 1e-6), 4 / (5 + 1e-6)])


def test_clip_grad_norm_leaves_small_gradients_alone():
    (a,) = parameters([0.3, -0.4])
    assert mn.utils.clip_grad_norm_(a, 1.0) == pytest.approx(0.5)   # a single Parameter works too
    np.testing.assert_array_equal(a.grad, [0.3, -0.4])


def test_clip_grad_norm_infinity_norm_is_the_largest_entry():
    a, b = parameters([1.0, -7.0], [2.0])
    assert mn.utils.clip_grad_norm_(iter([a, b]), 3.5, norm_type="inf") == 7.0
    np.testing.assert_allclose(b.grad, [2.0 * 3.5 / (7 + 1e-6)])


def test_clip_grad_norm_changes_the_grad_arrays_the_optimizer_holds():
    (a,) = parameters([30.0, 40.0])
    held = a.grad
    mn.utils.clip_grad_norm_([a], 5.0)
    assert a.grad is held and np.linalg.norm(held) == pytest.approx(5.0, rel=1e-6)


def test_clip_grad_norm_non_finite():
    (a,) = parameters([np.inf, 1.0])
    with pytest.raises(ValueError, match="non-finite|inf"):
        mn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    (b,) = parameters([np.nan, 1.0])
    assert np.isnan(mn.utils.clip_grad_norm_([b], 1.0))          # PyTorch's default: no error


def test_clip_grad_value_clamps_every_entry():
    (a,) = parameters([[-3.0, 0.5], [2.0, -0.1]])
    assert mn.utils.clip_grad_value_([a], 1.0) is None
    np.testing.assert_array_equal(a.grad, [[-1.0, 0.5], [1.0, -0.1]])


def test_bad_arguments_meet_clear_errors():
    (a,) = parameters([1.0])
    with pytest.raises(TypeError, match="pass model.parameters()"):
        mn.utils.clip_grad_norm_(mn.Linear(2, 2), 1.0)
    with pytest.raises(TypeError, match="Parameters"):
        mn.utils.clip_grad_value_([np.zeros(3)], 1.0)
    with pytest.raises(ValueError, match="max_norm to be a number >= 0"):
        mn.utils.clip_grad_norm_([a], -1.0)
    with pytest.raises(ValueError, match="clip_value"):
        mn.utils.clip_grad_value_([a], "big")
    with pytest.raises(ValueError, match="norm_type"):
        mn.utils.clip_grad_norm_([a], 1.0, norm_type="fro")
    with pytest.raises(TypeError, match="foreach"):
        mn.utils.clip_grad_norm_([a], 1.0, foreach="yes")
    with pytest.warns(UserWarning, match="empty generator"):
        assert mn.utils.clip_grad_norm_((p for p in []), 1.0) == 0.0
