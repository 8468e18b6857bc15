"""The classic backward mistakes, recognised from the numbers they leave behind.

When a row of a comparison fails, mine (M) and the reference (R) usually
stand in a relation that names the mistake.  Two kinds are checked, each
entry by entry to the comparison's own tolerance:

* a simple relation: M = 0 where R is not (a path of the chain rule left
  out), M = N·R (a missing 1/N), M = Rᵀ (a transposed weight gradient),
  M = −R (a flipped sign) ...;
* a reproduction: the value the row takes when a known mistake is made —
  the reference re-run the way the mistake runs (``bugzoo.mistaken``), or
  a line of the layer's chain replaced (``manualnet.testing.chain``).
  ``name_mistakes`` prefers the mistake that explains the most failing
  rows while leaving the passing rows as they are.

A diagnosis is therefore a fact about the numbers, never a guess from a
single entry, and it says what shows it: which entries, which ratio.  A
failing row that fits nothing gets no name.  The names of the relations and
of the reproductions the comparison always tries are listed in
``MISTAKES``; a ``MistakeTable`` adds its own.
"""

import math
from dataclasses import dataclass

import numpy as np

MISTAKES = {
    "path missing": "a gradient that is 0 where the reference is not: a line never written, or a term left out",
    "entries missing": "right at some entries and 0 at others where the reference is not: part of it never arrives",
    "upstream ignored": "the gradient of an upstream of all ones: backward never multiplies by grad_output",
    "not accumulated": "backward assigns (=) into .grad where it must add (+=)",
    "transposed": "a weight gradient in the other layout: (in, out) for (out, in) or back",
    "sum vs mean": "off by the batch size (or the element count) a mean divides by",
    "sign flipped": "the right size with the wrong sign",
    "factor of 2": "twice or half the right value",
    "dropout scale": "dropout scaled by 1/p where 1/(1 − p) belongs",
    "constant factor": "the right direction scaled by some other constant",
    "mask missing": "right where the reference is nonzero, but nonzero where it is exactly 0",
    "softmax diagonal": "the softmax Jacobian applied element-wise: only its diagonal p(1 − p)",
    "derivative as value": "the function's value used as its derivative: σ(z) for σ(z)(1 − σ(z))",
    "mean term missing": "off by one constant per feature: a term averaged over the batch is missing",
    "shape": "an array of the wrong shape, or none at all",
    # Convolution and pooling: each reproduced by re-running the bug zoo's layer.
    "kernel not flipped": "a convolution's input gradient with every kernel turned by 180°",
    "stride not dilated": "a strided convolution's input gradient sent to windows one cell apart, not s cells",
    "max to whole window": "max pooling's gradient sent to every cell of the window, not only its maximum",
    "max to every tie": "max pooling's gradient sent to every cell equal to the maximum, not only the first",
    "average not divided": "average pooling's gradient not divided by the window's size",
    "batch-norm axes": "batch-norm statistics taken over other axes than every axis but the channel",
    # Sequences: each reproduced by re-running the reference (manualnet.testing.mistaken).
    "gradient not carried": "backpropagation through time without dL/dh_t's second source: each step learns "
                            "only from its own output, nothing is carried back from step t+1",
    "last step only": "a weight's gradient from one time step where the sum over all steps belongs",
    "gate order": "the gate blocks stacked in another order than PyTorch's (LSTM i, f, g, o; GRU r, z, n)",
    "tanh derivative of pre-activation": "tanh' computed as 1 − a² from the pre-activation a instead of 1 − h² "
                                         "from the output h = tanh(a)",
    "duplicates lost": "a scatter written as fancy-index += (W.grad[idx] += G): a repeated index keeps only "
                       "its last gradient",
}


@dataclass
class Diagnosis:
    """A named mistake found in one row of a comparison."""

    array: str          # the row it explains, e.g. "bias.grad"
    name: str           # a key of MISTAKES, or a MistakeTable's mistake, e.g. "sum vs mean"
    explanation: str    # what the code did and the equation to re-read (a relation's: with its numbers)
    why: str = ""       # a MistakeTable's hint: why the right line is right
    shown: "Shown" = None   # a reproduced mistake's evidence

    def __str__(self):
        evidence = f"; evidence: {self.shown.text()}" if self.shown else ""
        return f"{self.array}: {self.name} — {self.explanation}{evidence}"


