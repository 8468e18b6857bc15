"""Conv2d, MaxPool2d and AvgPool2d: windows read in forward, their gradients added back in backward.

Every chain here moves between the padded input x̃ and its windows with two
small helpers: ``gather`` reads tap (p, q) of window (i, j) at cell
(s·i + d·p, s·j + d·q), and ``scatter`` adds a gradient back there — the
index form of derivations/conv2d.md eq. (4), (6) and pooling.md eq. (7), (9),
one strided slice per tap.  The mistakes are the same helpers with a stride
or a dilation left out, or with ``=`` where the windows' gradients must add.
"""

import numpy as np

from manualnet.testing.chain import Chain, Mistake, MistakeTable, Step


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _tap(p, q, stride, dilation, out):
    """The cells of x̃ that tap (p, q) reads, one per window: rows s·i + d·p, columns s·j + d·q."""
    (s_h, s_w), (d_h, d_w), (h, w) = stride, dilation, out
    return (slice(None), slice(None), slice(d_h * p, d_h * p + s_h * (h - 1) + 1, s_h),
            slice(d_w * q, d_w * q + s_w * (w - 1) + 1, s_w))


def gather(padded, kernel, stride, dilation, out):
    """X̃[n, c, p, q, i, j] = x̃[n, c, s·i + d·p, s·j + d·q]: every window of x̃."""
    X = np.empty(padded.shape[:2] + tuple(kernel) + tuple(out))
    for p, q in np.ndindex(*kernel):
        X[:, :, p, q] = padded[_tap(p, q, stride, dilation, out)]
    return X


def scatter(d_windows, padded_shape, stride, dilation):
    """dx̃: each window's gradient d_windows[n, c, p, q, i, j] added back at the cell its tap read."""
    d_padded = np.zeros(padded_shape)
    for p, q in np.ndindex(*d_windows.shape[2:4]):
        d_padded[_tap(p, q, stride, dilation, d_windows.shape[4:])] += d_windows[:, :, p, q]
    return d_padded


def overwrite_by_window(d_windows, padded_shape, stride, dilation):
    """dx̃ with each window's gradient ASSIGNED in the order the windows come (row by row): where windows
    overlap, the last one wins — a loop over (i, j) that writes dx̃[..., window] = ..."""
    d_padded = np.zeros(padded_shape)
    kernel, out = d_windows.shape[2:4], d_windows.shape[4:]
    for i, j in np.ndindex(*out):
        rows = stride[0] * i + dilation[0] * np.arange(kernel[0])
        cols = stride[1] * j + dilation[1] * np.arange(kernel[1])
        d_padded[:, :, rows[:, None], cols[None, :]] = d_windows[:, :, :, :, i, j]
    return d_padded


def overwrite_by_tap(d_windows, padded_shape, stride, dilation):
    """dx̃ with each tap's slice ASSIGNED (col2im with = for +=): where taps overlap, the last tap wins."""
    d_padded = np.zeros(padded_shape)
    for p, q in np.ndindex(*d_windows.shape[2:4]):
        d_padded[_tap(p, q, stride, dilation, d_windows.shape[4:])] = d_windows[:, :, p, q]
    return d_padded


def _unpadded(d_padded, padding):
    (P_h, P_w), (height, width) = padding, d_padded.shape[2:]
    return d_padded[:, :, P_h:height - P_h, P_w:width - P_w]


