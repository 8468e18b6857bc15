"""The exercises: you write each backward, manualnet's own checkers grade it.

``exercises/`` (at the top of the checkout) holds one file per step of the
learning path, in the order of ``EXERCISES``: a layer (or the notes' model,
or an optimizer) with ``forward`` written and ``backward`` (``step`` for an
optimizer) raising ``NotImplementedError`` that names the page and the
equations to read.  You edit the file in place; ``git checkout exercises/``
brings the stubs back.

    python -m manualnet exercises              every exercise, its status and the next one
    python -m manualnet exercises check NAME   grade exercises/NAME.py

Grading uses the project's checkers and nothing else.  Each case builds your
class and manualnet's own (the reference) in float64, runs
``manualnet.testing.compare_modules`` (same weights, inputs and random
upstream gradients; it names the classic mistakes) and the gradient checker
(``check_module`` / ``check_loss``: your backward against finite differences
of your own forward).  An optimizer is run side by side with manualnet's on
the same parameters and gradients, each step compared with the same
``compare_arrays`` and diagnosed with the same ``diagnose``.  The first case
is fixed, so its report reads the same on every machine; then
``manualnet.testing.strategies`` draws more with hypothesis, which shrinks a
failure to the smallest case it can find.  A failure prints the report, the
diagnosis when one fits, and a hint that links the derivation section to
read — never the code to write.

This module loads an exercise file by compiling its text: nothing is
written into ``exercises/`` (no ``__pycache__``).
"""

import copy
import sys
import textwrap
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from manualnet import optim
from manualnet.nn.modules.activation import ReLU, Sigmoid, Softmax
from manualnet.nn.modules.batchnorm import BatchNorm1d
from manualnet.nn.modules.conv import Conv2d
from manualnet.nn.modules.dropout import Dropout
from manualnet.nn.modules.sparse import Embedding
from manualnet.testing.gradcheck import ATOL, RTOL, GradcheckWarning, check_loss, check_module, compare_arrays
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.container import Sequential
from manualnet.nn.modules.loss import CrossEntropyLoss
from manualnet.models.logistic_regression import LogisticRegression
from manualnet.nn.modules.module import Module
from manualnet.nn.modules.pooling import AvgPool2d, MaxPool2d
from manualnet.nn.modules.rnn import LSTMCell
from manualnet.testing.comparison import ComparisonReport, compare_modules
from manualnet.testing.diagnoses import Evidence, diagnose

FOLDER = "exercises"
DRAWN_CASES = 20            # cases hypothesis draws after the fixed one
COMMAND = "python -m manualnet exercises"


# -- the path ---------------------------------------------------------------------

@dataclass(frozen=True)
class Exercise:
    """One step of the path: the file, the method to write, the page to read, and how to grade it."""

    name: str                   # "linear": exercises/linear.py, and the NAME of `exercises check NAME`
    class_name: str             # the class the file defines, "Linear"
    method: str                 # what the learner writes: "backward", or "step" for an optimizer
    page: str                   # "derivations/linear.md#backward": the section to read
    read: str                   # the equations to read there, "(2), (3), (4)"
    equations: dict             # gradient (a row of the reports, without ".grad") -> (eq. "(4)", what it is)
    shapes: str                 # the section that lines up the shapes, for an error in the learner's code
    notes: str                  # the study notes that lead here, e.g. "000, 002"; "—" beyond the notes
    fixed: dict                 # the first case, always the same
    draw: Callable              # () -> hypothesis strategy of cases like ``fixed``
    run: Callable               # (learner's class, case) -> [reports]
    describe: Callable          # case -> "x (4, 3), Linear(3, 3, bias=True), seed 0"

    @property
    def file(self):
        return f"{FOLDER}/{self.name}.py"

    @property
    def title(self):
        return f"{self.class_name}.{self.method}"



# -- loading a learner's file -------------------------------------------------------

class ExerciseError(ValueError):
    """The exercise cannot be graded as it stands (no such folder or file, no such class, a syntax error)."""


def find_folder(folder=None):
    """The exercises folder: ``folder`` if given, else ./exercises, else the one in manualnet's checkout."""
    candidates = [Path(folder)] if folder is not None else [Path.cwd() / FOLDER,
                                                            Path(__file__).resolve().parent.parent / FOLDER]
    for candidate in candidates:
        if candidate.is_dir():
            if not any((candidate / f"{exercise.name}.py").is_file() for exercise in EXERCISES):
                raise ExerciseError(f"{candidate} holds none of the exercise files ({EXERCISES[0].name}.py, ...); "
                                    f"git checkout {FOLDER}/ brings them back")
            return candidate
    where = candidates[0] if folder is not None else "the current folder or manualnet's checkout"
    raise ExerciseError(f"no {FOLDER}/ folder in {where}: run this from the manualnet checkout "
                        "(git clone it; the exercises are files you edit)")


