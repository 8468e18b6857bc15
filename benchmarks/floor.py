"""The floor: a two-layer MLP trained with code written as tightly as NumPy allows.

No Module, no checks, no DataLoader: preallocated buffers, in-place updates,
the fused softmax-cross-entropy gradient and no gradient for the input.  It
is the fastest any NumPy implementation of the same epoch can hope to be, so
manualnet's time divided by this one is the price of its abstractions.  It
takes manualnet's choice of BLAS threads for each product and sets Adam's
subnormal moments to 0 as manualnet does: the same arithmetic, run tightly.
"""

import math

import numpy as np

from manualnet._threads import threads_for
from manualnet.optim.adam import Adam, flush_subnormals


class FloorMLP:
    """x (N, n_in) -> relu(x W1ᵀ + b1) W2ᵀ + b2, with SGD or Adam written out in place."""

    def __init__(self, n_in, n_hidden, n_out, optimizer, lr, rng, dtype=np.float32):
        bound1, bound2 = 1 / math.sqrt(n_in), 1 / math.sqrt(n_hidden)
        self.params = [
            rng.uniform(-bound1, bound1, (n_hidden, n_in)).astype(dtype),
            rng.uniform(-bound1, bound1, n_hidden).astype(dtype),
            rng.uniform(-bound2, bound2, (n_out, n_hidden)).astype(dtype),
            rng.uniform(-bound2, bound2, n_out).astype(dtype),
        ]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.optimizer, self.lr, self.step_count = optimizer, lr, 0
        if optimizer == "adam":
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
            self.scratch = [np.zeros_like(p) for p in self.params]
        self.buffers = {}

    def _buffers(self, batch):
        if batch not in self.buffers:
            w1, _, w2, _ = self.params
            hidden, classes = np.empty((batch, len(w1)), w1.dtype), np.empty((batch, len(w2)), w1.dtype)
            self.buffers[batch] = (hidden, classes, np.empty_like(hidden), np.arange(batch), np.zeros_like(hidden))
        return self.buffers[batch]

    def train_step(self, x, y):
        w1, b1, w2, b2 = self.params
        dw1, db1, dw2, db2 = self.grads
        h, z, dh, rows, zeros = self._buffers(len(x))
        threads_for(len(x) * w1.size)                     # the BLAS threads manualnet's Linear chooses
        np.matmul(x, w1.T, out=h)
        h += b1
        np.maximum(h, zeros, out=h)                       # an array of zeros: faster than the number 0
        threads_for(len(x) * w2.size)
        np.matmul(h, w2.T, out=z)
        z += b2
        z -= z.max(axis=1, keepdims=True)                 # z becomes dL/dz: softmax − onehot, over N
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        z[rows, y] -= 1
        z *= 1 / len(x)
        np.matmul(z.T, h, out=dw2)
        np.sum(z, axis=0, out=db2)
        np.matmul(z, w2, out=dh)
        np.multiply(dh, h > 0, out=dh)                    # ReLU backward (a boolean mask is slower)
        threads_for(len(x) * w1.size)
        np.matmul(dh.T, x, out=dw1)
        np.sum(dh, axis=0, out=db1)
        self._update()

    def _update(self):
        self.step_count += 1
        if self.optimizer == "sgd":
            for p, g in zip(self.params, self.grads):
                g *= self.lr
                p -= g
            return
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        correction1 = 1 - beta1 ** self.step_count
        root_correction2 = math.sqrt(1 - beta2 ** self.step_count)
        for p, g, m, v, tmp in zip(self.params, self.grads, self.m, self.v, self.scratch):
            m *= beta1
            np.multiply(g, 1 - beta1, out=tmp)
            m += tmp
            v *= beta2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - beta2
            v += tmp
            np.sqrt(v, out=tmp)                            # m̂/(√v̂ + ε) = c·m/(√v + ε·c2), c2 = √(1 − β2^t)
            tmp += eps * root_correction2
            np.divide(m, tmp, out=tmp)
            tmp *= self.lr * root_correction2 / correction1
            p -= tmp
            if self.step_count % Adam.flush_every == 0:    # the same flush as manualnet's Adam
                flush_subnormals(m, tmp)
                flush_subnormals(v, tmp)

    def predict(self, x):
        w1, b1, w2, b2 = self.params
        return (np.maximum(x @ w1.T + b1, 0) @ w2.T + b2).argmax(axis=1)


def floor_batches(x, y, batch_size, rng):
    """One shuffled epoch's batches: the same order of work as a DataLoader gives."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]
