"""The study notes' MLP + Adam loop ported line for line, and state dicts moving between manualnet and PyTorch."""

import numpy as np
import pytest

import manualnet as mn
from manualnet import optim
from manualnet.utils.data.dataloader import DataLoader
from manualnet.utils.data.dataset import TensorDataset
from manualnet.interop.pytorch import notes_mlp_class

from ..torch_required import import_torch

torch = import_torch()
nn, F = torch.nn, torch.nn.functional


MultiLayerPerceptronClass = notes_mlp_class()     # the notes' torch model (004_*.txt), FILL IN HERE filled in


def fake_mnist(count, seed, dtype=np.float32):
    """(images (count, 28, 28) in [0, 1], labels (count,) in 0..9) with a learnable rule: the brightest of ten stripes."""
    rng = np.random.default_rng(seed)
    images = rng.random((count, 28, 28)).astype(dtype) * 0.5
    labels = rng.integers(0, 10, size=count)
    for stripe in range(10):
        images[labels == stripe, :, 2 * stripe:2 * stripe + 2] += 0.5
    return images, labels


def func_eval(model, data_iter):
    """The notes' func_eval: accuracy in eval mode, then back to train mode."""
    model.eval()
    n_total, n_correct = 0, 0
    for batch_in, batch_out in data_iter:
        y_trgt = batch_out
        model_pred = model(batch_in.reshape(-1, 28 * 28))
        y_pred = model_pred.argmax(axis=1)
        n_correct += (y_pred == y_trgt).sum().item()
        n_total += batch_in.shape[0]
    val_accr = n_correct / n_total
    model.train()
    return val_accr


# -- the notes' code, ported -------------------------------------------------------------

@pytest.mark.slow
def test_study_notes_mlp_adam_loop_ports_line_for_line(capsys):
    train_iter = DataLoader(TensorDataset(*fake_mnist(512, 0)), batch_size=64, shuffle=True, rng=0)
    test_iter = DataLoader(TensorDataset(*fake_mnist(256, 1)), batch_size=64)

    M = mn.MLP(name="mlp", xdim=784, hdim=256, ydim=10, rng=0)
    loss = mn.CrossEntropyLoss()
    optm = optim.Adam(M.parameters(), lr=1e-3)

    M.init_param(rng=0)  # initialize parameters
    M.train()
    EPOCHS, print_every = 3, 1
    for epoch in range(EPOCHS):
        loss_val_sum = 0
        for batch_in, batch_out in train_iter:
            # Forward path
            y_pred = M.forward(batch_in.reshape(-1, 28 * 28))
            loss_out = loss(y_pred, batch_out)
            # Update
            optm.zero_grad()                 # reset gradient
            M.backward(loss.backward())      # backpropagate (PyTorch: loss_out.backward())
            optm.step()                      # optimizer update
            loss_val_sum += loss_out
        loss_val_avg = loss_val_sum / len(train_iter)
        # Print
        if ((epoch % print_every) == 0) or (epoch == (EPOCHS - 1)):
            train_accr = func_eval(M, train_iter)
            test_accr = func_eval(M, test_iter)
            print("epoch:[%d] loss:[%.3f] train_accr:[%.3f] test_accr:[%.3f]." %
                  (epoch, loss_val_avg, train_accr, test_accr))

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == EPOCHS
    assert all(line.startswith(f"epoch:[{i}] loss:[") and line.endswith("].") for i, line in enumerate(lines))
    assert train_accr > 0.9 and test_accr > 0.9 and M.training


@pytest.mark.slow
def test_study_notes_loop_matches_the_same_loop_in_torch():
    """Same initial weights, same batches, float64: every epoch's mean loss and the final weights agree."""
    train_iter = DataLoader(TensorDataset(*fake_mnist(256, 2, np.float64)), batch_size=32, shuffle=True, rng=3)
    M = mn.MLP(xdim=784, hdim=64, ydim=10, rng=4, dtype=np.float64)
    T = MultiLayerPerceptronClass(xdim=784, hdim=64, ydim=10).double()
    T.load_state_dict({key: torch.from_numpy(value) for key, value in M.state_dict().items()})
    loss, torch_loss = mn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    optm, torch_optm = optim.Adam(M.parameters(), lr=1e-3), torch.optim.Adam(T.parameters(), lr=1e-3)
    for epoch in range(3):
        ours_sum, theirs_sum = 0.0, 0.0
        for batch_in, batch_out in train_iter:
            loss_out = loss(M.forward(batch_in.reshape(-1, 28 * 28)), batch_out)
            optm.zero_grad()
            M.backward(loss.backward())
            optm.step()
            torch_out = torch_loss(T.forward(torch.from_numpy(batch_in).view(-1, 28 * 28)), torch.from_numpy(batch_out))
            torch_optm.zero_grad()
            torch_out.backward()
            torch_optm.step()
            ours_sum, theirs_sum = ours_sum + loss_out, theirs_sum + torch_out.item()
        assert ours_sum / len(train_iter) == pytest.approx(theirs_sum / len(train_iter), rel=1e-10)
    for key, value in T.state_dict().items():
        np.testing.assert_allclose(M.state_dict()[key], value.numpy(), rtol=1e-9, atol=1e-12, err_msg=key)


