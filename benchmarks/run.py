"""manualnet against PyTorch CPU and the BLAS bound: ``make bench`` (or ``python -m benchmarks.run``).

Prints a table and writes it as JSON (``--out``, default benchmarks/results/latest.json).
Every timing is a median over repeated runs with its min–max; every ratio is
taken pair by pair from runs interleaved in the same process, so a slow
moment of the machine hits both sides of a ratio alike.  ``make bench``
unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (what users elsewhere get);
the JSON records the environment it ran in.  ``--quick`` is a smoke test with
tiny sizes: its numbers mean nothing.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import manualnet as mn
from manualnet.testing.gradcheck import check_module

from . import conv, machine, memory, ops, sequences, training



def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def time_epochs(runs, warmup, repeats, epochs_per_sample=1):
    """Seconds per epoch for each run, interleaved, rotating who goes first."""
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


def training_rows(torch, label, x, y, sizes, configs, warmup, repeats, gemm, epochs_per_sample=1, torch_loader=True):
    rows = []
    bound = training.matmul_flops_per_epoch(sizes, len(x)) / gemm
    for optimizer, lr, batch_size in configs:
        runs = training.make_contestants(torch, x, y, sizes, optimizer, lr, batch_size, torch_loader=torch_loader)
        times = time_epochs(runs, warmup, repeats, epochs_per_sample)
        ours = times["manualnet"]
        rows.append({
            "workload": label, "optimizer": optimizer, "batch_size": batch_size,
            "seconds": {name: spread(values) for name, values in times.items()},
            "vs_torch": spread([a / b for a, b in zip(ours, times["torch"])]),
            "vs_floor": spread([a / b for a, b in zip(ours, times["numpy floor"])]),
            "vs_torch_dataloader": (spread([a / b for a, b in zip(ours, times["torch DataLoader"])])
                                    if torch_loader else None),
            "gemm_bound_seconds": bound,
            "gemm_efficiency": bound / statistics.median(ours),
            "floor_gemm_efficiency": bound / statistics.median(times["numpy floor"]),
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


def import_cost(repeats=5):
    results = [memory.in_subprocess("import") for _ in range(repeats)]
    return {"seconds": spread([r["seconds"] for r in results]),
            "peak_rss_mib": spread([r["peak_rss_mib"] for r in results])}


def memory_rows(batch_size, optimizer, samples):
    return {framework: memory.in_subprocess("epoch", framework, batch_size, optimizer, samples)
            for framework in ("manualnet", "torch")}


FULL = {"samples": 60_000, "repeats": 5, "warmup": 1, "digits_epochs_per_sample": 10,
        "op_seconds": 0.15, "op_repeats": 7, "process_repeats": 5,
        "cnn_samples": 60_000, "cnn_repeats": 3, "naive_batch": 4, "conv_batch": 64,
        "lstm_samples": 20_000, "lstm_repeats": 3, "lstm_breakdown_batches": 100}   # LSTM: a third of an epoch
QUICK = {"samples": 2_000, "repeats": 1, "warmup": 0, "digits_epochs_per_sample": 1,
         "op_seconds": 0.002, "op_repeats": 1, "process_repeats": 1,
         "cnn_samples": 128, "cnn_repeats": 1, "naive_batch": 1, "conv_batch": 2,
         "lstm_samples": 256, "lstm_repeats": 1, "lstm_breakdown_batches": 2}


def run(quick):
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    budget = QUICK if quick else FULL
    report = {"environment": machine.environment(torch), "quick": quick,
              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    gemm = machine.gemm_rate([(256, 784, 256), (64, 784, 256), (256, 256, 784), (1024, 1024, 1024)],
                             repeats=budget["repeats"])
    report["gemm_gflops"] = gemm / 1e9
    repeats, warmup = budget["repeats"], budget["warmup"]

    x, y = training.mnist_like(budget["samples"], np.random.default_rng(0))
    mnist_configs = [(opt, lr, batch) for opt, lr in (("sgd", 0.1), ("adam", 1e-3)) for batch in (64, 256)]
    report["mnist"] = training_rows(torch, "MLP 784-256-10", x, y, (784, 256, 10), mnist_configs,
                                    warmup, repeats, gemm)
    del x, y
    x, y = training.digits_train()
    report["digits"] = training_rows(torch, "digits MLP 64-128-10", x, y, (64, 128, 10),
                                     [("sgd", 0.1, 32), ("adam", 1e-3, 32)], warmup, repeats, gemm,
                                     epochs_per_sample=budget["digits_epochs_per_sample"])
    report["operations"] = ops.operation_table(torch, budget["op_seconds"], budget["op_repeats"])
    report["gradcheck_linear_64_32_batch_8"] = gradcheck_cost(budget["process_repeats"])
    report["import_manualnet"] = import_cost(budget["process_repeats"])
    report["peak_rss_epoch_batch_64_adam"] = memory_rows(64, "adam", budget["samples"])
    report["conv"] = conv_report(torch, budget)
    report["lstm"] = sequences.lstm_row(torch, budget["lstm_samples"], budget["lstm_repeats"],
                                        budget["lstm_breakdown_batches"])
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    report["targets"] = targets(report)
    return report


# -- convolutional networks (issue 14) ------------------------------------------------------------

def conv_report(torch, budget):
    """Conv2d/pooling layers, naive vs fast, the conv's pieces, col2im vs full correlation, and a CNN epoch."""
    seconds, repeats, batch = budget["op_seconds"], budget["op_repeats"], budget["conv_batch"]
    x, y = conv.mnist_images(budget["cnn_samples"], np.random.default_rng(0))
    runs = [conv.ManualnetCNNRun(x, y, conv.BATCH), conv.TorchCNNRun(torch, x, y, conv.BATCH)]
    times = time_epochs(runs, warmup=0, repeats=budget["cnn_repeats"])
    wide = [size for size in conv.CONV_SIZES if size[0].startswith("wide")][0]
    return {
        "layers": conv.layer_rows(torch, seconds, repeats, batch),
        "naive_vs_fast": conv.naive_vs_fast(budget["naive_batch"], repeats=1 if budget is QUICK else 3),
        "breakdown": [conv.breakdown(*size[1:], batch=batch, seconds=seconds, repeats=repeats)
                      for size in (conv.CONV_SIZES[1], wide)],
        "input_gradient_choice": conv.input_gradient_choice(seconds, repeats, batch),
        "cnn_epoch": {"samples": len(x), "batch_size": conv.BATCH,
                      "seconds": {name: spread(values) for name, values in times.items()},
                      "vs_torch": spread([a / b for a, b in zip(times["manualnet"], times["torch"])])},
        "cnn_epoch_shares": conv.cnn_epoch_shares(x, y, batches=min(40, len(x) // conv.BATCH)),
    }


def conv_targets(report, add):
    """Issue 14's targets: a CNN epoch within 2.0× of PyTorch (stretch 1.5×), fast conv >= 50× the loops."""
    ratio = report["conv"]["cnn_epoch"]["vs_torch"]["median"]
    add("CNN epoch manualnet/torch (issue 14)", ratio, 2.0)
    add("CNN epoch manualnet/torch, stretch (issue 14)", ratio, 1.5)
    add("Conv2d im2col / naive loops speed-up (issue 14)", report["conv"]["naive_vs_fast"]["speedup"], 50,
        below=False)


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
                 f"{_ms(epoch['seconds']['manualnet'])} ms, torch {_ms(epoch['seconds']['torch'])} ms, "
                 f"ratio {_ratio(epoch['vs_torch'])}")
    shares = c["cnn_epoch_shares"]
    lines.append(f"where a manualnet CNN epoch goes ({shares['batches']} batches, {shares['seconds']:.2f} s):")
    for name, share in sorted(shares["shares"].items(), key=lambda item: -item[1]):
        lines.append(f"    {name:<40} {share:>6.1%}")
    return lines


def target_rows(*sections):
    """Each ``section(add)`` adds its targets; the rows, each with what was measured and whether it holds."""
    rows = []

    def add(name, measured, limit, below=True):
        rows.append({"target": name, "measured": measured, "relation": "<=" if below else ">=", "limit": limit,
                     "met": measured <= limit if below else measured >= limit})

    for section in sections:
        section(add)
    return rows


def targets(report):
    """Issue 7's targets, then issue 14's and issue 16's."""
    return target_rows(lambda add: mlp_targets(report, add), lambda add: conv_targets(report, add),
                       lambda add: lstm_targets(report, add))


def mlp_targets(report, add):
    """Issue 7's: the MLP epochs against PyTorch and the floor, memory, the checker's and the import's cost."""

    for row in report["mnist"]:
        config = f"{row['optimizer']} batch {row['batch_size']}"
        add(f"784-256-10 manualnet/torch, {config}", row["vs_torch"]["median"], 0.6)
        add(f"784-256-10 manualnet/numpy floor, {config}", row["vs_floor"]["median"], 1.15)
        if row["optimizer"] == "sgd" and row["batch_size"] == 256:
            add("784-256-10 share of the GEMM bound, sgd batch 256", row["gemm_efficiency"], 0.75, below=False)
    for row in report["digits"]:
        add(f"digits manualnet/torch, {row['optimizer']} batch {row['batch_size']}", row["vs_torch"]["median"], 0.35)
    rss = report["peak_rss_epoch_batch_64_adam"]
    add("peak RSS of an epoch, manualnet/torch", rss["manualnet"]["peak_rss_mib"] / rss["torch"]["peak_rss_mib"], 1.0)
    add("check_module(Linear(64, 32)), batch 8, seconds", report["gradcheck_linear_64_32_batch_8"]["median"], 0.2)
    add("import manualnet, seconds", report["import_manualnet"]["seconds"]["median"], 0.1)
    add("import manualnet, peak RSS MiB", report["import_manualnet"]["peak_rss_mib"]["median"], 40)


def lstm_targets(report, add):
    """Issue 16's: an LSTM epoch within 2.0× of PyTorch (stretch: faster)."""
    lstm = report["lstm"]["vs_torch"]["median"]
    add("LSTM epoch on sequential MNIST, manualnet/torch (issue 16)", lstm, 2.0)
    add("LSTM epoch on sequential MNIST, manualnet/torch, stretch: faster", lstm, 1.0)


# -- printing ----------------------------------------------------------------------

def _ms(entry):
    return f"{entry['median'] * 1e3:8.1f} ({entry['min'] * 1e3:.0f}-{entry['max'] * 1e3:.0f})"


def _ratio(entry):
    return f"{entry['median']:.2f} ({entry['min']:.2f}-{entry['max']:.2f})"


def format_report(report):
    env = report["environment"]
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')} x{b.get('num_threads')}"
                     for b in env["numpy_blas"])
    lines = [
        f"machine: {env['cpu']}, {env['cores']} cores, load {env['load_average']}",
        f"numpy {env['numpy']} BLAS: {blas}; torch {env['torch']['version']} ({env['torch']['threads']} threads,"
        f" mkl={env['torch']['mkl']}); OpenBLAS env: {env['openblas_env']}",
        f"float32 GEMM rate: {report['gemm_gflops']:.0f} GFLOP/s (best measured this run)",
        "",
        "epoch times in ms: median (min-max); ratios pair by pair: median (min-max)",
        f"{'workload':<22} {'opt':<5} {'batch':>5}  {'manualnet':>17} {'torch':>17} {'numpy floor':>17}"
        f"  {'vs torch':>17} {'vs floor':>17} {'GEMM eff.':>9}",
    ]
    for row in report["mnist"] + report["digits"]:
        seconds = row["seconds"]
        lines.append(
            f"{row['workload']:<22} {row['optimizer']:<5} {row['batch_size']:>5}  {_ms(seconds['manualnet']):>17} "
            f"{_ms(seconds['torch']):>17} {_ms(seconds['numpy floor']):>17}  {_ratio(row['vs_torch']):>17} "
            f"{_ratio(row['vs_floor']):>17} {row['gemm_efficiency']:>8.0%}")
        if row["vs_torch_dataloader"]:
            lines.append(f"{'':<22} {'':<5} {'':>5}  torch with its DataLoader: {_ms(seconds['torch DataLoader'])} ms,"
                         f" manualnet / that: {_ratio(row['vs_torch_dataloader'])}")
    lines += ["", f"{'operation (fwd+bwd)':<20} {'size':<6} {'shape':<12} {'manualnet µs':>13} {'torch µs':>10} {'ratio':>6}"]
    for row in report["operations"]:
        lines.append(f"{row['operation']:<20} {row['size']:<6} {str(tuple(row['shape'])):<12} "
                     f"{row['manualnet_us']:>13.1f} {row['torch_us']:>10.1f} {row['ratio']:>6.2f}")
    grad, imp = report["gradcheck_linear_64_32_batch_8"], report["import_manualnet"]
    rss = report["peak_rss_epoch_batch_64_adam"]
    lines += [
        "",
        f"check_module(Linear(64, 32)), batch 8: {_ms(grad)} ms",
        f"import manualnet: {imp['seconds']['median'] * 1e3:.0f} ms, peak RSS {imp['peak_rss_mib']['median']:.0f} MiB",
        f"peak RSS of a 784-256-10 epoch (batch 64, Adam): manualnet {rss['manualnet']['peak_rss_mib']:.0f} MiB,"
        f" torch {rss['torch']['peak_rss_mib']:.0f} MiB",
    ]
    lines += format_conv(report)
    lines += ["", *lstm_lines(report["lstm"])]
    lines += ["", "targets (issue 7; the CNN rows: issue 14; the LSTM rows: issue 16):", *format_targets(report["targets"])]
    return "\n".join(lines)


