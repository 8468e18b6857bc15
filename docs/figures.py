"""Draw the figures of the derivation pages: python docs/figures.py [--out FOLDER] [--png] [NAME ...]

Every figure is one function below, registered with ``@figure(name, page,
alt)``: it computes what it shows with manualnet's public API (the layers,
``manualnet.autograd``'s recorded graph, ``mn.optim``) or reads a recorded
run in ``benchmarks/results/``, and returns a matplotlib Figure.  ``make
figures`` (this script with no argument) redraws all of them into
``derivations/figures/NAME.svg``; ``tests/test_figures.py`` redraws them into
a temporary folder and fails when a committed SVG differs, so a figure can
never fall behind the code or the data it shows.

The SVG output is byte-for-byte reproducible: a fixed hash salt for the ids
matplotlib writes, no date in the metadata, glyphs written as paths from the
DejaVu fonts matplotlib ships (the picture is the same in every browser and
on GitHub, with no font installed), and a white background so the figure
reads the same in a dark theme.  ``--png`` writes PNG previews instead, to
look at while drawing.

``FIGURES`` lists every figure with its page and its alt text; a page shows
one as ``![alt text](figures/NAME.svg)``, and the test checks that every
figure is on its page with that alt text and that every page has one.
A page added later (a transformer page, say) gets its figure by adding one
function here and one image line on the page.
"""

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))                 # run from a checkout: the figures draw with this manualnet

import manualnet as mn  # noqa: E402
OUT = ROOT / "derivations" / "figures"
RESULTS = ROOT / "benchmarks" / "results"

# One palette for every figure: forward in blue, backward (gradients) in red.
FORWARD, BACKWARD, MUTED, ACCENT, GREEN = "#0969da", "#cf222e", "#6e7781", "#8250df", "#1a7f37"
LIGHT_FORWARD, LIGHT_BACKWARD, LIGHT_MUTED = "#ddf4ff", "#ffebe9", "#f6f8fa"
STYLE = {
    "svg.hashsalt": "manualnet",          # the ids matplotlib writes are drawn from this: same bytes every run
    "svg.fonttype": "path",               # glyphs as paths: no font needed to show the figure
    "font.family": "DejaVu Sans",         # shipped with matplotlib: the same glyphs on every machine
    "mathtext.fontset": "dejavusans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "path.simplify": False,
}


@dataclass(frozen=True)
class Figure:
    name: str            # the file is derivations/figures/<name>.svg
    page: str            # the page that shows it, relative to the repository root
    alt: str             # its alt text, as written on the page
    draw: object         # () -> matplotlib.figure.Figure


FIGURES = []


def figure(name, page, alt):
    """Register the decorated function as the figure ``name`` of ``page``."""
    def register(draw):
        FIGURES.append(Figure(name, page, alt, draw))
        return draw
    return register


def _style():
    """matplotlib with STYLE and the palette, drawing SVG without a display."""
    import matplotlib
    from cycler import cycler

    matplotlib.use("svg")
    style = dict(STYLE, **{"axes.prop_cycle": cycler(color=[FORWARD, BACKWARD, GREEN, ACCENT, "#bc4c00", MUTED])})
    matplotlib.rcParams.update(style)


def save(fig, path):
    """Write ``fig`` as a reproducible SVG (or a PNG preview, by the suffix) and close it."""
    import matplotlib.pyplot as plt

    if path.suffix == ".svg":
        fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.05)
    else:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def draw_all(out=OUT, names=None, suffix=".svg"):
    """Draw the figures (all, or those named) into ``out``; return the paths written."""
    _style()
    unknown = set(names or ()) - {f.name for f in FIGURES}
    if unknown:
        raise SystemExit(f"docs/figures.py: no figure named {', '.join(sorted(unknown))}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in FIGURES:
        if names and entry.name not in names:
            continue
        path = out / f"{entry.name}{suffix}"
        save(entry.draw(), path)
        written.append(path)
    return written


# -- drawing helpers ---------------------------------------------------------------------------

def new_figure(width, height, axes=None):
    """A figure of ``width`` × ``height`` inches; with ``axes`` (rows, columns) a grid of plots, else one blank canvas."""
    import matplotlib.pyplot as plt

    if axes:
        return plt.subplots(*axes, figsize=(width, height), squeeze=False, layout="constrained")
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(ax, x, y, text, width=1.2, height=0.5, face=LIGHT_MUTED, edge=MUTED, size=10):
    """A labelled box with rounded corners, centred at (x, y)."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=face, edgecolor=edge,
                                linewidth=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def arrow(ax, start, end, color="black", width=1.3, style="-|>", curve=0.0, shrink=0):
    """An arrow from ``start`` to ``end`` (``style="-"``: a plain line); ``curve`` bends it (arc3's radius)."""
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, linewidth=width,
                                 connectionstyle=f"arc3,rad={curve}", shrinkA=shrink, shrinkB=shrink))


def grid(ax, values, x0, y0, cell=0.5, colors=None, fmt="{:g}", size=9, text_colors=None):
    """A matrix of numbers drawn as cells, row 0 at the top, its top-left corner at (x0, y0)."""
    from matplotlib.patches import Rectangle

    values = np.asarray(values, dtype=object)
    for (r, c), value in np.ndenumerate(values):
        face = colors[r][c] if colors is not None else "white"
        ax.add_patch(Rectangle((x0 + c * cell, y0 - (r + 1) * cell), cell, cell, facecolor=face, edgecolor=MUTED,
                               linewidth=0.8))
        if value is not None and value != "":
            text = value if isinstance(value, str) else fmt.format(value)
            ax.text(x0 + (c + 0.5) * cell, y0 - (r + 0.5) * cell, text, ha="center", va="center", fontsize=size,
                    color=text_colors[r][c] if text_colors is not None else "black")


def cell_center(x0, y0, r, c, cell=0.5):
    return x0 + (c + 0.5) * cell, y0 - (r + 0.5) * cell


