"""The study notes' two models, made correct and batch-first, and a small CNN.

``LogisticRegression`` is the notes' hand-written model (forward, sigmoid,
backward(x, yhat, y), optimize) with its bugs fixed; ``MLP`` is the notes'
``MultiLayerPerceptronClass`` with ``init_param()``, so their code ports line
for line.  ``CNN`` is where the notes point next: a LeNet-style network of
convolution and pooling layers for 28×28 (MNIST) and 8×8 (digits) images.
"""

import numbers

import numpy as np

from . import functional as F
from . import init
from ._checks import (
    check_dtype_matches, check_float_array, check_learning_rate, check_plain_ndarray, check_shape, name_of,
)
from .activations import ReLU
from .batchnorm import BatchNorm2d
from .conv import Conv2d
from .layers import Flatten, Linear, Sequential
from .module import Module
from .parameter import Parameter, as_float_dtype
from .pooling import MaxPool2d
from .recurrent import LSTM
from .rng import as_generator


class LogisticRegression(Module):
    """ŷ = σ(x w + b), trained on the mean binary cross-entropy.  Derivation: derivations/logistic_regression.md

    Shape: x (N, dim) -> ŷ (N,) probabilities; w (dim,), b () — one row per
    sample, where the notes put samples in columns (``w.T @ x``).

    A whole model, loss included: ``backward(x, yhat, y)`` OVERWRITES each
    parameter's ``.grad`` with the full gradient of the mean BCE, as the notes'
    model does, and ``optimize()`` steps with the model's own ``lr``.  The
    notes' bugs, fixed: ``super(LR, self)`` named a class that does not exist;
    ``(1/x.shape[1])(torch.sum(...))`` called a float; ``self.w = self.w - ...``
    rebound the name instead of updating in place; and its forward
    ``z = torch.mm(self.w.T, x)`` never added ``b``, so b was trained but
    never used (here z = x w + b).
    """

    def __init__(self, dim, lr=0.01, dtype=np.float32):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"LogisticRegression: expected dim to be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.lr = check_learning_rate("LogisticRegression", lr)
        dtype = as_float_dtype(dtype, "LogisticRegression")
        self.w = Parameter(np.zeros(self.dim, dtype=dtype))
        self.b = Parameter(np.zeros((), dtype=dtype))

    def forward(self, x):
        self._check_x(x)
        z = x @ self.w.data + self.b.data            # eq. (1)
        return self.sigmoid(z)                       # eq. (2)

    def sigmoid(self, z):
        """σ(z) = 1 / (1 + e^{−z}), without overflow for large |z|."""
        return F.sigmoid(z)

    def loss(self, yhat, y):
        """Mean binary cross-entropy −(1/N) Σ [y log ŷ + (1 − y) log(1 − ŷ)], logs clamped at −100."""
        y = self._check_targets(yhat, y)
        return np.mean(F.binary_cross_entropy(yhat, y))   # eq. (3)

    def backward(self, x, yhat, y):
        """Store dL/dw = xᵀ(ŷ − y)/N and dL/db = mean(ŷ − y) in ``w.grad`` and ``b.grad``."""
        self._check_x(x)
        y = self._check_targets(yhat, y)
        if len(yhat) != len(x):
            raise ValueError(f"{self.describe()}: x has {len(x)} rows but yhat has {len(yhat)}")
        residual = yhat - y                          # eq. (4): dL/dz = (ŷ − y) / N
        self.w.grad[...] = x.T @ residual / len(x)   # eq. (5)
        self.b.grad[...] = residual.mean()           # eq. (6)

    def optimize(self, lr=None):
        """w -= lr · dL/dw and b -= lr · dL/db, in place, with the model's own lr by default."""
        super().optimize(self.lr if lr is None else lr)

    def predict(self, x, threshold=0.5):
        """Class labels (int64): 1 where ŷ >= threshold, else 0."""
        return (self.forward(x) >= threshold).astype(np.int64)

    def _check_x(self, x):
        check_float_array(self, x, "x")
        check_shape(self, x, (None, self.dim), "x")
        check_dtype_matches(self, x, self.w.dtype, "x")

    def _check_targets(self, yhat, y):
        check_float_array(self, yhat, "yhat")
        check_shape(self, yhat, (None,), "yhat")
        check_plain_ndarray(self, y, "y")
        if y.dtype.kind not in "fiub":
            raise TypeError(f"{name_of(self)}: expected y to be a numeric array of 0/1 labels, got dtype {y.dtype}")
        check_shape(self, y, yhat.shape, "y", hint=" (the shape of yhat)")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{name_of(self)}: expected labels y in [0, 1], got values from {y.min()} to {y.max()}")
        return y.astype(yhat.dtype, copy=False)

    def extra_repr(self):
        return f"dim={self.dim}, lr={self.lr}"


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


# -- convolutional networks (issue 14) ------------------------------------------------

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


# -- sequences (issue 16): an image read row by row --------------------------------------

class LSTMClassifier(Module):
    """logits = fc(h_T): an LSTM reads each sample as a sequence, a Linear classifies its last state.  Derivation: derivations/lstm.md

    Shape: x (N, T, input_size), or (N, T·input_size) flat rows (an MNIST
    image of 784 pixels is 28 steps of 28) -> logits (N, num_classes).
    Children ``lstm`` (an LSTM, batch_first) and ``fc`` (Linear(hidden_size,
    num_classes)): state-dict keys ``lstm.weight_ih_l0`` … ``fc.bias``, each
    with PyTorch's default init.  Only h_T of the last layer reaches the
    loss, so backward hands the LSTM (None, dL/dh_n): no gradient at the
    earlier outputs.
    """

    def __init__(self, input_size=28, hidden_size=128, num_classes=10, num_layers=1, rng=None, dtype=np.float32):
        super().__init__()
        rng = as_generator(rng)
        self.input_size, self.hidden_size, self.num_classes = input_size, hidden_size, num_classes
        self.lstm = LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True, rng=rng, dtype=dtype)
        self.fc = Linear(hidden_size, num_classes, rng=rng, dtype=dtype)

    saved_for_backward = ("input_shape",)

    def forward(self, x):
        self.input_shape = x.shape                   # kept for backward: flat rows come back flat
        sequences = x.reshape(len(x), -1, self.input_size) if x.ndim == 2 else x
        _, (h_n, _) = self.lstm(sequences)
        return self.fc(h_n[-1])

    def backward(self, grad_output, need_input_grad=True):
        """Through fc, then through time: the LSTM receives dL/dh_n of its last layer only."""
        input_shape = self.input_shape
        d_last = self.fc.backward(grad_output)
        dh_n = np.zeros((self.lstm.num_layers,) + d_last.shape, d_last.dtype)
        dh_n[-1] = d_last
        dx, _ = self.lstm.backward((None, (dh_n, None)), need_input_grad=need_input_grad)
        return None if dx is None else dx.reshape(input_shape)

    def extra_repr(self):
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, num_classes={self.num_classes}"
