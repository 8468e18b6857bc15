"""The command line: ``python -m manualnet train | evaluate PATH | download mnist | gradcheck | graph | exercises``.

``train`` is the study notes' last program, run for real: a model (``--model``,
the notes' MLP by default) learns handwritten digits with the notes' loop and
prints the notes' epoch line
``epoch:[3] loss:[0.123] train_accr:[0.975] test_accr:[0.964].``
— on scikit-learn's 8×8 digits by default (no download), or on MNIST
(``--dataset mnist``: the notes' own experiment, downloaded and verified once).
``evaluate`` reloads a saved model and prints its test accuracy and confusion
matrix; ``download mnist`` fills the cache; ``gradcheck`` checks every
operation's backward against finite differences and prints a table; ``graph``
prints what autograd records for the notes' MLP loss.

What ``train`` can train is two small registries, ``DATASETS`` and ``MODELS``:
a new model or dataset is one entry.

Failures are one line on stderr and a non-zero exit — 2 for a usage mistake,
1 for anything else, 130 for Ctrl-C — never a traceback.  Everything that can
be checked before the work is: the ``--save`` and ``--plot`` targets, the
plot format, the model's size in memory.  A broken pipe (``train | head -1``)
ends the run quietly.
"""

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import tempfile
import time
import warnings
from typing import Callable

import numpy as np

from manualnet import datasets, optim
from manualnet._main_guard import EXIT_INTERRUPTED
from manualnet.utils.data.dataloader import DataLoader
from manualnet.utils.data.dataset import TensorDataset
from manualnet.nn.modules.loss import CrossEntropyLoss
from manualnet.optim.lr_scheduler import CosineAnnealingLR
from manualnet.models.cnn import CNN
from manualnet.models.mlp import MLP
from manualnet.models.lstm_classifier import LSTMClassifier
from manualnet._progress import ProgressBar
from manualnet._threads import set_num_threads
from manualnet.serialization import load, save

PROG = "python -m manualnet"
EPOCH_LINE = "epoch:[%d] loss:[%.3f] train_accr:[%.3f] test_accr:[%.3f]."   # the study notes' format
# The notes' hidden size, Adam and batches of 64 (the notes' 001 batches MNIST by 64).
DEFAULT_HIDDEN, DEFAULT_BATCH_SIZE = 256, 64
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}
SGD_MOMENTUM = 0.9
EVAL_BATCH_SIZE = 1000
PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}     # --plot's format follows its extension
# An epoch whose mean loss is above this many times ln(classes) — the loss of a uniform guess — has diverged.
DIVERGED_LOSS_FACTOR = 10
EXIT_USAGE, EXIT_ERROR = 2, 1


# -- what train can train: one entry per dataset and per model ---------------------------

@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """A dataset for ``train --dataset``: images as flat float32 rows, int64 labels."""

    load: Callable            # (args) -> (x_train, y_train), (x_test, y_test)
    image_shape: tuple        # (channels, height, width) of one image
    num_classes: int
    default_epochs: int
    reads_data_dir: bool      # whether --data-dir means something for it
    help: str


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A model for ``train --model``, built for a dataset's images and rebuilt from a saved state dict."""

    build: Callable           # (image_shape, num_classes, args, rng) -> Module
    input_shape: Callable     # image_shape -> the shape of one sample as the model reads it
    from_state: Callable      # (state, path) -> Module, or None when the state is another model's
    state_keys: tuple         # the keys of its state dict, for the message when none matches
    help: str
    default_hidden: int = None    # --hidden when it is not given (None: DEFAULT_HIDDEN)
    default_lr: dict = None       # {optimizer: lr} when --lr is not given (None: DEFAULT_LR)
    default_schedule: str = "constant"    # --schedule when it is not given


def _load_digits(args):
    return datasets.load_digits()


def _load_mnist(args):
    """From --data-dir as it is, else from the cache, which is downloaded (and verified) when needed."""
    if args.data_dir is not None:
        return datasets.load_mnist(args.data_dir)
    return datasets.load_mnist(download=True)


DATASETS = {
    "digits": DatasetEntry(_load_digits, image_shape=(1, 8, 8), num_classes=10, default_epochs=30,
                           reads_data_dir=False,
                           help="scikit-learn's 1,797 8x8 digits (default; no download)"),
    "mnist": DatasetEntry(_load_mnist, image_shape=(1, 28, 28), num_classes=10, default_epochs=10,
                          reads_data_dir=True,
                          help="MNIST's 70,000 28x28 digits: from --data-dir, else from the cache, "
                               "downloaded and verified on first use"),
}


