"""One entry per public layer: everything the tools need to know about it, in one place.

Each entry names the layer's PyTorch class (or why it has none), the
``grad_fn`` its ``manualnet.autograd`` node carries, the exercise that has
the learner write its backward (if any), and how to draw a small float64
sample of it: a module with random parameters and inputs for it, the plain
case first, then cases with PyTorch's options.  The gradient-check catalogue
checks every sample, ``manualnet.interop`` converts every layer that has a
PyTorch class, the autograd nodes take their names from here, and the
grader finds each exercise's reference layer here.  Adding a layer is its
module, its page, its tests and its one entry below; tests/test_registry.py
fails while a public layer has none.
"""

from dataclasses import dataclass

import numpy as np

from manualnet import _numerics
from manualnet.models import CNN, MLP, LogisticRegression, LSTMClassifier
from manualnet.nn import (GRU, LSTM, RNN, AvgPool2d, BatchNorm1d, BatchNorm2d, BCELoss, BCEWithLogitsLoss, Conv1d,
                          Conv2d, CrossEntropyLoss, Dropout, Embedding, Flatten, GRUCell, LeakyReLU, Linear,
                          LogSoftmax, LSTMCell, MaxPool2d, MSELoss, NLLLoss, ReLU, RNNCell, Sequential, Sigmoid,
                          Softmax, Tanh)

BATCH, FEATURES, CLASSES, STEPS = 5, 4, 3, 4
KINK_MARGIN = 0.01          # inputs this far from a kink (ReLU at 0): no finite-difference step crosses it
                            # (derivations/gradcheck.md, eq. (3))
TIE_SPACING = 0.01          # max-pool inputs this far apart: no tie, no step changes a window's maximum
CLASS_WEIGHT = np.array([1.3, 0.7, 2.1])                     # one per class


@dataclass(frozen=True)
class Entry:
    """What the tools know about one public layer."""

    layer: type
    samples: dict                   # {"": rng -> (module, inputs), "with PyTorch's options ...": ...}
    torch: str = None               # the torch.nn class of the same arguments, or None
    no_torch: str = ""              # why there is none
    node: str = None                # the grad_fn name of its autograd node, or None (no node)
    exercise: str = None            # the exercise that has the learner write its backward


def random_values(rng, shape, margin=0.0):
    """Normal values, pushed at least ``margin`` away from 0 (from a kink)."""
    values = rng.standard_normal(shape)
    return np.sign(values) * (margin + np.abs(values))


def randomize(module, rng):
    """Normal values in every parameter: a fresh init can be all zeros or ones, which hides mistakes."""
    for parameter in module.parameters():
        parameter.data[...] = rng.standard_normal(parameter.shape)
    return module


def _module(build, *shapes, margin=0.0):
    """rng -> (build(rng) with random parameters, one random input per shape)."""
    return lambda rng: (randomize(build(rng), rng), tuple(random_values(rng, shape, margin) for shape in shapes))


def _float64(cls, *args, **kwargs):
    return lambda rng: cls(*args, rng=rng, dtype=np.float64, **kwargs)


def _loss(loss, make_input_and_target):
    return lambda rng: (loss(), make_input_and_target(rng))


def _state(build, input_shape, state_shape, pair):
    """An input and a random initial state (h0, or (h0, c0)): a zero state would hide dL/dW_hh's first step."""
    def sample(rng):
        state = tuple(random_values(rng, state_shape) for _ in range(2)) if pair else random_values(rng, state_shape)
        return randomize(build(rng), rng), (random_values(rng, input_shape), state)
    return sample


def _logits_and_labels(rng):
    return 3 * rng.standard_normal((BATCH, CLASSES)), rng.integers(0, CLASSES, size=BATCH)


def _logits_and_labels_per_position(rng):
    """(N, C, 2) logits and (N, 2) labels, position (0, 0) labelled 1 (ignored by the option), (1, 0) labelled 0."""
    logits, labels = 3 * rng.standard_normal((BATCH, CLASSES, 2)), rng.integers(0, CLASSES, size=(BATCH, 2))
    labels[0, 0], labels[1, 0] = 1, 0
    return logits, labels


def _log_probabilities(make_logits_and_labels):
    def make(rng):
        logits, labels = make_logits_and_labels(rng)
        return _numerics.log_softmax(logits, axis=1), labels
    return make


def _probabilities_and_targets(rng):
    """Probabilities kept in [0.05, 0.95], away from BCE's clamps at 0 and 1."""
    return rng.uniform(0.05, 0.95, (BATCH, CLASSES)), rng.uniform(0, 1, (BATCH, CLASSES))


def _dropout(rng):
    """Training mode with a fixed keep-mask (``forward(x, mask)``): the function finite differences probe."""
    x = random_values(rng, (BATCH, FEATURES))
    return Dropout(0.3), (x, rng.random(x.shape) >= 0.3)