def load_class(exercise, folder):
    """The class the learner's file defines, from its text as it is now (compiled, never cached)."""
    path = Path(folder) / f"{exercise.name}.py"
    if not path.is_file():
        raise ExerciseError(f"{path} does not exist; git checkout {exercise.file} brings the stub back")
    source = path.read_text(encoding="utf-8")
    namespace = {"__name__": f"{FOLDER}.{exercise.name}", "__file__": str(path)}
    try:
        exec(compile(source, str(path), "exec"), namespace)
    except Exception as error:                   # a syntax error or a failing import in the learner's file
        raise ExerciseError(f"{path} does not run:\n{_learner_traceback(error, path)}") from None
    found = namespace.get(exercise.class_name)
    if not isinstance(found, type):
        raise ExerciseError(f"{path} defines no class {exercise.class_name}; "
                            f"git checkout {exercise.file} brings the stub back")
    return found


def _learner_traceback(error, path):
    """The traceback lines that are in the learner's file, then the error itself."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename) == Path(path)]
    shown = _display_path(path)
    lines = [f'  File "{shown}", line {frame.lineno}, in {frame.name}\n    {frame.line}' for frame in frames]
    if isinstance(error, SyntaxError) and error.lineno:
        lines.append(f'  File "{shown}", line {error.lineno}\n    {(error.text or "").strip()}')
    return "\n".join(lines + [f"{type(error).__name__}: {error}"])


def _not_started(error, path):
    """Whether the error is the stub's own NotImplementedError, raised in the learner's file."""
    frames = traceback.extract_tb(error.__traceback__)
    return isinstance(error, NotImplementedError) and bool(frames) and Path(frames[-1].filename) == Path(path)


# -- grading ------------------------------------------------------------------------

NOT_STARTED, FAILING, PASSING = "not started", "failing", "passing"


@dataclass
class Grade:
    """The verdict on one exercise, with what shows it."""

    exercise: Exercise
    status: str                     # NOT_STARTED, FAILING or PASSING
    cases: int = 0                  # how many cases ran
    case: str = ""                  # the failing case, described
    fixed_case: bool = True         # whether that case is the fixed first one
    reports: list = field(default_factory=list)
    message: str = ""               # the stub's pointer, or the learner's error with its traceback

    def diagnosed(self):
        """The names of the mistakes the comparisons named, each once, in report order."""
        return list(dict.fromkeys(d.name for report in self.reports for d in getattr(report, "diagnoses", ())))


def grade(exercise, folder=None, drawn=DRAWN_CASES):
    """Grade the learner's exercise: the fixed case, then ``drawn`` cases from hypothesis."""
    folder = find_folder(folder)
    path = folder / f"{exercise.name}.py"
    try:
        learner = load_class(exercise, folder)
    except ExerciseError as error:
        return Grade(exercise, FAILING, message=str(error))
    first = _run_case(exercise, learner, exercise.fixed, path)
    if first is not None:
        return first
    if drawn == 0:
        return Grade(exercise, PASSING, cases=1)
    failed = _search(exercise, learner, path, drawn)
    return failed or Grade(exercise, PASSING, cases=1 + drawn)


class _CaseFailed(Exception):
    def __init__(self, grade):
        super().__init__(grade.status)
        self.grade = grade


def _search(exercise, learner, path, drawn):
    """Run ``drawn`` hypothesis cases; the smallest failing one found, as a Grade, or None."""
    try:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    except ImportError:
        raise ImportError("grading draws its cases with hypothesis: pip install hypothesis "
                          "(or pip install -e '.[dev]')") from None

    @settings(max_examples=drawn, derandomize=True, database=None, deadline=None, report_multiple_bugs=False,
              verbosity=Verbosity.quiet, phases=(Phase.generate, Phase.shrink),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(case=exercise.draw())
    def run(case):
        failed = _run_case(exercise, learner, case, path)
        if failed is not None:
            failed.fixed_case = False
            raise _CaseFailed(failed)

    try:
        run()
    except _CaseFailed as failure:             # hypothesis re-raises the smallest failing case last
        return failure.grade
    return None


def _run_case(exercise, learner, case, path):
    """Grade one case: None if it passes, else a Grade saying why."""
    described = exercise.describe(case)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradcheckWarning)   # an all-zero gradient shows as "(all ~0)"
            warnings.simplefilter("ignore", RuntimeWarning)     # the learner's overflow shows as inf or nan
            reports = exercise.run(learner, case)
    except Exception as error:
        if _not_started(error, path):
            return Grade(exercise, NOT_STARTED, cases=1, case=described, message=str(error))
        return Grade(exercise, FAILING, cases=1, case=described, message=_learner_traceback(error, path))
    if all(report.passed for report in reports):
        return None
    label = f"{exercise.file}:{exercise.class_name}"
    for report in reports:
        report.label = label
    return Grade(exercise, FAILING, cases=1, case=described, reports=reports)


