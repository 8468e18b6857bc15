"""Weight initialisation, in place, with PyTorch's fan and gain rules (``torch.nn.init``).

Every function takes a Parameter (or a float ndarray), overwrites its values in
place (counting the change, as every in-place update manualnet makes:
nn/_version_counter.py) and returns it.  Randomness comes only from the ``rng`` argument: a
``numpy.random.Generator``, an int seed, or None for fresh entropy.  Nothing
here touches a global seed.

Why the scales: a layer y = x Wᵀ with fan_in inputs of unit variance gives
Var(y) = fan_in · Var(W).  Kaiming (He et al., 2015) picks
Var(W) = gain² / fan so the variance survives a ReLU (gain √2); Xavier
(Glorot & Bengio, 2010) picks Var(W) = gain² · 2 / (fan_in + fan_out) to
balance the forward and the backward pass.
"""

import contextlib
import math
import threading
import warnings

import numpy as np

from manualnet._rng import as_generator
from manualnet.nn._version_counter import bump
from manualnet.nn.parameter import Parameter

# The names torch.nn.init.calculate_gain accepts (it has no "identity", though its docs list one).
_GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}
_CONV_NAMES = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


class _Drawing(threading.local):
    skipped = False         # True while nn.utils.skip_init builds a module: its values come from elsewhere


_drawing = _Drawing()


@contextlib.contextmanager
def values_skipped():
    """Inside, every fill below leaves its tensor as it is: ``nn.utils.skip_init``'s way of drawing nothing."""
    previous, _drawing.skipped = _drawing.skipped, True
    try:
        yield
    finally:
        _drawing.skipped = previous


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    linear/sigmoid/conv: 1; tanh: 5/3; relu: √2; selu: 3/4;
    leaky_relu with negative slope a (default 0.01): √(2 / (1 + a²)).
    """
    if nonlinearity in _GAINS:
        return _GAINS[nonlinearity]
    if nonlinearity in _CONV_NAMES:
        return 1.0
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _values(tensor, owner):
    """The float ndarray behind a Parameter or an ndarray, to be overwritten in place."""
    array = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise TypeError(f"init.{owner}: expected a Parameter or a float ndarray, got {type(tensor).__name__}")
    return array


def calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in·k and out·k, k = prod(kernel)."""
    shape = _values(tensor, "calculate_fan_in_and_fan_out").shape
    if len(shape) < 2:
        raise ValueError(
            f"init: fan in and fan out cannot be computed for a tensor of shape {shape} "
            "(fewer than 2 dimensions); use normal_, uniform_ or zeros_ for biases"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan(tensor, mode):
    """fan_in or fan_out; the mode's case does not matter, as in PyTorch."""
    if not isinstance(mode, str) or mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode.lower() == "fan_in" else fan_out


def _is_empty(tensor, owner):
    """A zero-element tensor has no fan to scale by: PyTorch warns and leaves it alone."""
    if _values(tensor, owner).size:
        return False
    warnings.warn(f"init.{owner}: initializing a zero-element tensor is a no-op", stacklevel=3)
    return True


def uniform_(tensor, a=0.0, b=1.0, rng=None):
    """Fill with values drawn from U(a, b)."""
    array = _values(tensor, "uniform_")
    if _drawing.skipped:
        return tensor
    if not a <= b:
        raise ValueError(f"init.uniform_: expected a <= b for the range [a, b), got a={a!r}, b={b!r}")
    array[...] = as_generator(rng).uniform(a, b, size=array.shape)
    bump(array)
    return tensor


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    """Fill with values drawn from N(mean, std²)."""
    array = _values(tensor, "normal_")
    if _drawing.skipped:
        return tensor
    if not std >= 0:
        raise ValueError(f"init.normal_: expected std >= 0, got {std!r}")
    array[...] = as_generator(rng).normal(mean, std, size=array.shape)
    bump(array)
    return tensor


def constant_(tensor, val):
    """Fill with ``val``."""
    array = _values(tensor, "constant_")
    if not _drawing.skipped:
        array[...] = val
        bump(array)
    return tensor


def zeros_(tensor):
    """Fill with 0 (the study notes' bias init)."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0, rng=None):
    """U(−a, a) with a = gain · √(6 / (fan_in + fan_out)), i.e. std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    """N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """U(−bound, bound) with bound = gain · √(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    if _is_empty(tensor, "kaiming_uniform_"):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """N(0, std²) with std = gain / √fan, gain = calculate_gain(nonlinearity, a) (√2 for a = 0)."""
    if _is_empty(tensor, "kaiming_normal_"):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, rng)
