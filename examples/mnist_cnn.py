"""PyTorch's classic MNIST example (pytorch/examples, mnist/main.py), ported to manualnet.

    python examples/mnist_cnn.py --data-dir DIR          # real MNIST: the four IDX files in DIR
    python examples/mnist_cnn.py --dataset digits --epochs 3

Put it beside the original; the lines match one for one, except:

* no autograd, so ``Net`` has a ``backward``: forward's steps in reverse, and
  ``loss.backward()`` becomes ``model.backward(criterion.backward())``;
* ``F.relu``, ``F.max_pool2d``, ``torch.flatten`` and ``F.log_softmax`` become
  layers (``ReLU``, ``MaxPool2d``, ``Flatten``, ``LogSoftmax``): a layer keeps
  what its backward needs (ReLU its mask, max pooling where each maximum was);
  ``manualnet.nn.functional`` has the stateless forms, but nothing would remember
  them for the backward pass;
* the original trains with ``optim.Adadelta(lr=1.0)``, which manualnet does not
  have; this port uses ``Adam(lr=1e-3)`` and keeps the schedule: StepLR with
  step 1 multiplies the learning rate by ``gamma`` after every epoch, which is
  one line here;
* ``transforms.Normalize((0.1307,), (0.3081,))`` is the same arithmetic on the
  arrays; ``torch.no_grad()`` has nothing to turn off;
* ``--dataset digits`` runs the same network on scikit-learn's 8×8 digits (no
  download; ``fc1`` shrinks to fit), which is how tests/test_examples.py runs it.

Its 3×3 convolutions with 32 and 64 channels on 28×28 images are heavy for
NumPy: an epoch of MNIST takes minutes.  ``manualnet.models.CNN`` is the lighter
network ``python -m manualnet train --model cnn`` uses.
"""

import argparse

import numpy as np

import manualnet as mn
from manualnet.utils.data import DataLoader, TensorDataset

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081      # transforms.Normalize((0.1307,), (0.3081,))


