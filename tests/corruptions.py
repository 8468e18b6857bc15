"""Correct layers with one entry of one array replaced, and other backward passes no check may ever pass.

``corrupted_cases()`` draws a correct manualnet layer (or loss) whose backward
returns the right gradient except at one entry of one array (dL/dx, or a
parameter's .grad, or the forward output), which holds NaN, +inf, -inf or a
huge finite value.  The corrupted class subclasses the correct one, so
``compare_with_torch`` converts it as the layer it should be.
"""

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import manualnet as mn

from .strategies import random_array, seeds

NON_FINITE = (np.nan, np.inf, -np.inf)
huge = st.floats(1e6, 1e300).flatmap(lambda size: st.sampled_from([size, -size]))
values = st.sampled_from(NON_FINITE) | huge


class Corrupting:
    """Mixin: the parent's forward and backward, with ``self.corruption`` applied to what they give."""

    corruption = None           # a Corruption

    def forward(self, *inputs):
        return self._corrupt("output", super().forward(*inputs))

    def backward(self, grad_output, *args, **kwargs):
        input_grad = super().backward(grad_output, *args, **kwargs)
        for name, parameter in self.named_parameters():
            if name == self.corruption.array:
                parameter.grad[self.corruption.index] = self.corruption.value
        return self._corrupt("input", input_grad)

    def _corrupt(self, array_name, array):
        if self.corruption.array != array_name:
            return array
        array = np.array(array, copy=True)
        array[self.corruption.index] = self.corruption.value
        return array


class CorruptedLinear(Corrupting, mn.Linear):
    pass


class CorruptedTanh(Corrupting, mn.Tanh):
    pass


class CorruptedCrossEntropyLoss(Corrupting, mn.CrossEntropyLoss):
    pass


class CorruptedMSELoss(Corrupting, mn.MSELoss):
    pass


@dataclass
class Corruption:
    array: str        # "input" (dL/dx), "output", or a parameter's name
    index: tuple
    value: float

    @property
    def finite(self):
        return bool(np.isfinite(self.value))

    def kind(self):
        """How a report names the value: 'NaN', '+inf' or '-inf' (None for a finite one)."""
        return None if self.finite else "NaN" if np.isnan(self.value) else "+inf" if self.value > 0 else "-inf"


@dataclass
class Case:
    module: object     # the corrupted module (float64)
    reference: object  # the same layer, correct
    inputs: tuple
    corruption: Corruption

    @property
    def is_loss(self):
        return isinstance(self.reference, mn.losses._Loss)

    def __repr__(self):
        return f"Case({self.module.describe()}, {self.corruption})"


def _layer(kind, seed):
    """(corrupted, correct, inputs, {array name: shape}) for one kind of layer."""
    rng = np.random.default_rng(seed)
    x = random_array(seed, (3, 4))
    if kind == "linear":
        make = lambda cls: cls(4, 2, rng=seed, dtype=np.float64)               # noqa: E731
        shapes = {"input": (3, 4), "output": (3, 2), "weight": (2, 4), "bias": (2,)}
        return make(CorruptedLinear), make(mn.Linear), (x,), shapes
    if kind == "tanh":
        return CorruptedTanh(), mn.Tanh(), (x,), {"input": (3, 4), "output": (3, 4)}
    if kind == "cross_entropy":
        labels = rng.integers(0, 4, size=3)
        return CorruptedCrossEntropyLoss(), mn.CrossEntropyLoss(), (x, labels), {"input": (3, 4), "output": ()}
    target = random_array(seed + 1, (3, 4))
    return CorruptedMSELoss(reduction="none"), mn.MSELoss(reduction="none"), (x, target), {"input": (3, 4), "output": (3, 4)}


@st.composite
def corrupted_cases(draw, kinds=("linear", "tanh", "cross_entropy", "mse"), finite_output=True):
    """A Case: a layer of one of ``kinds`` corrupted at one entry of one of its arrays.

    ``finite_output=False`` keeps huge finite values out of the forward
    output: a constant added to one output entry leaves every derivative
    right, so only a comparison with a reference can see it.
    """
    module, reference, inputs, shapes = _layer(draw(st.sampled_from(kinds)), draw(seeds))
    array = draw(st.sampled_from(sorted(shapes)))
    value = draw(values if finite_output or array != "output" else st.sampled_from(NON_FINITE))
    index = tuple(draw(st.integers(0, side - 1)) for side in shapes[array])
    module.corruption = Corruption(array, index, value)
    return Case(module, reference, inputs, module.corruption)


# -- backward passes that return something other than a gradient array, or change what they are given --

class ZeroBackwardSoftmax(mn.Softmax):
    def backward(self, grad_output, need_input_grad=True):
        return np.zeros_like(grad_output)


class ReturnsNothing(mn.Tanh):
    def backward(self, grad_output, need_input_grad=True):
        super().backward(grad_output)


class ReturnsAScalar(mn.Tanh):
    """Σ of the right gradient: one number, which NumPy would broadcast against any array."""

    def backward(self, grad_output, need_input_grad=True):
        return super().backward(grad_output).sum()


class ReturnsObjects(mn.Tanh):
    def backward(self, grad_output, need_input_grad=True):
        return super().backward(grad_output).astype(object)


class ReturnsComplex(mn.Tanh):
    """The right real part: casting to float would drop the wrong imaginary part, and pass."""

    def backward(self, grad_output, need_input_grad=True):
        return super().backward(grad_output) + 1j


class BiasGradAsScalar(mn.Linear):
    def backward(self, grad_output, need_input_grad=True):
        dx = super().backward(grad_output)
        self.bias.grad = self.bias.grad.sum()
        return dx


class DoublesItsUpstreamInPlace(mn.Tanh):
    """Changes the caller's grad_output: the estimate was taken with the changed R, and agreed."""

    def backward(self, grad_output, need_input_grad=True):
        grad_output *= 2
        return super().backward(grad_output)


class ScalesItsInputInPlace(mn.Tanh):
    """tanh(2x), computed by doubling the caller's x in place, with tanh's gradient: wrong by a factor of 2,
    and a reference given the same (changed) x agreed."""

    def forward(self, x):
        x *= 2
        return super().forward(x)
