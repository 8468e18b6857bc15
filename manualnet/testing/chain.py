"""A backward as its derivation writes it, and the mistakes made by writing one of its lines wrong.

``Chain`` evaluates a layer's backward from the reference layer (its
parameters, its options, what its forward computes), the inputs and the
upstream gradient, one named quantity at a time in the derivation's symbols
(``do``, ``dc``, ``da`` ...), each one line of one equation.  It serves the
comparison twice:

* a ``Mistake`` replaces one line (``dc_prev = dc`` where ``dc ⊙ f``
  belongs) and the chain reproduces what that mistake gives, exactly: a
  failing row equal to it, where the right value is not, is that mistake —
  a fact about the numbers, as every diagnosis is;
* the names each line reads say which rows a wrong line can reach, so a
  failure that no mistake explains still points at the first quantity of
  the chain that could have caused it (``first_suspects``).

A ``MistakeTable`` is what ``compare_modules(..., mistakes=table)`` takes:
a chain and its mistakes, named in the words of the code that makes them.
The exercises' tables are in ``manualnet.grader.mistakes``;
tests/grader/test_mistakes.py checks that every chain, unchanged, equals its
layer's own backward.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Step:
    """One line of a backward: a quantity, how the derivation writes it, and how to compute it."""

    name: str               # the quantity, "dc_prev"
    formula: str            # the derivation's line, "dc_prev = dc ⊙ f"
    equation: str           # its number on the page, "(13)"
    compute: Callable       # (q) -> the value, from the given values and earlier quantities (q.dc, q.f)

    @property
    def words(self):
        """How a diagnosis cites this line: 'dc_prev = dc ⊙ f, eq. (13)'."""
        return f"{self.formula}, eq. {self.equation}"


class Quantities(dict):
    """The chain's values by name, read as attributes (``q.dc``); remembers every name read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def __getattr__(self, name):
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"the chain has no quantity {name!r} (yet)") from None
        self.read.add(name)
        return value


def evaluate(steps, values, replace=None, reads=None):
    """Quantities: ``values``, then each step's in order; ``replace`` {name: compute} swaps a line (or, for a
    name in ``values`` that no line makes, reads that value differently before any line runs).  ``reads``, a
    dict, receives the names each line read."""
    replace = replace or {}
    q = Quantities(values)
    lines = {step.name for step in steps}
    for name, compute in replace.items():
        if name in q and name not in lines:
            q[name] = compute(q)
    for step in steps:
        q.read = set()
        q[step.name] = replace.get(step.name, step.compute)(q)
        if reads is not None:
            reads[step.name] = q.read
    return q


