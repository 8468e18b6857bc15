"""LSTM training on sequential MNIST, manualnet against PyTorch CPU, and where each side's time goes.

``make bench`` times three times 20,000 sequences (a third of MNIST's
training epoch) for each side, the two taking turns 16 batches at a time; the
seconds are for that third, the ratio is taken turn by turn.

The model is ``manualnet.models.LSTMClassifier``: LSTM(28, 128) reading each
28×28 image as 28 steps of 28 pixels, then Linear(128, 10) on the last state;
Adam (lr 2e-3), batch 64, float32 — the recipe of ``train --model lstm``.  The
PyTorch contestant is ``torch.nn.LSTM`` + ``torch.nn.Linear`` with the same
weights, optimizer and batches (by slicing).  The data is MNIST-shaped and
synthetic (``training.mnist_like``): an epoch's cost does not depend on the
pixels.
"""

import os
import time
from collections import defaultdict

import numpy as np

import manualnet as mn
from manualnet.nn.modules._rnn_base import _RecurrentBase
from manualnet.models.lstm_classifier import LSTMClassifier

from . import training
from .common import Contestant, choose_torch_threads, ratio, ratios, run_section, seconds, spread, time_in_chunks

STEPS, FEATURES, HIDDEN, CLASSES = 28, 28, 128, 10
LR, BATCH_SIZE = 2e-3, 64
CHUNK = 16            # batches per turn when the two sides take turns (common.time_in_chunks)


class ManualnetLSTMRun(training.ManualnetRun):
    """The README's loop (training.ManualnetRun's step) around manualnet.models.LSTMClassifier."""

    def __init__(self, x, y, batch_size, seed):
        self.model = LSTMClassifier(FEATURES, HIDDEN, CLASSES, rng=seed)
        self.criterion = mn.CrossEntropyLoss()
        self.optimizer = mn.optim.Adam(self.model.parameters(), lr=LR)
        self.loader = mn.data.DataLoader(mn.data.TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                                         seed=seed)


class TorchLSTMRun(Contestant):
    """The same model in PyTorch, batches by slicing, on ``threads`` (all the cores unless set)."""

    name = "torch"

    def __init__(self, torch, x, y, batch_size, seed, weights, threads=None):
        self.torch = torch
        self.threads = threads or len(os.sched_getaffinity(0))
        self.lstm = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True)
        self.fc = torch.nn.Linear(HIDDEN, CLASSES)
        self.lstm.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in weights.items() if k.startswith("lstm.")})
        self.fc.load_state_dict({k[3:]: torch.from_numpy(v) for k, v in weights.items() if k.startswith("fc.")})
        self.optimizer = torch.optim.Adam([*self.lstm.parameters(), *self.fc.parameters()], lr=LR)
        self.x, self.y = torch.from_numpy(x.reshape(-1, STEPS, FEATURES)), torch.from_numpy(y)
        self.batch_size = batch_size

    def prepare(self):
        self.torch.set_num_threads(self.threads)

    def batches(self):
        return ((self.x[i:i + self.batch_size], self.y[i:i + self.batch_size])
                for i in range(0, len(self.x), self.batch_size))

    def step(self, x, y):
        self.optimizer.zero_grad()
        _, (h_n, _) = self.lstm(x)
        loss = self.torch.nn.functional.cross_entropy(self.fc(h_n[-1]), y)
        loss.backward()
        self.optimizer.step()


def make_contestants(torch, x, y, batch_size=BATCH_SIZE, seed=0):
    """manualnet, and PyTorch from the same weights."""
    ours = ManualnetLSTMRun(x, y, batch_size, seed)
    return [ours, TorchLSTMRun(torch, x, y, batch_size, seed, ours.model.state_dict())]


# -- where manualnet's time goes -----------------------------------------------------------

PHASES = {
    "LSTM forward: the T steps (_run)": (_RecurrentBase, "_run"),
    "LSTM forward: input projection, all steps at once (_project)": (_RecurrentBase, "_project"),
    "LSTM backward: the T steps back (_run_backward)": (_RecurrentBase, "_run_backward"),
    "LSTM backward: weight gradients, one product per weight (_add_weight_grads)":
        (_RecurrentBase, "_add_weight_grads"),
    "Linear + cross-entropy, forward and backward": None,
    "Adam step": (mn.optim.Adam, "step"),
}