# -- how each kind of exercise runs one case --------------------------------------------

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


def _run_logistic_regression(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, dim = case["batch"], case["features"]
    reference = _random_parameters(LogisticRegression(dim, dtype=np.float64), rng)
    x = rng.standard_normal((n, dim))
    y = rng.integers(0, 2, n).astype(np.float64)
    mine = ModelWithItsLoss(learner(dim))
    return _layer_reports(mine, ModelWithItsLoss(reference), (x, y), case["seed"])


def _run_linear(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, d_in, d_out, bias = case["batch"], case["in_features"], case["out_features"], case["bias"]
    reference = _random_parameters(Linear(d_in, d_out, bias=bias, dtype=np.float64), rng)
    x = rng.standard_normal((n, d_in))
    return _layer_reports(learner(d_in, d_out, bias=bias), reference, (x,), case["seed"])


def _run_activation(reference_class, margin=0.0, scale=1.0, options=()):
    def run(learner, case):
        from manualnet.testing.strategies import random_array
        x = random_array(case["seed"], case["shape"], scale=scale, margin=margin)
        if margin:                                # both sides of the kink, always: a gradient to compare
            x.flat[0], x.flat[1] = abs(x.flat[0]), -abs(x.flat[1])
        chosen = {name: case[name] for name in options}
        return _layer_reports(learner(**chosen), reference_class(**chosen), (x,), case["seed"])
    return run


def _run_cross_entropy(learner, case):
    rng = np.random.default_rng(case["seed"])
    n, classes, reduction = case["batch"], case["classes"], case["reduction"]
    logits = 3 * rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, n)
    return _layer_reports(learner(reduction=reduction), CrossEntropyLoss(reduction=reduction),
                          (logits, labels), case["seed"], differentiate=check_loss)


def _run_sequential(learner, case):
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


def _run_dropout(learner, case):
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


def _run_batchnorm(learner, case):
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


# -- convolution and pooling (issue 14): images (N, C, H, W), small enough for finite differences --------

def _run_conv2d(learner, case):
    rng = np.random.default_rng(case["seed"])
    options = {name: case[name] for name in ("stride", "padding", "dilation", "bias")}
    reference = _random_parameters(Conv2d(case["in_channels"], case["out_channels"], case["kernel_size"],
                                          dtype=np.float64, **options), rng)
    x = rng.standard_normal((case["batch"], case["in_channels"], *case["size"]))
    mine = learner(case["in_channels"], case["out_channels"], case["kernel_size"], **options)
    return _layer_reports(mine, reference, (x,), case["seed"])


def _run_pool(reference_class, options):
    def run(learner, case):
        from manualnet.testing.strategies import distinct_values
        # Values 0.01 apart: no window has a tie, and no finite-difference step changes a window's maximum.
        x = distinct_values(case["seed"], (case["batch"], case["channels"], *case["size"]))
        chosen = {name: case[name] for name in options}
        return _layer_reports(learner(**chosen), reference_class(**chosen), (x,), case["seed"])
    return run


# -- sequences (issue 16): a lookup and one LSTM step -------------------------------------------

def _run_embedding(learner, case):
    rng = np.random.default_rng(case["seed"])
    rows, dim = case["num_embeddings"], case["embedding_dim"]
    reference = _random_parameters(Embedding(rows, dim, dtype=np.float64), rng)
    indices = rng.integers(0, rows, (case["batch"], case["length"]))
    indices.flat[1] = indices.flat[0]             # a token used twice, always: its gradients add
    return _layer_reports(learner(rows, dim), reference, (indices,), case["seed"])


def _run_lstm_cell(learner, case):
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


def _run_optimizer(reference_class):
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


# -- the cases: fixed first, then drawn with hypothesis ---------------------------------------

def _strategies():
    from hypothesis import strategies as st
    from manualnet.testing.strategies import seeds
    # At least 3 samples: with N = 1 a sum equals its mean, and with N = 2 a missing 1/N looks like a factor 2.
    return st, seeds, st.integers(3, 6), st.integers(2, 5)


def _draw_logistic_regression():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "features": features, "seed": seeds})


def _draw_linear():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "in_features": features, "out_features": features,
                                  "bias": st.booleans(), "seed": seeds})


def _draw_elementwise(**options):
    def draw():
        st, seeds, batch, features = _strategies()
        # Every side at least 2: a softmax over one entry, or a ReLU of one negative number, proves nothing.
        return st.fixed_dictionaries({"shape": st.tuples(batch, features) | st.tuples(batch, features, features),
                                      "seed": seeds, **{name: st.sampled_from(values)
                                                        for name, values in options.items()}})
    return draw


def _draw_cross_entropy():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "classes": features, "reduction": st.sampled_from(["mean", "sum"]),
                                  "seed": seeds})


