"""PyTorch parity for the transformer layers: LayerNorm, GELU, MultiheadAttention, scaled_dot_product_attention.

Same weights (moved by to_torch), same inputs and upstream gradients, float64:
outputs and every gradient equal torch's autograd to 1e-10, over every
option (masks of every kind, both layouts, unbatched input, kdim/vdim,
add_bias_kv, add_zero_attn, need_weights, average_attn_weights).  Skipped
with a visible reason when torch is absent; required in CI.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.interop.pytorch import from_torch, to_torch
from manualnet.nn import functional as F

from ..strategies import random_array, seeds
from ..torch_required import import_torch

torch = import_torch()
TOLERANCE = dict(rtol=1e-10, atol=1e-12)


def tensor(array, grad=False):
    return torch.tensor(array, requires_grad=grad)


def close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), err_msg=what, **TOLERANCE)


def randomized(module, seed):
    rng = np.random.default_rng(seed)
    for parameter in module.parameters():
        parameter.data[...] = rng.standard_normal(parameter.shape) * 0.7
    return module


def grads_match(ours, theirs):
    theirs_named = dict(theirs.named_parameters())
    assert set(theirs_named) == {name for name, _ in ours.named_parameters()}
    for name, parameter in ours.named_parameters():
        close(parameter.grad, theirs_named[name].grad, f"gradient of {name}")


@given(shape=st.sampled_from([(3, 5), (2, 3, 4, 5), (4, 1, 6)]), affine=st.booleans(), bias=st.booleans(),
       two_axes=st.booleans(), seed=seeds)
def test_layer_norm_matches_torch(shape, affine, bias, two_axes, seed):
    normalized = shape[-2:] if two_axes else shape[-1:]
    ours = randomized(mn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias, dtype=np.float64), seed)
    theirs = to_torch(ours)
    assert type(theirs) is torch.nn.LayerNorm
    x, G = random_array(seed, shape, scale=3.0), random_array(seed + 1, shape)
    x_torch = tensor(x, grad=True)
    y_torch = theirs(x_torch)
    close(ours(x), y_torch, "output")
    y_torch.backward(tensor(G))
    close(ours.backward(G), x_torch.grad, "dL/dx")
    grads_match(ours, theirs)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(seed=seeds)
def test_gelu_matches_torch(approximate, seed):
    x, G = random_array(seed, (4, 7), scale=3.0), random_array(seed + 1, (4, 7))
    ours = mn.GELU(approximate)
    x_torch = tensor(x, grad=True)
    y_torch = to_torch(ours)(x_torch)
    close(ours(x), y_torch, "output")
    y_torch.backward(tensor(G))
    close(ours.backward(G), x_torch.grad, "dL/dx")


@st.composite
def attention_cases(draw):
    """(constructor arguments, forward options, shapes) over everything MultiheadAttention takes."""
    heads, head_dim = draw(st.sampled_from([1, 2, 3])), draw(st.integers(1, 3))
    embed, batch, length, source = heads * head_dim, draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    separate = draw(st.booleans())
    arguments = dict(embed_dim=embed, num_heads=heads, bias=draw(st.booleans()), add_bias_kv=draw(st.booleans()),
                     add_zero_attn=draw(st.booleans()), kdim=embed + 1 if separate else None,
                     vdim=embed + 2 if separate else None, batch_first=draw(st.booleans()))
    rng = np.random.default_rng(draw(seeds))
    unbatched = draw(st.booleans())
    mask_kind = draw(st.sampled_from(["none", "bool2d", "float2d", "bool3d", "float3d"]))
    options = dict(need_weights=draw(st.booleans()), average_attn_weights=draw(st.booleans()))
    n = 1 if unbatched else batch
    if mask_kind != "none":
        shape = (length, source) if mask_kind.endswith("2d") else (n * heads, length, source)
        mask = rng.random(shape) < 0.3 if mask_kind.startswith("bool") else rng.standard_normal(shape)
        if mask_kind.startswith("bool"):
            mask[..., 0] = False                     # every query sees a key (else PyTorch's weights are NaN)
        options["attn_mask"] = mask
    padding_kind = draw(st.sampled_from(["none", "bool", "float"]))
    if padding_kind != "none" and (padding_kind == "float" or mask_kind in ("none", "bool2d", "bool3d")):
        padding = rng.random((n, source)) < 0.3 if padding_kind == "bool" else rng.standard_normal((n, source))
        if padding_kind == "bool":
            padding[:, 0] = False
        options["key_padding_mask"] = padding[0] if unbatched else padding
    return arguments, options, (batch, length, source, unbatched)


def run_attention(arguments, options, shapes, seed, self_attention=False):
    ours = randomized(mn.MultiheadAttention(**arguments, dtype=np.float64, rng=seed), seed)
    theirs = to_torch(ours)
    assert type(theirs) is torch.nn.MultiheadAttention
    batch, length, source, unbatched = shapes
    embed = arguments["embed_dim"]

    def shape(steps, features):
        if unbatched:
            return (steps, features)
        return (batch, steps, features) if arguments["batch_first"] else (steps, batch, features)

    query = random_array(seed, shape(length, embed))
    key = query if self_attention else random_array(seed + 1, shape(source, arguments["kdim"] or embed))
    value = query if self_attention else random_array(seed + 2, shape(source, arguments["vdim"] or embed))
    output, weights = ours(query, key, value, **options)
    torch_inputs = [tensor(a, grad=True) for a in (query, key, value)]
    torch_options = {name: tensor(value) if isinstance(value, np.ndarray) else value for name, value in options.items()}
    torch_output, torch_weights = theirs(*torch_inputs, **torch_options)
    close(output, torch_output, "attn_output")
    assert (weights is None) == (torch_weights is None)
    G_output = random_array(seed + 3, output.shape)
    G_weights = None if weights is None else random_array(seed + 4, weights.shape)
    if weights is not None:
        close(weights, torch_weights, "attn_weights")
    grads = ours.backward((G_output, G_weights))
    torch.autograd.backward([torch_output] + ([torch_weights] if weights is not None else []),
                            [tensor(G_output)] + ([tensor(G_weights)] if weights is not None else []))
    for name, mine, its in zip(("dL/dquery", "dL/dkey", "dL/dvalue"), grads, torch_inputs):
        close(mine, its.grad, name)
    grads_match(ours, theirs)
    return ours, theirs


@given(case=attention_cases(), seed=seeds)
def test_multihead_attention_matches_torch_with_every_option(case, seed):
    run_attention(*case, seed)


@given(heads=st.sampled_from([1, 2, 4]), length=st.integers(1, 6), batch_first=st.booleans(), seed=seeds)
def test_causal_self_attention_matches_torch(heads, length, batch_first, seed):
    """Self-attention: torch adds the three uses of x; ours returns them and the caller adds (checked here)."""
    arguments = dict(embed_dim=2 * heads, num_heads=heads, bias=True, add_bias_kv=False, add_zero_attn=False,
                     kdim=None, vdim=None, batch_first=batch_first)
    options = dict(attn_mask=np.triu(np.ones((length, length), bool), k=1), is_causal=True, need_weights=False)
    run_attention(arguments, options, (2, length, length, False), seed, self_attention=True)


def test_a_round_trip_through_torch_keeps_every_array():
    ours = randomized(mn.MultiheadAttention(6, 2, kdim=4, vdim=5, add_bias_kv=True, dtype=np.float64, rng=0), 1)
    back = from_torch(to_torch(ours))
    assert type(back) is mn.MultiheadAttention and back.kdim == 4 and back.bias_k is not None
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value, err_msg=key)
    for layer in (mn.LayerNorm((2, 3), bias=False), mn.GELU("tanh"),
                  mn.ModuleList([mn.LayerNorm(3)]), mn.ModuleDict({"gelu": mn.GELU()})):
        assert type(from_torch(to_torch(layer))) is type(layer)
        assert list(from_torch(to_torch(layer)).state_dict()) == list(layer.state_dict())


@given(mask_kind=st.sampled_from(["none", "causal", "bool", "float", "fully hidden"]), scale=st.sampled_from([None, 0.5]),
       seed=seeds)
def test_scaled_dot_product_attention_matches_torch(mask_kind, scale, seed):
    """PyTorch's function: True in a boolean mask means the query MAY attend; a query seeing no key gives 0."""
    rng = np.random.default_rng(seed)
    q, k, v = (random_array(seed + i, (2, 3, length, width)) for i, (length, width) in
               enumerate([(4, 5), (6, 5), (6, 3)]))
    options = {"scale": scale}
    if mask_kind == "causal":
        options["is_causal"] = True
    elif mask_kind in ("bool", "fully hidden"):
        mask = rng.random((4, 6)) < 0.7
        mask[:, 0] = True
        if mask_kind == "fully hidden":
            mask[2] = False
        options["attn_mask"] = mask
    elif mask_kind == "float":
        options["attn_mask"] = rng.standard_normal((2, 1, 4, 6))
    y = F.scaled_dot_product_attention(q, k, v, **options)
    inputs = [tensor(a, grad=True) for a in (q, k, v)]
    torch_options = {name: tensor(value) if isinstance(value, np.ndarray) else value for name, value in options.items()}
    y_torch = torch.nn.functional.scaled_dot_product_attention(*inputs, **torch_options)
    close(y, y_torch, "output")
    G = random_array(seed + 9, y.shape)
    y_torch.backward(tensor(G))
    for name, mine, its in zip(("dq", "dk", "dv"), F.scaled_dot_product_attention_backward(G, q, k, v, **options),
                               inputs):
        close(mine, its.grad, name)