def time_breakdown(x, y, batches, batch_size=BATCH_SIZE, seed=0):
    """Seconds spent in each phase over ``batches`` training steps (methods wrapped with timers, then restored)."""
    spent = defaultdict(float)
    originals = {}
    for label, target in PHASES.items():
        if target is None:
            continue
        owner, name = target
        original = originals[label] = getattr(owner, name)

        def timed(*args, _original=original, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - start
        setattr(owner, name, timed)
    try:
        run = ManualnetLSTMRun(x[:batches * batch_size], y[:batches * batch_size], batch_size, seed)
        head = "Linear + cross-entropy, forward and backward"
        model, criterion, optimizer = run.model, run.criterion, run.optimizer
        start = time.perf_counter()
        for xb, yb in run.loader:
            optimizer.zero_grad()
            sequences = xb.reshape(len(xb), STEPS, FEATURES)
            _, (h_n, _) = model.lstm(sequences)
            tick = time.perf_counter()
            criterion(model.fc(h_n[-1]), yb)
            d_last = model.fc.backward(criterion.backward())
            spent[head] += time.perf_counter() - tick
            dh_n = np.zeros((1,) + d_last.shape, d_last.dtype)
            dh_n[-1] = d_last
            model.lstm.backward((None, (dh_n, None)), need_input_grad=False)
            optimizer.step()
        total = time.perf_counter() - start
    finally:
        for label, target in PHASES.items():
            if target is not None:
                setattr(target[0], target[1], originals[label])
    measured = sum(spent.values())
    return {"batches": len(run.loader), "total_seconds": total, "phases": dict(spent), "other": total - measured}


def torch_breakdown(torch, x, y, batches, batch_size=BATCH_SIZE, seed=0):
    """torch's seconds (on one thread) in forward (LSTM, Linear, loss), backward (autograd) and the Adam step."""
    run = TorchLSTMRun(torch, x, y, batch_size, seed, ManualnetLSTMRun(x[:1], y[:1], 1, seed).model.state_dict(),
                       threads=1)
    spent = defaultdict(float)
    run.prepare()
    start = time.perf_counter()
    for i in range(0, batches * batch_size, batch_size):
        tick = time.perf_counter()
        run.optimizer.zero_grad()
        _, (h_n, _) = run.lstm(run.x[i:i + batch_size])
        loss = torch.nn.functional.cross_entropy(run.fc(h_n[-1]), run.y[i:i + batch_size])
        spent["forward"] += time.perf_counter() - tick
        tick = time.perf_counter()
        loss.backward()
        spent["backward"] += time.perf_counter() - tick
        tick = time.perf_counter()
        run.optimizer.step()
        spent["Adam step"] += time.perf_counter() - tick
    return {"batches": batches, "total_seconds": time.perf_counter() - start, "phases": dict(spent)}


# -- the row of make bench, and on its own: python -m benchmarks.sequences [--quick] ------------------

def lstm_row(torch, samples, repeats, breakdown_batches, probe_batches=10):
    """manualnet's and torch's LSTM epoch, interleaved; manualnet's time by phase; torch's by forward/backward/step."""
    x, y = training.mnist_like(samples, np.random.default_rng(1))
    runs = make_contestants(torch, x, y)
    probe = choose_torch_threads(runs[1], probe_batches)
    batches = -(-samples // BATCH_SIZE)
    chunk = min(CHUNK, batches)
    times = time_in_chunks(runs, chunk, max(1, repeats * batches // chunk))
    return {
        "workload": f"LSTM({FEATURES}, {HIDDEN}) + Linear, sequential MNIST-shaped, {samples} sequences of {STEPS} steps",
        "samples": samples, "batch_size": BATCH_SIZE, "optimizer": "adam", "chunk_batches": chunk,
        "seconds": {name: spread([per_batch * batches for per_batch in values]) for name, values in times.items()},
        "torch_threads": probe,
        "vs_torch": ratios(times["manualnet"], times["torch"]),
        "manualnet_breakdown": time_breakdown(x, y, breakdown_batches),
        "torch_breakdown": torch_breakdown(torch, x, y, breakdown_batches),
    }


def lstm_targets(report, add):
    """An LSTM epoch within 1.25× of PyTorch at its best thread count."""
    add("LSTM epoch on sequential MNIST, manualnet / PyTorch", report["lstm"]["vs_torch"]["median"], 1.25)


def lstm_lines(row):
    """The LSTM row, and where each side's time goes."""
    times = row["seconds"]
    ours, theirs = row["manualnet_breakdown"], row["torch_breakdown"]
    lines = [
        "",
        f"{row['workload']}, batch {row['batch_size']}, Adam, float32 (epoch, s: median (min-max)):",
        f"  manualnet {seconds(times['manualnet'])}   torch {seconds(times['torch'])} "
        f"({row['torch_threads']['chosen']} thread(s))   manualnet / torch {ratio(row['vs_torch'])}",
        f"  where manualnet's time goes ({ours['batches']} batches, {ours['total_seconds']:.2f} s):",
    ]
    for label, value in sorted(ours["phases"].items(), key=lambda item: -item[1]):
        lines.append(f"    {value / ours['total_seconds']:5.1%}  {label}")
    lines.append(f"    {ours['other'] / ours['total_seconds']:5.1%}  the rest (batches, zero_grad, checks)")
    lines.append(f"  torch ({theirs['batches']} batches, {theirs['total_seconds']:.2f} s): " + ", ".join(
        f"{label} {value / theirs['total_seconds']:.0%}" for label, value in theirs["phases"].items()))
    return lines


def main():
    """``python -m benchmarks.sequences [--quick]``: make bench's LSTM row alone, written as JSON."""

    def measure(torch, budget):
        return lstm_row(torch, budget["lstm_samples"], budget["lstm_repeats"], budget["lstm_breakdown_batches"],
                        budget["probe_batches"])

    run_section("lstm", measure, lambda report: lstm_lines(report["lstm"]), lstm_targets, "lstm-latest.json")


if __name__ == "__main__":
    main()
