"""Parameter: an array a model learns, with the gradient that teaches it.

In PyTorch, ``nn.Parameter`` is a tensor with ``requires_grad=True`` whose
``.grad`` autograd fills in.  Here nothing is automatic: ``.data`` holds the
values, ``.grad`` holds dL/d(data) with the same shape and dtype, and each
layer's ``backward`` adds (``+=``) its contribution into ``.grad`` by hand.
Derivation of why gradients add up: derivations/backprop.md
"""

import numpy as np

from manualnet._checks import as_float_dtype
from manualnet.nn._version_counter import bump, counts, memory_of, version


class Parameter:
    """A learnable array: ``.data`` (the values) and ``.grad`` (dL/d data, zeros at creation).

    Shape: ``.grad`` always has the shape and dtype of ``.data``.  PyTorch sets
    ``.grad`` to None until the first backward; we keep an array of zeros so its
    shape is always visible.

    ``_version`` counts the changes made to the values since the Parameter
    was made (nn/_version_counter.py): an in-place update manualnet makes
    (an optimizer step, ``load_state_dict``, an init) and every assignment
    to ``.data`` — ``p.data -= lr * p.grad`` assigns the array back after
    NumPy changed it, ``p.data = new_values`` replaces it.  A layer whose
    backward reads a Parameter checks it is at the version forward saw.
    """

    def __init__(self, data, dtype=None):
        values = np.array(data, dtype=dtype, copy=True)
        if dtype is None and values.dtype.kind in "iub":
            raise TypeError(
                f"Parameter: expected floating-point data (float32 or float64), got {values.dtype}; "
                "only floating-point values can have a gradient"
            )
        self._data = values.astype(as_float_dtype(values.dtype, "Parameter"), copy=False)
        self._memory = memory_of(self._data)
        self._version_offset = 0          # the versions counted before .data was last replaced
        self.grad = np.zeros_like(self._data)

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, values):
        if values is self._data:          # `p.data -= step`: NumPy changed the array in place, Python assigns it back
            bump(values)
        else:                             # new values: the version moves on from where the old array's was
            self._version_offset = self._version + 1 - version(values)
            self._data, self._memory = values, memory_of(values)

    @property
    def _version(self):
        return self._version_offset + counts.get(self._memory, 0)

    def __setstate__(self, state):
        """copy.deepcopy: the copy's ``.data`` is memory of its own, with a count of its own."""
        self.__dict__.update(state)
        self._memory = memory_of(self._data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def zero_grad(self):
        """Set ``.grad`` to zeros in place (the array object stays the same)."""
        self.grad.fill(0)

    def astype(self, dtype):
        """Convert ``.data`` and ``.grad`` to float32 or float64 in place; return self."""
        dtype = as_float_dtype(dtype, "Parameter.astype")
        if dtype != self.dtype:
            self.data = self.data.astype(dtype)
        self.grad = self.grad.astype(dtype, copy=False)
        return self

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})\n{self.data!r}"