@dataclass(frozen=True)
class Chain:
    """A layer's backward, line by line, from what the reference layer and the inputs give.

    ``given(reference, inputs)`` returns the named values every line may
    read: the parameters, the inputs, the options and what forward computes.
    ``upstream`` names the parts of the upstream gradient (``("G",)``, an
    LSTM cell's ``("dh_next", "dc_next")``, a loss's ``("g",)``).  ``inputs``
    and ``parameters`` map the comparison's rows to quantities
    (``{"input.grad": "dx"}``); a parameter row holds the sum over the
    comparison's passes, as ``+=`` into ``.grad`` does (the last pass alone
    when ``accumulates`` is False: a whole model that stores its gradient).
    A quantity that is None (no bias) gives no row.
    """

    given: Callable
    upstream: tuple
    steps: tuple
    inputs: dict
    parameters: dict = field(default_factory=dict)
    accumulates: bool = True

    def step(self, name):
        return next(step for step in self.steps if step.name == name)

    def evaluate(self, given, upstream, replace=None, reads=None):
        """Every quantity for one upstream gradient (see ``evaluate``)."""
        parts = (upstream,) if len(self.upstream) == 1 else tuple(upstream)
        return evaluate(self.steps, {**given, **dict(zip(self.upstream, parts))}, replace, reads)

    def rows(self, reference, inputs, upstreams, replace=None, assigned=()):
        """{row: value} as the comparison's passes (one per upstream gradient) would leave them.

        ``assigned`` names the quantities a backward assigns (=) into ``.grad``: their rows keep the last pass's.
        """
        given = self.given(reference, inputs)
        passes = [self.evaluate(given, upstream, replace) for upstream in upstreams]
        rows = {row: passes[0][name] for row, name in self.inputs.items()}
        for row, name in self.parameters.items():
            values = [q[name] for q in passes]
            if values[-1] is not None:
                rows[row] = sum(values) if self.accumulates and name not in assigned else values[-1]
        return {row: np.asarray(value, dtype=np.float64) for row, value in rows.items() if value is not None}

    def words(self, row):
        """The line that produces a row, as a diagnosis cites it, or None for a row the chain does not make."""
        name = {**self.inputs, **self.parameters}.get(row)
        return None if name is None else self.step(name).words

    def first_suspects(self, reference, inputs, upstream, failing, passing):
        """The lines that reach every failing row and no passing one, in the chain's order.

        Which rows a line reaches follows from the names each line reads,
        traced on this very case (a branch not taken reads nothing).  The
        first such line is the first quantity of the chain that can explain
        the failure by itself; an empty list when no single line can.
        """
        reads = {}
        self.evaluate(self.given(reference, inputs), upstream, reads=reads)
        rows_of = {}
        for row, name in {**self.inputs, **self.parameters}.items():
            rows_of.setdefault(name, set()).add(row)
        reach = {}
        for index in reversed(range(len(self.steps))):
            name = self.steps[index].name
            reach[name] = rows_of.get(name, set()).union(
                *(reach[later.name] for later in self.steps[index + 1:] if name in reads[later.name]))
        failing, passing = set(failing), set(passing)
        return [step for step in self.steps if reach[step.name] >= failing and not reach[step.name] & passing]


@dataclass(frozen=True)
class Mistake:
    """A classic wrong backward, named in the words of the code that makes it, and how to reproduce it.

    The diagnosis reads "{said}; re-read {equation}" and the evidence;
    the hint is ``why``.  A mistake is reproduced by the chain with
    ``replace`` {quantity: compute} in place of the right lines, by each of
    ``variants`` ((detail, replace), ...) when there are several ways to make
    it (the gate blocks in any other order), or by ``reproduce(reference,
    inputs, upstreams)`` -> [(detail, {row: value})] when no line of the chain
    can say it (a Sequential's modules run in the wrong order).
    ``assigns`` names the quantities it writes with ``=`` into ``.grad``
    where ``+=`` belongs (a variant (detail, replace, assigns) has its own).
    """

    name: str               # "forget gate left out"
    said: str               # "your dc_prev leaves out the forget gate", to the learner
    equation: str           # what to re-read: "dc_prev = dc ⊙ f, eq. (13)"
    why: str                # the hint, a sentence: why the right line is right
    replace: dict = None
    variants: tuple = ()
    reproduce: Callable = None
    assigns: tuple = ()

    def says(self, detail=""):
        """The diagnosis's words: what the code did, how, and the line to re-read."""
        return self.said + (f" ({detail})" if detail else "") + f"; re-read {self.equation}"

    def ways(self):
        """((detail, replace), ...): each way of making this mistake as lines of the chain replaced."""
        return self.variants or (("", self.replace),)

    def reproductions(self, chain, reference, inputs, upstreams):
        """[(detail, {row: value})]: what this mistake gives on this case, one entry per way of making it."""
        if self.reproduce is not None:
            return self.reproduce(reference, inputs, upstreams)
        found = []
        for detail, replace, *assigns in self.ways():
            try:
                with np.errstate(all="ignore"):
                    found.append((detail, chain.rows(reference, inputs, upstreams, replace,
                                                     assigns[0] if assigns else self.assigns)))
            except (ValueError, IndexError, ZeroDivisionError):
                continue                    # this way of making the mistake does not fit this case's shapes
        return found


@dataclass(frozen=True)
class MistakeTable:
    """A layer's chain and the mistakes it names, for ``compare_modules(..., mistakes=table)``."""

    chain: Chain = None
    mistakes: tuple = ()
    page: str = ""          # the derivation page the equations are on, "derivations/lstm.md#backward"

    def names(self):
        return [mistake.name for mistake in self.mistakes]
