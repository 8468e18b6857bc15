"""An LSTM that reads an image row by row, and a Linear that classifies its last state."""


import numpy as np

from manualnet._rng import as_generator
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.module import Module
from manualnet.nn.modules.rnn import LSTM


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
