"""``train --model gpt --dataset shakespeare`` and ``sample``: a tiny run on plays written here, and every refusal."""

import math
import re

import numpy as np
import pytest

import manualnet as mn
from manualnet.cli import main
from manualnet.datasets.shakespeare import CORPUS_PLAYS, SHAKESPEARE_PLAYS

LINES = ["ROMEO. But soft, what light through yonder window breaks?", "JULIET. O Romeo, Romeo, wherefore art thou?",
         "HAMLET. To be, or not to be, that is the question.", "MACBETH. Is this a dagger which I see before me?"]


@pytest.fixture
def plays(tmp_path):
    """The corpus's eight play files, each a few hundred characters of verse: enough for blocks of 64."""
    folder = tmp_path / "plays"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for play in CORPUS_PLAYS:
        text = "\n".join(LINES[i] for i in rng.integers(0, len(LINES), 12))
        (folder / SHAKESPEARE_PLAYS[play].name).write_text(text + "\n", encoding="utf-8")
    return folder


def train(folder, *extra):
    return main(["train", "--model", "gpt", "--dataset", "shakespeare", "--data-dir", str(folder), "--iters", "2",
                 "--eval-interval", "1", "--eval-iters", "1", "--batch-size", "2", *extra])


@pytest.mark.slow
def test_a_tiny_run_prints_nanogpts_lines_saves_and_samples(plays, tmp_path, capsys):
    checkpoint = tmp_path / "gpt.npz"
    assert train(plays, "--save", str(checkpoint)) == 0
    out = capsys.readouterr().out
    steps = re.findall(r"^step (\d+): train loss (\d+\.\d{4}), val loss (\d+\.\d{4})$", out, re.M)
    assert [int(step) for step, _, _ in steps] == [0, 1, 2], out
    vocabulary = len(set("\n".join(LINES) + "\n"))
    assert abs(float(steps[0][2]) - math.log(vocabulary)) < 0.3, out      # an untrained model guesses evenly
    assert "2 iterations in" in out and "sample:\n" in out and checkpoint.is_file()

    assert main(["sample", str(checkpoint), "--prompt", "ROMEO", "--tokens", "40", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ROMEO") and len(text.rstrip("\n")) >= 40
    assert set(text) <= set("\n".join(LINES) + "\n")
    main(["sample", str(checkpoint), "--prompt", "ROMEO", "--tokens", "40", "--seed", "3"])
    assert capsys.readouterr().out == text                               # the same seed, the same text


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "gpt"], "give both --model gpt and --dataset shakespeare"),
    (["train", "--dataset", "shakespeare"], "give both --model gpt and --dataset shakespeare"),
    (["train", "--model", "gpt", "--dataset", "shakespeare", "--epochs", "3"], "--epochs is not an option of --model gpt"),
    (["train", "--model", "gpt", "--dataset", "shakespeare", "--optimizer", "sgd"],
     "--optimizer is not an option of --model gpt"),
    (["train", "--iters", "3"], "--iters is an option of --model gpt"),
    (["train", "--eval-iters", "3"], "--eval-iters is an option of --model gpt"),
    (["sample", "x.npz", "--tokens", "0"], "argument --tokens: expected a positive integer"),
])
def test_options_that_do_not_go_together_are_refused_before_any_work(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_sample_names_what_is_wrong_with_its_checkpoint_or_its_prompt(plays, tmp_path, capsys):
    not_a_gpt = tmp_path / "mlp.npz"
    mn.save(mn.MLP(4, 3, 2, rng=0), not_a_gpt)
    assert main(["sample", str(not_a_gpt)]) == 1
    assert "not a GPT checkpoint" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "missing.npz")]) == 1
    assert "missing.npz" in capsys.readouterr().err


@pytest.mark.slow
def test_a_prompt_character_the_text_never_had_is_named(plays, tmp_path, capsys):
    checkpoint = tmp_path / "gpt.npz"
    assert main(["train", "--model", "gpt", "--dataset", "shakespeare", "--data-dir", str(plays), "--iters", "1",
                 "--eval-interval", "5", "--eval-iters", "1", "--batch-size", "1", "--save", str(checkpoint)]) == 0
    capsys.readouterr()
    assert main(["sample", str(checkpoint), "--prompt", "ROMEO€"]) == 1
    assert "'€' is not in the vocabulary" in capsys.readouterr().err


def test_a_data_dir_without_the_plays_says_which_file_is_missing(tmp_path, capsys):
    assert train(tmp_path) == 1
    assert "hamlet_gut.txt" in capsys.readouterr().err


def test_an_unwritable_save_target_is_refused_before_the_text_is_read(tmp_path, capsys):
    assert train(tmp_path / "no-plays", "--save", str(tmp_path / "missing" / "gpt.npz")) == 2
    assert "does not exist" in capsys.readouterr().err