@dataclass
class Shown:
    """The evidence of a reproduced mistake: mine equals it at every one of ``entries`` entries, and the right
    value differs from it by up to ``difference`` (at ``where`` of row ``row``), or mine has its shape."""

    entries: int
    difference: float = 0.0
    where: tuple = ()
    row: str = ""
    shape: tuple = None             # mine's shape, when it is not the reference's
    right_shape: tuple = None
    ratio: float = None             # c when mine = c × reference at every entry

    def text(self, rows=1):
        each = "each of these rows" if rows > 1 else "mine"
        if self.shape is not None:
            return f"{each} has that shape, {self.shape} for {self.right_shape}, and equals that at every entry"
        at = f"{self.row} at {self.where}" if rows > 1 else f"at {self.where}"
        entries = f"all {self.entries} entries" if self.entries != 1 else "its one entry"
        if rows > 1:
            entries = f"every entry ({self.entries} in all)"
        if not math.isfinite(self.difference):
            return f"{each} equals that at {entries}, NaN or infinite where it is, and the right value is not ({at})"
        ratio = ""
        if self.ratio is not None and rows == 1:
            whole = round(1 / self.ratio)
            ratio = (f" (mine = reference / {whole} at each)" if abs(whole) > 1 and _near(self.ratio * whole, 1)
                     else f" (mine = {self.ratio:.4g} × reference at each)")
        return (f"{each} equals that at {entries}{ratio}, and differs from the right value by up to "
                f"{self.difference:.3g} ({at})")


def describe_all(diagnoses):
    """The diagnosis lines of a report: rows named for the same mistake, in the same words, share one line."""
    groups = {}
    for diagnosis in diagnoses:
        groups.setdefault((diagnosis.name, diagnosis.explanation), []).append(diagnosis)
    lines = []
    for (name, explanation), members in groups.items():
        if len(members) == 1:
            lines.append(str(members[0]))
            continue
        rows = ", ".join(d.array for d in members[:-1]) + " and " + members[-1].array
        shown = [d.shown for d in members if d.shown]
        evidence = ""
        if shown and all(s.shape is None for s in shown):
            worst = max(shown, key=lambda s: s.difference)
            combined = Shown(sum(s.entries for s in shown), worst.difference, worst.where, worst.row)
            evidence = f"; evidence: {combined.text(len(shown))}"
        elif shown:
            evidence = "; evidence: " + "; ".join(f"{d.array}: {d.shown.text()}" for d in members if d.shown)
        lines.append(f"{rows}: {name} — {explanation}{evidence}")
    return lines


@dataclass
class Evidence:
    """What the comparison knows about one failing row."""

    mine: np.ndarray            # float64, the shape of reference
    reference: np.ndarray
    atol: float
    rtol: float
    batch_size: int = 1         # N, the first input's leading size
    elements: int = 1           # the first input's number of entries
    upstream: object = None     # G, the upstream gradient (input-gradient rows; a loss's g on every row)
    output: np.ndarray = None   # y, the reference's output (input-gradient rows only)
    last_pass: np.ndarray = None    # the reference's gradient of the second pass alone (parameter rows)
    dropout_p: float = None         # p when the reference is a Dropout
    words: str = None               # the line that makes this row, as the chain cites it: "db = Σ_n G_n, eq. (4)"

    def close(self, a, b):
        """a = b entry by entry, with ten times the comparison's slack."""
        return bool(np.all(np.abs(a - b) <= 10 * (self.atol + self.rtol * np.abs(b))))

    def zero(self, a):
        return bool(np.all(np.abs(a) <= self.atol))


def diagnose(name, evidence):
    """The first relation that holds for this row, as a Diagnosis, or None."""
    for test in _RELATIONS:
        found = test(evidence)
        if found:
            return Diagnosis(name, *found)
    return None


def diagnose_shape(name, mine, reference, atol, rtol):
    """Explain an array of the wrong shape (or None where an array belongs)."""
    if mine is None:
        return Diagnosis(name, "shape", f"mine is None where an array of shape {reference.shape} belongs "
                                        "(does backward end with `return`?)")
    if mine.shape == reference.shape[::-1] and Evidence(mine.T, reference, atol, rtol).close(mine.T, reference):
        return Diagnosis(name, "transposed", f"mine has shape {mine.shape}, the reference {reference.shape}, "
                                             "and mine's transpose matches it")
    return Diagnosis(name, "shape", f"mine has shape {mine.shape}, the reference {reference.shape}")


# -- mistakes reproduced: which one explains the failing rows ---------------------------------

