"""The classic backward mistakes, recognised from the numbers they leave behind.

When a row of a comparison fails, mine (M) and the reference (R) usually
stand in a simple relation that names the mistake: M = N·R is a missing 1/N,
M = Rᵀ a transposed weight gradient, M = −R a flipped sign.  Each test below
checks one such relation entry by entry, to the comparison's own tolerance,
and returns (name, one-line explanation) when it holds, else None.  A
diagnosis is therefore a fact about the numbers, never a guess from a single
entry; a failing row that fits no relation gets none.

The names, and what each means, are listed in ``MISTAKES``.
"""

import math
from dataclasses import dataclass

import numpy as np

MISTAKES = {
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
    "mean term missing": "off by one constant per feature, or per row: a term averaged over the batch (batch norm) "
                         "or over the row (layer norm) is missing",
    "shape": "an array of the wrong shape, or none at all",
    # Convolution and pooling (issue 14): each reproduced by re-running the bug zoo's layer.
    "kernel not flipped": "a convolution's input gradient correlates G with the kernel unflipped",
    "stride not dilated": "a strided convolution's input gradient from G without the stride's zeros between entries",
    "max to whole window": "max pooling's gradient sent to every cell of the window, not only its maximum",
    "max to every tie": "max pooling's gradient sent to every cell equal to the maximum, not only the first",
    "average not divided": "average pooling's gradient not divided by the window's size",
    "batch-norm axes": "batch-norm statistics taken over other axes than every axis but the channel",
    # Sequences (issue 16): each reproduced by re-running the reference (manualnet.testing.mistaken).
    "gradient not carried": "backpropagation through time without dL/dh_t's second source: each step learns "
                            "only from its own output, nothing is carried back from step t+1",
    "last step only": "a weight's gradient from one time step where the sum over all steps belongs",
    "gate order": "the gate blocks stacked in another order than PyTorch's (LSTM i, f, g, o; GRU r, z, n)",
    "tanh derivative of pre-activation": "tanh' computed as 1 − a² from the pre-activation a instead of 1 − h² "
                                         "from the output h = tanh(a)",
    "duplicates lost": "a scatter written as fancy-index += (W.grad[idx] += G): a repeated index keeps only "
                       "its last gradient",
    # The transformer: each reproduced by re-running the bug zoo's layer.
    "layer-norm axes": "layer-norm statistics taken over another axis than each sample's own features",
    "scale forgotten": "attention's dL/dq and dL/dk without the 1/√d that scaled the scores in forward",
    "softmax wrong axis": "the softmax's Jacobian applied along the wrong axis of the attention weights",
    "mask after softmax": "the attention mask applied to the softmax's output instead of added to its input",
    "future leaking": "a causal attention whose backward sends gradient from a query to later keys",
    "residual gradient dropped": "a residual block's backward without the stream's own gradient (x + f(x) uses x "
                                 "twice)",
    "tied gradient overwritten": "a weight used twice (a tied lm_head) whose gradient is assigned by one use "
                                 "instead of summed over both",
}


@dataclass
class Diagnosis:
    """A named mistake found in one row of a comparison."""

    array: str          # the row it explains, e.g. "bias.grad"
    name: str           # a key of MISTAKES, e.g. "sum vs mean"
    explanation: str    # one line, with the numbers that show it

    def __str__(self):
        return f"{self.array}: {self.name} — {self.explanation}"


@dataclass
class Evidence:
    """What the comparison knows about one failing row."""

    mine: np.ndarray            # float64, the shape of reference
    reference: np.ndarray
    atol: float
    rtol: float
    batch_size: int = 1         # N, the first input's leading size
    elements: int = 1           # the first input's number of entries
    upstream: np.ndarray = None     # G, the upstream gradient (input-gradient rows only)
    output: np.ndarray = None       # y, the reference's output (input-gradient rows only)
    last_pass: np.ndarray = None    # the reference's gradient of the second pass alone (parameter rows)
    dropout_p: float = None         # p when the reference is a Dropout
    mistaken: dict = None           # {mistake: (this row as the reference computes it with that mistake, detail)}

    def close(self, a, b):
        """a = b entry by entry, with ten times the comparison's slack."""
        return bool(np.all(np.abs(a - b) <= 10 * (self.atol + self.rtol * np.abs(b))))


def diagnose(name, evidence):
    """The first mistake whose relation holds for this row, as a Diagnosis, or None."""
    for test in _TESTS:
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


# -- the relations, most specific first ----------------------------------------

def _not_accumulated(e):
    if e.last_pass is not None and e.close(e.mine, e.last_pass):
        return ("not accumulated",
                "mine holds only the second backward's gradient: backward assigns (=) where it must add (+=) "
                "into .grad, so a module used twice (or two batches without zero_grad) loses the first one")
    return None


def _transposed(e):
    R = e.reference
    if R.ndim == 2 and R.shape[0] == R.shape[1] and not e.close(R, R.T) and e.close(e.mine, R.T):
        return ("transposed",
                "mine is the transpose of the reference: for y = x Wᵀ with W (out, in) dL/dW = Gᵀ x; "
                "x.T @ G is the gradient of the (in, out) layout y = x @ W")
    return None


