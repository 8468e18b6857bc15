"""A LeNet-style CNN of the convolution and pooling layers, for 28×28 (MNIST) and 8×8 (digits) images."""


import numpy as np

from manualnet._rng import as_generator
from manualnet.nn.modules.activation import ReLU
from manualnet.nn.modules.batchnorm import BatchNorm2d
from manualnet.nn.modules.container import Sequential
from manualnet.nn.modules.conv import Conv2d
from manualnet.nn.modules.flatten import Flatten
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.module import Module
from manualnet.nn.modules.pooling import MaxPool2d


class CNN(Module):
    """A small LeNet-style network: logits = classifier(features(x)).  Derivation: derivations/backprop.md

    features: two blocks of Conv2d(3 × 3, padding 1, no bias) → BatchNorm2d →
    ReLU → MaxPool2d(2), with ``channels`` (16, 32) filters; each block halves
    the image side (the batch norm's β does the bias's job).
    classifier: Flatten → Linear(32 · (s/4)², ``hidden``) → ReLU → Linear(hidden, num_classes).
    Shape: x (N, in_channels, s, s) -> logits (N, num_classes), s = ``image_size``
    (28 for MNIST, 8 for the digits).  Parameters start at PyTorch's default
    init; ``rng`` (Generator or int seed) makes them reproducible.
    backward is the chain rule through classifier, then features.
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=28, channels=(16, 32), hidden=128, rng=None,
                 dtype=np.float32):
        super().__init__()
        rng = as_generator(rng)
        self.in_channels, self.num_classes, self.image_size = in_channels, num_classes, image_size
        self.channels, self.hidden = tuple(channels), hidden
        first, second = self.channels
        self.features = Sequential(
            Conv2d(in_channels, first, 3, padding=1, bias=False, dtype=dtype, rng=rng), BatchNorm2d(first, dtype=dtype),
            ReLU(), MaxPool2d(2),
            Conv2d(first, second, 3, padding=1, bias=False, dtype=dtype, rng=rng), BatchNorm2d(second, dtype=dtype),
            ReLU(), MaxPool2d(2),
        )
        side = image_size // 4                    # two poolings, each ⌊side / 2⌋
        self.classifier = Sequential(Flatten(), Linear(second * side * side, hidden, rng=rng, dtype=dtype), ReLU(),
                                     Linear(hidden, num_classes, rng=rng, dtype=dtype))

    def forward(self, x):
        return self.classifier(self.features(x))

    def backward(self, grad_output, need_input_grad=True):
        """The chain rule through classifier, then features; returns dL/dx (or None)."""
        grad = self.classifier.backward(grad_output)
        return self.features.backward(grad, need_input_grad=need_input_grad)

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, image_size={self.image_size}, "
                f"channels={self.channels}, hidden={self.hidden}")
