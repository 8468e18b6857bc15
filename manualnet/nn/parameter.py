"""Parameter: an array a model learns, with the gradient that teaches it.

In PyTorch, ``nn.Parameter`` is a tensor with ``requires_grad=True`` whose
``.grad`` autograd fills in.  Here nothing is automatic: ``.data`` holds the
values, ``.grad`` holds dL/d(data) with the same shape and dtype, and each
layer's ``backward`` adds (``+=``) its contribution into ``.grad`` by hand.
Derivation of why gradients add up: derivations/backprop.md
"""

import numpy as np

from manualnet._checks import as_float_dtype


class Parameter:
    """A learnable array: ``.data`` (the values) and ``.grad`` (dL/d data, zeros at creation).

    Shape: ``.grad`` always has the shape and dtype of ``.data``.  PyTorch sets
    ``.grad`` to None until the first backward; we keep an array of zeros so its
    shape is always visible.
    """

    def __init__(self, data, dtype=None):
        values = np.array(data, dtype=dtype, copy=True)
        if dtype is None and values.dtype.kind in "iub":
            raise TypeError(
                f"Parameter: expected floating-point data (float32 or float64), got {values.dtype}; "
                "only floating-point values can have a gradient"
            )
        self.data = values.astype(as_float_dtype(values.dtype, "Parameter"), copy=False)
        self.grad = np.zeros_like(self.data)

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
        self.data = self.data.astype(dtype, copy=False)
        self.grad = self.grad.astype(dtype, copy=False)
        return self

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})\n{self.data!r}"
