"""Recording an operation: its node linked into the graph, its outputs wrapped as tensors.

Most operations take a few tensors and return one array.  A recurrent layer
takes ``(input, (h_0, c_0))`` and returns ``(output, (h_n, c_n))``;
attention takes three tensors and returns ``(output, weights)``.  ``record``
takes both kinds: the inputs may nest in tuples (each tensor in them is one
edge of ``next_functions``, in reading order), and a tuple output gives the
same tuple of tensors, each knowing its place among the node's outputs
(``output_nr``, PyTorch's name), so that the engine hands the node one
gradient per output, in the structure its forward returned (None where no
gradient arrived).  Derivation: derivations/autograd.md
"""

import numpy as np

from manualnet._grad_mode import _mode

from . import tensor as _tensor_module


def flatten(value):
    """The leaves of a nested tuple or list, in reading order (None and constants are leaves too)."""
    if isinstance(value, (tuple, list)):
        return [leaf for part in value for leaf in flatten(part)]
    return [value]


def flatten_like(template, value):
    """``value``'s leaves at ``template``'s leaf positions: a gradient structure read along its inputs' structure.

    Where the template has a leaf (an input left None, say hx=None) and the
    value nests deeper (the layer's (dL/dh_0, dL/dc_0) for it), the whole
    subtree stands for that leaf.
    """
    if isinstance(template, (tuple, list)):
        parts = value if isinstance(value, (tuple, list)) else (None,) * len(template)
        return [leaf for part, piece in zip(template, parts) for leaf in flatten_like(part, piece)]
    return [value]


def rebuild(template, leaves):
    """The nesting of ``template`` filled with ``leaves`` (an iterator), in reading order."""
    if isinstance(template, (tuple, list)):
        return tuple(rebuild(part, leaves) for part in template)
    return next(leaves)


def record(node, *inputs):
    """Run ``node.forward`` on the inputs' arrays; return its output as tensors, recorded if any input needs a gradient.

    ``inputs`` are Tensors, constants (arrays, numbers) that get no gradient,
    or tuples of them.  The node is linked into the graph —
    ``next_functions`` points at the node that made each input tensor —
    only when recording is on and some input requires grad; otherwise it is
    dropped and the result holds plain tensors.  A tuple output comes back
    as a tuple of tensors (None stays None).
    """
    Tensor = _tensor_module.Tensor
    arrays = _map(lambda value: value.data if isinstance(value, Tensor) else value, inputs)
    output = node.forward(*arrays)
    leaves = flatten(inputs)
    requires_grad = _mode.enabled and any(isinstance(value, Tensor) and value.requires_grad for value in leaves)
    outputs = flatten(output) if isinstance(output, tuple) else [np.asarray(output)]
    if not requires_grad:
        wrapped = [None if array is None else Tensor._wrap(np.asarray(array)) for array in outputs]
        return rebuild(output, iter(wrapped)) if isinstance(output, tuple) else wrapped[0]
    tensors = [value if isinstance(value, Tensor) else None for value in leaves]
    flat_arrays = flatten(arrays)
    node.next_functions = tuple((None, 0) if t is None else t._edge_and_output() for t in tensors)
    node.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
    node.input_shapes = tuple(np.shape(array) for array in flat_arrays)
    node.input_dtypes = tuple(np.asarray(array).dtype for array in flat_arrays)
    if node.saved:
        node._input_versions = tuple((t, t._version) for t in tensors if t is not None)
    wrapped = [None if array is None else Tensor._wrap(np.asarray(array), requires_grad=True, grad_fn=node)
               for array in outputs]
    for output_nr, tensor in enumerate(wrapped):
        if tensor is not None:
            tensor._output_nr = output_nr
    if not isinstance(output, tuple):
        node.output_shape = wrapped[0].shape
        return wrapped[0]
    node.output_template = _map(lambda array: None, output)
    node.output_shape = tuple(None if t is None else t.shape for t in wrapped)
    return rebuild(output, iter(wrapped))


def _map(function, value):
    if isinstance(value, (tuple, list)):
        return tuple(_map(function, part) for part in value)
    return function(value)
