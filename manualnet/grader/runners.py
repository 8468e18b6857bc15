"""How each kind of exercise runs one case: the learner's class beside manualnet's, same weights and inputs."""

import copy
from dataclasses import dataclass

import numpy as np

from manualnet.models import LogisticRegression
from manualnet.nn import (BatchNorm1d, Conv2d, CrossEntropyLoss, Dropout, Embedding, Linear, LSTMCell,
                          Module, ReLU, Sequential)
from manualnet.testing.comparison import ComparisonReport, compare_modules
from manualnet.testing.diagnoses import Evidence, diagnose
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


def _layer_reports(mine, reference, inputs, seed, differentiate=check_module):
    """The comparison with the reference, then the gradient check of mine with the reference's parameters."""
    comparison = compare_modules(mine, reference, *inputs, rng=seed)
    gradients = differentiate(_copy_parameters(reference, mine), *inputs, rng=seed, raise_on_failure=False)
    return [comparison, gradients]


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
        return self.model.loss(self.yhat, y)

    def backward(self, grad_output=1.0):
        self.model.backward(self.x, self.yhat, self.y)
        for parameter in self.model.parameters():
            parameter.grad = np.asarray(parameter.grad * grad_output)
        dz = (self.yhat - self.y) / len(self.x) * grad_output     # eq. (4), times g
        return np.outer(dz, self.model.w.data)

    def describe(self):
        return self.model.describe()


