"""The examples/ scripts run at small sizes and learn, so they cannot rot."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import manualnet as mn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    """The example's globals (its functions and classes), without running its __main__ block."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))


def strictly_decreasing(values):
    return all(later < earlier for earlier, later in zip(values, values[1:]))


# -- 004: the MLP with init_param and Adam ----------------------------------------------

@pytest.mark.slow
def test_mlp_adam_example_learns(capsys):
    history = load_example("mlp_adam")["main"](["--epochs", "3", "--samples", "300"])
    out = capsys.readouterr().out
    assert strictly_decreasing(history["loss"])
    assert history["test_accr"][-1] > 0.4                # chance is 0.1
    assert out.count("epoch:[") == 3 and out.strip().endswith("Done")


def test_mlp_adam_example_uses_the_packages_mlp():
    """The example spells the notes' class name, and it is manualnet.models.MLP itself (one home for the model)."""
    assert load_example("mlp_adam")["MultiLayerPerceptronClass"] is mn.MLP


# -- 002: the logistic regression with its own backward and optimize ------------------------

def test_logistic_regression_example_learns(capsys):
    history = load_example("logistic_regression")["main"](["--epochs", "20", "--samples", "200"])
    assert strictly_decreasing(history["loss"])          # full-batch gradient descent, small steps
    assert history["loss"][0] == pytest.approx(np.log(2), rel=1e-6)   # w = 0, b = 0: ŷ = 1/2 everywhere
    assert history["test_accr"][-1] > 0.8                # chance is about 0.5
    assert "epoch:[19]" in capsys.readouterr().out


# -- 003: the refactoring path ------------------------------------------------------------

def test_refactoring_steps_learn_and_compute_the_same_thing(capsys):
    results = load_example("refactoring")["main"](["--samples", "300", "--epochs", "1"])
    out = capsys.readouterr().out
    initial_loss = float(out.split("test loss ")[1].split(",")[0])
    assert sorted(results) == list(range(1, 9))
    for number, (_, _, loss, accuracy) in results.items():
        assert loss < initial_loss and accuracy > 0.3, f"step {number} did not learn"
    raw_weights, raw_bias = results[1][:2]
    for number in range(2, 8):                           # same start, same batches: same end
        np.testing.assert_allclose(results[number][0], raw_weights, atol=1e-5, err_msg=f"step {number}")
        np.testing.assert_allclose(results[number][1], raw_bias, atol=1e-5, err_msg=f"step {number}")
    assert not np.allclose(results[8][0], raw_weights, atol=1e-3)   # step 8 shuffles


def test_refactoring_runs_a_single_step(capsys):
    results = load_example("refactoring")["main"](["--step", "5", "--samples", "200", "--epochs", "1"])
    assert list(results) == [5]
    assert "step 5, optim:" in capsys.readouterr().out


# -- PyTorch's MNIST example, ported -------------------------------------------------

@pytest.mark.slow
def test_mnist_cnn_example_learns(capsys):
    """The ported network on the digits (8×8; real MNIST takes minutes an epoch): it learns within 2 epochs."""
    history = load_example("mnist_cnn")["main"](["--dataset", "digits", "--epochs", "2", "--log-interval", "100"])
    out = capsys.readouterr().out
    assert history["test_loss"][1] < history["test_loss"][0]
    assert history["test_accuracy"][-1] > 0.6                # chance is 0.1
    assert out.count("Test set: Average loss:") == 2 and "Train Epoch: 2 [0/1438 (0%)]" in out


def test_mnist_cnn_example_net_has_the_originals_sizes():
    net = load_example("mnist_cnn")["Net"](rng=0)
    assert net.fc1.in_features == 9216 and [p.shape for p in net.conv2.parameters()] == [(64, 32, 3, 3), (64,)]


# -- every example runs as a script -----------------------------------------------------------