@dataclass
class Candidate:
    """A mistake and the value each row takes when it is made, on the case at hand."""

    name: str
    says: str               # what the diagnosis says before the evidence
    rows: dict              # {row: value}
    why: str = ""


def name_mistakes(compared, failing, candidates, atol, rtol):
    """Diagnoses for the failing rows that candidates reproduce, and the failing rows left unexplained.

    ``compared`` is {row: (mine, reference)} for every row that was compared,
    ``failing`` the rows that failed.  A candidate explains a failing row
    when mine equals its value there and the reference does not.  A value ~0
    everywhere proves nothing by itself (that is a missing path), so a
    candidate must explain some row where its value is not 0; then it also
    explains the rows it leaves at 0 where mine is 0.  Candidates that leave
    every passing row as it is come first, then those that explain the most
    rows; each row is named once.
    """
    scored = []
    for order, candidate in enumerate(candidates):
        fits = [row for row in failing if _reproduces(candidate.rows.get(row), *compared[row], atol, rtol)]
        if fits:
            fits += [row for row in failing if row not in fits and _zero_alike(candidate.rows.get(row),
                                                                                 compared[row][0], atol)]
            consistent = all(_close(candidate.rows[row], compared[row][1], atol, rtol)
                             for row in compared if row not in failing and row in candidate.rows)
            scored.append((not consistent, -len(fits), order, candidate, fits))
    diagnoses, left = [], list(failing)
    for *_, candidate, fits in sorted(scored, key=lambda entry: entry[:3]):
        for row in (row for row in fits if row in left):
            mine, reference = compared[row]
            diagnoses.append(Diagnosis(row, candidate.name, candidate.says, why=candidate.why,
                                       shown=_shown(row, mine, reference)))
            left.remove(row)
    return diagnoses, left


def _reproduces(value, mine, reference, atol, rtol):
    """Mine equals ``value`` to the comparison's own tolerance (a NaN or an infinity where it has the same), and
    the reference does not."""
    if value is None or mine is None or np.shape(value) != np.shape(mine):
        return False
    finite = np.isfinite(value)
    if not np.array_equal(finite, np.isfinite(mine)) or not np.array_equal(value[~finite], mine[~finite],
                                                                             equal_nan=True):
        return False
    if np.size(value) and finite.all() and np.all(np.abs(value) <= atol):
        return False                                    # a zero row: the missing path's, not this mistake's
    same_as_right = finite.all() and np.shape(value) == np.shape(reference) and _within(value, reference, atol, rtol)
    return _within(mine[finite], value[finite], atol, rtol) and not same_as_right


def _within(a, b, atol, rtol):
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def _zero_alike(value, mine, atol):
    return (value is not None and mine is not None and np.shape(value) == np.shape(mine) and np.size(mine) > 0
            and bool(np.all(np.abs(value) <= atol)) and bool(np.all(np.abs(mine) <= atol)))


def _close(a, b, atol, rtol):
    return np.shape(a) == np.shape(b) and bool(np.all(np.abs(a - b) <= 10 * (atol + rtol * np.abs(b))))


def _shown(row, mine, reference):
    """The evidence of a reproduction: mine equals it everywhere, and the right value does not."""
    if np.shape(mine) != np.shape(reference):
        return Shown(int(np.size(mine)), row=row, shape=np.shape(mine), right_shape=np.shape(reference))
    with np.errstate(invalid="ignore"):
        error = np.where(np.isfinite(mine), np.abs(mine - reference), np.inf)
    worst = np.unravel_index(np.argmax(error), error.shape)
    return Shown(int(np.size(mine)), float(error[worst]), tuple(int(i) for i in worst), row, ratio=_ratio(mine, reference))


def _ratio(mine, reference):
    """c when mine = c × reference at every entry (of at least two nonzero ones), else None."""
    if not np.isfinite(mine).all() or np.count_nonzero(reference) < 2 or np.count_nonzero(mine) < 2:
        return None
    c = float(np.sum(mine * reference) / np.sum(reference * reference))
    return c if np.allclose(mine, c * reference, rtol=1e-9, atol=0) else None


# -- the relations, most specific first ----------------------------------------

def _not_accumulated(e):
    if e.last_pass is not None and e.close(e.mine, e.last_pass):
        return ("not accumulated",
                "mine holds only the second backward's gradient: backward assigns (=) where it must add (+=) "
                "into .grad, so a module used twice (or two batches without zero_grad) loses the first one")
    return None


