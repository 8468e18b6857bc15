"""benchmarks/gpt.py runs end to end and reports every piece it promises (no timing is asserted)."""

import json

import numpy as np

from .torch_required import import_torch

torch = import_torch()


def test_gpt_benchmark_reports_both_steps_the_breakdown_and_the_attention_memory(tmp_path, capsys):
    from benchmarks import gpt
    out = tmp_path / "gpt.json"
    report = gpt.main(["--pairs", "2", "--steps", "1", "--threads", "1", "--breakdown-steps", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    step = report["step"]
    assert step["seconds"]["manualnet"]["runs"] == step["seconds"]["torch"]["runs"] == 2
    assert step["ratio"]["median"] > 0
    pieces = report["breakdown"]["manualnet"]["pieces_ms"]
    for piece in ("matrix products", "attention", "softmax", "LayerNorm", "GELU"):
        assert any(label.startswith(piece) and ms > 0 for label, ms in pieces.items()), piece
    assert report["breakdown"]["torch"]["pieces_ms"]
    memory = report["attention_memory"]
    assert memory["manualnet_kept_bytes"] == memory["layers"] * memory["per_layer_bytes"] == 4 * 12 * 4 * 64 * 64 * 4
    assert "GPT step" in capsys.readouterr().out


def test_the_two_contestants_start_from_the_same_weights_and_batches():
    from benchmarks import gpt
    ours, theirs, batches = gpt.contestants(torch, batches=1)
    x, y = batches[0]
    logits = ours.model(x)
    loss = ours.criterion(logits.reshape(-1, gpt.VOCAB), y.reshape(-1))
    _, torch_loss = theirs.model(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(loss, torch_loss.item(), rtol=1e-5)
