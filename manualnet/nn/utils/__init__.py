"""``torch.nn.utils``: gradient clipping, and building a layer around given arrays."""

from .clip_grad import clip_grad_norm_, clip_grad_value_
from .init import from_arrays, skip_init

__all__ = ["clip_grad_norm_", "clip_grad_value_", "skip_init", "from_arrays"]
