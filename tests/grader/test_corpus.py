"""The corpus of backwards as learners write them (tests/grader/corpus/): the grader says of each what it must.

A right backward, in each style, passes; a mistake the tables list is named,
and nothing else is; a realistic mistake no table lists gets no name and one
hint, which points at the first line that can explain it; code that raises
is reported with its own line and no hint.  Every mistake the grader's
tables list is in the corpus at least once, so no name on the teacher's page
goes untested.
"""

import re

import pytest

from manualnet import grader as E
from manualnet.testing.diagnoses import MISTAKES
from tests.exercise_drop_in import with_body

from .corpus import ERROR, PASS, UNNAMED, entries, every_entry, summary
from .course import graded, pristine, put

CORPUS = every_entry()


def entry_id(case):
    name, entry = case
    return f"{name}-{entry.style}-{entry.about}".replace(" ", "_")


@pytest.mark.parametrize("case", CORPUS, ids=[entry_id(case) for case in CORPUS])
@pytest.mark.slow
def test_the_grader_says_of_each_backward_what_the_corpus_expects(course, case):
    name, entry = case
    put(course, name, with_body(pristine(name), entry.body))
    result, text = graded(course, name)
    flat = " ".join(text.split())
    hints = re.findall(r"^hint", text, flags=re.M)
    if entry.expect == PASS:
        assert result.status == E.PASSING, text
        return
    assert result.status == E.FAILING, text
    if entry.expect == ERROR:
        assert not result.reports and not hints, text
        assert re.search(rf'File ".*{name}\.py", line \d+', text), text
        return
    if entry.expect == UNNAMED:
        assert result.diagnosed() == [] and len(hints) == 1, text
        assert f"eq. {entry.points_at}" in flat.split("hint:")[1], text
        return
    assert result.diagnosed() == [entry.expect], text
    assert f"hint ({entry.expect}): " in flat and len(hints) == 1, text
    assert "constant factor" not in flat or entry.expect == "constant factor", text


def test_every_mistake_a_table_names_is_in_the_corpus():
    for exercise in E.EXERCISES:
        expected = {entry.expect for entry in entries(exercise.name)}
        missing = [m.name for m in exercise.mistakes.mistakes if m.name not in expected]
        assert not missing, f"{exercise.name}: no corpus entry makes {missing}"


def test_every_name_the_corpus_expects_is_one_the_grader_can_give():
    for name, entry in CORPUS:
        if entry.expect not in (PASS, UNNAMED, ERROR):
            assert entry.expect in E.get(name).mistakes.names() or entry.expect in MISTAKES, (name, entry.about)


def test_every_exercise_has_a_right_backward_and_a_mistake_no_table_names_or_one_that_raises():
    for name in E.BY_NAME:
        kinds = {entry.expect for entry in entries(name)}
        assert PASS in kinds, name
        assert len(kinds - {PASS}) >= 2, name


def test_the_corpus_counts_itself():
    lines = summary()
    assert lines[-1].startswith("all") and len(lines) == len(E.EXERCISES) + 1
