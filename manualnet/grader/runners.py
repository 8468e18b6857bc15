"""How each kind of exercise runs one case: the learner's class beside manualnet's, same weights and inputs."""

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np

from manualnet.models import LogisticRegression
from manualnet._numerics import binary_cross_entropy
from manualnet.nn import (BatchNorm1d, Conv2d, CrossEntropyLoss, Dropout, Embedding, Linear, LSTMCell,
                          Module, ReLU, Sequential)
from manualnet.nn.parameter import Parameter
from manualnet.testing.comparison import MINE, REFERENCE, ComparisonReport, compare_modules
from manualnet.testing.diagnoses import Candidate, Evidence, diagnose, name_mistakes
from manualnet.testing.gradcheck import ATOL, RTOL, check_loss, check_module, compare_arrays


def _random_parameters(module, rng):
    """Normal values in every parameter: a fresh init can be all zeros or ones, which hides mistakes."""
    for parameter in module.parameters():
        parameter.data[...] = rng.standard_normal(parameter.shape)
    return module


def _copy_parameters(source, target):
    """Give ``target`` the values of ``source``'s same-named parameters, in float64."""
    values = dict(source.named_parameters())
    for name, parameter in target.named_parameters():
        if name in values:
            parameter.data = np.array(values[name].data, dtype=np.float64)
            parameter.grad = np.zeros_like(parameter.data)
    return target


@dataclass
class Setup:
    """One case of a layer's exercise, built: the reference (manualnet's layer, random parameters), the inputs,
    and how to build the learner's module with the same configuration."""

    reference: Module
    inputs: tuple
    mine: Callable                      # the learner's class -> the learner's module
    differentiate: Callable = check_module


@dataclass(frozen=True)
class LayerRun:
    """How a layer's exercise runs one case: ``setup(case)``, then the comparison and the gradient check."""

    setup: Callable                     # case -> Setup

    def __call__(self, learner, case, mistakes=None):
        built = self.setup(case)
        mine = built.mine(learner)
        comparison = compare_modules(mine, built.reference, *built.inputs, rng=upstream_rng(case), mistakes=mistakes)
        gradients = built.differentiate(_copy_parameters(built.reference, mine), *built.inputs,
                                        rng=upstream_rng(case), raise_on_failure=False)
        return [comparison, gradients]


def upstream_rng(case):
    """The upstream gradients' own stream: never the one the case's data and weights came from (an upstream equal
    to the weights, or with the input's signs, hides mistakes: np.maximum(G, 0) would pass for ReLU's backward)."""
    return np.random.default_rng((case["seed"], 1))


class ModelWithItsLoss(Module):
    """The notes' model and its own loss as one Module, so the comparison and the gradient checker take it.

    ``forward(x, y)`` returns the model's loss L; ``backward(g)`` runs the
    model's ``backward(x, yhat, y)`` (which stores the gradient of L) and
    scales what it stored by g.  It returns dL/dx = g (ŷ − y)/N wᵀ (eq. (4)
    times eq. (1)'s w): the same line on both sides, since the exercise is
    w.grad and b.grad.
    """

    saved_for_backward = ("x", "y", "yhat")

    def __init__(self, model):
        super().__init__()
        object.__setattr__(self, "model", model)   # not a child: its parameters keep their own names, w and b

    def named_parameters(self, prefix=""):
        return self.model.named_parameters(prefix)

    def forward(self, x, y):
        self.x, self.y = x, y
        self.yhat = self.model(x)
        return np.mean(binary_cross_entropy(self.yhat, y))        # the model's loss, eq. (3)

    def backward(self, grad_output=1.0):
        self.model.backward(self.x, self.yhat, self.y)
        for parameter in self.model.parameters():
            parameter.grad = np.asarray(parameter.grad * grad_output)
        dz = (self.yhat - self.y) / len(self.x) * grad_output     # eq. (4), times g
        return np.outer(dz, self.model.w.data)

    def describe(self):
        return self.model.describe()


def _in_mode(training):
    """The learner's module built, then put in the case's mode (train or eval), as the reference is."""
    def mode(module):
        return module if training else module.eval()
    return mode


