"""Optimizers, as ``torch.optim``: one file per update rule, and learning-rate schedules.

``mn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)`` reads as in
PyTorch; every update is written out beside the equations of
derivations/optimizers.md.  Schedules: ``mn.optim.lr_scheduler``.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
