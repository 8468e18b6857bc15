"""Convolutional networks against PyTorch CPU: layers, the naive loops, where the time goes, a CNN epoch.

* ``layer_rows``: forward + backward of Conv2d at the CNN's and LeNet-5's sizes and at a wide
  layer (64 -> 64, 3×3, 32×32, batch 64), and of MaxPool2d / AvgPool2d, each against PyTorch;
* ``naive_vs_fast``: ``conv2d_naive_forward/backward`` (the loops) against the layer (im2col);
* ``breakdown``: one Conv2d forward + backward cut into its pieces — the matrix products, the
  im2col copy, col2im, the layout copies, padding — and what is left (checks, Python);
* ``input_gradient_choice``: dL/dx by col2im (what the layer does) against the full correlation
  of the dilated G with the flipped kernel (``bugzoo.full_correlation_input_gradient``);
* ``conv_report``'s CNN epoch: ``manualnet.models.CNN`` on MNIST-shaped data against the same
  network in PyTorch, three epochs' worth each, the two taking turns 32 batches at a time, ratios
  turn by turn; ``cnn_epoch_shares``: where our epoch's time goes, by layer type.
"""

import os
import time

import numpy as np

import manualnet as mn
from manualnet.nn.modules import conv as conv_module
from manualnet.nn.modules.conv import conv2d_naive_backward, conv2d_naive_forward
from manualnet.testing.bugzoo import full_correlation_input_gradient
from manualnet.nn.windows import col2im, im2col, pad, pad_adjoint

from . import training
from .common import QUICK, choose_torch_threads, median_call_time, ms, ratio, ratios, run_section, spread, time_in_chunks

BATCH = 64
CHUNK = 32            # batches per turn when manualnet and PyTorch take turns (common.time_in_chunks)
CONV_SIZES = [   # (label, in, out, kernel, padding, side)
    ("CNN layer 1: 1->16, 3x3, pad 1", 1, 16, 3, 1, 28),
    ("CNN layer 2: 16->32, 3x3, pad 1", 16, 32, 3, 1, 14),
    ("LeNet-5 C1: 1->6, 5x5, pad 2", 1, 6, 5, 2, 28),
    ("LeNet-5 C3: 6->16, 5x5", 6, 16, 5, 0, 14),
    ("wide: 64->64, 3x3, pad 1", 64, 64, 3, 1, 32),
]
POOL_SIZES = [("MaxPool2d 2x2", "MaxPool2d", 16, 28), ("MaxPool2d 2x2", "MaxPool2d", 32, 14),
              ("AvgPool2d 2x2", "AvgPool2d", 16, 28)]


def _pair(torch, ours, theirs, shape, seconds, repeats, need_input_grad=True):
    """Median µs of forward + backward for the manualnet layer and its PyTorch twin, on the same input."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    upstream = rng.standard_normal(ours(x).shape).astype(np.float32)
    x_torch = torch.from_numpy(x).requires_grad_(need_input_grad)
    upstream_torch = torch.from_numpy(upstream)

    def mine():
        ours(x)
        ours.backward(upstream, need_input_grad=need_input_grad)

    def reference():
        x_torch.grad = None
        theirs.zero_grad(set_to_none=True)
        theirs(x_torch).backward(upstream_torch)

    return median_call_time(mine, seconds, repeats) * 1e6, median_call_time(reference, seconds, repeats) * 1e6


def layer_rows(torch, seconds, repeats, batch=BATCH):
    """Forward + backward of each layer, µs: manualnet (its own choice of threads) and PyTorch on one thread."""
    torch.set_num_threads(1)
    rows = []
    for label, c_in, c_out, kernel, padding, side in CONV_SIZES:
        ours = mn.Conv2d(c_in, c_out, kernel, padding=padding, rng=0)
        theirs = torch.nn.Conv2d(c_in, c_out, kernel, padding=padding)
        mine, reference = _pair(torch, ours, theirs, (batch, c_in, side, side), seconds, repeats)
        rows.append({"operation": f"Conv2d {label}", "shape": [batch, c_in, side, side],
                     "manualnet_us": mine, "torch_us": reference, "ratio": mine / reference})
    for label, name, channels, side in POOL_SIZES:
        ours, theirs = getattr(mn, name)(2), getattr(torch.nn, name)(2)
        mine, reference = _pair(torch, ours, theirs, (batch, channels, side, side), seconds, repeats)
        rows.append({"operation": label, "shape": [batch, channels, side, side],
                     "manualnet_us": mine, "torch_us": reference, "ratio": mine / reference})
    return rows


def naive_vs_fast(batch=4, repeats=3):
    """The loops against im2col at the CNN's second layer (16 -> 32, 3×3, pad 1, 14×14), batch ``batch``."""
    rng = np.random.default_rng(0)
    layer = mn.Conv2d(16, 32, 3, padding=1, rng=0)
    x = rng.standard_normal((batch, 16, 14, 14)).astype(np.float32)
    upstream = rng.standard_normal((batch, 32, 14, 14)).astype(np.float32)

    def naive():
        conv2d_naive_forward(x, layer.weight.data, layer.bias.data, padding=1)
        conv2d_naive_backward(upstream, x, layer.weight.data, padding=1)

    def fast():
        layer(x)
        layer.backward(upstream)

    naive_seconds = min(_seconds(naive) for _ in range(repeats))
    fast_seconds = median_call_time(fast, 0.1, 5)
    return {"shape": [batch, 16, 14, 14], "naive_ms": naive_seconds * 1e3, "fast_ms": fast_seconds * 1e3,
            "speedup": naive_seconds / fast_seconds}


