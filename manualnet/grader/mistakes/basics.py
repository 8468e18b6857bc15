"""The first steps of the path: the notes' model, Linear, the activations, cross-entropy and Sequential."""

import copy

import numpy as np

from manualnet._numerics import sigmoid, softmax
from manualnet.testing.chain import Chain, Mistake, MistakeTable, Step
from manualnet.testing.gradcheck import map_structure

# -- the notes' logistic regression (ModelWithItsLoss: its loss L is the model's output) -------------

def _logistic_given(reference, inputs):
    x, y = inputs
    model = reference.model
    yhat = sigmoid(x @ model.w.data + model.b.data)
    return {"x": x, "y": y, "yhat": yhat, "N": len(x), "D": x.shape[1]}


LOGISTIC_REGRESSION = MistakeTable(
    Chain(_logistic_given, ("g",), (
        Step("dz", "dz = (ŷ − y)/N", "(4)", lambda q: (q.yhat - q.y) / q.N),
        Step("dw", "dw = xᵀ dz", "(5)", lambda q: q.x.T @ q.dz),
        Step("db", "db = Σ_n dz_n", "(6)", lambda q: q.dz.sum()),
        # The comparison's upstream g multiplies what the model stored: dL_total/dw = g · dw.
        Step("w_grad", "w.grad = dw, scaled by the upstream g", "(5)", lambda q: q.g * q.dw),
        Step("b_grad", "b.grad = db, scaled by the upstream g", "(6)", lambda q: q.g * q.db),
    ), inputs={}, parameters={"w.grad": "w_grad", "b.grad": "b_grad"}, accumulates=False),
    (
        Mistake("1/N missing", "your dz is ŷ − y, without the 1/N of the mean", "dz = (ŷ − y)/N, eq. (4)",
                "the loss is the mean of N terms (eq. (3)), so each sample's share of the gradient carries 1/N",
                replace={"dz": lambda q: q.yhat - q.y}),
        Mistake("features for N", "your 1/N divides by x.shape[1], the number of features, where N = x.shape[0] is the "
                "batch size", "dz = (ŷ − y)/N, eq. (4)",
                "the mean of eq. (3) runs over the N samples, the rows of x; its columns are the features",
                replace={"dz": lambda q: (q.yhat - q.y) / q.D}),
        Mistake("sign flipped", "your dz is (y − ŷ)/N, the right size with the wrong sign", "dz = (ŷ − y)/N, eq. (4)",
                "L grows when ŷ moves away from y, so dL/dz has the sign of ŷ − y; a step goes against it",
                replace={"dz": lambda q: (q.y - q.yhat) / q.N}),
        Mistake("σ' applied again", "your dz multiplies ŷ − y by σ'(z) = ŷ(1 − ŷ) once more", "dz = (ŷ − y)/N, eq. (4)",
                "for the cross-entropy of a sigmoid, dL/dŷ · dŷ/dz simplifies to (ŷ − y)/N: σ' is already in it "
                "(multiplying by it again is the squared error's habit)",
                replace={"dz": lambda q: (q.yhat - q.y) * q.yhat * (1 - q.yhat) / q.N}),
        Mistake("chain stopped at ŷ", "your dz is dL/dŷ = (ŷ − y)/(ŷ(1 − ŷ) N): the chain rule stops before σ'",
                "dz = (ŷ − y)/N, eq. (4)",
                "z reaches L through ŷ = σ(z): dL/dz = dL/dŷ · σ'(z), and σ'(z) = ŷ(1 − ŷ) cancels the denominator",
                replace={"dz": lambda q: (q.yhat - q.y) / (q.yhat * (1 - q.yhat)) / q.N}),
        Mistake("db averaged", "your db averages dz over the batch (dz already holds the 1/N)",
                "db = Σ_n dz_n, eq. (6)", "b is added to every z_n, so its gradient adds one dz_n per sample",
                replace={"db": lambda q: q.dz.mean()}),
    ), page="derivations/logistic_regression.md#backward")


# -- Linear ---------------------------------------------------------------------------------------

def _linear_given(reference, inputs):
    bias = reference.bias
    return {"x": inputs[0], "W": reference.weight.data, "b": None if bias is None else bias.data}


