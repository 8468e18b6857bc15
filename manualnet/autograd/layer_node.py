"""The node of an operation that has a manualnet layer: it runs THAT layer's forward and backward.

No derivative is written here: the manual chain (``model.backward(...)``) and
the recorded graph run the same lines, so they give the same numbers, bit for
bit (derivations/autograd.md, section "Why the nodes are the layers").
"""

from manualnet.nn._version_counter import node_input

from .engine import Node


class LayerNode(Node):
    """A recorded operation whose forward and backward are a manualnet layer's own.

    Inputs: the layer's input, then one tensor per Parameter in the order of
    ``layer.parameters()``.  forward points each Parameter's ``.data`` at its
    tensor's array and calls ``layer.forward``; backward starts the layer's
    ``.grad`` arrays from zero (the engine does the adding up across uses),
    calls ``layer.backward`` and returns dL/d(input) and those ``.grad``.
    """

    saved = ("layer",)

    def __init__(self, name, layer, *extra_forward_arguments):
        super().__init__()
        self.node_name, self.layer = name, layer
        self.extra_forward_arguments = extra_forward_arguments     # a loss's target, dropout's mask

    def forward(self, x, *parameter_arrays):
        layer = self.layer
        for parameter, array in zip(layer.parameters(), parameter_arrays):
            parameter.data = array
        # The engine checks x's version before backward, so the layer may keep x without a copy.
        node_input.array = x
        try:
            return layer.forward(x, *self.extra_forward_arguments)
        finally:
            node_input.array = None

    def describe(self):
        return f"{self.name()} ({self.layer.describe()})"

    def backward(self, grad_output):
        layer = self.layer
        for parameter in layer.parameters():
            parameter.zero_grad()
        grad_input = self._layer_backward(layer, grad_output)
        return (grad_input, *(parameter.grad for parameter in layer.parameters()))

    def _layer_backward(self, layer, grad_output):
        return layer.backward(grad_output, need_input_grad=self.needs_input_grad[0])


class LossNode(LayerNode):
    """A loss: ``backward(grad_output)`` takes dL/d(loss) and returns dL/d(input) (the target gets none)."""

    def _layer_backward(self, layer, grad_output):
        return layer.backward(grad_output)
