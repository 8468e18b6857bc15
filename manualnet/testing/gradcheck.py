"""Gradient checking: compare a hand-written backward with finite differences.

Any output y of a module becomes a scalar through a random upstream gradient R:
L(x) = Σ R ⊙ f(x).  Then ``backward(R)`` must equal dL/dx, which central
differences estimate one entry at a time:

    dL/dx_i ≈ (L(x + h e_i) − L(x − h e_i)) / 2h,   h = eps · max(1, |x_i|).

Everything runs in float64 on a copy of the module, so your module is never
touched.  The tolerance, |analytic − numeric| <= ATOL + RTOL · |numeric|, and
the step eps are stated once, in ``manualnet.reports``.  A check that cannot
tell right from wrong is not passed silently:

* a NaN or an infinity in your backward's gradient or in the estimate fails,
  naming the array, the entry and the side; so does a gradient of the wrong
  shape, or none at all;
* entries whose step crosses a kink (ReLU at 0) are reported as excluded; an
  array that is empty, all excluded, or within ATOL of 0 on both sides draws
  a GradcheckWarning, and a check where every array is like that fails;
* a uniform upstream gradient (all ones cancels the softmax and batch-norm
  input gradients) draws a GradcheckWarning; the random one is never
  proportional to an input (x.T @ x is symmetric and hides a transposed
  weight gradient);
* refused before any work: eps outside [EPS_MIN, EPS_MAX] (a step so small
  that x + h == x, or too large to be a derivative), an input to
  differentiate that is not a float array or holds NaN or inf, a grad_output
  not of the output's shape.

Derivation of the method and of each rule: derivations/gradcheck.md
"""

import copy
import inspect
import math
import numbers
import warnings

import numpy as np

from manualnet import autograd
from manualnet._rng import as_generator
from manualnet.nn.modules.module import Module
from manualnet.registry import KINK_MARGIN  # noqa: F401  (inputs this far from a kink: no step of eq. (3) crosses it)
from manualnet.testing.reports import ATOL, EPS, RTOL, GradcheckReport, compare_arrays

EPS_MIN = float(np.finfo(np.float64).eps)     # 2⁻⁵²: any smaller and x + h can round to x, eq. (11)
EPS_MAX = 1e-3                                # any larger and the step is no derivative, eq. (2) and (7)

__all__ = ["ATOL", "RTOL", "EPS", "EPS_MIN", "EPS_MAX", "KINK_MARGIN", "GradcheckError", "GradcheckWarning",
           "GradcheckReport", "numerical_gradient", "check_module", "check_loss", "as_float64", "random_upstream"]


class GradcheckError(AssertionError):
    """A backward disagrees with finite differences (or the check proves nothing)."""

    def __init__(self, report, reason=None):
        self.report = report
        super().__init__(f"{reason}\n{report}" if reason else str(report))


class GradcheckWarning(UserWarning):
    """The check ran but could not tell a right gradient from a wrong one somewhere."""


# -- finite differences -----------------------------------------------------

def _central_differences(f, x, eps, rounding):
    """Central differences of scalar f at x (perturbed in place, then restored).

    Returns (gradient, kink_signal): the second difference
    (L(x+h) − 2 L(x) + L(x−h)) / h, which is ~f''·h (tiny) where f is smooth
    and about twice the central-difference error where the step crosses a
    kink.  ``rounding`` bounds the rounding error of one value of f; a second
    difference within the noise that leaves is set to 0: noise is no kink.
    """
    steps = eps * np.maximum(1.0, np.abs(x))        # eq. (3)
    upper_x, lower_x = x + steps, x - steps
    upper, lower = np.empty(x.shape), np.empty(x.shape)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # a non-finite L fails by name
        center = f(x)
        for index in np.ndindex(x.shape):
            original = x[index]
            x[index] = upper_x[index]
            upper[index] = f(x)
            x[index] = lower_x[index]
            lower[index] = f(x)
            x[index] = original
        width = upper_x - lower_x                   # the step actually taken, after rounding
        gradient = (upper - lower) / width                           # eq. (1)
        kink_signal = 2 * (upper - 2 * center + lower) / width       # eq. (7)
        noise = 8 * rounding / width                                 # eq. (10): noise is no kink
    return np.asarray(gradient), np.where(np.abs(kink_signal) > noise, kink_signal, 0.0)