LINEAR = MistakeTable(
    Chain(_linear_given, ("G",), (
        Step("dx", "dx = G W", "(2)", lambda q: q.G @ q.W),
        Step("dW", "dW = Gᵀ x", "(3)", lambda q: q.G.T @ q.x),
        Step("db", "db = Σ_n G_n", "(4)", lambda q: None if q.b is None else q.G.sum(axis=0)),
    ), inputs={"input.grad": "dx"}, parameters={"weight.grad": "dW", "bias.grad": "db"}),
    (
        Mistake("bias averaged", "your db averages G over the batch", "db = Σ_n G_n, eq. (4)",
                "b is added to every one of the N rows of y, so its gradient adds one G_n per row",
                replace={"db": lambda q: None if q.b is None else q.G.mean(axis=0)}),
        Mistake("weight averaged", "your dW divides Gᵀ x by the batch size N", "dW = Gᵀ x, eq. (3)",
                "Gᵀ x already sums over the batch, one term per sample, as the chain rule adds them; a 1/N belongs "
                "only where the loss itself takes a mean (and G then carries it)",
                replace={"dW": lambda q: q.G.T @ q.x / len(q.x)}),
        Mistake("transposed", "your dW is xᵀ G, the gradient of the (in, out) layout y = x @ W", "dW = Gᵀ x, eq. (3)",
                "PyTorch's W is (out_features, in_features) and y = x Wᵀ, so dW = Gᵀ x has W's shape",
                replace={"dW": lambda q: q.x.T @ q.G}),
        Mistake("input gradient through Wᵀ", "your dx multiplies G by Wᵀ", "dx = G W, eq. (2)",
                "y_nj = Σ_i x_ni W_ji, so ∂y_nj/∂x_ni = W_ji and dx = G W: the transpose of forward goes away",
                replace={"dx": lambda q: q.G @ q.W.T}),
    ), page="derivations/linear.md#backward")


# -- the element-wise activations --------------------------------------------------------------------

RELU = MistakeTable(
    Chain(lambda reference, inputs: {"y": np.maximum(inputs[0], 0)}, ("G",), (
        Step("dx", "dx = G ⊙ 1[y > 0]", "(4)", lambda q: q.G * (q.y > 0)),
    ), inputs={"input.grad": "dx"}),
    (
        Mistake("mask missing", "your dx passes G through everywhere, also where the input was ≤ 0",
                "dx = G ⊙ 1[y > 0], eq. (4)", "where the input was ≤ 0 the output is 0 whatever the input: "
                "its slope there is 0 (eq. (3)), so no gradient passes", replace={"dx": lambda q: q.G}),
        Mistake("mask inverted", "your dx passes G where the input was ≤ 0 and blocks it where it was > 0",
                "dx = G ⊙ 1[y > 0], eq. (4)", "the slope is 1 where the input was positive and 0 elsewhere (eq. (3))",
                replace={"dx": lambda q: q.G * (q.y <= 0)}),
        Mistake("value for slope", "your dx multiplies G by the output y, not by the slope 1[y > 0]",
                "dx = G ⊙ 1[y > 0], eq. (4)", "backward multiplies by the derivative of max(x, 0), which is 0 or 1, "
                "never by the output itself", replace={"dx": lambda q: q.G * q.y}),
    ), page="derivations/relu.md#backward")

SIGMOID = MistakeTable(
    Chain(lambda reference, inputs: {"y": sigmoid(inputs[0])}, ("G",), (
        Step("dx", "dx = G ⊙ y (1 − y)", "(3)", lambda q: q.G * q.y * (1 - q.y)),
    ), inputs={"input.grad": "dx"}),
    (
        Mistake("value for slope", "your dx multiplies G by y = σ(x), the function's value, not by its slope "
                "σ'(x) = y(1 − y)", "dx = G ⊙ y (1 − y), eq. (3)", "backward multiplies by the derivative, and σ' = σ(1 − σ)",
                replace={"dx": lambda q: q.G * q.y}),
        Mistake("sigmoid taken twice", "your dx computes σ(y)(1 − σ(y)): the sigmoid of the output, taken a second time",
                "dx = G ⊙ y (1 − y), eq. (2), (3)", "forward kept y = σ(x) already, so σ'(x) = y(1 − y) with no "
                "second σ", replace={"dx": lambda q: q.G * sigmoid(q.y) * (1 - sigmoid(q.y))}),
        Mistake("1 − y for the slope", "your dx multiplies G by 1 − y, one of the two factors of σ' = y(1 − y)", "dx = G ⊙ y (1 − y), eq. (3)",
                "σ'(x) = σ(x)(1 − σ(x)): both factors (eq. (2))", replace={"dx": lambda q: q.G * (1 - q.y)}),
        Mistake("tanh's slope", "your dx multiplies G by 1 − y², the slope of tanh, not of the sigmoid",
                "dx = G ⊙ y (1 − y), eq. (2), (3)", "tanh' = 1 − tanh², but σ' = σ(1 − σ) (eq. (2))",
                replace={"dx": lambda q: q.G * (1 - q.y * q.y)}),
    ), page="derivations/sigmoid.md#backward")


