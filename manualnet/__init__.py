"""manualnet: neural-network gradients written by hand in NumPy.

Every layer has an explicit ``forward``, ``backward`` and ``optimize``; every
gradient is derived in ``derivations/`` and checked against finite differences
and PyTorch.  ``import manualnet as mn`` and use it as you would ``torch.nn``.
"""

# -- python -m manualnet: Ctrl-C during these imports exits 130, not a traceback (see _main_guard.py)
from ._main_guard import guard_imports as _guard_imports

_guard_imports()
# -- end of the python -m manualnet block

import importlib

from . import functional, init, optim, rng
from .activations import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .dropout import Dropout
from .layers import Flatten, Linear, Sequential
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .models import MLP, LogisticRegression
from .module import Module
from .parameter import Parameter

# Convolutional networks (issue 14)
from .conv import Conv1d, Conv2d
from .models import CNN
from .pooling import AvgPool2d, MaxPool2d
# Sequences (issue 16): the lookup table and the recurrent layers; gradient clipping in mn.utils.
from . import utils
from .embedding import Embedding
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__version__ = "0.1.0"

# Loaded on first use, so `import manualnet` stays light: some submodules
# pull in SciPy, scikit-learn, matplotlib or torch, and saving needs zipfile.
_LAZY_SUBMODULES = ("gradcheck", "data", "datasets", "testing", "compare", "serialization",
                    "torch_interop", "reports")   # compare: torch_interop's name before version 2, an alias
_LAZY_FUNCTIONS = {"save": "serialization", "load": "serialization"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(f".{_LAZY_FUNCTIONS[name]}", __name__), name)
    raise AttributeError(f"module 'manualnet' has no attribute {name!r}")


__all__ = [
    "Parameter", "Module",
    "Linear", "Flatten", "Sequential", "Dropout", "BatchNorm1d", "BatchNorm2d",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss",
    "LogisticRegression", "MLP",
    "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "CNN",
    "save", "load",
    "Embedding", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "utils",
    "functional", "init", "optim", "rng", *_LAZY_SUBMODULES,
]
