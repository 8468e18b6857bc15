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
    """Lines: per exercise, the mistakes in the corpus, how many the grader names, how many it cannot (it points
    at their first line) and how many raise (reported with their line), and the right backwards."""
    rows, totals = [], [0, 0, 0, 0, 0]
    for name in [*EXERCISES, "all"]:
        if name == "all":
            counts = totals
        else:
            kinds = [entry.expect for entry in entries(name)]
            counts = [sum(kind != PASS for kind in kinds), sum(kind not in (PASS, UNNAMED, ERROR) for kind in kinds),
                      kinds.count(UNNAMED), kinds.count(ERROR), kinds.count(PASS)]
            totals = [total + count for total, count in zip(totals, counts)]
        wrong, named, unnamed, raising, right = counts
        rows.append(f"{name:20} {wrong:3} mistakes: {named:3} named ({named / wrong:4.0%}), {unnamed} unnamed, "
                    f"{raising} raising; {right} right")
    return rows
