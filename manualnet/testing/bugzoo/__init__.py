"""The bug zoo: the classic wrong backward passes, one mistake per class.

Each class subclasses the correct manualnet layer and overrides the
smallest method that holds its mistake: a loss's one-line reduction
(``_reduce``, ``_grad_per_element``) where the mistake is there, else
``backward`` copied from the layer with ONE line changed.  The wrong line is
marked ``# BUG:`` with the right one beside it.  tests/testing/test_bugzoo.py checks
that every copied ``backward`` still equals the layer's own except on its
``# BUG`` line, so a bug can never drift from the layer it breaks.  Its docstring
says what is wrong and how it shows.  Use them to see what each mistake
looks like in a report::

    import numpy as np
    import manualnet as mn
    from manualnet.testing import bugzoo, compare_modules

    x = np.random.default_rng(0).standard_normal((4, 3))
    print(compare_modules(bugzoo.TransposedWeightGradLinear(3, 3), mn.Linear(3, 3), x))

tests/testing/test_bugzoo.py checks that the gradient checker and the comparison
catch every one of them, and that the comparison names the mistake: a suite
that cannot fail proves nothing.  ``BUGS`` lists them all.  None is part of
``manualnet``'s public layers.
"""

from .autograd import recursive_backward_visiting_once
from .conv import *  # noqa: F403  (each bug class, by name: bugzoo.UnflippedKernelConv2d)
from .conv import CONV_BUGS, full_correlation_input_gradient
from .layers import *  # noqa: F403
from .layers import LAYER_BUGS
from .sequences import *  # noqa: F403
from .sequences import SEQUENCE_BUGS

BUGS = LAYER_BUGS + CONV_BUGS + SEQUENCE_BUGS
