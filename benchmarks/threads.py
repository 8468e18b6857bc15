"""BLAS threads: manualnet's default choice against one thread and all the cores, idle and beside busy processes.

For each workload — the digits MLP, the 784-256-10 MLP at batch 64 and 256,
the CNN and the LSTM — training steps (the README's loop) run with
manualnet's default choice (each layer's products by their size and
the free cores, manualnet/_threads.py), with every product on one thread, and
with every product on all the cores; the three interleaved, three times, with
0, 1 and 2 processes beside them that only burn a core
(``python -c "while True: pass"``, started and ended here).  The figure that
counts is default / best: in each repeat, the default's time over the faster
of one thread and all the cores.  The machine's other load is recorded with
each block: the load average, and the cores its other processes kept busy.

Also measured: what setting the threads costs, per call, with threadpoolctl's
``threadpool_limits`` (what a per-product choice would pay), with a
controller made once, and with ``manualnet._threads.threads_for`` when the
number changes and when it stays.
"""

import os
import statistics
import time

import numpy as np

import manualnet as mn
from manualnet import _threads

from . import conv, machine, sequences, training
from .common import CoresInUse, busy, median_call_time, ratios, settle, spread

BUSY_PROCESSES = (0, 1, 2)


def _mlp(sizes, batch_size, data):
    def build():
        x, y = data()
        return training.ManualnetRun(x, y, sizes, "sgd", 0.1, batch_size, seed=0)
    return build


def _mnist_like():
    return training.mnist_like(20_000, np.random.default_rng(0))


def _cnn():
    x, y = conv.mnist_images(4_096, np.random.default_rng(0))
    return conv.ManualnetCNNRun(x, y, conv.BATCH)


def _lstm():
    x, y = training.mnist_like(4_096, np.random.default_rng(1))
    return sequences.ManualnetLSTMRun(x, y, sequences.BATCH_SIZE, seed=0)


# (name, build the run, training steps per measurement: at most, see time_settings)
WORKLOADS = [
    ("digits MLP 64-128-10, SGD, batch 32", _mlp((64, 128, 10), 32, training.digits_train), 450),
    ("784-256-10 MLP, SGD, batch 64", _mlp((784, 256, 10), 64, _mnist_like), 150),
    ("784-256-10 MLP, SGD, batch 256", _mlp((784, 256, 10), 256, _mnist_like), 60),
    ("CNN, Adam, batch 64", _cnn, 30),
    ("LSTM(28, 128) + Linear, Adam, batch 64", _lstm, 30),
]


class Steps:
    """Training steps of a run (a ``common.Contestant``), its epochs walked without end."""

    def __init__(self, run):
        self.run = run

    def __call__(self, count):
        for _ in range(count):
            self.run.step(*self.run.next_batch())


def settings():
    """{label: the count to fix, None for manualnet's default choice}."""
    cores = len(os.sched_getaffinity(0))
    return {"default": None, "1 thread": 1, f"{cores} threads": cores}


def time_settings(steps, count, seconds, repeats):
    """Seconds per step under each setting: ``count`` steps, or fewer if ``seconds`` run out first (all the
    cores beside busy processes can be a hundred times slower); interleaved, rotating who goes first."""
    chosen = settings()
    labels = list(chosen)
    times = {label: [] for label in labels}
    for label in labels:                                     # warm each setting once
        with mn.num_threads(chosen[label]):
            steps(1)
    for repeat in range(repeats):
        for label in labels[repeat % len(labels):] + labels[:repeat % len(labels)]:
            with mn.num_threads(chosen[label]):
                settle()
                start, done = time.perf_counter(), 0
                while done < count and (done == 0 or time.perf_counter() - start < seconds):
                    steps(1)
                    done += 1
                times[label].append((time.perf_counter() - start) / done)
    return times


