"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_`` and ``clip_grad_value_``.

Backpropagation through time multiplies one Jacobian per step, so a
recurrent network's gradient can grow by orders of magnitude in one batch
(derivations/rnn.md, eq. (12)); one such step can throw the weights far
away.  Clipping bounds the step between ``backward`` and ``optimizer.step()``:

    model.backward(criterion.backward())
    mn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()

Both functions change every ``.grad`` in place, as PyTorch's do.
"""

import numbers
import types
import warnings

import numpy as np

from manualnet.nn.parameter import Parameter


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the norm of all of them as one vector.

    ‖g‖ = ‖(‖g_1‖_p, ‖g_2‖_p, …)‖_p: the p-norm (``norm_type``, 'inf' for
    the largest |entry|) of the per-parameter norms, which equals the
    p-norm of every gradient entry at once (rnn.md eq. (13)).  Returns ‖g‖
    before clipping, as a NumPy scalar of the gradients' dtype.  With
    ``error_if_nonfinite=True`` a NaN or infinite norm is a ValueError
    (PyTorch: RuntimeError) instead of NaN gradients.  ``foreach`` is
    accepted for PyTorch's signature; NumPy has a single implementation.
    A negative ``max_norm`` is refused: PyTorch would flip every
    gradient's sign.
    """
    parameters = _as_parameter_list("clip_grad_norm_", parameters)
    max_norm = _non_negative("clip_grad_norm_", "max_norm", max_norm)
    norm_type = _norm_type(norm_type)
    _check_foreach("clip_grad_norm_", foreach)
    grads = [parameter.grad for parameter in parameters]
    if not grads:
        return np.float32(0.0)
    norms = np.array([np.linalg.norm(grad.reshape(-1), ord=norm_type) for grad in grads], dtype=grads[0].dtype)
    total_norm = norms.dtype.type(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise ValueError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total_norm}, "
                         "so it cannot be clipped; set error_if_nonfinite=False to scale the gradients by it anyway")
    clip_coef = min(max_norm / (total_norm + 1e-6), 1.0)
    for grad in grads:
        grad *= grad.dtype.type(clip_coef)            # in place: the optimizer holds these arrays
    return total_norm


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clip every gradient entry into [−clip_value, clip_value], in place; return None."""
    parameters = _as_parameter_list("clip_grad_value_", parameters)
    clip_value = _non_negative("clip_grad_value_", "clip_value", clip_value)
    _check_foreach("clip_grad_value_", foreach)
    for parameter in parameters:
        np.clip(parameter.grad, -clip_value, clip_value, out=parameter.grad)


def _as_parameter_list(owner, parameters):
    if isinstance(parameters, Parameter):
        return [parameters]
    if hasattr(parameters, "named_parameters"):
        raise TypeError(f"{owner}: expected parameters, got the module {type(parameters).__name__}; "
                        "pass model.parameters()")
    is_generator = isinstance(parameters, types.GeneratorType)
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError(f"{owner}: expected a Parameter or an iterable of Parameters, "
                        f"got {type(parameters).__name__}") from None
    for parameter in parameters:
        if not isinstance(parameter, Parameter):
            raise TypeError(f"{owner}: expected Parameters (with a .grad array), got {type(parameter).__name__}")
    if is_generator and not parameters:
        warnings.warn(f"{owner}: `parameters` is an empty generator, no gradient clipping will occur.",
                      UserWarning, stacklevel=3)
    return parameters


def _non_negative(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{owner}: expected {name} to be a number >= 0, got {value!r}")
    return float(value)


def _norm_type(norm_type):
    try:
        return float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"clip_grad_norm_: expected norm_type to be a number or 'inf', got {norm_type!r}") from None


def _check_foreach(owner, foreach):
    if foreach not in (None, True, False):
        raise TypeError(f"{owner}: expected foreach to be None, True or False, got {foreach!r}")