def computational_graph(ax, tensor, titles, notes=None, grads=None, shares=None, order=False, x_step=2.3,
                        y_step=1.15, width=1.9, place=None):
    """Draw the graph autograd recorded below ``tensor``: leaves on the left, the output on the right.

    ``titles`` names boxes: a node (``t.grad_fn``) or a leaf (by ``id``) ->
    text, else the node's PyTorch name.  ``notes`` adds a second line (a
    value), ``grads`` a red line under the box (its gradient), ``shares``
    {(consumer, input): text} a red label on the edge (what the consumer's
    backward sends that input), ``order`` the position in which backward
    runs the node.  A node's column is its longest path from the leaves;
    a node sits at the mean height of its inputs, one row below its column's
    previous node if they would overlap.  ``place`` ({node or leaf id:
    (column, row)}) puts every node by hand instead, inputs above their
    consumers: for a long chain.
    """
    from manualnet.autograd import graph

    notes, grads, shares = notes or {}, grads or {}, shares or {}
    nodes = graph(tensor).nodes                              # the order backward runs them: output first
    inputs = {node: [child for child, _ in node.next_functions if child is not None] for node in nodes}
    column = {}
    for node in reversed(nodes):                             # every node after its inputs
        column[node] = 1 + max((column[child] for child in inputs[node]), default=-1)
    columns = {}
    for node in reversed(nodes):
        columns.setdefault(column[node], []).append(node)
    height = {}
    for c in sorted(columns):
        members = columns[c]
        if c == 0:
            wanted = [(len(members) - 1) / 2 - rank for rank in range(len(members))]
        else:
            members.sort(key=lambda n: -np.mean([height[child] for child in inputs[n]]))
            wanted = [np.mean([height[child] for child in inputs[n]]) for n in members]
        for rank, node in enumerate(members):             # at its inputs' mean height, at least 1 below the last
            height[node] = wanted[rank] if rank == 0 else min(wanted[rank], height[members[rank - 1]] - 1)
    def key(node):
        return id(node.variable) if node.name() == "AccumulateGrad" else node

    if place:
        position = {node: (place[key(node)][0] * x_step, -place[key(node)][1] * y_step) for node in nodes}
    else:
        position = {node: (column[node] * x_step, height[node] * y_step) for node in nodes}

    for node in nodes:
        for child in dict.fromkeys(inputs[node]):                # x * x: one arrow
            (x1, y1), (x2, y2) = position[child], position[node]
            if place:
                arrow(ax, (x1, y1 - 0.31), (x2, y2 + 0.31), color=FORWARD)
            else:
                arrow(ax, (x1 + width / 2, y1), (x2 - width / 2, y2), color=FORWARD)
            if (node, key(child)) in shares:
                ax.text(0.45 * x1 + 0.55 * x2, 0.45 * y1 + 0.55 * y2 + 0.05, shares[node, key(child)], color=BACKWARD,
                        ha="center", va="bottom", fontsize=9, fontweight="bold",
                        bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
    for rank, node in enumerate(nodes, start=1):
        x, y = position[node]
        leaf = node.name() == "AccumulateGrad"
        note = notes.get(key(node))
        text = titles.get(key(node), node.name()) + (f"\n{note}" if note else "")
        box(ax, x, y, text, width=width, height=0.62, face=LIGHT_MUTED if leaf else LIGHT_FORWARD,
            edge=MUTED if leaf else FORWARD, size=9)
        if key(node) in grads:
            ax.text(x, y - 0.36, grads[key(node)], color=BACKWARD, ha="center", va="top", fontsize=9)
        if order:
            ax.text(x - width / 2, y + 0.31, str(rank), ha="center", va="center", fontsize=8, color="white",
                    fontweight="bold", bbox=dict(boxstyle="circle,pad=0.25", facecolor=BACKWARD, edgecolor="none"))
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    ax.set_xlim(min(xs) - width / 2 - 0.15, max(xs) + width / 2 + 0.15)
    ax.set_ylim(min(ys) - 0.75, max(ys) + 0.55)
    ax.set_aspect("equal")
    ax.axis("off")
    return position


def graph_figure():
    """A blank figure for one computational graph (sized later by ``fit``)."""
    import matplotlib.pyplot as plt

    fig = plt.figure()
    ax = fig.add_axes((0, 0, 1, 1))
    return fig, ax


def fit(fig, ax, scale=1.0):
    """Size ``fig`` to ``ax``'s data limits, one inch per unit times ``scale``."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fig.set_size_inches((x1 - x0) * scale, (y1 - y0) * scale)


# -- the figures: one function each, in the order of the derivations index ----------------------

# -- the chain rule and autograd ---------------------------------------------------------------

def _notes_graph():
    """The study notes' graph y = a x + b, z = x y on autograd tensors, run backward: (x, a, b, ax, y, z)."""
    from manualnet.autograd import Tensor

    x, a, b = (Tensor(value, requires_grad=True) for value in (2.0, 3.0, 1.0))
    ax_ = a * x
    y = ax_ + b
    z = x * y
    for t in (ax_, y, z):
        t.retain_grad()
    z.backward()
    return x, a, b, ax_, y, z


@figure("backprop_graph", "derivations/backprop.md",
        "The graph of y = a x + b, z = x y with x = 2, a = 3, b = 1: forward values in the boxes, "
        "each gradient of z in red below its box; x gets 13 = 7 + 6 because two nodes use it")
def backprop_graph():
    x, a, b, ax_, y, z = _notes_graph()
    fig, ax = graph_figure()
    titles = {id(x): "x", id(a): "a", id(b): "b", ax_.grad_fn: "a · x", y.grad_fn: "y = a·x + b", z.grad_fn: "z = x · y"}
    notes = {id(t): f"= {t.item():g}" for t in (x, a, b)}
    notes.update({t.grad_fn: f"= {t.item():g}" for t in (ax_, y, z)})
    grads = {id(t): f"∂z/∂{name} = {t.grad.item():g}" for t, name in ((x, "x"), (a, "a"), (b, "b"))}
    grads.update({ax_.grad_fn: f"∂z/∂(a·x) = {ax_.grad.item():g}", y.grad_fn: f"∂z/∂y = {y.grad.item():g}",
                  z.grad_fn: f"∂z/∂z = {z.grad.item():g}"})
    computational_graph(ax, z, titles, notes, grads)
    fit(fig, ax, 0.85)
    return fig


@figure("autograd_order", "derivations/autograd.md",
        "The notes' graph as manualnet.autograd records it: PyTorch's node names, the order in which "
        "backward runs them (1 to 6), and in red the share each node sends to each input; x's "
        "AccumulateGrad runs last and adds 7 + 6 = 13")
def autograd_order():
    x, a, b, ax_, y, z = _notes_graph()
    fig, ax = graph_figure()
    titles = {id(x): "AccumulateGrad x", id(a): "AccumulateGrad a", id(b): "AccumulateGrad b"}
    G_z, G_y, G_ax = z.grad.item(), y.grad.item(), ax_.grad.item()
    leaf = {t: id(t) for t in (x, a, b)}
    shares = {(z.grad_fn, leaf[x]): f"{G_z * y.item():g}", (z.grad_fn, y.grad_fn): f"{G_z * x.item():g}",
              (y.grad_fn, ax_.grad_fn): f"{G_y:g}", (y.grad_fn, leaf[b]): f"{G_y:g}",
              (ax_.grad_fn, leaf[a]): f"{G_ax * x.item():g}", (ax_.grad_fn, leaf[x]): f"{G_ax * a.item():g}"}
    grads = {id(x): f"x.grad = {x.grad.item():g}", id(a): f"a.grad = {a.grad.item():g}",
             id(b): f"b.grad = {b.grad.item():g}"}
    computational_graph(ax, z, titles, grads=grads, shares=shares, order=True, width=2.2, x_step=2.9)
    fit(fig, ax, 0.85)
    return fig


# -- Linear and Flatten --------------------------------------------------------------------------

def _matrix(ax, x, y, rows, columns, label, face, edge, unit=0.32):
    """A rows × columns rectangle with its top-left corner at (x, y), its name inside and its shape below."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x, y - rows * unit), columns * unit, rows * unit, facecolor=face, edgecolor=edge,
                           linewidth=1.3))
    ax.text(x + columns * unit / 2, y - rows * unit / 2, label, ha="center", va="center", fontsize=11)
    return x + columns * unit


@figure("linear_shapes", "derivations/linear.md",
        "The four products of a Linear layer drawn to scale for N = 4 samples, 3 inputs and 2 outputs: "
        "y = x Wᵀ + b, then dx = G W, dW = Gᵀ x and db = the column sums of G; each result has the "
        "shape of the array it is the gradient of")
def linear_shapes():
    N, D, O, unit = 4, 3, 2, 0.32
    fig, ax = new_figure(7.6, 3.3)
    colors = {"x": (LIGHT_FORWARD, FORWARD), "W": (LIGHT_MUTED, MUTED), "G": (LIGHT_BACKWARD, BACKWARD),
              "y": (LIGHT_FORWARD, FORWARD), "b": (LIGHT_MUTED, MUTED)}
    rows = [
        [("y", N, O), "=", ("x", N, D), "", ("Wᵀ", D, O), "+", ("b", 1, O)],
        [("dx", N, D), "=", ("G", N, O), "", ("W", O, D)],
        [("dW", O, D), "=", ("Gᵀ", O, N), "", ("x", N, D)],
        [("db", 1, O), "=", "Σₙ", ("G", N, O)],
    ]
    x_starts = (0.2, 4.0)
    tops = (3.2, 3.2, 1.55, 1.55)
    for index, row in enumerate(rows):
        x, top = x_starts[index % 2], tops[index]
        for item in row:
            if isinstance(item, str):
                ax.text(x + 0.15, top - 0.45, item, ha="center", va="center", fontsize=13)
                x += 0.3 if item else 0.05
                continue
            name, r, c = item
            face, edge = colors[name[-1] if name[0] == "d" else name[0]]
            if name.startswith("d"):
                face, edge = LIGHT_BACKWARD, BACKWARD
            x = _matrix(ax, x, top, r, c, name, face, edge, unit)
            ax.text(x - c * unit / 2, top - r * unit - 0.12, f"({r}, {c})" if r > 1 else f"({c},)", ha="center",
                    va="top", fontsize=8, color=MUTED)
    return fig


@figure("flatten_order", "derivations/flatten.md",
        "Flatten keeps the order of the entries: a (2, 2, 3) sample, channels, then rows, then columns, "
        "becomes one row of 12 in C order; backward reshapes the gradient back the same way")
def flatten_order():
    C, H, W = 2, 2, 3
    sample = np.arange(C * H * W, dtype=np.float64).reshape(1, C, H, W)
    layer = mn.Flatten()
    flat = layer(sample)[0]
    restored = layer.backward(flat[np.newaxis])[0]                # the gradient goes back to (C, H, W)
    fig, ax = new_figure(8.4, 2.5)
    shades = ["#b6e3ff", "#ffd8b5"]
    for c in range(C):
        colors = [[shades[c]] * W for _ in range(H)]
        grid(ax, restored[c].astype(int), 0.2 + c * 1.9, 2.1, colors=colors)
        ax.text(0.2 + c * 1.9 + 0.75, 2.25, f"channel {c}", ha="center", fontsize=9, color=MUTED)
    ax.text(2.0, 0.95, "x: (N, C, H, W) = (1, 2, 2, 3)", ha="center", fontsize=9, color=MUTED)
    arrow(ax, (3.95, 1.55), (4.55, 1.55), color=FORWARD)
    ax.text(4.25, 1.7, "forward", ha="center", fontsize=8, color=FORWARD)
    arrow(ax, (4.55, 1.25), (3.95, 1.25), color=BACKWARD)
    ax.text(4.25, 1.0, "backward", ha="center", fontsize=8, color=BACKWARD)
    colors = [[shades[int(v) // (H * W)] for v in flat]]
    grid(ax, [flat.astype(int)], 4.7, 1.65, cell=0.3, colors=colors, size=8)
    ax.text(4.7 + 1.8, 1.15, "y: (N, C·H·W) = (1, 12)", ha="center", fontsize=9, color=MUTED)
    return fig


# -- activations -------------------------------------------------------------------------------

def _curve_and_slope(layer, x, ax_value, ax_slope, label, color):
    """Plot ``layer``'s output and the slope its backward returns for G = 1, over ``x``."""
    y = layer(x)
    slope = layer.backward(np.ones_like(x))
    ax_value.plot(x, y, color=color, label=label, linewidth=2)
    ax_slope.plot(x, slope, color=color, label=label, linewidth=2)
    return y, slope


def _axes_titles(ax_value, ax_slope, value, slope):
    ax_value.set_title(value)
    ax_slope.set_title(slope)
    for ax in (ax_value, ax_slope):
        ax.axhline(0, color=MUTED, linewidth=0.6)
        ax.axvline(0, color=MUTED, linewidth=0.6)
        ax.set_xlabel("x")


@figure("relu_curves", "derivations/relu.md",
        "ReLU and LeakyReLU with slope 0.1 on the left, and on the right the gradient their backward "
        "passes for an upstream gradient of 1: a step from 0 (or 0.1) to 1 at x = 0")
def relu_curves():
    fig, ((ax_value, ax_slope),) = new_figure(7.6, 2.8, (1, 2))
    x = np.linspace(-3, 3, 241)
    _curve_and_slope(mn.ReLU(), x, ax_value, ax_slope, "ReLU", FORWARD)
    _curve_and_slope(mn.LeakyReLU(0.1), x, ax_value, ax_slope, "LeakyReLU(0.1)", BACKWARD)
    ax_slope.set_ylim(-0.15, 1.2)
    _axes_titles(ax_value, ax_slope, "y = max(x, 0), and with slope a = 0.1 below 0", "dy/dx, read by backward")
    ax_value.legend(frameon=False)
    return fig


@figure("sigmoid_curves", "derivations/sigmoid.md",
        "The sigmoid and its slope σ(1 − σ), which backward computes from the output: at most 1/4, at x = 0, "
        "and below 0.01 once |x| passes about 4.6")
def sigmoid_curves():
    fig, ((ax_value, ax_slope),) = new_figure(7.6, 2.8, (1, 2))
    x = np.linspace(-8, 8, 321)
    _, slope = _curve_and_slope(mn.Sigmoid(), x, ax_value, ax_slope, "σ", FORWARD)
    ax_slope.annotate("1/4 at x = 0", (0, 0.25), (2.0, 0.22), fontsize=9, arrowprops=dict(arrowstyle="-", color=MUTED))
    ax_slope.fill_between(x, 0, slope, where=np.abs(x) > 4.6, color=LIGHT_BACKWARD)
    ax_slope.text(6.3, 0.03, "< 0.01", ha="center", fontsize=8, color=BACKWARD)
    _axes_titles(ax_value, ax_slope, "y = σ(x) = 1 / (1 + e⁻ˣ)", "dy/dx = y (1 − y)")
    return fig


@figure("tanh_curves", "derivations/tanh.md",
        "tanh and its slope 1 − tanh², computed by backward from the output: 1 at x = 0, and close to 0 "
        "where tanh saturates at ±1")
def tanh_curves():
    fig, ((ax_value, ax_slope),) = new_figure(7.6, 2.8, (1, 2))
    x = np.linspace(-4, 4, 241)
    _curve_and_slope(mn.Tanh(), x, ax_value, ax_slope, "tanh", FORWARD)
    sigmoid = mn.Sigmoid()(x)
    ax_value.plot(x, sigmoid, color=MUTED, linestyle="--", linewidth=1, label="σ, for comparison")
    ax_value.legend(frameon=False, loc="lower right")
    _axes_titles(ax_value, ax_slope, "y = tanh(x)", "dy/dx = 1 − y²")
    return fig


@figure("softmax_jacobian", "derivations/softmax.md",
        "Softmax of the logits (2, 1, 0.1, −1) on the left; on the right its Jacobian, built row by row "
        "from the layer's backward: p_i (1 − p_i) on the diagonal, −p_i p_j off it, every row summing to 0")
def softmax_jacobian():
    fig, ((ax_p, ax_j),) = new_figure(7.8, 3.0, (1, 2))
    z = np.array([[2.0, 1.0, 0.1, -1.0]])
    layer = mn.Softmax(dim=1)
    p = layer(z)[0]
    jacobian = np.array([layer.backward(row[np.newaxis])[0] for row in np.eye(4)])   # row j: d(p_j)/dz
    ax_p.bar(range(4), p, color=FORWARD)
    for i, value in enumerate(p):
        ax_p.text(i, value + 0.01, f"{value:.2f}", ha="center", va="bottom", fontsize=9)
    ax_p.set_xticks(range(4), [f"z={v:g}" for v in z[0]])
    ax_p.set_title("p = softmax(z)")
    limit = np.abs(jacobian).max()
    ax_j.imshow(jacobian, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (i, j), value in np.ndenumerate(jacobian):
        ax_j.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8)
    ax_j.set_xticks(range(4), [f"z{j}" for j in range(4)])
    ax_j.set_yticks(range(4), [f"p{i}" for i in range(4)])
    ax_j.set_title("∂p_i / ∂z_j = p_i (δ_ij − p_j)")
    ax_j.spines[:].set_visible(False)
    return fig


@figure("cross_entropy_gradient", "derivations/cross_entropy.md",
        "One sample with five classes and label 3: the softmax probabilities next to the one-hot label, "
        "and the gradient CrossEntropyLoss's backward returns, p minus the one-hot, negative only at the label")
def cross_entropy_gradient():
    fig, ((ax_p, ax_g),) = new_figure(7.8, 2.8, (1, 2))
    z, label = np.array([[1.5, -0.5, 0.3, 1.0, -1.2]]), 3
    criterion = mn.CrossEntropyLoss()
    criterion(z, np.array([label]))
    grad = criterion.backward()[0]
    p = mn.Softmax(dim=1)(z)[0]
    classes = np.arange(5)
    ax_p.bar(classes - 0.2, p, width=0.4, color=FORWARD, label="p = softmax(z)")
    ax_p.bar(classes + 0.2, np.eye(5)[label], width=0.4, color=MUTED, label="one-hot(y), y = 3")
    ax_p.legend(frameon=False, fontsize=8)
    ax_p.set_title("forward")
    ax_g.bar(classes, grad, color=[BACKWARD if g < 0 else "#ff8182" for g in grad])
    for c, g in zip(classes, grad):
        ax_g.text(c, g + (0.02 if g >= 0 else -0.02), f"{g:+.2f}", ha="center", va="bottom" if g >= 0 else "top",
                  fontsize=9)
    ax_g.axhline(0, color=MUTED, linewidth=0.6)
    ax_g.set_ylim(grad.min() - 0.15, grad.max() + 0.15)
    ax_g.set_title("backward: dL/dz = p − one-hot(y)")
    for ax in (ax_p, ax_g):
        ax.set_xticks(classes, [f"class {c}" for c in classes], fontsize=8)
    return fig


@figure("nll_graphs", "derivations/nll.md",
        "Two recorded graphs of the same loss: log_softmax then nll_loss, PyTorch's two nodes, and "
        "manualnet's fused cross_entropy, one node whose backward is (softmax(z) − one-hot)/N")
def nll_graphs():
    from manualnet.autograd import Tensor, cross_entropy, log_softmax, nll_loss

    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    fig, (ax_two, ax_one) = plt.subplots(2, 1, figsize=(7.0, 2.6), gridspec_kw={"hspace": 0.35})
    z = Tensor(logits, requires_grad=True)
    computational_graph(ax_two, nll_loss(log_softmax(z, dim=1), labels), {id(z): "z (logits)"}, width=2.6, x_step=3.1)
    ax_two.set_title("nll_loss(log_softmax(z, dim=1), y): PyTorch's cross_entropy", fontsize=10)
    z = Tensor(logits, requires_grad=True)
    computational_graph(ax_one, cross_entropy(z, labels), {id(z): "z (logits)"}, width=2.6, x_step=3.1)
    ax_one.set_title("cross_entropy(z, y): manualnet's one fused node", fontsize=10)
    ax_one.set_xlim(ax_two.get_xlim())
    return fig


@figure("bce_curves", "derivations/bce.md",
        "Binary cross-entropy of a logit z for the labels 1 and 0, and its gradient σ(z) − y from "
        "BCEWithLogitsLoss's backward: linear in z far on the wrong side, flat on the right one")
def bce_curves():
    fig, ((ax_loss, ax_grad),) = new_figure(7.6, 2.8, (1, 2))
    z = np.linspace(-6, 6, 241)
    for label, color in ((1.0, FORWARD), (0.0, BACKWARD)):
        criterion = mn.BCEWithLogitsLoss(reduction="none")
        loss = criterion(z, np.full_like(z, label))
        grad = criterion.backward(np.ones_like(z))
        ax_loss.plot(z, loss, color=color, linewidth=2, label=f"y = {label:g}")
        ax_grad.plot(z, grad, color=color, linewidth=2, label=f"y = {label:g}")
    ax_loss.set_title("L = −y log σ(z) − (1 − y) log(1 − σ(z))")
    ax_grad.set_title("dL/dz = σ(z) − y")
    for ax in (ax_loss, ax_grad):
        ax.set_xlabel("logit z")
        ax.axhline(0, color=MUTED, linewidth=0.6)
    ax_loss.legend(frameon=False)
    return fig


@figure("mse_curves", "derivations/mse.md",
        "The squared error of a prediction x against the target 1, and the gradient MSELoss's backward "
        "returns, 2 (x − 1)/M with M = 1: a straight line through the target")
def mse_curves():
    fig, ((ax_loss, ax_grad),) = new_figure(7.6, 2.6, (1, 2))
    x = np.linspace(-1.5, 3.5, 201)
    criterion = mn.MSELoss(reduction="none")
    loss = criterion(x, np.ones_like(x))
    grad = criterion.backward(np.ones_like(x))
    ax_loss.plot(x, loss, color=FORWARD, linewidth=2)
    ax_grad.plot(x, grad, color=BACKWARD, linewidth=2)
    ax_loss.set_title("L = (x − 1)²")
    ax_grad.set_title("dL/dx = 2 (x − 1)")
    for ax in (ax_loss, ax_grad):
        ax.axvline(1, color=MUTED, linewidth=0.6, linestyle="--")
        ax.axhline(0, color=MUTED, linewidth=0.6)
        ax.set_xlabel("prediction x (target 1)")
    return fig


@figure("logistic_regression_training", "derivations/logistic_regression.md",
        "The notes' LogisticRegression trained with its own backward and optimize on two clouds of "
        "points: the decision line p = 1/2 after 1, 10 and 200 steps on the left, the mean binary "
        "cross-entropy falling on the right")
def logistic_regression_training():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal((-1.0, -0.6), 0.7, (60, 2)), rng.normal((1.2, 0.9), 0.7, (60, 2))])
    y = np.repeat([0.0, 1.0], 60)
    model = mn.LogisticRegression(2, lr=0.5, dtype=np.float64)
    losses, lines = [], {}
    for step in range(1, 201):
        p = model.forward(x)
        losses.append(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        model.backward(x, p, y)
        model.optimize()
        if step in (1, 10, 200):
            lines[step] = (model.w.data.ravel().copy(), float(np.ravel(model.b.data)[0]))
    fig, ((ax_data, ax_loss),) = new_figure(7.8, 3.0, (1, 2))
    ax_data.scatter(*x[y == 0].T, s=12, color=FORWARD, label="y = 0")
    ax_data.scatter(*x[y == 1].T, s=12, color=BACKWARD, label="y = 1")
    grid_x = np.linspace(-3, 3, 2)
    for (step, (w, b)), shade in zip(lines.items(), ("#d0d7de", "#8c959f", "black")):
        ax_data.plot(grid_x, -(w[0] * grid_x + b) / w[1], color=shade, linewidth=1.5, label=f"after {step} step(s)")
    ax_data.set_xlim(-3, 3)
    ax_data.set_ylim(-3, 3)
    ax_data.set_aspect("equal")
    ax_data.legend(frameon=False, fontsize=7, loc="lower right")
    ax_data.set_title("w·x + b = 0")
    ax_loss.plot(range(1, 201), losses, color=FORWARD, linewidth=2)
    ax_loss.set_xlabel("step")
    ax_loss.set_title("mean binary cross-entropy")
    return fig


# -- Dropout and BatchNorm -------------------------------------------------------------------------

@figure("dropout_masks", "derivations/dropout.md",
        "Dropout with p = 0.5 in training mode on a 4 × 6 input: the kept entries are scaled by "
        "1/(1 − p) = 2 and the dropped ones are 0, and backward multiplies the upstream gradient by the "
        "same mask")
def dropout_masks():
    rng = np.random.default_rng(4)
    x = np.round(rng.uniform(0.1, 0.9, (1, 4, 6)), 1)
    layer = mn.Dropout(p=0.5, rng=np.random.default_rng(1))
    y = layer(x)
    G = np.ones_like(x)
    dx = layer.backward(G)
    fig, ax = new_figure(10.2, 2.2)
    kept = y[0] != 0
    panels = (("x", x[0], None), ("mask / (1 − p)", np.where(kept, 2, 0), None), ("y = x ⊙ mask / (1 − p)", y[0], None),
              ("G (all ones)", G[0], LIGHT_BACKWARD), ("dx = G ⊙ mask / (1 − p)", dx[0], LIGHT_BACKWARD))
    for index, (title, values, face) in enumerate(panels):
        colors = [[(face or LIGHT_FORWARD) if kept[r, c] or title == "x" or title.startswith("G") else "#eaeef2"
                   for c in range(6)] for r in range(4)]
        x0 = 0.1 + index * 2.05
        grid(ax, values, x0, 1.95, cell=0.3, colors=colors, size=7, fmt="{:.3g}")
        ax.text(x0 + 0.9, 0.52, title, ha="center", va="top", fontsize=8)
    return fig


@figure("batchnorm_graph", "derivations/batchnorm.md",
        "Batch normalisation written with autograd's primitive operations and drawn from the graph it "
        "records: x reaches y by three roads, directly through x − μ, through the mean μ and through the "
        "variance σ², which is why dL/dx has three terms")
def batchnorm_graph():
    from manualnet.autograd import Tensor

    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    gamma, beta = Tensor(np.ones(3), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)
    mu = x.mean(dim=0, keepdim=True)
    centred = x - mu
    variance = (centred * centred).mean(dim=0, keepdim=True)
    shifted = variance + 1e-5
    inv_std = shifted ** -0.5
    x_hat = centred * inv_std
    scaled = gamma * x_hat
    y = scaled + beta
    titles = {id(x): "x", id(gamma): "γ", id(beta): "β", mu.grad_fn: "μ = mean(x)", centred.grad_fn: "x − μ",
              variance.grad_fn: "σ² = mean((x − μ)²)", shifted.grad_fn: "σ² + ε",
              inv_std.grad_fn: "s = (σ² + ε)^(−1/2)", x_hat.grad_fn: "x̂ = (x − μ) s", scaled.grad_fn: "γ x̂",
              y.grad_fn: "y = γ x̂ + β"}
    square = variance.grad_fn.next_functions[0][0]
    titles[square] = "(x − μ)²"
    fig, ax = graph_figure()
    notes = {node: node.name() for node in titles if not isinstance(node, int)}
    place = {id(x): (0, 0), mu.grad_fn: (-1, 1), centred.grad_fn: (0, 2), square: (1, 3), variance.grad_fn: (1, 4),
             shifted.grad_fn: (1, 5), inv_std.grad_fn: (1, 6), x_hat.grad_fn: (0, 7), id(gamma): (-1, 7),
             scaled.grad_fn: (0, 8), id(beta): (-1, 8.6), y.grad_fn: (0, 9.6)}
    computational_graph(ax, y, titles, notes, width=2.3, x_step=2.6, y_step=0.95, place=place)
    fit(fig, ax, 0.78)
    return fig


# -- optimizers --------------------------------------------------------------------------------

@figure("optimizer_paths", "derivations/optimizers.md",
        "Forty steps of SGD, SGD with momentum 0.9 and Adam from the same start on the valley "
        "f = (θ₁² + 20 θ₂²)/2, drawn over its contour lines: SGD zigzags across the steep axis, momentum "
        "overshoots and settles, Adam moves about lr per step on both axes")
def optimizer_paths():
    curvature = np.array([1.0, 20.0])
    start = np.array([-4.0, 1.5])
    runs = {"SGD, lr = 0.09": lambda p: mn.optim.SGD([p], lr=0.09),
            "SGD, lr = 0.02, momentum = 0.9": lambda p: mn.optim.SGD([p], lr=0.02, momentum=0.9),
            "Adam, lr = 0.3": lambda p: mn.optim.Adam([p], lr=0.3)}
    fig, ((ax,),) = new_figure(7.6, 3.4, (1, 1))
    grid_1, grid_2 = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.8, 1.8, 200))
    ax.contour(grid_1, grid_2, (grid_1**2 + 20 * grid_2**2) / 2, levels=np.geomspace(0.05, 40, 9), colors="#d0d7de",
               linewidths=0.8)
    for (label, make), color in zip(runs.items(), (MUTED, BACKWARD, FORWARD)):
        theta = mn.Parameter(start.copy())
        optimizer = make(theta)
        path = [theta.data.copy()]
        for _ in range(40):
            optimizer.zero_grad()
            theta.grad += curvature * theta.data               # the gradient of f
            optimizer.step()
            path.append(theta.data.copy())
        path = np.array(path)
        ax.plot(*path.T, marker="o", markersize=2.5, linewidth=1.2, color=color, label=label)
    ax.plot(0, 0, marker="*", color="black", markersize=10)
    ax.set_xlabel("θ₁")
    ax.set_ylabel("θ₂")
    ax.set_aspect("equal")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


