"""One training epoch, three ways: manualnet (the README's loop), PyTorch CPU, and the NumPy floor.

Each contestant is built once by ``make_contestants`` and then asked for one
epoch at a time, so the runner can interleave them and take ratios pair by
pair.  All train the same MLP (PyTorch's default init, float32) with the same
optimizer on the same data.  manualnet chooses its BLAS threads itself
(manualnet/_threads.py) and the floor asks the same choice; PyTorch runs at
the faster of one thread and all the cores (``common.choose_torch_threads``).
"""

import os

import numpy as np

import manualnet as mn

from .common import Contestant
from .floor import FloorMLP, floor_batches


def mnist_like(samples, rng, features=784, classes=10):
    """MNIST-shaped synthetic data: pixels in [0, 1), labels from a fixed random linear teacher."""
    x = rng.random((samples, features), dtype=np.float32)
    teacher = rng.standard_normal((features, classes)).astype(np.float32)
    return x, (x @ teacher).argmax(axis=1).astype(np.int64)


def digits_train():
    (x, y), _ = mn.datasets.load_digits()
    return x.reshape(len(x), -1).astype(np.float32), y


def matmul_flops_per_epoch(sizes, samples):
    """3 × the forward matmul FLOPs: forward, the weight gradient and the input gradient of every layer."""
    return 3 * 2 * samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


# -- manualnet ---------------------------------------------------------------------

class ManualnetRun(Contestant):
    """The README's loop: Sequential + CrossEntropyLoss + optim + DataLoader."""

    name = "manualnet"

    def __init__(self, x, y, sizes, optimizer, lr, batch_size, seed):
        layers = []
        for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [mn.Linear(n_in, n_out, rng=seed + index), mn.ReLU()]
        self.model = mn.Sequential(*layers[:-1])
        self.criterion = mn.CrossEntropyLoss()
        make_optimizer = mn.optim.SGD if optimizer == "sgd" else mn.optim.Adam
        self.optimizer = make_optimizer(self.model.parameters(), lr=lr)
        self.loader = mn.data.DataLoader(mn.data.TensorDataset(x, y), batch_size=batch_size, shuffle=True, rng=seed)

    def batches(self):
        return iter(self.loader)

    def step(self, x, y):
        self.optimizer.zero_grad()
        logits = self.model(x)
        self.criterion(logits, y)
        self.model.backward(self.criterion.backward(), need_input_grad=False)
        self.optimizer.step()


# -- PyTorch -----------------------------------------------------------------------

class TorchRun(Contestant):
    """The same model and loop in PyTorch CPU, batches by slicing (``loader=False``) or torch's DataLoader,
    on ``threads`` (all the cores unless set; set before each timing: the runs share torch's setting)."""

    def __init__(self, torch, x, y, sizes, optimizer, lr, batch_size, seed, loader=False, threads=None):
        self.torch = torch
        self.threads = threads or len(os.sched_getaffinity(0))
        self.name = "torch DataLoader" if loader else "torch"
        torch.manual_seed(seed)
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1])
        self.criterion = torch.nn.CrossEntropyLoss()
        make_optimizer = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
        self.optimizer = make_optimizer(self.model.parameters(), lr=lr)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.batch_size = batch_size
        self.loader = None
        if loader:
            dataset = torch.utils.data.TensorDataset(self.x, self.y)
            self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)

    def batches(self):
        if self.loader is not None:
            return iter(self.loader)
        return ((self.x[i:i + self.batch_size], self.y[i:i + self.batch_size])
                for i in range(0, len(self.x), self.batch_size))

    def prepare(self):
        self.torch.set_num_threads(self.threads)

    def step(self, x, y):
        self.optimizer.zero_grad()
        loss = self.criterion(self.model(x), y)
        loss.backward()
        self.optimizer.step()


# -- the NumPy floor ---------------------------------------------------------------

class FloorRun(Contestant):
    name = "numpy floor"

    def __init__(self, x, y, sizes, optimizer, lr, batch_size, seed):
        n_in, n_hidden, n_out = sizes
        self.model = FloorMLP(n_in, n_hidden, n_out, optimizer, lr, np.random.default_rng(seed))
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)

    def batches(self):
        return floor_batches(self.x, self.y, self.batch_size, self.rng)

    def step(self, x, y):
        self.model.train_step(x, y)


def make_contestants(torch, x, y, sizes, optimizer, lr, batch_size, seed=0):
    """manualnet, PyTorch, the NumPy floor and PyTorch with its DataLoader."""
    return [ManualnetRun(x, y, sizes, optimizer, lr, batch_size, seed),
            TorchRun(torch, x, y, sizes, optimizer, lr, batch_size, seed),
            FloorRun(x, y, sizes, optimizer, lr, batch_size, seed),
            TorchRun(torch, x, y, sizes, optimizer, lr, batch_size, seed, loader=True)]
