"""What every benchmark section shares: timing pair by pair, budgets, busy processes, targets, one section alone.

Each section (``training``, ``ops``, ``conv``, ``sequences``, ``threads``,
``optimizers``) imports this module and nothing of the others; ``run`` imports
them all.  So ``python -m benchmarks.conv`` and ``python -m benchmarks.sequences``
run one section alone through ``run_section``, and no import goes in a circle
(tests/test_benchmarks.py checks it).
"""

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import machine

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {"samples": 60_000, "repeats": 5, "warmup": 1, "digits_epochs_per_sample": 10,
        "op_seconds": 0.15, "op_repeats": 7, "process_repeats": 5, "import_repeats": 21,
        "cnn_samples": 60_000, "cnn_repeats": 3, "naive_batch": 4, "conv_batch": 64,
        "lstm_samples": 20_000, "lstm_repeats": 3, "lstm_breakdown_batches": 100,   # LSTM: a third of an epoch
        "thread_repeats": 7, "thread_seconds": 0.6, "probe_batches": 20,
        "gpt_pairs": 10, "gpt_steps": 3, "gpt_breakdown_steps": 10}
QUICK = {"samples": 2_000, "repeats": 1, "warmup": 0, "digits_epochs_per_sample": 1,
         "op_seconds": 0.002, "op_repeats": 1, "process_repeats": 1, "import_repeats": 1,
         "cnn_samples": 128, "cnn_repeats": 1, "naive_batch": 1, "conv_batch": 2,
         "lstm_samples": 256, "lstm_repeats": 1, "lstm_breakdown_batches": 2,
         "thread_repeats": 1, "thread_seconds": 0.05, "probe_batches": 1,
         "gpt_pairs": 1, "gpt_steps": 1, "gpt_breakdown_steps": 1}


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratios(numerators, denominators):
    """Pair by pair: the i-th run of one side over the i-th of the other, as a spread."""
    return spread([a / b for a, b in zip(numerators, denominators)])


def median_call_time(call, seconds=0.15, repeats=7):
    """Median over ``repeats`` runs of the mean time of one call (calls per run sized to ``seconds``)."""
    call()
    start = time.perf_counter()
    call()
    calls = max(1, int(seconds / max(time.perf_counter() - start, 1e-7)))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs)


class Contestant:
    """One side of a comparison: ``batches()`` (an epoch's batches), ``step(x, y)`` (one training step) and
    ``prepare()`` (before it is timed: PyTorch sets its thread count there); ``epoch(batches)`` runs an epoch
    or its first ``batches`` batches, ``next_batch()`` walks the epochs without end."""

    name = "contestant"

    def prepare(self):
        pass

    def epoch(self, batches=None):
        self.prepare()
        for x, y in itertools.islice(self.batches(), batches):
            self.step(x, y)

    def next_batch(self):
        batch = next(getattr(self, "_stream", iter(())), None)
        if batch is None:
            self._stream = self.batches()
            batch = next(self._stream)
        return batch


def time_in_chunks(runs, chunk, rounds):
    """Seconds per batch of each run, from ``rounds`` chunks of ``chunk`` batches each, the runs taking turns
    chunk by chunk (rotating who goes first): a slow minute of a shared machine then hits every side alike,
    where whole epochs a minute long each would not.  Ratios are taken chunk pair by chunk pair."""
    times = {run.name: [] for run in runs}
    for repeat in range(rounds):
        for run in runs[repeat % len(runs):] + runs[:repeat % len(runs)]:
            run.prepare()
            batches = [run.next_batch() for _ in range(chunk)]
            start = time.perf_counter()
            for x, y in batches:
                run.step(x, y)
            times[run.name].append((time.perf_counter() - start) / chunk)
    return times


def time_epochs(runs, warmup, repeats, epochs_per_sample=1):
    """Seconds per epoch for each run (each has ``name`` and ``epoch()``), interleaved, rotating who goes first."""
    for run in runs:
        for _ in range(warmup):
            run.epoch()
    times = {run.name: [] for run in runs}
    for repeat in range(repeats):
        order = runs[repeat % len(runs):] + runs[:repeat % len(runs)]
        for run in order:
            start = time.perf_counter()
            for _ in range(epochs_per_sample):
                run.epoch()
            times[run.name].append((time.perf_counter() - start) / epochs_per_sample)
    return times