def _path_missing(e):
    """M = 0 wherever R is not: nothing reached this gradient."""
    M, R = e.mine, e.reference
    if not e.zero(M) or e.zero(R):
        return None
    worst = np.unravel_index(np.argmax(np.abs(R)), R.shape)
    through = f"nothing reaches it through {e.words}" if e.words else \
        "a path of the chain rule is missing (a line never written, or a term left out)"
    return ("path missing", f"mine is 0 at every entry, where the reference is not (it reaches {R[worst]:.3g} at "
                            f"{tuple(int(i) for i in worst)}): {through}")


def _entries_missing(e):
    """M = R at some entries and M = 0 at the others, where R is not."""
    M, R = e.mine, e.reference
    lost = (np.abs(M) <= e.atol) & (np.abs(R) > e.atol)
    if not lost.any() or lost.all() or not e.close(M[~lost], R[~lost]):
        return None
    first = tuple(int(i) for i in np.argwhere(lost)[0])
    return ("entries missing", f"mine is 0 at {int(lost.sum())} of {M.size} entries where the reference is not "
                               f"(the first at {first}) and right at the others: part of the gradient never "
                               "arrives (a write that skips entries, or one that overwrites with zeros)")


def _transposed(e):
    R = e.reference
    if R.ndim == 2 and R.shape[0] == R.shape[1] and not e.close(R, R.T) and e.close(e.mine, R.T):
        return ("transposed",
                "mine is the transpose of the reference: for y = x Wᵀ with W (out, in) dL/dW = Gᵀ x; "
                "x.T @ G is the gradient of the (in, out) layout y = x @ W")
    return None


def _constant_factor(e):
    """M = c·R for one constant c ≠ 0, 1: name c when it is 1/g, a count, −1, 2 or dropout's (1 − p)/p."""
    M, R = e.mine, e.reference
    norm = float(np.sum(R * R))
    if norm == 0:
        return None
    c = float(np.sum(M * R)) / norm
    if not e.close(M, c * R) or _near(c, 1) or abs(c) < 1e-12:
        return None
    g = e.upstream if isinstance(e.upstream, float) else None
    if g is not None and not _near(g, 1) and _near(c, 1 / g):
        return ("upstream ignored", f"mine = reference / g with g = {g:.4g} the upstream gradient (grad_output): "
                                    "backward never multiplies by it, the chain rule's first factor")
    if e.dropout_p and _near(c, (1 - e.dropout_p) / e.dropout_p):
        p = e.dropout_p
        return ("dropout scale",
                f"mine = {c:.4g} × reference = (1 − p)/p with p = {p:g}: kept units scaled by 1/p where "
                "1/(1 − p) belongs (p is the probability of dropping)")
    for count, what in ((e.batch_size, "N = {} the batch size"), (e.elements, "{} the number of elements")):
        if count > 1 and _near(c, count):
            return ("sum vs mean", f"mine = {count} × reference, with {what.format(count)}: the 1/{count} of "
                                   "a mean is missing (a sum where the mean belongs)")
        if count > 1 and _near(c, 1 / count):
            return ("sum vs mean", f"mine = reference / {count}, with {what.format(count)}: a mean where "
                                   "the sum belongs (or a 1/N applied twice)")
    if _near(c, -1):
        return ("sign flipped",
                "mine = −reference: the right size with the wrong sign (e.g. y − t for t − y, or -= for +=)")
    if _near(c, 2) or _near(c, 0.5):
        return ("factor of 2",
                f"mine = {c:g} × reference: a factor 2 too many or too few (e.g. the 2 of d(x²)/dx = 2x)")
    if np.count_nonzero(R) < 2:
        return None                     # any one number is some multiple of another: that shows nothing
    return ("constant factor",
            f"mine = {c:.4g} × reference in every entry: a wrong constant scale (check each 1/N, 2 and 1/(1 − p))")


def _mask_missing(e):
    M, R = e.mine, e.reference
    zero = R == 0
    if zero.any() and (~zero).any() and e.close(M[~zero], R[~zero]) and not e.close(M[zero], R[zero]):
        return ("mask missing",
                f"mine matches the reference where it is nonzero, but not at its {int(zero.sum())} exact zeros: "
                "the backward forgot the mask (dropped units, inactive ReLU inputs pass no gradient)")
    return None


