"""Flatten: dims start_dim..end_dim reshaped into one, as ``torch/nn/modules/flatten.py``.

Derivation: derivations/flatten.md
"""

import math

from manualnet._checks import check_float_array, check_shape

from .module import Module


class Flatten(Module):
    """Reshape dims start_dim..end_dim into one: (N, 28, 28) -> (N, 784).  Derivation: derivations/flatten.md

    Shape: x (N, *dims) -> y (N, prod(dims)) with the defaults start_dim=1, end_dim=-1.
    Backward only reshapes G back to x's shape: flattening moves no values.
    """

    saved_for_backward = ("input_shape",)

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        check_float_array(self, x)
        self.input_shape = x.shape                   # kept for backward: where G goes back to
        return x.reshape(self._flat_shape(x.shape))  # eq. (1)

    def backward(self, grad_output, need_input_grad=True):
        """Reshape G back to the input's shape (eq. 2); None if no input gradient is needed."""
        input_shape = self.input_shape
        check_float_array(self, grad_output, "grad_output")
        check_shape(self, grad_output, self._flat_shape(input_shape), "grad_output")
        if not need_input_grad:
            return None
        return grad_output.reshape(input_shape)      # eq. (2)

    def _flat_shape(self, shape):
        """The shape with dims start_dim..end_dim multiplied into one (size known even for 0-size inputs)."""
        ndim = max(len(shape), 1)                    # a 0-d input flattens as one dimension: () -> (1,), as in PyTorch
        start = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= start <= end < ndim):
            raise ValueError(
                f"{self.describe()}: cannot flatten dims {self.start_dim}..{self.end_dim} "
                f"of an input with {len(shape)} dimension(s)"
            )
        return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
