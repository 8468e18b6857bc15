"""What ``train`` can train: one entry per dataset and per model (a new one is one entry).

Each dataset knows how to load itself, its image shape and its classes; each
model knows how to build itself for a dataset's images, the shape of one
sample as it reads it, and which dataset a saved model of its kind reads.
"""

import dataclasses
import math
from typing import Callable

from manualnet import datasets
from manualnet.models import CNN, MLP, LSTMClassifier
from manualnet.optim import SGD, Adam
from manualnet.optim.lr_scheduler import CosineAnnealingLR

from .common import UsageError

# The notes' hidden size, Adam and batches of 64 (the notes' 001 batches MNIST by 64).
DEFAULT_HIDDEN, DEFAULT_BATCH_SIZE = 256, 64
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}
SGD_MOMENTUM = 0.9
SCHEDULES = {"constant": lambda optimizer, epochs: None,
             "cosine": lambda optimizer, epochs: CosineAnnealingLR(optimizer, T_max=epochs)}


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
    """A model for ``train --model``: built for a dataset's images; a saved one matched to the dataset it reads."""

    build: Callable           # (image_shape, num_classes, args, rng) -> Module
    input_shape: Callable     # image_shape -> the shape of one sample as the model reads it
    reads: Callable           # (model, image_shape) -> whether the model reads images of that shape
    model_class: type
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


def _build_mlp(image_shape, num_classes, args, rng):
    return MLP(xdim=math.prod(image_shape), hdim=args.hidden, ydim=num_classes, rng=rng)


def _build_lstm(image_shape, num_classes, args, rng):
    _, rows, columns = image_shape
    return LSTMClassifier(input_size=columns, hidden_size=args.hidden, num_classes=num_classes, rng=rng)


def _build_cnn(image_shape, num_classes, args, rng):
    channels, size, _ = image_shape
    return CNN(in_channels=channels, num_classes=num_classes, image_size=size, hidden=args.hidden, rng=rng)


MODELS = {
    "mlp": ModelEntry(_build_mlp, input_shape=lambda image_shape: (math.prod(image_shape),),
                      reads=lambda model, image_shape: model.xdim == math.prod(image_shape), model_class=MLP,
                      help="the study notes' MultiLayerPerceptronClass: lin_1, ReLU, lin_2 "
                           "(--hidden units, Kaiming-normal weights, zero biases)"),
    "lstm": ModelEntry(_build_lstm, input_shape=lambda image_shape: image_shape[1:],
                       reads=lambda model, image_shape: model.input_size == image_shape[2], model_class=LSTMClassifier,
                       help="an LSTM reading each image row by row (MNIST: 28 steps of 28 pixels) and a Linear on "
                            "its last state (--hidden units, default 128; adam lr 2e-3; derivations/lstm.md)",
                       default_hidden=128, default_lr={"adam": 2e-3, "sgd": DEFAULT_LR["sgd"]}),
    "cnn": ModelEntry(_build_cnn, input_shape=lambda image_shape: image_shape,
                      reads=lambda model, image_shape: (model.in_channels, model.image_size) == image_shape[:2],
                      model_class=CNN,
                      help="manualnet.models.CNN: two 3x3 convolution, batch-norm, ReLU and 2x2 max-pool "
                           "blocks (16, 32 channels), then Linear (--hidden units, default 128), ReLU, Linear "
                           "(a LeNet-style network; --schedule cosine by default)",
                      default_hidden=128, default_schedule="cosine"),
}


def make_optimizer(name, parameters, lr):
    if name == "sgd":
        return SGD(parameters, lr=lr, momentum=SGD_MOMENTUM)
    return Adam(parameters, lr=lr)


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


def check_data_dir(prog, args, dataset_name):
    if args.data_dir == "":
        raise UsageError(prog, "--data-dir: expected a folder, got ''")
    if args.data_dir is not None and not DATASETS[dataset_name].reads_data_dir:
        raise UsageError(prog, f"--data-dir is for MNIST; {dataset_name} does not read it "
                               "(the digits ship with scikit-learn)")
