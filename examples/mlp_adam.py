"""The study notes' 004: an MLP with init_param(), trained with Adam, scored with func_eval.

    python examples/mlp_adam.py              # 10 epochs on the 8x8 digits
    python examples/mlp_adam.py --epochs 3 --samples 300

Put it beside the notes' PyTorch code; the lines match one for one, except:

* no autograd, so the model has a ``backward``: the chain rule through
  lin_2, relu, lin_1 in reverse, and ``loss_out.backward()`` becomes
  ``M.backward(loss.backward())`` — the loss hands dL/dlogits to the model;
* ``F.relu`` becomes a ``ReLU`` layer, because its backward needs the mask of
  the input it saw;
* the digits have 8x8 = 64 pixels, so xdim=64 instead of 784, and the loaders
  already give flat rows (the notes reshape with ``view(-1, 28*28)``);
* ``torch.no_grad()`` has nothing to turn off: nothing is recorded.

The notes' class has one home in manualnet: ``manualnet.models.MLP`` writes
it out, lin_1, relu, lin_2 and ``init_param()`` line for line, with the
``backward`` that autograd computes in the notes; it is imported here under
the notes' name.  The notes' PyTorch class itself is
``manualnet.interop.notes_mlp_class()``.
"""

import argparse

import manualnet as mn
from manualnet.utils.data import DataLoader, TensorDataset
from manualnet.datasets import load_digits
from manualnet.models import MLP as MultiLayerPerceptronClass


def func_eval(model, data_iter):
    """The notes' func_eval: accuracy with the model in eval mode, then back to train mode."""
    model.eval()  # evaluate (affects DropOut and BN)
    n_total, n_correct = 0, 0
    for batch_in, batch_out in data_iter:
        y_trgt = batch_out
        model_pred = model(batch_in)
        y_pred = model_pred.argmax(axis=1)
        n_correct += (y_pred == y_trgt).sum().item()
        n_total += batch_in.shape[0]
    val_accr = (n_correct / n_total)
    model.train()  # back to train mode
    return val_accr


def main(argv=None):
    """Train and return {"loss": [...], "train_accr": [...], "test_accr": [...]}, one entry per epoch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_digits()
    x_train, y_train = x_train[:args.samples], y_train[:args.samples]
    BATCH_SIZE = 64
    train_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH_SIZE, shuffle=True, rng=args.seed)
    test_iter = DataLoader(TensorDataset(x_test, y_test), batch_size=BATCH_SIZE, shuffle=False)

    M = MultiLayerPerceptronClass(name='mlp', xdim=64, hdim=256, ydim=10, rng=args.seed)
    loss = mn.CrossEntropyLoss()
    optm = mn.optim.Adam(M.parameters(), lr=1e-3)

    print("Start training.")
    M.init_param(rng=args.seed)  # initialize parameters
    M.train()
    EPOCHS, print_every = args.epochs, 1
    history = {"loss": [], "train_accr": [], "test_accr": []}
    for epoch in range(EPOCHS):
        loss_val_sum = 0
        for batch_in, batch_out in train_iter:
            # Forward path
            y_pred = M.forward(batch_in)
            loss_out = loss(y_pred, batch_out)
            # Update
            optm.zero_grad()      # reset gradient
            M.backward(loss.backward(), need_input_grad=False)   # backpropagate (loss_out.backward())
            optm.step()      # optimizer update
            loss_val_sum += loss_out
        loss_val_avg = loss_val_sum / len(train_iter)
        train_accr = func_eval(M, train_iter)
        test_accr = func_eval(M, test_iter)
        for key, value in zip(history, (float(loss_val_avg), train_accr, test_accr)):
            history[key].append(value)
        # Print
        if ((epoch % print_every) == 0) or (epoch == (EPOCHS - 1)):
            print("epoch:[%d] loss:[%.3f] train_accr:[%.3f] test_accr:[%.3f]." %
                  (epoch, loss_val_avg, train_accr, test_accr))
    print("Done")
    return history


if __name__ == "__main__":
    main()