def run_logistic_regression(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, dim = case["batch"], case["features"]
    reference = _random_parameters(LogisticRegression(dim, dtype=np.float64), rng)
    x = rng.standard_normal((n, dim))
    y = rng.integers(0, 2, n).astype(np.float64)
    mine = ModelWithItsLoss(learner(dim))
    return _layer_reports(mine, ModelWithItsLoss(reference), (x, y), case["seed"])


def run_linear(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, d_in, d_out, bias = case["batch"], case["in_features"], case["out_features"], case["bias"]
    reference = _random_parameters(Linear(d_in, d_out, bias=bias, dtype=np.float64), rng)
    x = rng.standard_normal((n, d_in))
    return _layer_reports(learner(d_in, d_out, bias=bias), reference, (x,), case["seed"])


def run_activation(reference_class, margin=0.0, scale=1.0, options=()):
    def run(learner, case):
        from manualnet.testing.strategies import random_array
        x = random_array(case["seed"], case["shape"], scale=scale, margin=margin)
        if margin:                                # both sides of the kink, always: a gradient to compare
            x.flat[0], x.flat[1] = abs(x.flat[0]), -abs(x.flat[1])
        chosen = {name: case[name] for name in options}
        return _layer_reports(learner(**chosen), reference_class(**chosen), (x,), case["seed"])
    return run


def run_cross_entropy(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, classes, reduction = case["batch"], case["classes"], case["reduction"]
    logits = 3 * rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, n)
    return _layer_reports(learner(reduction=reduction), CrossEntropyLoss(reduction=reduction),
                          (logits, labels), case["seed"], differentiate=check_loss)


def run_sequential(learner, case):
    rng = np.random.default_rng(case["seed"])
    sizes = case["sizes"]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(d_in, d_out, dtype=np.float64), ReLU()]
    layers.pop()                                  # no ReLU after the last Linear: the notes' logits
    reference = _random_parameters(Sequential(*layers), rng)
    mine = learner(*copy.deepcopy(layers))
    x = rng.standard_normal((case["batch"], sizes[0]))
    return _layer_reports(mine, reference, (x,), case["seed"])


def run_dropout(learner, case):
    rng = np.random.default_rng(case["seed"])
    p = case["p"]
    x = rng.standard_normal(case["shape"])
    mask = rng.random(case["shape"]) >= p
    mask.flat[0], mask.flat[1] = True, False      # one element kept and one dropped, always
    mine, reference = learner(p=p), Dropout(p=p)
    if not case["training"]:
        mine.eval()
        reference.eval()
    return _layer_reports(mine, reference, (x, mask), case["seed"])


def run_batchnorm(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, features = case["batch"], case["features"]
    reference = _random_parameters(BatchNorm1d(features, dtype=np.float64), rng)
    reference.running_mean[...] = rng.standard_normal(features)
    reference.running_var[...] = rng.uniform(0.5, 2.0, features)
    mine = learner(features)
    if not case["training"]:
        mine.eval()
        reference.eval()
    x = 2 * rng.standard_normal((n, features)) + 1
    return _layer_reports(mine, reference, (x,), case["seed"])


# -- images (N, C, H, W), small enough for finite differences --

def run_conv2d(learner, case):
    rng = np.random.default_rng(case["seed"])
    options = {name: case[name] for name in ("stride", "padding", "dilation", "bias")}
    reference = _random_parameters(Conv2d(case["in_channels"], case["out_channels"], case["kernel_size"],
                                          dtype=np.float64, **options), rng)
    x = rng.standard_normal((case["batch"], case["in_channels"], *case["size"]))
    mine = learner(case["in_channels"], case["out_channels"], case["kernel_size"], **options)
    return _layer_reports(mine, reference, (x,), case["seed"])


def run_pool(reference_class, options):
    def run(learner, case):
        from manualnet.testing.strategies import distinct_values
        # Values 0.01 apart: no window has a tie, and no finite-difference step changes a window's maximum.
        x = distinct_values(case["seed"], (case["batch"], case["channels"], *case["size"]))
        chosen = {name: case[name] for name in options}
        return _layer_reports(learner(**chosen), reference_class(**chosen), (x,), case["seed"])
    return run


# -- a lookup and one LSTM step --

def run_embedding(learner, case):
    rng = np.random.default_rng(case["seed"])
    rows, dim = case["num_embeddings"], case["embedding_dim"]
    reference = _random_parameters(Embedding(rows, dim, dtype=np.float64), rng)
    indices = rng.integers(0, rows, (case["batch"], case["length"]))
    indices.flat[1] = indices.flat[0]             # a token used twice, always: its gradients add
    return _layer_reports(learner(rows, dim), reference, (indices,), case["seed"])


def run_lstm_cell(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, inputs, hidden, bias = case["batch"], case["input_size"], case["hidden_size"], case["bias"]
    reference = _random_parameters(LSTMCell(inputs, hidden, bias=bias, dtype=np.float64), rng)
    x, h, c = rng.standard_normal((n, inputs)), rng.standard_normal((n, hidden)), rng.standard_normal((n, hidden))
    return _layer_reports(learner(inputs, hidden, bias=bias), reference, (x, (h, c)), case["seed"])


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
    def run(learner, case):
        rng = np.random.default_rng(case["seed"])
        from manualnet.nn.parameter import Parameter
        values = [rng.standard_normal(shape) for shape in case["shapes"]]
        mine_params, reference_params = [Parameter(v) for v in values], [Parameter(v) for v in values]
        mine = learner(mine_params, **case["options"])
        reference = reference_class(reference_params, **case["options"])
        options = ", ".join(f"{name}={value!r}" for name, value in case["options"].items())
        report = StepsReport(learner.__name__, [], ATOL, RTOL, reference=f"optim.{reference_class.__name__}({options})",
                             steps=case["steps"])
        for step in range(1, case["steps"] + 1):
            for p, q in zip(mine_params, reference_params):
                p.grad[...] = q.grad[...] = rng.standard_normal(p.shape)
            before = [(p.data.copy(), q.data.copy()) for p, q in zip(mine_params, reference_params)]
            mine.step()
            reference.step()
            for index, (p, q, (p_before, q_before)) in enumerate(zip(mine_params, reference_params, before)):
                name = f"params[{index}] after step {step}"
                if np.shape(p.data) != np.shape(q.data):
                    raise ValueError(f"step {step} changed the shape of params[{index}] from {np.shape(q.data)} "
                                     f"to {np.shape(p.data)}; a step moves each entry, in place")
                row = compare_arrays(name, p.data, q.data, ATOL, RTOL)
                report.arrays.append(row)
                if not row.passed:
                    evidence = Evidence(np.asarray(p.data - p_before, dtype=np.float64), q.data - q_before, ATOL, RTOL)
                    found = diagnose(f"the update of params[{index}] in step {step}", evidence)
                    if found:
                        report.diagnoses.append(found)
            if not report.passed:
                break
        return [report]
    return run