def setup_logistic_regression(case):
    rng = np.random.default_rng(case["seed"])
    n, dim = case["batch"], case["features"]
    reference = _random_parameters(LogisticRegression(dim, dtype=np.float64), rng)
    x = rng.standard_normal((n, dim))
    y = rng.integers(0, 2, n).astype(np.float64)
    return Setup(ModelWithItsLoss(reference), (x, y), lambda learner: ModelWithItsLoss(learner(dim)))


def setup_linear(case):
    rng = np.random.default_rng(case["seed"])
    n, d_in, d_out, bias = case["batch"], case["in_features"], case["out_features"], case["bias"]
    reference = _random_parameters(Linear(d_in, d_out, bias=bias, dtype=np.float64), rng)
    x = rng.standard_normal((n, d_in))
    return Setup(reference, (x,), lambda learner: learner(d_in, d_out, bias=bias))


def setup_activation(reference_class, margin=0.0, scale=1.0, options=()):
    def setup(case):
        from manualnet.testing.strategies import random_array
        x = random_array(case["seed"], case["shape"], scale=scale, margin=margin)
        if margin:                                # both sides of the kink, always: a gradient to compare
            x.flat[0], x.flat[1] = abs(x.flat[0]), -abs(x.flat[1])
        chosen = {name: case[name] for name in options}
        return Setup(reference_class(**chosen), (x,), lambda learner: learner(**chosen))
    return setup


def setup_cross_entropy(case):
    rng = np.random.default_rng(case["seed"])
    n, classes, reduction = case["batch"], case["classes"], case["reduction"]
    logits = 3 * rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, n)
    return Setup(CrossEntropyLoss(reduction=reduction), (logits, labels),
                 lambda learner: learner(reduction=reduction), differentiate=check_loss)


def setup_sequential(case):
    rng = np.random.default_rng(case["seed"])
    sizes = case["sizes"]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(d_in, d_out, dtype=np.float64), ReLU()]
    layers.pop()                                  # no ReLU after the last Linear: the notes' logits
    reference = _random_parameters(Sequential(*layers), rng)
    x = rng.standard_normal((case["batch"], sizes[0]))
    return Setup(reference, (x,), lambda learner: learner(*copy.deepcopy(layers)))


def setup_dropout(case):
    rng = np.random.default_rng(case["seed"])
    p = case["p"]
    x = rng.standard_normal(case["shape"])
    mask = rng.random(case["shape"]) >= p
    mask.flat[0], mask.flat[1] = True, False      # one element kept and one dropped, always
    mode = _in_mode(case["training"])
    return Setup(mode(Dropout(p=p)), (x, mask), lambda learner: mode(learner(p=p)))


def setup_batchnorm(case):
    rng = np.random.default_rng(case["seed"])
    n, features = case["batch"], case["features"]
    reference = _random_parameters(BatchNorm1d(features, dtype=np.float64), rng)
    reference.running_mean[...] = rng.standard_normal(features)
    reference.running_var[...] = rng.uniform(0.5, 2.0, features)
    x = 2 * rng.standard_normal((n, features)) + 1
    mode = _in_mode(case["training"])
    return Setup(mode(reference), (x,), lambda learner: mode(learner(features)))


# -- images (N, C, H, W), small enough for finite differences --

def setup_conv2d(case):
    rng = np.random.default_rng(case["seed"])
    options = {name: case[name] for name in ("stride", "padding", "dilation", "bias")}
    reference = _random_parameters(Conv2d(case["in_channels"], case["out_channels"], case["kernel_size"],
                                          dtype=np.float64, **options), rng)
    x = rng.standard_normal((case["batch"], case["in_channels"], *case["size"]))
    return Setup(reference, (x,), lambda learner: learner(case["in_channels"], case["out_channels"],
                                                           case["kernel_size"], **options))


def setup_pool(reference_class, options):
    def setup(case):
        from manualnet.testing.strategies import distinct_values
        # Values 0.01 apart: no window has a tie, and no finite-difference step changes a window's maximum.
        x = distinct_values(case["seed"], (case["batch"], case["channels"], *case["size"]))
        chosen = {name: case[name] for name in options}
        return Setup(reference_class(**chosen), (x,), lambda learner: learner(**chosen))
    return setup


# -- a lookup and one LSTM step --