@figure("lr_schedules", "derivations/optimizers.md",
        "The learning rate of the schedulers over 60 epochs, starting from 0.1: StepLR halving every 15, "
        "ExponentialLR with γ = 0.95, CosineAnnealingLR to 0 over the run, and OneCycleLR's warm-up "
        "then annealing")
def lr_schedules():
    from manualnet.optim import lr_scheduler

    epochs = 60
    schedules = {
        "StepLR(step_size=15, gamma=0.5)": lambda o: lr_scheduler.StepLR(o, step_size=15, gamma=0.5),
        "ExponentialLR(gamma=0.95)": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.95),
        "CosineAnnealingLR(T_max=60)": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=epochs),
        "OneCycleLR(max_lr=0.1, total_steps=60)": lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=epochs),
    }
    fig, ((ax,),) = new_figure(7.6, 2.8, (1, 1))
    for label, make in schedules.items():
        optimizer = mn.optim.SGD([mn.Parameter(np.zeros(1))], lr=0.1)
        scheduler = make(optimizer)
        rates = []
        for _ in range(epochs):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        ax.plot(range(epochs), rates, linewidth=2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("lr")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# -- gradient checking ---------------------------------------------------------------------------

@figure("gradcheck_error", "derivations/gradcheck.md",
        "The error of a finite-difference slope of tanh at x = 0.5 against the step h, in float64: "
        "truncation error falls as h (one-sided) or h² (central) until rounding error, growing as 1/h, "
        "takes over; the central difference is best near h = 1e-5, with an error near 1e-12, and the checks' "
        "1e-6 is as good")
def gradcheck_error():
    x0 = np.array([0.5])
    exact = 1 - np.tanh(x0[0]) ** 2
    steps = np.geomspace(1e-13, 1e-1, 73)
    central = [abs((np.tanh(x0[0] + h) - np.tanh(x0[0] - h)) / (2 * h) - exact) for h in steps]
    checked = mn.gradcheck.numerical_gradient(lambda x: np.tanh(x).sum(), x0.copy())[0]   # the checks' own step
    forward = [abs((np.tanh(x0[0] + h) - np.tanh(x0[0])) / h - exact) for h in steps]
    fig, ((ax,),) = new_figure(7.0, 3.0, (1, 1))
    ax.loglog(steps, np.maximum(forward, 1e-17), color=MUTED, linewidth=1.5, label="one-sided (f(x+h) − f(x)) / h")
    ax.loglog(steps, np.maximum(central, 1e-17), color=FORWARD, linewidth=2,
              label="central (f(x+h) − f(x−h)) / 2h")
    ax.axvline(1e-6, color=BACKWARD, linestyle="--", linewidth=1)
    ax.plot(1e-6, max(abs(checked - exact), 1e-17), marker="o", color=BACKWARD)
    ax.text(1.3e-6, 1e-2, "eps = 1e-6,\nthe checks' step", color=BACKWARD, fontsize=8, va="top")
    ax.set_xlabel("step h")
    ax.set_ylabel("|estimate − (1 − tanh² x)|")
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    return fig


# -- convolution and pooling -----------------------------------------------------------------------

WINDOW_COLORS = ["#b6e3ff", "#ffd8b5", "#d8b9ff", "#aceebb"]


def _windows(x, k, stride):
    """im2col of one (H, W) image: the windows as the columns of a (k·k, positions) matrix, row-major."""
    view = np.lib.stride_tricks.sliding_window_view(x, (k, k))[::stride, ::stride]
    return view.reshape(-1, k * k).T


@figure("conv_im2col", "derivations/conv2d.md",
        "im2col for a 4 × 4 image and a 2 × 2 kernel with stride 1: each of the 9 windows becomes one "
        "column of X_col (four of them coloured), and the whole convolution is the product W_mat X_col")
def conv_im2col():
    x = np.arange(1, 17, dtype=np.float64).reshape(4, 4)
    columns = _windows(x, 2, 1)
    layer = mn.Conv2d(1, 1, 2, bias=False, dtype=np.float64)
    layer.weight.data[...] = [[[[1.0, 0.0], [0.0, -1.0]]]]
    assert np.allclose(layer(x[np.newaxis, np.newaxis]).ravel(), layer.weight.data.reshape(1, 4) @ columns)   # (11)
    fig, ax = new_figure(9.4, 3.0)
    starts = {0: (0, 0), 1: (0, 1), 4: (1, 1), 8: (2, 2)}                   # column -> (row, col) of its window
    colors = [["white"] * 4 for _ in range(4)]
    for (column, (r, c)), color in zip(starts.items(), WINDOW_COLORS):
        for dr in range(2):
            for dc in range(2):
                if colors[r + dr][c + dc] == "white":
                    colors[r + dr][c + dc] = color
    grid(ax, x.astype(int), 0.3, 2.6, colors=colors)
    ax.text(1.3, 0.35, "x̃ (4 × 4), windows 2 × 2, stride 1", ha="center", fontsize=9, color=MUTED)
    arrow(ax, (2.45, 1.6), (2.85, 1.6), color=FORWARD)
    ax.text(2.65, 1.75, "im2col", ha="center", fontsize=9, color=FORWARD)
    column_colors = [[WINDOW_COLORS[list(starts).index(j)] if j in starts else "white" for j in range(9)]
                     for _ in range(4)]
    grid(ax, columns.astype(int), 3.9, 2.6, colors=column_colors)
    for row, (p, q) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        ax.text(3.8, 2.6 - (row + 0.5) * 0.5, f"tap ({p},{q})", ha="right", va="center", fontsize=7, color=MUTED)
    for j in range(9):
        ax.text(3.9 + (j + 0.5) * 0.5, 2.7, f"({j // 3},{j % 3})", ha="center", fontsize=6.5, color=MUTED)
    ax.text(3.9 + 2.25, 0.35, "X_col: one row per tap (p, q), one column per output (i, j)", ha="center",
            fontsize=9, color=MUTED)
    return fig


@figure("conv_col2im", "derivations/conv2d.md",
        "col2im adds every column entry back into the cell it was copied from: with all-ones kernels and "
        "upstream gradients, dx counts how many windows read each cell, 1 to 4 for a 2 × 2 kernel at "
        "stride 1, 1 or 2 for a 3 × 3 kernel at stride 2, and 0 for a row no window reaches")
def conv_col2im():
    cases = (("kernel 2 × 2, stride 1", 5, 2, 1, 0), ("kernel 3 × 3, stride 2", 6, 3, 2, 0))
    fig, ax = new_figure(7.6, 3.7)
    for index, (title, size, k, stride, padding) in enumerate(cases):
        layer = mn.Conv2d(1, 1, k, stride=stride, padding=padding, bias=False, dtype=np.float64)
        layer.weight.data[...] = 1.0
        y = layer(np.zeros((1, 1, size, size)))
        counts = layer.backward(np.ones_like(y))[0, 0]                        # eq. (14) with ones everywhere
        shades = {0: "#eaeef2", 1: "white", 2: "#ffd8b5", 3: "#ffb77c", 4: "#fb8f44"}
        colors = [[shades[int(v)] for v in row] for row in counts]
        x0 = 0.3 + index * 3.9
        grid(ax, counts.astype(int), x0, 3.2, colors=colors)
        ax.text(x0 + size * 0.25, 3.35, title, ha="center", fontsize=9)
        ax.text(x0 + size * 0.25, 3.2 - size * 0.5 - 0.15,
                f"{size} × {size} input, {y.shape[2]} × {y.shape[3]} outputs", ha="center", va="top", fontsize=8,
                color=MUTED)
    return fig


@figure("pooling_routes", "derivations/pooling.md",
        "The worked example: max pooling 2 × 2 with stride 2 sends each window's gradient G to the "
        "cell that held its maximum and 0 to the rest; average pooling gives each of the window's four "
        "cells a quarter of its G")
def pooling_routes():
    x = np.array([[[[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 6, 2], [2, 3, 1, 1]]]])
    pool, average = mn.MaxPool2d(2), mn.AvgPool2d(2)
    y = pool(x)
    G = np.array([[[[10.0, 20], [30, 40]]]])
    dx = pool.backward(G)[0, 0]
    average(x)
    G_average = np.array([[[[4.0, 8], [12, 16]]]])
    dx_average = average.backward(G_average)[0, 0]
    window = np.kron([[0, 1], [2, 3]], np.ones((2, 2), dtype=int))
    colors = [[WINDOW_COLORS[window[r, c]] for c in range(4)] for r in range(4)]
    bold = [[BACKWARD if dx[r, c] else "black" for c in range(4)] for r in range(4)]
    fig, ax = new_figure(10.4, 4.9)
    grid(ax, x[0, 0].astype(int), 0.2, 4.5, colors=colors, text_colors=bold)
    ax.text(1.2, 4.6, "x", ha="center", fontsize=10)
    grid(ax, y[0, 0].astype(int), 2.9, 4.0, colors=[[WINDOW_COLORS[0], WINDOW_COLORS[1]],
                                                    [WINDOW_COLORS[2], WINDOW_COLORS[3]]])
    ax.text(3.4, 4.1, "y = max", ha="center", fontsize=10)
    arrow(ax, (2.3, 3.5), (2.8, 3.5), color=FORWARD)
    grid(ax, G[0, 0].astype(int), 4.6, 4.0, colors=[[LIGHT_BACKWARD] * 2] * 2)
    ax.text(5.1, 4.1, "G", ha="center", fontsize=10, color=BACKWARD)
    grid(ax, dx.astype(int), 6.5, 4.5, colors=colors, text_colors=bold)
    ax.text(7.5, 4.6, "dx (max): all of G to the maximum", ha="center", fontsize=9)
    for i in range(2):
        for j in range(2):
            r, c = np.argwhere((window == 2 * i + j) & (dx != 0))[0]
            arrow(ax, cell_center(4.6, 4.0, i, j), cell_center(6.5, 4.5, r, c), color=BACKWARD, width=1, curve=-0.15,
                  shrink=9)
    grid(ax, G_average[0, 0].astype(int), 4.6, 1.6, colors=[[LIGHT_BACKWARD] * 2] * 2)
    ax.text(5.1, 1.7, "G", ha="center", fontsize=10, color=BACKWARD)
    grid(ax, dx_average.astype(int), 6.5, 2.1, colors=colors)
    ax.text(7.5, 0.0, "dx (average): G/4 to every cell of the window", ha="center", fontsize=9)
    arrow(ax, (5.7, 1.1), (6.4, 1.1), color=BACKWARD)
    ax.text(0.2, 1.4, "Ties: the first maximum in\nwindow order (row by row)\ngets all of G, as in PyTorch.",
            fontsize=9, color=MUTED, va="center")
    return fig


# -- Embedding ----------------------------------------------------------------------------------------

@figure("embedding_scatter", "derivations/embedding.md",
        "The worked example's scatter-add: the six rows of G, each labelled with its token id, are added "
        "into the row of dW their id names; token 1 appears three times and collects three rows, token 2 "
        "none")
def embedding_scatter():
    layer = mn.Embedding(4, 2, dtype=np.float64)
    idx = np.array([[1, 3, 1], [1, 0, 3]])
    G = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    layer(idx)
    layer.backward(G)
    dW = layer.weight.grad
    token_colors = ["#aceebb", "#b6e3ff", "#eaeef2", "#ffd8b5"]
    flat_idx, flat_G = idx.ravel(), G.reshape(-1, 2)
    fig, ax = new_figure(7.4, 3.9)
    grid(ax, flat_G.astype(int), 1.0, 3.5, colors=[[token_colors[t]] * 2 for t in flat_idx])
    for p, token in enumerate(flat_idx):
        ax.text(0.9, 3.5 - (p + 0.5) * 0.5, f"p={p}, idx={token}", ha="right", va="center", fontsize=8)
    ax.text(1.5, 3.6, "G (positions × D)", ha="center", fontsize=9, color=BACKWARD)
    grid(ax, dW.astype(int), 5.2, 3.0, colors=[[token_colors[t]] * 2 for t in range(4)])
    for token in range(4):
        ax.text(6.3, 3.0 - (token + 0.5) * 0.5, f"token {token}", va="center", fontsize=8)
    ax.text(5.7, 3.1, "dW (V × D)", ha="center", fontsize=9, color=BACKWARD)
    for p, token in enumerate(flat_idx):
        arrow(ax, (2.0, 3.5 - (p + 0.5) * 0.5), (5.2, 3.0 - (token + 0.5) * 0.5), color=BACKWARD, width=1, shrink=2)
    ax.text(3.6, 0.2, "np.add.at(dW, idx, G): a repeated token adds every row", ha="center", fontsize=9, color=MUTED)
    return fig


# -- recurrent layers --------------------------------------------------------------------------------

def _circle(ax, x, y, symbol):
    """A small circle with an operation in it (× or +), as the cell diagrams draw them."""
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), 0.2, facecolor="white", edgecolor="black", linewidth=1.3))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=12)


