"""The study notes' MultiLayerPerceptronClass, with ``init_param()``, so their code ports line for line.

Derivation: derivations/backprop.md
"""


import numpy as np

from manualnet._rng import as_generator
from manualnet.nn import init
from manualnet.nn.modules.activation import ReLU
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.module import Module


class MLP(Module):
    """The notes' multilayer perceptron: logits = lin_2(relu(lin_1(x))).  Derivation: derivations/backprop.md

    Shape: x (N, xdim) -> logits (N, ydim); lin_1.weight (hdim, xdim),
    lin_2.weight (ydim, hdim).  State-dict keys ``lin_1.weight``, ``lin_1.bias``,
    ``lin_2.weight``, ``lin_2.bias`` match the notes' PyTorch class, so
    weights move between the two.
    """

    def __init__(self, xdim=784, hdim=256, ydim=10, name="mlp", rng=None, dtype=np.float32):
        super().__init__()
        self.name = name
        self.xdim, self.hdim, self.ydim = xdim, hdim, ydim
        self.lin_1 = Linear(xdim, hdim, dtype=dtype)
        self.relu = ReLU()
        self.lin_2 = Linear(hdim, ydim, dtype=dtype)
        self.init_param(rng)

    def init_param(self, rng=None):
        """Kaiming-normal weights, zero biases, as the notes' ``init_param``."""
        rng = as_generator(rng)
        init.kaiming_normal_(self.lin_1.weight, rng=rng)
        init.zeros_(self.lin_1.bias)
        init.kaiming_normal_(self.lin_2.weight, rng=rng)
        init.zeros_(self.lin_2.bias)

    def forward(self, x):
        net = x
        net = self.lin_1(net)
        net = self.relu(net)
        net = self.lin_2(net)
        return net

    def backward(self, grad_output, need_input_grad=True):
        """The chain rule through lin_2, relu, lin_1 in reverse; returns dL/dx (or None)."""
        grad = self.lin_2.backward(grad_output)                             # eq. (7), k = 3
        grad = self.relu.backward(grad)                                     # eq. (7), k = 2
        return self.lin_1.backward(grad, need_input_grad=need_input_grad)  # eq. (7), k = 1

    def extra_repr(self):
        return f"xdim={self.xdim}, hdim={self.hdim}, ydim={self.ydim}"
