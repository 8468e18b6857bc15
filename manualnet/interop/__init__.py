"""manualnet and PyTorch side by side: ``to_torch``, ``from_torch``, ``compare_with_torch``.

torch is imported only when one of these is called (the ``compare`` extra).
"""

from .pytorch import TORCH_SPEC, compare_with_torch, from_torch, import_torch, notes_mlp_class, to_torch

__all__ = ["to_torch", "from_torch", "compare_with_torch", "notes_mlp_class", "import_torch", "TORCH_SPEC"]
