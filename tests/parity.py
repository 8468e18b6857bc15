"""The one way a test holds a manualnet layer to PyTorch: same weights, same inputs, same upstream gradient.

``assert_matches_torch(ours, inputs, seed)`` runs the layer (in float64) and
its PyTorch twin (``manualnet.interop.to_torch`` of it, unless one is given)
forward on the same inputs, backward with the same random upstream gradient,
and compares the output, the gradient of every differentiated input and of
every parameter, by name, to 1e-10 — tinygrad's ``helper_test_op`` for
layers.  Inputs and outputs may be tuples (a recurrent layer's ``(x, hx)``
and ``(output, h_n)``); a loss differentiates its input, not its target.
"""

import numpy as np

from manualnet.interop import to_torch
from manualnet.nn.modules.loss import _Loss
from manualnet.testing.gradcheck import leaves, map_structure

from .strategies import random_array
from .torch_required import import_torch

torch = import_torch()
TOLERANCE = dict(rtol=1e-10, atol=1e-12)


def tensor(array, requires_grad=False):
    """A float64 tensor of a float array (an integer array keeps its integer dtype: labels, indices)."""
    array = np.asarray(array)
    dtype = torch.float64 if array.dtype.kind == "f" else None
    return torch.tensor(array, dtype=dtype, requires_grad=requires_grad and array.dtype.kind == "f")


def assert_close(ours, theirs, what, tolerance=TOLERANCE):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(ours, theirs, err_msg=what, **tolerance)


def assert_matches_torch(ours, inputs, seed, theirs=None, differentiate=None, tolerance=TOLERANCE):
    """Compare ``ours(*inputs)`` with its PyTorch twin forward and backward; ``differentiate``: how many inputs
    get a gradient (default: all, or the first for a loss)."""
    ours.astype(np.float64)
    theirs = to_torch(ours) if theirs is None else theirs.double()
    if differentiate is None:
        differentiate = 1 if isinstance(ours, _Loss) else len(inputs)
    torch_inputs = [map_structure(lambda array, grad=index < differentiate: tensor(array, requires_grad=grad), value)
                    for index, value in enumerate(inputs)]
    output = ours(*inputs)
    torch_output = theirs(*torch_inputs)
    for (where, mine), (_, reference) in zip(leaves(output), leaves(torch_output)):
        assert_close(mine, reference, f"output{where}", tolerance)
    upstream = map_structure(lambda array: random_array(seed, np.shape(array)), output)
    grads = ours.backward(float(upstream) if isinstance(ours, _Loss) and np.ndim(upstream) == 0 else upstream)
    reference_outputs = [reference for _, reference in leaves(torch_output)]
    torch.autograd.backward(reference_outputs, [tensor(mine) for _, mine in leaves(upstream)])
    grads = (grads,) if differentiate == 1 else grads
    for index in range(differentiate):
        for (where, mine), (_, reference) in zip(leaves(grads[index]), leaves(torch_inputs[index])):
            assert_close(mine, reference.grad, f"input {index} gradient{where}", tolerance)
    ours_parameters = dict(ours.named_parameters())
    for name, parameter in theirs.named_parameters():
        assert_close(ours_parameters[name].grad, parameter.grad, f"gradient of {name}", tolerance)