MLP_KEYS = {"lin_1.weight": 2, "lin_1.bias": 1, "lin_2.weight": 2, "lin_2.bias": 1}   # key: number of dimensions


def _build_mlp(image_shape, num_classes, args, rng):
    return MLP(xdim=math.prod(image_shape), hdim=args.hidden, ydim=num_classes, rng=rng)


def _mlp_from_state(state, path):
    """The MLP whose weights are ``state``, its sizes read from the weight shapes; None if not an MLP's."""
    if set(state) != set(MLP_KEYS):
        return None
    _check_weight_ndims(state, MLP_KEYS, path)
    hdim, xdim = np.shape(state["lin_1.weight"])
    ydim = np.shape(state["lin_2.weight"])[0]
    return _loaded(MLP(xdim=xdim, hdim=hdim, ydim=ydim), state, path)


def _check_weight_ndims(state, ndims, path):
    """Each weight named in ``ndims`` a non-empty array of that many dimensions, so its shape can size a model."""
    for key, ndim in ndims.items():
        if np.ndim(state[key]) != ndim or 0 in np.shape(state[key]):
            raise ValueError(f"{path}: the weight {key} has shape {np.shape(state[key])}, "
                             f"expected a non-empty {ndim}-D array")


def _loaded(model, state, path):
    """``model`` holding ``state``; a mismatch is a ValueError naming the file."""
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    return model


# -- sequences (issue 16): an LSTM reading each image row by row --------------------------------

LSTM_KEYS = ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0", "fc.weight", "fc.bias")


def _build_lstm(image_shape, num_classes, args, rng):
    _, rows, columns = image_shape
    return LSTMClassifier(input_size=columns, hidden_size=args.hidden, num_classes=num_classes, rng=rng)


def _lstm_from_state(state, path):
    """The LSTMClassifier whose weights are ``state``, sizes from the shapes; None if not an LSTMClassifier's."""
    if set(state) != set(LSTM_KEYS):
        return None
    four_hidden, input_size = np.shape(state["lstm.weight_ih_l0"])
    num_classes, hidden = np.shape(state["fc.weight"])
    if four_hidden != 4 * hidden or 0 in (input_size, hidden, num_classes):
        raise ValueError(f"{path}: lstm.weight_ih_l0 has shape {np.shape(state['lstm.weight_ih_l0'])} and "
                         f"fc.weight {np.shape(state['fc.weight'])}; expected (4·H, input_size) and (classes, H)")
    model = LSTMClassifier(input_size=input_size, hidden_size=hidden, num_classes=num_classes)
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    return model


MODELS = {
    "mlp": ModelEntry(_build_mlp, input_shape=lambda image_shape: (math.prod(image_shape),),
                      from_state=_mlp_from_state, state_keys=tuple(MLP_KEYS),
                      help="the study notes' MultiLayerPerceptronClass: lin_1, ReLU, lin_2 "
                           "(--hidden units, Kaiming-normal weights, zero biases)"),
    "lstm": ModelEntry(_build_lstm, input_shape=lambda image_shape: image_shape[1:],
                       from_state=_lstm_from_state, state_keys=LSTM_KEYS,
                       help="an LSTM reading each image row by row (MNIST: 28 steps of 28 pixels) and a Linear on "
                            "its last state (--hidden units, default 128; adam lr 2e-3; derivations/lstm.md)",
                       default_hidden=128, default_lr={"adam": 2e-3, "sgd": DEFAULT_LR["sgd"]}),
}


# -- the CNN (issue 14) ------------------------------------------------------------------

CNN_WEIGHTS = {"features.0.weight": 4, "features.4.weight": 4, "classifier.1.weight": 2, "classifier.3.weight": 2}


def _build_cnn(image_shape, num_classes, args, rng):
    channels, size, _ = image_shape
    return CNN(in_channels=channels, num_classes=num_classes, image_size=size, hidden=args.hidden, rng=rng)


def _cnn_keys():
    return tuple(CNN(image_size=4, channels=(1, 1), hidden=1, rng=0).state_dict())


