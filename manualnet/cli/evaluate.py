"""``python -m manualnet evaluate PATH``: a saved model's test accuracy and confusion matrix.

The checkpoint says which model it holds (its record: class and constructor
arguments); the model says which dataset it reads (its input size).  A
checkpoint of manualnet 0.1, without a record, is read through the legacy
inference in ``legacy.py``.
"""

import os

import numpy as np

from manualnet._grad_mode import no_grad
from manualnet.serialization import load_checkpoint, model_from_record
from manualnet.train import EVAL_BATCH_SIZE, accuracy_line, confusion_matrix
from manualnet.utils.data import DataLoader, TensorDataset

from .choices import DATASETS, MODELS, check_data_dir, load_dataset
from .common import PROG, UsageError, add_threads_option
from .legacy import model_from_legacy_state


def add_command(commands):
    evaluate = commands.add_parser("evaluate", help="test accuracy and confusion matrix of a saved model",
                                   description="Load a model saved by 'train --save' and test it.")
    evaluate.add_argument("path", metavar="PATH", help="a model saved with 'train --save PATH'")
    evaluate.add_argument("--data-dir", metavar="DIR",
                          help="for MNIST models: a folder holding the four MNIST IDX files instead of the cache")
    add_threads_option(evaluate)
    evaluate.set_defaults(run=run_evaluate)


def run_evaluate(args):
    prog = f"{PROG} evaluate"
    path = args.path
    if os.path.isdir(path):
        raise UsageError(prog, f"{path} is a directory; expected a model file saved with 'train --save'")
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no model file {path}; make one with: {PROG} train --save {path}")
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file; expected a model file saved with 'train --save'")
    model_entry, model = model_from_checkpoint(path)
    name, dataset = dataset_of(model_entry, model, path)
    check_data_dir(prog, args, name)
    _, (x_test, y_test) = load_dataset(name, args)
    x_test = x_test.reshape(-1, *model_entry.input_shape(dataset.image_shape))
    check_forward_is_finite(model, x_test[:EVAL_BATCH_SIZE], path, name)
    with no_grad():
        outputs = model.eval()(x_test[:1]).shape[-1]
    if outputs != dataset.num_classes:
        raise ValueError(f"{path}: {model.describe()} has {outputs} outputs, but {name} has "
                         f"{dataset.num_classes} classes; it cannot be tested on {name}")
    counts = confusion_matrix(model, DataLoader(TensorDataset(x_test, y_test), EVAL_BATCH_SIZE), outputs)
    print(f"{model.describe()} from {path}, tested on the {len(x_test)} {name} test images")
    print("confusion matrix (rows: true label, columns: predicted label):")
    print(format_confusion(counts))
    print(accuracy_line(counts))
    return 0


def model_from_checkpoint(path):
    """(its MODELS entry, the model) saved at ``path``; an unreadable or unusable file is a ValueError naming it."""
    try:
        state, record = load_checkpoint(path)
    except (OSError, MemoryError):
        raise
    except Exception as error:                   # a damaged file may fail in many ways; none is a traceback
        detail = str(error).replace("\n", " ")
        if path not in detail:
            detail = f"{path}: {detail}"
        raise ValueError(f"cannot read the model: {detail}") from None
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise ValueError(f"{path} does not hold a state dict saved by 'train --save'")
    model = model_from_legacy_state(state, path) if record is None else model_from_record(state, record, path)
    model_entry = next((entry for entry in MODELS.values() if type(model) is entry.model_class), None)
    if model_entry is None:
        raise ValueError(f"{path} holds a {model.describe()}, which 'train' does not make; evaluate tests the "
                         f"models of 'train --model' ({', '.join(MODELS)})")
    for key, value in model.state_dict().items():
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        if bad:
            raise ValueError(f"{path}: the weight {key} holds {bad} NaN or inf value(s) — the run that saved "
                             "it diverged, or the file was changed; this model cannot be evaluated")
        if key.endswith("running_var") and (value < 0).any():
            raise ValueError(f"{path}: the buffer {key} holds {int((value < 0).sum())} negative value(s), but a "
                             "running variance is never negative — the file was changed; this model cannot be "
                             "evaluated")
    return model_entry, model


def dataset_of(model_entry, model, path):
    """(name, entry) of the dataset whose images ``model`` reads."""
    for name, dataset in DATASETS.items():
        if model_entry.reads(model, dataset.image_shape):
            return name, dataset
    known = ", ".join(f"{name} {model_entry.input_shape(dataset.image_shape)}" for name, dataset in DATASETS.items())
    raise ValueError(f"{path}: {model.describe()} reads samples of none of the datasets' shapes ({known})")


def check_forward_is_finite(model, x, path, dataset):
    """Refuse a model whose forward on ``x`` goes to NaN or inf, naming the first layer that does and its weight.

    Finite weights can still overflow float32 (a run that diverged, a changed
    file); the layer after would then refuse its input as if the data were
    wrong.  Each layer's output is watched, as a forward hook would, so the
    message names where the values first stop being numbers.
    """
    culprits = []
    for name, module in model.named_modules():
        if not module._modules:                  # the layers themselves, not their containers
            module.forward = _watched(module.forward, name, module, culprits)
    try:
        with no_grad(), np.errstate(all="ignore"):
            model.eval()(x)
    except ValueError:
        if not culprits:                         # not a value gone to NaN or inf: the error is another's
            raise
    finally:
        for _, module in model.named_modules():
            module.__dict__.pop("forward", None)
    if culprits:
        name, module = culprits[0]
        weights = {key: array for key, array in model.state_dict().items()
                   if key.startswith(f"{name}.") and array.dtype.kind == "f" and array.size}
        largest = max(weights, key=lambda key: np.abs(weights[key]).max(), default=None)
        why = (f", whose {largest} holds values up to {np.abs(weights[largest]).max():.3g} in magnitude: its "
               f"{weights[largest].dtype} arithmetic overflows" if largest else "")
        raise ValueError(f"{path}: the model's forward on the {dataset} test images gives NaN or inf, first in "
                         f"{name} ({module.describe()}){why} — the run that saved it diverged, or the file was "
                         "changed; this model cannot be evaluated")


def _watched(forward, name, module, culprits):
    def forward_and_watch(*args, **kwargs):
        output = forward(*args, **kwargs)
        if not culprits and not all(np.isfinite(array).all() for array in _arrays(output)):
            culprits.append((name, module))
        return output
    return forward_and_watch


def _arrays(output):
    """The arrays of a layer's output: itself, or those of a tuple (an LSTM's (output, (h_n, c_n)))."""
    return [array for part in output for array in _arrays(part)] if isinstance(output, tuple) else [output]


def format_confusion(counts):
    width = max(4, len(str(counts.max())) + 1)
    header = "true\\pred" + "".join(f"{label:>{width}}" for label in range(counts.shape[1]))
    rows = [f"{label:>9}" + "".join(f"{count:>{width}}" for count in row) for label, row in enumerate(counts)]
    return "\n".join([header, *rows])
