"""The engine behind ``loss.backward()``: recorded nodes, visited in topological order.

A ``Node`` is one recorded operation, PyTorch's ``grad_fn``: it keeps what
its backward needs and points at the nodes that made its inputs
(``next_functions``).  ``run_backward`` starts at the output with
dL/dL = 1 and calls every node's backward exactly once, after ALL the nodes
that use its output have handed it their share of the gradient — the
topological order of eq. (31) — adding the shares up, eq. (32).  The walk is
iterative, so a graph 10,000 operations deep needs no recursion.

Derivation: derivations/autograd.md
"""

import numpy as np

NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute "
    "won't be populated during autograd.backward(). If you indeed want the .grad field to be populated "
    "for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor."
)

FREED_GRAPH = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second "
    "time or if you need to access saved tensors after calling backward."
)


class Node:
    """One recorded operation: ``backward(G)`` turns dL/d(output) into dL/d(each input).

    ``next_functions`` holds one ``(node, 0)`` pair per input, PyTorch's
    layout: the node that made the input, an ``AccumulateGrad`` for a leaf
    that requires grad, or None for a constant.  ``saved`` names the
    attributes forward keeps for backward; after a backward without
    ``retain_graph=True`` they are freed, and reading one raises PyTorch's
    error.  A subclass defines ``forward(*arrays)`` and ``backward(G)``.
    """

    saved = ()
    node_name = None                  # set by a node whose PyTorch name depends on its case

    def __init__(self):
        self.next_functions = ()
        self.needs_input_grad = ()
        self.input_shapes = ()
        self.input_dtypes = ()
        self.output_shape = None
        self.retained = None          # the output Tensor, if it called retain_grad()
        self._input_versions = ()     # (tensor, its version when recorded), to catch in-place changes

    def name(self):
        """PyTorch's name for this node, e.g. 'MulBackward0'."""
        return self.node_name or type(self).__name__

    def describe(self):
        """The node for messages: its name (a layer's node adds the layer)."""
        return self.name()

    def forward(self, *arrays):
        raise NotImplementedError(f"{self.name()} does not define forward()")

    def backward(self, grad_output):
        """Return dL/d(input) for each input (None where ``needs_input_grad`` is False)."""
        raise NotImplementedError(f"{self.name()} does not define backward()")

    def release(self):
        """Free what forward kept (backward without retain_graph=True does this)."""
        for name in self.saved:
            self.__dict__.pop(name, None)
        self._input_versions = ()
        self._released = True

    def __getattr__(self, name):
        # Only reached when normal lookup fails: a saved value read after release().
        if name in type(self).saved and self.__dict__.get("_released"):
            raise RuntimeError(FREED_GRAPH)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self):
        return f"<{self.name()}>"


class AccumulateGrad(Node):
    """The node at a leaf that requires grad: adds the gradient that reaches it into ``.grad``.

    One per leaf (the leaf keeps it), so a leaf used twice is one node whose
    two shares are summed before they reach ``.grad``.
    """

    def __init__(self, variable):
        super().__init__()
        self.variable = variable
        self.output_shape = variable.shape

    def backward(self, grad_output):
        self.variable.accumulate_grad(grad_output)     # eq. (33)
        return ()


def topological_order(root):
    """Every node reachable from ``root``, each one before the nodes that made its inputs.

    Depth-first with an explicit stack (no recursion, so no depth limit): a
    node is appended once all its inputs' nodes are, and the reversed list
    puts every node after all of its consumers, eq. (31).
    """
    order, visited = [], {root}
    stack = [(root, iter(root.next_functions))]
    while stack:
        node, inputs = stack[-1]
        for child, _ in inputs:
            if child is not None and child not in visited:
                visited.add(child)
                stack.append((child, iter(child.next_functions)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def run_backward(root, grad_root, retain_graph=False):
    """Backpropagate ``grad_root`` = dL/d(root's output) through the graph below ``root``.

    Each node runs once, with the SUM of what its consumers sent it; each
    gradient is checked against its input's shape and cast to its dtype.
    Without ``retain_graph`` every node frees what it saved.
    """
    grads = {root: grad_root}
    for node in topological_order(root):
        grad = grads.pop(node, None)
        if grad is None:                      # no consumer sent anything (all shares were None)
            continue
        if node.retained is not None:
            node.retained.accumulate_grad(grad)
        _check_versions(node)
        input_grads = node.backward(grad)
        for index, ((child, _), input_grad) in enumerate(zip(node.next_functions, input_grads)):
            if child is None or input_grad is None:
                continue
            input_grad = _checked(node, index, input_grad)
            # The engine never writes into an array a node returned: a share may be
            # a layer's .grad or the very array another input received.
            previous = grads.get(child)
            grads[child] = input_grad if previous is None else previous + input_grad   # eq. (32)
        if not retain_graph:
            node.release()


def _checked(node, index, grad):
    """The gradient of input ``index``, cast to its dtype; a shape that differs is a bug in the node."""
    shape, dtype = node.input_shapes[index], node.input_dtypes[index]
    grad = np.asarray(grad)
    if grad.shape != shape:
        raise RuntimeError(
            f"Function {node.name()} returned an invalid gradient at index {index} - got {list(grad.shape)} "
            f"but expected shape compatible with {list(shape)}"
        )
    return grad if grad.dtype == dtype else grad.astype(dtype)


def _check_versions(node):
    """PyTorch's error when an input was changed in place after the node recorded it."""
    for tensor, version in node._input_versions:
        if tensor._version != version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{tensor.describe()}], an input of {node.describe()}, is at version {tensor._version}; "
                f"expected version {version} instead. Change it only after backward (an optimizer step too), or "
                "write tensor = tensor - ... instead of tensor -= ..."
            )