def _cnn_from_state(state, path):
    """The CNN whose state is ``state``, its sizes read from the weight shapes; None if not a CNN's."""
    if set(state) != set(_cnn_keys()):
        return None
    _check_weight_ndims(state, CNN_WEIGHTS, path)
    first, in_channels = np.shape(state["features.0.weight"])[:2]
    second = np.shape(state["features.4.weight"])[0]
    hidden, flat = np.shape(state["classifier.1.weight"])
    num_classes = np.shape(state["classifier.3.weight"])[0]
    side = math.isqrt(flat // second)
    if second * side * side != flat:
        raise ValueError(f"{path}: classifier.1.weight has {flat} inputs, which is not {second} channels "
                         "of a square image")
    return _loaded(CNN(in_channels, num_classes, image_size=4 * side, channels=(first, second), hidden=hidden),
                   state, path)


MODELS["cnn"] = ModelEntry(_build_cnn, input_shape=lambda image_shape: image_shape, from_state=_cnn_from_state,
                           state_keys=_cnn_keys(),
                           help="manualnet.models.CNN: two 3x3 convolution, batch-norm, ReLU and 2x2 max-pool "
                                "blocks (16, 32 channels), then Linear (--hidden units, default 128), ReLU, Linear "
                                "(a LeNet-style network; --schedule cosine by default)",
                           default_hidden=128, default_schedule="cosine")


# -- errors ------------------------------------------------------------------------

class UsageError(Exception):
    """The command line asks for something impossible: exit code 2."""

    def __init__(self, prog, message):
        super().__init__(f"{prog}: error: {message} (see '{prog} --help')")


class Diverged(Exception):
    """The training loss left any sensible range: exit code 1, with a hint about the learning rate."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage dump) and never exits by itself."""

    def error(self, message):
        raise UsageError(self.prog, message)


# -- option types: each says what it wanted and what came ------------------------

def _integer(text, minimum, wanted):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text):
    return _integer(text, 1, "a positive integer")


def non_negative_int(text):
    return _integer(text, 0, "an integer >= 0")


def learning_rate(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser():
    parser = _Parser(prog=PROG, description="manualnet: train, evaluate and gradient-check "
                                            "hand-written neural-network layers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser("train", help="train a model on handwritten digits, one line per epoch",
                                description="Train the study notes' MLP with the notes' loop.")
    train.add_argument("--dataset", choices=tuple(DATASETS), default="digits",
                       help="; ".join(f"{name}: {entry.help}" for name, entry in DATASETS.items()))
    train.add_argument("--data-dir", metavar="DIR", help="for mnist: a folder holding the four MNIST IDX files "
                                                         "(raw or .gz), read as they are, instead of the cache")
    train.add_argument("--model", choices=tuple(MODELS), default="mlp",
                       help="; ".join(f"{name}: {entry.help}" for name, entry in MODELS.items()))
    train.add_argument("--hidden", type=positive_int, metavar="N",
                       help="hidden units (default: " + ", ".join(
                           f"{entry.default_hidden or DEFAULT_HIDDEN} for {name}" for name, entry in MODELS.items()) + ")")
    train.add_argument("--epochs", type=positive_int, metavar="N",
                       help="passes over the training set (default: " + ", ".join(
                           f"{entry.default_epochs} on {name}" for name, entry in DATASETS.items()) + ")")
    train.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                       help=f"samples per step (default {DEFAULT_BATCH_SIZE})")
    train.add_argument("--optimizer", choices=("sgd", "adam"), default="adam",
                       help=f"adam (default) or sgd (with momentum {SGD_MOMENTUM})")
    train.add_argument("--lr", type=learning_rate, metavar="X",
                       help=f"learning rate (default {DEFAULT_LR['adam']} for adam, {DEFAULT_LR['sgd']} for sgd; "
                            f"the lstm model's adam: {MODELS['lstm'].default_lr['adam']})")
    train.add_argument("--schedule", choices=tuple(SCHEDULES),
                       help="the learning rate over the run: constant, or cosine (CosineAnnealingLR with T_max = "
                            "--epochs, stepped after each epoch: from --lr down towards 0 along a half cosine); "
                            "default: " + ", ".join(f"{entry.default_schedule} for {name}"
                                                    for name, entry in MODELS.items()))
    train.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                       help="seed for the initial weights and the shuffling (default 0): "
                            "the same seed prints the same numbers")
    train.add_argument("--save", metavar="PATH", help="save the trained model here (.npz)")
    train.add_argument("--plot", metavar="PATH",
                       help="draw loss and accuracy per epoch into PATH, as PNG, PDF or SVG by its extension "
                            "(needs matplotlib: pip install 'manualnet[plot]')")
    add_threads_option(train)
    train.set_defaults(run=run_train)

    evaluate = commands.add_parser("evaluate", help="test accuracy and confusion matrix of a saved model",
                                   description="Load a model saved by 'train --save' and test it.")
    evaluate.add_argument("path", metavar="PATH", help="a model saved with 'train --save PATH'")
    evaluate.add_argument("--data-dir", metavar="DIR",
                          help="for MNIST models: a folder holding the four MNIST IDX files instead of the cache")
    add_threads_option(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    download = commands.add_parser("download", help="fetch MNIST once, each file verified by SHA-256",
                                   description="Fetch a dataset's files into the cache (or --dir), verified "
                                               "by SHA-256; a verified copy already there is kept.")
    download.add_argument("dataset", choices=("mnist",), help="the dataset to fetch: mnist")
    download.add_argument("--dir", metavar="DIR", help="put the files here instead of the cache "
                                                       "($MANUALNET_DATA/mnist, else ~/.cache/manualnet/mnist)")
    download.set_defaults(run=run_download)

    gradcheck = commands.add_parser("gradcheck", help="check every operation's backward against finite "
                                                      "differences",
                                    description="Gradient-check every operation in the package.")
    gradcheck.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                           help="seed for the sample inputs and parameters (default 0)")
    gradcheck.set_defaults(run=run_gradcheck)
    add_graph_command(commands)
    add_exercises_command(commands)
    return parser