def _rounding_of_loss(R, y):
    """A bound on the rounding error of L = Σ R ⊙ y in float64: ε · (1 + log₂ n) · Σ|R ⊙ y|, eq. (10).

    R and y may be structures of arrays (a recurrent layer's (output, h_n)): n and the sum run over all.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        terms = [np.abs(np.multiply(r, part, dtype=np.float64)) for (_, r), (_, part) in zip(leaves(R), leaves(y))]
        size, total = sum(np.size(term) for term in terms), sum(float(np.sum(term)) for term in terms)
        return float(np.finfo(np.float64).eps * (1 + math.log2(max(size, 1))) * total)


def numerical_gradient(f, x, eps=EPS):
    """dF/dx of a scalar function F by central differences, step eps · max(1, |x_i|).

    ``x`` must be a finite float64 array; it is perturbed in place and
    restored.  Raises ValueError where F is not finite near x.
    Shape: x (*) -> gradient (*), float64.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError("numerical_gradient: expected a float64 numpy.ndarray x (differences in float32 are noise)")
    eps = _check_eps("numerical_gradient", eps)
    _check_differentiable("numerical_gradient", "x", x, eps)
    F = lambda values: float(f(values))             # noqa: E731
    gradient = _central_differences(F, x, eps, rounding=_rounding_of_loss(1.0, F(x)))[0]
    if not np.isfinite(gradient).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(gradient))[0])
        raise ValueError(f"numerical_gradient: F is not finite at x ± h at index {where} (the estimate there is "
                         f"{gradient[where]}); choose x where F is finite")
    return gradient


# -- what the check refuses -----------------------------------------------------

