"""What the version counter costs and what it saves: ``python -m benchmarks.version_counter``.

Saves: an autograd node that runs a layer (``F.linear``, ``F.leaky_relu``,
a loss ...) records its input tensor's version and checks it in backward,
so the layer keeps the input without the private copy ``keep_input`` makes
of a writable array.  Measured here on the notes' MLP (784-256-10) written
with ``manualnet.autograd``: a training step (forward, backward, SGD step)
with the copy (the layer node not telling ``keep_input`` that it watches
its input: how it ran before the counter) and without, and the memory the
graph holds at the loss (tracemalloc: NumPy reports its arrays to it).

Costs: the manual chain's layers keep the versions of the weights their
backward reads and check them there; measured on ``Linear`` forward +
backward, tiny and MNIST-sized, with the record and the check replaced by
no-ops, and on the same MLP's manual training step.

Prints one line per measurement: medians of alternating repeats, in µs.
On a shared machine run it with one BLAS thread (``OPENBLAS_NUM_THREADS=1``)
and compare the differences, not the totals.
"""

import contextlib
import statistics
import time
import tracemalloc

import numpy as np

import manualnet as mn
from manualnet.autograd import ParameterTensor, Tensor
from manualnet.autograd import functional as F
from manualnet.autograd import layer_node
from manualnet.nn import _version_counter
from manualnet.nn.modules import _rnn_base, batchnorm, conv, linear

REPEATS = 7


def median_us(step, calls, without):
    """Median µs of one ``step()`` as it runs, then inside the context ``without()``: repeats alternate, so
    a busy machine slows both alike."""
    times = {"with": [], "without": []}
    for repeat in range(REPEATS + 1):
        for case in ("with", "without"):
            with without() if case == "without" else contextlib.nullcontext():
                start = time.perf_counter()
                for _ in range(calls):
                    step()
                if repeat:                               # the first round warms up
                    times[case].append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times["with"]), statistics.median(times["without"])


@contextlib.contextmanager
def layer_nodes_copy_their_input():
    """As before the counter: the node does not mark its input as watched, so ``keep_input`` copies it."""
    class Unwatched:
        array = None
    saved = layer_node.node_input
    layer_node.node_input = Unwatched()
    try:
        yield
    finally:
        layer_node.node_input = saved


@contextlib.contextmanager
def layers_keep_no_versions():
    """The manual chain without the record in forward and the check in backward."""
    modules = (linear, conv, batchnorm, _rnn_base)
    saved = [(module, module.versions, module.check_versions) for module in modules]
    for module in modules:
        module.versions = lambda layer: ()
        module.check_versions = lambda layer, expected: None
    try:
        yield
    finally:
        for module, versions, check_versions in saved:
            module.versions, module.check_versions = versions, check_versions


def mlp(rng):
    return mn.Sequential(mn.Linear(784, 256, rng=rng), mn.ReLU(), mn.Linear(256, 10, rng=rng))


def autograd_step(model, optimizer, x, y):
    """One step of the MLP through manualnet.autograd: each Linear is an F.linear node over the Parameters."""
    first, last = model[0], model[2]
    weights = [ParameterTensor(p) for p in (first.weight, first.bias, last.weight, last.bias)]

    def step():
        optimizer.zero_grad()
        hidden = F.linear(Tensor(x), *weights[:2]).relu()
        loss = F.cross_entropy(F.linear(hidden, *weights[2:]), y)
        loss.backward()
        optimizer.step()
    return step


def graph_bytes(model, x, y):
    """The memory NumPy holds once the loss is computed: the graph's saved arrays and its outputs."""
    first, last = model[0], model[2]
    weights = [ParameterTensor(p) for p in (first.weight, first.bias, last.weight, last.bias)]
    data = Tensor(x)
    tracemalloc.start()
    loss = F.cross_entropy(F.linear(F.linear(data, *weights[:2]).relu(), *weights[2:]), y)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del loss
    return held


def manual_step(model, optimizer, criterion, x, y):
    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        model.backward(criterion.backward())
        optimizer.step()
        return loss
    return step


def main():
    rng = np.random.default_rng(0)
    print(f"version counter: median of {REPEATS} alternating repeats, numpy {np.__version__}")
    for batch in (64, 256):
        x = rng.random((batch, 784), dtype=np.float32)
        y = rng.integers(0, 10, batch)
        model = mlp(rng)
        optimizer = mn.optim.SGD(model.parameters(), lr=0.01)
        counter, copying = median_us(autograd_step(model, optimizer, x, y), 10, layer_nodes_copy_their_input)
        kept = graph_bytes(model, x, y)
        with layer_nodes_copy_their_input():
            copied = graph_bytes(model, x, y)
        print(f"autograd MLP step, batch {batch}: {copying:8.1f} µs with the copy, {counter:8.1f} µs with the "
              f"counter ({counter - copying:+.1f} µs); graph at the loss {copied / 1024:.0f} KiB -> "
              f"{kept / 1024:.0f} KiB")
    for batch, features, out in ((1, 8, 8), (64, 784, 256)):
        layer = mn.Linear(features, out, rng=0)
        x = rng.random((batch, features), dtype=np.float32)
        g = np.ones((batch, out), np.float32)

        def forward_backward():
            layer(x)
            layer.backward(g)
        checked, unchecked = median_us(forward_backward, 2000 if batch == 1 else 50, layers_keep_no_versions)
        print(f"Linear({features}, {out}) forward + backward, batch {batch}: {unchecked:8.2f} µs without "
              f"versions, {checked:8.2f} µs with ({checked - unchecked:+.2f} µs)")
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    model = mlp(rng)
    step = manual_step(model, mn.optim.SGD(model.parameters(), lr=0.01), mn.CrossEntropyLoss(), x, y)
    checked, unchecked = median_us(step, 20, layers_keep_no_versions)
    print(f"manual MLP step, batch 64: {unchecked:8.1f} µs without versions, {checked:8.1f} µs with "
          f"({checked - unchecked:+.1f} µs)")
    parameter = mn.Parameter(np.ones(3))
    read, attribute = median_us(lambda: parameter.data, 100_000, contextlib.nullcontext)
    plain, _ = median_us(lambda: parameter._data, 100_000, contextlib.nullcontext)
    print(f"Parameter.data read: {read - plain:+.3f} µs over a plain attribute")


if __name__ == "__main__":
    main()