def format_targets(rows):
    return [f"  {'met    ' if row['met'] else 'NOT met'}  {row['target']:<52} "
            f"{row['measured']:8.3f} (target {row['relation']} {row['limit']})" for row in rows]


def lstm_lines(row):
    """The LSTM row, and where each side's time goes."""
    seconds = row["seconds"]
    ours, theirs = row["manualnet_breakdown"], row["torch_breakdown"]
    lines = [
        "",
        f"{row['workload']}, batch {row['batch_size']}, Adam, float32 (epoch, s: median (min-max)):",
        f"  manualnet {_s(seconds['manualnet'])}   torch "
        f"{_s(seconds['torch'])}   manualnet/torch {_ratio(row['vs_torch'])}",
        f"  where manualnet's time goes ({ours['batches']} batches, {ours['total_seconds']:.2f} s):",
    ]
    for label, value in sorted(ours["phases"].items(), key=lambda item: -item[1]):
        lines.append(f"    {value / ours['total_seconds']:5.1%}  {label}")
    lines.append(f"    {ours['other'] / ours['total_seconds']:5.1%}  the rest (batches, zero_grad, checks)")
    lines.append(f"  torch ({theirs['batches']} batches, {theirs['total_seconds']:.2f} s): " + ", ".join(
        f"{label} {value / theirs['total_seconds']:.0%}" for label, value in theirs["phases"].items()))
    return lines