# -- state dicts, both directions ------------------------------------------------------------

def torch_state_as_numpy(module):
    return {key: value.detach().numpy() for key, value in module.state_dict().items()}


def numpy_state_as_torch(state):
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in state.items()}


def train_torch_a_little(model, x, y, steps=3):
    """A few SGD steps in train mode, so weights and BatchNorm's running statistics are not their defaults."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


@pytest.mark.slow
def test_torch_sequential_weights_load_into_manualnet_and_give_the_same_outputs(rng):
    torch.manual_seed(0)
    x = rng.standard_normal((16, 20)).astype(np.float32)
    theirs = train_torch_a_little(nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5)),
                                  torch.from_numpy(x), torch.from_numpy(rng.integers(0, 5, 16)))
    ours = mn.Sequential(mn.Linear(20, 32), mn.ReLU(), mn.Linear(32, 5))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(torch_state_as_numpy(theirs))
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_notes_torch_mlp_weights_load_into_manualnet_mlp_and_back(rng):
    torch.manual_seed(1)
    theirs = MultiLayerPerceptronClass(name="mlp", xdim=784, hdim=256, ydim=10).double()
    ours = mn.MLP(xdim=784, hdim=256, ydim=10, dtype=np.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(torch_state_as_numpy(theirs))
    x = rng.random((8, 784))
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)

    trained = mn.MLP(xdim=784, hdim=256, ydim=10, rng=5, dtype=np.float64)     # the reverse direction
    theirs.load_state_dict(numpy_state_as_torch(trained.state_dict()))
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), trained(x), rtol=1e-12, atol=1e-12)


def test_manualnet_weights_load_into_torch_strictly_and_give_the_same_outputs(rng):
    ours = mn.Sequential(mn.Linear(6, 8, rng=0), mn.ReLU(), mn.Linear(8, 3, rng=1))
    theirs = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    result = theirs.load_state_dict(numpy_state_as_torch(ours.state_dict()), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = rng.standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), ours(x), rtol=1e-5, atol=1e-6)


def batchnorm_networks():
    return (nn.Sequential(nn.Linear(10, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 4)).double(),
            mn.Sequential(mn.Linear(10, 12, dtype=np.float64), mn.BatchNorm1d(12, dtype=np.float64), mn.ReLU(),
                          mn.Linear(12, 4, dtype=np.float64)))


@pytest.mark.slow
def test_batchnorm_buffers_move_both_ways_with_the_weights(rng, tmp_path):
    torch.manual_seed(2)
    x = rng.standard_normal((32, 10))
    theirs, ours = batchnorm_networks()
    train_torch_a_little(theirs, torch.from_numpy(x), torch.from_numpy(rng.integers(0, 4, 32)))
    state = torch_state_as_numpy(theirs)
    assert state["1.num_batches_tracked"].dtype == np.int64 and int(state["1.num_batches_tracked"]) == 3
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    ours.eval()
    x_test = rng.standard_normal((7, 10))
    np.testing.assert_allclose(ours(x_test), theirs(torch.from_numpy(x_test)).detach().numpy(), rtol=1e-12, atol=1e-12)

    # Back to torch, through a file: manualnet trains on, saves, torch loads the buffers too.
    ours.train()
    for _ in range(2):
        ours(rng.standard_normal((16, 10)))
    mn.save(ours, tmp_path / "model.npz")
    fresh, _ = batchnorm_networks()
    fresh.load_state_dict(numpy_state_as_torch(mn.load(tmp_path / "model.npz")), strict=True)
    assert int(fresh[1].num_batches_tracked) == 5
    np.testing.assert_allclose(fresh[1].running_var.numpy(), ours[1].running_var, rtol=1e-15)
    fresh.eval()
    ours.eval()
    np.testing.assert_allclose(fresh(torch.from_numpy(x_test)).detach().numpy(), ours(x_test), rtol=1e-12, atol=1e-12)
