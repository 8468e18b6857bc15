"""The bug zoo's autograd mistake: the engine's classic one (the right walk: manualnet/autograd/engine.py)."""

import numpy as np


def recursive_backward_visiting_once(tensor):
    """``tensor.backward()`` as a recursive walk that runs each node when the FIRST path reaches it.

    The right engine runs a node only after every node that uses its output
    has sent its share, in topological order (eq. (31)), and adds the shares
    (eq. (32)).  This walk marks a node visited as soon as one consumer
    reaches it, runs it with that consumer's share alone and never comes
    back, so a value used twice gets the gradient of only one of its uses.

    Shows as: in the notes' z = x·(a x + b), x.grad = 7 (the direct use,
    ∂z/∂x with y held fixed) instead of 13; a graph in which every value is
    used once (a chain, a tree) comes out right, which is why the bug
    survives simple tests.  Being recursive, it also overflows Python's
    stack on a deep chain.

    The right walk: derivations/autograd.md.
    """
    visited = set()

    def visit(node, grad):
        visited.add(node)
        for (child, _), child_grad in zip(node.next_functions, node.backward(grad)):
            if child is not None and child_grad is not None and child not in visited:
                visit(child, child_grad)    # BUG: should wait for every consumer's share and add them, eq. (32)

    visit(tensor.grad_fn, np.ones(tensor.shape, dtype=tensor.dtype))
