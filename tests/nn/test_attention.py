"""Attention: MultiheadAttention and scaled_dot_product_attention against finite differences, and their errors.

float64 property tests over every mask kind (boolean and float ``attn_mask``,
2-D and 3-D, ``key_padding_mask``, causal), cross-attention with a source of
another length, both layouts, kdim/vdim, add_bias_kv, add_zero_attn, the
weights' gradient (averaged or per head) and dropout (its masks drawn from
one seed at every forward, so finite differences probe one function).  The
torch comparisons are in test_transformer_parity.py.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.nn import functional as F
from manualnet.nn.modules._attention import ScaledDotProductAttention, causal_mask, softmax_rows
from manualnet.testing.gradcheck import check_module

from ..strategies import random_array, seeds


class WithOptions(mn.Module):
    """layer(query, key, value, **options), its dropout masks drawn from one seed at every forward."""

    def __init__(self, layer, seed=0, **options):
        super().__init__()
        self.layer, self.seed, self.options = layer, seed, options

    def forward(self, query, key, value):
        self.layer.rng = np.random.default_rng(self.seed)
        return self.layer(query, key, value, **self.options)

    def backward(self, grad_output, need_input_grad=True):
        return self.layer.backward(grad_output)

    def describe(self):
        return self.layer.describe()


class SelfAttention(WithOptions):
    """layer(x, x, x): x used three times, so dL/dx is the sum of the three gradients."""

    def forward(self, x):
        return super().forward(x, x, x)

    def backward(self, grad_output, need_input_grad=True):
        d_query, d_key, d_value = self.layer.backward(grad_output)
        return d_query + d_key + d_value


def random_attention(seed, *args, **kwargs):
    """A float64 MultiheadAttention with random (never zero) values in every parameter, biases included."""
    layer = mn.MultiheadAttention(*args, dtype=np.float64, rng=seed, **kwargs)
    rng = np.random.default_rng(seed + 1)
    for parameter in layer.parameters():
        parameter.data[...] = rng.uniform(0.3, 1.0, parameter.shape) * rng.choice([-1, 1], parameter.shape)
    return layer


def layout(batch_first, batch, length, features):
    return (batch, length, features) if batch_first else (length, batch, features)


@st.composite
def masks(draw, batch, heads, length, source, rng):
    """attn_mask (None, boolean or float, 2-D or 3-D) and key_padding_mask (None, boolean or float).

    Boolean masks never hide keys 0 and 1: a query that sees one key has a constant weight 1 (its scores get
    no gradient) and one that sees none a constant output (tested on its own below).
    """
    kind = draw(st.sampled_from(["none", "bool2d", "float2d", "bool3d", "float3d"]))
    attn_mask = None
    if kind != "none":
        shape = (length, source) if kind.endswith("2d") else (batch * heads, length, source)
        attn_mask = rng.random(shape) < 0.3 if kind.startswith("bool") else rng.standard_normal(shape)
        if kind.startswith("bool"):
            attn_mask[..., :2] = False
    padding = draw(st.sampled_from(["none", "bool", "float"]))
    key_padding_mask = None
    if padding == "bool":
        key_padding_mask = rng.random((batch, source)) < 0.3
        key_padding_mask[:, :2] = False
    elif padding == "float":
        key_padding_mask = rng.standard_normal((batch, source))
    return attn_mask, key_padding_mask


@given(data=st.data(), heads=st.sampled_from([1, 2]), head_dim=st.integers(1, 3), batch=st.integers(1, 3),
       length=st.integers(1, 4), source=st.integers(2, 4), batch_first=st.booleans(), separate=st.booleans(),
       bias=st.booleans(), add_bias_kv=st.booleans(), add_zero_attn=st.booleans(), average=st.booleans(),
       seed=seeds)
def test_cross_attention_matches_finite_differences_with_every_mask_kind(data, heads, head_dim, batch, length, source,
                                                                          batch_first, separate, bias, add_bias_kv,
                                                                          add_zero_attn, average, seed):
    """dL/dquery, dL/dkey, dL/dvalue and every parameter's gradient, with G for the output AND the weights."""
    embed = heads * head_dim
    kdim, vdim = (embed + 1, embed + 2) if separate else (None, None)
    layer = random_attention(seed, embed, heads, bias=bias, add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn,
                             kdim=kdim, vdim=vdim, batch_first=batch_first)
    rng = np.random.default_rng(seed + 2)
    attn_mask, key_padding_mask = data.draw(masks(batch, heads, length, source, rng))
    query = random_array(seed, layout(batch_first, batch, length, embed))
    key = random_array(seed + 3, layout(batch_first, batch, source, kdim or embed))
    value = random_array(seed + 4, layout(batch_first, batch, source, vdim or embed))
    module = WithOptions(layer, attn_mask=attn_mask, key_padding_mask=key_padding_mask, average_attn_weights=average)
    report = check_module(module, query, key, value, rng=seed)
    assert report.passed, str(report)
    assert {"input", "key", "value"} <= {array.name for array in report.arrays}


