"""The benchmark runs end to end (``--quick``: tiny sizes), reports every row, and its modules import in no circle.

No timing is asserted here — speed is measured by ``make bench``, never in a
test; this only keeps the benchmark from rotting.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.floor import FloorMLP
from benchmarks.threads import WORKLOADS

from .torch_required import import_torch

pytestmark = pytest.mark.slow                 # whole benchmark runs in subprocesses, and torch
torch = import_torch()
ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_every_row(tmp_path):
    out = tmp_path / "bench.json"
    printed = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
                             cwd=ROOT, check=True, capture_output=True, text=True, timeout=900).stdout
    report = json.loads(out.read_text())
    assert [(r["optimizer"], r["batch_size"]) for r in report["mnist"]] == [
        ("sgd", 64), ("sgd", 256), ("adam", 64), ("adam", 256)]
    for row in report["mnist"] + report["digits"]:
        assert set(row["seconds"]) == {"manualnet", "torch", "numpy floor", "torch DataLoader"}
        assert row["torch_threads"]["chosen"] in (1, len(os.sched_getaffinity(0)))
        assert row["vs_torch"]["median"] > 0 and row["vs_floor"]["median"] > 0 and row["gemm_efficiency"] > 0
    operations = {(r["operation"], r["size"]) for r in report["operations"]}
    assert {name for name, _ in operations} == {"Linear", "ReLU", "Sigmoid", "CrossEntropyLoss", "BatchNorm1d", "Dropout"}
    environment = report["environment"]                         # the machine: CPU, BLAS kernel and threads, load
    assert environment["cpu"] and environment["load_average"] and "openblas_env" in environment
    assert {"architecture", "num_threads"} <= set(environment["numpy_blas"][0])
    assert report["peak_rss_epoch_batch_64_adam"]["manualnet"]["peak_rss_mib"] > 0
    assert report["import"]["manualnet"]["seconds"]["median"] > 0 and report["import"]["numpy"]["seconds"]["median"] > 0
    lstm = report["lstm"]                                       # the LSTM epoch and its breakdown
    assert set(lstm["seconds"]) == {"manualnet", "torch"} and lstm["vs_torch"]["median"] > 0
    assert lstm["manualnet_breakdown"]["phases"] and lstm["torch_breakdown"]["phases"]
    conv = report["conv"]                                       # convolutional networks
    assert {row["operation"].split(" ")[0] for row in conv["layers"]} == {"Conv2d", "MaxPool2d", "AvgPool2d"}
    assert conv["naive_vs_fast"]["speedup"] > 0 and conv["cnn_epoch"]["vs_torch"]["median"] > 0
    assert set(conv["cnn_epoch"]["seconds"]) == {"manualnet", "torch"} and conv["cnn_epoch"]["torch_threads"]
    assert all(b["total_us"] > 0 and "matmul: forward" in b["pieces_us"] for b in conv["breakdown"])
    assert abs(sum(conv["cnn_epoch_shares"]["shares"].values()) - 1) < 1e-9
    threads = report["threads"]                                 # every workload idle and beside 1 and 2 busy processes
    assert {(row["workload"], row["busy_processes"]) for row in threads["rows"]} == {
        (name, busy) for name, _, _ in WORKLOADS for busy in (0, 1, 2)}
    for row in threads["rows"]:
        assert len(row["seconds_per_step"]) == 3 and row["default_vs_best"]["median"] > 0
    assert len(threads["setting_cost"]["per call, µs"]) == 4
    adam = report["optimizers"]                                 # Adam's stall: the CPU's subnormals, Adam / SGD
    assert set(adam["subnormal_cost"]) == {"scale by 0.9", "divide", "square root"}
    assert set(adam["adam_vs_sgd"]["adam_over_sgd"]) == {"manualnet", "floor", "torch"}
    assert all(isinstance(row["met"], bool) for row in report["targets"])
    assert {row["target"] for row in report["targets"]} >= {
        "CNN epoch, manualnet / PyTorch", "LSTM epoch on sequential MNIST, manualnet / PyTorch",
        "Adam / SGD epoch at batch 64, manualnet", "import manualnet, seconds",
        "784-256-10 manualnet / NumPy floor, sgd batch 64", "digits manualnet / NumPy floor, sgd batch 32"}
    assert any(row["target"].startswith("default threads / best of 1 and all") for row in report["targets"])
    for heading in ("float32 GEMM rate", "where a manualnet CNN epoch goes", "LSTM(28, 128) + Linear",
                    "Adam / SGD pair by pair", "BLAS threads:", "targets:"):
        assert heading in printed
    table = subprocess.run([sys.executable, "-m", "benchmarks.run", "--readme", str(out)], cwd=ROOT, check=True,
                           capture_output=True, text=True, timeout=120).stdout
    assert report["environment"]["cpu"] in table and table.count("\n| ") >= 8 + len(report["targets"])


def test_benchmark_modules_import_each_other_in_no_circle():
    """One common module at the bottom, run.py at the top: following every import between benchmarks/
    modules (at the top of a file or inside a function) never comes back to where it started."""
    graph = {path.stem: _benchmark_imports(path) for path in (ROOT / "benchmarks").glob("*.py")}
    assert graph["common"] <= {"machine"} and "run" not in set().union(*graph.values())

    def visit(module, path):
        assert module not in path, f"import circle: {' -> '.join(path + [module])}"
        for imported in graph.get(module, ()):
            visit(imported, path + [module])

    for module in graph:
        visit(module, [])


def _benchmark_imports(path):
    """The benchmarks/ modules a file imports: ``from . import x``, ``from .x import y``, ``benchmarks.x``."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                imported |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
            elif node.module and node.module.startswith("benchmarks"):
                parts = node.module.split(".")
                imported |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("benchmarks.")}
    return imported - {"__init__"}


@pytest.mark.parametrize("module", ["conv", "sequences"])
def test_each_section_still_runs_alone(module, tmp_path):
    """python -m benchmarks.conv and .sequences write their own JSON."""
    out = tmp_path / f"{module}.json"
    subprocess.run([sys.executable, "-m", f"benchmarks.{module}", "--quick", "--out", str(out)], cwd=ROOT,
                   check=True, capture_output=True, text=True, timeout=600)
    report = json.loads(out.read_text())
    assert report["targets"] and report["environment"]["cpu"]


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.5), ("adam", 0.01)])
def test_numpy_floor_learns(optimizer, lr):
    """The floor is a real training loop, not an empty one: it learns a separable problem."""
    rng = np.random.default_rng(0)
    x = rng.random((512, 20), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    model = FloorMLP(20, 16, 2, optimizer, lr, rng)
    before = np.mean(model.predict(x) == y)
    for _ in range(200):
        model.train_step(x, y)
    assert np.mean(model.predict(x) == y) > max(before, 0.9)


def test_lstm_contestants_train_the_same_model_from_the_same_weights():
    """The benchmark's two LSTM runs start equal: one manualnet batch and one torch batch give the same loss."""
    from benchmarks import sequences
    x, y = np.random.default_rng(0).random((64, 784), dtype=np.float32), np.arange(64) % 10
    ours, theirs = sequences.make_contestants(torch, x, y)
    loss = ours.criterion(ours.model(x), y)
    _, (h_n, _) = theirs.lstm(theirs.x)
    loss_torch = torch.nn.functional.cross_entropy(theirs.fc(h_n[-1]), theirs.y)
    np.testing.assert_allclose(loss, loss_torch.item(), rtol=1e-5)
