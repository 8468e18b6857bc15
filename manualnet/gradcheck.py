"""Gradient checking: compare a hand-written backward with finite differences.

Any output y of a module becomes a scalar through a random upstream gradient R:
L(x) = Σ R ⊙ f(x).  Then ``backward(R)`` must equal dL/dx, which central
differences estimate one entry at a time:

    dL/dx_i ≈ (L(x + h e_i) − L(x − h e_i)) / 2h,   h = eps · max(1, |x_i|).

Everything runs in float64 on a copy of the module, so your module is never
touched.  The tolerance, stated once here, is |analytic − numeric| <=
ATOL + RTOL · |numeric|.  A check that cannot tell right from wrong is not
passed silently: entries whose step crosses a kink (ReLU at 0) are reported as
excluded; an array whose gradients are ~0 on both sides, or a uniform upstream
gradient (all ones cancels the softmax and batch-norm input gradients), draws
a GradcheckWarning; a check where every array is ~0 fails.
Derivation of the method: derivations/gradcheck.md
"""

import copy
import inspect
import warnings
from dataclasses import dataclass

import numpy as np

from .rng import as_generator
from .module import Module

ATOL = 1e-7      # absolute tolerance, float64
RTOL = 1e-5      # relative tolerance, float64
EPS = 1e-6       # relative finite-difference step
VACUOUS = 1e-12  # gradients below this everywhere prove nothing


class GradcheckError(AssertionError):
    """A backward disagrees with finite differences (or the check proves nothing)."""

    def __init__(self, report, reason=None):
        self.report = report
        super().__init__(f"{reason}\n{report}" if reason else str(report))


class GradcheckWarning(UserWarning):
    """The check ran but could not tell a right gradient from a wrong one somewhere."""


@dataclass
class ArrayReport:
    """How one array (a gradient, or a forward output) compares with its trusted value.

    In a gradient check ``analytic`` is your backward's value and ``numeric``
    the finite-difference estimate; in a module comparison they are mine and
    the reference's (see ``manualnet.testing``).
    """

    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float       # the value under test at worst_index
    numeric: float        # the trusted value at worst_index
    excluded: int         # entries whose step crossed a kink (not compared)
    vacuous: bool         # both sides ~0 everywhere: proves nothing
    passed: bool

    @property
    def status(self):
        return ("ok" if self.passed else "FAIL") + (" (all ~0)" if self.vacuous else "")

    def cells(self):
        """The table cells shared by every report: name, shape, errors, worst index, the two values."""
        return (self.name, str(self.shape), f"{self.max_abs_error:.2e}", f"{self.max_rel_error:.2e}",
                str(self.worst_index), f"{self.analytic:.6g}", f"{self.numeric:.6g}")


@dataclass
class ArraysReport:
    """One ArrayReport per compared array, the tolerances, and whether all passed."""

    label: str
    arrays: list
    atol: float = ATOL
    rtol: float = RTOL

    @property
    def passed(self):
        return all(array.passed for array in self.arrays)

    @property
    def max_rel_error(self):
        return max((array.max_rel_error for array in self.arrays), default=0.0)

    def __getitem__(self, name):
        for array in self.arrays:
            if array.name == name:
                return array
        raise KeyError(f"no array named {name!r}; have {[a.name for a in self.arrays]}")


@dataclass
class GradcheckReport(ArraysReport):
    """The result of a gradient check: one ArrayReport per gradient, and whether all passed."""

    eps: float = EPS

    @property
    def excluded(self):
        return sum(array.excluded for array in self.arrays)

    def __str__(self):
        verdict = "passed" if self.passed else "FAILED"
        heading = (f"gradcheck {self.label}: {verdict} "
                   f"(float64, eps={self.eps:g}, |analytic - numeric| <= {self.atol:g} + {self.rtol:g}*|numeric|)")
        header = ("gradient", "shape", "max abs err", "max rel err", "worst index", "analytic", "numeric",
                  "excluded", "status")
        rows = [(*a.cells(), str(a.excluded), a.status) for a in self.arrays]
        return "\n".join([heading, *format_table(header, rows)])


def format_table(header, rows):
    """Lines of a plain-text table, each column as wide as its widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()
            for cells in (header, *rows)]


# -- finite differences -----------------------------------------------------

def _central_differences(f, x, eps):
    """Central differences of scalar f at x (perturbed in place, then restored).

    Returns (gradient, kink_signal): the second difference
    (L(x+h) − 2 L(x) + L(x−h)) / h, which is ~f''·h (tiny) where f is smooth
    and about twice the central-difference error where the step crosses a kink.
    """
    gradient = np.zeros(x.shape, dtype=np.float64)
    kink_signal = np.zeros(x.shape, dtype=np.float64)
    center = f(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        step = eps * max(1.0, abs(original))       # eq. (3)
        x[index] = original + step
        upper_x, upper = x[index], f(x)
        x[index] = original - step
        lower_x, lower = x[index], f(x)
        x[index] = original
        width = upper_x - lower_x                  # the step actually taken, after rounding
        gradient[index] = (upper - lower) / width                      # eq. (1)
        kink_signal[index] = 2 * (upper - 2 * center + lower) / width  # eq. (7)
    return gradient, kink_signal


def numerical_gradient(f, x, eps=EPS):
    """dF/dx of a scalar function F by central differences, step eps · max(1, |x_i|).

    ``x`` must be a float64 array; it is perturbed in place and restored.
    Shape: x (*) -> gradient (*), float64.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError("numerical_gradient: expected a float64 numpy.ndarray x (differences in float32 are noise)")
    return _central_differences(lambda values: float(f(values)), x, eps)[0]


