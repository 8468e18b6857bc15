"""Every operation in the package with a small sample input, for ``python -m manualnet gradcheck``.

``CATALOGUE`` maps each public operation class to a function ``check(rng)``
that builds a float64 instance with random (never all-zero or all-one)
parameters, draws an input for it and returns a ``CheckResult``.  Inputs of
ReLU-like operations keep ``KINK_MARGIN`` away from the kink at 0, so no
finite-difference step crosses it.  tests/test_catalogue.py fails when a
public Module class in ``manualnet.__all__`` has no entry here (containers
that compute nothing, ModuleList and ModuleDict, aside): add one when you add
an operation.
"""

from dataclasses import dataclass

import numpy as np

from manualnet._numerics import log_softmax, softmax
from manualnet.nn.modules.activation import GELU, LeakyReLU, LogSoftmax, MultiheadAttention, ReLU, Sigmoid, Softmax, Tanh
from manualnet.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
from manualnet.nn.modules.dropout import Dropout
from manualnet.testing.gradcheck import KINK_MARGIN, check_loss, check_module, numerical_gradient
from manualnet.nn.modules.flatten import Flatten
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.container import Sequential
from manualnet.nn.modules.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from manualnet.models.cnn import CNN
from manualnet.models.gpt import GPT
from manualnet.models.lstm_classifier import LSTMClassifier
from manualnet.models.mlp import MLP
from manualnet.models.logistic_regression import LogisticRegression
from manualnet.nn.modules.conv import Conv1d, Conv2d
from manualnet.nn.modules.pooling import AvgPool2d, MaxPool2d
from manualnet.nn.modules.normalization import LayerNorm
from manualnet.nn.modules.sparse import Embedding
from manualnet.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from manualnet.testing.reports import GradcheckReport, compare_arrays

BATCH, FEATURES, CLASSES = 5, 4, 3


@dataclass
class CheckResult:
    """One row of the table: the operation, the worst relative errors, and the verdict."""

    operation: str
    input_error: float | None       # max relative error of dL/d input (None: not checked)
    parameter_error: float | None   # max over the parameters' gradients (None: no parameters)
    passed: bool
    details: str                    # the full report, shown when the check fails


def _summarise(report):
    inputs = [array.max_rel_error for array in report.arrays if array.name == "input"]
    parameters = [array.max_rel_error for array in report.arrays if array.name != "input"]
    return CheckResult(
        operation=report.label,
        input_error=inputs[0] if inputs else None,
        parameter_error=max(parameters) if parameters else None,
        passed=report.passed and not any(array.vacuous for array in report.arrays),
        details=str(report),
    )


def _sample(rng, shape, margin=0.0):
    """Normal values, pushed at least ``margin`` away from 0."""
    values = rng.standard_normal(shape)
    return np.sign(values) * (margin + np.abs(values))


def _randomize(module, rng):
    """Give every parameter random normal values (fresh inits can be all zeros, which hides bugs)."""
    for parameter in module.parameters():
        parameter.data[...] = rng.standard_normal(parameter.shape)
    return module


def _module_check(build, input_shape, margin=0.0):
    """Check build(rng) (a float64 module) on one input of ``input_shape`` with check_module."""
    def check(rng):
        module = _randomize(build(rng), rng)
        report = check_module(module, _sample(rng, input_shape, margin), rng=rng, raise_on_failure=False)
        return _summarise(report)
    return check


def _loss_check(loss, make_input_and_target):
    """Check a loss on (input, target) = make_input_and_target(rng) with check_loss."""
    def check(rng):
        input, target = make_input_and_target(rng)
        return _summarise(check_loss(loss, input, target, rng=rng, raise_on_failure=False))
    return check


def _logits_and_labels(rng):
    return 3 * rng.standard_normal((BATCH, CLASSES)), rng.integers(0, CLASSES, size=BATCH)


def _log_probabilities_and_labels(rng):
    logits, labels = _logits_and_labels(rng)
    return log_softmax(logits, axis=1), labels