def _softmax_diagonal(e):
    y, G = e.output, e.upstream
    if y is None or not isinstance(G, np.ndarray) or y.shape != e.mine.shape or y.min() < 0:
        return None
    sums_to_one = any(np.allclose(y.sum(axis=axis), 1) for axis in range(y.ndim))
    if sums_to_one and e.close(e.mine, G * y * (1 - y)):
        return ("softmax diagonal",
                "mine = G ⊙ p(1 − p): only the diagonal of the softmax Jacobian; the off-diagonal −p_i p_j "
                "terms are missing (dL/dx = p ⊙ (G − Σ_j G_j p_j))")
    return None


def _derivative_as_value(e):
    y, G = e.output, e.upstream
    if y is not None and isinstance(G, np.ndarray) and y.shape == e.mine.shape and e.close(e.mine, G * y):
        return ("derivative as value",
                "mine = G ⊙ y, the upstream gradient times the function's own value: the derivative was "
                "written as the function (σ(z) where σ'(z) = σ(z)(1 − σ(z)) belongs)")
    return None


def _mean_term_missing(e):
    M, R = e.mine, e.reference
    if M.ndim < 2 or len(M) < 2:
        return None
    per_feature = (M - R).mean(axis=0)
    if e.close(M, R + per_feature) and not e.close(per_feature, np.zeros_like(per_feature)):
        return ("mean term missing",
                "mine − reference is the same for every sample (one constant per feature): a term averaged "
                "over the batch is missing, as batch norm's −(1/N) Σ_n dx̂_n")
    return None


def _near(value, target):
    return math.isclose(value, target, rel_tol=1e-6)


_RELATIONS = (_not_accumulated, _path_missing, _entries_missing, _transposed, _constant_factor, _mask_missing,
              _softmax_diagonal, _derivative_as_value, _mean_term_missing)


# -- convolution and pooling, sequences, any module: the mistakes manualnet.testing.bugzoo.mistaken
# reproduces, by re-running the reference the way the mistake runs it ----------------------------

REPRODUCED = {
    "upstream ignored": "mine equals the reference's gradient for an upstream gradient of all ones: backward "
                        "never multiplies by grad_output (G), the chain rule's first factor",
    "kernel not flipped": "mine equals dL/dx with every kernel turned by 180°: in the correlation form of eq. (7) "
                          "the kernel must be flipped (weight[..., ::-1, ::-1]); written as loops, tap (p, q) of "
                          "window (i, j) sends G·W[p, q] to cell (s·i + d·p, s·j + d·q), derivations/conv2d.md "
                          "eq. (6), (7)",
    "stride not dilated": "mine sends output (i, j)'s gradient back to the window at (i, j) instead of (s·i, s·j), "
                          "as if the stride were 1: a loop that leaves out s, or the correlation of eq. (7) with G "
                          "not spread out by the stride (s − 1 zeros between its entries), derivations/conv2d.md "
                          "eq. (6), (7)",
    "max to whole window": "mine gives every cell of a window the window's gradient; only the maximum reached the "
                           "output, derivations/pooling.md eq. (6)",
    "max to every tie": "mine gives the gradient to every cell tied for a window's maximum; PyTorch (and manualnet) "
                        "give it to the first maximum in window order only, derivations/pooling.md eq. (6)",
    "average not divided": "mine spreads each G to its window without dividing by the window's size, "
                           "derivations/pooling.md eq. (8)",
    "batch-norm axes": "mine normalises with one mean and variance over every axis; each channel needs its own, "
                       "over (N, H, W): mean(axis=(0, 2, 3)), derivations/batchnorm.md eq. (1)",
    "gradient not carried": "mine equals the reference's gradient when every time step back-propagates only its "
                            "own output's gradient: dL/dh_t = G_t + (what step t+1 sends back) lost its second "
                            "term (rnn.md eq. (4))",
    "last step only": "mine equals the contribution of the last time step alone: a shared weight's gradient is "
                      "the SUM over all steps (rnn.md eq. (8)-(10))",
    "gate order": "mine equals the reference with the blocks of every weight and bias permuted",
    "tanh derivative of pre-activation": "mine equals the reference's gradient with tanh' = 1 − a², a the "
                                         "pre-activation; tanh' = 1 − h² needs the OUTPUT h = tanh(a) "
                                         "(rnn.md eq. (5))",
    "duplicates lost": "mine equals the reference's gradient with only the last occurrence of each repeated "
                       "index: W.grad[idx] += G keeps one write per row; np.add.at(W.grad, idx, G) adds them all "
                       "(embedding.md eq. (3))",
}