@figure("rnn_unrolled", "derivations/rnn.md",
        "An RNN unrolled over three steps with the same weights in every box: in blue the states h_t "
        "flowing forward, in red the gradients flowing back; dh_t adds the output's G_t and what step t + 1 "
        "sends back, eq. (4), and dh_0 leaves at the left")
def rnn_unrolled():
    fig, ax = new_figure(9.4, 3.9)
    xs = [2.2, 4.9, 7.6]
    y = 1.7
    for t, x in enumerate(xs, start=1):
        box(ax, x, y, f"step {t}\n(1), (2)", width=1.2, height=0.8, face=LIGHT_FORWARD, edge=FORWARD)
        ax.text(x, 0.25, f"$x_{t}$", ha="center", fontsize=12)
        arrow(ax, (x, 0.45), (x, y - 0.42), color=FORWARD)
        arrow(ax, (x - 0.15, y + 0.42), (x - 0.15, 3.25), color=FORWARD)
        ax.text(x - 0.2, 3.35, f"output$_{t}$ = $h_{t}$", ha="center", fontsize=9, color=FORWARD)
        arrow(ax, (x + 0.2, 3.2), (x + 0.2, y + 0.42), color=BACKWARD)
        ax.text(x + 0.27, 2.75, f"$G_{t}$", fontsize=11, color=BACKWARD)
    ax.text(0.3, y + 0.15, "$h_0$", fontsize=12, va="center")
    arrow(ax, (0.7, y + 0.15), (xs[0] - 0.62, y + 0.15), color=FORWARD)
    arrow(ax, (xs[0] - 0.62, y - 0.2), (0.7, y - 0.2), color=BACKWARD)
    ax.text(0.75, y - 0.42, "$dh_0$ (11)", fontsize=9, color=BACKWARD)
    for t, (left, right) in enumerate(zip(xs, xs[1:]), start=1):
        arrow(ax, (left + 0.62, y + 0.15), (right - 0.62, y + 0.15), color=FORWARD)
        ax.text((left + right) / 2, y + 0.3, f"$h_{t}$", ha="center", fontsize=11, color=FORWARD)
        arrow(ax, (right - 0.62, y - 0.2), (left + 0.62, y - 0.2), color=BACKWARD)
        ax.text((left + right) / 2, y - 0.55, f"$da_{t + 1} W_{{hh}}$ (6)", ha="center", fontsize=8.5, color=BACKWARD)
    arrow(ax, (xs[-1] + 0.62, y + 0.15), (9.1, y + 0.15), color=FORWARD)
    ax.text(9.05, y + 0.3, "$h_n$", ha="right", fontsize=10, color=FORWARD)
    arrow(ax, (9.1, y - 0.2), (xs[-1] + 0.62, y - 0.2), color=BACKWARD)
    ax.text(9.05, y - 0.55, "$G_{h_n}$", ha="right", fontsize=9, color=BACKWARD)
    ax.text(4.9, 3.75, "the same $W_{ih}, W_{hh}, b$ in every step: each dW is a sum over t, eq. (8)–(10)",
            ha="center", fontsize=9, color=MUTED)
    return fig


