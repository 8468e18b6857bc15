"""Compare your module with a trusted one: same weights, same inputs, same upstream gradients.

``compare_modules(mine, reference, *inputs)`` works on float64 copies of both
(your module is never touched):

1. it gives ``mine`` the reference's parameters, matched by name (``weights``
   finds ``weight``), else by order, and transposed when yours are stored
   the other way round (the (in, out) layout of ``x @ W``);
2. it runs forward and backward TWICE with random upstream gradients R₁, R₂
   (never all ones: a uniform R hides the softmax and batch-norm input
   gradients; never proportional to an input) and no ``zero_grad``
   between, so each parameter's ``.grad`` must hold the sum of both
   passes, as backward's ``+=`` promises; each module gets its own copy of
   every input and upstream gradient, so one that changes them in place
   cannot change what the other sees;
3. it compares the output, the input gradient (first pass) and every
   parameter gradient with ``manualnet.reports.compare_arrays`` (the
   tolerances of gradcheck), and names the mistake when the numbers show
   one (see ``manualnet.testing.diagnoses``).  It never passes a NaN or an
   infinity on either side, an array of the wrong shape, ``None``, or
   values that are not real numbers, and a comparison in which every
   gradient is empty or within ATOL of 0 on both sides fails: it compared
   nothing.

Only the first input is differentiated; any others (a loss's target) are
held fixed.  ``mine`` may be a ``manualnet.Module`` or anything with
``forward``, ``backward`` and ``named_parameters()`` or ``parameters()``
whose items have ``.data`` and ``.grad`` arrays; wrap plain function pairs
in ``FunctionModule``.
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from manualnet.nn.modules.dropout import Dropout
from manualnet.testing.gradcheck import as_float64, input_names, leaves, map_structure, random_upstream
from manualnet.nn.modules.module import Module
from manualnet.testing.reports import ATOL, RTOL, ArraysReport, Side, compare_arrays, format_table, wrap
from manualnet._rng import as_generator
from .diagnoses import (REPRODUCED, Candidate, Evidence, describe_all, diagnose, diagnose_shape,
                        name_mistakes)
from manualnet.testing.bugzoo.mistaken import mistaken_runs

MINE = Side("mine", "your module produced it: look for 0/0, inf - inf, log(0) or an overflow in it")
REFERENCE = Side("reference", "the reference is not finite at these inputs: choose inputs inside its domain")


class MismatchError(AssertionError):
    """Two modules disagree; ``.report`` holds the ComparisonReport, printed as a table."""

    def __init__(self, report):
        self.report = report
        super().__init__(str(report))


@dataclass
class ComparisonReport(ArraysReport):
    """One row per compared array (output, input.grad, <parameter>.grad), notes and diagnoses.

    In each row ``analytic`` is mine and ``numeric`` the reference's value at
    the worst index.  ``report["bias.grad"]`` picks a row;
    ``report.diagnosed("bias.grad")`` lists the mistakes named for it.
    It passes when every row passes and at least one gradient row proves
    something (not every one ~0 on both sides, or empty).
    """

    reference: str = ""
    notes: list = field(default_factory=list)
    diagnoses: list = field(default_factory=list)
    accumulates: bool = True        # the modules have parameters, whose .grad must sum both passes
    suspects: list = field(default_factory=list)    # with a MistakeTable: the first lines that can explain
                                                    # the failing rows no diagnosis names (Chain.first_suspects)

    @property
    def gradients(self):
        return [array for array in self.arrays if array.name != "output"]

    def diagnosed(self, array=None):
        """Names of the diagnosed mistakes, for one row or for all."""
        return [d.name for d in self.diagnoses if array is None or d.array == array]

    def __str__(self):
        verdict = "passed" if self.passed else "FAILED"
        passes = "; 2 passes, no zero_grad between: each .grad sums both" if self.accumulates else ""
        lines = [
            f"compare {self.label} with {self.reference}: {verdict}",
            f"(float64, |mine - reference| <= {self.atol:g} + {self.rtol:g}*|reference|{passes})",
            *format_table(("compared", "shape", "max abs err", "max rel err", "worst index", "mine", "reference",
                           "status"), [(*a.cells(), a.status) for a in self.arrays]),
        ]
        lines += [wrap(f"note: {note}") for note in self.notes]
        lines += self.explanations()
        lines += [wrap(f"diagnosis: {line}") for line in describe_all(self.diagnoses)]
        return "\n".join(lines)


def compare_modules(mine, reference, *inputs, atol=ATOL, rtol=RTOL, rng=None, mistakes=None):
    """Run ``mine`` and ``reference`` on the same inputs and upstream gradients; report every difference.

    Returns a ComparisonReport (``.passed``, one row per array, ``.diagnoses``).
    ``rng`` (Generator, int seed or None) draws the upstream gradients.
    ``mistakes``, a ``manualnet.testing.chain.MistakeTable`` for the
    reference's layer, adds its named mistakes (tried first, in its words)
    and the lines of its chain that the diagnoses cite.
    """
    if not inputs:
        raise TypeError("compare_modules: give at least one input array")
    inputs = [as_float64(x) for x in inputs]
    for position, x in enumerate(inputs):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f" and not np.isfinite(x).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise ValueError(f"compare_modules: input {position} holds {x[where]} at index {where}; "
                             "compare on finite inputs")
    mine, reference = _float64_copy(mine, "mine"), _float64_copy(reference, "reference")
    pairs = _give_reference_parameters(mine, reference, inputs)
    return _run_and_compare(mine, reference, inputs, pairs, atol, rtol, as_generator(rng), mistakes)


def assert_modules_match(mine, reference, *inputs, atol=ATOL, rtol=RTOL, rng=None, mistakes=None):
    """``compare_modules``, raising MismatchError (an AssertionError) with the report when any row fails."""
    report = compare_modules(mine, reference, *inputs, atol=atol, rtol=rtol, rng=rng, mistakes=mistakes)
    if not report.passed:
        raise MismatchError(report)
    return report


# -- float64 copies --------------------------------------------------------------

def _float64_copy(module, role):
    for method in ("forward", "backward"):
        if not callable(getattr(module, method, None)):
            raise TypeError(f"compare_modules: {role} ({type(module).__name__}) has no {method}() method; "
                            "expected a manualnet Module, or an object with forward, backward and parameters; "
                            "wrap plain functions in FunctionModule(forward, backward, params)")
    probe = copy.deepcopy(module)
    if isinstance(probe, Module):
        return probe.astype(np.float64)
    for _, parameter in _named_parameters(probe, role):
        if parameter.data.dtype != np.float64:   # only then: some parameters are read-only views
            parameter.data = parameter.data.astype(np.float64)
            parameter.grad = np.zeros_like(parameter.data)
    return probe


def _named_parameters(module, role):
    """(name, parameter) pairs of a Module or a duck-typed module; each needs .data and .grad."""
    if hasattr(module, "named_parameters"):
        named = list(module.named_parameters())
    elif hasattr(module, "parameters"):
        named = [(f"parameters()[{i}]", p) for i, p in enumerate(module.parameters())]
    else:
        named = []
    for name, parameter in named:
        if not isinstance(getattr(parameter, "data", None), np.ndarray) or not hasattr(parameter, "grad"):
            raise TypeError(f"compare_modules: {role}'s parameter {name!r} needs .data and .grad arrays "
                            f"(a manualnet Parameter), got {type(parameter).__name__}")
    return named


# -- matching parameters ------------------------------------------------------

@dataclass
class _Pair:
    mine_name: str
    mine: object
    reference_name: str
    reference: object
    transposed: bool = False


_ALIASES = {"weights": "weight", "w": "weight", "biases": "bias", "b": "bias"}


def _plain_name(name):
    """'lin_1.weights' -> 'lin_1.weight': names that differ only by a common alias match."""
    *path, last = name.split(".")
    return ".".join([*path, _ALIASES.get(last.lower(), last.lower())])


def _pair_parameters(mine, reference):
    """Pair every reference parameter with one of mine: by name, then alias, then order."""
    mine_named = dict(_named_parameters(mine, "mine"))
    reference_named = dict(_named_parameters(reference, "reference"))
    pairs, unpaired = {}, dict(mine_named)
    for rule in (lambda name: name, _plain_name):
        for name in reference_named:
            if name in pairs:
                continue
            found = [m for m in unpaired if rule(m) == rule(name)]
            if len(found) == 1:
                pairs[name] = found[0]
                del unpaired[found[0]]
    rest = [name for name in reference_named if name not in pairs]
    if len(rest) == len(unpaired):
        pairs.update(zip(rest, unpaired))
        unpaired = {}
    problems = [f"nothing of mine matches the reference's {name!r}" for name in reference_named if name not in pairs]
    problems += [f"mine has {name!r}, which the reference lacks" for name in unpaired]
    result = []
    for name, mine_name in pairs.items():
        mine_shape, reference_shape = mine_named[mine_name].data.shape, reference_named[name].data.shape
        if mine_shape != reference_shape and not (len(mine_shape) == 2 and mine_shape == reference_shape[::-1]):
            problems.append(f"mine's {mine_name!r} has shape {mine_shape}, the reference's {name!r} {reference_shape}")
        result.append(_Pair(mine_name, mine_named[mine_name], name, reference_named[name],
                            transposed=mine_shape != reference_shape))
    if problems:
        raise ValueError(
            "compare_modules: cannot give mine the reference's parameters: " + "; ".join(problems)
            + ".\n  mine:      " + _list_shapes(mine_named) + "\n  reference: " + _list_shapes(reference_named)
        )
    return sorted(result, key=lambda pair: list(reference_named).index(pair.reference_name))


def _list_shapes(named):
    return ", ".join(f"{name} {p.data.shape}" for name, p in named.items()) or "(no parameters)"


def _copy_values(pairs):
    for pair in pairs:
        values = pair.reference.data.T if pair.transposed else pair.reference.data
        np.copyto(pair.mine.data, values)


def _give_reference_parameters(mine, reference, inputs):
    """Copy the reference's parameters (and same-named buffers) into mine; return the pairs.

    A square weight's layout cannot be read from its shape: if mine's output
    disagrees with the weights copied as they are, and agrees with every
    square one transposed, mine stores them transposed.
    """
    pairs = _pair_parameters(mine, reference)
    _copy_values(pairs)
    _copy_buffers(mine, reference)
    square = [p for p in pairs if p.mine.data.ndim == 2 and p.mine.data.shape[0] == p.mine.data.shape[1]]
    if square and not _outputs_agree(mine, reference, inputs):
        for pair in square:
            pair.transposed = True
        _copy_values(pairs)
        if not _outputs_agree(mine, reference, inputs):
            for pair in square:
                pair.transposed = False
            _copy_values(pairs)
    return pairs


def _copy_buffers(mine, reference):
    """Same-named, same-shaped buffers (BatchNorm's running statistics) are state too: copy them."""
    if not (isinstance(mine, Module) and isinstance(reference, Module)):
        return
    theirs = dict(reference.named_buffers())
    for name, buffer in mine.named_buffers():
        if name in theirs and np.shape(theirs[name]) == np.shape(buffer):
            np.copyto(buffer, theirs[name], casting="unsafe")


def _outputs_agree(mine, reference, inputs):
    """Whether throwaway copies of the two give the same output (so the real ones keep their state)."""
    mine_output = copy.deepcopy(mine).forward(*_fresh(inputs))
    reference_output = copy.deepcopy(reference).forward(*_fresh(inputs))
    pairs = list(zip(leaves(mine_output), leaves(reference_output)))
    return len(pairs) == len(leaves(reference_output)) and all(
        np.shape(mine_part) == np.shape(reference_part) and np.allclose(mine_part, reference_part)
        for (_, mine_part), (_, reference_part) in pairs)


def _notes(pairs):
    """Say where mine's parameters differ from the reference's in name or layout."""
    notes = []
    for pair in pairs:
        mine_shape, reference_shape = pair.mine.data.shape, pair.reference.data.shape
        if pair.transposed:
            notes.append(f"mine's {pair.mine_name!r} {mine_shape} is the reference's {pair.reference_name!r} "
                         f"{reference_shape} transposed, the (in, out) layout of x @ W: its values are copied "
                         "and its gradient compared transposed")
        elif pair.mine_name != pair.reference_name:
            notes.append(f"mine's {pair.mine_name!r} plays the reference's {pair.reference_name!r}")
    return notes


# -- running both and comparing -------------------------------------------------

def _run_and_compare(mine, reference, inputs, pairs, atol, rtol, rng, table):
    """Two passes of forward and backward through both; one row per compared array.

    Each module gets its own copy of every input and upstream gradient: one
    that changes an array in place cannot change what the other one sees.
    """
    report = ComparisonReport(_describe(mine), [], atol, rtol, reference=_describe(reference), notes=_notes(pairs),
                              accumulates=bool(pairs))
    first_input = np.asarray(inputs[0])
    evidence = dict(atol=atol, rtol=rtol, batch_size=len(first_input) if first_input.ndim else 1,
                    elements=first_input.size, dropout_p=reference.p if isinstance(reference, Dropout) else None)
    rows = {}                                    # row name -> _Row, in report order
    _zero_grads(mine)
    _zero_grads(reference)

    outputs = mine.forward(*_fresh(inputs)), reference.forward(*_fresh(inputs))
    if not _add_output_rows(report, *outputs, evidence, rows):
        _diagnose(report, rows, [])
        return report                            # no common upstream gradient fits both outputs
    first = _upstream(outputs[1], rng, inputs)
    input_grads = [_copy(mine.backward(_copy(first))), _copy(reference.backward(_copy(first)))]
    first_grads = [np.array(pair.reference.grad, dtype=np.float64) for pair in pairs]

    mine.forward(*_fresh(inputs))
    second = _upstream(reference.forward(*_fresh(inputs)), rng, inputs)
    mine.backward(_copy(second))
    reference.backward(_copy(second))

    scalar = first if isinstance(first, float) else None     # a loss's g: it scales every row
    input_evidence = (dict(evidence, upstream=scalar) if isinstance(outputs[1], tuple) else
                      dict(evidence, upstream=first, output=outputs[1]))
    for name, mine_grad, reference_grad in _input_gradient_rows(reference, inputs, *input_grads):
        _add_row(report, name, mine_grad, reference_grad, input_evidence, rows)
    for pair, first_grad in zip(pairs, first_grads):
        mine_grad, reference_grad = _copy(pair.mine.grad), np.asarray(pair.reference.grad, dtype=np.float64)
        if pair.transposed and np.ndim(mine_grad) == 2:
            mine_grad = mine_grad.T
        _add_row(report, f"{pair.reference_name}.grad", mine_grad, reference_grad,
                 dict(evidence, upstream=scalar, last_pass=reference_grad - first_grad), rows)
    if any(row.failed for row in rows.values()):
        upstreams = (first, second)
        chain = table.chain if table is not None else None
        _diagnose(report, rows, _candidates(table, reference, inputs, outputs[0], upstreams), chain)
        unnamed = [name for name, row in rows.items() if row.failed and not report.diagnosed(name)]
        if chain is not None and unnamed:
            passing = [name for name, row in rows.items() if not row.failed and name != "output"]
            report.suspects = chain.first_suspects(reference, _fresh(inputs), first, unnamed, passing)
    return report


@dataclass
class _Row:
    """One compared array, kept for the diagnosis: mine (None if not an array of numbers), the reference's, and
    what failed."""

    mine: object
    reference: object
    evidence: dict
    failed: bool                # the row failed on its numbers, or on its shape
    wrong_shape: bool = False


def _add_row(report, name, mine, reference, evidence, rows):
    """Compare one array and keep it for the diagnosis.  False when mine is no array of the reference's shape."""
    row = compare_arrays(name, mine, reference, report.atol, report.rtol, sides=(MINE, REFERENCE))
    report.arrays.append(row)
    mine_array, reference = _numbers(mine), _numbers(reference)
    if reference is None:
        return False                             # the row's problem says what the reference gave
    wrong_shape = mine is None or (mine_array is not None and mine_array.shape != reference.shape)
    if mine_array is None and not wrong_shape:
        return False                             # object or complex values: the row's problem says so
    not_finite = mine_array is not None and mine_array.shape == reference.shape and not np.isfinite(mine_array).all()
    rows[name] = _Row(mine_array, reference, evidence, wrong_shape=wrong_shape,
                      failed=wrong_shape or (not row.passed and (not row.problem or not_finite)))
    return not wrong_shape


def _diagnose(report, rows, candidates, chain=None):
    """Name the mistake behind each failing row: a reproduced mistake first, then a relation of the numbers."""
    compared = {name: (row.mine, row.reference) for name, row in rows.items()}
    failing = [name for name, row in rows.items() if row.failed]
    named, left = name_mistakes(compared, failing, candidates, report.atol, report.rtol)
    report.diagnoses += named
    for name in left:
        row = rows[name]
        if row.wrong_shape:
            report.diagnoses.append(diagnose_shape(name, row.mine, row.reference, report.atol, report.rtol))
            continue
        if not np.isfinite(row.mine).all():
            continue                             # its problem says where the NaN or the infinity is
        words = chain.words(name) if chain is not None else None
        diagnosis = diagnose(name, Evidence(row.mine, row.reference, **row.evidence, words=words))
        if diagnosis:
            report.diagnoses.append(diagnosis)
    order = list(rows)
    report.diagnoses.sort(key=lambda diagnosis: order.index(diagnosis.array))


def _candidates(table, reference, inputs, mine_output, upstreams):
    """The mistakes that could explain this comparison, each with the rows it gives: the table's own (in its words)
    first, then those ``bugzoo.mistaken`` reproduces for any layer of the reference's kind."""
    found = []
    if table is not None:
        for mistake in table.mistakes:
            for detail, values in mistake.reproductions(table.chain, reference, _fresh(inputs), upstreams):
                says = mistake.says(detail)
                found.append(Candidate(mistake.name, says, values, why=mistake.why))
    for name, run in mistaken_runs(reference, _fresh(inputs), mine_output, upstreams).items():
        values = {}
        if run.output is not None:
            values.update(_output_leaves(run.output))
        if run.input_grads is not None:
            values.update(_input_gradient_leaves(reference, inputs, run.input_grads))
        values.update({f"{parameter}.grad": grad for parameter, grad in run.parameter_grads.items()})
        says = REPRODUCED[name] + (f" ({run.detail})" if run.detail else "")
        found.append(Candidate(name, says, {row: np.asarray(value, dtype=np.float64)
                                             for row, value in values.items() if value is not None}))
    return found


def _numbers(value):
    """``value`` as a float64 array if it is an array of real numbers, else None."""
    try:
        array = None if value is None else np.asarray(value)
    except ValueError:                           # a ragged list
        return None
    return array.astype(np.float64) if array is not None and array.dtype.kind in "biuf" else None


def _copy(value):
    """A private copy of an array, or of each array of a tuple (anything else, a float or what a module wrongly
    returned, as it is)."""
    if isinstance(value, tuple):
        return tuple(_copy(part) for part in value)
    return value.copy() if isinstance(value, np.ndarray) else value


def _fresh(inputs):
    """Private copies of the inputs, so that no module sees another's in-place changes."""
    return [_copy(x) for x in inputs]


def _upstream(output, rng, inputs):
    """A random upstream gradient R ~ N(0, 1) shaped like the output (a float for a scalar loss).

    A tuple output (a recurrent layer's (output, h_n)) gets one R per array, in the same structure.
    """
    if isinstance(output, tuple):
        return map_structure(lambda part: _upstream(part, rng, inputs), output)
    R = random_upstream(rng, np.shape(output), avoid=[array for _, array in leaves(list(inputs))])
    return float(R) if R.ndim == 0 else R


def _output_leaves(output):
    """[(row name, array)]: 'output', or 'output[0]', 'output[1]', … for a tuple (a recurrent layer's (output, h_n))."""
    if not isinstance(output, tuple):
        return [("output", output)]
    return [("output" + "".join(f"[{index}]" for index in path), array) for path, array in leaves(output)]


def _add_output_rows(report, mine, reference, evidence, rows):
    """One row per output array of the reference; False if any shape differs."""
    mine_leaves = dict(_output_leaves(mine)) if isinstance(mine, tuple) == isinstance(reference, tuple) else {}
    fits = True
    for name, array in _output_leaves(reference):
        fits = _add_row(report, name, mine_leaves.get(name), array, evidence, rows) and fits
    return fits


def _input_gradient_leaves(reference, inputs, grads):
    """[(row name, array)] for what backward returned: 'input.grad', then e.g. 'hx.grad' (or 'hx[0].grad')
    when backward returns a tuple (dL/dinput, dL/dhx).  An integer input (labels, token indices) has none."""
    if not isinstance(grads, tuple):
        return [] if grads is None else [("input.grad", grads)]
    names = input_names(reference, max(len(inputs), len(grads)))
    return [(names[path[0]] + "".join(f"[{index}]" for index in path[1:]) + ".grad", array)
            for path, array in leaves(grads)]


def _input_gradient_rows(reference, inputs, mine, theirs):
    """(row name, mine, reference) for each input gradient the reference returned; a lone array of mine is
    dL/dinput."""
    mine_leaves = (dict(_input_gradient_leaves(reference, inputs, mine)) if isinstance(mine, tuple)
                   else {"input.grad": mine})
    return [(name, mine_leaves.get(name), array) for name, array in _input_gradient_leaves(reference, inputs, theirs)]


def _zero_grads(module):
    if callable(getattr(module, "zero_grad", None)):
        module.zero_grad()
    else:
        for _, parameter in _named_parameters(module, type(module).__name__):
            parameter.grad[...] = 0


def _describe(module):
    return module.describe() if callable(getattr(module, "describe", None)) else type(module).__name__
