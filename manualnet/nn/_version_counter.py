"""The version counter: how backward knows that what forward used has not been changed in place since.

backward computes with values forward used: ``Linear`` reads its weight
again for dL/dx, an autograd ``MulBackward0`` reads both factors.  If an
optimizer step, a ``load_state_dict`` or ``x += 1`` changed one of them in
between, backward would compute the gradient of a forward that never
happened.  PyTorch counts the in-place changes to each tensor's memory and
raises "modified by an inplace operation" when the count moved; manualnet
does the same:

* every array that owns its memory has a version, 0 until manualnet first
  changes it in place; its views (``x[1:]``, ``x.reshape(...)``, ``x.T``)
  share it, because they share the memory;
* every in-place change manualnet makes bumps it: optimizer steps,
  ``Module.optimize``, ``load_state_dict``, ``nn.init``, an assignment to
  ``Parameter.data``, ``+=`` and friends on an autograd Tensor;
* forward records the version of what backward will read (a layer: the
  Parameters its backward reads; an autograd node: its input tensors),
  and backward checks it is unchanged.

What this cannot see: NumPy's own in-place operators on a raw array
(``x *= 0``, ``p.data[0] = 1``, ``np.copyto``) change memory without
telling anyone.  So a layer still keeps a private copy of a writable array
a caller passed in (``keep_input``), and a Parameter's version moves when
``p.data -= ...`` assigns the array back to it, not on ``p.data[...] = ...``.
"""

import functools
import operator
import threading
import weakref

import numpy as np

counts = {}               # id(the array that owns the memory) -> how many times manualnet changed it in place


def root_of(array):
    """The array whose memory ``array`` views: ``array`` itself if it owns its memory."""
    base = getattr(array, "base", None)
    while isinstance(base, np.ndarray):
        array, base = base, base.base
    return array


def memory_of(array):
    """The key of ``array``'s memory in ``counts``: the same for every view of it, while it lives."""
    return id(root_of(array))


def version(array):
    """How many in-place changes manualnet has made to ``array``'s memory (through it or any view)."""
    return counts.get(id(root_of(array)), 0)


def bump(array):
    """Count one in-place change to ``array``'s memory; call it right after changing the values."""
    root = root_of(array)
    key = id(root)
    count = counts.get(key)
    if count is None:
        # The entry goes when the memory does, so a new array that gets the same id starts at 0.
        weakref.finalize(root, counts.pop, key, None).atexit = False
        count = 0
    counts[key] = count + 1


class _NodeInput(threading.local):
    """The input an autograd node is running a layer's forward on: the node records its version and checks it."""

    array = None


node_input = _NodeInput()


def versions(module):
    """The versions of the Parameters ``module.backward_reads`` names: what forward keeps for backward to check."""
    return _reader(module.backward_reads)(module)


@functools.cache
def _reader(names):
    """``module -> its Parameters' versions`` (one number for one name): an attrgetter, the cheapest read."""
    return operator.attrgetter(*(f"{name}._version" for name in names)) if names else _no_versions


def _no_versions(module):
    return ()


def check_versions(module, expected):
    """PyTorch's error if a Parameter ``module``'s backward reads changed in place since forward kept ``expected``."""
    if versions(module) == expected:
        return
    names = module.backward_reads
    for name, version_then in zip(names, expected if len(names) > 1 else (expected,)):
        parameter = getattr(module, name)
        if parameter._version != version_then:
            raise RuntimeError(
                f"{module.describe()}.backward: one of the variables needed for gradient computation has been "
                f"modified by an inplace operation: {name} [{parameter.dtype} {parameter.shape}] is at version "
                f"{parameter._version}; expected version {version_then} instead. Forward used {name} before an "
                "optimizer step, load_state_dict, an init or an assignment to .data changed it: run backward "
                "before changing the parameters (zero_grad, forward, backward, step)"
            )
