"""Tools that tell you exactly where your own backward is wrong.

    from manualnet.testing import assert_modules_match
    assert_modules_match(MyLinear(3, 2), mn.Linear(3, 2), x)

``compare_modules`` runs your module and a trusted one (a manualnet layer,
or PyTorch through ``manualnet.torch_interop``) with the same weights, inputs and
random upstream gradients and reports, for the output, the input gradient
and every parameter gradient, the largest error, where it is and the two
values there — and names the classic mistakes when the numbers show them
(a missing 1/N, a transposed weight gradient, a flipped sign, ``=`` where
``+=`` belongs, ...).  ``manualnet.testing.strategies`` has hypothesis
strategies for property tests of your own layers, and
``manualnet.testing.bugzoo`` the classic wrong backward passes, to see what
each mistake looks like.

This package imports neither hypothesis nor torch.
"""

from .comparison import ComparisonReport, MismatchError, assert_modules_match, compare_modules
from .diagnoses import MISTAKES, Diagnosis
from .functions import FunctionModule

__all__ = ["compare_modules", "assert_modules_match", "ComparisonReport", "MismatchError",
           "FunctionModule", "Diagnosis", "MISTAKES"]
