"""The gradcheck catalogue: every public operation has an entry, and every entry passes."""

import inspect

import pytest

import manualnet as mn
from manualnet.testing.catalogue import CATALOGUE, run_all


def public_module_classes():
    """Every Module subclass exported in manualnet.__all__ that computes something: the base class, and the
    containers that only hold modules (ModuleList, ModuleDict: no forward, as PyTorch's), excluded."""
    exported = (getattr(mn, name) for name in mn.__all__)
    return {obj for obj in exported if inspect.isclass(obj) and issubclass(obj, mn.Module) and obj is not mn.Module
            and obj.forward is not mn.Module.forward}


def test_catalogue_covers_every_public_operation():
    """An operation added to manualnet.__all__ without a catalogue entry fails here."""
    missing = sorted(cls.__name__ for cls in public_module_classes() - set(CATALOGUE))
    assert not missing, f"add gradcheck entries to manualnet/testing/catalogue.py for: {', '.join(missing)}"


def test_catalogue_holds_only_public_operations():
    assert set(CATALOGUE) <= public_module_classes()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_catalogue_check_passes(seed):
    results = run_all(seed)
    assert [result.operation for result in results if not result.passed] == []
    assert all(result.input_error is not None or result.parameter_error is not None for result in results)


def test_each_row_names_its_operation():
    names = [result.operation.split("(")[0] for result in run_all()]
    assert names == [cls.__name__ for cls in CATALOGUE]
