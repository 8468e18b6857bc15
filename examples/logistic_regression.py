"""The study notes' 002: a logistic regression with its own forward, backward and optimize.

    python examples/logistic_regression.py              # tell 3s from 8s, 100 steps
    python examples/logistic_regression.py --epochs 20 --samples 100

The notes' ``LogisticRegression(nn.Module)`` writes the gradient by hand
instead of calling autograd — the pattern every manualnet layer follows.
``manualnet.LogisticRegression`` is that class made to run:

    notes (PyTorch, samples in columns)          manualnet (samples in rows)
    super(LR, self).__init__()                   super().__init__()   (LR was never defined)
    z = torch.mm(self.w.T, x)                    z = x @ w + b        (the notes forgot + b)
    a = self.sigmoid(z)                          ŷ = σ(z), without overflow for large |z|
    dw = (1/x.shape[1])*torch.mm(x, (yhat-y).T)  dw = xᵀ(ŷ − y) / N
    db = (1/x.shape[1])(torch.sum(yhat-y))       db = mean(ŷ − y)     (the notes called a float)
    self.w = self.w - self.lr*self.grads["dw"]   w.data -= lr · w.grad, in place

Derivation of the gradient: derivations/logistic_regression.md
"""

import argparse

import numpy as np

import manualnet as mn
from manualnet.datasets import load_digits


def threes_and_eights(x, y):
    """Keep the 3s and 8s (a pair that looks alike); label 8 as 1 and 3 as 0."""
    keep = (y == 3) | (y == 8)
    return x[keep], (y[keep] == 8).astype(np.float32)


def accuracy(model, x, y):
    return float(np.mean(model.predict(x) == y))


def main(argv=None):
    """Train and return {"loss": [...], "train_accr": [...], "test_accr": [...]}, one entry per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="full-batch gradient steps")
    parser.add_argument("--samples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_digits()
    x_train, y_train = threes_and_eights(x_train[:args.samples], y_train[:args.samples])
    x_test, y_test = threes_and_eights(x_test, y_test)

    model = mn.LogisticRegression(dim=x_train.shape[1], lr=args.lr)   # w = 0, b = 0, as in the notes
    history = {"loss": [], "train_accr": [], "test_accr": []}
    for epoch in range(args.epochs):
        yhat = model(x_train)                  # forward: ŷ = σ(x w + b)
        loss = model.loss(yhat, y_train)       # mean binary cross-entropy
        model.backward(x_train, yhat, y_train)   # the hand-written gradient, into w.grad and b.grad
        model.optimize()                       # w -= lr · dw, b -= lr · db
        for key, value in zip(history, (float(loss), accuracy(model, x_train, y_train),
                                        accuracy(model, x_test, y_test))):
            history[key].append(value)
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            print("epoch:[%d] loss:[%.3f] train_accr:[%.3f] test_accr:[%.3f]." %
                  (epoch, loss, history["train_accr"][-1], history["test_accr"][-1]))
    return history


if __name__ == "__main__":
    main()
