"""Seeing the graph, and comparing a gradient by hand with the one it gives.

``graph(loss)`` returns the recorded graph below a tensor; printed, it is a
tree of PyTorch's ``grad_fn`` names from the output down to the leaves, and
``to_dot()`` writes it as Graphviz DOT text.  ``cmp(name, manual, tensor)``
is Andrej Karpathy's makemore check: is a gradient you computed by hand
exactly, or only approximately, the one autograd put in ``tensor.grad``?
(``manualnet.testing.gradcheck.check_function`` checks the gradients autograd
computes for any function of tensors against central differences, as
``torch.autograd.gradcheck`` does.)

Derivation: derivations/autograd.md
"""

from collections import namedtuple

import numpy as np

from manualnet.models.mlp import MLP
from .engine import AccumulateGrad, topological_order
from .functional import linear, log_softmax, nll_loss, relu
from .parameter_tensor import ParameterTensor

Comparison = namedtuple("Comparison", ["name", "exact", "approximate", "maxdiff"])


def graph(tensor, params=None):
    """The graph recorded below ``tensor``; ``params`` ({name: Tensor}) names the leaves, as torchviz's make_dot."""
    return Graph(tensor, params)


def mlp_loss_graph(batch_size=64, seed=0):
    """The graph of the study notes' MLP loss: MLP(784, 256, 10) on a batch, nn.CrossEntropyLoss as PyTorch records it.

    CrossEntropyLoss is log-softmax then NLL, so the loss is written
    ``nll_loss(log_softmax(logits, dim=1), y)``: PyTorch's two nodes.  The
    leaves are named after the model's parameters (``python -m manualnet graph``).
    """
    model = MLP(xdim=784, hdim=256, ydim=10, rng=seed, dtype=np.float64)
    params = {name: ParameterTensor(p) for name, p in model.named_parameters()}
    W1, b1, W2, b2 = params.values()
    rng = np.random.default_rng(seed)
    x, y = rng.random((batch_size, 784)), rng.integers(0, 10, batch_size)
    loss = nll_loss(log_softmax(linear(relu(linear(x, W1, b1)), W2, b2), dim=1), y)
    return graph(loss, params)


class Graph:
    """The nodes backward would visit from ``tensor``, in that order (``nodes``), and how to show them.

    Printed: one line per node, its inputs indented below it; a node used
    twice is written out once and marked "(used again, see above)" after.
    The indentation grows with the depth, so the text of a graph thousands
    of operations deep is long (depth² characters): read ``nodes`` or
    ``to_dot()`` there.
    """

    def __init__(self, tensor, params=None):
        if not tensor.requires_grad:
            raise ValueError(f"graph: {tensor.describe()} does not require grad, so nothing was recorded for it")
        self.root = tensor._edge()
        self.nodes = topological_order(self.root)
        self.leaf_names = {id(leaf): name for name, leaf in (params or {}).items()}

    def label(self, node):
        """'AddmmBackward0 (4, 3)', or for a leaf 'AccumulateGrad lin_1.weight (8, 4)'."""
        shape = node.output_shape
        if isinstance(node, AccumulateGrad):
            name = self.leaf_names.get(id(node.variable))
            return f"AccumulateGrad {name} {shape}" if name else f"AccumulateGrad {shape}"
        return f"{node.name()} {shape}"

    def __str__(self):
        lines, shown = [], set()
        stack = [(self.root, "", "")]                  # (node, prefix of its line, prefix of its inputs' lines)
        while stack:                                   # depth first, without recursion
            node, line_prefix, child_prefix = stack.pop()
            if node in shown:
                lines.append(f"{line_prefix}{self.label(node)} (used again, see above)")
                continue
            shown.add(node)
            lines.append(line_prefix + self.label(node))
            children = [child for child, _ in node.next_functions if child is not None]
            for position in reversed(range(len(children))):
                last = position == len(children) - 1
                stack.append((children[position], child_prefix + ("└── " if last else "├── "),
                              child_prefix + ("    " if last else "│   ")))
        return "\n".join(lines)

    def to_dot(self):
        """The graph as Graphviz DOT text: ``dot -Tsvg`` draws it (arrows point the way forward ran)."""
        ids = {node: f"n{index}" for index, node in enumerate(self.nodes)}
        lines = ["digraph autograd {", '  node [shape=box, fontname="monospace"];']
        for node in self.nodes:
            style = ', style=filled, fillcolor="lightblue"' if isinstance(node, AccumulateGrad) else ""
            label = self.label(node).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'  {ids[node]} [label="{label}"{style}];')
        for node in self.nodes:
            for child, _ in node.next_functions:
                if child is not None:
                    lines.append(f"  {ids[child]} -> {ids[node]};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def cmp(name, manual, tensor):
    """Print and return how a hand-computed gradient compares with ``tensor.grad``.

    ``tensor`` is a manualnet.autograd Tensor or a torch tensor (call
    ``retain_grad()`` on a non-leaf before backward).  The line is
    makemore's: exact (every bit equal), approximate (``np.allclose``, with
    PyTorch's rtol=1e-5, atol=1e-8) and the largest absolute difference.
    """
    grad = tensor.grad
    if grad is None:
        raise ValueError(
            f"cmp: {name}.grad is None: call {name}.retain_grad() before backward (a tensor that is not a leaf "
            "keeps no .grad otherwise), or run backward first"
        )
    reference = np.asarray(grad.detach().numpy())
    manual = np.asarray(manual)
    if manual.shape != reference.shape:
        result = Comparison(name, False, False, float("inf"))
        print(f"{name:15s} | shapes differ: by hand {manual.shape}, autograd {reference.shape}")
        return result
    exact = bool(np.array_equal(manual, reference))
    approximate = bool(np.allclose(manual, reference, rtol=1e-5, atol=1e-8))
    maxdiff = float(np.max(np.abs(manual - reference), initial=0.0))
    print(f"{name:15s} | exact: {str(exact):5s} | approximate: {str(approximate):5s} | maxdiff: {maxdiff}")
    return Comparison(name, exact, approximate, maxdiff)
