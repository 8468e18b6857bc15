"""A copy of the committed stubs to grade from, putting a learner's text into it, and what a named mistake must say
(shared by tests/grader/)."""

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


def assert_in_the_tables_words(name, expected, flat, text, by_relation=False):
    """A name the exercise's table lists is said in the table's words: its own reproduction named the mistake, not
    a relation every layer shares that happens to carry the same name ("mean term missing", "transposed" ...);
    ``by_relation``: the relation named it, and the table's reproduction did not."""
    mistake = next((m for m in E.get(name).mistakes.mistakes if m.name == expected), None)
    if mistake is not None:
        in_its_words = f"{expected} — {mistake.said}" in flat and f"re-read {mistake.equation}" in flat
        assert in_its_words != by_relation, text
