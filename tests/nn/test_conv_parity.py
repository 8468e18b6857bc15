"""Convolution, pooling and the CNN against PyTorch, in float64 to ~1e-10: forward and every gradient.

Skips without torch unless MANUALNET_REQUIRE_TORCH=1 (see torch_required.py).
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.nn import functional as F

from ..strategies import conv_configs, distinct_values, pool_configs, random_array, seeds
from ..parity import assert_matches_torch
from ..torch_required import import_torch

torch = import_torch()

TOLERANCE = dict(rtol=1e-10, atol=1e-10)
# PyTorch warns that 'same' padding of an even kernel copies the input; the numbers are what we compare.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _run_torch(module, x, G):
    """PyTorch's output and input gradient for upstream gradient G; parameter gradients stay in the module."""
    x = torch.from_numpy(x).requires_grad_(True)
    y = module(x)
    y.backward(torch.from_numpy(G))
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("cls, dims", [(mn.Conv2d, 2), (mn.Conv1d, 1)], ids=["Conv2d", "Conv1d"])
@given(data=st.data(), seed=seeds)
@pytest.mark.slow
def test_conv_matches_pytorch(cls, dims, data, seed):
    """Every argument of the grid: kernel, stride, padding (ints, 'same', 'valid'), dilation, groups
    (depthwise too), bias, every padding_mode; forward, dL/dx, dL/dW, dL/db."""
    kwargs, shape = data.draw(conv_configs(dims=dims, padding_modes=PADDING_MODES))
    layer = cls(**kwargs, rng=seed, dtype=np.float64)
    assert_matches_torch(layer, (random_array(seed, shape),), seed)


@given(config=conv_configs(dims=2), seed=seeds)
def test_functional_conv2d_matches_pytorch(config, seed):
    kwargs, shape = config
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((kwargs["out_channels"], kwargs["in_channels"] // kwargs["groups"],
                                  *kwargs["kernel_size"]))
    bias = rng.standard_normal(kwargs["out_channels"]) if kwargs["bias"] else None
    arguments = {name: kwargs[name] for name in ("stride", "padding", "dilation", "groups")}
    x = random_array(seed, shape)
    tensors = [torch.from_numpy(a).requires_grad_(True) for a in (x, weight)]
    torch_bias = None if bias is None else torch.from_numpy(bias).requires_grad_(True)
    torch_y = torch.nn.functional.conv2d(*tensors, torch_bias, **arguments)
    G = random_array(seed + 2, tuple(torch_y.shape))
    torch_y.backward(torch.from_numpy(G))
    np.testing.assert_allclose(F.conv2d(x, weight, bias, **arguments), torch_y.detach().numpy(), **TOLERANCE)
    dx, dweight, dbias = F.conv2d_backward(G, x, weight, bias, **arguments)
    np.testing.assert_allclose(dx, tensors[0].grad.numpy(), **TOLERANCE)
    np.testing.assert_allclose(dweight, tensors[1].grad.numpy(), **TOLERANCE)
    if bias is not None:
        np.testing.assert_allclose(dbias, torch_bias.grad.numpy(), **TOLERANCE)


def test_conv_default_init_has_pytorchs_bounds():
    """Both draw W and b uniformly in ±1/√fan_in (different random streams, same distribution)."""
    torch.manual_seed(0)
    for ours, theirs in ((mn.Conv2d(6, 32, 5, groups=2, rng=0), torch.nn.Conv2d(6, 32, 5, groups=2)),
                         (mn.Conv1d(4, 64, 3, rng=0), torch.nn.Conv1d(4, 64, 3))):
        for name in ("weight", "bias"):
            mine, reference = getattr(ours, name).data, getattr(theirs, name).detach().numpy()
            assert mine.shape == reference.shape and mine.dtype == reference.dtype
            bound = np.abs(reference).max()
            assert np.abs(mine).max() <= bound * 1.05 and np.abs(mine).max() >= bound * 0.9, name


# -- pooling ------------------------------------------------------------------------------

@given(config=pool_configs(), seed=seeds)
@pytest.mark.slow
def test_max_pool_matches_pytorch(config, seed):
    kwargs, shape = config
    layer = mn.MaxPool2d(**kwargs, return_indices=True)
    x = random_array(seed, shape)
    (y, indices) = layer(x)
    assume(np.isfinite(y).all())
    G = random_array(seed + 2, y.shape)
    twin = torch.nn.MaxPool2d(**kwargs, return_indices=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    torch_y, torch_indices = twin(xt)
    torch_y.backward(torch.from_numpy(G))
    np.testing.assert_array_equal(y, torch_y.detach().numpy())
    np.testing.assert_array_equal(indices, torch_indices.numpy())
    np.testing.assert_allclose(layer.backward(G), xt.grad.numpy(), **TOLERANCE)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=2, stride=1), dict(kernel_size=3, stride=1),
                                    dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(2, 3), dilation=2),
                                    dict(kernel_size=3, stride=2, ceil_mode=True)], ids=str)
