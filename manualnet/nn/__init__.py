"""``torch.nn`` by hand: the layers, ``Parameter``, ``init``, ``functional`` and ``utils``.

``manualnet.nn.Linear`` is ``torch.nn.Linear`` with its backward written out;
the same classes are at the top, ``mn.Linear``.  To find a layer's
backward, open the file torch keeps it in: ``nn/modules/conv.py`` for
Conv2d, ``nn/modules/rnn.py`` for LSTM.
"""

from . import functional, init, utils
from .modules import *  # noqa: F403  (the layers, listed in modules/__init__.py)
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["Parameter", *_modules_all, "functional", "init", "utils"]
