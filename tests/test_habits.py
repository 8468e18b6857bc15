"""The README's table of PyTorch habits: every manualnet line in it runs and does what the row says."""

import numpy as np
import pytest

import manualnet as mn


def step(rng):
    model = mn.MLP(xdim=784, hdim=16, ydim=10, rng=0)
    criterion = mn.CrossEntropyLoss()
    x = rng.random((8, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    return model, criterion, x, y


def test_loss_backward_points_to_the_loss_module_and_the_manual_chain_runs(rng):
    model, criterion, x, y = step(rng)
    loss = criterion(model(x.reshape(-1, 28 * 28)), y)
    with pytest.raises(RuntimeError, match=r"model\.backward\(criterion\.backward\(\)\)"):
        loss.backward()
    model.backward(criterion.backward())
    assert all(p.grad.any() for p in model.parameters())


def test_zero_grad_on_the_optimizer_and_on_the_model_clear_the_accumulated_gradients(rng):
    model, criterion, x, y = step(rng)
    optimizer = mn.optim.Adam(model.parameters())
    for clear in (optimizer.zero_grad, model.zero_grad):
        criterion(model(x.reshape(-1, 784)), y)
        model.backward(criterion.backward())
        clear()
        assert not any(p.grad.any() for p in model.parameters())


def test_item_reshape_and_to(rng):
    model, criterion, x, y = step(rng)
    loss = criterion(model(x.reshape(-1, 28 * 28)), y)
    assert isinstance(loss.item(), float)
    with pytest.raises((TypeError, ValueError)):
        x.view(-1, 28 * 28)                          # NumPy's view takes a dtype: the habit fails loudly
    assert model.to("cpu") is model
    with pytest.raises(ValueError, match="runs on the CPU with NumPy; there is no device 'cuda'"):
        model.to("cuda")
    assert model.to(np.float64).lin_1.weight.dtype == np.float64


def test_without_no_grad_nothing_piles_up_across_forwards(rng):
    """No graph is recorded: each forward replaces what the layer keeps, it never adds to it."""
    model, _, x, _ = step(rng)
    model.eval()
    model(x.reshape(-1, 784))
    kept = {name: set(vars(module)) for name, module in model.named_modules()}
    model(x.reshape(-1, 784))
    assert kept == {name: set(vars(module)) for name, module in model.named_modules()}


def test_save_and_load_state_dict_as_in_torch(rng, tmp_path):
    model, _, x, _ = step(rng)
    mn.save(model, tmp_path / "model.npz")
    restored = mn.MLP(xdim=784, hdim=16, ydim=10, rng=1)
    restored.load_state_dict(mn.load(tmp_path / "model.npz"))
    np.testing.assert_array_equal(restored(x.reshape(-1, 784)), model(x.reshape(-1, 784)))
