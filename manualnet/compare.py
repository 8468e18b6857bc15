"""``manualnet.compare``: the name of ``manualnet.torch_interop`` before version 2, kept as an alias.

``import manualnet.compare``, ``from manualnet.compare import compare_with_torch``
and ``mn.compare.to_torch`` keep working through version 2 and give the very
module ``manualnet.torch_interop`` (renamed so that it is not mistaken for
``manualnet.testing.comparison``).  New code: ``import manualnet.torch_interop``.
"""

import sys

from . import torch_interop

sys.modules[__name__] = torch_interop
