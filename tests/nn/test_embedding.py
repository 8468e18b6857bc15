"""Embedding: the lookup, its scatter-add backward, PyTorch's options and bad input.

PyTorch parity is in tests/nn/test_rnn_parity.py.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import check_module, numerical_gradient

from ..strategies import random_array, seeds

index_shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@given(shape=index_shapes, vocabulary=st.integers(1, 7), dim=st.integers(1, 4), seed=seeds)
def test_embedding_backward_matches_finite_differences(shape, vocabulary, dim, seed):
    """Property: weight.grad equals central differences of L = Σ R ⊙ W[idx], repeated indices included."""
    layer = mn.Embedding(vocabulary, dim, rng=seed, dtype=np.float64)
    indices = np.random.default_rng(seed).integers(0, vocabulary, shape)
    report = check_module(layer, indices, rng=seed)
    assert report.passed, report
    assert [a.name for a in report.arrays] == ["weight"]          # integer indices have no gradient


@given(shape=index_shapes, seed=seeds)
def test_padding_row_gets_no_gradient_and_every_other_row_the_finite_difference(shape, seed):
    """padding_idx's row is excluded from learning (PyTorch's rule): its gradient is exactly 0 although
    the output depends on it; every other row matches finite differences."""
    layer = mn.Embedding(5, 3, padding_idx=1, rng=seed, dtype=np.float64)
    layer.weight.data[1] = random_array(seed, 3)                  # a nonzero padding row, so it does matter
    indices = np.random.default_rng(seed).integers(0, 5, shape)
    R = random_array(seed + 1, shape + (3,))
    layer(indices)
    layer.backward(R)
    numeric = numerical_gradient(lambda weight: np.sum(R * layer(indices)), layer.weight.data)
    rows = np.arange(5) != 1
    np.testing.assert_allclose(layer.weight.grad[rows], numeric[rows], rtol=1e-5, atol=1e-7)
    assert not layer.weight.grad[1].any()


def test_a_token_used_twice_gets_both_gradients():
    """The scatter-add: W.grad[k] = Σ of G's rows at every position holding k."""
    layer = mn.Embedding(4, 2, dtype=np.float64)
    indices = np.array([[1, 3, 1], [1, 0, 3]])
    G = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    layer(indices)
    layer.backward(G)
    np.testing.assert_array_equal(layer.weight.grad, [[8, 9], [0 + 4 + 6, 1 + 5 + 7], [0, 0], [2 + 10, 3 + 11]])


def test_fancy_index_plus_equals_loses_the_repeats():
    """Why np.add.at: ``W.grad[idx] += G`` buffers, so each repeated row keeps only its last write."""
    indices, G = np.array([2, 2, 2]), np.ones((3, 1))
    lossy = np.zeros((3, 1))
    lossy[indices] += G
    summed = np.zeros((3, 1))
    np.add.at(summed, indices, G)
    assert lossy[2, 0] == 1 and summed[2, 0] == 3


def test_lookup_is_the_one_hot_matrix_product(rng):
    """y = onehot(idx) W (eq. 2), and weight.grad = onehot(idx)ᵀ G (eq. 3)."""
    layer = mn.Embedding(6, 4, rng=0, dtype=np.float64)
    indices = rng.integers(0, 6, 10)
    one_hot = np.eye(6)[indices]
    np.testing.assert_allclose(layer(indices), one_hot @ layer.weight.data, rtol=1e-15)
    G = rng.standard_normal((10, 4))
    layer.backward(G)
    np.testing.assert_allclose(layer.weight.grad, one_hot.T @ G, rtol=1e-13, atol=1e-15)


def test_scale_grad_by_freq_divides_each_tokens_gradient_by_its_count():
    layer = mn.Embedding(3, 1, scale_grad_by_freq=True, dtype=np.float64)
    layer(np.array([0, 0, 0, 2]))
    layer.backward(np.array([[1.0], [2.0], [3.0], [5.0]]))
    np.testing.assert_allclose(layer.weight.grad[:, 0], [(1 + 2 + 3) / 3, 0, 5])


def test_max_norm_rescales_looked_up_rows_in_place():
    layer = mn.Embedding(3, 2, max_norm=1.0, dtype=np.float64)
    layer.weight.data[...] = [[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]]
    layer(np.array([0, 1]))                                   # row 2 is not looked up: untouched
    np.testing.assert_allclose(np.linalg.norm(layer.weight.data[0]), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(layer.weight.data[1:], [[0.3, 0.4], [6.0, 8.0]])


def test_output_shape_dtype_and_accumulation(rng):
    layer = mn.Embedding(5, 3, rng=0)
    indices = rng.integers(0, 5, (2, 4))
    y = layer(indices)
    assert y.shape == (2, 4, 3) and y.dtype == np.float32
    G = rng.standard_normal(y.shape).astype(np.float32)
    layer.backward(G)
    once = layer.weight.grad.copy()
    layer.backward(G)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)


def test_changing_the_indices_after_forward_does_not_change_backward(rng):
    layer = mn.Embedding(5, 2, rng=0, dtype=np.float64)
    indices = np.array([0, 1, 2])
    layer(indices)
    indices[...] = 4
    layer.backward(np.ones((3, 2)))
    assert layer.weight.grad[:3].all() and not layer.weight.grad[4].any()


@pytest.mark.parametrize("norm_type", ["fro", None, True])
def test_norm_type_must_be_a_number_and_says_so(norm_type):
    with pytest.raises(TypeError, match=rf"Embedding: expected norm_type, the p of the p-norm that max_norm bounds, to "
                                        rf"be a number .*got {norm_type!r}"):
        mn.Embedding(10, 3, max_norm=1.0, norm_type=norm_type)


def test_bad_indices_meet_clear_errors():
    layer = mn.Embedding(10, 3)
    with pytest.raises(TypeError, match=r"Embedding\(10, 3\).*integer token indices.*float64"):
        layer(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="integer token indices"):
        layer([1, 2])
    with pytest.raises(ValueError, match=r"in \[0, 10\).*e.g. 10"):
        layer(np.array([3, 10]))
    with pytest.raises(ValueError, match=r"e.g. -1.*negative indices"):
        layer(np.array([-1, 2]))
    with pytest.raises(RuntimeError, match="Embedding.backward called before forward"):
        mn.Embedding(3, 2).backward(np.zeros((1, 2), np.float32))
    layer(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"grad_output of shape \(2, 3\)"):
        layer.backward(np.zeros((2, 4), np.float32))


def test_constructor_supports_or_refuses_each_pytorch_option_by_name():
    assert mn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    with pytest.raises(ValueError, match="padding_idx"):
        mn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match="sparse=True"):
        mn.Embedding(5, 2, sparse=True)
    with pytest.raises(ValueError, match="_freeze=True"):
        mn.Embedding(5, 2, _freeze=True)
    with pytest.raises(ValueError, match="max_norm"):
        mn.Embedding(5, 2, max_norm=-1.0)
    with pytest.raises(ValueError, match="device"):
        mn.Embedding(5, 2, device="cuda")
    table = np.arange(10, dtype=np.float64).reshape(5, 2)
    given = mn.Embedding(5, 2, _weight=table)
    np.testing.assert_array_equal(given.weight.data, table)
    with pytest.raises(ValueError, match=r"_weight of shape \(5, 2\)"):
        mn.Embedding(5, 2, _weight=np.zeros((2, 5)))
    assert mn.Embedding(5, 2, padding_idx=0, max_norm=2.0).describe() == "Embedding(5, 2, padding_idx=0, max_norm=2.0)"
