"""The command line: ``python -m manualnet train | evaluate PATH | gradcheck | graph | exercises``.

``train`` is the study notes' last program, run for real: the MLP learns
handwritten digits with the notes' loop and prints the notes' epoch line
``epoch:[3] loss:[0.123] train_accr:[0.975] test_accr:[0.964].``
``evaluate`` reloads a saved model and prints its test accuracy and confusion
matrix; ``gradcheck`` checks every operation's backward against finite
differences and prints a table.

Bad input (a missing file, an unknown dataset, a bad number) prints one line
on stderr and exits non-zero — 2 for a usage mistake, 1 for anything else —
never a traceback.
"""

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

from . import datasets, optim
from .data import DataLoader, TensorDataset
from .losses import CrossEntropyLoss
from .models import MLP
from .serialization import load, save

PROG = "python -m manualnet"
EPOCH_LINE = "epoch:[%d] loss:[%.3f] train_accr:[%.3f] test_accr:[%.3f]."   # the study notes' format
NUM_CLASSES = 10
# The default run: the notes' hidden size and Adam, 30 epochs of 64-image batches
# (>= 0.978 test accuracy on the digits for each of 20 seeds, in about a second).
DEFAULT_HIDDEN, DEFAULT_EPOCHS, DEFAULT_BATCH_SIZE = 256, 30, 64
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}
SGD_MOMENTUM = 0.9
EVAL_BATCH_SIZE = 1000
INPUT_SIZES = {64: "digits", 784: "mnist"}    # evaluate tells the dataset from lin_1's input size
EXIT_USAGE, EXIT_ERROR = 2, 1


class UsageError(Exception):
    """The command line asks for something impossible: exit code 2."""

    def __init__(self, prog, message):
        super().__init__(f"{prog}: error: {message} (see '{prog} --help')")


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

    train = commands.add_parser("train", help="train the MLP on handwritten digits, one line per epoch",
                                description="Train the study notes' MLP with the notes' loop.")
    train.add_argument("--dataset", choices=("digits", "mnist"), default="digits",
                       help="digits: scikit-learn's 8x8 digits (default); mnist: IDX files from --data-dir")
    train.add_argument("--data-dir", metavar="DIR", help="folder with the four MNIST IDX files (raw or .gz)")
    train.add_argument("--hidden", type=positive_int, default=DEFAULT_HIDDEN, metavar="N",
                       help=f"hidden units (default {DEFAULT_HIDDEN})")
    train.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS, metavar="N",
                       help=f"passes over the training set (default {DEFAULT_EPOCHS})")
    train.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                       help=f"samples per step (default {DEFAULT_BATCH_SIZE})")
    train.add_argument("--optimizer", choices=("sgd", "adam"), default="adam",
                       help=f"adam (default) or sgd (with momentum {SGD_MOMENTUM})")
    train.add_argument("--lr", type=learning_rate, metavar="X",
                       help=f"learning rate (default {DEFAULT_LR['adam']} for adam, {DEFAULT_LR['sgd']} for sgd)")
    train.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                       help="seed for the initial weights and the shuffling (default 0): "
                            "the same seed prints the same numbers")
    train.add_argument("--save", metavar="PATH", help="save the trained model here (.npz)")
    train.add_argument("--plot", metavar="PATH", help="draw loss and accuracy per epoch into this PNG "
                                                      "(needs matplotlib: pip install 'manualnet[plot]')")
    train.set_defaults(run=run_train)

    evaluate = commands.add_parser("evaluate", help="test accuracy and confusion matrix of a saved model",
                                   description="Load a model saved by 'train --save' and test it.")
    evaluate.add_argument("path", metavar="PATH", help="a model saved with 'train --save PATH'")
    evaluate.add_argument("--data-dir", metavar="DIR", help="folder with the MNIST IDX files (MNIST models)")
    evaluate.set_defaults(run=run_evaluate)

    gradcheck = commands.add_parser("gradcheck", help="check every operation's backward against finite "
                                                      "differences",
                                    description="Gradient-check every operation in the package.")
    gradcheck.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                           help="seed for the sample inputs and parameters (default 0)")
    gradcheck.set_defaults(run=run_gradcheck)
    add_graph_command(commands)
    add_exercises_command(commands)
    return parser


