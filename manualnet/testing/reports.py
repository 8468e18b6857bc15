"""Reports of array comparisons, one row per array, printed as a table.

The gradient checker (``manualnet.gradcheck``: your backward against finite
differences) and the comparison (``manualnet.testing``: your module against a
trusted one) both end here: two arrays that should be equal, one under test
and one trusted, compared entry by entry with the tolerance stated once,
below.  What this module will never pass:

* a value that is not a finite number (NaN, +inf or -inf) on either side;
* two arrays of different shapes (no broadcasting), a missing array (None),
  or values that are not real numbers (object, complex, string arrays).

What it reports as proving nothing (``vacuous``): an empty array, one whose
every entry was excused as a kink, and one in which no entry of either side
exceeds ATOL, where a backward returning zeros would pass as well.  A report
in which every gradient proves nothing does not pass.
Derivation of the rules: derivations/gradcheck.md, eq. (3), (6), (12) and (13).
"""

import math
import textwrap
from dataclasses import dataclass

import numpy as np

ATOL = 1e-7      # absolute tolerance, float64, eq. (6)
RTOL = 1e-5      # relative tolerance, float64, eq. (6)
EPS = 1e-6       # relative finite-difference step of gradcheck, eq. (3): every GradcheckReport states it


@dataclass(frozen=True)
class Side:
    """How a report names one side of a comparison, and what to do when that side holds a non-finite value."""

    name: str
    if_not_finite: str


ANALYTIC = Side("analytic", "your backward returned it: look for 0/0, inf - inf, log(0) or an overflow in backward")
NUMERIC = Side("numeric", "finite differences of the forward gave it: the forward output (or the loss) is not "
                          "finite at these inputs or one step h away; choose inputs where forward is finite")


@dataclass
class ArrayReport:
    """How one array (a gradient, or a forward output) compares with its trusted value.

    In a gradient check ``analytic`` is your backward's value and ``numeric``
    the finite-difference estimate; in a module comparison they are mine and
    the reference's (see ``manualnet.testing``).  ``problem`` says why the
    array failed outright (a non-finite value, a wrong shape, no array),
    empty when the numbers were compared.
    """

    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float       # the value under test at worst_index
    numeric: float        # the trusted value at worst_index
    excluded: int         # entries whose step crossed a kink (not compared)
    vacuous: bool         # empty, all excluded, or both sides within ATOL of 0: proves nothing
    passed: bool
    problem: str = ""
    shown: tuple = ()     # when the two could not be compared: what each side was ("shape (3, 4)", "None")

    @property
    def status(self):
        return ("ok" if self.passed else "FAIL") + (f" ({self.why_vacuous})" if self.vacuous else "")

    @property
    def why_vacuous(self):
        """'empty', 'all excluded' or 'all ~0': why a vacuous array proves nothing."""
        size = math.prod(self.shape)
        return "empty" if size == 0 else "all excluded" if self.excluded == size else "all ~0"

    def cells(self):
        """The table cells shared by every report: name, shape, errors, worst index, the two values.

        Two arrays that could not be compared have no error and no worst entry: their cells say what each was.
        """
        if self.shown:
            return (self.name, str(self.shape), "—", "—", "—", *self.shown)
        return (self.name, str(self.shape), f"{self.max_abs_error:.2e}", f"{self.max_rel_error:.2e}",
                str(self.worst_index), f"{self.analytic:.6g}", f"{self.numeric:.6g}")


@dataclass
class ArraysReport:
    """One ArrayReport per compared array, the tolerances, and whether all passed.

    A report passes when every array passes and at least one gradient proves
    something (``proves_nothing`` is False).
    """

    label: str
    arrays: list
    atol: float = ATOL
    rtol: float = RTOL

    @property
    def gradients(self):
        """The rows that hold gradients (every row here; the comparison also has an output row)."""
        return self.arrays

    @property
    def proves_nothing(self):
        """True when no gradient row says anything: none at all, or each one vacuous."""
        return all(array.vacuous for array in self.gradients)

    @property
    def passed(self):
        return all(array.passed for array in self.arrays) and not self.proves_nothing

    @property
    def max_rel_error(self):
        return max((array.max_rel_error for array in self.arrays), default=0.0)

    def __getitem__(self, name):
        for array in self.arrays:
            if array.name == name:
                return array
        raise KeyError(f"no array named {name!r}; have {[a.name for a in self.arrays]}")

    def explanations(self):
        """Lines under the table: each array's problem, and why a check that proves nothing fails."""
        lines = [wrap(f"problem: {array.name}: {array.problem}") for array in self.arrays if array.problem]
        if self.proves_nothing:
            lines.append(wrap("problem: no gradient was compared: every one is empty, excluded at a kink, or "
                              f"within {self.atol:g} of 0 on both sides, where a backward returning zeros passes "
                              "too; choose other inputs (away from kinks, not all negative into a ReLU, more than "
                              "one class)"))
        return lines


@dataclass
class GradcheckReport(ArraysReport):
    """The result of a gradient check: one ArrayReport per gradient, and whether all passed."""

    eps: float = EPS

    @property
    def excluded(self):
        return sum(array.excluded for array in self.arrays)

    def __str__(self):
        verdict = "passed" if self.passed else "FAILED"
        heading = (f"gradcheck {self.label}: {verdict} "
                   f"(float64, eps={self.eps:g}, |analytic - numeric| <= {self.atol:g} + {self.rtol:g}*|numeric|)")
        header = ("gradient", "shape", "max abs err", "max rel err", "worst index", "analytic", "numeric",
                  "excluded", "status")
        rows = [(*a.cells(), str(a.excluded), a.status) for a in self.arrays]
        return "\n".join([heading, *format_table(header, rows), *self.explanations()])


