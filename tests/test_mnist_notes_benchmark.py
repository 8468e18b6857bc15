"""benchmarks/mnist_notes.py: the README's MNIST table is the committed run's JSON, and the benchmark runs.

The table check needs neither torch nor the data.  The smoke run (marked
``mnist``) trains both programs for one epoch on 2,000 real images; its
numbers mean nothing, only its shape is checked (no timing is ever asserted).
"""

import json
import re
from pathlib import Path

import pytest

from benchmarks import mnist_notes

from .mnist_required import real_mnist
from .torch_required import import_torch

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- mnist-notes-table: .*? -->\n(.*?)\n<!-- end of mnist-notes-table -->", re.S)


def test_readme_table_is_the_committed_run():
    report = json.loads(mnist_notes.README_RUN.read_text())
    shown = BLOCK.search(README.read_text(encoding="utf-8"))
    assert shown, "README.md lost its mnist-notes-table markers"
    assert shown[1] == mnist_notes.readme_block(report)
    epochs = report["settings"]["epochs"]
    for runs in report["programs"].values():
        assert [row["epoch"] for row in runs] == list(range(epochs))
        assert all(row["train_seconds"] > 0 and 0 <= row["test_accr"] <= 1 for row in runs)


@pytest.mark.mnist
@pytest.mark.slow
def test_the_benchmark_runs_both_programs(tmp_path, monkeypatch, capsys):
    real_mnist()
    import_torch()
    out = tmp_path / "run.json"
    mnist_notes.main(["--epochs", "1", "--samples", "2000", "--threads", "1", "--out", str(out)])
    report = json.loads(out.read_text())
    assert set(report["programs"]) == {"manualnet", mnist_notes.TORCH_LABEL}
    for runs in report["programs"].values():
        assert len(runs) == 1 and runs[0]["test_accr"] > 0.5          # one epoch on 2,000 images learns
    assert report["settings"]["training_images"] == 2000 and report["settings"]["threads_requested"] == 1
    assert "| 0 | " in capsys.readouterr().out