# -- data ----------------------------------------------------------------------

def load_dataset(args, name):
    """(x_train, y_train), (x_test, y_test) of ``name``: rows of float32 pixels, int64 labels."""
    if name == "mnist":
        if args.data_dir is None:
            raise UsageError(f"{PROG} {args.command}", "MNIST needs --data-dir DIR, the folder "
                                                      "holding the four MNIST IDX files")
        return datasets.load_mnist(args.data_dir)
    return datasets.load_digits()


def _check_writable(args, option, path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{PROG} {args.command}", f"{option} {path}: the folder {folder} does not exist")


# -- the training loop, as in the study notes ----------------------------------------

def make_optimizer(name, parameters, lr):
    if name == "sgd":
        return optim.SGD(parameters, lr=lr, momentum=SGD_MOMENTUM)
    return optim.Adam(parameters, lr=lr)


def train_one_epoch(model, criterion, optimizer, loader, progress):
    """One pass over the training set; returns the mean batch loss (the notes' loss_val_avg)."""
    model.train()
    loss_val_sum = 0.0
    for step, (batch_in, batch_out) in enumerate(loader, start=1):
        optimizer.zero_grad()                        # .grad accumulates: clear it first
        y_pred = model(batch_in)
        loss_out = criterion(y_pred, batch_out)
        model.backward(criterion.backward(), need_input_grad=False)   # loss.backward() in PyTorch
        optimizer.step()
        loss_val_sum += loss_out.item()
        progress.show(step)
    progress.clear()
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


def confusion_matrix(model, data_iter, num_classes):
    """counts[true, predicted] over a loader, in eval mode; its trace is the number correct."""
    model.eval()
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for batch_in, batch_out in data_iter:
        np.add.at(counts, (batch_out, model(batch_in).argmax(axis=1)), 1)
    model.train()
    return counts


class ProgressBar:
    """A bar redrawn in place on stderr within an epoch; silent unless stderr is a terminal."""

    WIDTH = 30

    def __init__(self, total, label, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty()
        self.total, self.label = total, label

    def show(self, done):
        if self.enabled:
            filled = self.WIDTH * done // self.total
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total}")
            self.stream.flush()

    def clear(self):
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + self.WIDTH + 20) + "\r")
            self.stream.flush()


def run_train(args):
    if args.save:
        _check_writable(args, "--save", args.save)
    if args.plot:
        _check_writable(args, "--plot", args.plot)
    figure_class = _import_matplotlib_figure() if args.plot else None   # before training, not after
    lr = args.lr or DEFAULT_LR[args.optimizer]
    (x_train, y_train), (x_test, y_test) = load_dataset(args, args.dataset)

    init_rng, shuffle_rng = np.random.default_rng(args.seed).spawn(2)   # two independent streams
    model = MLP(xdim=x_train.shape[1], hdim=args.hidden, ydim=NUM_CLASSES, rng=init_rng)
    criterion = CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), lr)
    train_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size,
                            shuffle=True, seed=shuffle_rng)
    train_eval_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=EVAL_BATCH_SIZE)
    test_iter = DataLoader(TensorDataset(x_test, y_test), batch_size=EVAL_BATCH_SIZE)

    print(f"training {model.describe()} on {args.dataset}: {len(x_train)} training and "
          f"{len(x_test)} test images, {args.optimizer} lr={lr}, "
          f"batch size {args.batch_size}, seed {args.seed}", flush=True)
    history = {"loss": [], "train_accr": [], "test_accr": []}
    start = time.perf_counter()
    for epoch in range(args.epochs):
        progress = ProgressBar(len(train_iter), f"epoch {epoch}")
        loss_val_avg = train_one_epoch(model, criterion, optimizer, train_iter, progress)
        train_accr = func_eval(model, train_eval_iter)
        test_accr = func_eval(model, test_iter)
        print(EPOCH_LINE % (epoch, loss_val_avg, train_accr, test_accr), flush=True)
        for key, value in zip(history, (loss_val_avg, train_accr, test_accr)):
            history[key].append(value)
    seconds = time.perf_counter() - start

    if args.save:
        save(model, args.save)
        print(f"saved the model to {args.save}")
    if args.plot:
        plot_history(figure_class, history, args.plot)
        print(f"plotted loss and accuracy to {args.plot}")
    print(f"done: {args.epochs} epochs in {seconds:.2f} s")
    print(accuracy_line(confusion_matrix(model, test_iter, NUM_CLASSES)))
    return 0


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


