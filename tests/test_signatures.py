"""Every public class takes its PyTorch counterpart's constructor signature, or this file says why not.

The rule (README, Conventions): a manualnet class accepts PyTorch's whole
constructor signature for the class of the same name — the same parameter
names, in the same order, of the same kinds (positional or keyword-only),
with the same defaults — or refuses an argument by name with a clear error;
never a bare "unexpected keyword argument".

The classes are found, not listed: every Module subclass manualnet exports,
every optimizer in ``manualnet.optim`` and every scheduler in
``manualnet.optim.lr_scheduler``, paired by name with ``torch.nn.<Name>``,
``torch.optim.<Name>`` and ``torch.optim.lr_scheduler.<Name>``.  A class added
later (Conv2d, MaxPool2d, Embedding, LSTM, ...) is compared as soon as it is
exported.  Every difference is listed at once; the ones we keep on purpose
are in ALLOWED, keyed by class ("*": every class), each with its reason.
"""

import inspect
import typing

import pytest

import manualnet as mn
from manualnet.registry import ENTRIES
from manualnet import optim
from manualnet.optim import lr_scheduler

from .torch_required import import_torch

torch = import_torch()

# Differences kept on purpose: {class name or "*": {(kind, parameter): reason}}.
ALLOWED = {
    "*": {
        # COMMON.md: randomness only through an explicit Generator or seed, never a global one.
        ("extra", "rng"): "a NumPy Generator or int seed for the layer's random draws; PyTorch uses its global generator",
        # COMMON.md: NumPy dtypes, float32 spelled out; PyTorch's None means torch.get_default_dtype(), float32.
        ("default", "dtype"): "np.float32 where PyTorch writes None for its default dtype, float32",
    },
}

# Public classes with no PyTorch class of the same name, and why: the registry says.
NO_COUNTERPART = {entry.layer.__name__: entry.no_torch for entry in ENTRIES if entry.torch is None}

# Base classes: torch.nn.Module.__init__ takes *args/**kwargs only to hand them to
# mixins, and raises on any it gets; manualnet's Module takes none.
BASES = {mn.Module}


def public_classes():
    """{name: class} of every Module, Optimizer and LRScheduler subclass in manualnet's public namespace."""
    found = {}
    exported = [getattr(mn, name) for name in mn.__all__ if not name.startswith("_")]
    exported += [value for name, value in vars(mn).items() if not name.startswith("_")]
    for cls in exported:
        if inspect.isclass(cls) and issubclass(cls, mn.Module) and cls not in BASES:
            found[cls.__name__] = cls
    for module, base in ((optim, optim.Optimizer), (lr_scheduler, lr_scheduler.LRScheduler)):
        for name in module.__all__:
            cls = getattr(module, name)
            if inspect.isclass(cls) and issubclass(cls, base):
                found[name] = cls
    return found


def torch_counterpart(cls):
    """torch.nn / torch.optim / torch.optim.lr_scheduler's class of the same name, or None."""
    if issubclass(cls, mn.Module):
        namespace = torch.nn
    elif issubclass(cls, optim.Optimizer):
        namespace = torch.optim
    else:
        namespace = torch.optim.lr_scheduler
    return getattr(namespace, cls.__name__, None)


