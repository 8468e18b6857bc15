"""The exercises: you write each backward, manualnet's own checkers grade it.

``exercises/`` (at the top of the checkout) holds one file per step of the
learning path, in the order of ``EXERCISES``: a layer (or the notes' model,
or an optimizer) with ``forward`` written and ``backward`` (``step`` for an
optimizer) raising ``NotImplementedError`` that names the page and the
equations to read.  You edit the file in place; ``git checkout exercises/``
brings the stubs back.

    python -m manualnet exercises              every exercise, its status and the next one
    python -m manualnet exercises check NAME   grade exercises/NAME.py

Grading uses the project's checkers and nothing else.  Each case builds your
class and manualnet's own (the reference) in float64, runs
``manualnet.testing.compare_modules`` (same weights, inputs and random
upstream gradients; it names the classic mistakes) and the gradient checker
(``check_module`` / ``check_loss``: your backward against finite differences
of your own forward).  An optimizer is run side by side with manualnet's on
the same parameters and gradients, each step compared with the same
``compare_arrays`` and diagnosed with the same ``diagnose``.  The first case
is fixed, so its report reads the same on every machine; then
``manualnet.testing.strategies`` draws more with hypothesis, which shrinks a
failure to the smallest case it can find.  A failure prints the report, the
diagnosis when one fits, and a hint that links the derivation section to
read — never the code to write.

The grader loads an exercise file by compiling its text: nothing is
written into ``exercises/`` (no ``__pycache__``).
"""

from .exercise import COMMAND, DRAWN_CASES, FOLDER, Exercise
from .grading import FAILING, NOT_STARTED, PASSING, Grade, grade
from .loading import ExerciseError, find_folder, load_class
from .path import BY_NAME, EXERCISES, get, next_after
from .report import HINTS, format_grade, hints, listing, position, run_command
from .runners import ModelWithItsLoss, StepsReport

__all__ = ["EXERCISES", "BY_NAME", "FOLDER", "COMMAND", "DRAWN_CASES", "Exercise", "Grade", "NOT_STARTED", "FAILING",
           "PASSING", "ExerciseError", "HINTS", "get", "next_after", "grade", "find_folder", "load_class",
           "format_grade", "hints", "listing", "position", "run_command", "ModelWithItsLoss", "StepsReport"]