@pytest.mark.parametrize("name, argv", [
    ("mlp_adam", ["--epochs", "1", "--samples", "100"]),
    ("logistic_regression", ["--epochs", "2", "--samples", "100"]),
    ("refactoring", ["--step", "7", "--epochs", "1", "--samples", "100"]),
    ("mnist_cnn", ["--dataset", "digits", "--epochs", "1", "--samples", "100", "--dry-run"]),
    ("sequential_mnist", ["--epochs", "1", "--samples", "200", "--hidden", "16"]),
])
@pytest.mark.slow
def test_example_runs_as_a_script(name, argv):
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *argv],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "loss" in result.stdout


# -- sequences: sequential MNIST and the character model ---------------------------

@pytest.mark.slow
def test_sequential_mnist_example_learns_the_digits_row_by_row(capsys):
    history = load_example("sequential_mnist")["main"](["--epochs", "3", "--hidden", "32"])
    assert strictly_decreasing(history["loss"])
    assert history["test_accr"][-1] > 0.5                # chance is 0.1
    assert "8 steps x 8 features" in capsys.readouterr().out


SMALL_TEXT = """The quick brown fox jumps over the lazy dog. A lazy dog sleeps in the sun.
The fox runs, the dog sleeps; the sun sets over the quiet hills and the fox runs home.
""" * 6


def _char_rnn(tmp_path, *extra):
    path = tmp_path / "small.txt"
    path.write_text(SMALL_TEXT, encoding="utf-8")
    return load_example("char_rnn")["main"](["--text", str(path), "--hidden", "24", "--embedding-dim", "8",
                                            "--batch-size", "4", "--steps", "16", "--sample-every", "1000",
                                            "--sample-length", "40", *extra])


@pytest.mark.slow
def test_char_rnn_example_learns_a_small_text(tmp_path, capsys):
    history = _char_rnn(tmp_path, "--epochs", "8")
    losses = history["loss"]
    vocabulary = len(set(SMALL_TEXT))
    assert losses[0] == pytest.approx(np.log(vocabulary), rel=0.05)    # untrained: about uniform over the characters
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    out = capsys.readouterr().out
    assert history["samples"] and history["samples"][0] in out and out.strip().splitlines()[-1].startswith("Done")


def test_char_rnn_gru_runs(tmp_path):
    history = _char_rnn(tmp_path, "--epochs", "1", "--cell", "gru")
    assert len(history["loss"]) > 3 and np.isfinite(history["loss"]).all()


@pytest.mark.slow
def test_char_rnn_example_follows_the_same_model_in_torch_loss_for_loss(tmp_path):
    """From the same weights, on the same batches, with Adam and clipping: the same losses, to 1e-10 in float64."""
    from .torch_required import import_torch
    import_torch()
    history = _char_rnn(tmp_path, "--epochs", "1", "--compare-torch", "--dtype", "float64", "--cell", "lstm")
    assert len(history["torch_loss"]) == len(history["loss"]) > 5
    np.testing.assert_allclose(history["loss"], history["torch_loss"], rtol=1e-10)


# -- the transformer: nanoGPT's Shakespeare run, small -------------------------------------

@pytest.mark.slow
def test_gpt_example_trains_manualnet_and_nanogpt_from_the_same_start(tmp_path):
    """A few iterations on a small text: both implementations, the same batches, the same losses (float32)."""
    from .torch_required import import_torch
    import_torch()
    text = tmp_path / "small.txt"
    text.write_text(SMALL_TEXT * 4, encoding="utf-8")
    out = tmp_path / "run.json"
    report = load_example("gpt_shakespeare")["main"](["--text", str(text), "--max-iters", "6", "--eval-interval", "3",
                                                     "--sample-length", "20", "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    ours, theirs = report["manualnet"], report["pytorch"]
    assert [e["iter"] for e in ours["evaluations"]] == [0, 3, 6] and len(ours["losses"]) == 7
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-4)        # float32, the same batches
    np.testing.assert_allclose(ours["val_loss"], theirs["val_loss"], rtol=1e-4)
    assert len(ours["sample"]) == 21 and set(ours["sample"]) <= set(SMALL_TEXT)
    assert report["corpus"]["vocabulary"] == len(set(SMALL_TEXT)) and report["parameters"] > 0