def plot_history(figure_class, history, path):
    """Two panels, loss and accuracy per epoch, rendered by the Agg backend to a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator

    figure = figure_class(figsize=(9, 3.5))
    FigureCanvasAgg(figure)                          # Agg: no display needed
    epochs = np.arange(len(history["loss"]))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, history["loss"], marker="o")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="mean cross-entropy")
    accuracy_axes.plot(epochs, history["train_accr"], marker="o", label="train")
    accuracy_axes.plot(epochs, history["test_accr"], marker="o", label="test")
    accuracy_axes.set(title="accuracy", xlabel="epoch", ylabel="fraction correct")
    accuracy_axes.legend()
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    figure.savefig(path, format="png")


# -- evaluate ------------------------------------------------------------------

def mlp_from_state(state, path):
    """Rebuild the MLP whose weights are in ``state``, reading its sizes from the weight shapes."""
    keys = ("lin_1.weight", "lin_1.bias", "lin_2.weight", "lin_2.bias")
    if not all(key in state for key in keys):
        raise ValueError(f"{path} does not hold an MLP saved by 'train --save': expected the keys "
                         f"{', '.join(keys)}, found {', '.join(state) or 'none'}")
    hdim, xdim = np.shape(state["lin_1.weight"])
    ydim = np.shape(state["lin_2.weight"])[0]
    model = MLP(xdim=xdim, hdim=hdim, ydim=ydim)
    model.load_state_dict(state)
    return model


def run_evaluate(args):
    if not os.path.isfile(args.path):
        raise FileNotFoundError(f"no model file {args.path}; make one with: {PROG} train --save {args.path}")
    model = mlp_from_state(load(args.path), args.path)
    if model.xdim not in INPUT_SIZES:
        raise ValueError(f"{args.path}: the model takes {model.xdim} inputs, but only digits (64) and "
                         "MNIST (784) models can be evaluated")
    dataset = INPUT_SIZES[model.xdim]
    _, (x_test, y_test) = load_dataset(args, dataset)
    counts = confusion_matrix(model, DataLoader(TensorDataset(x_test, y_test), EVAL_BATCH_SIZE), model.ydim)
    print(f"{model.describe()} from {args.path}, tested on the {len(x_test)} {dataset} test images")
    print("confusion matrix (rows: true label, columns: predicted label):")
    print(format_confusion(counts))
    print(accuracy_line(counts))
    return 0


def format_confusion(counts):
    width = max(4, len(str(counts.max())) + 1)
    header = "true\\pred" + "".join(f"{label:>{width}}" for label in range(counts.shape[1]))
    rows = [f"{label:>9}" + "".join(f"{count:>{width}}" for count in row) for label, row in enumerate(counts)]
    return "\n".join([header, *rows])


# -- gradcheck -----------------------------------------------------------------

def run_gradcheck(args):
    from .catalogue import run_all
    from .gradcheck import ATOL, EPS, RTOL, GradcheckWarning, format_table

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
    from .autograd import mlp_loss_graph

    graph = mlp_loss_graph(batch_size=args.batch_size)
    print(graph.to_dot() if args.dot else graph, end="" if args.dot else "\n")
    return 0


# -- exercises: the learner writes each backward, the checkers grade it (manualnet/exercises.py) ------

def add_exercises_command(commands):
    from .exercises import BY_NAME, FOLDER

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
    from .exercises import run_command

    if (args.action is None) != (args.name is None):
        raise UsageError(f"{PROG} exercises", "expected 'exercises' alone or 'exercises check NAME'")
    return run_command(args.name, args.dir)


# -- entry point ----------------------------------------------------------------

def main(argv=None):
    """Run the command line on ``argv`` (default sys.argv[1:]); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except SystemExit as exit:                       # --help
        return exit.code
    except UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError, ImportError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
