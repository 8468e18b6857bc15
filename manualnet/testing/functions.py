"""FunctionModule: a pair of plain functions (CS231n style) seen as a Module.

Many courses write a layer as two functions instead of a class:

    out, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)

``FunctionModule(affine_forward, affine_backward, {"w": w, "b": b})`` holds
the arrays as Parameters and follows the Module contract (backward adds into
``.grad`` and returns dL/dx), so ``compare_modules`` and
``manualnet.gradcheck.check_module`` work on it unchanged.
"""

import numpy as np

from manualnet.nn.modules.module import Module
from manualnet.nn.parameter import Parameter


class FunctionModule(Module):
    """forward(x, *params) -> (y, cache) and backward(dy, cache) -> (dx, *dparams), as a Module.

    Shape: whatever the two functions take and give.  ``params`` maps names
    to arrays (copied into Parameters, in order); a function pair without
    parameters may return dx alone from backward.
    """

    saved_for_backward = ("cache",)

    def __init__(self, forward, backward, params=None):
        super().__init__()
        self.forward_function = forward
        self.backward_function = backward
        for name, values in dict(params or {}).items():
            setattr(self, name, Parameter(values))

    def forward(self, *inputs):
        y, cache = self.forward_function(*inputs, *(p.data for p in self._parameters.values()))
        self.cache = cache                           # kept for backward, whatever the function returned
        return y

    def backward(self, grad_output, need_input_grad=True):
        """Call the backward function; add each dparam into its Parameter's .grad; return dx."""
        grads = self.backward_function(grad_output, self.cache)
        if not isinstance(grads, tuple):
            grads = (grads,)
        parameters = list(self._parameters.items())
        if len(grads) != 1 + len(parameters):
            raise ValueError(
                f"{self.describe()}: backward returned {len(grads)} array(s); expected dx and one gradient "
                f"per parameter ({', '.join(name for name, _ in parameters) or 'none'}), {1 + len(parameters)} in all"
            )
        dx, *dparams = grads
        for (name, parameter), dparam in zip(parameters, dparams):
            dparam = np.asarray(dparam)
            if dparam.shape != parameter.shape:
                transposed = " (its transpose: a transposed gradient?)" if dparam.shape == parameter.shape[::-1] else ""
                raise ValueError(f"{self.describe()}: backward returned d{name} of shape {dparam.shape} for "
                                 f"parameter {name!r} of shape {parameter.shape}{transposed}")
            parameter.grad += dparam
        return dx if need_input_grad else None

    def extra_repr(self):
        return f"{self.forward_function.__name__}, {self.backward_function.__name__}"
