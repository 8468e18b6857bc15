"""manualnet against PyTorch CPU, the NumPy floor and the best thread count: ``make bench`` (``python -m benchmarks.run``).

Prints every section and writes them as JSON (``--out``, default
benchmarks/results/latest.json).  Every timing is a median over repeated runs
with its min–max; every ratio is taken pair by pair from runs interleaved in
the same process, so a slow moment of the machine hits both sides of a ratio
alike.  ``make bench`` unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (what
users elsewhere get); the JSON records the machine, the BLAS kernel, the load
and the environment it ran in.  ``--quick`` is a smoke test with tiny sizes:
its numbers mean nothing.  ``--readme RUN.json`` prints the README's
Performance block of a recorded run.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import manualnet as mn
from manualnet.testing.gradcheck import check_module

from . import conv, gpt, machine, memory, ops, optimizers, sequences, threads, training
from .common import FULL, QUICK, RESULTS, choose_torch_threads, format_targets, ms, ratio, ratios, spread
from .common import target_rows, time_epochs, write_json


def training_rows(torch, label, x, y, sizes, configs, warmup, repeats, gemm, probe_batches, epochs_per_sample=1):
    rows = []
    bound = training.matmul_flops_per_epoch(sizes, len(x)) / gemm
    for optimizer, lr, batch_size in configs:
        runs = training.make_contestants(torch, x, y, sizes, optimizer, lr, batch_size)
        probe = choose_torch_threads(runs[1], min(probe_batches, len(x) // batch_size))
        runs[3].threads = runs[1].threads                        # torch's DataLoader run at the same count
        times = time_epochs(runs, warmup, repeats, epochs_per_sample)
        ours = times["manualnet"]
        rows.append({
            "workload": label, "optimizer": optimizer, "batch_size": batch_size,
            "seconds": {name: spread(values) for name, values in times.items()}, "torch_threads": probe,
            "vs_torch": ratios(ours, times["torch"]),
            "vs_floor": ratios(ours, times["numpy floor"]),
            "vs_torch_dataloader": ratios(ours, times["torch DataLoader"]),
            "gemm_bound_seconds": bound,
            "gemm_efficiency": bound / spread(ours)["median"],
            "floor_gemm_efficiency": bound / spread(times["numpy floor"])["median"],
        })
    return rows


def gradcheck_cost(repeats=5):
    layer, x = mn.Linear(64, 32, rng=0), np.random.default_rng(0).standard_normal((8, 64))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        check_module(layer, x)
        times.append(time.perf_counter() - start)
    return spread(times)


def import_cost(repeats):
    """``import manualnet`` and ``import numpy`` alone, each in fresh processes, alternating."""
    results = {"manualnet": [], "numpy": []}
    memory.in_subprocess("import", "manualnet")                   # writes the bytecode cache
    for _ in range(repeats):
        for module in results:
            results[module].append(memory.in_subprocess("import", module))
    report = {module: {key: spread([r[key] for r in values]) for key in ("seconds", "cpu_seconds", "peak_rss_mib")}
              for module, values in results.items()}
    report["manualnet_beyond_numpy"] = spread([a["seconds"] - b["seconds"]
                                              for a, b in zip(results["manualnet"], results["numpy"])])
    return report


def memory_rows(batch_size, optimizer, samples):
    return {framework: memory.in_subprocess("epoch", framework, batch_size, optimizer, samples)
            for framework in ("manualnet", "torch")}


def gemm_rate(budget):
    """The best float32 GEMM rate, at one thread and at all the cores."""
    shapes = [(256, 784, 256), (64, 784, 256), (256, 256, 784), (1024, 1024, 1024)]
    rates = []
    for count in (1, len(os.sched_getaffinity(0))):
        with mn.num_threads(count):
            rates.append(machine.gemm_rate(shapes, repeats=budget["repeats"]))
    return max(rates)


def run(quick):
    import torch
    budget = QUICK if quick else FULL
    mn.set_num_threads(None)
    report = {"environment": machine.environment(torch), "quick": quick,
              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    gemm = gemm_rate(budget)
    report["gemm_gflops"] = gemm / 1e9
    repeats, warmup = budget["repeats"], budget["warmup"]

    x, y = training.mnist_like(budget["samples"], np.random.default_rng(0))
    mnist_configs = [(opt, lr, batch) for opt, lr in (("sgd", 0.1), ("adam", 1e-3)) for batch in (64, 256)]
    report["mnist"] = training_rows(torch, "MLP 784-256-10", x, y, (784, 256, 10), mnist_configs, warmup, repeats, gemm,
                                    budget["probe_batches"])
    del x, y
    x, y = training.digits_train()
    report["digits"] = training_rows(torch, "digits MLP 64-128-10", x, y, (64, 128, 10),
                                     [("sgd", 0.1, 32), ("adam", 1e-3, 32)], warmup, repeats, gemm,
                                     budget["probe_batches"], epochs_per_sample=budget["digits_epochs_per_sample"])
    report["operations"] = ops.operation_table(torch, budget["op_seconds"], budget["op_repeats"])
    report["gradcheck_linear_64_32_batch_8"] = gradcheck_cost(budget["process_repeats"])
    report["import"] = import_cost(budget["import_repeats"])
    report["peak_rss_epoch_batch_64_adam"] = memory_rows(64, "adam", budget["samples"])
    report["conv"] = conv.conv_report(torch, budget)
    report["lstm"] = sequences.lstm_row(torch, budget["lstm_samples"], budget["lstm_repeats"],
                                        budget["lstm_breakdown_batches"], budget["probe_batches"])
    report["optimizers"] = optimizers.optimizers_report(torch, budget)
    report["threads"] = threads.threads_report(budget)
    report["gpt"] = gpt.gpt_report(torch, budget)
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    report["load_average_at_end"] = machine.load_average()
    report["targets"] = targets(report)
    return report


def targets(report):
    """The targets of every section: threads, CNN, LSTM, MLP, digits, Adam, the GPT step, import; then memory and
    the checker (a run recorded before the GPT section has no GPT rows)."""
    gpt_rows = (lambda add: gpt.gpt_targets(report, add)) if "gpt" in report else (lambda add: None)
    return target_rows(lambda add: threads.threads_targets(report, add), lambda add: conv.conv_targets(report, add),
                       lambda add: sequences.lstm_targets(report, add), lambda add: mlp_targets(report, add),
                       lambda add: optimizers.optimizers_targets(report, add), gpt_rows,
                       lambda add: other_targets(report, add))


def mlp_targets(report, add):
    """The MLP epochs against the NumPy floor: within 1.10× at 784-256-10, 1.30× on the digits."""
    for row in report["mnist"]:
        add(f"784-256-10 manualnet / NumPy floor, {row['optimizer']} batch {row['batch_size']}",
            row["vs_floor"]["median"], 1.10)
    for row in report["digits"]:
        add(f"digits manualnet / NumPy floor, {row['optimizer']} batch {row['batch_size']}", row["vs_floor"]["median"],
            1.30)


def other_targets(report, add):
    add("import manualnet, seconds", report["import"]["manualnet"]["seconds"]["median"], 0.060)
    rss = report["peak_rss_epoch_batch_64_adam"]
    add("peak RSS of an epoch, manualnet / PyTorch", rss["manualnet"]["peak_rss_mib"] / rss["torch"]["peak_rss_mib"],
        1.0)
    add("check_module(Linear(64, 32)), batch 8, seconds", report["gradcheck_linear_64_32_batch_8"]["median"], 0.2)


# -- printing ----------------------------------------------------------------------

def format_report(report):
    env = report["environment"]
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')} x{b.get('num_threads')}"
                     for b in env["numpy_blas"])
    lines = [
        f"machine: {env['cpu']}, {env['cores']} cores, load {env['load_average']} at the start, "
        f"{report['load_average_at_end']} at the end",
        f"numpy {env['numpy']} BLAS: {blas}; torch {env['torch']['version']} ({env['torch']['threads']} threads,"
        f" mkl={env['torch']['mkl']}); OpenBLAS env: {env['openblas_env']}",
        f"float32 GEMM rate: {report['gemm_gflops']:.0f} GFLOP/s (best measured this run, 1 thread or all)",
        "",
        "epoch times in ms: median (min-max); ratios pair by pair: median (min-max); torch at the faster of 1 "
        "thread and all cores (its threads in brackets)",
        f"{'workload':<22} {'opt':<5} {'batch':>5}  {'manualnet':>17} {'torch':>21}"
        f" {'numpy floor':>17}  {'vs torch':>17} {'vs floor':>17} {'GEMM eff.':>9}",
    ]
    for row in report["mnist"] + report["digits"]:
        t = row["seconds"]
        lines.append(
            f"{row['workload']:<22} {row['optimizer']:<5} {row['batch_size']:>5}  {ms(t['manualnet']):>17} "
            f"{ms(t['torch']):>17} [{row['torch_threads']['chosen']}] {ms(t['numpy floor']):>17}  "
            f"{ratio(row['vs_torch']):>17} {ratio(row['vs_floor']):>17} {row['gemm_efficiency']:>8.0%}")
        lines.append(f"{'':<22} {'':<5} {'':>5}  torch with its DataLoader: {ms(t['torch DataLoader'])} ms,"
                     f" manualnet / that: {ratio(row['vs_torch_dataloader'])}")
    lines += ["", f"{'operation (fwd+bwd)':<20} {'size':<6} {'shape':<12} {'manualnet µs':>13} {'torch µs':>10} {'ratio':>6}"]
    for row in report["operations"]:
        lines.append(f"{row['operation']:<20} {row['size']:<6} {str(tuple(row['shape'])):<12} "
                     f"{row['manualnet_us']:>13.1f} {row['torch_us']:>10.1f} {row['ratio']:>6.2f}")
    grad, imp = report["gradcheck_linear_64_32_batch_8"], report["import"]
    rss = report["peak_rss_epoch_batch_64_adam"]
    lines += [
        "",
        f"check_module(Linear(64, 32)), batch 8: {ms(grad)} ms",
        f"import manualnet: {imp['manualnet']['seconds']['median'] * 1e3:.0f} ms ({imp['manualnet']['cpu_seconds']['median'] * 1e3:.0f}"
        f" ms of CPU), of which numpy alone {imp['numpy']['seconds']['median'] * 1e3:.0f} ms; manualnet beyond numpy "
        f"{imp['manualnet_beyond_numpy']['median'] * 1e3:.0f} ms; peak RSS {imp['manualnet']['peak_rss_mib']['median']:.0f} MiB",
        f"peak RSS of a 784-256-10 epoch (batch 64, Adam): manualnet {rss['manualnet']['peak_rss_mib']:.0f} MiB,"
        f" torch {rss['torch']['peak_rss_mib']:.0f} MiB",
    ]
    lines += conv.format_conv(report)
    lines += ["", *sequences.lstm_lines(report["lstm"])]
    lines += optimizers.optimizers_lines(report)
    lines += threads.threads_lines(report)
    lines += gpt.gpt_lines(report["gpt"])
    lines += ["", "targets:", *format_targets(report["targets"])]
    return "\n".join(lines)


# -- the README's block, from a recorded run -------------------------------------------------------

def readme_table(report):
    """The README's Performance block (Markdown) from a report: every number in it is the JSON's."""
    def duration(entry):
        value = entry["median"]
        return f"{value * 1e3:.1f} ms" if value < 0.1 else f"{value:.2f} s"

    def at_best(row):
        threads = row["torch_threads"]["chosen"]
        return f"{duration(row['seconds']['torch'])} ({threads} thread{'s' if threads > 1 else ''})"

    thread_rows = {}
    for row in report["threads"]["rows"]:
        thread_rows.setdefault(row["workload"], {})[row["busy_processes"]] = row["default_vs_best"]["median"]

    def busy_cells(workload):
        by_load = thread_rows.get(workload)
        return " / ".join(f"{by_load[n]:.2f}" for n in sorted(by_load)) if by_load else "—"

    env = report["environment"]
    blas = env["numpy_blas"][0]
    lines = [f"Run of {report['started']} on {env['cpu']}, {env['cores']} cores (load average "
             f"{env['load_average'][0]} at the start, {report['load_average_at_end'][0]} at the end); NumPy "
             f"{env['numpy']} with {blas.get('internal_api')} {blas.get('version')} ({blas.get('architecture')} "
             f"kernel), PyTorch {env['torch']['version']}; float32.", "",
             "| workload (one epoch) | manualnet | PyTorch, faster of 1 thread and all cores | manualnet / PyTorch "
             "| manualnet / NumPy floor | default threads / best: idle / 1 busy / 2 busy |",
             "|---|---|---|---|---|---|"]
    names = {"MLP 784-256-10": "784-256-10", "digits MLP 64-128-10": "digits 64-128-10"}
    for row in report["mnist"] + report["digits"]:
        optimizer = "SGD" if row["optimizer"] == "sgd" else "Adam"
        name = f"{names[row['workload']]}, {optimizer}, batch {row['batch_size']}"
        threads_name = (f"784-256-10 MLP, SGD, batch {row['batch_size']}" if row["workload"] == "MLP 784-256-10"
                        else "digits MLP 64-128-10, SGD, batch 32")
        lines.append(f"| {name} | {duration(row['seconds']['manualnet'])} | {at_best(row)} "
                     f"| {row['vs_torch']['median']:.2f} | {row['vs_floor']['median']:.2f} "
                     f"| {busy_cells(threads_name) if optimizer == 'SGD' else '—'} |")
    cnn, lstm = report["conv"]["cnn_epoch"], report["lstm"]
    lines.append(f"| CNN, {cnn['samples']:,} MNIST-shaped images, Adam, batch {cnn['batch_size']} "
                 f"| {duration(cnn['seconds']['manualnet'])} | {at_best(cnn)} | {cnn['vs_torch']['median']:.2f} | — "
                 f"| {busy_cells('CNN, Adam, batch 64')} |")
    lines.append(f"| LSTM(28, 128) + Linear, {lstm['samples']:,} sequences of 28 steps, Adam, batch "
                 f"{lstm['batch_size']} | {duration(lstm['seconds']['manualnet'])} | {at_best(lstm)} "
                 f"| {lstm['vs_torch']['median']:.2f} | — | {busy_cells('LSTM(28, 128) + Linear, Adam, batch 64')} |")
    for row in report.get("gpt", {}).get("rows", []):
        threads = f"{row['threads']} thread{'s' * (row['threads'] > 1)}"
        lines.append(f"| GPT training step (nanoGPT's CPU configuration), both on {threads} "
                     f"| {duration(row['seconds']['manualnet'])} | {duration(row['seconds']['torch'])} ({threads}) "
                     f"| {row['ratio']['median']:.2f} | — | — |")
    adam, imported = report["optimizers"]["adam_vs_sgd"], report["import"]
    over = {who: entry["median"] for who, entry in adam["adam_over_sgd"].items()}
    lines += ["", f"Adam / SGD epoch at batch 64, pair by pair: manualnet {over['manualnet']:.2f}, NumPy floor "
                  f"{over['floor']:.2f}, PyTorch {over['torch']:.2f}; manualnet's Adam without its flush of "
                  f"subnormal moments: {adam['unflushed_over_flushed_adam']['median']:.2f} times as long, with "
                  f"{adam['subnormal_share_of_m']['without']:.0%} of m subnormal at the end. `import manualnet`: "
                  f"{imported['manualnet']['seconds']['median'] * 1e3:.0f} ms, of which `import numpy` alone "
                  f"{imported['numpy']['seconds']['median'] * 1e3:.0f} ms (medians of fresh processes).",
              "", "| target | measured | target | met |", "|---|---|---|---|"]
    for row in report["targets"]:
        lines.append(f"| {row['target']} | {row['measured']:.3f} | {row['relation']} {row['limit']} "
                     f"| {'yes' if row['met'] else 'no'} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--readme", type=Path, metavar="RUN.json",
                        help="print the README's Performance block of a recorded run, and nothing else")
    args = parser.parse_args()
    if args.readme is not None:
        print(readme_table(json.loads(args.readme.read_text(encoding="utf-8"))))
        return
    report = run(args.quick)
    print(format_report(report))
    write_json(report, args.out)


if __name__ == "__main__":
    main()