def _s(entry):
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
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / out_name)
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    report = {"environment": machine.environment(torch), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              key: measure(torch, QUICK if args.quick else FULL)}
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    report["targets"] = target_rows(lambda add: add_targets(report, add))
    print(f"load average {report['environment']['load_average']}")
    print("\n".join([*lines(report), "", *format_targets(report["targets"])]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.out}")


# -- the README's table, from a recorded run -------------------------------------------------------

def readme_table(report):
    """The README's Performance table (Markdown) from a report: every number in it is the JSON's."""
    def seconds(entry):
        value = entry["median"]
        return f"{value * 1e3:.1f} ms" if value < 0.1 else f"{value:.2f} s"

    lines = ["| workload (one epoch) | manualnet | PyTorch | manualnet / PyTorch | manualnet / NumPy floor "
             "| share of GEMM bound |", "|---|---|---|---|---|---|"]
    for row in report["mnist"] + report["digits"]:
        name = "784-256-10" if row in report["mnist"] else "digits 64-128-10"
        lines.append(f"| {name}, {'SGD' if row['optimizer'] == 'sgd' else 'Adam'}, batch {row['batch_size']} "
                     f"| {seconds(row['seconds']['manualnet'])} | {seconds(row['seconds']['torch'])} "
                     f"| {row['vs_torch']['median']:.2f} | {row['vs_floor']['median']:.2f} "
                     f"| {row['gemm_efficiency']:.0%} |")
    cnn = report["conv"]["cnn_epoch"]
    lines.append(f"| CNN (issue 14), {cnn['samples']:,} MNIST-shaped images, Adam, batch {cnn['batch_size']} "
                 f"| {seconds(cnn['seconds']['manualnet'])} | {seconds(cnn['seconds']['torch'])} "
                 f"| {cnn['vs_torch']['median']:.2f} | — | — |")
    lstm = report["lstm"]
    samples = int(lstm["workload"].rsplit(", ", 1)[1].split(" sequences")[0])     # "..., 20000 sequences of 28 steps"
    lines.append(f"| LSTM(28, 128) + Linear (issue 16), {samples:,} sequences of 28 steps, Adam, batch "
                 f"{lstm['batch_size']} | {seconds(lstm['seconds']['manualnet'])} | "
                 f"{seconds(lstm['seconds']['torch'])} | {lstm['vs_torch']['median']:.2f} | — | — |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "latest.json")
    parser.add_argument("--readme", type=Path, metavar="RUN.json",
                        help="print the README's Performance table of a recorded run, and nothing else")
    args = parser.parse_args()
    if args.readme is not None:
        print(readme_table(json.loads(args.readme.read_text(encoding="utf-8"))))
        return
    report = run(args.quick)
    print(format_report(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