def format_table(header, rows):
    """Lines of a plain-text table, each column as wide as its widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()
            for cells in (header, *rows)]


def wrap(text):
    """A long report line folded at 100 characters, continuation lines indented."""
    return textwrap.fill(text, width=100, subsequent_indent="    ", break_on_hyphens=False)


# -- comparing two arrays ------------------------------------------------------------

def compare_arrays(name, analytic, numeric, atol=ATOL, rtol=RTOL, kink_signal=None, sides=(ANALYTIC, NUMERIC)):
    """Compare two arrays of one shape entry by entry: |analytic − numeric| <= atol + rtol·|numeric|.

    ``kink_signal`` (from the finite differences) marks entries whose step
    crossed a kink: those are counted as excluded instead of failing.
    ``sides`` name the two arrays in the report's messages.  Never raises
    for what the arrays hold: a missing array, a wrong shape, values that are
    not real numbers or not finite make a failing row whose ``problem`` says
    which side, where, and what to do.
    """
    problem = _unusable(analytic, numeric, sides)
    if problem:
        failed = _failed(name, _shape_of(numeric), problem)
        failed.shown = (_what_it_is(analytic), _what_it_is(numeric))
        return failed
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if analytic.size == 0:
        return ArrayReport(name, analytic.shape, 0.0, 0.0, (), math.nan, math.nan, 0, True, True)
    finite = np.isfinite(analytic) & np.isfinite(numeric)
    if not finite.all():
        return _not_finite(name, analytic, numeric, finite, sides)         # eq. (12)
    with np.errstate(over="ignore"):                                     # two huge values: an infinite error
        error = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    relative = np.divide(error, scale, out=np.zeros_like(error), where=scale > 0)
    failing = error > atol + rtol * np.abs(numeric)                      # eq. (6)
    at_kink = (failing & (np.abs(kink_signal) >= error) & np.isfinite(error)   # eq. (9): a kink explains it
               if kink_signal is not None else np.zeros_like(failing))
    counted = ~at_kink
    worst = np.unravel_index(np.argmax(np.where(counted, error, -1.0)), error.shape)
    excluded = int(at_kink.sum())
    return ArrayReport(
        name=name,
        shape=analytic.shape,
        max_abs_error=float(np.max(error, where=counted, initial=0.0)),
        max_rel_error=float(np.max(relative, where=counted, initial=0.0)),
        worst_index=tuple(int(i) for i in worst),
        analytic=float(analytic[worst]),
        numeric=float(numeric[worst]),
        excluded=excluded,
        vacuous=excluded == error.size or bool(scale.max() <= atol),      # eq. (13)
        passed=not bool((failing & counted).any()),
    )


def _what_it_is(value):
    """A side that cannot be compared, in a table cell: 'None', 'shape (3, 4)', 'complex128', 'list'."""
    if value is None:
        return "None"
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return type(value).__name__
    return f"shape {array.shape}" if array.dtype.kind in "biuf" else str(array.dtype)


def _shape_of(value):
    """The shape of ``value`` as an array, () for what cannot be one."""
    try:
        return () if value is None else np.shape(value)
    except ValueError:        # a ragged list
        return ()


def _unusable(analytic, numeric, sides):
    """Why the two cannot be compared entry by entry ('' when they can)."""
    for value, side in zip((analytic, numeric), sides):
        if value is None:
            return f"{side.name} is None, not an array (a `return` missing?)"
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError) as error:   # e.g. a ragged list
            return f"{side.name} is not an array of numbers ({type(value).__name__}: {error})"
        if dtype.kind not in "biuf":
            return (f"{side.name} holds {dtype} values, not real numbers (a list of arrays? a complex result, "
                    "whose imaginary part would be dropped?); return a float array")
    if np.shape(analytic) != np.shape(numeric):
        return (f"{sides[0].name} has shape {np.shape(analytic)}, {sides[1].name} {np.shape(numeric)}: "
                "arrays are compared entry by entry, never broadcast")
    return ""


def _not_finite(name, analytic, numeric, finite, sides):
    """The failing row of an array with a NaN or an infinity on either side, at its first such entry."""
    where = tuple(int(i) for i in np.argwhere(~finite)[0])
    a, n = float(analytic[where]), float(numeric[where])
    (side, value), (other_side, other) = ((sides[0], a), (sides[1], n)) if not math.isfinite(a) else \
        ((sides[1], n), (sides[0], a))
    kind = "NaN" if math.isnan(value) else "+inf" if value > 0 else "-inf"
    more = int((~finite).sum()) - 1
    also = f" (and {more} more non-finite entr{'y' if more == 1 else 'ies'})" if more else ""
    return _failed(name, analytic.shape, f"{side.name} is {kind} at index {where}, where {other_side.name} is "
                                         f"{other:.6g}{also}: {side.if_not_finite}", where, a, n)


def _failed(name, shape, problem, where=(), analytic=math.nan, numeric=math.nan):
    """A failing row: infinite errors, the entry where it went wrong (if any), and the problem."""
    return ArrayReport(name, tuple(shape), math.inf, math.inf, where, analytic, numeric, excluded=0, vacuous=False,
                       passed=False, problem=problem)