def _softmax_given(reference, inputs):
    x = inputs[0]
    dim = reference.dim % x.ndim
    return {"y": softmax(x, axis=dim), "dim": dim}


def _sum_along(axis):
    """The weighted sum of eq. (4) along ``axis``, when that axis is not the softmax's."""
    def compute(q):
        if axis == q.dim or axis >= q.y.ndim:
            raise ValueError("not another axis")
        return (q.G * q.y).sum(axis=axis, keepdims=True)
    return compute


SOFTMAX = MistakeTable(
    Chain(_softmax_given, ("G",), (
        Step("s", "s = Σ_j G_j y_j, along dim", "(4)", lambda q: (q.G * q.y).sum(axis=q.dim, keepdims=True)),
        Step("dx", "dx = y ⊙ (G − s)", "(4)", lambda q: q.y * (q.G - q.s)),
    ), inputs={"input.grad": "dx"}),
    (
        Mistake("diagonal only", "your dx is G ⊙ y(1 − y): only the diagonal of the Jacobian diag(y) − y yᵀ",
                "J = diag(y) − y yᵀ, eq. (3); dx = y ⊙ (G − Σ_j G_j y_j), eq. (4)",
                "every output of a row depends on every input of that row: the off-diagonal −y_i y_j counts too",
                replace={"dx": lambda q: q.G * q.y * (1 - q.y)}),
        Mistake("sum along another axis", "your Σ_j G_j y_j runs along another axis than the softmax's dim",
                "s = Σ_j G_j y_j along dim, eq. (4)",
                "the softmax normalises along dim: the entries of one such row share their sum, rows do not interact",
                variants=tuple((f"your sum runs along axis {axis}", {"s": _sum_along(axis)}) for axis in range(3))),
        Mistake("sum over every entry", "your Σ_j G_j y_j runs over every entry of the array, not along dim",
                "s = Σ_j G_j y_j along dim, eq. (4)",
                "each row along dim is its own softmax: its sum has one value per row",
                replace={"s": lambda q: np.sum(q.G * q.y)}),
        Mistake("weights missing from the sum", "your sum is Σ_j G_j, without the weights y_j",
                "s = Σ_j G_j y_j, eq. (4)", "∂y_j/∂x_i = y_j (δ_ij − y_i): the off-diagonal part weighs each G_j by "
                "y_j", replace={"s": lambda q: q.G.sum(axis=q.dim, keepdims=True)}),
        Mistake("y missing in front", "your dx is G − Σ_j G_j y_j, without the factor y in front",
                "dx = y ⊙ (G − Σ_j G_j y_j), eq. (4)", "row i of Jᵀ G is y_i (G_i − Σ_j G_j y_j): every term has y_i",
                replace={"dx": lambda q: q.G - q.s}),
        Mistake("log-softmax's backward", "your dx is G − y Σ_j G_j, the backward of log-softmax",
                "dx = y ⊙ (G − Σ_j G_j y_j), eq. (4); log-softmax's is eq. (6)",
                "softmax and log-softmax have different Jacobians: eq. (3) for y, eq. (5) for log y",
                replace={"dx": lambda q: q.G - q.y * q.G.sum(axis=q.dim, keepdims=True)}),
    ), page="derivations/softmax.md#softmax")


# -- cross-entropy from logits ------------------------------------------------------------------------

def _cross_entropy_given(reference, inputs):
    z, labels = inputs
    onehot = np.zeros_like(z)
    onehot[np.arange(len(labels)), labels] = 1
    every_row = np.zeros_like(z)
    every_row[:, labels] = 1                        # what grad[:, target] -= 1 subtracts
    p = softmax(z, axis=1)
    return {"p": p, "log_p": np.log(p), "Y": onehot, "Y_every_row": every_row, "batch": len(z),
            "N": len(z) if reference.reduction == "mean" else 1}


