"""Input checks shared by every layer and loss.

Each check names its owner (the layer, e.g. ``Linear(in_features=784, out_features=256)``),
what it expected and what it got, so that a mistake is reported where it is
made and not as a broadcast error deep inside NumPy.
"""

import math
import numbers

import numpy as np

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype, owner="manualnet"):
    """Return ``dtype`` as a numpy dtype if it is float32 or float64, else raise TypeError."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: expected dtype float32 or float64, got {dtype!r}") from None
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{owner}: expected dtype float32 or float64, got {dtype}")
    return dtype


def name_of(owner):
    """The owner's name for a message: a string as is, a Module by ``describe()``.

    Checks take the module itself and name it only when they fail, so the
    hot path never formats a string.
    """
    return owner if isinstance(owner, str) else owner.describe()


def format_shape(shape):
    """Render a shape with ``None`` entries as letters: (None, 784) -> '(N, 784)'."""
    letters = iter("NMKL")
    parts = [next(letters) if size is None else str(size) for size in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def check_float_array(owner, x, name="input"):
    """Require a float32/float64 ndarray (not a subclass with other arithmetic) with only finite values."""
    if type(x) is not np.ndarray:
        check_plain_ndarray(owner, x, name)
    if x.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name_of(owner)}: expected {name} of dtype float32 or float64, got {x.dtype}; "
            f"convert it with {name}.astype(np.float32)"
        )
    check_finite(owner, x, name)


# np.matrix makes * a matrix product and ** a matrix power; a masked array
# ignores its masked entries.  A layer's arithmetic would silently mean
# something else, so such subclasses are refused (np.memmap is fine).
_ARITHMETIC = ("__add__", "__sub__", "__mul__", "__rmul__", "__imul__", "__truediv__", "__pow__",
               "__matmul__", "__rmatmul__")


def check_plain_ndarray(owner, x, name="input"):
    """Require an ndarray whose arithmetic operators are ndarray's own."""
    if type(x) is np.ndarray:
        return
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name_of(owner)}: expected {name} to be a numpy.ndarray, got {type(x).__name__}; "
            f"convert it with np.asarray({name}, dtype=np.float32)"
        )
    changed = [op for op in _ARITHMETIC if getattr(type(x), op) is not getattr(np.ndarray, op)]
    if changed:
        raise TypeError(
            f"{name_of(owner)}: expected {name} to be a plain numpy.ndarray, got {type(x).__module__}."
            f"{type(x).__name__}, whose operators {', '.join(changed)} differ from ndarray's "
            f"(np.matrix turns * into a matrix product); convert it with np.asarray({name})"
        )


def check_finite(owner, x, name="input"):
    """Require every entry to be finite; name the first NaN or inf.

    x·x is a cheap first test (one BLAS pass; a NaN or ±inf anywhere makes it
    non-finite).  Only when it is not finite — a bad entry, or squares that
    overflow — do we pay for the element-wise search.
    """
    if math.isfinite(np.vdot(x, x)):
        return
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{name_of(owner)}: {name} contains {len(bad)} non-finite value(s) (NaN or inf), "
            f"the first {x[where]} at index {where}; a NaN loss usually means the "
            "learning rate is too high or an input was not normalised"
        )


def check_ndim(owner, x, ndims, expected, name="input", hint=""):
    """Require ``x.ndim`` to be one of ``ndims``; ``expected`` describes the shape wanted."""
    if x.ndim not in ndims:
        raise ValueError(
            f"{name_of(owner)}: expected {name} of shape {expected}, got shape {x.shape} "
            f"({x.ndim}-D){hint}"
        )


def check_shape(owner, x, expected, name="input", hint=""):
    """Require ``x.shape`` to match ``expected``, where ``None`` matches any size."""
    fits = len(x.shape) == len(expected) and all(
        want is None or want == got for want, got in zip(expected, x.shape)
    )
    if not fits:
        raise ValueError(
            f"{name_of(owner)}: expected {name} of shape {format_shape(expected)}, "
            f"got shape {x.shape}{hint}"
        )


def check_dtype_matches(owner, x, dtype, name="input"):
    """Require ``x`` to have the dtype of the layer's parameters (no silent upcast)."""
    if x.dtype != dtype:
        raise TypeError(
            f"{name_of(owner)}: {name} has dtype {x.dtype} but the layer's parameters are {dtype}; "
            f"convert one of them (x.astype(np.{dtype}) or module.astype(np.{x.dtype}))"
        )


def check_grad_output(owner, grad_output, expected_shape, dtype):
    """Require the upstream gradient dL/dy to be a float array shaped like the forward output."""
    check_float_array(owner, grad_output, "grad_output")
    if grad_output.shape != tuple(expected_shape):
        raise ValueError(
            f"{name_of(owner)}: expected grad_output of shape {tuple(expected_shape)} "
            f"(the shape of forward's output), got {grad_output.shape}"
        )
    check_dtype_matches(owner, grad_output, dtype, "grad_output")


def check_learning_rate(owner, lr):
    """Require a finite, non-negative real learning rate."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr < 0:
        raise ValueError(f"{name_of(owner)}: expected a finite learning rate >= 0, got {lr!r}")
    return float(lr)


def check_real(owner, name, value):
    """Require a finite real number (not a bool); return it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name_of(owner)}: expected {name} to be a finite number, got {value!r}")
    return float(value)


def check_positive_int(owner, name, value):
    """Require a positive integer (a size such as in_features); return it as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name_of(owner)}: expected {name} to be a positive integer, got {value!r}")
    return int(value)


def as_state_array(owner, name, value):
    """A saved state value (a state dict's entry) as an array: NumPy's, a list's or a torch tensor's.

    A torch tensor that requires grad, a ragged list and anything NumPy cannot
    read are clear errors naming the key, not NumPy's or torch's.
    """
    if getattr(value, "requires_grad", False):
        raise ValueError(f"{name_of(owner)}: {name!r} is a torch tensor that requires grad; "
                         "a state dict holds no gradient: pass value.detach()")
    try:
        return np.asarray(value)
    except ValueError:
        raise ValueError(f"{name_of(owner)}: {name!r} is not a rectangular array of numbers "
                         "(nested lists of different lengths?)") from None
    except (TypeError, RuntimeError) as error:        # e.g. a tensor on a GPU
        raise ValueError(f"{name_of(owner)}: {name!r} cannot be read as a NumPy array ({error})") from None


# -- window arguments (convolution and pooling) ----------------------------------

def check_int_tuple(owner, name, value, length, minimum):
    """Require an int >= ``minimum`` or a tuple of ``length`` of them; return the tuple (3 -> (3, 3)).

    PyTorch's ``kernel_size=3`` and ``kernel_size=(3, 3)`` mean the same.
    """
    values = (value,) * length if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    if not (isinstance(values, (tuple, list)) and len(values) == length
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in values)):
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        plural = "" if length == 1 else f" or a tuple of {length} of them"
        raise ValueError(f"{name_of(owner)}: expected {name} to be {kind}{plural}, got {value!r}")
    return tuple(int(v) for v in values)


# -- PyTorch's device argument ------------------------------------------------

def check_device(owner, device):
    """Accept PyTorch's ``device=None`` or a CPU device; refuse any other by name (NumPy runs on the CPU)."""
    if device is None or str(device).split(":")[0] == "cpu":
        return
    raise ValueError(f"{name_of(owner)}: manualnet runs on the CPU with NumPy; there is no device {str(device)!r} "
                     "(leave device out, or pass device='cpu')")
