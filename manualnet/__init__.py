"""manualnet: neural-network gradients written by hand in NumPy.

Every layer has an explicit ``forward``, ``backward`` and ``optimize``; every
gradient is derived in ``derivations/`` and checked against finite differences
and PyTorch.  ``import manualnet as mn`` and use it as you would ``torch.nn``:
the layers are at the top (``mn.Linear``), and the package is laid out as
PyTorch's — ``mn.nn``, ``mn.optim``, ``mn.utils.data``, ``mn.autograd``,
``mn.datasets``, ``mn.models``, ``mn.testing``, ``mn.interop``.
"""

# python -m manualnet: Ctrl-C during these imports exits 130, not a traceback (see _main_guard.py)
from ._main_guard import guard_imports as _guard_imports

_guard_imports()

from . import _aliases  # noqa: E402

_aliases.install()

from . import models, nn, optim, utils  # noqa: E402
from .models import CNN, GPT, MLP, LogisticRegression, LSTMClassifier  # noqa: E402
from .nn.modules import *  # noqa: E402, F403  (torch.nn's layers at the top, as manualnet always had them)
from .nn.modules import __all__ as _layers  # noqa: E402
from .nn.parameter import Parameter  # noqa: E402
from ._grad_mode import no_grad  # noqa: E402
from ._threads import get_num_threads, num_threads, set_num_threads  # noqa: E402  (BLAS threads, by size)

__version__ = "0.1.0"

# Loaded on first use, so `import manualnet` stays light: these pull in the
# downloader, hypothesis-free testing tools, torch interop or zipfile.
_LAZY_HOMES = ("autograd", "datasets", "testing", "interop", "serialization")
_LAZY_FUNCTIONS = {"save": "manualnet.serialization", "load": "manualnet.serialization"}


def __getattr__(name):
    import importlib
    if name in _LAZY_HOMES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    if f"{__name__}.{name}" in _aliases.ALIASES:       # an old spelling, e.g. mn.gradcheck, mn.data
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'manualnet' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


__all__ = [
    "Parameter", *_layers, "set_num_threads", "get_num_threads", "num_threads", "LogisticRegression", "MLP", "CNN",
    "LSTMClassifier", "GPT", "no_grad",
    "nn", "optim", "utils", "models", *_LAZY_HOMES, *_LAZY_FUNCTIONS,
]
