"""Building a layer around arrays you already have: ``skip_init`` and ``from_arrays``.

A stateless call (``nn.functional.conv2d(x, weight)``), an autograd node and
the testing tools all need a layer whose parameters are given, not drawn.
This is the one way manualnet builds one: ``skip_init`` constructs the module
with every ``nn.init`` fill skipped (PyTorch's ``torch.nn.utils.skip_init``),
so no random values are drawn only to be thrown away, and ``from_arrays`` then
makes the given arrays its Parameters' ``.data`` — the arrays themselves, not
copies — after checking each one's shape and dtype.
"""

import numpy as np

from manualnet.nn.init import values_skipped


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` with no initial values drawn: its parameters hold whatever memory held."""
    with values_skipped():
        return module_cls(*args, **kwargs)


def from_arrays(module_cls, arrays, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` whose Parameters' ``.data`` are the arrays of ``arrays`` {name: array}.

    Every Parameter must be named, with an array of its shape and dtype
    (the constructor's arguments decide both: ``Linear(3, 2, dtype=...)``
    wants ``weight`` (2, 3)); the arrays are shared, so the layer reads
    later changes to them, and its ``.grad`` arrays start at zero.
    """
    module = skip_init(module_cls, *args, **kwargs)
    parameters = dict(module.named_parameters())
    owner = f"from_arrays({module.describe()})"
    if set(arrays) != set(parameters):
        raise ValueError(f"{owner}: expected arrays for {sorted(parameters)}, got {sorted(arrays)}")
    for name, array in arrays.items():
        parameter = parameters[name]
        if type(array) is not np.ndarray or array.shape != parameter.shape or array.dtype != parameter.dtype:
            raise ValueError(f"{owner}: expected {name} of shape {parameter.shape} and dtype {parameter.dtype}, "
                             f"got {type(array).__name__} {getattr(array, 'shape', '')} "
                             f"{getattr(array, 'dtype', '')}".rstrip())
        parameter.data = array
        parameter.grad = np.zeros_like(array)
    return module