def _geometry(reference, x, padding_value=0.0):
    kernel, stride = _pair(reference.kernel_size), _pair(reference.stride)
    padding, dilation = _pair(reference.padding), _pair(getattr(reference, "dilation", 1))
    padded = np.pad(x, ((0, 0), (0, 0), *((P, P) for P in padding)), constant_values=padding_value)
    out = tuple((size - d * (k - 1) - 1) // s + 1 for size, k, s, d in zip(padded.shape[2:], kernel, stride, dilation))
    return {"x_padded": padded, "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
            "out": out, "one": (1, 1)}


# The lines every window chain ends with: dx̃ from the windows' gradients, then dx without the border.
def _scatter_step(equation):
    return Step("d_x_padded", "dx̃[…, s·i + d·p, s·j + d·q] += dX̃[…, p, q, i, j]", equation,
                lambda q: scatter(q.d_windows, q.x_padded.shape, q.stride, q.dilation))


def _border_step(equation):
    return Step("dx", "dx = dx̃ without its border of P", equation, lambda q: _unpadded(q.d_x_padded, q.padding))


def _overwritten(equation, extra=()):
    return Mistake(
        "windows overwritten", "your backward assigns (=) each window's gradient where overlapping windows must add (+=)",
        f"dx̃[…] += …, eq. {equation}",
        "a cell that two windows (or two taps) read reached the output twice, so both of its gradients add",
        variants=(("a loop over the windows that writes dx̃[..., window] = ...",
                   {"d_x_padded": lambda q: overwrite_by_window(q.d_windows, q.x_padded.shape, q.stride, q.dilation)}),
                  ("a loop over the taps that writes dx̃[..., tap's cells] = ...",
                   {"d_x_padded": lambda q: overwrite_by_tap(q.d_windows, q.x_padded.shape, q.stride, q.dilation)}),
                  *extra))


def _stride_ignored(equation, dW=None):
    scatter_one = {"d_x_padded": lambda q: scatter(q.d_windows, q.x_padded.shape, q.one, q.dilation)}
    variants = [("in dx", scatter_one)]
    if dW is not None:
        variants += [("in dW", {"dW": dW(stride=False)}), ("in dW and dx", {**scatter_one, "dW": dW(stride=False)})]
    return Mistake("stride ignored", "your windows are taken at (i, j) instead of (s·i, s·j): the stride left out",
                   f"cell (s·i + d·p, s·j + d·q), eq. {equation}",
                   "outputs i and i + 1 read windows s cells apart, so their gradients go back s cells apart",
                   variants=tuple(variants))


def _dilation_ignored(equation, dW=None):
    scatter_one = {"d_x_padded": lambda q: scatter(q.d_windows, q.x_padded.shape, q.stride, q.one)}
    variants = [("in dx", scatter_one)]
    if dW is not None:
        variants += [("in dW", {"dW": dW(dilation=False)}), ("in dW and dx", {**scatter_one, "dW": dW(dilation=False)})]
    return Mistake("dilation ignored", "your taps of a window are taken next to each other, at p instead of d·p: "
                   "the dilation left out", f"cell (s·i + d·p, s·j + d·q), eq. {equation}",
                   "with dilation d the taps of a window are d cells apart, in forward and so in backward",
                   variants=tuple(variants))


def _border_kept(equation):
    return Mistake("border kept", "your input.grad is dx̃, the gradient of the PADDED input: its border is still on",
                   f"dx = dx̃ without its border of P, eq. {equation}",
                   "the padding cells are not inputs: forward made them, so their gradient goes nowhere",
                   replace={"dx": lambda q: q.d_x_padded})


def _border_cut_with_minus_zero(equation):
    return Mistake("border cut with -0", "your border is cut with dx̃[..., P:-P], which is EMPTY when P = 0 (−0 is 0)",
                   f"dx = dx̃ without its border of P, eq. {equation}",
                   "slice with P:size − P (or skip the cut when P = 0)",
                   replace={"dx": lambda q: q.d_x_padded[:, :, q.padding[0]:-q.padding[0],
                                                          q.padding[1]:-q.padding[1]]})


# -- Conv2d ------------------------------------------------------------------------------------------

def _conv_given(reference, inputs):
    given = _geometry(reference, inputs[0])
    bias = reference.bias
    return {**given, "W": reference.weight.data, "has_bias": bias is not None}


def _weight_gradient(stride=True, dilation=True):
    def compute(q):
        X = gather(q.x_padded, q.kernel, q.stride if stride else q.one, q.dilation if dilation else q.one,
                   q.G.shape[2:])
        return np.einsum("noij,ncpqij->ocpq", q.G, X)
    return compute


def _last_window_only(q):
    """dW as a loop leaves it that writes dW[o] = G[n, o, i, j] · window (=): the last window's term alone."""
    X = gather(q.x_padded, q.kernel, q.stride, q.dilation, q.G.shape[2:])
    return np.einsum("o,cpq->ocpq", q.G[-1, :, -1, -1], X[-1, :, :, :, -1, -1])


CONV2D = MistakeTable(
    Chain(_conv_given, ("G",), (
        Step("dW", "dW[o, c, p, q] = Σ_{n,i,j} G[n, o, i, j] x̃[n, c, s·i + d·p, s·j + d·q]", "(4)",
             _weight_gradient()),
        Step("db", "db_o = Σ_{n,i,j} G[n, o, i, j]", "(5)", lambda q: q.G.sum(axis=(0, 2, 3)) if q.has_bias else None),
        Step("d_windows", "dX̃[n, c, p, q, i, j] = Σ_o G[n, o, i, j] W[o, c, p, q]", "(6)",
             lambda q: np.einsum("noij,ocpq->ncpqij", q.G, q.W)),
        _scatter_step("(6)"),
        _border_step("(8)"),
    ), inputs={"input.grad": "dx"}, parameters={"weight.grad": "dW", "bias.grad": "db"}),
    (
        Mistake("kernel not flipped", "your dx has every kernel turned by 180°: the correlation of G with the kernel "
                "as it is", "the flipped kernel W[..., ::-1, ::-1] of eq. (7) (in loops: tap (p, q) sends G·W[p, q] to "
                "cell (s·i + d·p, s·j + d·q), eq. (6))",
                "seen from an input cell, the windows that read it meet it at taps that run backwards: in the "
                "correlation form the kernel must be flipped",
                replace={"d_windows": lambda q: np.einsum("noij,ocpq->ncpqij", q.G, q.W[:, :, ::-1, ::-1])}),
        _stride_ignored("(4), (6)", dW=_weight_gradient),
        _dilation_ignored("(4), (6)", dW=_weight_gradient),
        _overwritten("(6) (with im2col, (14))", extra=(
            ("and each window's term also written one output channel at a time, the last channel winning",
             {"d_windows": lambda q: np.einsum("nij,cpq->ncpqij", q.G[:, -1], q.W[-1]),
              "d_x_padded": lambda q: overwrite_by_window(q.d_windows, q.x_padded.shape, q.stride, q.dilation)}),
            ("in dW: a loop that writes dW[o] = G[n, o, i, j] · window keeps the last window's term",
             {"dW": _last_window_only}, ("dW",)),
            ("in db: a loop that writes db[o] = G[n, o, i, j] keeps the last window's term",
             {"db": lambda q: q.G[-1, :, -1, -1] if q.has_bias else None}, ("db",)),
        )),
        Mistake("G reshaped without its transpose", "your G_mat is grad_output.reshape(O, −1): (N, O, Ho, Wo) read as "
                "(O, N·Ho·Wo) without moving the channel axis to the front first",
                "G_mat[o, (n, i, j)] = G[n, o, i, j], eq. (11), (12), (13)",
                "reshape keeps the memory order, so the channel axis must come first: "
                "grad_output.transpose(1, 0, 2, 3).reshape(O, −1), as forward laid out Y_mat",
                replace={"G": lambda q: q.G.reshape(q.G.shape[1], q.G.shape[0], *q.G.shape[2:]).transpose(1, 0, 2, 3)}),
        _border_kept("(8)"),
        _border_cut_with_minus_zero("(8)"),
    ), page="derivations/conv2d.md#backward")


# -- MaxPool2d and AvgPool2d -----------------------------------------------------------------------------

def _max_pool_given(reference, inputs):
    given = _geometry(reference, inputs[0], padding_value=-np.inf)
    X = gather(given["x_padded"], given["kernel"], given["stride"], given["dilation"], given["out"])
    taps = X.reshape(*X.shape[:2], -1, *X.shape[4:])
    first = taps.argmax(axis=2)                         # the first maximum in window order, eq. (2)
    routes = np.arange(taps.shape[2])[:, None, None] == first[:, :, None]
    return {**given, "r": routes.reshape(X.shape).astype(np.float64)}


def _max_cell_overwritten(q):
    """dx̃ from a loop over the windows that writes dx̃[n, c, cell of the maximum] = G[n, c, i, j] (=)."""
    d_padded = np.zeros(q.x_padded.shape)
    n, c = np.indices(q.G.shape[:2])
    kernel = q.kernel
    for i, j in np.ndindex(*q.G.shape[2:]):
        tap = q.r[:, :, :, :, i, j].reshape(*q.G.shape[:2], -1).argmax(axis=2)
        rows = q.stride[0] * i + q.dilation[0] * (tap // kernel[1])
        cols = q.stride[1] * j + q.dilation[1] * (tap % kernel[1])
        d_padded[n, c, rows, cols] = q.G[:, :, i, j]
    return d_padded


MAX_POOL2D = MistakeTable(
    Chain(_max_pool_given, ("G",), (
        Step("d_windows", "dX̃[n, c, p, q, i, j] = r[n, c, p, q, i, j] G[n, c, i, j]", "(6)",
             lambda q: q.r * q.G[:, :, None, None]),
        _scatter_step("(7)"),
        _border_step("(7)"),
    ), inputs={"input.grad": "dx"}),
    (
        Mistake("max to whole window", "your backward gives every cell of a window the window's G, not only its maximum",
                "dX̃ = r ⊙ G, eq. (6)", "only the maximum reached the output: the other cells could move a little "
                "without changing it, so their gradient is 0",
                replace={"d_windows": lambda q: np.broadcast_to(q.G[:, :, None, None], q.r.shape)}),
        _overwritten("(7)", extra=(
            ("a loop over the windows that writes dx̃[n, c, cell of the maximum] = G",
             {"d_x_padded": _max_cell_overwritten}),)),
        _stride_ignored("(7)"),
        _dilation_ignored("(7)"),
        _border_kept("(7)"),
        _border_cut_with_minus_zero("(7)"),
    ), page="derivations/pooling.md#backward")


def _avg_pool_given(reference, inputs):
    given = _geometry(reference, inputs[0])
    counts = []                                             # h_i and w_j of eq. (5)
    for size, out, k, s, P in zip(inputs[0].shape[2:], given["out"], given["kernel"], given["stride"],
                                  given["padding"]):
        start = np.arange(out) * s - P
        end = np.minimum(start + k, size + P)
        if not reference.count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return {**given, "D": np.outer(*counts).astype(np.float64)}


def _spread(share):
    """dX̃: every cell of window (i, j) gets ``share`` of G[n, c, i, j]."""
    return lambda q: np.broadcast_to(share(q)[:, :, None, None], (*q.G.shape[:2], *q.kernel, *q.G.shape[2:]))


AVG_POOL2D = MistakeTable(
    Chain(_avg_pool_given, ("G",), (
        Step("d_windows", "dX̃[n, c, p, q, i, j] = G[n, c, i, j] / D[i, j]", "(8)", _spread(lambda q: q.G / q.D)),
        _scatter_step("(9)"),
        _border_step("(9)"),
    ), inputs={"input.grad": "dx"}),
    (
        Mistake("not divided", "your cells get G, not G divided by the window's divisor D", "dX̃ = G / D, eq. (8)",
                "forward divided each window's sum by D (eq. (4)), so each cell's rate is 1/D",
                replace={"d_windows": _spread(lambda q: q.G)}),
        Mistake("divided by kH·kW", "your cells get G / (kH·kW), but a window that reaches into the padding has "
                "the smaller divisor D of count_include_pad=False", "D[i, j] = h_i w_j, eq. (5), (8)",
                "with count_include_pad=False the divisor counts only the window's cells inside the input (eq. (5))",
                replace={"d_windows": _spread(lambda q: q.G / (q.kernel[0] * q.kernel[1]))}),
        Mistake("divided twice", "your cells get G / D², the divisor applied twice", "dX̃ = G / D, eq. (8)",
                "the average divides once (eq. (4)); so does its gradient",
                replace={"d_windows": _spread(lambda q: q.G / (q.D * q.D))}),
        _overwritten("(9)"),
        _stride_ignored("(9)"),
        _border_kept("(9)"),
        _border_cut_with_minus_zero("(9)"),
    ), page="derivations/pooling.md#backward")