def _probabilities_and_targets(rng):
    """Probabilities kept in [0.05, 0.95], away from BCE's clamps at 0 and 1."""
    return rng.uniform(0.05, 0.95, (BATCH, CLASSES)), rng.uniform(0, 1, (BATCH, CLASSES))


def _logits_and_targets(rng):
    return 3 * rng.standard_normal((BATCH, CLASSES)), rng.uniform(0, 1, (BATCH, CLASSES))


def _values_and_targets(rng):
    return rng.standard_normal((BATCH, CLASSES)), rng.standard_normal((BATCH, CLASSES))


def _logistic_regression_check(rng):
    """The notes' model is a whole model, loss included: ``backward(x, yhat, y)`` stores dL/dw and
    dL/db of its mean BCE, so those are compared with central differences of ``model.loss``."""
    model = _randomize(LogisticRegression(FEATURES, dtype=np.float64), rng)
    x = _sample(rng, (BATCH, FEATURES))
    y = rng.integers(0, 2, size=BATCH).astype(np.float64)
    model.backward(x, model(x), y)
    arrays = [compare_arrays(name, parameter.grad,
                             numerical_gradient(lambda _: model.loss(model(x), y), parameter.data))
              for name, parameter in model.named_parameters()]
    return _summarise(GradcheckReport(model.describe(), arrays))


def _dropout_check(rng):
    """Dropout in training mode with a fixed keep-mask (``forward(x, mask)``), so the
    function finite differences probe is the one backward differentiates."""
    x = _sample(rng, (BATCH, FEATURES))
    keep = rng.random(x.shape) >= 0.3
    return _summarise(check_module(Dropout(0.3), x, keep, rng=rng, raise_on_failure=False))


def _float64(cls, *args, **kwargs):
    return lambda rng: cls(*args, rng=rng, dtype=np.float64, **kwargs)


# -- PyTorch's options and layouts (issue 13): checked in the same row as the plain operation --

def _with_options(plain, options, *checks):
    """One row for an operation checked plainly and with PyTorch's ``options`` (named in the row): the worst."""
    def check(rng):
        results = [one(rng) for one in (plain, *checks)]
        errors = lambda name: [getattr(r, name) for r in results if getattr(r, name) is not None]   # noqa: E731
        return CheckResult(
            operation=f"{results[0].operation}; also {options}",
            input_error=max(errors("input_error"), default=None),
            parameter_error=max(errors("parameter_error"), default=None),
            passed=all(result.passed for result in results),
            details="\n\n".join(result.details for result in results),
        )
    return check


def _logits_and_labels_per_position(rng):
    """(N, C, 2) logits and (N, 2) labels, position (0, 0) labelled 1 (ignored below), (1, 0) labelled 0."""
    logits, labels = 3 * rng.standard_normal((BATCH, CLASSES, 2)), rng.integers(0, CLASSES, size=(BATCH, 2))
    labels[0, 0], labels[1, 0] = 1, 0
    return logits, labels


def _log_probabilities_per_position(rng):
    logits, labels = _logits_and_labels_per_position(rng)
    return log_softmax(logits, axis=1), labels


def _logits_and_probabilities(rng):
    return 3 * rng.standard_normal((BATCH, CLASSES)), softmax(rng.standard_normal((BATCH, CLASSES)))


def _logits_and_any_targets(rng):
    """Targets in [-0.5, 1.5]: BCEWithLogitsLoss takes them as numbers, as PyTorch does."""
    return 3 * rng.standard_normal((BATCH, CLASSES)), rng.uniform(-0.5, 1.5, (BATCH, CLASSES))


CLASS_WEIGHT = np.array([1.3, 0.7, 2.1])                        # one per class (CLASSES = 3)