def setup_embedding(case):
    rng = np.random.default_rng(case["seed"])
    rows, dim = case["num_embeddings"], case["embedding_dim"]
    reference = _random_parameters(Embedding(rows, dim, dtype=np.float64), rng)
    indices = rng.integers(0, rows, (case["batch"], case["length"]))
    indices.flat[1] = indices.flat[0]             # a token used twice, always: its gradients add
    return Setup(reference, (indices,), lambda learner: learner(rows, dim))


def setup_lstm_cell(case):
    rng = np.random.default_rng(case["seed"])
    n, inputs, hidden, bias = case["batch"], case["input_size"], case["hidden_size"], case["bias"]
    reference = _random_parameters(LSTMCell(inputs, hidden, bias=bias, dtype=np.float64), rng)
    x, h, c = rng.standard_normal((n, inputs)), rng.standard_normal((n, hidden)), rng.standard_normal((n, hidden))
    return Setup(reference, (x, (h, c)), lambda learner: learner(inputs, hidden, bias=bias))


# -- optimizers: the same parameters and gradients, step by step ------------------------

@dataclass
class StepsReport(ComparisonReport):
    """A ComparisonReport of an optimizer: one row per parameter per step, until the first that differs."""

    steps: int = 0

    def __str__(self):
        lines = super().__str__().split("\n")
        lines[1] = (f"(float64, |mine - reference| <= {self.atol:g} + {self.rtol:g}*|reference|; "
                    f"{self.steps} steps with the same random gradients)")
        return "\n".join(lines)


def run_optimizer(reference_class):
    def run(learner, case, mistakes=None):
        rng = np.random.default_rng(case["seed"])
        values = [rng.standard_normal(shape) for shape in case["shapes"]]
        mine_params, reference_params = [Parameter(v) for v in values], [Parameter(v) for v in values]
        mine = learner(mine_params, **case["options"])
        reference = reference_class(reference_params, **case["options"])
        options = ", ".join(f"{name}={value!r}" for name, value in case["options"].items())
        report = StepsReport(learner.__name__, [], ATOL, RTOL, reference=f"optim.{reference_class.__name__}({options})",
                             steps=case["steps"])
        grads = []
        for step in range(1, case["steps"] + 1):
            grads.append([rng.standard_normal(p.shape) for p in mine_params])
            for p, q, g in zip(mine_params, reference_params, grads[-1]):
                p.grad[...] = q.grad[...] = g
            before = [q.data.copy() for q in reference_params]
            mine.step()
            reference.step()
            compared = {}
            for index, (p, q) in enumerate(zip(mine_params, reference_params)):
                name = f"params[{index}] after step {step}"
                if np.shape(p.data) != np.shape(q.data):
                    raise ValueError(f"step {step} changed the shape of params[{index}] from {np.shape(q.data)} "
                                     f"to {np.shape(p.data)}; a step moves each entry, in place")
                report.arrays.append(compare_arrays(name, p.data, q.data, ATOL, RTOL, sides=(MINE, REFERENCE)))
                compared[name] = (np.asarray(p.data, dtype=np.float64), q.data.copy())
            if not report.passed:
                _diagnose_step(report, compared, before, mistakes, (values, grads, case["options"]))
                break
        return [report]
    return run


def _diagnose_step(report, compared, before, table, run):
    """Name what went wrong in the first step that differs: a mistake of the table, run from the same start with
    the same gradients, whose parameters after this step equal mine; else a relation of the step's update."""
    failing = [name for name, row in zip(compared, report.arrays[-len(compared):]) if not row.passed]
    step = len(run[1])
    candidates = []
    for mistake in table.mistakes if table is not None else ():
        for detail, replace, *_ in mistake.ways():
            after = table.chain.trajectory(*run, replace)[step - 1]
            says = mistake.says(detail)
            candidates.append(Candidate(mistake.name, says, dict(zip(compared, after)), why=mistake.why))
    named, left = name_mistakes(compared, failing, candidates, ATOL, RTOL)
    report.diagnoses += named
    for name in left:
        index = list(compared).index(name)
        mine, reference = compared[name]
        if not np.isfinite(mine).all():
            continue                                # its problem says where the NaN or the infinity is
        found = diagnose(f"the update of params[{index}] in step {step}",
                         Evidence(mine - before[index], reference - before[index], ATOL, RTOL))
        if found:
            report.diagnoses.append(found)
    if table is not None and left and step > 1:
        report.suspects = table.chain.carried()     # step 1 went right: what a step keeps for the next one did not