class Net(mn.Module):
    def __init__(self, image_size=28, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.conv1 = mn.Conv2d(1, 32, 3, 1, rng=rng)
        self.relu1 = mn.ReLU()
        self.conv2 = mn.Conv2d(32, 64, 3, 1, rng=rng)
        self.relu2 = mn.ReLU()
        self.max_pool = mn.MaxPool2d(2)
        self.dropout1 = mn.Dropout(0.25, rng=rng)
        self.flatten = mn.Flatten(1)
        side = (image_size - 4) // 2                 # two 3×3 convolutions, then 2×2 pooling: 28 -> 12
        self.fc1 = mn.Linear(64 * side * side, 128, rng=rng)   # 9216 for MNIST, as in the original
        self.relu3 = mn.ReLU()
        self.dropout2 = mn.Dropout(0.5, rng=rng)
        self.fc2 = mn.Linear(128, 10, rng=rng)
        self.log_softmax = mn.LogSoftmax(dim=1)

    def forward(self, x):
        x = self.conv1(x)
        x = self.relu1(x)
        x = self.conv2(x)
        x = self.relu2(x)
        x = self.max_pool(x)
        x = self.dropout1(x)
        x = self.flatten(x)
        x = self.fc1(x)
        x = self.relu3(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = self.log_softmax(x)
        return output

    def backward(self, grad_output, need_input_grad=False):
        """What autograd does for the original: forward's steps in reverse, each layer's own backward."""
        grad = self.log_softmax.backward(grad_output)
        grad = self.fc2.backward(grad)
        grad = self.dropout2.backward(grad)
        grad = self.relu3.backward(grad)
        grad = self.fc1.backward(grad)
        grad = self.flatten.backward(grad)
        grad = self.dropout1.backward(grad)
        grad = self.max_pool.backward(grad)
        grad = self.relu2.backward(grad)
        grad = self.conv2.backward(grad)
        grad = self.relu1.backward(grad)
        return self.conv1.backward(grad, need_input_grad=need_input_grad)   # the images need no gradient


def train(args, model, train_loader, criterion, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        model.backward(criterion.backward())         # loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), float(loss)))
            if args.dry_run:
                break


def test(model, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    criterion = mn.NLLLoss(reduction='sum')
    for data, target in test_loader:
        output = model(data)
        test_loss += float(criterion(output, target))  # sum up batch loss
        pred = output.argmax(axis=1)                    # get the index of the max log-probability
        correct += int((pred == target).sum())

    test_loss /= len(test_loader.dataset)

    print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct / len(test_loader.dataset)


def load(args):
    """(train, test) datasets of normalised (N, 1, s, s) float32 images and int64 labels."""
    if args.dataset == 'mnist':
        (x_train, y_train), (x_test, y_test) = mn.datasets.load_mnist(args.data_dir)
        mean, std = MNIST_MEAN, MNIST_STD
    else:
        (x_train, y_train), (x_test, y_test) = mn.datasets.load_digits()
        mean, std = x_train.mean(), x_train.std()
    side = int(round(np.sqrt(x_train.shape[1])))
    x_train, y_train = x_train[:args.samples], y_train[:args.samples]

    def images(x):
        return ((x - mean) / std).astype(np.float32).reshape(-1, 1, side, side)

    return TensorDataset(images(x_train), y_train), TensorDataset(images(x_test), y_test), side


def main(argv=None):
    # Training settings
    parser = argparse.ArgumentParser(description='manualnet MNIST Example (PyTorch\'s, ported)')
    parser.add_argument('--batch-size', type=int, default=64, metavar='N',
                        help='input batch size for training (default: 64)')
    parser.add_argument('--test-batch-size', type=int, default=1000, metavar='N',
                        help='input batch size for testing (default: 1000)')
    parser.add_argument('--epochs', type=int, default=14, metavar='N',
                        help='number of epochs to train (default: 14)')
    parser.add_argument('--lr', type=float, default=1e-3, metavar='LR',
                        help='learning rate (default: 1e-3, for Adam; the original: 1.0 for Adadelta)')
    parser.add_argument('--gamma', type=float, default=0.7, metavar='M',
                        help='Learning rate step gamma (default: 0.7)')
    parser.add_argument('--dry-run', action='store_true', default=False,
                        help='quickly check a single pass')
    parser.add_argument('--seed', type=int, default=1, metavar='S',
                        help='random seed (default: 1)')
    parser.add_argument('--log-interval', type=int, default=10, metavar='N',
                        help='how many batches to wait before logging training status')
    parser.add_argument('--save-model', action='store_true', default=False,
                        help='For Saving the current Model')
    parser.add_argument('--dataset', choices=('mnist', 'digits'), default='mnist',
                        help='mnist (default; needs --data-dir) or digits (8x8, no download)')
    parser.add_argument('--data-dir', default='../data', metavar='DIR',
                        help='folder with the four MNIST IDX files (default: ../data, as the original)')
    parser.add_argument('--samples', type=int, default=None, metavar='N',
                        help='train on the first N samples only (default: all)')
    args = parser.parse_args(argv)

    train_set, test_set, side = load(args)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=args.test_batch_size)

    model = Net(side, rng=args.seed)
    criterion = mn.NLLLoss()                          # F.nll_loss
    optimizer = mn.optim.Adam(model.parameters(), lr=args.lr)

    history = {"test_loss": [], "test_accuracy": []}
    for epoch in range(1, args.epochs + 1):
        train(args, model, train_loader, criterion, optimizer, epoch)
        test_loss, accuracy = test(model, test_loader)
        history["test_loss"].append(test_loss)
        history["test_accuracy"].append(accuracy)
        for group in optimizer.param_groups:          # scheduler.step(): StepLR(step_size=1, gamma)
            group["lr"] *= args.gamma

    if args.save_model:
        mn.save(model, "mnist_cnn.npz")
    return history


if __name__ == '__main__':
    main()