def _tail_gradients(layer, inputs, states, upstream, every):
    """[(T − t, gradient of the state at t)] for t = T, T − every, ..., 0: the layer run from step t with that state.

    ``states[t]`` is the layer's state after t steps (what ``hx`` takes);
    ``upstream(final)`` builds backward's argument from the final state; the
    first entry of the initial-state gradient is returned.
    """
    T = len(inputs)
    found = []
    for t in range(T, -1, -every):
        if t == T:
            found.append((0, None))
            continue
        _, final = layer(inputs[t:], states[t])
        _, d_state = layer.backward(upstream(final))
        found.append((T - t, d_state))
    return found


@figure("rnn_gradient_norms", "derivations/rnn.md",
        "The norm of dL/dh_t for a unit gradient on h_T, T = 100, plotted against the distance T − t on a log "
        "scale: with W_hh = s Q and tiny states it is exactly s^(T−t), a straight line; at s = 1.5 tanh "
        "saturates, flattening the last steps; PyTorch's default init with random inputs vanishes about as fast "
        "as s = 0.5")
def rnn_gradient_norms():
    T, every = 100, 4
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((16, 16)))
    fig, ((ax,),) = new_figure(7.4, 3.4, (1, 1))
    cases = [(f"$W_{{hh}} = {s} Q$", s) for s in (1.5, 1.1, 0.9, 0.5)] + [("PyTorch's init, random inputs", None)]
    for (label, s), color in zip(cases, (BACKWARD, "#bc4c00", GREEN, FORWARD, "black")):
        rnn = mn.RNN(4, 16, bias=s is None, rng=0 if s is not None else 1, dtype=np.float64)
        if s is None:
            inputs, h0 = np.random.default_rng(2).standard_normal((T, 1, 4)), np.zeros((1, 1, 16))
        else:
            rnn.weight_hh_l0.data[...] = s * Q
            inputs, h0 = np.zeros((T, 1, 4)), 1e-9 * np.random.default_rng(1).standard_normal((1, 1, 16))
        output, _ = rnn(inputs, h0)
        states = [h0] + [output[t][np.newaxis] for t in range(T)]
        unit = np.ones((1, 1, 16)) / 4
        found = _tail_gradients(rnn, inputs, states, lambda final: (None, unit), every)
        distances = [k for k, _ in found]
        norms = [1.0 if d is None else np.linalg.norm(d) for _, d in found]
        ax.semilogy(distances, norms, color=color, linewidth=2, label=label)
    ax.set_xlabel("T − t: steps back from the last state")
    ax.set_ylabel("‖dL/dh_t‖ for ‖dL/dh_T‖ = 1")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


