"""Hypothesis profiles and shared fixtures.

Profiles: ``dev`` (default, quick), ``fast`` (``make test-fast``: five examples
each), ``ci`` (loaded when the CI variable is set, as on the CI machine) and
``thorough`` (``make test-thorough``).  Choose one
explicitly with HYPOTHESIS_PROFILE=<name>.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=15, deadline=None)
settings.register_profile("fast", max_examples=5, deadline=None)       # make test-fast: a look, not a proof
settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def child_processes_import_this_checkout():
    """``python -m manualnet`` and the examples, run as child processes, import the manualnet of this checkout,
    whether or not it is installed (editable or at all): its folder goes first on their PYTHONPATH."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([before] if before else [])])
    yield
    if before is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = before


@pytest.fixture
def rng():
    """A fresh, seeded Generator per test: reproducible without global seeding."""
    return np.random.default_rng(20261122)


# -- exercises/ holds the committed stubs: no test may write into it (tests/grader/test_exercises.py) --------

EXERCISES = ROOT / "exercises"


def _snapshot(folder):
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
            for path in sorted(folder.rglob("*"))}


@pytest.fixture(scope="session", autouse=True)
def exercises_folder_untouched():
    """Fail the session if anything wrote into exercises/ (the learner's stubs; tests use temporary copies)."""
    before = _snapshot(EXERCISES)
    yield
    changed = sorted(set(before) ^ set(after := _snapshot(EXERCISES)) | {k for k in before if before[k] != after.get(k)})
    assert not changed, f"the test session wrote into exercises/: {changed}"
