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
upstream gradients) and the gradient checker (``check_module`` /
``check_loss``: your backward against finite differences of your own
forward).  An optimizer is run side by side with manualnet's on the same
parameters and gradients, each step compared.  The first case is fixed, so
its report reads the same on every machine; then
``manualnet.testing.strategies`` draws more with hypothesis, which shrinks a
failure to the smallest case it can find.

A failure prints the evidence first — the reports, and the named mistake
when the numbers show one: each exercise's table (``manualnet.grader.mistakes``)
lists the classic wrong backwards of that step, reproduced exactly and named
in the words of its code — then one hint per mistake named, or, when none
fits, which rows fail and the first line of the backward that can explain
them.  A hint links the derivation section to read, never the code to write.

Your code runs in a process of its own (``manualnet.grader.remote``,
``manualnet.grader.child``), compiled from the file's text (nothing is written
into ``exercises/``): it sends back numbers, and the grader decides here, so
``sys.exit``, ``os._exit``, printing or replacing the grader's objects cannot
make it report a pass.  What your code prints is shown apart, and an error
in it is reported as that, with its file and line.
"""

from .exercise import COMMAND, DRAWN_CASES, FOLDER, Exercise
from .grading import FAILING, NOT_STARTED, PASSING, Grade, grade
from .loading import ExerciseError, find_folder
from .path import BY_NAME, EXERCISES, get, next_after, unknown
from .remote import LearnerError, ProcessLink, SameProcess
from .report import HINTS, format_grade, hints, listing, position, run_command
from .runners import LayerRun, ModelWithItsLoss, Setup, StepsReport

__all__ = ["EXERCISES", "BY_NAME", "FOLDER", "COMMAND", "DRAWN_CASES", "Exercise", "Grade", "NOT_STARTED", "FAILING",
           "PASSING", "ExerciseError", "LearnerError", "HINTS", "get", "unknown", "next_after", "grade",
           "find_folder", "format_grade", "hints", "listing", "position", "run_command", "ProcessLink",
           "SameProcess", "LayerRun", "Setup", "ModelWithItsLoss", "StepsReport"]