def _logistic_regression(rng):
    """The notes' whole model, loss included: inputs and 0/1 labels for ``backward(x, yhat, y)``."""
    model = randomize(LogisticRegression(FEATURES, dtype=np.float64), rng)
    return model, (random_values(rng, (BATCH, FEATURES)), rng.integers(0, 2, size=BATCH).astype(np.float64))


def _max_pool(rng):
    """Overlapping 3 × 3 windows, stride 2, padding 1, on distinct values: every window's maximum is unique."""
    shape = (BATCH // 2, 2, 5, 6)
    x = TIE_SPACING * rng.permutation(int(np.prod(shape))).reshape(shape)
    return MaxPool2d(3, 2, padding=1), (x - x.mean(),)


def _embedding(rng):
    """Token ids with repeats (12 from a vocabulary of 5): the scatter-add must sum them."""
    return randomize(Embedding(5, FEATURES, dtype=np.float64), rng), (rng.integers(0, 5, size=(3, 4)),)


def _sequential(rng):
    layers = Sequential(Linear(FEATURES, 6, rng=rng, dtype=np.float64), Tanh(), Linear(6, CLASSES, rng=rng,
                                                                                     dtype=np.float64))
    return randomize(layers, rng), (random_values(rng, (BATCH, FEATURES)),)


ENTRIES = [
    Entry(Linear, {"": _module(_float64(Linear, FEATURES, CLASSES), (BATCH, FEATURES)),
                   "on (2, N, in)": _module(_float64(Linear, FEATURES, CLASSES), (2, BATCH, FEATURES))},
          torch="Linear", node="AddmmBackward0", exercise="linear"),
    Entry(Flatten, {"": _module(lambda rng: Flatten(), (BATCH, 2, 3))}, torch="Flatten", node="ViewBackward0"),
    Entry(Sequential, {"": _sequential}, torch="Sequential", exercise="sequential"),
    Entry(Dropout, {"": _dropout}, torch="Dropout", node="MulBackward0", exercise="dropout"),
    Entry(BatchNorm1d, {"": _module(lambda rng: BatchNorm1d(FEATURES, dtype=np.float64), (BATCH, FEATURES))},
          torch="BatchNorm1d", node="NativeBatchNormBackward0", exercise="batchnorm"),
    Entry(BatchNorm2d, {"": _module(lambda rng: BatchNorm2d(2, dtype=np.float64), (BATCH, 2, 3, 3))},
          torch="BatchNorm2d", node="NativeBatchNormBackward0"),
    Entry(ReLU, {"": _module(lambda rng: ReLU(), (BATCH, FEATURES), margin=KINK_MARGIN)}, torch="ReLU",
          node="ReluBackward0", exercise="relu"),
    Entry(LeakyReLU, {"": _module(lambda rng: LeakyReLU(0.1), (BATCH, FEATURES), margin=KINK_MARGIN)},
          torch="LeakyReLU", node="LeakyReluBackward0"),
    Entry(Sigmoid, {"": _module(lambda rng: Sigmoid(), (BATCH, FEATURES))}, torch="Sigmoid", node="SigmoidBackward0",
          exercise="sigmoid"),
    Entry(Tanh, {"": _module(lambda rng: Tanh(), (BATCH, FEATURES))}, torch="Tanh", node="TanhBackward0"),
    Entry(Softmax, {"": _module(lambda rng: Softmax(dim=-1), (BATCH, FEATURES)),
                    "dim=1 of 3-D": _module(lambda rng: Softmax(dim=1), (2, FEATURES, 3))},
          torch="Softmax", node="SoftmaxBackward0", exercise="softmax"),
    Entry(LogSoftmax, {"": _module(lambda rng: LogSoftmax(dim=-1), (BATCH, FEATURES)),
                       "dim=1 of 3-D": _module(lambda rng: LogSoftmax(dim=1), (2, FEATURES, 3))},
          torch="LogSoftmax", node="LogSoftmaxBackward0"),
    Entry(CrossEntropyLoss, {
        "": _loss(CrossEntropyLoss, _logits_and_labels),
        "weight, ignore_index, label_smoothing on (N, C, d)": _loss(
            lambda: CrossEntropyLoss(weight=CLASS_WEIGHT, ignore_index=1, label_smoothing=0.1),
            _logits_and_labels_per_position),
        "class probabilities": _loss(lambda: CrossEntropyLoss(weight=CLASS_WEIGHT, label_smoothing=0.1),
                                     lambda rng: (3 * rng.standard_normal((BATCH, CLASSES)),
                                                  _numerics.softmax(rng.standard_normal((BATCH, CLASSES))))),
    }, torch="CrossEntropyLoss", node="CrossEntropyLossBackward", exercise="cross_entropy"),
    Entry(NLLLoss, {"": _loss(NLLLoss, _log_probabilities(_logits_and_labels)),
                    "weight, ignore_index on (N, C, d)": _loss(lambda: NLLLoss(weight=CLASS_WEIGHT, ignore_index=1),
                                                               _log_probabilities(_logits_and_labels_per_position))},
          torch="NLLLoss", node="NllLossBackward0"),
    Entry(BCELoss, {"": _loss(BCELoss, _probabilities_and_targets),
                    "weight": _loss(lambda: BCELoss(weight=CLASS_WEIGHT), _probabilities_and_targets)},
          torch="BCELoss", node="BinaryCrossEntropyBackward0"),
    Entry(BCEWithLogitsLoss, {
        "": _loss(BCEWithLogitsLoss, lambda rng: (3 * rng.standard_normal((BATCH, CLASSES)),
                                                  rng.uniform(0, 1, (BATCH, CLASSES)))),
        "weight, pos_weight, targets outside [0, 1]": _loss(
            lambda: BCEWithLogitsLoss(weight=np.linspace(0.5, 2.0, BATCH)[:, None], pos_weight=CLASS_WEIGHT),
            lambda rng: (3 * rng.standard_normal((BATCH, CLASSES)), rng.uniform(-0.5, 1.5, (BATCH, CLASSES)))),
    }, torch="BCEWithLogitsLoss", node="BinaryCrossEntropyWithLogitsBackward0"),
    Entry(MSELoss, {"": _loss(MSELoss, lambda rng: (rng.standard_normal((BATCH, CLASSES)),
                                                    rng.standard_normal((BATCH, CLASSES))))},
          torch="MSELoss", node="MseLossBackward0"),
    Entry(LogisticRegression, {"": _logistic_regression},
          no_torch="the study notes' model (loss included), not a torch.nn layer", exercise="logistic_regression"),
    Entry(MLP, {"": _module(_float64(MLP, FEATURES, 6, CLASSES), (BATCH, FEATURES))},
          no_torch="the study notes' MultiLayerPerceptronClass, a model of theirs, not a torch.nn layer"),
    Entry(Embedding, {"": _embedding}, torch="Embedding", node="EmbeddingBackward0", exercise="embedding"),
    Entry(RNNCell, {"": _state(_float64(RNNCell, FEATURES, 3), (BATCH, FEATURES), (BATCH, 3), pair=False)},
          torch="RNNCell"),
    Entry(LSTMCell, {"": _state(_float64(LSTMCell, FEATURES, 3), (BATCH, FEATURES), (BATCH, 3), pair=True)},
          torch="LSTMCell", exercise="lstm_cell"),
    Entry(GRUCell, {"": _state(_float64(GRUCell, FEATURES, 3), (BATCH, FEATURES), (BATCH, 3), pair=False)},
          torch="GRUCell"),
    Entry(RNN, {"": _state(_float64(RNN, FEATURES, 3, num_layers=2, bidirectional=True), (STEPS, 2, FEATURES),
                           (4, 2, 3), pair=False)}, torch="RNN"),
    Entry(LSTM, {"": _state(_float64(LSTM, FEATURES, 3, num_layers=2, batch_first=True), (2, STEPS, FEATURES),
                            (2, 2, 3), pair=True)}, torch="LSTM"),
    Entry(GRU, {"": _state(_float64(GRU, FEATURES, 3, bidirectional=True), (STEPS, 2, FEATURES), (2, 2, 3),
                           pair=False)}, torch="GRU"),
    Entry(Conv2d, {"": _module(_float64(Conv2d, 4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
                               (BATCH // 2, 4, 5, 6))},
          torch="Conv2d", node="ConvolutionBackward0", exercise="conv2d"),
    Entry(Conv1d, {"": _module(_float64(Conv1d, 2, 3, 3, padding="same", dilation=2), (BATCH // 2, 2, 7))},
          torch="Conv1d", node="ConvolutionBackward0"),
    Entry(MaxPool2d, {"": _max_pool}, torch="MaxPool2d", node="MaxPool2DWithIndicesBackward0", exercise="max_pool2d"),
    Entry(AvgPool2d, {"": _module(lambda rng: AvgPool2d(3, 2, padding=1, count_include_pad=False),
                                  (BATCH // 2, 2, 5, 6))},
          torch="AvgPool2d", node="AvgPool2DBackward0", exercise="avg_pool2d"),
    Entry(LSTMClassifier, {"": _module(_float64(LSTMClassifier, FEATURES, 3, CLASSES), (BATCH // 2, 3, FEATURES))},
          no_torch="manualnet's model that reads images row by row (models.LSTMClassifier), not a torch.nn layer"),
    Entry(CNN, {"": _module(_float64(CNN, 1, CLASSES, image_size=8, channels=(2, 3), hidden=6),
                            (BATCH // 2, 1, 8, 8))},
          no_torch="manualnet's convolutional model for the digits and MNIST (models.CNN), not a torch.nn layer"),
]

REGISTRY = {entry.layer: entry for entry in ENTRIES}
BY_EXERCISE = {entry.exercise: entry for entry in ENTRIES if entry.exercise}
BY_TORCH_NAME = {entry.torch: entry for entry in ENTRIES if entry.torch}


def entry_of(cls):
    """The entry of ``cls`` or of the nearest registered class it derives from (a bug-zoo layer: its parent's)."""
    return next((REGISTRY[base] for base in cls.__mro__ if base in REGISTRY), None)
