"""The spellings of modules before version 3, kept working: ``import manualnet.layers`` still imports.

Version 3 laid the package out as PyTorch lays itself out (``manualnet/nn/modules/``,
``manualnet/optim/``, ``manualnet/utils/data/`` ...).  Code written for the flat
layout of versions 1 and 2 keeps running: each old module name below is an alias
of its new home.  An alias of one home IS that module (``manualnet.gradcheck is
manualnet.testing.gradcheck``); an alias of a module that was split in parts
(``manualnet.layers``: Linear, Flatten, Sequential) looks each name up in its
parts, in order.  New code imports the new homes; README.md, "Where things
live", lists both.
"""

import importlib
import importlib.util
import sys
import types

ALIASES = {
    "manualnet.activations": ("manualnet.nn.modules.activation",),
    "manualnet.batchnorm": ("manualnet.nn.modules.batchnorm",),
    "manualnet.catalogue": ("manualnet.testing.catalogue",),
    "manualnet.compare": ("manualnet.interop.pytorch",),
    "manualnet.conv": ("manualnet.nn.modules.conv",),
    "manualnet.data": ("manualnet.utils.data",),
    "manualnet.download": ("manualnet.datasets.download",),
    "manualnet.dropout": ("manualnet.nn.modules.dropout",),
    "manualnet.embedding": ("manualnet.nn.modules.sparse",),
    "manualnet.exercises": ("manualnet.grader",),
    "manualnet.functional": ("manualnet._numerics", "manualnet.nn.functional"),
    "manualnet.gradcheck": ("manualnet.testing.gradcheck",),
    "manualnet.init": ("manualnet.nn.init",),
    "manualnet.layers": ("manualnet.nn.modules.linear", "manualnet.nn.modules.flatten",
                         "manualnet.nn.modules.container"),
    "manualnet.losses": ("manualnet.nn.modules.loss",),
    "manualnet.lr_scheduler": ("manualnet.optim.lr_scheduler",),
    "manualnet.module": ("manualnet.nn.modules.module",),
    "manualnet.parameter": ("manualnet.nn.parameter",),
    "manualnet.pooling": ("manualnet.nn.modules.pooling",),
    "manualnet.progress": ("manualnet._progress",),
    "manualnet.recurrent": ("manualnet.nn.modules.rnn",),
    "manualnet.reports": ("manualnet.testing.reports",),
    "manualnet.rng": ("manualnet._rng",),
    "manualnet.testing.mistaken": ("manualnet.testing.bugzoo.mistaken",),
    "manualnet.torch_interop": ("manualnet.interop.pytorch",),
    "manualnet.windows": ("manualnet.nn.windows",),
}


class AliasOfParts(types.ModuleType):
    """An old module that was split: each attribute is looked up in the new parts, in order."""

    def __init__(self, name, homes):
        super().__init__(name, f"Alias of {', '.join(homes)} (the module's name before version 3).")
        self.__homes = homes

    def __getattr__(self, attribute):
        for home in self.__homes:
            module = importlib.import_module(home)
            if hasattr(module, attribute):
                return getattr(module, attribute)
        raise AttributeError(f"module {self.__name__!r} (now {' and '.join(self.__homes)}) has no attribute "
                             f"{attribute!r}")

    def __dir__(self):
        return sorted({name for home in self.__homes for name in dir(importlib.import_module(home))})


class AliasFinder:
    """Finds the old names: an alias of one home puts that module in ``sys.modules`` under the old name too.

    A meta path finder and its loader (the import system calls these three
    methods; importlib.abc's base classes, which would import tempfile and
    shutil with ``import manualnet``, are not needed).
    """

    def find_spec(self, fullname, path, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in ALIASES else None

    def create_module(self, spec):
        homes = ALIASES[spec.name]
        return AliasOfParts(spec.name, homes) if len(homes) > 1 else None

    def exec_module(self, module):
        homes = ALIASES[module.__name__]
        if len(homes) == 1:
            # The import system hands out whatever sys.modules holds under the name after this
            # call, so the old name gives the very module of the new home.
            sys.modules[module.__name__] = importlib.import_module(homes[0])


def install():
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.append(AliasFinder())