def test_max_pool_ties_go_where_pytorch_sends_them(kwargs):
    """Exact ties (integers 0–2, so most windows tie): the gradient goes to the same single cell as PyTorch's."""
    x = np.random.default_rng(0).integers(0, 3, (2, 3, 9, 8)).astype(np.float64)
    layer = mn.MaxPool2d(**kwargs)
    y = layer(x)
    G = np.random.default_rng(1).standard_normal(y.shape)
    torch_y, torch_dx = _run_torch(torch.nn.MaxPool2d(**kwargs), x, G)
    np.testing.assert_array_equal(y, torch_y)
    dx = layer.backward(G)
    np.testing.assert_array_equal(dx != 0, torch_dx != 0)                # the same cells receive gradient
    np.testing.assert_allclose(dx, torch_dx, rtol=1e-14, atol=1e-14)     # (overlaps add in another order)


@given(config=pool_configs(average=True), seed=seeds)
@pytest.mark.slow
def test_avg_pool_matches_pytorch(config, seed):
    kwargs, shape = config
    assert_matches_torch(mn.AvgPool2d(**kwargs), (random_array(seed, shape),), seed, tolerance=TOLERANCE)


@given(config=pool_configs(average=True), seed=seeds)
def test_functional_pooling_matches_pytorch(config, seed):
    kwargs, shape = config
    x = distinct_values(seed, shape)
    np.testing.assert_allclose(F.avg_pool2d(x, **kwargs),
                               torch.nn.functional.avg_pool2d(torch.from_numpy(x), **kwargs).numpy(), **TOLERANCE)
    max_kwargs = {name: kwargs[name] for name in ("kernel_size", "stride", "padding", "ceil_mode")}
    np.testing.assert_array_equal(F.max_pool2d(x, **max_kwargs),
                                  torch.nn.functional.max_pool2d(torch.from_numpy(x), **max_kwargs).numpy())


# -- the whole network ----------------------------------------------------------------------

def _torch_cnn(model):
    """manualnet.models.CNN written in PyTorch, with the same children and state-dict keys, holding model's state."""
    nn = torch.nn
    first, second = model.channels
    side = model.image_size // 4

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, first, 3, padding=1, bias=False), nn.BatchNorm2d(first), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(first, second, 3, padding=1, bias=False), nn.BatchNorm2d(second), nn.ReLU(),
                nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(second * side * side, model.hidden), nn.ReLU(),
                                            nn.Linear(model.hidden, 10))

        def forward(self, x):
            return self.classifier(self.features(x))

    twin = CNN().double()
    twin.load_state_dict({key: torch.from_numpy(value) for key, value in model.state_dict().items()})
    return twin


@pytest.mark.parametrize("image_size", [8, 28])
@pytest.mark.slow
def test_cnn_matches_the_same_network_in_pytorch(image_size):
    """Training mode (batch statistics), forward and every gradient; then the running statistics it updated."""
    model = mn.CNN(image_size=image_size, channels=(4, 6), hidden=16, rng=0, dtype=np.float64)
    twin = _torch_cnn(model)
    x = random_array(3, (5, 1, image_size, image_size))
    y = model(x)
    G = random_array(4, y.shape)
    torch_y, torch_dx = _run_torch(twin, x, G)
    np.testing.assert_allclose(y, torch_y, **TOLERANCE)
    np.testing.assert_allclose(model.backward(G), torch_dx, **TOLERANCE)
    twin_parameters = dict(twin.named_parameters())
    for key, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad, twin_parameters[key].grad.numpy(), **TOLERANCE, err_msg=key)
    for key, value in twin.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value.numpy(), **TOLERANCE, err_msg=key)


@pytest.mark.slow
def test_cnn_compares_with_its_pytorch_twin_through_manualnet_compare():
    """compare_with_torch builds the twin itself (manualnet.compare) and finds nothing to report."""
    from manualnet.interop.pytorch import compare_with_torch
    model = mn.CNN(image_size=8, channels=(2, 3), hidden=8, rng=0, dtype=np.float64)
    report = compare_with_torch(model, random_array(5, (4, 1, 8, 8)), rng=0)
    assert report.passed and len(report.arrays) == 2 + len(model.parameters())


def test_autograd_nodes_have_pytorchs_names():
    """manualnet.autograd's conv and pooling nodes (the layers, recorded) carry PyTorch's grad_fn names."""
    from manualnet import autograd as ag
    x, w1, w2 = random_array(0, (2, 2, 6, 6)), random_array(1, (3, 2, 3, 3)), random_array(2, (3, 2, 3))
    pairs = [(ag.conv2d(ag.Tensor(x, requires_grad=True), w1),
              torch.nn.functional.conv2d(torch.tensor(x, requires_grad=True), torch.from_numpy(w1))),
             (ag.conv1d(ag.Tensor(x[:, :, 0], requires_grad=True), w2),
              torch.nn.functional.conv1d(torch.tensor(x[:, :, 0], requires_grad=True), torch.from_numpy(w2))),
             (ag.max_pool2d(ag.Tensor(x, requires_grad=True), 2),
              torch.nn.functional.max_pool2d(torch.tensor(x, requires_grad=True), 2)),
             (ag.avg_pool2d(ag.Tensor(x, requires_grad=True), 2),
              torch.nn.functional.avg_pool2d(torch.tensor(x, requires_grad=True), 2))]
    for ours, theirs in pairs:
        assert ours.grad_fn.name() == theirs.grad_fn.name()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOLERANCE)