@figure("rnn_truncated", "derivations/rnn.md",
        "Truncated backpropagation through time over two chunks of four steps: the state's values carry "
        "on from chunk 1 into chunk 2 (blue), but each chunk's backward stops at its first step (red), so "
        "the gradient chunk 2 sends to h_4 is dropped")
def rnn_truncated():
    fig, ax = new_figure(9.6, 2.6)
    xs = [0.9 + 1.05 * t + (0.6 if t >= 4 else 0) for t in range(8)]
    y = 1.3
    for t, x in enumerate(xs, start=1):
        box(ax, x, y, f"{t}", width=0.6, height=0.55, face=LIGHT_FORWARD, edge=FORWARD)
    ax.text(0.05, y, "$h_0$", va="center", fontsize=11)
    arrow(ax, (0.35, y + 0.1), (xs[0] - 0.32, y + 0.1), color=FORWARD)
    for index, (left, right) in enumerate(zip(xs, xs[1:])):
        arrow(ax, (left + 0.32, y + 0.1), (right - 0.32, y + 0.1), color=FORWARD)
        if index != 3:
            arrow(ax, (right - 0.32, y - 0.12), (left + 0.32, y - 0.12), color=BACKWARD)
    boundary = (xs[3] + xs[4]) / 2
    ax.plot([boundary, boundary], [0.3, 2.2], color=MUTED, linestyle="--", linewidth=1)
    ax.text(boundary, y - 0.3, "✕", ha="center", va="center", fontsize=14, color=BACKWARD)
    ax.text(boundary, 0.1, "detach: values go on, the gradient stops", ha="center", fontsize=9, color=MUTED)
    ax.text((xs[0] + xs[3]) / 2, 2.25, "chunk 1: forward, backward, step", ha="center", fontsize=9)
    ax.text((xs[4] + xs[7]) / 2, 2.25, "chunk 2 starts from the value of $h_4$", ha="center", fontsize=9)
    arrow(ax, (xs[7] + 0.32, y + 0.1), (9.5, y + 0.1), color=FORWARD)
    return fig


