"""The benchmark runs end to end (``--quick``: tiny sizes) and reports every row issue 7 asks for.

No timing is asserted here — speed is measured by ``make bench``, never in a
test; this only keeps the benchmark from rotting.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.floor import FloorMLP

from .torch_required import import_torch

torch = import_torch()
ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_every_row(tmp_path):
    out = tmp_path / "bench.json"
    printed = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
                             cwd=ROOT, check=True, capture_output=True, text=True, timeout=600).stdout
    report = json.loads(out.read_text())
    assert [(r["optimizer"], r["batch_size"]) for r in report["mnist"]] == [
        ("sgd", 64), ("sgd", 256), ("adam", 64), ("adam", 256)]
    for row in report["mnist"] + report["digits"]:
        assert set(row["seconds"]) == {"manualnet", "torch", "numpy floor", "torch DataLoader"}
        assert row["vs_torch"]["median"] > 0 and row["gemm_efficiency"] > 0
    operations = {(r["operation"], r["size"]) for r in report["operations"]}
    assert {name for name, _ in operations} == {"Linear", "ReLU", "Sigmoid", "CrossEntropyLoss", "BatchNorm1d", "Dropout"}
    assert report["environment"]["numpy_blas"] and "openblas_env" in report["environment"]
    assert report["peak_rss_epoch_batch_64_adam"]["manualnet"]["peak_rss_mib"] > 0
    assert all(isinstance(row["met"], bool) for row in report["targets"])
    lstm = report["lstm"]                                       # issue 16: the LSTM epoch and its breakdown
    assert set(lstm["seconds"]) == {"manualnet", "torch"} and lstm["vs_torch"]["median"] > 0
    assert lstm["manualnet_breakdown"]["phases"] and lstm["torch_breakdown"]["phases"]
    assert "LSTM epoch on sequential MNIST" in printed
    assert "targets (issue 7" in printed and "float32 GEMM rate" in printed
    # convolutional networks (issue 14)
    conv = report["conv"]
    assert {row["operation"].split(" ")[0] for row in conv["layers"]} == {"Conv2d", "MaxPool2d", "AvgPool2d"}
    assert conv["naive_vs_fast"]["speedup"] > 0 and conv["cnn_epoch"]["vs_torch"]["median"] > 0
    assert all(b["total_us"] > 0 and "matmul: forward" in b["pieces_us"] for b in conv["breakdown"])
    assert abs(sum(conv["cnn_epoch_shares"]["shares"].values()) - 1) < 1e-9
    assert {row["target"] for row in report["targets"]} >= {
        "CNN epoch manualnet/torch (issue 14)", "Conv2d im2col / naive loops speed-up (issue 14)"}
    assert "where a manualnet CNN epoch goes" in printed


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