def _seconds(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def breakdown(c_in, c_out, kernel, padding, side, batch=BATCH, seconds=0.15, repeats=5):
    """One Conv2d forward + backward, piece by piece (µs each) and whole; ``rest`` = whole − pieces."""
    rng = np.random.default_rng(0)
    layer = mn.Conv2d(c_in, c_out, kernel, padding=padding, rng=0)
    x = rng.standard_normal((batch, c_in, side, side)).astype(np.float32)
    y = layer(x)
    G = rng.standard_normal(y.shape).astype(np.float32)
    geometry = (layer._kernel, layer._stride, layer._dilation)
    padded = pad(x, layer._padding)
    cols = im2col(padded, *geometry)
    W = layer._weight_matrices()
    Y = np.matmul(W, cols)
    G_mat = G.reshape(batch, c_out, -1).transpose(1, 0, 2).reshape(1, c_out, -1)
    d_cols = np.matmul(W.transpose(0, 2, 1), G_mat)
    d_padded = col2im(d_cols, padded.shape, *geometry)

    def whole():
        layer(x)
        layer.backward(G)

    pieces = {
        "matmul: forward": lambda: np.matmul(W, cols),
        "matmul: dW": lambda: np.matmul(G_mat, cols.transpose(0, 2, 1)),
        "matmul: dcols": lambda: np.matmul(W.transpose(0, 2, 1), G_mat),
        "im2col copy": lambda: im2col(padded, *geometry),
        "col2im adds": lambda: col2im(d_cols, padded.shape, *geometry),
        "layout: y to NCHW": lambda: Y.reshape(c_out, batch, -1).transpose(1, 0, 2).reshape(y.shape),
        "layout: G to matrix": lambda: G.reshape(batch, c_out, -1).transpose(1, 0, 2).reshape(1, c_out, -1),
        "padding and its adjoint": lambda: (pad(x, layer._padding), pad_adjoint(d_padded, layer._padding)),
        "bias gradient": lambda: G_mat.sum(axis=2),
    }
    times = {name: median_call_time(call, seconds, repeats) * 1e6 for name, call in pieces.items()}
    total = median_call_time(whole, seconds, repeats) * 1e6
    times["rest (checks, reshapes, Python)"] = max(total - sum(times.values()), 0.0)
    return {"shape": [batch, c_in, side, side], "out_channels": c_out, "kernel": kernel, "total_us": total,
            "pieces_us": times}


def input_gradient_choice(seconds=0.15, repeats=5, batch=BATCH):
    """dL/dx by col2im (the layer) against the full correlation with the flipped kernel, per size."""
    rows = []
    for label, c_in, c_out, kernel, padding, side in CONV_SIZES:
        rng = np.random.default_rng(0)
        layer = mn.Conv2d(c_in, c_out, kernel, padding=padding, rng=0)
        x = rng.standard_normal((batch, c_in, side, side)).astype(np.float32)
        G = rng.standard_normal(layer(x).shape).astype(np.float32)
        G_mat = G.reshape(batch, c_out, -1).transpose(1, 0, 2).reshape(1, c_out, -1)
        flipped = layer.weight.data[..., ::-1, ::-1]
        col2im_us = median_call_time(lambda: layer._input_gradient(G_mat, x.shape), seconds, repeats) * 1e6
        full_us = median_call_time(
            lambda: full_correlation_input_gradient(layer, G_mat, x.shape, flipped, layer._stride),
            seconds, repeats) * 1e6
        rows.append({"layer": label, "col2im_us": col2im_us, "full_correlation_us": full_us,
                     "full_correlation_over_col2im": full_us / col2im_us})
    return rows


# -- a training epoch of the CNN ---------------------------------------------------------------

class ManualnetCNNRun(training.ManualnetRun):
    """The README's loop (training.ManualnetRun's epoch) around manualnet.models.CNN."""

    def __init__(self, x, y, batch_size, seed=0):
        self.model = mn.CNN(rng=seed)
        self.criterion = mn.CrossEntropyLoss()
        self.optimizer = mn.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loader = mn.data.DataLoader(mn.data.TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                                         seed=seed)


class TorchCNNRun(training.TorchRun):
    """manualnet.models.CNN in PyTorch (Conv2d without bias, BatchNorm2d, ReLU, MaxPool2d, Linear), batches by
    slicing, on all the cores or on ``threads``."""

    def __init__(self, torch, x, y, batch_size, seed=0, threads=None):
        nn = torch.nn
        self.torch, self.loader, self.name = torch, None, "torch"
        self.threads = threads or len(os.sched_getaffinity(0))
        torch.manual_seed(seed)
        self.model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.x, self.y, self.batch_size = torch.from_numpy(x), torch.from_numpy(y), batch_size


def mnist_images(samples, rng):
    """MNIST-shaped (N, 1, 28, 28) float32 images in [0, 1) with labels from a fixed random linear teacher."""
    x, y = training.mnist_like(samples, rng)
    return x.reshape(-1, 1, 28, 28), y


def cnn_epoch_shares(x, y, batches=40, batch_size=BATCH):
    """Where a manualnet CNN epoch's time goes: seconds per layer type over ``batches`` batches, as shares,
    with the convolution's im2col, col2im and padding timed inside it."""
    run = ManualnetCNNRun(x[:batches * batch_size], y[:batches * batch_size], batch_size)
    spent = {}

    def timed(key, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
        return wrapper

    for module in run.model.modules():
        if not module.has_parameters() and not isinstance(module, (mn.ReLU, mn.MaxPool2d, mn.Flatten)):
            continue
        if isinstance(module, (mn.Sequential, mn.CNN)):
            continue
        kind = type(module).__name__
        module.forward, module.backward = timed(kind, module.forward), timed(kind, module.backward)
    patched = {name: getattr(conv_module, name) for name in ("im2col", "col2im", "pad", "pad_adjoint")}
    for name, function in patched.items():
        setattr(conv_module, name, timed(f"Conv2d: {name}", function))
    run.criterion.forward = timed("CrossEntropyLoss", run.criterion.forward)
    run.criterion.backward = timed("CrossEntropyLoss", run.criterion.backward)
    run.optimizer.step = timed("Adam step", run.optimizer.step)
    try:
        start = time.perf_counter()
        run.epoch()
        total = time.perf_counter() - start
    finally:
        for name, function in patched.items():
            setattr(conv_module, name, function)
    inside = sum(value for key, value in spent.items() if key.startswith("Conv2d: "))
    spent["Conv2d"] -= inside
    spent["Conv2d: matmuls, layout copies, checks"] = spent.pop("Conv2d")
    spent["rest (DataLoader, zero_grad, Python)"] = total - sum(spent.values())
    return {"batches": batches, "seconds": total, "shares": {key: value / total for key, value in spent.items()}}


# -- the section of make bench ---------------------------------------------------------------------

def conv_report(torch, budget):
    """Conv2d/pooling layers, naive vs fast, the conv's pieces, col2im vs full correlation, and a CNN epoch."""
    seconds, repeats, batch = budget["op_seconds"], budget["op_repeats"], budget["conv_batch"]
    x, y = mnist_images(budget["cnn_samples"], np.random.default_rng(0))
    runs = [ManualnetCNNRun(x, y, BATCH), TorchCNNRun(torch, x, y, BATCH)]
    probe = choose_torch_threads(runs[1], budget["probe_batches"])
    batches = -(-len(x) // BATCH)
    chunk = min(CHUNK, batches)
    times = time_in_chunks(runs, chunk, max(1, budget["cnn_repeats"] * batches // chunk))
    wide = [size for size in CONV_SIZES if size[0].startswith("wide")][0]
    return {
        "layers": layer_rows(torch, seconds, repeats, batch),
        "naive_vs_fast": naive_vs_fast(budget["naive_batch"], repeats=1 if budget is QUICK else 3),
        "breakdown": [breakdown(*size[1:], batch=batch, seconds=seconds, repeats=repeats)
                      for size in (CONV_SIZES[1], wide)],
        "input_gradient_choice": input_gradient_choice(seconds, repeats, batch),
        "cnn_epoch": {"samples": len(x), "batch_size": BATCH, "chunk_batches": chunk,
                      "seconds": {name: spread([per_batch * batches for per_batch in values])
                                  for name, values in times.items()}, "torch_threads": probe,
                      "vs_torch": ratios(times["manualnet"], times["torch"])},
        "cnn_epoch_shares": cnn_epoch_shares(x, y, batches=min(40, len(x) // BATCH)),
    }


def conv_targets(report, add):
    """A CNN epoch within 1.25× of PyTorch at its best thread count; the im2col conv >= 50× the loops."""
    add("CNN epoch, manualnet / PyTorch", report["conv"]["cnn_epoch"]["vs_torch"]["median"], 1.25)
    add("Conv2d im2col / naive loops speed-up", report["conv"]["naive_vs_fast"]["speedup"], 50, below=False)


def format_conv(report):
    c = report["conv"]
    lines = ["", f"{'convolution and pooling (fwd+bwd)':<46} {'shape':<18} {'manualnet µs':>13} {'torch µs':>10}"
                 f" {'ratio':>6}"]
    for row in c["layers"]:
        lines.append(f"{row['operation']:<46} {str(tuple(row['shape'])):<18} {row['manualnet_us']:>13.0f} "
                     f"{row['torch_us']:>10.0f} {row['ratio']:>6.2f}")
    nf = c["naive_vs_fast"]
    lines.append(f"naive loops vs im2col, Conv2d 16->32 3x3 on {tuple(nf['shape'])}: {nf['naive_ms']:.0f} ms vs "
                 f"{nf['fast_ms']:.2f} ms, {nf['speedup']:.0f}x")
    for b in c["breakdown"]:
        lines.append(f"where a Conv2d fwd+bwd goes, {b['shape'][1]}->{b['out_channels']} {b['kernel']}x{b['kernel']} on "
                     f"{tuple(b['shape'])}: {b['total_us']:.0f} µs")
        for name, us in b["pieces_us"].items():
            lines.append(f"    {name:<34} {us:>9.0f} µs {us / b['total_us']:>6.1%}")
    lines.append("dL/dx by col2im (the layer) vs the full correlation with the flipped kernel:")
    for row in c["input_gradient_choice"]:
        lines.append(f"    {row['layer']:<34} {row['col2im_us']:>9.0f} µs vs {row['full_correlation_us']:>9.0f} µs "
                     f"({row['full_correlation_over_col2im']:.2f}x)")
    epoch = c["cnn_epoch"]
    lines.append(f"CNN epoch ({epoch['samples']} MNIST-shaped images, batch {epoch['batch_size']}, Adam): manualnet "
                 f"{ms(epoch['seconds']['manualnet'])} ms, torch {ms(epoch['seconds']['torch'])} ms "
                 f"({epoch['torch_threads']['chosen']} thread(s)); manualnet / torch {ratio(epoch['vs_torch'])}")
    shares = c["cnn_epoch_shares"]
    lines.append(f"where a manualnet CNN epoch goes ({shares['batches']} batches, {shares['seconds']:.2f} s):")
    for name, share in sorted(shares["shares"].items(), key=lambda item: -item[1]):
        lines.append(f"    {name:<40} {share:>6.1%}")
    return lines


def main():
    """``python -m benchmarks.conv [--quick]``: make bench's convolution rows alone, written as JSON."""
    run_section("conv", conv_report, format_conv, conv_targets, "conv-latest.json")


if __name__ == "__main__":
    main()
