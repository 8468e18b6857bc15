"""The registry: every public layer has its one entry, and every tool reads it.

(The autograd nodes take their grad_fn names from it; tests/autograd/test_autograd_parity.py holds those names to PyTorch's.)
"""

import inspect

import numpy as np
import pytest

import manualnet as mn
from manualnet import registry
from manualnet.grader import BY_NAME
from manualnet.testing.catalogue import CATALOGUE, run_all

from .torch_required import import_torch


def public_module_classes():
    """Every Module subclass exported in manualnet.__all__ (the base class itself excluded)."""
    exported = (getattr(mn, name) for name in mn.__all__)
    return {obj for obj in exported if inspect.isclass(obj) and issubclass(obj, mn.Module) and obj is not mn.Module}


def test_every_public_layer_has_one_entry():
    """A layer added to manualnet.__all__ without an entry fails here."""
    missing = sorted(cls.__name__ for cls in public_module_classes() - set(registry.REGISTRY))
    assert not missing, f"add entries to manualnet/registry.py for: {', '.join(missing)}"
    assert set(registry.REGISTRY) <= public_module_classes()
    assert len(registry.ENTRIES) == len(registry.REGISTRY)


@pytest.mark.parametrize("entry", registry.ENTRIES, ids=lambda entry: entry.layer.__name__)
def test_each_sample_is_a_float64_layer_of_its_class_with_random_parameters(entry):
    for option, make in entry.samples.items():
        module, inputs = make(np.random.default_rng(0))
        assert type(module) is entry.layer and isinstance(inputs, tuple), option
        for parameter in module.parameters():
            assert parameter.dtype == np.float64 and len(np.unique(parameter.data)) > min(parameter.size - 1, 1)


@pytest.mark.parametrize("entry", registry.ENTRIES, ids=lambda entry: entry.layer.__name__)
def test_each_entry_names_its_pytorch_class_or_says_why_there_is_none(entry):
    torch = import_torch()
    assert (entry.torch is None) != (not entry.no_torch)
    if entry.torch is not None:
        assert getattr(torch.nn, entry.torch) is not None and entry.torch == entry.layer.__name__


def test_each_exercise_of_the_registry_is_on_the_path_with_its_layer():
    for name, entry in registry.BY_EXERCISE.items():
        assert BY_NAME[name].class_name == entry.layer.__name__


def test_the_catalogue_checks_every_entry():
    assert list(CATALOGUE) == [entry.layer for entry in registry.ENTRIES]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.slow
def test_every_catalogue_check_passes(seed):
    results = run_all(seed)
    assert [result.operation for result in results if not result.passed] == []
    assert all(result.input_error is not None or result.parameter_error is not None for result in results)


@pytest.mark.slow
def test_each_row_names_its_operation_and_its_options():
    rows = run_all()
    assert [row.operation.split("(")[0] for row in rows] == [cls.__name__ for cls in CATALOGUE]
    assert "also weight, ignore_index, label_smoothing on (N, C, d); class probabilities" in \
        next(row.operation for row in rows if row.operation.startswith("CrossEntropyLoss"))