CROSS_ENTROPY = MistakeTable(
    Chain(_cross_entropy_given, ("g",), (
        Step("dz", "dz = g (p − Y)/N (N = 1 for 'sum')", "(5)", lambda q: q.g * (q.p - q.Y) / q.N),
    ), inputs={"input.grad": "dz"}),
    (
        Mistake("1/N missing", "your dz is g (p − Y), without the 1/N of reduction='mean'", "dz = g (p − Y)/N, eq. (4), (5)",
                "the mean of eq. (4) divides the sum of the N losses by N, so each logit's gradient carries 1/N",
                replace={"dz": lambda q: q.g * (q.p - q.Y)}),
        Mistake("1/N in the sum", "your dz divides by N, but reduction='sum' adds the losses without a 1/N",
                "dz = g (p − Y) for 'sum', eq. (4), (5)", "only the mean divides by N: read the reduction (eq. (4))",
                replace={"dz": lambda q: q.g * (q.p - q.Y) / q.batch}),
        Mistake("one-hot missing", "your dz is g p/N: the −1 at each sample's label is missing", "dz = g (p − Y)/N, eq. (5)",
                "l_n = log Σ_k e^{z_nk} − z_{n,y_n}: the second term gives −1 at the label",
                replace={"dz": lambda q: q.g * q.p / q.N}),
        Mistake("labels in every row", "your −1 lands in every row at every label's column: grad[:, target] -= 1 "
                "indexes whole columns", "dz = g (p − Y)/N, eq. (5)",
                "sample n has a −1 at its own label only: grad[np.arange(N), target] -= 1 picks one entry per row",
                replace={"dz": lambda q: q.g * (q.p - q.Y_every_row) / q.N}),
        Mistake("sign flipped", "your dz is g (Y − p)/N, the right size with the wrong sign", "dz = g (p − Y)/N, eq. (5)",
                "the loss falls as the label's logit rises, so dL/dz is negative there: p − Y",
                replace={"dz": lambda q: q.g * (q.Y - q.p) / q.N}),
        Mistake("log-probabilities for probabilities", "your dz is g (log p − Y)/N: the log-probabilities where the "
                "probabilities p belong", "dz = g (p − Y)/N, eq. (1), (5)",
                "the derivative of log Σ_k e^{z_k} is the softmax p itself (eq. (1)); the log is the loss's, not "
                "its gradient's", replace={"dz": lambda q: q.g * (q.log_p - q.Y) / q.N}),
    ), page="derivations/cross_entropy.md#backward")


# -- Sequential: the chain rule over the modules --------------------------------------------------------

def _run_modules(reference, inputs, upstreams, backward):
    """{row: value} when each pass runs forward, then ``backward(modules, G)`` -> dL/dx (None: no row).

    Running the modules in forward order, or giving each the same G, raises on the exercise's fixed case
    (its layers change width), so those mistakes come back as the learner's error, with its line.
    """
    probe = copy.deepcopy(reference)
    probe.zero_grad()
    modules = list(probe.children())
    first = None
    for index, upstream in enumerate(upstreams):
        probe.forward(*map_structure(np.copy, list(inputs)))
        returned = backward(modules, np.array(upstream, dtype=np.float64))
        first = returned if index == 0 else first
    rows = {f"{name}.grad": parameter.grad.copy() for name, parameter in probe.named_parameters()}
    if first is not None:
        rows["input.grad"] = np.asarray(first, dtype=np.float64)
    return rows


def _through(modules, G, which=lambda module: True):
    for module in reversed(modules):
        if which(module):
            G = module.backward(G)
    return G


def _reproduced(backward):
    def reproduce(reference, inputs, upstreams):
        try:
            return [("", _run_modules(reference, inputs, upstreams, backward))]
        except ValueError:              # a module refused a G of the wrong shape: this mistake cannot run here
            return []
    return reproduce


def _chain_then_return_g(modules, G):
    _through(modules, G)
    return G


SEQUENTIAL = MistakeTable(
    None,
    (
        Mistake("upstream returned", "your backward returns grad_output itself, not what the first module's backward "
                "returned", "dL/dx = G_0, eq. (7)", "the chain ends at the first module's input: return G_0",
                reproduce=_reproduced(_chain_then_return_g)),
        Mistake("only the last module", "your backward runs the last module's backward alone and returns what it "
                "returned", "G_{k−1} = f_k.backward(G_k) for k = K, …, 1, eq. (7)",
                "every module between the input and the loss is one factor of the chain rule: each one's backward "
                "runs, last to first", reproduce=_reproduced(lambda modules, G: modules[-1].backward(G))),
        Mistake("activations skipped", "your backward runs the Linear layers' backward and skips the activations between "
                "them", "G_{k−1} = f_k.backward(G_k) for every module, eq. (7)",
                "an activation is a module of the chain too: its backward multiplies by its slope (ReLU's mask)",
                reproduce=_reproduced(lambda modules, G: _through(modules, G, lambda m: m.has_parameters()))),
    ), page="derivations/backprop.md#the-chain-sequentialbackward")
