"""Dropout: zero random elements while training, do nothing while evaluating.

Each backward line carries the number of its equation in derivations/dropout.md.
"""

import numbers

import numpy as np

from manualnet._checks import check_dtype_matches, check_float_array, check_grad_output
from manualnet.nn.modules.module import Module, as_ndarray
from manualnet._rng import as_generator


class Dropout(Module):
    """Inverted dropout: y = x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p) in training, y = x in eval.  Derivation: derivations/dropout.md

    ``p`` is the probability of DROPPING an element, as in PyTorch (and in
    CS231n's 2016–2017 assignments; since 2018 CS231n's ``p`` is the
    probability of KEEPING one).  Kept elements are scaled by
    1/(1 − p) so that E[y] = x, and evaluation needs no rescaling.

    Shape: x (*) -> y (*), the same shape (any, 0-d and empty included).

    The keep-mask of the last training forward is ``self.mask`` (bool, x's
    shape; None after an evaluation forward); backward multiplies by the same
    mask.  In training, ``forward(x, mask)`` uses a given keep-mask instead
    of drawing one (a private copy is kept), so a test can hold it fixed —
    for finite differences, or to apply the mask PyTorch drew.  ``rng`` (a
    Generator or an int seed) makes the masks reproducible.  ``inplace=True``
    is accepted, as in PyTorch, and changes nothing: the input is never
    overwritten here.
    """

    saved_for_backward = ("mask", "input_dtype")

    def __init__(self, p=0.5, inplace=False, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: expected p, the probability of dropping an element, in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.rng = as_generator(rng)
        # p = 1 drops everything: scale 0 instead of 1/0, so y = 0 and not 0 · inf = NaN.
        self.scale = 1 / (1 - self.p) if self.p < 1 else 0.0

    def forward(self, x, mask=None):
        self._check_input(x, mask)
        self.input_dtype = x.dtype                   # G must come in it
        if not self.training:
            self.mask = None
            return x                                 # eq. (3)
        if mask is None:
            self.mask = np.asarray(self.rng.random(x.shape) >= self.p)   # eq. (1): keep with probability 1 − p
        else:
            self.mask = mask.copy()
        y = as_ndarray(x * self.mask)                # (a 0-d x would give a NumPy scalar)
        y *= self.scale                              # eq. (2)
        return y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ m / (1 − p) after a training forward, G after an evaluation one."""
        mask, dtype = self.mask, self.input_dtype
        if mask is None:                             # evaluation: the identity, any shape passes
            check_float_array(self, grad_output, "grad_output")
            check_dtype_matches(self, grad_output, dtype, "grad_output")
            return grad_output if need_input_grad else None    # eq. (5)
        check_grad_output(self, grad_output, mask.shape, dtype)
        if not need_input_grad:
            return None
        dx = as_ndarray(grad_output * mask)
        dx *= self.scale                             # eq. (4)
        return dx

    def _check_input(self, x, mask):
        check_float_array(self, x)
        if mask is None or not self.training:
            return
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(
                f"{self.describe()}: expected mask to be a boolean numpy.ndarray (True = keep), "
                f"got {getattr(mask, 'dtype', type(mask).__name__)}"
            )
        if mask.shape != x.shape:
            raise ValueError(f"{self.describe()}: expected mask of the input's shape {x.shape}, got {mask.shape}")

    def extra_repr(self):
        return f"p={self.p}"
