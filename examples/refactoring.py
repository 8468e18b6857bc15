"""The study notes' 003: PyTorch's "What is torch.nn really?", one refactoring at a time.

    python examples/refactoring.py                     # every step, 2 epochs each
    python examples/refactoring.py --step 3 --epochs 5 --samples 500

The tutorial trains a logistic regression on MNIST, first with raw tensors,
then swaps in one piece of torch.nn at a time.  Here the digits (64 pixels)
stand in for MNIST and NumPy arrays for tensors:

    step 1  raw arrays: the model, the loss and the gradient written out by hand
    step 2  functional: CrossEntropyLoss gives the loss and its gradient dL/dz
    step 3  Module: Parameters registered on a class, zero_grad(), parameters()
    step 4  Linear: the layer holds the weights (as (out, in): y = x Wᵀ + b)
    step 5  optim: SGD does the update, step() and zero_grad()
    step 6  Dataset: TensorDataset slices x and y together
    step 7  DataLoader: batches come out of a loop
    step 8  the tutorial's final code: validation, shuffling, fit(), get_data()

Steps 1 to 7 start from the same weights and see the same batches, so they
end with the same weights: each refactoring changes how the code reads, not
what it computes.  Step 8 shuffles, so its numbers differ.
"""

import argparse
import math

import numpy as np

import manualnet as mn
from manualnet.nn import functional as F
from manualnet.utils.data import DataLoader, TensorDataset
from manualnet.datasets import load_digits

LR = 0.5          # the tutorial's learning rate and batch size
BS = 64
STEPS = {}        # step number -> (what it adds, function)


def step(number, title):
    def register(function):
        STEPS[number] = (title, function)
        return function
    return register


def initial_weights(rng, n_in=64, n_out=10):
    """The tutorial's Xavier start: weights ~ N(0, 1/n_in) in its (in, out) layout, bias 0."""
    weights = (rng.standard_normal((n_in, n_out)) / math.sqrt(n_in)).astype(np.float32)
    return weights, np.zeros(n_out, dtype=np.float32)


@step(1, "raw arrays")
def raw_arrays(x_train, y_train, weights, bias, epochs):
    weights, bias = weights.copy(), bias.copy()
    n = len(x_train)

    def model(xb):
        return F.log_softmax(xb @ weights + bias)

    def nll(input, target):
        return -input[np.arange(target.shape[0]), target].mean()

    loss_func = nll
    for epoch in range(epochs):
        for i in range((n - 1) // BS + 1):
            start_i = i * BS
            end_i = start_i + BS
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)
            # loss.backward(), by hand: dL/dz = (softmax(z) − onehot(y)) / N, then the chain rule
            grad_z = np.exp(pred)
            grad_z[np.arange(len(yb)), yb] -= 1
            grad_z /= len(yb)
            weights_grad = xb.T @ grad_z
            bias_grad = grad_z.sum(axis=0)
            weights -= weights_grad * LR          # in place, as under torch.no_grad()
            bias -= bias_grad * LR
    return weights, bias


@step(2, "functional: CrossEntropyLoss")
def functional(x_train, y_train, weights, bias, epochs):
    weights, bias = weights.copy(), bias.copy()
    n = len(x_train)
    loss_func = mn.CrossEntropyLoss()             # F.cross_entropy: log_softmax and nll in one

    def model(xb):
        return xb @ weights + bias

    for epoch in range(epochs):
        for i in range((n - 1) // BS + 1):
            start_i = i * BS
            end_i = start_i + BS
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)
            grad_z = loss_func.backward()         # dL/dz, no longer written out
            weights -= xb.T @ grad_z * LR
            bias -= grad_z.sum(axis=0) * LR
    return weights, bias


class MnistLogistic(mn.Module):
    """Step 3's model: Parameters on a Module, and the backward autograd would give."""

    def __init__(self, weights, bias):
        super().__init__()
        self.weights = mn.Parameter(weights)
        self.bias = mn.Parameter(bias)

    def forward(self, xb):
        self.xb = xb
        return xb @ self.weights.data + self.bias.data

    def backward(self, grad_output, need_input_grad=False):
        self.weights.grad += self.xb.T @ grad_output
        self.bias.grad += grad_output.sum(axis=0)