def choose_torch_threads(run, batches, rounds=2):
    """PyTorch at its best thread count: ``batches`` batches of ``run`` (a PyTorch contestant with ``threads``
    and ``epoch(batches)``) at one thread and at all the cores, alternating, ``rounds`` times; the faster
    count is set on ``run`` and returned with each count's seconds per batch.  On a busy machine all the
    cores can be many times slower than one, so a probe, not whole epochs, finds out."""
    counts = sorted({1, len(os.sched_getaffinity(0))})
    seconds = {count: 0.0 for count in counts}
    for _ in range(rounds):
        for count in counts:
            run.threads = count
            settle()
            start = time.perf_counter()
            run.epoch(batches)
            seconds[count] += (time.perf_counter() - start) / (rounds * batches)
    run.threads = min(seconds, key=seconds.get)
    return {"chosen": run.threads, "seconds_per_batch": {str(count): value for count, value in seconds.items()}}


def settle(seconds=0.25):
    """Wait until the BLAS and OpenMP worker threads of a run on all the cores stop spinning (OpenBLAS's
    spin for about 0.1 s after their last product), so that they do not slow the next measurement."""
    time.sleep(seconds)


# -- a busy machine: processes that only burn a core ----------------------------------------

BUSY_LOOP = "while True: pass"


@contextlib.contextmanager
def busy(count):
    """Start ``count`` processes that each keep a core busy (``python -c "while True: pass"``); end them after."""
    processes = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        time.sleep(0.2 if count else 0)          # let them start before anything is timed
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


class CoresInUse:
    """How many cores the other processes of the machine kept busy between ``start()`` and ``stop()``:
    /proc/stat's busy time less this process's own CPU time (None where /proc/stat is missing)."""

    def start(self):
        self.before = (time.monotonic(), machine.busy_jiffies(), time.process_time())
        return self

    def stop(self):
        then, jiffies, own = self.before
        now, busy = time.monotonic(), machine.busy_jiffies()
        if jiffies is None or busy is None:
            return None
        clock_ticks = os.sysconf("SC_CLK_TCK")
        return round((busy - jiffies) / clock_ticks / (now - then) - (time.process_time() - own) / (now - then), 2)


# -- targets and printing ------------------------------------------------------------------

def target_rows(*sections):
    """Each ``section(add)`` adds its targets; the rows, each with what was measured and whether it holds."""
    rows = []

    def add(name, measured, limit, below=True):
        rows.append({"target": name, "measured": measured, "relation": "<=" if below else ">=", "limit": limit,
                     "met": measured <= limit if below else measured >= limit})

    for section in sections:
        section(add)
    return rows


def format_targets(rows):
    return [f"  {'met    ' if row['met'] else 'NOT met'}  {row['target']:<64} "
            f"{row['measured']:8.3f} (target {row['relation']} {row['limit']})" for row in rows]


def ms(entry):
    return f"{entry['median'] * 1e3:8.1f} ({entry['min'] * 1e3:.0f}-{entry['max'] * 1e3:.0f})"


def ratio(entry):
    return f"{entry['median']:.2f} ({entry['min']:.2f}-{entry['max']:.2f})"


def seconds(entry):
    return f"{entry['median']:.2f} ({entry['min']:.2f}-{entry['max']:.2f})"


# -- one section alone: python -m benchmarks.conv, python -m benchmarks.sequences ---------------------

def run_section(key, measure, lines, add_targets, out_name):
    """Measure one of make bench's sections alone, print it with its targets, and write it as JSON.

    ``measure(torch, budget)`` is the section's report under ``key``; ``lines(report)`` prints it;
    ``add_targets(report, add)`` names its targets; the JSON goes to results/``out_name`` (or --out).
    """
    import torch
    parser = argparse.ArgumentParser(description=f"make bench's {key} rows alone")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    parser.add_argument("--out", type=Path, default=RESULTS / out_name)
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    report = {"environment": machine.environment(torch), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              key: measure(torch, QUICK if args.quick else FULL)}
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    report["load_average_at_end"] = machine.load_average()
    report["targets"] = target_rows(lambda add: add_targets(report, add))
    print(f"load average {report['environment']['load_average']}")
    print("\n".join([*lines(report), "", *format_targets(report["targets"])]))
    write_json(report, args.out)


def write_json(report, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {path}")