# -- --threads N: the library's BLAS thread setting (manualnet/_threads.py) ------------

def add_threads_option(command):
    command.add_argument("--threads", type=positive_int, metavar="N",
                         help="BLAS threads for every matrix product (default: chosen by each product's size and "
                              "the cores other processes leave free; MANUALNET_NUM_THREADS=N does the same)")


def apply_threads_option(args):
    if getattr(args, "threads", None) is not None:
        set_num_threads(args.threads)
# -- end of --threads


# -- checks made before any work -----------------------------------------------------

def _check_output(prog, option, path, formats=None):
    """Refuse now, not after training, a --save/--plot target that cannot be written."""
    if path == "":
        raise UsageError(prog, f"{option}: expected a file name, got ''")
    if os.path.isdir(path):
        raise UsageError(prog, f"{option} {path}: is a directory; give a file name, "
                               f"e.g. {os.path.join(path, 'model.npz' if formats is None else 'curves.png')}")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise UsageError(prog, f"{option} {path}: exists and is not a regular file")
    if formats is not None and os.path.splitext(path)[1].lower() not in formats:
        raise UsageError(prog, f"{option} {path}: the format follows the extension; "
                               f"expected a name ending in {', '.join(list(formats)[:-1])} or {list(formats)[-1]}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(prog, f"{option} {path}: the folder {folder} does not exist")
    name_bytes = len(os.fsencode(os.path.basename(path)))
    if name_bytes > _longest_name(folder):
        raise UsageError(prog, f"{option}: the file name is {name_bytes} bytes long, longer than the "
                               f"{_longest_name(folder)} bytes {folder} allows")
    try:                                         # the real test of writability (permissions, read-only disks)
        handle, probe = tempfile.mkstemp(prefix=".manualnet-probe-", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise UsageError(prog, f"{option} {path}: cannot write in {folder} ({error.strerror})") from None


def _longest_name(folder):
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def load_dataset(name, args):
    """The train and test splits of DATASETS[name]; images or labels that do not fit it are refused here."""
    entry = DATASETS[name]
    (x_train, y_train), (x_test, y_test) = entry.load(args)
    pixels = math.prod(entry.image_shape)
    source = args.data_dir or name
    for x, y in ((x_train, y_train), (x_test, y_test)):
        if x.shape[1] != pixels:
            raise ValueError(f"{source}: the images have {x.shape[1]} pixels, but {name} images have "
                             f"{pixels} ({' x '.join(map(str, entry.image_shape))})")
        if len(y) and y.max() >= entry.num_classes:
            raise ValueError(f"{source}: a label is {y.max()}, but {name} has {entry.num_classes} classes "
                             f"(0 to {entry.num_classes - 1})")
    return (x_train, y_train), (x_test, y_test)


def _check_data_dir(prog, args, dataset_name):
    if args.data_dir == "":
        raise UsageError(prog, "--data-dir: expected a folder, got ''")
    if args.data_dir is not None and not DATASETS[dataset_name].reads_data_dir:
        raise UsageError(prog, f"--data-dir is for MNIST; {dataset_name} does not read it "
                               "(the digits ship with scikit-learn)")


# -- the training loop, as in the study notes ----------------------------------------

SCHEDULES = {"constant": lambda optimizer, epochs: None,
             "cosine": lambda optimizer, epochs: CosineAnnealingLR(optimizer, T_max=epochs)}


def make_optimizer(name, parameters, lr):
    if name == "sgd":
        return optim.SGD(parameters, lr=lr, momentum=SGD_MOMENTUM)
    return optim.Adam(parameters, lr=lr)


def train_one_epoch(model, criterion, optimizer, loader, progress, epoch):
    """One pass over the training set; returns the mean batch loss (the notes' loss_val_avg)."""
    model.train()
    loss_val_sum = 0.0
    with contextlib.closing(progress):           # the bar is erased however the epoch ends
        for step, (batch_in, batch_out) in enumerate(loader, start=1):
            try:
                optimizer.zero_grad()                    # .grad accumulates: clear it first
                y_pred = model(batch_in)
                loss_out = criterion(y_pred, batch_out)
                model.backward(criterion.backward(), need_input_grad=False)   # loss.backward() in PyTorch
                optimizer.step()
            except ValueError:
                # The images were checked finite when loaded, so a layer refusing a non-finite
                # value here means the weights themselves blew up.
                raise Diverged(f"at epoch {epoch}, step {step} the activations became inf or NaN") from None
            loss = loss_out.item()
            if not math.isfinite(loss):
                raise Diverged(f"at epoch {epoch}, step {step} the loss became {loss}")
            loss_val_sum += loss
            progress.show(step)
    return loss_val_sum / len(loader)


def func_eval(model, data_iter):
    """Accuracy over a loader, in eval mode, as the notes' ``func_eval`` (which ends in train mode)."""
    model.eval()
    n_total, n_correct = 0, 0
    for batch_in, batch_out in data_iter:
        y_pred = model(batch_in).argmax(axis=1)
        n_correct += int((y_pred == batch_out).sum())
        n_total += len(batch_in)
    model.train()
    return n_correct / n_total


def mean_loss(model, criterion, data_iter):
    """The mean loss per sample over a loader, in eval mode (the plot's test loss)."""
    model.eval()
    total = sum(criterion(model(batch_in), batch_out).item() * len(batch_in) for batch_in, batch_out in data_iter)
    model.train()
    return total / len(data_iter.dataset)


def confusion_matrix(model, data_iter, num_classes):
    """counts[true, predicted] over a loader, in eval mode; its trace is the number correct."""
    model.eval()
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for batch_in, batch_out in data_iter:
        np.add.at(counts, (batch_out, model(batch_in).argmax(axis=1)), 1)
    model.train()
    return counts


def run_train(args):
    prog = f"{PROG} train"
    dataset, model_entry = DATASETS[args.dataset], MODELS[args.model]
    _check_data_dir(prog, args, args.dataset)
    for option, path, formats in (("--save", args.save, None), ("--plot", args.plot, PLOT_FORMATS)):
        if path is not None:
            _check_output(prog, option, path, formats)
    if args.save is not None and args.plot is not None and os.path.abspath(args.save) == os.path.abspath(args.plot):
        raise UsageError(prog, f"--save and --plot name the same file {args.save}")
    figure_class = _import_matplotlib_figure() if args.plot is not None else None
    epochs = args.epochs or dataset.default_epochs
    lr = args.lr or (model_entry.default_lr or DEFAULT_LR)[args.optimizer]
    args.hidden = args.hidden or model_entry.default_hidden or DEFAULT_HIDDEN
    schedule_name = args.schedule or model_entry.default_schedule

    init_rng, shuffle_rng = np.random.default_rng(args.seed).spawn(2)   # two independent streams
    try:
        model = model_entry.build(dataset.image_shape, dataset.num_classes, args, init_rng)
    except MemoryError as error:
        raise UsageError(prog, f"not enough memory for the model ({error}); try a smaller --hidden") from None
    (x_train, y_train), (x_test, y_test) = load_dataset(args.dataset, args)
    sample_shape = model_entry.input_shape(dataset.image_shape)
    x_train, x_test = x_train.reshape(-1, *sample_shape), x_test.reshape(-1, *sample_shape)
    criterion = CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), lr)
    schedule = SCHEDULES[schedule_name](optimizer, epochs)
    train_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size,
                            shuffle=True, rng=shuffle_rng)
    train_eval_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=EVAL_BATCH_SIZE)
    test_iter = DataLoader(TensorDataset(x_test, y_test), batch_size=EVAL_BATCH_SIZE)

    setting = (f"{args.optimizer} lr={lr}" + (f" ({schedule_name} over {epochs} epoch{'s' * (epochs != 1)})" if schedule else "")
               + f", batch size {args.batch_size}, seed {args.seed}")
    print(f"training {model.describe()} on {args.dataset}: {len(x_train)} training and "
          f"{len(x_test)} test images, {setting}", flush=True)
    history = {"loss": [], "train_accr": [], "test_accr": [], "test_loss": []}
    start = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # a blow-up is reported as one line
            for epoch in range(epochs):
                progress = ProgressBar(len(train_iter), f"epoch {epoch}")
                loss_val_avg = train_one_epoch(model, criterion, optimizer, train_iter, progress, epoch)
                if schedule is not None:
                    schedule.step()
                train_accr = func_eval(model, train_eval_iter)
                test_accr = func_eval(model, test_iter)
                print(EPOCH_LINE % (epoch, loss_val_avg, train_accr, test_accr), flush=True)
                for key, value in zip(history, (loss_val_avg, train_accr, test_accr)):
                    history[key].append(value)
                if figure_class is not None:
                    history["test_loss"].append(mean_loss(model, criterion, test_iter))
                _check_not_diverged(loss_val_avg, dataset.num_classes, epoch)
    except Diverged as error:
        raise Diverged(f"training diverged: {error}; lr={lr:g} is too large for {args.optimizer} here — "
                       f"try --lr {lr / 10:g} or smaller (nothing was saved)") from None
    seconds = time.perf_counter() - start

    if args.save is not None:
        save(model, args.save)
        print(f"saved the model to {args.save}")
    if args.plot is not None:
        title = f"{model.describe()} on {args.dataset}: {setting}"
        plot_history(figure_class, history, args.plot, title)
        print(f"plotted loss and accuracy to {args.plot}")
    print(f"done: {epochs} epochs in {seconds:.2f} s")
    print(accuracy_line(confusion_matrix(model, test_iter, dataset.num_classes)))
    return 0