CATALOGUE = {
    Linear: _with_options(_module_check(_float64(Linear, FEATURES, CLASSES), (BATCH, FEATURES)),
                          "on (2, N, in)", _module_check(_float64(Linear, FEATURES, CLASSES), (2, BATCH, FEATURES))),
    Flatten: _module_check(lambda rng: Flatten(), (BATCH, 2, 3)),
    Sequential: _module_check(
        lambda rng: Sequential(Linear(FEATURES, 6, rng=rng, dtype=np.float64), Tanh(),
                               Linear(6, CLASSES, rng=rng, dtype=np.float64)),
        (BATCH, FEATURES)),
    Dropout: _dropout_check,
    BatchNorm1d: _module_check(lambda rng: BatchNorm1d(FEATURES, dtype=np.float64), (BATCH, FEATURES)),
    BatchNorm2d: _module_check(lambda rng: BatchNorm2d(2, dtype=np.float64), (BATCH, 2, 3, 3)),
    ReLU: _module_check(lambda rng: ReLU(), (BATCH, FEATURES), margin=KINK_MARGIN),
    LeakyReLU: _module_check(lambda rng: LeakyReLU(0.1), (BATCH, FEATURES), margin=KINK_MARGIN),
    Sigmoid: _module_check(lambda rng: Sigmoid(), (BATCH, FEATURES)),
    Tanh: _module_check(lambda rng: Tanh(), (BATCH, FEATURES)),
    Softmax: _with_options(_module_check(lambda rng: Softmax(dim=-1), (BATCH, FEATURES)),
                           "dim=1 of 3-D", _module_check(lambda rng: Softmax(dim=1), (2, FEATURES, 3))),
    LogSoftmax: _with_options(_module_check(lambda rng: LogSoftmax(dim=-1), (BATCH, FEATURES)),
                              "dim=1 of 3-D", _module_check(lambda rng: LogSoftmax(dim=1), (2, FEATURES, 3))),
    CrossEntropyLoss: _with_options(
        _loss_check(CrossEntropyLoss(), _logits_and_labels),
        "weight, ignore_index, label_smoothing on (N, C, d); class probabilities",
        _loss_check(CrossEntropyLoss(weight=CLASS_WEIGHT, ignore_index=1, label_smoothing=0.1),
                    _logits_and_labels_per_position),
        _loss_check(CrossEntropyLoss(weight=CLASS_WEIGHT, label_smoothing=0.1), _logits_and_probabilities)),
    NLLLoss: _with_options(_loss_check(NLLLoss(), _log_probabilities_and_labels),
                           "weight, ignore_index on (N, C, d)",
                           _loss_check(NLLLoss(weight=CLASS_WEIGHT, ignore_index=1), _log_probabilities_per_position)),
    BCELoss: _with_options(_loss_check(BCELoss(), _probabilities_and_targets),
                           "weight", _loss_check(BCELoss(weight=CLASS_WEIGHT), _probabilities_and_targets)),
    BCEWithLogitsLoss: _with_options(
        _loss_check(BCEWithLogitsLoss(), _logits_and_targets),
        "weight, pos_weight, targets outside [0, 1]",
        _loss_check(BCEWithLogitsLoss(weight=np.linspace(0.5, 2.0, BATCH)[:, None], pos_weight=CLASS_WEIGHT),
                    _logits_and_any_targets)),
    MSELoss: _loss_check(MSELoss(), _values_and_targets),
    LogisticRegression: _logistic_regression_check,
    MLP: _module_check(_float64(MLP, FEATURES, 6, CLASSES), (BATCH, FEATURES)),
}


# -- sequences (issue 16) ----------------------------------------------------------------------

STEPS = 4


def _state_check(build, input_shape, state_shape, pair):
    """Check build(rng) on an input and a random initial state (h0, or (h0, c0) when ``pair``): a zero
    state would leave step 1's share of dL/dW_hh at zero."""
    def check(rng):
        module = _randomize(build(rng), rng)
        state = tuple(_sample(rng, state_shape) for _ in range(2)) if pair else _sample(rng, state_shape)
        return _summarise(check_module(module, _sample(rng, input_shape), state, rng=rng, raise_on_failure=False))
    return check


def _embedding_check(rng):
    """Token ids with repeats (12 from a vocabulary of 5): the scatter-add must sum them."""
    layer = _randomize(Embedding(5, FEATURES, dtype=np.float64), rng)
    indices = rng.integers(0, 5, size=(3, 4))
    return _summarise(check_module(layer, indices, rng=rng, raise_on_failure=False))


