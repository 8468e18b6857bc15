"""A copy of the committed stubs to grade from, and putting a learner's text into it (shared by tests/grader/)."""

import subprocess
from pathlib import Path

import pytest

from manualnet import grader as E

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "exercises"
NAMES = [exercise.name for exercise in E.EXERCISES]


def pristine(name):
    """The stub as committed: the working tree's, unless it has been solved in place (then git's)."""
    text = (STUBS / f"{name}.py").read_text(encoding="utf-8")
    if "raise NotImplementedError(" in text:
        return text
    committed = subprocess.run(["git", "show", f"HEAD:exercises/{name}.py"], cwd=ROOT, capture_output=True,
                               text=True)
    if committed.returncode != 0:
        pytest.skip(f"exercises/{name}.py is being solved and git has no committed stub to test "
                    "(git checkout exercises/ restores it)")
    return committed.stdout


def make_course(folder):
    """``folder`` filled with every committed stub: an exercises/ folder to grade from."""
    folder.mkdir()
    for name in NAMES:
        (folder / f"{name}.py").write_text(pristine(name), encoding="utf-8")
    return folder


def put(course, name, text):
    (course / f"{name}.py").write_text(text, encoding="utf-8")


def graded(course, name, drawn=E.DRAWN_CASES):
    """The grade and its text, the learner's code run in this process (tests/grader/test_isolation.py runs it in a
    child process, as the command line does)."""
    result = E.grade(E.get(name), course, drawn=drawn, link=E.SameProcess())
    return result, E.format_grade(result)