def _constant_factor(e):
    """M = c·R for one constant c ≠ 1: name c when it is a count, −1, 2 or dropout's (1 − p)/p."""
    M, R = e.mine, e.reference
    norm = float(np.sum(R * R))
    if norm == 0:
        return None
    c = float(np.sum(M * R)) / norm
    if not e.close(M, c * R) or _near(c, 1):
        return None
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
    if y is None or G is None or y.shape != e.mine.shape or y.min() < 0:
        return None
    sums_to_one = any(np.allclose(y.sum(axis=axis), 1) for axis in range(y.ndim))
    if sums_to_one and e.close(e.mine, G * y * (1 - y)):
        return ("softmax diagonal",
                "mine = G ⊙ p(1 − p): only the diagonal of the softmax Jacobian; the off-diagonal −p_i p_j "
                "terms are missing (dL/dx = p ⊙ (G − Σ_j G_j p_j))")
    return None


def _derivative_as_value(e):
    y, G = e.output, e.upstream
    if y is not None and G is not None and y.shape == e.mine.shape and e.close(e.mine, G * y):
        return ("derivative as value",
                "mine = G ⊙ y, the upstream gradient times the function's own value: the derivative was "
                "written as the function (σ(z) where σ'(z) = σ(z)(1 − σ(z)) belongs)")
    return None


def _mean_term_missing(e):
    """M − R constant down the batch (one number per feature: batch norm's mean) or along each row (one number
    per sample: layer norm's mean)."""
    M, R = e.mine, e.reference
    if M.ndim < 2 or len(M) < 2:
        return None
    per_feature = (M - R).mean(axis=0)
    if e.close(M, R + per_feature) and not e.close(per_feature, np.zeros_like(per_feature)):
        return ("mean term missing",
                "mine − reference is the same for every sample (one constant per feature): a term averaged "
                "over the batch is missing, as batch norm's −(1/N) Σ_n dx̂_n")
    per_row = (M - R).mean(axis=-1, keepdims=True)
    if M.shape[-1] > 1 and e.close(M, R + per_row) and not e.close(per_row, np.zeros_like(per_row)):
        return ("mean term missing",
                "mine − reference is the same for every feature of a sample (one constant per row): a term "
                "averaged over the row is missing, as layer norm's −(1/D) Σ_i dx̂_i")
    return None


def _near(value, target):
    return math.isclose(value, target, rel_tol=1e-6)


# -- convolution and pooling (issue 14), sequences (issue 16): the mistakes manualnet.testing.mistaken
# reproduces, by re-running the reference the way the mistake runs it ----------------------------

_REPRODUCED = {
    "kernel not flipped": "mine is the full correlation of G with the kernel as it is; the input gradient needs it "
                          "flipped (rotated 180°: weight[..., ::-1, ::-1]), derivations/conv2d.md eq. (7)",
    "stride not dilated": "mine correlates G itself with the flipped kernel; with stride s, G needs s − 1 zeros "
                          "between its entries first, derivations/conv2d.md eq. (7)",
    "max to whole window": "mine gives every cell of a window the window's gradient; only the maximum reached the "
                           "output, derivations/pooling.md eq. (4)",
    "max to every tie": "mine gives the gradient to every cell tied for a window's maximum; PyTorch (and manualnet) "
                        "give it to the first maximum in window order only, derivations/pooling.md eq. (4)",
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
    "layer-norm axes": "mine normalises with statistics down the batch (axis 0); each row needs its own mean and "
                       "variance over its D features, layernorm.md eq. (1), (2)",
    "scale forgotten": "mine equals the reference's gradient with dL/dq and dL/dk not multiplied by s = 1/√d: the "
                       "scores were s Q Kᵀ, so both products carry s again, attention.md eq. (10), (11)",
    "softmax wrong axis": "mine equals the reference's gradient with the softmax's Jacobian summed over the queries "
                          "(axis −2); each row (one query over its keys) is its own softmax, attention.md eq. (9)",
    "mask after softmax": "mine zeroes the hidden weights after the softmax, so a row's weights no longer sum to 1; "
                          "the mask is added to the scores before it (−∞ where hidden), attention.md eq. (2)",
    "future leaking": "mine equals the reference's gradient with the softmax recomputed in backward without the "
                      "mask: query t sends gradient to later keys and values, attention.md eq. (2), (12)",
    "residual gradient dropped": "mine equals the reference's gradient without the residual stream's own path: "
                                 "x + f(x) sends G to x directly AND through f, gpt.md eq. (8), (9)",
    "tied gradient overwritten": "mine holds only the lm_head's share of the tied weight's gradient: the token "
                                 "lookup's share was overwritten; the two uses add, gpt.md eq. (12)",
}


def _reproduced(e):
    for name, (value, detail) in (e.mistaken or {}).items():
        if value.shape == e.mine.shape and e.close(e.mine, value) and not e.close(e.reference, value):
            return name, _REPRODUCED[name] + (f" ({detail})" if detail else "")
    return None


_TESTS = (_not_accumulated, _reproduced, _transposed, _constant_factor, _mask_missing, _softmax_diagonal,
          _derivative_as_value, _mean_term_missing)
