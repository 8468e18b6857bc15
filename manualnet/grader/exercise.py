"""One step of the learning path, as the grader sees it."""

from dataclasses import dataclass
from typing import Callable

FOLDER = "exercises"
DRAWN_CASES = 20            # cases hypothesis draws after the fixed one
COMMAND = "python -m manualnet exercises"


@dataclass(frozen=True)
class Exercise:
    """One step of the path: the file, the method to write, the page to read, and how to grade it."""

    name: str                   # "linear": exercises/linear.py, and the NAME of `exercises check NAME`
    class_name: str             # the class the file defines, "Linear"
    method: str                 # what the learner writes: "backward", or "step" for an optimizer
    page: str                   # "derivations/linear.md#backward": the section to read
    read: str                   # the equations to read there, "(2), (3), (4)"
    equations: dict             # gradient (a row of the reports, without ".grad") -> (eq. "(4)", what it is)
    shapes: str                 # the section that lines up the shapes, for an error in the learner's code
    notes: str                  # the study notes that lead here, e.g. "000, 002"; "—" beyond the notes
    fixed: dict                 # the first case, always the same
    draw: Callable              # () -> hypothesis strategy of cases like ``fixed``
    run: Callable               # (learner's class, case, mistakes) -> [reports]; a layer's: runners.LayerRun(setup)
    describe: Callable          # case -> "x (4, 3), Linear(3, 3, bias=True), seed 0"
    mistakes: object = None     # the MistakeTable of the mistakes the grader names (manualnet.grader.mistakes)

    @property
    def file(self):
        return f"{FOLDER}/{self.name}.py"

    @property
    def title(self):
        return f"{self.class_name}.{self.method}"