CATALOGUE.update({
    Embedding: _embedding_check,
    RNNCell: _state_check(_float64(RNNCell, FEATURES, 3), (BATCH, FEATURES), (BATCH, 3), pair=False),
    LSTMCell: _state_check(_float64(LSTMCell, FEATURES, 3), (BATCH, FEATURES), (BATCH, 3), pair=True),
    GRUCell: _state_check(_float64(GRUCell, FEATURES, 3), (BATCH, FEATURES), (BATCH, 3), pair=False),
    RNN: _state_check(_float64(RNN, FEATURES, 3, num_layers=2, bidirectional=True),
                      (STEPS, 2, FEATURES), (4, 2, 3), pair=False),
    LSTM: _state_check(_float64(LSTM, FEATURES, 3, num_layers=2, batch_first=True),
                       (2, STEPS, FEATURES), (2, 2, 3), pair=True),
    GRU: _state_check(_float64(GRU, FEATURES, 3, bidirectional=True), (STEPS, 2, FEATURES), (2, 2, 3), pair=False),
})


def run_all(seed=0):
    """Run every catalogue check (each from its own seeded Generator); return the CheckResults in order."""
    return [check(np.random.default_rng([seed, index])) for index, check in enumerate(CATALOGUE.values())]


# -- convolution and pooling (issue 14) -------------------------------------------------

TIE_SPACING = 0.01        # max-pool inputs this far apart: no tie, no step can change a window's maximum


