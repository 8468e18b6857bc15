"""Grad mode: whether forward passes prepare for a backward, as ``torch.no_grad`` switches it.

Inside ``with mn.no_grad():`` (or a function decorated with ``@mn.no_grad()``)
the layers keep nothing for backward — no private copy of the input, no
cached activations — and ``manualnet.autograd`` records no graph: use it for
evaluation and inference.  A backward after such a forward says why it
cannot run.  The mode is per thread, as in PyTorch.
"""

import contextlib
import threading


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()


def is_grad_enabled():
    """Whether forward passes keep what backward needs (False inside ``no_grad()``)."""
    return _mode.enabled


class no_grad(contextlib.ContextDecorator):
    """Turn grad mode off inside ``with no_grad():`` or a function decorated with ``@no_grad()``.

    Each use gets its own record of the mode to restore, so a decorated
    function that calls itself (or another decorated one) leaves grad mode
    as it found it, as PyTorch's does.
    """

    def __enter__(self):
        self.previous = _mode.enabled
        _mode.enabled = False

    def __exit__(self, *exc_info):
        _mode.enabled = self.previous

    def _recreate_cm(self):
        return type(self)()
