"""Backwards as learners write them, right and wrong, for every exercise, and what the grader must say of each.

One module per exercise (``linear.py`` ...) holds ``ENTRIES``: each Entry is
the body of the method the learner writes (``backward``, an optimizer's
``step``), in one coding style (vectorised, loops, im2col, einsum, the
notes' style ...), and what grading that file must give:

* ``PASS``: a right backward — every exercise has at least one, and the
  windowed ones one per style;
* the name of the mistake the grader must name (a table's own, or a
  relation every layer shares: ``path missing``, ``upstream ignored`` ...);
* ``UNNAMED``: a realistic mistake no entry reproduces: the grader must name
  nothing, and its one hint must point at ``points_at``, the equation of the
  first line that can explain the failing rows;
* ``ERROR``: code that raises, reported as that with the learner's line and
  no hint.

``python -m tests.grader.corpus`` prints how many mistakes the corpus holds
per exercise and how many of them the grader names.
"""

import importlib
from dataclasses import dataclass

PASS, UNNAMED, ERROR = "passes", "unnamed", "raises"


@dataclass(frozen=True)
class Entry:
    style: str              # how it is written: "vectorised", "loops", "im2col", ...
    about: str              # what the learner did, in a few words (the test's id)
    expect: str             # PASS, UNNAMED, ERROR, or the name of the mistake
    body: str               # the method's code, indented as a method body (8 spaces)
    points_at: str = ""     # UNNAMED: the equation the hint must name, "(6)"

    @property
    def mistaken(self):
        return self.expect != PASS


EXERCISES = ("logistic_regression", "linear", "relu", "sigmoid", "softmax", "cross_entropy", "sequential", "sgd",
             "adam", "dropout", "batchnorm", "conv2d", "max_pool2d", "avg_pool2d", "embedding", "lstm_cell")


def entries(name):
    return importlib.import_module(f"tests.grader.corpus.{name}").ENTRIES


def every_entry():
    """[(exercise, Entry)] for the whole corpus, in the order of the path."""
    return [(name, entry) for name in EXERCISES for entry in entries(name)]


def summary():
    """Lines: per exercise, the mistakes in the corpus, how many the grader names, and the right backwards."""
    rows, totals = [], [0, 0, 0]
    for name in EXERCISES:
        wrong = [entry for entry in entries(name) if entry.mistaken]
        named = [entry for entry in wrong if entry.expect not in (UNNAMED, ERROR)]
        right = len(entries(name)) - len(wrong)
        rows.append(f"{name:20} {len(wrong):3} mistakes, {len(named):3} named ({len(named) / len(wrong):4.0%}), "
                    f"{right} right")
        totals = [totals[0] + len(wrong), totals[1] + len(named), totals[2] + right]
    rows.append(f"{'all':20} {totals[0]:3} mistakes, {totals[1]:3} named ({totals[1] / totals[0]:4.0%}), "
                f"{totals[2]} right")
    return rows
