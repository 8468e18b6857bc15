"""Every ```python block of README.md runs, each on its own, in a temporary folder.

When a ```text block follows a python block directly, it is what that block
prints, and the test compares the two: the README cannot drift from what the
code prints.  Only rounding-level numbers (errors such as 1.81e-10, whose last
digits depend on the CPU's summation order) are masked.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*\n?", re.S | re.M)
TINY_NUMBER = re.compile(r"\d\.\d+e-\d+")


def masked(text):
    return TINY_NUMBER.sub("<tiny>", text.rstrip())


def python_blocks():
    """(source, printed output shown right after it or None) for each python block."""
    text = README.read_text(encoding="utf-8")
    fences = list(FENCE.finditer(text))
    for here, after in zip(fences, fences[1:] + [None]):
        if here.group(1) != "python":
            continue
        shown = None
        if after is not None and after.group(1) == "text" and not text[here.end():after.start()].strip():
            shown = after.group(2)
        line = text.count("\n", 0, here.start()) + 1
        yield pytest.param(here.group(2), shown, line, id=f"README.md:L{line}")


@pytest.mark.parametrize("source, shown, line", list(python_blocks()))
@pytest.mark.slow
def test_readme_python_block_runs_and_prints_what_is_shown(source, shown, line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        # Padded so that line numbers are README.md's: tracebacks, and inspect.getsource
        # (hypothesis calls it), then read the block's own lines.
        exec(compile("\n" * line + source, str(README), "exec"), {"__name__": "__readme__"})
    if shown is not None:
        assert masked(printed.getvalue()) == masked(shown)


def test_readme_has_runnable_examples():
    assert len(list(python_blocks())) >= 3


def backward_share_skipped(sizes):
    """The share of a Linear stack's backward multiply-adds that need_input_grad=False skips: the first G W."""
    layers = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return layers[0] / (2 * sum(layers))          # backward: dW and G W per layer, each as large as forward


def test_readme_states_the_share_of_backward_work_that_need_input_grad_skips():
    text = " ".join(README.read_text(encoding="utf-8").split())
    ours, notes = backward_share_skipped((20, 32, 2)), backward_share_skipped((784, 256, 10))
    assert f"G W: {ours:.0%} of this network's backward multiply-adds, and {notes:.0%} for the notes' 784-256-10 MLP" in text


# -- convolution: the README quotes the recorded CNN runs --------------------------------

def test_readme_cnn_lines_are_the_recorded_runs():
    results = README.parent / "benchmarks" / "results"
    run = (results / "cnn-mnist-readme-run.txt").read_text(encoding="utf-8")
    output = "\n".join(line for line in run.splitlines() if not line.startswith("#"))
    text = README.read_text(encoding="utf-8")
    assert f"```text\n{output}\n```" in text
    accuracy = float(output.rsplit("test accuracy: ", 1)[1].split()[0])
    assert accuracy >= 0.985 and "--model cnn --dataset mnist --epochs 3" in run.splitlines()[0]

    digits = (results / "cnn-digits-readme-run.txt").read_text(encoding="utf-8")
    quoted = digits.rsplit("test accuracy: ", 1)[1].split(" correct")[0]          # '0.9861 (354/359'
    assert f"end at {quoted} correct)" in " ".join(text.split())


# -- sequences: the README quotes the recorded LSTM run ----------------------------------

def test_readme_lstm_mnist_lines_are_the_recorded_runs():
    run = (README.parent / "benchmarks" / "results" / "lstm-mnist-readme-run.txt").read_text(encoding="utf-8")
    output = "\n".join(line for line in run.splitlines() if not line.startswith("#"))
    text = README.read_text(encoding="utf-8")
    assert f"```text\n{output}\n```" in text
    accuracy = float(output.rsplit("test accuracy: ", 1)[1].split()[0])
    assert accuracy >= 0.97 and "--epochs 3" in run.splitlines()[0]

    digits = (README.parent / "benchmarks" / "results" / "lstm-digits-readme-run.txt").read_text(encoding="utf-8")
    assert "test accuracy: 0.9694 (348/359 correct)" in digits and "end at 0.9694 (348/359 correct" in text


def test_readme_char_rnn_table_is_the_recorded_runs():
    import json
    import runpy
    record = json.loads((README.parent / "benchmarks" / "results" / "char-rnn-readme-run.json").read_text())
    table = runpy.run_path(str(README.parent / "examples" / "char_rnn.py"))["readme_table"](record)
    text = README.read_text(encoding="utf-8")
    assert f"-->\n{table}\n<!-- end of char-rnn-table -->" in text
    assert record["text_sha256"] == __import__("manualnet").datasets.SHAKESPEARE_PLAYS["hamlet"].sha256
    assert record["samples"][-1] in text and record["settings"]["compare_torch"]


# -- performance: the README's table is the recorded run's --------------------------------------------

def test_readme_performance_table_is_the_recorded_run():
    import json

    from benchmarks.run import readme_table
    run = json.loads((README.parent / "benchmarks" / "results" / "readme-run.json").read_text(encoding="utf-8"))
    table = readme_table(run)
    text = README.read_text(encoding="utf-8")
    assert f"-->\n{table}\n<!-- end of performance-table -->" in text
    assert not run["quick"] and run["environment"]["cpu"] in " ".join(text.split())