def _max_pool_check(rng):
    """Overlapping 3 × 3 windows, stride 2, padding 1, on distinct values: the maximum of every
    window is unique, so the gradient is defined (at a tie it is not: see derivations/pooling.md)."""
    shape = (BATCH // 2, 2, 5, 6)
    x = TIE_SPACING * rng.permutation(int(np.prod(shape))).reshape(shape)
    return _summarise(check_module(MaxPool2d(3, 2, padding=1), x - x.mean(), rng=rng, raise_on_failure=False))


CATALOGUE.update({
    Conv2d: _module_check(_float64(Conv2d, 4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
                          (BATCH // 2, 4, 5, 6)),
    Conv1d: _module_check(_float64(Conv1d, 2, 3, 3, padding="same", dilation=2), (BATCH // 2, 2, 7)),
    MaxPool2d: _max_pool_check,
    AvgPool2d: _module_check(lambda rng: AvgPool2d(3, 2, padding=1, count_include_pad=False), (BATCH // 2, 2, 5, 6)),
    LSTMClassifier: _module_check(_float64(LSTMClassifier, FEATURES, 3, CLASSES), (BATCH // 2, 3, FEATURES)),
    CNN: _module_check(_float64(CNN, 1, CLASSES, image_size=8, channels=(2, 3), hidden=6), (BATCH // 2, 1, 8, 8)),
})
# -- the transformer ----------------------------------------------------------------------------

def _attention_check(rng):
    """Cross-attention of 3 queries over 4 keys with kdim/vdim, add_bias_kv and a boolean attn_mask that hides
    some keys (never all of a query's), each head's weights returned and differentiated too."""
    layer = _randomize(MultiheadAttention(4, 2, add_bias_kv=True, kdim=3, vdim=5, dtype=np.float64, rng=rng), rng)
    mask = rng.random((3, 4)) < 0.3
    mask[:, 0] = False
    query, key, value = _sample(rng, (3, 2, 4)), _sample(rng, (4, 2, 3)), _sample(rng, (4, 2, 5))
    return _summarise(check_module(layer, query, key, value, None, True, mask, False, rng=rng,
                                   raise_on_failure=False))


def _gpt_check(rng):
    """A GPT of one block, its token ids held fixed: every parameter, the tied wte/lm_head included."""
    model = _randomize(GPT(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4, dtype=np.float64, rng=rng), rng)
    return _summarise(check_module(model, rng.integers(0, 5, (2, 4)), rng=rng, raise_on_failure=False))


CATALOGUE.update({
    LayerNorm: _with_options(_module_check(lambda rng: LayerNorm(FEATURES, dtype=np.float64), (BATCH, FEATURES)),
                             "normalized_shape (2, 3) on (N, 2, 3)",
                             _module_check(lambda rng: LayerNorm((2, 3), dtype=np.float64), (BATCH, 2, 3))),
    GELU: _with_options(_module_check(lambda rng: GELU(), (BATCH, FEATURES)), "approximate='tanh'",
                        _module_check(lambda rng: GELU("tanh"), (BATCH, FEATURES))),
    MultiheadAttention: _attention_check,
    GPT: _gpt_check,
})


# -- manualnet.autograd: its primitive operations (the operations with a layer are checked through it above) --

from manualnet.autograd import gradcheck as autograd_gradcheck


def _positive(shape):
    """An input drawn in [0.5, 2]: away from 0 for division, square roots and log."""
    return ("positive", shape)


AUTOGRAD_PRIMITIVES = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)]),
    "radd": (lambda a: 2.0 + a, [(3, 2)]),
    "sub": (lambda a, b: a - b, [(3, 1), (1, 4)]),
    "rsub": (lambda a: 2.0 - a, [(3,)]),
    "mul": (lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    "div": (lambda a, b: a / b, [(3, 4), _positive((4,))]),
    "rdiv": (lambda a: 1.0 / a, [_positive((3, 2))]),
    "pow": (lambda a: a ** 3, [(3, 4)]),
    "pow_fraction": (lambda a: a ** 0.5, [_positive((3,))]),
    "neg": (lambda a: -a, [(3, 4)]),
    "mm": (lambda a, b: a @ b, [(3, 4), (4, 2)]),
    "mv": (lambda a, b: a @ b, [(3, 4), (4,)]),
    "vm": (lambda a, b: a @ b, [(4,), (4, 2)]),
    "dot": (lambda a, b: a @ b, [(4,), (4,)]),
    "sum_all": (lambda a: a.sum(), [(3, 4)]),
    "sum_dim": (lambda a: a.sum(dim=(0, 2)), [(2, 3, 4)]),
    "sum_axis_keepdims": (lambda a: a.sum(axis=-1, keepdims=True), [(3, 4)]),
    "mean_all": (lambda a: a.mean(), [(3, 4)]),
    "mean_dim": (lambda a: a.mean(dim=1, keepdim=True), [(3, 4)]),
    "reshape": (lambda a: a.reshape(4, -1), [(2, 3, 2)]),
    "view": (lambda a: a.view((6,)), [(2, 3)]),
    "T": (lambda a: a.T, [(3, 4)]),
    "transpose": (lambda a: a.transpose(0, 2), [(2, 3, 4)]),
    "permute": (lambda a: a.permute(1, 2, 0), [(2, 3, 4)]),
    "select": (lambda a: a[1], [(3, 4)]),
    "slice": (lambda a: a[1:, ::2], [(3, 4)]),
    "fancy_repeated": (lambda a: a[[0, 0, 2, 0]], [(3, 4)]),
    "fancy_pairs": (lambda a: a[np.array([0, 1, 1]), np.array([3, 3, 3])], [(3, 4)]),
    "boolean_mask": (lambda a: a[np.array([True, False, True])], [(3, 4)]),
    "exp": (lambda a: a.exp(), [(3, 4)]),
    "log": (lambda a: a.log(), [_positive((3, 4))]),
}


def autograd_inputs(specs, rng):
    """The arrays of one AUTOGRAD_PRIMITIVES entry: normal values, or in [0.5, 2] where marked positive."""
    return [rng.uniform(0.5, 2.0, spec[1]) if spec[0] == "positive" else rng.standard_normal(spec) for spec in specs]


def run_autograd(seed=0):
    """Check every autograd primitive's backward with ``autograd.gradcheck``; return one CheckResult each."""
    results = []
    for index, (name, (function, specs)) in enumerate(AUTOGRAD_PRIMITIVES.items()):
        rng = np.random.default_rng([seed, index])
        result = _summarise(autograd_gradcheck(function, *autograd_inputs(specs, rng), rng=rng, raise_on_failure=False))
        result.operation = f"autograd {name}"
        results.append(result)
    return results