def thread_rows(repeats, seconds):
    """One row per workload and number of busy processes: seconds per step for each setting, default / best."""
    rows = []
    for name, build, count in WORKLOADS:
        steps = Steps(build())
        for processes in BUSY_PROCESSES:
            with busy(processes):
                load, others = machine.load_average(), CoresInUse().start()
                times = time_settings(steps, count, seconds, repeats)
                in_use = others.stop()
            fixed = [label for label in times if label != "default"]
            best = [min(values) for values in zip(*(times[label] for label in fixed))]
            rows.append({"workload": name, "busy_processes": processes, "load_average": load,
                         "other_cores_busy": in_use,
                         "seconds_per_step": {label: spread(values) for label, values in times.items()},
                         "default_vs_best": ratios(times["default"], best),
                         "best_setting": min(fixed, key=lambda label: statistics.median(times[label]))})
    return rows


def setting_cost(seconds=0.05, repeats=5):
    """µs per call of each way to set NumPy's BLAS threads."""
    from threadpoolctl import ThreadpoolController, threadpool_limits

    controller = ThreadpoolController()
    state = _threads._threads
    small, large = 1, _threads.SINGLE_THREAD_WORK
    cores = len(os.sched_getaffinity(0))

    def naive():
        with threadpool_limits(limits=1, user_api="blas"):
            pass

    def once_made():
        with controller.limit(limits=1, user_api="blas"):
            pass

    def changing():
        _threads.threads_for(small)
        state.free, state.last_reading = cores, (time.monotonic(), 0, 0, 0.0)   # as if just read: 2 free cores
        _threads.threads_for(large)

    start = time.perf_counter()
    ThreadpoolController()
    made = time.perf_counter() - start
    with mn.num_threads(None):
        costs = {
            "threadpoolctl.threadpool_limits(1), entered and left": median_call_time(naive, seconds, repeats),
            "ThreadpoolController made once, .limit(1) entered and left": median_call_time(once_made, seconds, repeats),
            "manualnet threads_for, the number unchanged": median_call_time(lambda: _threads.threads_for(small),
                                                                            seconds, repeats),
            "manualnet threads_for, the number changed (1 and back)": median_call_time(changing, seconds, repeats) / 2,
        }
    return {"making a ThreadpoolController (once per process), µs": made * 1e6,
            "per call, µs": {label: value * 1e6 for label, value in costs.items()}}


def threads_report(budget):
    return {"rows": thread_rows(budget["thread_repeats"], budget["thread_seconds"]), "setting_cost": setting_cost(),
            "single_thread_work": _threads.SINGLE_THREAD_WORK}


def threads_targets(report, add):
    """Default threads within 1.25× of the best of one thread and all the cores, for every workload and load."""
    worst = max(report["threads"]["rows"], key=lambda row: row["default_vs_best"]["median"])
    add(f"default threads / best of 1 and all, worst case ({worst['workload']}, {worst['busy_processes']} busy)",
        worst["default_vs_best"]["median"], 1.25)


def threads_lines(report):
    threads = report["threads"]
    lines = ["", "BLAS threads: ms per training step, median; default / best pair by pair "
                 "(best: the faster of 1 thread and all cores in each repeat)"]
    for row in threads["rows"]:
        cells = "  ".join(f"{label} {entry['median'] * 1e3:.2f}" for label, entry in row["seconds_per_step"].items())
        lines.append(f"  {row['workload']:<40} busy {row['busy_processes']}  (load {row['load_average'][0]:.2f}, "
                     f"others {row['other_cores_busy']} cores)  {cells}  default/best "
                     f"{row['default_vs_best']['median']:.2f} ({row['default_vs_best']['min']:.2f}-"
                     f"{row['default_vs_best']['max']:.2f})")
    cost = threads["setting_cost"]
    lines.append(f"  setting the threads: a ThreadpoolController costs "
                 f"{cost['making a ThreadpoolController (once per process), µs']:.0f} µs to make, once; per call:")
    lines += [f"    {label:<58} {value:8.1f} µs" for label, value in cost["per call, µs"].items()]
    return lines