@step(3, "Module and Parameter")
def module(x_train, y_train, weights, bias, epochs):
    n = len(x_train)
    loss_func = mn.CrossEntropyLoss()
    model = MnistLogistic(weights, bias)

    def fit():
        for epoch in range(epochs):
            for i in range((n - 1) // BS + 1):
                start_i = i * BS
                end_i = start_i + BS
                xb = x_train[start_i:end_i]
                yb = y_train[start_i:end_i]
                pred = model(xb)
                loss = loss_func(pred, yb)
                model.backward(loss_func.backward())
                for p in model.parameters():
                    p.data -= p.grad * LR
                model.zero_grad()

    fit()
    return model.weights.data, model.bias.data


class MnistLinear(mn.Module):
    """Step 4's model: Linear holds weight (10, 64) and bias, and knows its own backward."""

    def __init__(self, weights, bias):
        super().__init__()
        self.lin = mn.Linear(64, 10)
        self.lin.weight.data[...] = weights.T     # the tutorial's (in, out) start in Linear's (out, in)
        self.lin.bias.data[...] = bias

    def forward(self, xb):
        return self.lin(xb)

    def backward(self, grad_output, need_input_grad=False):
        return self.lin.backward(grad_output, need_input_grad=need_input_grad)


def linear_weights(model):
    """Back to the tutorial's (in, out) layout, to compare with steps 1 to 3."""
    return model.lin.weight.data.T, model.lin.bias.data


@step(4, "Linear")
def linear(x_train, y_train, weights, bias, epochs):
    n = len(x_train)
    loss_func = mn.CrossEntropyLoss()
    model = MnistLinear(weights, bias)
    for epoch in range(epochs):
        for i in range((n - 1) // BS + 1):
            start_i = i * BS
            end_i = start_i + BS
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)
            model.backward(loss_func.backward())
            for p in model.parameters():
                p.data -= p.grad * LR
            model.zero_grad()
    return linear_weights(model)


@step(5, "optim")
def optim(x_train, y_train, weights, bias, epochs):
    n = len(x_train)
    loss_func = mn.CrossEntropyLoss()
    model = MnistLinear(weights, bias)
    opt = mn.optim.SGD(model.parameters(), lr=LR)
    for epoch in range(epochs):
        for i in range((n - 1) // BS + 1):
            start_i = i * BS
            end_i = start_i + BS
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)
            model.backward(loss_func.backward())
            opt.step()
            opt.zero_grad()
    return linear_weights(model)


@step(6, "Dataset")
def dataset(x_train, y_train, weights, bias, epochs):
    n = len(x_train)
    loss_func = mn.CrossEntropyLoss()
    model = MnistLinear(weights, bias)
    opt = mn.optim.SGD(model.parameters(), lr=LR)
    train_ds = TensorDataset(x_train, y_train)
    for epoch in range(epochs):
        for i in range((n - 1) // BS + 1):
            xb, yb = train_ds[i * BS: i * BS + BS]
            pred = model(xb)
            loss = loss_func(pred, yb)
            model.backward(loss_func.backward())
            opt.step()
            opt.zero_grad()
    return linear_weights(model)


@step(7, "DataLoader")
def dataloader(x_train, y_train, weights, bias, epochs):
    loss_func = mn.CrossEntropyLoss()
    model = MnistLinear(weights, bias)
    opt = mn.optim.SGD(model.parameters(), lr=LR)
    train_ds = TensorDataset(x_train, y_train)
    train_dl = DataLoader(train_ds, batch_size=BS)
    for epoch in range(epochs):
        for xb, yb in train_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)
            model.backward(loss_func.backward())
            opt.step()
            opt.zero_grad()
    return linear_weights(model)


# -- step 8: the tutorial's final code ---------------------------------------------

def get_data(train_ds, valid_ds, bs, seed):
    return (
        DataLoader(train_ds, batch_size=bs, shuffle=True, rng=seed),
        DataLoader(valid_ds, batch_size=bs * 2),
    )


def get_model(weights, bias):
    model = MnistLinear(weights, bias)
    return model, mn.optim.SGD(model.parameters(), lr=LR)


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)
    if opt is not None:
        model.backward(loss_func.backward())      # loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)
        model.eval()                               # no torch.no_grad(): nothing is recorded anyway
        losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
        print("  ", epoch, round(float(val_loss), 4))


@step(8, "the final code: validation and shuffling")
def final(x_train, y_train, weights, bias, epochs, x_valid=None, y_valid=None, seed=0):
    train_ds = TensorDataset(x_train, y_train)
    valid_ds = TensorDataset(x_valid, y_valid)
    train_dl, valid_dl = get_data(train_ds, valid_ds, BS, seed)
    model, opt = get_model(weights, bias)
    fit(epochs, model, mn.CrossEntropyLoss(), opt, train_dl, valid_dl)
    return linear_weights(model)


# -- running the steps -----------------------------------------------------------

def evaluate(weights, bias, x, y):
    """(mean cross-entropy, accuracy) of the logistic regression (weights (in, out), bias) on x, y."""
    logits = x @ weights + bias
    return float(mn.CrossEntropyLoss()(logits, y)), float(np.mean(logits.argmax(axis=1) == y))


def main(argv=None):
    """Run the chosen steps; return {step: (weights, bias, loss, accuracy)} with loss and accuracy on the test set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, choices=sorted(STEPS), help="run only this step (default: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (x_train, y_train), (x_valid, y_valid) = load_digits()
    x_train, y_train = x_train[:args.samples], y_train[:args.samples]
    weights, bias = initial_weights(np.random.default_rng(args.seed))
    loss, accuracy = evaluate(weights, bias, x_valid, y_valid)
    print(f"before training: test loss {loss:.4f}, accuracy {accuracy:.3f}")

    results = {}
    for number in [args.step] if args.step else sorted(STEPS):
        title, run = STEPS[number]
        print(f"step {number}, {title}:")
        extra = {"x_valid": x_valid, "y_valid": y_valid, "seed": args.seed} if number == 8 else {}
        trained_weights, trained_bias = run(x_train, y_train, weights, bias, args.epochs, **extra)
        loss, accuracy = evaluate(trained_weights, trained_bias, x_valid, y_valid)
        print(f"   test loss {loss:.4f}, accuracy {accuracy:.3f}")
        results[number] = (trained_weights, trained_bias, loss, accuracy)
    return results


if __name__ == "__main__":
    main()