def parameters(cls, base_init):
    """The constructor's parameters without self; a class whose __init__ is its base's takes none.

    PyTorch declares some signatures only as typing overloads (RNN, LSTM, GRU:
    ``__init__(self, *args, **kwargs)`` at run time): then the first overload
    that is not that catch-all is the documented one (Sequential's is
    ``(*args: Module)``, before its ``(arg: OrderedDict)``).
    """
    init = cls.__init__
    if init is base_init:
        return []
    for candidate in [init, *typing.get_overloads(init)]:
        found = list(inspect.signature(candidate).parameters.values())[1:]
        if [p.kind for p in found] != [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
            return found
    return found


def differences(ours, theirs):
    """[(kind, parameter name, description)] between two parameter lists (manualnet's, PyTorch's)."""
    found = []
    mine = {p.name: p for p in ours}
    reference = {p.name: p for p in theirs}
    for position, p in enumerate(theirs):
        if p.kind == p.VAR_POSITIONAL:          # *args and *modules: no caller can tell the names apart
            if not any(q.kind == q.VAR_POSITIONAL for q in ours):
                found.append(("missing", p.name, f"*{p.name} missing"))
            continue
        if p.name not in mine:
            found.append(("missing", p.name, f"no parameter {p.name!r} (PyTorch: {p})"))
            continue
        q = mine[p.name]
        if q.kind != p.kind:
            found.append(("kind", p.name, f"{p.name!r} is {q.kind.description}, PyTorch's {p.kind.description}"))
        elif p.kind == p.POSITIONAL_OR_KEYWORD and ours.index(q) != position:
            found.append(("position", p.name, f"{p.name!r} is positional argument {ours.index(q) + 1}, "
                                              f"PyTorch's {position + 1}"))
        if not _same_default(q.default, p.default):
            found.append(("default", p.name, f"{p.name!r} defaults to {q.default!r}, PyTorch's to {p.default!r}"))
    for position, q in enumerate(ours):
        if q.name in reference or q.kind == q.VAR_POSITIONAL and any(p.kind == p.VAR_POSITIONAL for p in theirs):
            continue
        where = "keyword-only" if q.kind == q.KEYWORD_ONLY else f"positional argument {position + 1}"
        found.append(("extra", q.name, f"{q.name!r} ({where}) is not PyTorch's"))
        if q.kind == q.POSITIONAL_OR_KEYWORD and any(p.name in reference and p.kind == p.POSITIONAL_OR_KEYWORD
                                                     for p in ours[position + 1:]):
            found.append(("position", q.name, f"{q.name!r} comes before PyTorch's positional arguments"))
    return found


def _same_default(mine, theirs):
    try:
        return bool(mine == theirs) and type(mine) is not bool or mine is theirs
    except (TypeError, ValueError):
        return mine is theirs


CLASSES = public_classes()
COMPARED = {name: cls for name, cls in CLASSES.items() if name not in NO_COUNTERPART}


def unexplained_differences(name, cls):
    allowed = {**ALLOWED["*"], **ALLOWED.get(name, {})}
    counterpart = torch_counterpart(cls)
    if counterpart is None:
        return [f"{name}: no torch class of this name; add it to NO_COUNTERPART with the reason"]
    ours = parameters(cls, mn.Module.__init__ if issubclass(cls, mn.Module) else None)
    theirs = parameters(counterpart, torch.nn.Module.__init__ if issubclass(cls, mn.Module) else None)
    return [f"{name}: {text}" for kind, parameter, text in differences(ours, theirs)
            if (kind, parameter) not in allowed]


# -- the comparison ------------------------------------------------------------

def test_the_discovery_finds_layers_losses_optimizers_and_schedulers():
    """Guards the comparison against passing because nothing was found."""
    for name in ("Linear", "ReLU", "Softmax", "CrossEntropyLoss", "BCEWithLogitsLoss", "Dropout", "BatchNorm1d",
                 "SGD", "Adam", "RMSprop", "Adagrad", "StepLR", "OneCycleLR", "ReduceLROnPlateau"):
        assert name in COMPARED, name


def test_every_public_class_takes_pytorchs_constructor_signature():
    """All differences from PyTorch's signatures, at once; each kept one is in ALLOWED with its reason."""
    found = [line for name, cls in sorted(COMPARED.items()) for line in unexplained_differences(name, cls)]
    assert not found, "constructor signatures that differ from PyTorch's:\n  " + "\n  ".join(found)


def test_every_allowed_difference_is_still_a_difference():
    """An allow-list entry no class needs any more is removed, so the list stays short and true."""
    seen = set()
    for name, cls in COMPARED.items():
        counterpart = torch_counterpart(cls)
        if counterpart is None:
            continue
        ours = parameters(cls, mn.Module.__init__ if issubclass(cls, mn.Module) else None)
        theirs = parameters(counterpart, torch.nn.Module.__init__ if issubclass(cls, mn.Module) else None)
        for kind, parameter, _ in differences(ours, theirs):
            seen.add((name, (kind, parameter)))
            seen.add(("*", (kind, parameter)))
    stale = [(owner, key) for owner, entries in ALLOWED.items() for key in entries if (owner, key) not in seen]
    assert not stale, f"allow-list entries no class needs: {stale}"


def test_classes_without_counterpart_really_have_none():
    for name in NO_COUNTERPART:
        if name in CLASSES:
            assert torch_counterpart(CLASSES[name]) is None, f"{name} has a torch counterpart now: compare it"


# -- the comparison itself can fail ---------------------------------------------------

def test_the_comparison_names_each_kind_of_difference():
    """A made-up signature against a made-up reference shows every kind of difference by name."""
    def reference(self, size, bias=True, *, eps=1e-5, device=None):
        pass

    def mine(self, bias=False, size=3, rng=None, eps=1e-5):
        pass

    ours = list(inspect.signature(mine).parameters.values())[1:]
    theirs = list(inspect.signature(reference).parameters.values())[1:]
    kinds = {(kind, name) for kind, name, _ in differences(ours, theirs)}
    assert kinds == {("position", "size"), ("position", "bias"), ("default", "size"), ("default", "bias"),
                     ("kind", "eps"), ("missing", "device"), ("extra", "rng"), ("position", "rng")}


def test_resolving_overloads_reads_the_documented_signature():
    """torch.nn.LSTM's __init__ is (*args, **kwargs) at run time; its overload names the parameters."""
    names = [p.name for p in parameters(torch.nn.LSTM, torch.nn.Module.__init__)]
    assert names[:3] == ["input_size", "hidden_size", "num_layers"]
    assert parameters(torch.nn.Sigmoid, torch.nn.Module.__init__) == []


# -- the arguments manualnet refuses, by name ---------------------------------------------

@pytest.mark.parametrize("build, argument", [
    (lambda: mn.Linear(3, 2, device="cuda"), "device"),
    (lambda: mn.BatchNorm1d(3, device="cuda:0"), "device"),
    (lambda: mn.CrossEntropyLoss(size_average=False), "size_average"),
    (lambda: mn.MSELoss(reduce=False), "reduce"),
    (lambda: mn.optim.Adam([mn.Parameter([1.0])], capturable=True), "capturable"),
    (lambda: mn.optim.SGD([mn.Parameter([1.0])], differentiable=True), "differentiable"),
    (lambda: mn.optim.lr_scheduler.StepLR(mn.optim.SGD([mn.Parameter([1.0])]), 1).step(3), "epoch"),
])
def test_a_refused_argument_is_named_in_the_error(build, argument):
    with pytest.raises((TypeError, ValueError), match=argument):
        build()