@figure("lstm_cell", "derivations/lstm.md",
        "One LSTM step: x_t and h_{t−1} feed the four gates i, f, g, o through one product, eq. (1); the cell "
        "state runs along the top, scaled by f and added to i ⊙ g, eq. (4); h_t = o ⊙ tanh(c_t), eq. (5); in red "
        "the cell path backward, dc_{t−1} = dc_t ⊙ f, eq. (13)")
def lstm_cell():
    fig, ax = new_figure(8.8, 4.6)
    top, gates_y, bus = 3.7, 1.75, 0.7
    ax.text(0.1, top, "$c_{t-1}$", va="center", fontsize=12)
    arrow(ax, (0.75, top), (2.4, top), color=FORWARD)
    _circle(ax, 2.6, top, "×")
    arrow(ax, (2.8, top), (4.4, top), color=FORWARD)
    _circle(ax, 4.6, top, "+")
    arrow(ax, (4.8, top), (8.3, top), color=FORWARD)
    ax.text(8.35, top, "$c_t$", va="center", fontsize=12)
    ax.text(0.1, bus, "$h_{t-1}$", va="center", fontsize=12)
    ax.plot([0.75, 5.6], [bus, bus], color=FORWARD, linewidth=1.3)
    ax.text(1.5, 0.05, "$x_t$", ha="center", fontsize=12)
    arrow(ax, (1.5, 0.25), (1.5, bus), color=FORWARD, style="-")
    ax.text(3.3, bus - 0.3, "$a = x_t W_{ih}^\\top + h_{t-1} W_{hh}^\\top + b$  (1)", fontsize=8, color=MUTED)
    gates = (("f", "σ", 2.6), ("i", "σ", 3.6), ("g", "tanh", 4.6), ("o", "σ", 5.6))
    for name, activation, x in gates:
        arrow(ax, (x, bus), (x, gates_y - 0.27), color=FORWARD)
        box(ax, x, gates_y, f"{name} = {activation}", width=0.85, height=0.5, face=LIGHT_FORWARD, edge=FORWARD, size=9)
    arrow(ax, (2.6, gates_y + 0.25), (2.6, top - 0.2), color=FORWARD)
    _circle(ax, 4.6, 2.75, "×")
    arrow(ax, (3.6, gates_y + 0.25), (4.42, 2.68), color=FORWARD)
    arrow(ax, (4.6, gates_y + 0.25), (4.6, 2.55), color=FORWARD)
    arrow(ax, (4.6, 2.95), (4.6, top - 0.2), color=FORWARD)
    ax.text(4.7, 3.15, "$i \\odot g$", fontsize=8, color=FORWARD)
    ax.plot([6.8, 6.8], [top, 3.15], color=FORWARD, linewidth=1.3)
    box(ax, 6.8, 2.85, "tanh", width=0.7, height=0.45, face=LIGHT_FORWARD, edge=FORWARD, size=9)
    arrow(ax, (6.8, 2.62), (6.8, gates_y + 0.2), color=FORWARD)
    _circle(ax, 6.8, gates_y, "×")
    arrow(ax, (6.03, gates_y), (6.6, gates_y), color=FORWARD)
    arrow(ax, (6.8, gates_y - 0.2), (6.8, bus + 0.05), color=FORWARD, style="-")
    arrow(ax, (6.8, bus), (8.3, bus), color=FORWARD)
    ax.text(8.35, bus, "$h_t$", va="center", fontsize=12)
    ax.text(7.0, 1.3, "$h_t = o \\odot \\tanh(c_t)$  (5)", fontsize=8, color=MUTED)
    ax.text(2.75, 3.2, "$f \\odot c_{t-1}$", fontsize=8, color=FORWARD)
    arrow(ax, (8.2, 4.15), (0.7, 4.15), color=BACKWARD)
    ax.text(4.4, 4.3, "$dc_{t-1} = dc_t \\odot f$  (13): no matrix, no squashing slope on the way back", ha="center",
            fontsize=9, color=BACKWARD)
    return fig


def _lstm_states(lstm, inputs):
    """The states (h_t, c_t) and forget gates f_t of a one-layer LSTM, step by step, from its own weights."""
    H = lstm.hidden_size
    W_ih, W_hh = lstm.weight_ih_l0.data, lstm.weight_hh_l0.data
    b = lstm.bias_ih_l0.data + lstm.bias_hh_l0.data
    h, c = np.zeros((1, H)), np.zeros((1, H))
    states, forget = [(h, c)], []
    for x in inputs:
        a = x @ W_ih.T + h @ W_hh.T + b                                        # eq. (1)
        i, f, o = (1 / (1 + np.exp(-a[:, k * H:(k + 1) * H])) for k in (0, 1, 3))
        c = f * c + i * np.tanh(a[:, 2 * H:3 * H])                              # eq. (4)
        h = o * np.tanh(c)                                                     # eq. (5)
        states.append((h, c))
        forget.append(f)
    return states, forget


@figure("lstm_gradient_norms", "derivations/lstm.md",
        "The norm of dL/dc_t for a unit gradient on c_T, T = 100, against T − t, for forget-gate biases raised "
        "by 0, 1 and 3: solid lines are the whole gradient, over every path, dashed lines the cell path "
        "alone, eq. (15); the two part ways because the gates also pass gradient through h")