def _compare(name, analytic, numeric, kink_signal, atol, rtol):
    if np.shape(analytic) != numeric.shape:
        raise GradcheckError(
            GradcheckReport(name, []),
            f"gradient {name!r}: backward gave shape {np.shape(analytic)}, expected {numeric.shape}",
        )
    return compare_arrays(name, analytic, numeric, atol, rtol, kink_signal)


def compare_arrays(name, analytic, numeric, atol=ATOL, rtol=RTOL, kink_signal=None):
    """Compare two arrays of one shape entry by entry: |analytic − numeric| <= atol + rtol·|numeric|.

    ``kink_signal`` (from the finite differences) marks entries whose step
    crossed a kink: those are counted as excluded instead of failing.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.size == 0:
        return ArrayReport(name, analytic.shape, 0.0, 0.0, (), 0.0, 0.0, 0, False, True)
    error = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    relative = np.divide(error, scale, out=np.zeros_like(error), where=scale > 0)
    failing = error > atol + rtol * np.abs(numeric)        # eq. (6)
    at_kink = (failing & (np.abs(kink_signal) >= error)    # eq. (9): a kink explains the error
               if kink_signal is not None else np.zeros_like(failing))
    counted = ~at_kink
    worst = np.unravel_index(np.argmax(np.where(counted, error, -1.0)), error.shape)
    vacuous = bool(np.max(np.abs(analytic)) <= VACUOUS and np.max(np.abs(numeric)) <= VACUOUS)
    return ArrayReport(
        name=name,
        shape=analytic.shape,
        max_abs_error=float(np.max(error, where=counted, initial=0.0)),
        max_rel_error=float(np.max(relative, where=counted, initial=0.0)),
        worst_index=tuple(int(i) for i in worst),
        analytic=float(analytic[worst]),
        numeric=float(numeric[worst]),
        excluded=int(at_kink.sum()),
        vacuous=vacuous,
        passed=not bool((failing & counted).any()),
    )


# -- checking modules and losses ---------------------------------------------

def as_float64(value):
    """A float array as a float64 copy; a tuple (an LSTM's (h, c)) part by part; anything else as it is."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    if isinstance(value, tuple):
        return tuple(as_float64(part) for part in value)
    return value


# -- tuple outputs and inputs ---------------------------------------------------------
# A recurrent layer returns (output, h_n) — an LSTM (output, (h_n, c_n)) — and its
# backward takes the upstream gradient in that structure and returns
# (dL/dinput, dL/dhx).  L = Σ R ⊙ y then sums over every array of the structure.

def leaves(value, path=()):
    """[(path, array)] for every array in a nested tuple or list; a plain array is [((), array)]."""
    if isinstance(value, (tuple, list)):
        return [leaf for index, part in enumerate(value) for leaf in leaves(part, path + (index,))]
    return [] if value is None else [(path, value)]


def map_structure(function, value):
    """The same nesting of tuples, with ``function`` applied to every array (None stays None)."""
    if isinstance(value, (tuple, list)):
        return tuple(map_structure(function, part) for part in value)
    return None if value is None else function(value)


def inner_product(R, y):
    """Σ R ⊙ y over every array of the structure: the scalar whose gradient backward(R) computes."""
    return sum(float(np.sum(r * y_part)) for (_, r), (_, y_part) in zip(leaves(R), leaves(y)))


def input_names(module, count):
    """Names of forward's arguments for reports: 'input' first, then forward's own (e.g. 'hx')."""
    try:
        names = [name for name in inspect.signature(module.forward).parameters][1:count]
    except (TypeError, ValueError):
        names = []
    names += [f"input[{index}]" for index in range(len(names) + 1, count)]
    return ["input", *names]


def differentiated_inputs(module, inputs, grads):
    """[(name, analytic gradient, input array)] for the float inputs backward returned a gradient for.

    ``grads`` is what backward returned: dL/dx for the first input, or a
    tuple pairing with forward's inputs one by one (a recurrent layer's
    (dL/dinput, dL/dhx)).  Integer inputs (class labels, token indices)
    have no gradient.
    """
    grads = grads if isinstance(grads, tuple) else (grads,)
    pairs = []
    for name, value, grad in zip(input_names(module, len(inputs)), inputs, grads):
        for (path, array), (_, analytic) in zip(leaves(value), leaves(grad) if grad is not None else []):
            if isinstance(array, np.ndarray) and array.dtype.kind == "f":
                pairs.append((name + "".join(f"[{i}]" for i in path), analytic, array))
        if grad is None and isinstance(value, np.ndarray) and value.dtype.kind == "f":
            pairs.append((name, None, value))
    return pairs


def _upstream(grad_output, output, rng):
    """A random upstream gradient R shaped like the output (or the caller's, cast to float64)."""
    if grad_output is None:
        rng = as_generator(rng)
        if isinstance(output, tuple):                 # one R per array, drawn in order
            return map_structure(lambda part: rng.standard_normal(np.shape(part)), output)
        return rng.standard_normal(np.shape(output))           # eq. (5)
    if isinstance(grad_output, tuple):
        return map_structure(lambda part: np.asarray(part, dtype=np.float64), grad_output)
    grad_output = np.asarray(grad_output, dtype=np.float64)
    if grad_output.size > 1 and np.all(grad_output == grad_output.flat[0]):
        warnings.warn(
            "gradcheck: the upstream gradient is uniform (e.g. all ones); it cancels the input "
            "gradient of softmax and batch norm and can hide bugs. Leave grad_output=None for a "
            "random one.", GradcheckWarning, stacklevel=3,
        )
    return grad_output


def _finish(report, raise_on_failure):
    for array in report.arrays:
        if array.vacuous:
            warnings.warn(
                f"gradcheck {report.label}: gradient {array.name!r} is ~0 on both sides everywhere, "
                "so comparing it proves nothing (e.g. ReLU given only negative inputs, softmax over one class)",
                GradcheckWarning, stacklevel=3,
            )
    if raise_on_failure and report.arrays and all(array.vacuous for array in report.arrays):
        raise GradcheckError(report, "every gradient is ~0: the check proves nothing; choose other inputs")
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


def check_module(module, *inputs, grad_output=None, rng=0, eps=EPS, atol=ATOL, rtol=RTOL,
                 raise_on_failure=True):
    """Check ``module.backward`` (input gradient and every parameter's) against finite differences.

    Works on a float64 copy of ``module``; ``inputs`` are cast to float64 (the
    first one is differentiated, any others are held fixed).  ``grad_output``
    defaults to a random R ~ N(0, 1) drawn from ``rng`` (a Generator or a seed;
    the default seed 0 makes the report the same on every run).  Returns a GradcheckReport;
    raises GradcheckError with the report as a table on failure.
    """
    if not isinstance(module, Module):
        raise TypeError(f"check_module: expected a manualnet Module, got {type(module).__name__}")
    if not inputs:
        raise TypeError("check_module: give at least one input array")
    probe = copy.deepcopy(module).astype(np.float64)
    inputs = [as_float64(x) for x in inputs]
    R = _upstream(grad_output, probe(*inputs), rng)     # that forward also kept what backward needs

    def loss_at(_):
        return inner_product(R, probe(*inputs))         # the inputs are perturbed in place

    probe.zero_grad()
    differentiated = differentiated_inputs(probe, inputs, probe.backward(R))
    analytic = {name: p.grad.copy() for name, p in probe.named_parameters()}
    arrays = [_compare(name, grad, *_central_differences(loss_at, x, eps), atol, rtol)
              for name, grad, x in differentiated]
    for name, parameter in probe.named_parameters():
        numeric = _central_differences(loss_at, parameter.data, eps)
        arrays.append(_compare(name, analytic[name], *numeric, atol, rtol))
    return _finish(GradcheckReport(module.describe(), arrays, atol, rtol, eps), raise_on_failure)


def check_loss(loss, input, target, grad_output=None, rng=0, eps=EPS, atol=ATOL, rtol=RTOL,
               raise_on_failure=True):
    """Check a loss's ``backward`` (dL/d input) against finite differences, in float64.

    ``grad_output`` defaults to a random scalar (a random array for
    reduction='none') drawn from ``rng`` (default seed 0).  Returns a GradcheckReport; raises GradcheckError on failure.
    """
    if not isinstance(loss, Module):
        raise TypeError(f"check_loss: expected a manualnet loss Module, got {type(loss).__name__}")
    probe = copy.deepcopy(loss).astype(np.float64)
    input, target = as_float64(input), as_float64(target)
    R = _upstream(grad_output, probe(input, target), rng)   # that forward also kept what backward needs
    analytic = probe.backward(R if R.ndim else float(R))
    numeric = _central_differences(lambda x: float(np.sum(R * probe(x, target))), input, eps)
    report = GradcheckReport(loss.describe(), [_compare("input", analytic, *numeric, atol, rtol)], atol, rtol, eps)
    return _finish(report, raise_on_failure)