@given(heads=st.sampled_from([1, 2]), length=st.integers(2, 5), batch_first=st.booleans(), dropout=st.booleans(),
       unbatched=st.booleans(), seed=seeds)
def test_causal_self_attention_matches_finite_differences(heads, length, batch_first, dropout, unbatched, seed):
    """Self-attention (the three gradients of x added), a causal mask, dropout on the weights in training."""
    layer = random_attention(seed, 2 * heads, heads, dropout=0.3 if dropout else 0.0, batch_first=batch_first)
    mask = np.triu(np.ones((length, length), bool), k=1)
    x = random_array(seed, (length, 2 * heads) if unbatched else layout(batch_first, 2, length, 2 * heads))
    module = SelfAttention(layer, seed=seed, attn_mask=mask, is_causal=True, need_weights=False)
    assert check_module(module, x, rng=seed).passed


def test_the_causal_mask_keeps_the_future_out():
    """Output t does not change when any input after t changes; output t does change with input t."""
    layer = random_attention(0, 4, 2, batch_first=True)
    x = random_array(0, (1, 5, 4))
    mask = np.triu(np.ones((5, 5), bool), k=1)
    before = layer(x, x, x, attn_mask=mask, need_weights=False)[0]
    later = x.copy()
    later[:, 3:] += 1.0
    after = layer(later, later, later, attn_mask=mask, need_weights=False)[0]
    np.testing.assert_array_equal(after[:, :3], before[:, :3])
    assert not np.allclose(after[:, 3:], before[:, 3:])
    np.testing.assert_array_equal(causal_mask(3, 3, np.float64), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])


