import pytest

from .course import make_course


@pytest.fixture
def course(tmp_path):
    """A temporary exercises/ folder holding every committed stub."""
    return make_course(tmp_path / "exercises")
