"""Adam against SGD at batch 64, and the subnormal moments that made Adam stall.

* ``subnormal_cost``: on this CPU, the time to scale, divide and take the square
  root of 200,000 float32 subnormal numbers against as many normal ones;
* ``adam_vs_sgd``: one epoch of the 784-256-10 MLP at batch 64 with SGD and
  with Adam, for manualnet, the NumPy floor and PyTorch (one thread, the
  same for both optimizers), plus manualnet's Adam without its flush of the
  subnormal moments (``flush_every`` set past the run), all interleaved;
  ratios pair by pair: Adam / SGD for each, and unflushed / flushed Adam;
  then the share of each Adam's first moment m that is subnormal.
"""

import time

import numpy as np

from . import training
from .common import ratios, spread, time_epochs

N = 200_000


def subnormal_cost(repeats=20):
    """µs per operation on N float32 values, normal (1e-3) and subnormal (1e-40): best of ``repeats``."""
    arrays = {"normal": np.full(N, 1e-3, np.float32), "subnormal": np.full(N, 1e-40, np.float32)}
    out, divisor = np.empty(N, np.float32), np.full(N, 1e-3, np.float32)
    operations = {"scale by 0.9": lambda a: np.multiply(a, np.float32(0.9), out=out),
                  "divide": lambda a: np.divide(a, divisor, out=out),
                  "square root": lambda a: np.sqrt(a, out=out)}
    rows = {}
    for name, operation in operations.items():
        best = {}
        for kind, values in arrays.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                operation(values)
                times.append(time.perf_counter() - start)
            best[kind] = min(times) * 1e6
        rows[name] = {**{f"{kind}_us": value for kind, value in best.items()},
                      "subnormal_over_normal": best["subnormal"] / best["normal"]}
    return rows


class UnflushedRun(training.ManualnetRun):
    """manualnet's Adam as it was before the flush: subnormal moments kept."""

    name = "manualnet Adam, no flush"

    def __init__(self, *args):
        super().__init__(*args)
        self.optimizer.flush_every = 10**12


def _named(run, name):
    run.name = name
    return run


def adam_vs_sgd(torch, samples, warmup, repeats, batch_size=64):
    x, y = training.mnist_like(samples, np.random.default_rng(0))
    sizes = (784, 256, 10)
    common = (x, y, sizes)
    runs = [
        _named(training.ManualnetRun(*common, "sgd", 0.1, batch_size, 0), "manualnet SGD"),
        _named(training.ManualnetRun(*common, "adam", 1e-3, batch_size, 0), "manualnet Adam"),
        UnflushedRun(*common, "adam", 1e-3, batch_size, 0),
        _named(training.FloorRun(*common, "sgd", 0.1, batch_size, 0), "floor SGD"),
        _named(training.FloorRun(*common, "adam", 1e-3, batch_size, 0), "floor Adam"),
        _named(training.TorchRun(torch, *common, "sgd", 0.1, batch_size, 0, threads=1), "torch SGD"),
        _named(training.TorchRun(torch, *common, "adam", 1e-3, batch_size, 0, threads=1), "torch Adam"),
    ]
    times = time_epochs(runs, warmup, repeats)
    tiny = np.finfo(np.float32).tiny

    def subnormal_share(optimizer):
        moments = [state["exp_avg"] for state in optimizer.state.values()]
        return sum(int(((m != 0) & (np.abs(m) < tiny)).sum()) for m in moments) / sum(m.size for m in moments)

    return {
        "samples": samples, "batch_size": batch_size, "epochs_before_timing": warmup,
        "seconds": {name: spread(values) for name, values in times.items()},
        "adam_over_sgd": {who: ratios(times[f"{who} Adam"], times[f"{who} SGD"]) for who in ("manualnet", "floor", "torch")},
        "unflushed_over_flushed_adam": ratios(times["manualnet Adam, no flush"], times["manualnet Adam"]),
        "subnormal_share_of_m": {"with the flush": subnormal_share(runs[1].optimizer),
                                 "without": subnormal_share(runs[2].optimizer)},
    }


def optimizers_report(torch, budget):
    return {"subnormal_cost": subnormal_cost(),
            "adam_vs_sgd": adam_vs_sgd(torch, budget["samples"], budget["warmup"], budget["repeats"])}


def optimizers_targets(report, add):
    add("Adam / SGD epoch at batch 64, manualnet", report["optimizers"]["adam_vs_sgd"]["adam_over_sgd"]["manualnet"]["median"],
        1.5)


def optimizers_lines(report):
    section = report["optimizers"]
    lines = ["", "subnormal float32 on this CPU (200,000 values, best of 20):"]
    for name, row in section["subnormal_cost"].items():
        lines.append(f"  {name:<14} normal {row['normal_us']:7.1f} µs  subnormal {row['subnormal_us']:7.1f} µs  "
                     f"x{row['subnormal_over_normal']:.1f}")
    adam = section["adam_vs_sgd"]
    lines.append(f"Adam vs SGD, 784-256-10, batch {adam['batch_size']}, {adam['samples']} samples per epoch "
                 f"(after {adam['epochs_before_timing']} epoch(s)): Adam / SGD pair by pair")
    for who, entry in adam["adam_over_sgd"].items():
        lines.append(f"  {who:<10} {entry['median']:.2f} ({entry['min']:.2f}-{entry['max']:.2f})")
    share = adam["subnormal_share_of_m"]
    lines.append(f"  manualnet's Adam without the flush / with it: {adam['unflushed_over_flushed_adam']['median']:.2f}; "
                 f"subnormal share of m at the end: {share['without']:.1%} without, {share['with the flush']:.1%} with")
    return lines