def _draw_sequential():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "sizes": st.lists(features, min_size=3, max_size=4).map(tuple),
                                  "seed": seeds})


def _draw_dropout():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"shape": st.tuples(batch, features), "p": st.sampled_from([0.2, 0.5, 0.7]),
                                  "training": st.booleans(), "seed": seeds})


def _draw_batchnorm():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "features": features, "training": st.booleans(), "seed": seeds})


def _window_geometry(st, smallest_kernel, dilation):
    """kernel_size, stride, padding (at most half the kernel, as pooling needs) and, when ``dilation``,
    dilation, each an (h, w) pair, and an image size (H, W) from the kernel's span d(k − 1) + 1 to three
    more: a window never reads padding alone (max pooling would give −∞)."""
    @st.composite
    def draw(draw):
        kernel = draw(st.tuples(st.integers(smallest_kernel, 3), st.integers(smallest_kernel, 3)))
        geometry = {"kernel_size": kernel, "stride": draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
                    "padding": tuple(draw(st.integers(0, k // 2)) for k in kernel)}
        spread = (1, 1)
        if dilation:
            spread = geometry["dilation"] = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
        geometry["size"] = tuple(d * (k - 1) + 1 + draw(st.integers(0, 3)) for k, d in zip(kernel, spread))
        return geometry
    return draw()


def _draw_conv2d():
    st, seeds, _, _ = _strategies()
    channels = st.integers(1, 3)
    return st.builds(lambda geometry, **rest: {**rest, **geometry}, _window_geometry(st, 1, dilation=True),
                     batch=st.integers(2, 3), in_channels=channels, out_channels=channels, bias=st.booleans(),
                     seed=seeds)


def _draw_pool(dilation=False, **options):
    def draw():
        st, seeds, _, _ = _strategies()
        # Windows of at least 2 × 2: a window of one cell pools nothing.
        return st.builds(lambda geometry, **rest: {**rest, **geometry}, _window_geometry(st, 2, dilation),
                         batch=st.integers(2, 3), channels=st.integers(1, 2), seed=seeds,
                         **{name: st.sampled_from(values) for name, values in options.items()})
    return draw

def _draw_embedding():
    st, seeds, _, _ = _strategies()
    return st.fixed_dictionaries({"batch": st.integers(2, 3), "length": st.integers(2, 4),
                                  "num_embeddings": st.integers(2, 6), "embedding_dim": st.integers(1, 4),
                                  "seed": seeds})


def _draw_lstm_cell():
    st, seeds, _, _ = _strategies()
    return st.fixed_dictionaries({"batch": st.integers(2, 4), "input_size": st.integers(1, 4),
                                  "hidden_size": st.integers(1, 3), "bias": st.booleans(), "seed": seeds})


def _draw_sgd():
    st, seeds, _, _ = _strategies()
    from manualnet.testing.strategies import shapes

    def options(momentum, dampening, nesterov, weight_decay, lr):
        return {"lr": lr, "momentum": momentum, "dampening": 0.0 if nesterov else dampening,
                "weight_decay": weight_decay, "nesterov": nesterov and momentum > 0}
    return st.fixed_dictionaries({
        "shapes": st.lists(shapes(max_dims=2), min_size=1, max_size=2),
        "options": st.builds(options, st.sampled_from([0.0, 0.9]), st.sampled_from([0.0, 0.5]), st.booleans(),
                             st.sampled_from([0.0, 0.1]), st.sampled_from([0.1, 0.01])),
        "steps": st.integers(3, 5), "seed": seeds})


def _draw_adam():
    st, seeds, _, _ = _strategies()
    from manualnet.testing.strategies import shapes
    return st.fixed_dictionaries({
        "shapes": st.lists(shapes(max_dims=2), min_size=1, max_size=2),
        "options": st.fixed_dictionaries({"lr": st.sampled_from([1e-3, 0.1]),
                                          "betas": st.sampled_from([(0.9, 0.999), (0.8, 0.99)]),
                                          "eps": st.just(1e-8), "weight_decay": st.sampled_from([0.0, 0.1])}),
        "steps": st.integers(3, 5), "seed": seeds})


def _shape(case):
    return f"x {tuple(case['shape'])}"


def _options(case, *names):
    return ", ".join(f"{name}={case[name]!r}" for name in names)


_LINEAR_EQUATIONS = {"input": ("(2)", "dL/dx"), "weight": ("(3)", "dL/dW"), "bias": ("(4)", "dL/db")}

EXERCISES = (
    Exercise(
        "logistic_regression", "LogisticRegression", "backward", "derivations/logistic_regression.md#backward",
        "(4), (5), (6)",
        {"w": ("(5)", "dL/dw"), "b": ("(6)", "dL/db"), "input": ("(4)", "dL/dz times w (from the model's forward)")},
        "derivations/logistic_regression.md#dimension-check", "002",
        fixed={"batch": 4, "features": 3, "seed": 0}, draw=_draw_logistic_regression, run=_run_logistic_regression,
        describe=lambda c: f"x ({c['batch']}, {c['features']}), labels ({c['batch']},), seed {c['seed']}"),
    Exercise(
        "linear", "Linear", "backward", "derivations/linear.md#backward", "(2), (3), (4)", _LINEAR_EQUATIONS,
        "derivations/linear.md#dimension-check", "000, 002",
        fixed={"batch": 4, "in_features": 3, "out_features": 3, "bias": True, "seed": 0}, draw=_draw_linear,
        run=_run_linear,
        describe=lambda c: (f"x ({c['batch']}, {c['in_features']}), "
                            f"Linear({c['in_features']}, {c['out_features']}, bias={c['bias']}), seed {c['seed']}")),
    Exercise(
        "relu", "ReLU", "backward", "derivations/relu.md#backward", "(3), (4)",
        {"input": ("(4)", "dL/dx")},
        "derivations/relu.md#dimension-check", "001, 004",
        fixed={"shape": (4, 3), "seed": 0}, draw=_draw_elementwise(), run=_run_activation(ReLU, margin=0.01),
        describe=lambda c: f"{_shape(c)}, every entry at least 0.01 from the kink at 0, seed {c['seed']}"),
    Exercise(
        "sigmoid", "Sigmoid", "backward", "derivations/sigmoid.md#backward", "(2), (3)",
        {"input": ("(3)", "dL/dx")},
        "derivations/sigmoid.md#dimension-check", "002",
        fixed={"shape": (4, 3), "seed": 0}, draw=_draw_elementwise(), run=_run_activation(Sigmoid, scale=3.0),
        describe=lambda c: f"{_shape(c)}, seed {c['seed']}"),
    Exercise(
        "softmax", "Softmax", "backward", "derivations/softmax.md#softmax", "(3), (4)",
        {"input": ("(4)", "dL/dx = Jᵀ G")},
        "derivations/softmax.md#dimension-check", "001",
        fixed={"shape": (4, 3), "dim": -1, "seed": 0}, draw=_draw_elementwise(dim=[-1, 0]),
        run=_run_activation(Softmax, scale=2.0, options=("dim",)),
        describe=lambda c: f"{_shape(c)}, Softmax({_options(c, 'dim')}), seed {c['seed']}"),
    Exercise(
        "cross_entropy", "CrossEntropyLoss", "backward", "derivations/cross_entropy.md#backward", "(4), (5)",
        {"input": ("(5)", "dL/dz")}, "derivations/cross_entropy.md#dimension-check", "001, 004",
        fixed={"batch": 4, "classes": 3, "reduction": "mean", "seed": 0}, draw=_draw_cross_entropy,
        run=_run_cross_entropy,
        describe=lambda c: (f"logits ({c['batch']}, {c['classes']}), labels ({c['batch']},), "
                            f"CrossEntropyLoss({_options(c, 'reduction')}), seed {c['seed']}")),
    Exercise(
        "sequential", "Sequential", "backward", "derivations/backprop.md#the-chain-sequentialbackward", "(7)",
        {"input": ("(7)", "dL/dx of the first module")}, "derivations/backprop.md#3-a-layer-one-step-of-the-chain-rule",
        "001, 004",
        fixed={"batch": 4, "sizes": (5, 4, 3), "seed": 0}, draw=_draw_sequential, run=_run_sequential,
        describe=lambda c: (f"x ({c['batch']}, {c['sizes'][0]}), Sequential of "
                            + ", ReLU, ".join(f"Linear({a}, {b})" for a, b in zip(c['sizes'][:-1], c['sizes'][1:]))
                            + f", seed {c['seed']}")),
    Exercise(
        "sgd", "SGD", "step", "derivations/optimizers.md#sgd-optimsgd", "(2)-(6)",
        {"params": ("(2)-(6)", "θ after each step")},
        "derivations/optimizers.md#shapes", "001",
        fixed={"shapes": [(3, 2), (2,)], "steps": 3, "seed": 0,
               "options": {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}},
        draw=_draw_sgd, run=_run_optimizer(optim.SGD),
        describe=lambda c: f"parameters {', '.join(map(str, c['shapes']))}, {c['steps']} steps, seed {c['seed']}"),
    Exercise(
        "adam", "Adam", "step", "derivations/optimizers.md#adam-optimadam", "(7)-(13)",
        {"params": ("(7)-(13)", "θ after each step")},
        "derivations/optimizers.md#shapes", "004",
        fixed={"shapes": [(3, 2), (2,)], "steps": 3, "seed": 0,
               "options": {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}},
        draw=_draw_adam, run=_run_optimizer(optim.Adam),
        describe=lambda c: f"parameters {', '.join(map(str, c['shapes']))}, {c['steps']} steps, seed {c['seed']}"),
    Exercise(
        "dropout", "Dropout", "backward", "derivations/dropout.md#backward", "(4), (5)",
        {"input": ("(4)", "dL/dx in training; (5) in evaluation")}, "derivations/dropout.md#dimension-check", "004",
        fixed={"shape": (4, 3), "p": 0.2, "training": True, "seed": 0}, draw=_draw_dropout, run=_run_dropout,
        describe=lambda c: (f"{_shape(c)} and a keep-mask, Dropout(p={c['p']}) in "
                            f"{'training' if c['training'] else 'evaluation'}, seed {c['seed']}")),
    Exercise(
        "batchnorm", "BatchNorm1d", "backward", "derivations/batchnorm.md#backward", "(8)-(15)",
        {"input": ("(14)", "dL/dx in training; (15) in evaluation"), "weight": ("(9)", "dL/dγ"),
         "bias": ("(10)", "dL/dβ")},
        "derivations/batchnorm.md#dimension-check", "004",
        fixed={"batch": 4, "features": 3, "training": True, "seed": 0}, draw=_draw_batchnorm, run=_run_batchnorm,
        describe=lambda c: (f"x ({c['batch']}, {c['features']}), BatchNorm1d({c['features']}) in "
                            f"{'training' if c['training'] else 'evaluation'}, seed {c['seed']}")),
    # -- convolution and pooling (issue 14) --
    Exercise(
        "conv2d", "Conv2d", "backward", "derivations/conv2d.md#backward", "(4)-(8), im2col (9)-(14)",
        {"input": ("(6), (8) (with im2col (13), (14), (8))", "dL/dx"),
         "weight": ("(4) (with im2col (12))", "dL/dW"), "bias": ("(5)", "dL/db")},
        "derivations/conv2d.md#dimension-check", "—",
        fixed={"batch": 2, "in_channels": 2, "out_channels": 3, "kernel_size": (3, 2), "stride": (2, 2),
               "padding": (1, 1), "dilation": (1, 1), "bias": True, "size": (5, 6), "seed": 0},
        draw=_draw_conv2d, run=_run_conv2d,
        describe=lambda c: (f"x ({c['batch']}, {c['in_channels']}, {c['size'][0]}, {c['size'][1]}), "
                            f"Conv2d({c['in_channels']}, {c['out_channels']}, "
                            f"{_options(c, 'kernel_size', 'stride', 'padding', 'dilation', 'bias')}), "
                            f"seed {c['seed']}")),
    Exercise(
        "max_pool2d", "MaxPool2d", "backward", "derivations/pooling.md#backward", "(4), (5)",
        {"input": ("(4), (5)", "dL/dx")}, "derivations/pooling.md#dimension-check", "—",
        fixed={"batch": 2, "channels": 2, "kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1),
               "dilation": (1, 1), "size": (5, 6), "seed": 0},
        draw=_draw_pool(dilation=True), run=_run_pool(MaxPool2d, ("kernel_size", "stride", "padding", "dilation")),
        describe=lambda c: (f"x ({c['batch']}, {c['channels']}, {c['size'][0]}, {c['size'][1]}) without ties, "
                            f"MaxPool2d({_options(c, 'kernel_size', 'stride', 'padding', 'dilation')}), "
                            f"seed {c['seed']}")),
    Exercise(
        "avg_pool2d", "AvgPool2d", "backward", "derivations/pooling.md#backward", "(8), (9)",
        {"input": ("(8), (9)", "dL/dx")}, "derivations/pooling.md#dimension-check", "—",
        fixed={"batch": 2, "channels": 2, "kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1),
               "count_include_pad": False, "size": (5, 6), "seed": 0},
        draw=_draw_pool(count_include_pad=[True, False]),
        run=_run_pool(AvgPool2d, ("kernel_size", "stride", "padding", "count_include_pad")),
        describe=lambda c: (f"x ({c['batch']}, {c['channels']}, {c['size'][0]}, {c['size'][1]}), "
                            f"AvgPool2d({_options(c, 'kernel_size', 'stride', 'padding', 'count_include_pad')}), "
                            f"seed {c['seed']}")),
    # -- sequences (issue 16) --
    Exercise(
        "embedding", "Embedding", "backward", "derivations/embedding.md#backward", "(2), (3)",
        {"weight": ("(3)", "dL/dW")}, "derivations/embedding.md#dimension-check", "—",
        fixed={"batch": 2, "length": 3, "num_embeddings": 5, "embedding_dim": 3, "seed": 0},
        draw=_draw_embedding, run=_run_embedding,
        describe=lambda c: (f"indices ({c['batch']}, {c['length']}) with a token repeated, "
                            f"Embedding({c['num_embeddings']}, {c['embedding_dim']}), seed {c['seed']}")),
    Exercise(
        "lstm_cell", "LSTMCell", "backward", "derivations/lstm.md#backward", "(6)-(13)",
        {"input": ("(6)-(11), then (1)", "dL/dx = da W_ih"), "hx[0]": ("(6)-(12)", "dL/dh = da W_hh"),
         "hx[1]": ("(7), (13)", "dL/dc"), "weight_ih": ("(6)-(11), then (1)", "dL/dW_ih = daᵀ x"),
         "weight_hh": ("(6)-(11), then (1)", "dL/dW_hh = daᵀ h"),
         "bias_ih": ("(6)-(11), then (1)", "dL/db_ih = Σ_n da"), "bias_hh": ("(6)-(11), then (1)", "dL/db_hh = Σ_n da")},
        "derivations/lstm.md#dimension-check", "—",
        fixed={"batch": 3, "input_size": 3, "hidden_size": 2, "bias": True, "seed": 0},
        draw=_draw_lstm_cell, run=_run_lstm_cell,
        describe=lambda c: (f"x ({c['batch']}, {c['input_size']}), h and c ({c['batch']}, {c['hidden_size']}), "
                            f"LSTMCell({c['input_size']}, {c['hidden_size']}, bias={c['bias']}), seed {c['seed']}")),
)

from .transformer import TRANSFORMER_EXERCISES, TRANSFORMER_HINTS  # noqa: E402  (layernorm, attention)

EXERCISES += TRANSFORMER_EXERCISES
BY_NAME = {exercise.name: exercise for exercise in EXERCISES}


def get(name):
    """The exercise called ``name``; a ValueError listing the names otherwise."""
    if name not in BY_NAME:
        raise ValueError(f"no exercise {name!r}; the exercises are {', '.join(BY_NAME)}")
    return BY_NAME[name]


def next_after(exercise):
    """The exercise after this one on the path, or None after the last."""
    position = EXERCISES.index(exercise)
    return EXERCISES[position + 1] if position + 1 < len(EXERCISES) else None


# -- hints: where to read, never what to write ------------------------------------------

HINTS = {
    "sum vs mean": "count the terms: a value used once by each of the N samples gets one term per sample, and "
                   "the chain rule adds them (derivations/backprop.md#two-paths-add-them, eq. (4)); a 1/N "
                   "belongs only where forward itself divides by N (a mean)",
    "transposed": "compare the shapes: a gradient has the shape of its parameter, and PyTorch's weight is "
                  "(out_features, in_features); the page's Dimension check lines up the factors",
    "not accumulated": "backward ADDS into .grad (+=), it never assigns: a parameter used twice gets the sum of "
                       "both uses (derivations/backprop.md#2-why-grad-adds-up-and-why-zero_grad-exists)",
    "sign flipped": "redo the derivative one factor at a time and watch each sign; a step goes against the "
                    "gradient",
    "factor of 2": "look for a 2 from a square, d(u²)/du = 2u, that is missing or there twice",
    "dropout scale": "p is the probability of DROPPING an element: forward scaled the kept ones by 1/(1 − p)",
    "constant factor": "every entry is off by the same factor: check each constant (a 1/N, a 2, 1/(1 − p), the "
                       "learning rate, a bias correction)",
    "mask missing": "where forward passed nothing on (a dropped element, an input at or below 0 of a ReLU), "
                    "the gradient is exactly 0",
    "softmax diagonal": "every output of a row depends on every input of that row: the Jacobian's off-diagonal "
                        "entries count too, not only its diagonal",
    "derivative as value": "backward multiplies by the function's derivative, not by the function's value",
    "mean term missing": "a statistic of the batch (its mean) depends on every sample, so each x also reaches "
                         "the loss through it: that road adds a term",
    "kernel not flipped": "find which outputs read one input cell: output (i, j) reads cell a through tap "
                          "p = (a − s·i)/d, so seen from the input the taps run backwards; eq. (6) and eq. (7) "
                          "say it with indices",
    "stride not dilated": "outputs i and i + 1 read windows s cells apart: their gradients go back s cells apart "
                          "too (eq. (6) and the zeros of eq. (7))",
    "max to whole window": "only the window's maximum reached the output: the other cells of the window get "
                           "nothing from it (routes, eq. (2) and (4))",
    "average not divided": "forward divided each window's sum by its divisor D, so each cell's rate is 1/D",
    "duplicates lost": "a token used twice gets the sum of both rows of G: weight.grad[idx] += G writes each row "
                       "once (embedding.md eq. (3) and the paragraph after it)",
    "shape": "backward returns dL/dx of the shape of x and keeps each .grad the shape of its parameter; does "
             "backward end with return?",
}


HINTS.update(TRANSFORMER_HINTS)


def hints(grade):
    """Lines that say which section and equation to read for each failing gradient, and what the diagnosis means."""
    exercise = grade.exercise
    if grade.status == NOT_STARTED:
        return []
    if not grade.reports:
        return [_wrap(f"hint: read the error above; {exercise.shapes} lines up the shapes of every array "
                      f"({exercise.page}, eq. {exercise.read})")]
    lines, seen = [], set()
    for report in grade.reports:
        for array in report.arrays:
            if array.passed:
                continue
            key = _equation_key(exercise, array.name)
            if key in seen:
                continue
            seen.add(key)
            if key == "output":
                lines.append(f"hint: your forward's output differs from manualnet's: the exercise is {exercise.title}; "
                             f"git checkout {exercise.file} brings the written forward back")
                continue
            equation, what = exercise.equations[key]
            lines.append(f"hint: {_row_name(array.name)} is {what}, eq. {equation}: read {exercise.page}")
    for name in grade.diagnosed():
        lines.append(f"hint ({name}): {HINTS[name]}")
    return [_wrap(line) for line in lines]


def _wrap(text, indent="    "):
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


def _row_name(name):
    """A report row as a hint names it: 'bias' -> 'bias.grad', 'params[0] after step 2' -> 'params'."""
    if name.startswith("params["):
        return "params"
    return name if name.endswith(".grad") else f"{name}.grad"


def _equation_key(exercise, name):
    """The key of ``exercise.equations`` that a report row stands for: 'bias.grad' -> 'bias', '0.weight' -> 'input'."""
    if name.startswith("params["):
        return "params"
    plain = name.removesuffix(".grad")
    if plain in exercise.equations:
        return plain
    if plain.split("[")[0] == "output":             # a tuple output's rows: output[0], output[1]
        return "output"
    return "input"


# -- what the command line prints ----------------------------------------------------------

def position(exercise):
    return f"{EXERCISES.index(exercise) + 1}/{len(EXERCISES)}"


def format_grade(grade):
    """The text of ``exercises check NAME``."""
    exercise = grade.exercise
    lines = [f"exercise {position(exercise)}, {exercise.name}: {exercise.title} in {exercise.file}"]
    if grade.status == NOT_STARTED:
        lines.append(f"not started: {exercise.title} raises NotImplementedError:")
        lines.append(_wrap("  " + grade.message, indent="  "))
        return "\n".join(lines)
    if grade.status == PASSING:
        what = "finite differences of your forward" if exercise.method == "backward" else "the same gradients"
        lines.append(_wrap(f"passed: {grade.cases} cases (the fixed one and {grade.cases - 1} drawn by hypothesis), "
                           f"each compared with manualnet's {exercise.class_name} and {what}, in float64"))
        following = next_after(exercise)
        if following is None:
            lines.append("that was the last exercise: every step of the path is yours.")
        else:
            lines.append(_wrap(f"next: exercise {position(following)}, {following.name} — write {following.title} "
                               f"in {following.file} (read {following.page}), then run: "
                               f"{COMMAND} check {following.name}"))
        return "\n".join(lines)
    if grade.case:
        which = "the fixed first case" if grade.fixed_case else "the smallest failing case hypothesis found"
        lines.append(f"FAILED on {which}: {grade.case}")
    else:
        lines.append("FAILED")
    if grade.message:
        lines += ["", grade.message]
    for report in grade.reports:
        lines += ["", str(report)]
    lines.append("")
    lines += hints(grade)
    return "\n".join(lines)


def listing(folder=None, drawn=DRAWN_CASES):
    """Grade every exercise; return (the text of ``exercises``, the grades)."""
    folder = find_folder(folder)
    grades = [grade(exercise, folder, drawn) for exercise in EXERCISES]
    rows = [(str(number), g.exercise.name, g.status, g.exercise.title, g.exercise.page.split("#")[0])
            for number, g in enumerate(grades, start=1)]
    from manualnet.testing.comparison import format_table  # the table every report prints
    shown = _display_path(folder)
    lines = [f"the exercises in {shown}/, in order; {COMMAND} check NAME grades one",
             *format_table(("#", "name", "status", "write", "read"), rows)]
    waiting = next((g for g in grades if g.status != PASSING), None)
    if waiting is None:
        lines.append("all passing: every step of the path is yours.")
    else:
        lines.append(f"next: {waiting.exercise.name} — {COMMAND} check {waiting.exercise.name}")
    lines.append(f"(git checkout {FOLDER}/ brings every stub back)")
    return "\n".join(lines), grades


def _display_path(folder):
    try:
        return str(Path(folder).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


# -- the command line's block (manualnet/cli.py adds the subcommand) -------------------------------

def run_command(name=None, folder=None, out=None):
    """``exercises`` (name None) or ``exercises check NAME``; returns the exit code (0 only when passing)."""
    out = sys.stdout if out is None else out
    if name is None:
        text, grades = listing(folder)
        print(text, file=out)
        return 0
    exercise = get(name)
    result = grade(exercise, folder)
    print(format_grade(result), file=out)
    return 0 if result.status == PASSING else 1
