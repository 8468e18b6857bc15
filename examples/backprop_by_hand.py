"""Backprop by hand, checked line by line: the notes' MLP, its forward step by step, its backward by hand.

    python examples/backprop_by_hand.py              # against manualnet.autograd, and PyTorch if installed
    python examples/backprop_by_hand.py --torch no

Andrej Karpathy's makemore exercise ("becoming a backprop ninja") on the
study notes' network (004): the forward is written one operation per line
with manualnet.autograd tensors, every intermediate keeps its gradient
(``retain_grad()``), ``loss.backward()`` fills them, and then the backward
is written again BY HAND, in NumPy, one line per forward line in reverse.
``cmp`` prints, for each line, whether the hand-computed gradient equals
autograd's exactly, approximately (np.allclose), and the largest difference.
With PyTorch installed the same forward runs in torch too, and every line
is checked against PyTorch's ``retain_grad()`` values: there "exact: False,
approximate: True, maxdiff: 1e-17" is the same math with the additions done
in another order by PyTorch's kernels.
"""

import argparse

import numpy as np

import manualnet as mn
from manualnet.autograd import Tensor, cmp
from manualnet.datasets import load_digits


def forward(x, y, W1, b1, W2, b2):
    """The notes' MLP and loss, one operation per line; returns the loss and the intermediates."""
    n = len(y)
    h_pre = x @ W1.T + b1                       # (N, H)  lin_1: derivations/linear.md eq. (1)
    h = h_pre.relu()                            # (N, H)  relu.md
    logits = h @ W2.T + b2                      # (N, C)  lin_2
    logprobs = logits.log_softmax(dim=1)        # (N, C)  softmax.md, LogSoftmax
    loss = -logprobs[range(n), y].mean()        # ()      nll.md: the mean of −log p(correct class)
    return loss, {"logprobs": logprobs, "logits": logits, "h": h, "h_pre": h_pre}


def backward_by_hand(x, y, W1, W2, h_pre, h, logits):
    """The backward pass in NumPy, each line the derivative of one forward line (in reverse)."""
    n = len(y)
    d = {}
    d["logprobs"] = np.zeros((n, logits.shape[1]))
    d["logprobs"][np.arange(n), y] = -1.0 / n                       # loss = −mean of the picked entries
    p = mn.nn.functional.softmax(logits, dim=1)                       # what LogSoftmax's forward keeps
    d["logits"] = d["logprobs"] - p * d["logprobs"].sum(axis=1, keepdims=True)     # softmax.md (6)
    d["b2"] = d["logits"].sum(axis=0)                               # b2 broadcast over the batch: sum
    d["W2"] = d["logits"].T @ h                                     # linear.md (3)
    d["h"] = d["logits"] @ W2                                       # linear.md (2)
    d["h_pre"] = d["h"] * (h_pre > 0)                               # relu.md: the mask of the positives
    d["b1"] = d["h_pre"].sum(axis=0)
    d["W1"] = d["h_pre"].T @ x
    return d


def check_against(title, by_hand, tensors):
    print(title)
    return [cmp(name, by_hand[name], tensors[name]) for name in by_hand]


def main(argv=None):
    """Run the check; return {"autograd": [Comparison, ...], "torch": [...] or None}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch", choices=("auto", "no"), default="auto",
                        help="also check against PyTorch when it is installed (default), or not")
    args = parser.parse_args(argv)

    (x_train, y_train), _ = load_digits()
    x, y = x_train[:args.batch_size].astype(np.float64), y_train[:args.batch_size]
    model = mn.MLP(xdim=64, hdim=256, ydim=10, rng=args.seed, dtype=np.float64)   # Kaiming weights, zero biases
    model.lin_1.bias.data[...] = np.random.default_rng(args.seed).normal(0, 0.1, 256)   # nonzero biases hide less
    W1, b1, W2, b2 = (Tensor(p.data, requires_grad=True) for p in model.parameters())   # copies of its weights

    loss, steps = forward(x, y, W1, b1, W2, b2)
    for tensor in steps.values():
        tensor.retain_grad()
    loss.backward()
    print(f"loss = {loss.item():.6f}")
    by_hand = backward_by_hand(x, y, W1.data, W2.data, steps["h_pre"].data, steps["h"].data, steps["logits"].data)
    tensors = {**steps, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    results = {"autograd": check_against("backward by hand against manualnet.autograd:", by_hand, tensors),
               "torch": None}

    if args.torch == "auto":
        try:
            import torch
        except ImportError:
            print("(PyTorch is not installed: pip install torch==2.13.0 to check against it too)")
            return results
        leaves = [torch.tensor(t.data, requires_grad=True) for t in (W1, b1, W2, b2)]
        h_pre = torch.from_numpy(x) @ leaves[0].T + leaves[1]
        h = h_pre.relu()
        logits = h @ leaves[2].T + leaves[3]
        logprobs = logits.log_softmax(dim=1)
        torch_loss = -logprobs[range(len(y)), torch.from_numpy(y)].mean()
        torch_steps = {"logprobs": logprobs, "logits": logits, "h": h, "h_pre": h_pre}
        for tensor in torch_steps.values():
            tensor.retain_grad()
        torch_loss.backward()
        print(f"PyTorch's loss = {torch_loss.item():.6f}")
        torch_tensors = {**torch_steps, **dict(zip(("W1", "b1", "W2", "b2"), leaves))}
        results["torch"] = check_against("backward by hand against PyTorch:", by_hand, torch_tensors)
    return results


if __name__ == "__main__":
    main()
