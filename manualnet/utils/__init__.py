"""``mn.utils``: ``data`` (``torch.utils.data``), and gradient clipping under the name version 2 gave it.

``mn.utils.clip_grad_norm_`` is ``mn.nn.utils.clip_grad_norm_`` (PyTorch's
home for it), kept here because version 2 documented it here.
"""

from manualnet.nn.utils import clip_grad_norm_, clip_grad_value_

from . import data

__all__ = ["data", "clip_grad_norm_", "clip_grad_value_"]