def _check_not_diverged(loss_val_avg, num_classes, epoch):
    guess = math.log(num_classes)                # the cross-entropy of a uniform guess
    if loss_val_avg > DIVERGED_LOSS_FACTOR * guess:
        raise Diverged(f"the mean loss of epoch {epoch} is {loss_val_avg:.3g}, far above "
                       f"ln({num_classes}) = {guess:.2f}, the loss of a uniform guess")


def accuracy_line(counts):
    correct, total = int(np.trace(counts)), int(counts.sum())
    return f"test accuracy: {correct / total:.4f} ({correct}/{total} correct)"


# -- the plot ----------------------------------------------------------------

def _import_matplotlib_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("--plot needs matplotlib; install the 'plot' extra: "
                          "pip install 'manualnet[plot]'") from None
    return Figure


def plot_history(figure_class, history, path, title):
    """Loss (training and test) and accuracy per epoch, in the format of ``path``'s extension, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator

    figure = figure_class(figsize=(9, 3.8))
    FigureCanvasAgg(figure)                          # no display needed
    epochs = np.arange(len(history["loss"]))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, history["loss"], marker="o", label="train (mean over the epoch's batches)")
    loss_axes.plot(epochs, history["test_loss"], marker="o", label="test (after the epoch)")
    loss_axes.set(title="loss", xlabel="epoch", ylabel="mean cross-entropy")
    loss_axes.legend()
    accuracy_axes.plot(epochs, history["train_accr"], marker="o", label="train")
    accuracy_axes.plot(epochs, history["test_accr"], marker="o", label="test")
    accuracy_axes.set(title="accuracy", xlabel="epoch", ylabel="fraction correct")
    accuracy_axes.legend()
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    file_format = PLOT_FORMATS[os.path.splitext(path)[1].lower()]
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".manualnet-plot-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            figure.savefig(file, format=file_format)
        os.replace(temporary, path)
    except BaseException:
        os.remove(temporary)
        raise


# -- evaluate ------------------------------------------------------------------

def run_evaluate(args):
    prog = f"{PROG} evaluate"
    path = args.path
    if os.path.isdir(path):
        raise UsageError(prog, f"{path} is a directory; expected a model file saved with 'train --save'")
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no model file {path}; make one with: {PROG} train --save {path}")
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file; expected a model file saved with 'train --save'")
    model_entry, model = _model_from_checkpoint(path)
    name, dataset = _dataset_of(model_entry, model, path)
    _check_data_dir(prog, args, name)
    _, (x_test, y_test) = load_dataset(name, args)
    x_test = x_test.reshape(-1, *model_entry.input_shape(dataset.image_shape))
    outputs = model(x_test[:1]).shape[-1]
    if outputs != dataset.num_classes:
        raise ValueError(f"{path}: {model.describe()} has {outputs} outputs, but {name} has "
                         f"{dataset.num_classes} classes; it cannot be tested on {name}")
    counts = confusion_matrix(model, DataLoader(TensorDataset(x_test, y_test), EVAL_BATCH_SIZE), outputs)
    print(f"{model.describe()} from {path}, tested on the {len(x_test)} {name} test images")
    print("confusion matrix (rows: true label, columns: predicted label):")
    print(format_confusion(counts))
    print(accuracy_line(counts))
    return 0


def _model_from_checkpoint(path):
    """(its MODELS entry, the model) saved at ``path``; an unreadable file is a one-line ValueError naming it."""
    try:
        state = load(path)
    except (OSError, MemoryError):
        raise
    except Exception as error:                   # a damaged file may fail in many ways; none is a traceback
        detail = str(error).replace("\n", " ")
        if path not in detail:
            detail = f"{path}: {detail}"
        raise ValueError(f"cannot read the model: {detail}") from None
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise ValueError(f"{path} does not hold a state dict saved by 'train --save'")
    for model_entry in MODELS.values():
        model = model_entry.from_state(state, path)
        if model is not None:
            break
    else:
        expected = "; or ".join(f"{', '.join(entry.state_keys)} ({name})" for name, entry in MODELS.items())
        raise ValueError(f"{path} does not hold a model saved by 'train --save': expected the keys "
                         f"{expected}, found {', '.join(state) or 'none'}")
    for key, value in model.state_dict().items():
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        if bad:
            raise ValueError(f"{path}: the weight {key} holds {bad} NaN or inf value(s) — the run that saved "
                             "it diverged, or the file was changed; this model cannot be evaluated")
    return model_entry, model


def _dataset_of(model_entry, model, path):
    """(name, entry) of the dataset whose samples have the shape ``model`` reads."""
    for name, dataset in DATASETS.items():
        if _reads(model, model_entry.input_shape(dataset.image_shape)):
            return name, dataset
    known = ", ".join(f"{name} {model_entry.input_shape(dataset.image_shape)}" for name, dataset in DATASETS.items())
    raise ValueError(f"{path}: {model.describe()} reads samples of none of the datasets' shapes ({known})")


def _reads(model, sample_shape):
    try:
        with np.errstate(all="ignore"):
            model.eval()
            model(np.zeros((1, *sample_shape), dtype=np.float32))
        return True
    except (ValueError, TypeError):
        return False


def format_confusion(counts):
    width = max(4, len(str(counts.max())) + 1)
    header = "true\\pred" + "".join(f"{label:>{width}}" for label in range(counts.shape[1]))
    rows = [f"{label:>9}" + "".join(f"{count:>{width}}" for count in row) for label, row in enumerate(counts)]
    return "\n".join([header, *rows])


# -- download ----------------------------------------------------------------------

def run_download(args):
    if args.dir == "":
        raise UsageError(f"{PROG} download", "--dir: expected a folder, got ''")
    folder = datasets.download_mnist(args.dir)
    print(f"MNIST is in {folder}: {len(datasets.MNIST_SPECS)} files, each verified by SHA-256")
    return 0


# -- gradcheck -----------------------------------------------------------------

def run_gradcheck(args):
    from manualnet.testing.catalogue import run_all
    from manualnet.testing.gradcheck import ATOL, EPS, RTOL, GradcheckWarning
    from manualnet.testing.reports import format_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckWarning)   # a vacuous check already shows as FAIL
        results = run_all(args.seed)
    print(f"gradient checks in float64: central differences, eps={EPS:g}, "
          f"pass when |analytic - numeric| <= {ATOL:g} + {RTOL:g}*|numeric|")
    header = ("operation", "input max rel err", "parameters max rel err", "status")
    rows = [(result.operation, _error(result.input_error), _error(result.parameter_error),
             "ok" if result.passed else "FAIL") for result in results]
    print("\n".join(format_table(header, rows)))
    failed = [result for result in results if not result.passed]
    for result in failed:
        print(f"\n{result.details}")
    if failed:
        print(f"\n{len(failed)} of {len(results)} operations FAILED the gradient check")
        return EXIT_ERROR
    print(f"\nall {len(results)} operations passed")
    return 0


def _error(value):
    return "-" if value is None else f"{value:.1e}"


# -- graph: what autograd records for the notes' MLP loss (manualnet.autograd) ------------

def add_graph_command(commands):
    graph = commands.add_parser("graph", help="print the graph autograd records for the notes' MLP loss",
                                description="Print the grad_fn graph manualnet.autograd records for the study "
                                            "notes' MLP (784-256-10) and its cross-entropy loss.")
    graph.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                       help="samples in the batch (default 64)")
    graph.add_argument("--dot", action="store_true", help="print Graphviz DOT text instead (dot -Tsvg draws it)")
    graph.set_defaults(run=run_graph)


def run_graph(args):
    from manualnet.autograd import mlp_loss_graph

    graph = mlp_loss_graph(batch_size=args.batch_size)
    print(graph.to_dot() if args.dot else graph, end="" if args.dot else "\n")
    return 0


# -- exercises: the learner writes each backward, the checkers grade it (manualnet/grader/__init__.py) ------

def add_exercises_command(commands):
    from manualnet.grader import BY_NAME, FOLDER

    exercises = commands.add_parser(
        "exercises", help="list the exercises with their status, or grade one: exercises check NAME",
        description=f"The learning path: write each backward in {FOLDER}/NAME.py, then grade it. Without "
                    "arguments, list every exercise with its status (not started, failing, passing) and the "
                    f"next one; 'check NAME' grades {FOLDER}/NAME.py against manualnet's own layer and finite "
                    f"differences. git checkout {FOLDER}/ brings the stubs back.")
    exercises.add_argument("action", nargs="?", choices=("check",), metavar="check", help="grade one exercise")
    exercises.add_argument("name", nargs="?", choices=tuple(BY_NAME), metavar="NAME",
                           help=f"the exercise to grade: {', '.join(BY_NAME)}")
    exercises.add_argument("--dir", metavar="DIR", help=f"the folder of exercise files (default: ./{FOLDER}, "
                                                       "else the one in manualnet's checkout)")
    exercises.set_defaults(run=run_exercises)


def run_exercises(args):
    from manualnet.grader import run_command

    if (args.action is None) != (args.name is None):
        raise UsageError(f"{PROG} exercises", "expected 'exercises' alone or 'exercises check NAME'")
    return run_command(args.name, args.dir)


# -- entry point ----------------------------------------------------------------

def main(argv=None):
    """Run the command line on ``argv`` (default sys.argv[1:]); return the exit code."""
    try:
        args = _parse(argv)
        apply_threads_option(args)
        code = args.run(args)
        sys.stdout.flush()                           # a closed pipe shows here, not at exit
        return code
    except SystemExit as exit:                       # --help
        return exit.code
    except UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:                          # `train | head -1`: the reader has all it wanted
        _discard_stdout()
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError as error:
        print(f"{PROG}: error: not enough memory ({error})", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError, ImportError, Diverged) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:                       # a bug: still one line, named, never a traceback
        print(f"{PROG}: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


def _parse(argv):
    """Parse ``argv``; a stray argument names the command's own --help, and a bare number hints at --epochs."""
    args, extras = build_parser().parse_known_args(argv)
    if extras:
        hint = ""
        if args.command == "train" and extras[0].isdigit():
            hint = f"; to train for {extras[0]} epochs, write --epochs {extras[0]}"
        raise UsageError(f"{PROG} {args.command}", f"unrecognized arguments: {' '.join(extras)}{hint}")
    return args


def _discard_stdout():
    """Point stdout at /dev/null so the interpreter's last flush cannot fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