def test_a_query_with_every_key_hidden_gets_zero_output_and_passes_no_gradient():
    """PyTorch's scaled_dot_product_attention gives 0 there (its MultiheadAttention with need_weights: NaN)."""
    probs = softmax_rows(np.array([[-np.inf, -np.inf], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(probs, [[0, 0], [0.25, 0.75]])
    q, k, v = random_array(0, (1, 3, 2)), random_array(1, (1, 4, 2)), random_array(2, (1, 4, 2))
    mask = np.ones((3, 4), bool)
    mask[1] = False                                           # query 1 may see no key
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    np.testing.assert_array_equal(y[0, 1], 0)
    d_q, _, _ = F.scaled_dot_product_attention_backward(np.ones_like(y), q, k, v, attn_mask=mask)
    np.testing.assert_array_equal(d_q[0, 1], 0)


@given(causal=st.booleans(), scale=st.sampled_from([None, 0.7]), heads=st.booleans(), seed=seeds)
def test_scaled_dot_product_attention_matches_finite_differences(causal, scale, heads, seed):
    shape = (2, 2) if heads else (2,)
    rng = np.random.default_rng(seed)
    mask = None if causal else (rng.random((3, 4)) < 0.7 if seed % 2 else rng.standard_normal(shape + (3, 4)))
    layer = ScaledDotProductAttention(mask, is_causal=causal, scale=scale)
    q, k, v = (random_array(seed + i, shape + (length, 3)) for i, length in ((1, 3), (2, 4), (3, 4)))
    assert check_module(layer, q, k, v, rng=seed).passed


def test_the_function_and_the_layer_run_the_same_code():
    """F.scaled_dot_product_attention with the heads of a MultiheadAttention gives its merged output, bit for bit."""
    q, k, v = (random_array(i, (2, 3, 5, 4)) for i in range(3))
    layer = ScaledDotProductAttention(is_causal=True)
    y = layer(q, k, v)
    assert np.array_equal(F.scaled_dot_product_attention(q, k, v, is_causal=True), y)
    G = random_array(9, y.shape)
    for ours, theirs in zip(F.scaled_dot_product_attention_backward(G, q, k, v, is_causal=True), layer.backward(G)):
        assert np.array_equal(ours, theirs)


def test_worked_example_of_attention_md():
    """derivations/attention.md, Worked example: one query, two keys, s = 1/√2."""
    q, k = np.array([[[1.0, 1.0]]]), np.array([[[1.0, 1.0], [1.0, -1.0]]])
    v = np.array([[[2.0, 0.0], [0.0, 4.0]]])
    layer = ScaledDotProductAttention()
    y = layer(q, k, v)
    p = np.array([1.0, np.exp(-np.sqrt(2))]) / (1 + np.exp(-np.sqrt(2)))
    np.testing.assert_allclose(y, [[p @ v[0]]], rtol=1e-14)
    np.testing.assert_allclose(p, [0.8044, 0.1956], atol=5e-5)
    np.testing.assert_allclose(y, [[[1.6089, 0.7823]]], atol=5e-5)
    d_q, d_k, d_v = layer.backward(np.array([[[1.0, 0.0]]]))
    np.testing.assert_allclose(d_v, [[[p[0], 0.0], [p[1], 0.0]]], rtol=1e-14)
    d_s = p * (np.array([2.0, 0.0]) - p @ np.array([2.0, 0.0]))
    np.testing.assert_allclose(d_q, [[d_s @ k[0] / np.sqrt(2)]], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(d_k, [d_s[:, None] * q[0] / np.sqrt(2)], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(d_s, [0.3146, -0.3146], atol=5e-5)
    np.testing.assert_allclose(d_q, [[[0.0, 0.4450]]], atol=5e-5)
    np.testing.assert_allclose(d_k, [[[0.2225, 0.2225], [-0.2225, -0.2225]]], atol=5e-5)


# -- shapes, dtypes and layouts -------------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_have_pytorchs_shapes_and_the_inputs_dtype(batch_first, dtype):
    layer = mn.MultiheadAttention(8, 2, batch_first=batch_first, kdim=3, vdim=5, dtype=dtype, rng=0)
    q = np.ones(layout(batch_first, 4, 6, 8), dtype)
    k, v = np.ones(layout(batch_first, 4, 7, 3), dtype), np.ones(layout(batch_first, 4, 7, 5), dtype)
    y, w = layer(q, k, v)
    assert y.shape == q.shape and w.shape == (4, 6, 7) and y.dtype == w.dtype == dtype
    _, w = layer(q, k, v, average_attn_weights=False)
    assert w.shape == (4, 2, 6, 7)
    y, w = layer(q[:, 0] if not batch_first else q[0], k[:, 0] if not batch_first else k[0],
                 v[:, 0] if not batch_first else v[0], need_weights=True)
    assert y.shape == (6, 8) and w.shape == (6, 7)
    grads = layer.backward((np.ones_like(y), None))
    assert [g.shape for g in grads] == [(6, 8), (7, 3), (7, 5)] and all(g.dtype == dtype for g in grads)
    assert layer(q, k, v, need_weights=False)[1] is None


def test_parameters_have_pytorchs_names_and_layout():
    same = mn.MultiheadAttention(6, 3, add_bias_kv=True, rng=0)
    assert [name for name, _ in same.named_parameters()] == [
        "in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight", "out_proj.bias"]
    assert same.in_proj_weight.shape == (18, 6) and same.bias_k.shape == (1, 1, 6)
    assert same.q_proj_weight is None and not same.in_proj_bias.data.any() and not same.out_proj.bias.data.any()
    separate = mn.MultiheadAttention(6, 3, kdim=4, vdim=5, bias=False, rng=0)
    assert [(name, p.shape) for name, p in separate.named_parameters()] == [
        ("q_proj_weight", (6, 6)), ("k_proj_weight", (6, 4)), ("v_proj_weight", (6, 5)), ("out_proj.weight", (6, 6))]
    assert separate.in_proj_weight is None and separate.in_proj_bias is None


def test_backward_adds_into_grad_and_returns_three_gradients(rng):
    layer = random_attention(0, 4, 2)
    x = rng.standard_normal((3, 2, 4))
    y, w = layer(x, x, x)
    first = layer.backward((np.ones_like(y), None))
    once = layer.in_proj_weight.grad.copy()
    second = layer.backward((np.ones_like(y), None))
    np.testing.assert_allclose(layer.in_proj_weight.grad, 2 * once)
    assert len(first) == 3 and all(np.array_equal(a, b) for a, b in zip(first, second))
    layer.zero_grad()
    assert layer.backward((np.ones_like(y), None), need_input_grad=False) == (None, None, None)
    assert layer.in_proj_weight.grad.any()


# -- bad input: errors name the layer, what was expected and what came -----------------------------------

@pytest.mark.parametrize("build, match", [
    (lambda: mn.MultiheadAttention(10, 3), r"MultiheadAttention: embed_dim must be divisible by num_heads.*10.*3"),
    (lambda: mn.MultiheadAttention(8, 0), r"num_heads to be a positive integer, got 0"),
    (lambda: mn.MultiheadAttention(8, 2, dropout=1.5), r"dropout.*in \[0, 1\], got 1.5"),
    (lambda: mn.MultiheadAttention(8, 2, device="cuda"), r"no device 'cuda'"),
    (lambda: mn.MultiheadAttention(8, 2, batch_first=1), r"batch_first to be True or False"),
])
def test_bad_arguments_are_refused_by_name(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


@pytest.mark.parametrize("call, match", [
    (lambda m, x: m(x[..., :7], x, x), r"MultiheadAttention\(embed_dim=8, num_heads=2\): expected query of shape "
                                       r"\(L, N, 8\).*got shape \(3, 2, 7\)"),
    (lambda m, x: m(x, x[:2], x), r"key and value must have the same source length S.*got 2 and 3"),
    (lambda m, x: m(x, x[:, :1], x[:, :1]), r"same batch, got batch sizes 2, 1 and 1"),
    (lambda m, x: m(x, x, x, attn_mask=np.zeros((3, 4), bool)), r"expected attn_mask of shape \(L, S\) = \(3, 3\) "
                                                                r"or \(N·num_heads, L, S\) = \(4, 3, 3\), got \(3, 4\)"),
    (lambda m, x: m(x, x, x, key_padding_mask=np.zeros((3, 2), bool)), r"key_padding_mask of shape \(N, S\) = \(2, 3\)"),
    (lambda m, x: m(x, x, x, attn_mask=np.zeros((3, 3), np.int64)), r"boolean mask or a float mask.*got dtype int64"),
    (lambda m, x: m(x, x, x, attn_mask=np.zeros((3, 3), np.float32)), r"attn_mask has dtype float32 but the "
                                                                      r"attention computes in float64"),
    (lambda m, x: m(x, x, x, is_causal=True), r"is_causal=True is a hint that attn_mask is the causal mask"),
    (lambda m, x: m(x.astype(np.float32), x, x), r"query has dtype float32 but the layer's parameters are float64"),
    (lambda m, x: m(x[0, 0], x[0, 0], x[0, 0]), r"expected query of shape .*got shape \(8,\)"),
])
def test_bad_inputs_name_the_layer_what_it_expected_and_what_came(call, match):
    layer = mn.MultiheadAttention(8, 2, dtype=np.float64, rng=0)
    x = np.ones((3, 2, 8))
    with pytest.raises((ValueError, TypeError), match=match):
        call(layer, x)


def test_bad_gradients_and_backward_before_forward_are_clear_errors():
    layer = mn.MultiheadAttention(4, 2, dtype=np.float64, rng=0)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward((np.ones((3, 2, 4)), None))
    x = np.ones((3, 2, 4))
    layer(x, x, x, need_weights=False)
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(3, 2, 4\)"):
        layer.backward((np.ones((2, 3, 4)), None))
    with pytest.raises(ValueError, match="need_weights=False"):
        layer.backward((np.ones((3, 2, 4)), np.ones((2, 3, 3))))


@pytest.mark.parametrize("call, match", [
    (lambda q: F.scaled_dot_product_attention(q, q[..., :2], q), r"same number of features E.*query \(2, 3, 4\)"),
    (lambda q: F.scaled_dot_product_attention(q, q, q[:, :2]), r"key and value must have the same source length"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True),
     r"attn_mask or is_causal=True, not both"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, enable_gqa=True), r"enable_gqa=True .* not implemented"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=2.0), r"dropout_p.*got 2.0"),
    (lambda q: F.scaled_dot_product_attention(q[0, 0], q[0, 0], q[0, 0]), r"expected query of shape \(\.\.\., "
                                                                          r"sequence, features\), got shape \(4,\)"),
])
def test_the_functions_bad_inputs_are_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(np.ones((2, 3, 4)))


def test_dropout_drops_attention_weights_in_training_only_and_reproducibly():
    layer = mn.MultiheadAttention(4, 2, dropout=0.5, rng=3)
    x = np.random.default_rng(0).standard_normal((5, 2, 4)).astype(np.float32)
    _, w = layer(x, x, x, average_attn_weights=False)
    assert (w == 0).mean() > 0.3 and np.allclose(w[w > 0].max(), w.max())
    layer.eval()
    _, w = layer(x, x, x, average_attn_weights=False)
    np.testing.assert_allclose(w.sum(axis=-1), 1, rtol=1e-6)
    first, second = (mn.MultiheadAttention(4, 2, dropout=0.5, rng=3) for _ in range(2))
    assert np.array_equal(first(x, x, x)[0], second(x, x, x)[0])