def lstm_gradient_norms():
    T, every = 100, 4
    inputs = np.random.default_rng(T).standard_normal((T, 1, 4))
    fig, ((ax,),) = new_figure(7.4, 3.4, (1, 1))
    for beta, color in zip((3.0, 1.0, 0.0), (FORWARD, GREEN, BACKWARD)):
        lstm = mn.LSTM(4, 16, rng=1, dtype=np.float64)
        lstm.bias_ih_l0.data[16:32] += beta                                    # the f block: rows H..2H
        states, forget = _lstm_states(lstm, inputs[:, 0])
        assert np.allclose(states[-1][1], lstm(inputs)[1][1][0])
        unit = np.ones((1, 16)) / 4
        found = _tail_gradients(lstm, inputs, [(h[np.newaxis], c[np.newaxis]) for h, c in states],
                                lambda final: (None, (None, unit[np.newaxis])), every)
        distances = [k for k, _ in found]
        full = [1.0 if d is None else np.linalg.norm(d[1]) for _, d in found]
        cell_path = [np.linalg.norm(unit * np.prod(forget[T - k:], axis=0)) if k else 1.0 for k in distances]
        ax.semilogy(distances, full, color=color, linewidth=2, label=f"forget bias + {beta:g}: all paths")
        ax.semilogy(distances, cell_path, color=color, linewidth=1.5, linestyle="--", label="cell path only (15)")
    ax.set_xlabel("T − t: steps back from the last state")
    ax.set_ylabel("‖dL/dc_t‖ for ‖dL/dc_T‖ = 1")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


@figure("gru_cell", "derivations/gru.md",
        "One GRU step in PyTorch's form: two products u and v, eq. (1); the reset gate r scales v_n inside the "
        "candidate n, eq. (4); the update gate z mixes n with h_{t−1}, eq. (5); in red the direct path back, "
        "dh_t ⊙ z in eq. (11)")
def gru_cell():
    fig, ax = new_figure(8.8, 4.6)
    top, gate = 3.8, dict(height=0.5, face=LIGHT_FORWARD, edge=FORWARD, size=9)
    ax.text(0.05, top, "$h_{t-1}$", va="center", fontsize=12)
    arrow(ax, (0.7, top), (5.8, top), color=FORWARD)
    _circle(ax, 6.0, top, "×")
    arrow(ax, (6.2, top), (7.1, top), color=FORWARD)
    _circle(ax, 7.3, top, "+")
    arrow(ax, (7.5, top), (8.3, top), color=FORWARD)
    ax.text(8.35, top, "$h_t$", va="center", fontsize=12)
    ax.text(6.1, top + 0.3, "$z \\odot h_{t-1}$", fontsize=9, color=FORWARD)
    box(ax, 1.6, 2.6, "$v = h_{t-1} W_{hh}^\\top + b_{hh}$", width=2.3, **gate)
    box(ax, 1.6, 0.8, "$u = x_t W_{ih}^\\top + b_{ih}$", width=2.3, **gate)
    arrow(ax, (1.2, top), (1.2, 2.85), color=FORWARD)
    ax.text(1.6, 0.0, "$x_t$", ha="center", fontsize=12)
    arrow(ax, (1.6, 0.2), (1.6, 0.55), color=FORWARD)
    ax.plot([2.75, 3.1, 3.1, 2.75], [2.6, 2.6, 0.8, 0.8], color=FORWARD, linewidth=1.3)
    ax.text(3.0, 1.7, "(1)", ha="right", va="center", fontsize=8, color=MUTED)
    box(ax, 4.4, 2.6, "$r = \\sigma(u_r + v_r)$  (2)", width=2.0, **gate)
    box(ax, 6.0, 1.7, "$z = \\sigma(u_z + v_z)$  (3)", width=2.0, **gate)
    box(ax, 4.4, 0.8, "$n = \\tanh(u_n + r \\odot v_n)$  (4)", width=2.5, **gate)
    arrow(ax, (3.1, 2.6), (3.4, 2.6), color=FORWARD)
    arrow(ax, (3.1, 1.7), (5.0, 1.7), color=FORWARD)
    arrow(ax, (3.1, 0.8), (3.15, 0.8), color=FORWARD)
    arrow(ax, (4.4, 2.35), (4.4, 1.05), color=FORWARD)
    ax.text(4.47, 2.05, "r", fontsize=9, color=FORWARD)
    arrow(ax, (6.0, 1.95), (6.0, top - 0.2), color=FORWARD)
    ax.text(6.07, 2.8, "z", fontsize=9, color=FORWARD)
    _circle(ax, 7.3, 0.8, "×")
    arrow(ax, (5.65, 0.8), (7.1, 0.8), color=FORWARD)
    arrow(ax, (6.75, 1.45), (7.15, 0.95), color=FORWARD)
    ax.text(7.0, 1.3, "1 − z", fontsize=9, color=FORWARD)
    arrow(ax, (7.3, 1.0), (7.3, top - 0.2), color=FORWARD)
    ax.text(7.4, 2.3, "$(1 - z) \\odot n$  (5)", fontsize=9, color=FORWARD)
    arrow(ax, (8.2, 4.35), (0.7, 4.35), color=BACKWARD)
    ax.text(4.4, 4.45, "$dh_t \\odot z$ in $dh_{t-1}$  (11): with z → 1 the gradient passes back unchanged",
            ha="center", fontsize=9, color=BACKWARD)
    return fig


# -- the README's recorded runs ----------------------------------------------------------------------

EPOCH_LINE = re.compile(r"epoch:\[(\d+)\] loss:\[([\d.]+)\] train_accr:\[([\d.]+)\] test_accr:\[([\d.]+)\]")


def recorded_epochs(name):
    """[(epoch, loss, train accuracy, test accuracy)] of a recorded `python -m manualnet train` run."""
    text = (RESULTS / name).read_text(encoding="utf-8")
    return [(int(e), float(loss), float(train), float(test)) for e, loss, train, test in EPOCH_LINE.findall(text)]


@figure("runs_epochs", "README.md",
        "The README's recorded training runs epoch by epoch: the notes' MLP on MNIST in manualnet and in "
        "the notes' PyTorch program, then the CNN and the row-by-row LSTM on the digits and on MNIST; "
        "training loss above, test accuracy below")
def runs_epochs():
    notes = json.loads((RESULTS / "mnist-notes-readme-run.json").read_text(encoding="utf-8"))["programs"]
    fig, axes = new_figure(9.6, 4.6, (2, 3))
    for (name, epochs), color in zip(notes.items(), (FORWARD, BACKWARD)):
        axes[0, 0].plot([e["epoch"] + 1 for e in epochs], [e["loss"] for e in epochs], marker="o", markersize=3,
                        color=color, label=name, linestyle="-" if name == "manualnet" else "--")
        axes[1, 0].plot([e["epoch"] + 1 for e in epochs], [e["test_accr"] for e in epochs], marker="o",
                        markersize=3, color=color, label=name, linestyle="-" if name == "manualnet" else "--")
    axes[0, 0].set_title("MLP 784-256-10, MNIST")
    axes[0, 0].legend(frameon=False, fontsize=7)
    for column, model in ((1, "cnn"), (2, "lstm")):
        for dataset, color in (("digits", GREEN), ("mnist", FORWARD)):
            epochs = recorded_epochs(f"{model}-{dataset}-readme-run.txt")
            numbers = np.array(epochs)
            axes[0, column].plot(numbers[:, 0] + 1, numbers[:, 1], color=color, marker="o", markersize=2.5,
                                 label=dataset)
            axes[1, column].plot(numbers[:, 0] + 1, numbers[:, 3], color=color, marker="o", markersize=2.5,
                                 label=dataset)
        axes[0, column].set_title({"cnn": "CNN", "lstm": "LSTM, one row per step"}[model])
        axes[0, column].legend(frameon=False, fontsize=7)
    for ax in axes[0]:
        ax.set_yscale("log")
        ax.set_ylabel("training loss")
    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
    return fig


@figure("runs_char_rnn", "README.md",
        "The character-level LSTM's recorded training loss on Hamlet, step by step, in manualnet and in "
        "PyTorch from the same weights: the two curves lie on top of each other, and their difference "
        "stays at or below about 1e-5")
def runs_char_rnn():
    record = json.loads((RESULTS / "char-rnn-readme-run.json").read_text(encoding="utf-8"))
    ours, theirs = np.array(record["loss"]), np.array(record["torch_loss"])
    fig, ((ax_loss, ax_diff),) = new_figure(9.0, 2.9, (1, 2))
    ax_loss.plot(ours, color=FORWARD, linewidth=1.5, label="manualnet")
    ax_loss.plot(theirs, color=BACKWARD, linewidth=1, linestyle="--", label="PyTorch")
    ax_loss.set_xlabel("step (a batch of 32 × 64 characters)")
    ax_loss.set_ylabel("cross-entropy (nats per character)")
    ax_loss.legend(frameon=False)
    ax_diff.plot(np.abs(ours - theirs), color=MUTED, linewidth=0.8)
    ax_diff.set_yscale("symlog", linthresh=1e-7)
    ax_diff.set_xlabel("step")
    ax_diff.set_title("|manualnet − PyTorch|", fontsize=10)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python docs/figures.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="figures to draw (default: all)")
    parser.add_argument("--out", default=str(OUT), help=f"the folder to draw into (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--png", action="store_true", help="write PNG previews instead of the SVGs")
    args = parser.parse_args(argv)
    written = draw_all(args.out, args.names, ".png" if args.png else ".svg")
    print(f"drew {len(written)} figure(s) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
