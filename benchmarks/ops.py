"""Per-operation forward + backward, manualnet against PyTorch CPU, at a small and a large size."""

import numpy as np

import manualnet as mn

from .common import median_call_time

SIZES = {"small": (64, 256), "large": (256, 1024)}     # (batch, features)
CLASSES = {"small": 10, "large": 1000}


def _operations(torch, batch, features, classes):
    """(name, manualnet module, torch module, input shape, target or None) for each operation."""
    return [
        ("Linear", mn.Linear(features, features, rng=0), torch.nn.Linear(features, features), (batch, features), None),
        ("ReLU", mn.ReLU(), torch.nn.ReLU(), (batch, features), None),
        ("Sigmoid", mn.Sigmoid(), torch.nn.Sigmoid(), (batch, features), None),
        ("CrossEntropyLoss", mn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), (batch, classes), "labels"),
        ("BatchNorm1d", mn.BatchNorm1d(features), torch.nn.BatchNorm1d(features), (batch, features), None),
        ("Dropout", mn.Dropout(0.5, rng=0), torch.nn.Dropout(0.5), (batch, features), None),
    ]


def _manualnet_step(module, x, upstream, labels):
    if labels is not None:
        return lambda: (module(x, labels), module.backward())
    return lambda: (module(x), module.backward(upstream))


def _torch_step(torch, module, x, upstream, labels):
    x = torch.from_numpy(x).requires_grad_(True)
    upstream = torch.from_numpy(upstream)
    labels = None if labels is None else torch.from_numpy(labels)

    def step():
        x.grad = None
        module.zero_grad(set_to_none=True)
        out = module(x, labels) if labels is not None else module(x)
        out.backward() if labels is not None else out.backward(upstream)
    return step


def operation_table(torch, seconds=0.15, repeats=7):
    """Rows: operation, size, shape, manualnet µs, torch µs (on one thread: at these sizes its best), ratio."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for size, (batch, features) in SIZES.items():
        for name, ours, theirs, shape, target in _operations(torch, batch, features, CLASSES[size]):
            x = rng.standard_normal(shape).astype(np.float32)
            upstream = rng.standard_normal(shape).astype(np.float32)
            labels = rng.integers(0, shape[1], batch) if target else None
            mine = median_call_time(_manualnet_step(ours, x, upstream, labels), seconds, repeats)
            reference = median_call_time(_torch_step(torch, theirs, x, upstream, labels), seconds, repeats)
            rows.append({"operation": name, "size": size, "shape": list(shape),
                         "manualnet_us": mine * 1e6, "torch_us": reference * 1e6, "ratio": mine / reference})
    return rows
