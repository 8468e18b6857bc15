"""Hypothesis profiles and shared fixtures.

Profiles: ``dev`` (default, quick), ``ci`` (loaded when the CI variable is set,
as on the CI machine) and ``thorough`` (``make test-thorough``).  Choose one
explicitly with HYPOTHESIS_PROFILE=<name>.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=15, deadline=None)
settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def rng():
    """A fresh, seeded Generator per test: reproducible without global seeding."""
    return np.random.default_rng(20261122)