def _check_eps(owner, eps):
    """eps as a float, if it is a real number in [EPS_MIN, EPS_MAX]; else a clear error."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"{owner}: eps must be a real number, got {type(eps).__name__}")
    eps = float(eps)
    if not EPS_MIN <= eps <= EPS_MAX:          # also refuses NaN
        why = ("it is not a finite number" if not math.isfinite(eps) else
               "a step this small can vanish (x + h == x in float64), leaving 0/0" if eps < EPS_MIN else
               "a step this large is no derivative: its error h²·L'''/6 passes the tolerance, and smooth "
               "curvature would be excused as a kink")
        raise ValueError(f"{owner}: eps={eps:g} is outside [{EPS_MIN:.3g}, {EPS_MAX:g}]: {why} "
                         f"(derivations/gradcheck.md, section 6); use the default eps={EPS:g}")
    return eps


def _check_differentiable(owner, what, x, eps):
    """x holds finite floats that every step of eq. (3) moves and keeps finite."""
    if x.dtype.kind != "f":
        raise TypeError(f"{owner}: {what} must be a float array to be differentiated, got dtype {x.dtype} "
                        "(a step of 1e-6 cannot move an integer); convert it, e.g. x.astype(np.float64)")
    finite = np.isfinite(x)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{owner}: {what} holds {x[where]} at index {where}; finite differences need finite values")
    with np.errstate(over="ignore"):
        stepped = np.abs(x) + eps * np.maximum(1.0, np.abs(x))
    if not np.isfinite(stepped).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(stepped))[0])
        raise ValueError(f"{owner}: {what}[{where}] = {x[where]:g} is so large that x + h overflows to inf")


def _float64_input(owner, x, eps):
    """The array to differentiate, as a float64 copy (refused unless it holds finite floats)."""
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    _check_differentiable(owner, "the input", x, eps)
    return x.astype(np.float64)


def _refuse_integer_input(owner, name, x):
    """The TypeError for an integer array that backward nevertheless gave a gradient."""
    raise TypeError(f"{owner}: the {name} must be a float array to be differentiated, got dtype {x.dtype} "
                    "(a step of 1e-6 cannot move an integer); convert it, e.g. x.astype(np.float64)")


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
    """Σ R ⊙ y over every array of the structure: the scalar whose gradient backward(R) computes, eq. (5)."""
    return sum(float(np.sum(r * y_part)) for (_, r), (_, y_part) in zip(leaves(R), leaves(y)))


def input_names(module, count):
    """Names of forward's arguments for reports: 'input' first, then forward's own (e.g. 'hx')."""
    try:
        names = [name for name in inspect.signature(module.forward).parameters][1:count]
    except (TypeError, ValueError):
        names = []
    names += [f"input[{index}]" for index in range(len(names) + 1, count)]
    return ["input", *names]


def differentiated_inputs(owner, module, inputs, grads):
    """[(name, analytic gradient, input array)] for the float inputs, paired with what backward returned.

    ``grads`` is dL/dx for the first input, or a tuple pairing with forward's
    inputs one by one (a recurrent layer's (dL/dinput, dL/dhx)).  An integer
    input (token indices) has no gradient: backward returns None for it, and
    an integer input that backward does give a gradient is refused.
    """
    grads = grads if isinstance(grads, tuple) else (grads,)
    pairs = []
    for name, value, grad in zip(input_names(module, len(inputs)), inputs, grads):
        grad_leaves = dict(leaves(grad)) if grad is not None else {}
        for path, array in leaves(value):
            label = name + "".join(f"[{i}]" for i in path)
            if isinstance(array, np.ndarray) and array.dtype.kind == "f":
                pairs.append((label, grad_leaves.get(path), array))
            elif isinstance(array, np.ndarray) and grad_leaves.get(path) is not None:
                _refuse_integer_input(owner, label, array)
    return pairs


def random_upstream(rng, shape, avoid=()):
    """A random upstream gradient R ~ N(0, 1) of ``shape`` (eq. 5), never proportional to an array in ``avoid``.

    ``avoid`` holds the inputs: data drawn from the same seed as R would make
    R = x, and x.T @ R symmetric, which hides a transposed weight gradient.
    """
    generator = as_generator(rng)
    R = generator.standard_normal(shape)
    while R.size > 1 and any(_proportional(R, array) for array in avoid):
        R = generator.standard_normal(shape)
    return R


def _proportional(R, array):
    """Whether ``array`` (of R's shape, finite and not all zero) is a multiple of R, to 1e-9 in angle."""
    if not (isinstance(array, np.ndarray) and array.shape == R.shape and array.dtype.kind == "f"):
        return False
    array = array.astype(np.float64)
    norm = np.linalg.norm(array)
    return bool(np.isfinite(norm) and norm > 0
                and abs(np.vdot(R, array)) >= (1 - 1e-9) * np.linalg.norm(R) * norm)


def _upstream(owner, grad_output, output, rng, inputs):
    """A random R shaped like the output, or the caller's grad_output checked and cast to float64.

    A tuple output (a recurrent layer's (output, h_n)) gets R in the same structure, part by part.
    """
    if grad_output is None:
        generator, avoid = as_generator(rng), [array for _, array in leaves(list(inputs))]
        return map_structure(lambda part: random_upstream(generator, np.shape(part), avoid), output)
    R = _given_upstream(owner, grad_output, output)
    values = np.concatenate([np.ravel(part) for _, part in leaves(R)])
    if values.size > 1 and np.all(values == values[0]):
        warnings.warn(
            f"{owner}: the upstream gradient is uniform (e.g. all ones); it cancels the input "
            "gradient of softmax and batch norm and can hide bugs. Leave grad_output=None for a "
            "random one.", GradcheckWarning, stacklevel=3,
        )
    return R


def _given_upstream(owner, grad_output, output):
    """The caller's grad_output, checked against the output's structure and shapes, as float64."""
    if isinstance(output, tuple):
        if not (isinstance(grad_output, (tuple, list)) and len(grad_output) == len(output)):
            raise ValueError(f"{owner}: the output is a tuple of {len(output)} parts; give grad_output in the "
                             f"same structure, got {type(grad_output).__name__}")
        return tuple(_given_upstream(owner, part, out) for part, out in zip(grad_output, output))
    R = np.asarray(grad_output)
    if R.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: grad_output must hold real numbers, got dtype {R.dtype}")
    if R.shape != np.shape(output):
        raise ValueError(f"{owner}: grad_output has shape {R.shape}, the output {np.shape(output)}: give one "
                         "upstream value per output entry (a scalar would broadcast as a uniform R), or leave "
                         "grad_output=None for a random one")
    if not np.isfinite(R).all():
        raise ValueError(f"{owner}: grad_output holds NaN or inf; an upstream gradient must be finite")
    return R.astype(np.float64)


def _grad_copy(value):
    """What backward left as a gradient, copied (None and odd types as they are: the report names them)."""
    return value.copy() if isinstance(value, np.ndarray) else value


def _finish(report, raise_on_failure):
    advice = {"empty": "an empty array has no entry to compare",
              "all excluded": "every step crossed a kink; draw inputs at least KINK_MARGIN from it",
              "all ~0": f"both sides are within {report.atol:g} of 0 everywhere, where zeros pass too "
                        "(e.g. ReLU given only negative inputs, softmax over one class)"}
    for array in report.arrays:
        if array.vacuous:
            warnings.warn(f"gradcheck {report.label}: gradient {array.name!r} proves nothing: "
                          f"{advice[array.why_vacuous]}", GradcheckWarning, stacklevel=3)
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


# -- checking modules and losses ---------------------------------------------

def check_module(module, *inputs, grad_output=None, rng=0, eps=EPS, atol=ATOL, rtol=RTOL,
                 raise_on_failure=True):
    """Check ``module.backward`` (input gradients and every parameter's) against finite differences.

    Works on a float64 copy of ``module``.  Every float input is cast to
    float64 and differentiated where backward returns its gradient (the
    first input's, or one per input as a recurrent layer's (dL/dinput,
    dL/dhx)); integer inputs (token indices) are held fixed.  Tuple outputs
    get an upstream gradient of the same structure.  ``grad_output``
    defaults to a random R ~ N(0, 1) drawn from ``rng`` (a Generator or a
    seed; the default seed 0 makes the report the same on every run).
    Returns a GradcheckReport; raises GradcheckError with the report as a
    table on failure.
    """
    if not isinstance(module, Module):
        raise TypeError(f"check_module: expected a manualnet Module, got {type(module).__name__}")
    if not inputs:
        raise TypeError("check_module: give at least one input array")
    eps = _check_eps("check_module", eps)
    first = inputs[0] if isinstance(inputs[0], (np.ndarray, tuple)) else np.asarray(inputs[0])
    inputs = [as_float64(value) for value in (first, *inputs[1:])]
    for name, value in zip(input_names(module, len(inputs)), inputs):
        for path, array in leaves(value):
            if isinstance(array, np.ndarray) and array.dtype.kind == "f":
                label = "the " + name + "".join(f"[{i}]" for i in path)
                _check_differentiable("check_module", label, array, eps)
    probe = copy.deepcopy(module).astype(np.float64)
    for name, parameter in probe.named_parameters():
        _check_differentiable("check_module", f"parameter {name!r}", parameter.data, eps)
    output = probe(*inputs)                           # that forward also kept what backward needs
    R = _upstream("check_module", grad_output, output, rng, inputs)
    rounding = _rounding_of_loss(R, output)

    def loss_at(_):
        return inner_product(R, probe(*inputs))       # eq. (5); the inputs are perturbed in place

    probe.zero_grad()
    grads = probe.backward(map_structure(np.copy, R))   # a copy: a backward that changes its G cannot change L
    differentiated = differentiated_inputs("check_module", probe, inputs, map_structure(_grad_copy, grads))
    analytic = {name: _grad_copy(p.grad) for name, p in probe.named_parameters()}
    arrays = []
    for name, grad, x in differentiated:
        numeric, kinks = _central_differences(loss_at, x, eps, rounding)
        arrays.append(compare_arrays(name, grad, numeric, atol, rtol, kinks))
    for name, parameter in probe.named_parameters():
        numeric, kinks = _central_differences(loss_at, parameter.data, eps, rounding)
        arrays.append(compare_arrays(name, analytic[name], numeric, atol, rtol, kinks))
    return _finish(GradcheckReport(module.describe(), arrays, atol, rtol, eps=eps), raise_on_failure)


def check_loss(loss, input, target, grad_output=None, rng=0, eps=EPS, atol=ATOL, rtol=RTOL,
               raise_on_failure=True):
    """Check a loss's ``backward`` (dL/d input) against finite differences, in float64.

    ``input`` must be a float array; ``grad_output`` defaults to a random
    scalar (a random array for reduction='none') drawn from ``rng`` (default
    seed 0).  Returns a GradcheckReport; raises GradcheckError on failure.
    """
    if not isinstance(loss, Module):
        raise TypeError(f"check_loss: expected a manualnet loss Module, got {type(loss).__name__}")
    eps = _check_eps("check_loss", eps)
    input, target = _float64_input("check_loss", input, eps), as_float64(target)
    probe = copy.deepcopy(loss).astype(np.float64)
    output = probe(input, target)                     # that forward also kept what backward needs
    R = _upstream("check_loss", grad_output, output, rng, (input, target))
    analytic = probe.backward(R.copy() if R.ndim else float(R))
    rounding = _rounding_of_loss(R, output)
    numeric, kinks = _central_differences(lambda x: float(np.sum(R * probe(x, target))), input, eps, rounding)
    report = GradcheckReport(loss.describe(), [compare_arrays("input", analytic, numeric, atol, rtol, kinks)],
                             atol, rtol, eps=eps)
    return _finish(report, raise_on_failure)


def check_function(function, *inputs, rng=0, eps=EPS, atol=ATOL, rtol=RTOL, raise_on_failure=True):
    """Check autograd's gradients of ``function(*inputs)`` against central differences, in float64.

    Every floating-point array among ``inputs`` becomes a leaf Tensor that
    requires grad; anything else (labels, a mask) is passed as it is.  The
    output meets a random upstream gradient R drawn from ``rng``:
    ``output.backward(R)`` must give dL/d(input) for L = Σ R ⊙ output.
    Returns a GradcheckReport; raises GradcheckError on failure.  ``torch.autograd.gradcheck``'s
    job for ``manualnet.autograd``.
    """
    arrays = [value.astype(np.float64) if _differentiable(value) else value for value in inputs]
    leaves = [autograd.Tensor(value, requires_grad=True) if _differentiable(value) else value for value in arrays]
    output = function(*leaves)
    if not isinstance(output, autograd.Tensor) or not output.requires_grad:
        raise TypeError(f"check_function: expected the function to return a Tensor that requires grad, got {output!r}")
    R = random_upstream(rng, output.shape, avoid=arrays)         # never x itself (x.T @ x hides a transpose)
    output.backward(R)

    def loss_at(_):
        return np.sum(R * function(*(autograd.Tensor._wrap(v) if _differentiable(v) else v for v in arrays)).data)

    differentiated = [index for index, value in enumerate(arrays) if _differentiable(value)]
    reports = [
        compare_arrays("input" if len(differentiated) == 1 else f"input {index}", leaves[index].grad.data,
                       numerical_gradient(loss_at, arrays[index], eps), atol, rtol)
        for index in differentiated
    ]
    report = GradcheckReport(getattr(function, "__name__", "function"), reports, atol, rtol, eps)
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


def _differentiable(value):
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"
