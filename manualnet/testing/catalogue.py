"""Every operation in the package checked against finite differences, for ``python -m manualnet gradcheck``.

The operations and their samples are ``manualnet.registry``'s: one row per
public layer, checked on its plain sample and on each sample with PyTorch's
options (named in the row), in float64, with random (never all-zero or
all-one) parameters.  Inputs of ReLU-like operations keep ``KINK_MARGIN``
away from the kink at 0, so no finite-difference step crosses it.  Below
them, the primitive operations of ``manualnet.autograd``, each checked by
``check_function``.
"""

from dataclasses import dataclass

import numpy as np

from manualnet.models import LogisticRegression
from manualnet.nn.modules.loss import _Loss
from manualnet.registry import ENTRIES
from manualnet.testing.gradcheck import check_function, check_loss, check_module, numerical_gradient
from manualnet.testing.reports import GradcheckReport, compare_arrays


@dataclass
class CheckResult:
    """One row of the table: the operation, the worst relative errors, and the verdict."""

    operation: str
    input_error: float | None       # max relative error of dL/d input (None: not checked)
    parameter_error: float | None   # max over the parameters' gradients (None: no parameters)
    passed: bool
    details: str                    # the full report, shown when the check fails


def check_sample(module, inputs, rng):
    """The gradient check of one registry sample: check_loss for a loss, the model's own loss for the notes'
    LogisticRegression (its backward(x, yhat, y) stores dL/dw and dL/db), check_module otherwise."""
    if isinstance(module, LogisticRegression):
        x, y = inputs
        module.backward(x, module(x), y)
        arrays = [compare_arrays(name, parameter.grad,
                                 numerical_gradient(lambda _: module.loss(module(x), y), parameter.data))
                  for name, parameter in module.named_parameters()]
        return GradcheckReport(module.describe(), arrays)
    check = check_loss if isinstance(module, _Loss) else check_module
    return check(module, *inputs, rng=rng, raise_on_failure=False)


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


def _check_entry(entry):
    """One row: the entry's plain sample and every sample with options, the worst of them."""
    def check(rng):
        results = []
        for make in entry.samples.values():
            module, inputs = make(rng)
            results.append(_summarise(check_sample(module, inputs, rng)))
        options = "; ".join(name for name in entry.samples if name)
        errors = lambda name: [getattr(r, name) for r in results if getattr(r, name) is not None]   # noqa: E731
        return CheckResult(
            operation=results[0].operation + (f"; also {options}" if options else ""),
            input_error=max(errors("input_error"), default=None),
            parameter_error=max(errors("parameter_error"), default=None),
            passed=all(result.passed for result in results),
            details="\n\n".join(result.details for result in results),
        )
    return check


CATALOGUE = {entry.layer: _check_entry(entry) for entry in ENTRIES}


def run_all(seed=0):
    """Run every catalogue check (each from its own seeded Generator); return the CheckResults in order."""
    return [check(np.random.default_rng([seed, index])) for index, check in enumerate(CATALOGUE.values())]


# -- manualnet.autograd: its primitive operations (the operations with a layer are checked through it above) --

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
    """Check every autograd primitive's backward with ``check_function``; return one CheckResult each."""
    results = []
    for index, (name, (function, specs)) in enumerate(AUTOGRAD_PRIMITIVES.items()):
        rng = np.random.default_rng([seed, index])
        result = _summarise(check_function(function, *autograd_inputs(specs, rng), rng=rng, raise_on_failure=False))
        result.operation = f"autograd {name}"
        results.append(result)
    return results
