"""Grading one exercise: the fixed case, then cases hypothesis draws and shrinks.

The learner's code runs at the other end of a link (``manualnet.grader.remote``:
a child process unless told otherwise); every verdict is decided here, from
the numbers it sends back.
"""

import warnings
from dataclasses import dataclass, field

from manualnet.testing.gradcheck import GradcheckWarning

from .exercise import DRAWN_CASES, Exercise
from .loading import ExerciseError, find_folder
from .remote import LearnerError, ProcessLink, load_learner

NOT_STARTED, FAILING, PASSING = "not started", "failing", "passing"


@dataclass
class Grade:
    """The verdict on one exercise, with what shows it."""

    exercise: Exercise
    status: str                     # NOT_STARTED, FAILING or PASSING
    cases: int = 0                  # how many cases ran
    case: str = ""                  # the failing case, described
    fixed_case: bool = True         # whether that case is the fixed first one
    reports: list = field(default_factory=list)
    message: str = ""               # the stub's pointer, or the error (the learner's, with its traceback)
    printed: str = ""               # what the learner's code printed while it was graded

    def diagnosed(self):
        """The names of the mistakes the comparisons named, each once, in report order."""
        return list(dict.fromkeys(d.name for report in self.reports for d in getattr(report, "diagnoses", ())))


def grade(exercise, folder=None, drawn=DRAWN_CASES, link=None):
    """Grade the learner's exercise: the fixed case, then ``drawn`` cases from hypothesis.

    ``link`` runs the learner's code: by default a child process of its own
    (``ProcessLink``), ended when the grade is done.
    """
    folder = find_folder(folder)
    own = link is None
    link = ProcessLink() if own else link
    printed_before = len(link.printed())
    try:
        result = _grade(exercise, folder / f"{exercise.name}.py", drawn, link)
        result.printed = link.printed()[printed_before:]
        return result
    finally:
        if own:
            link.close()


def _grade(exercise, path, drawn, link):
    if not path.is_file():
        return Grade(exercise, FAILING, message=f"{path} does not exist; git checkout {exercise.file} brings the "
                                                "stub back")
    try:
        learner = load_learner(link, exercise, path)
    except ExerciseError as error:
        return Grade(exercise, FAILING, message=str(error))
    first = _run_case(exercise, learner, exercise.fixed)
    if first is not None:
        return first
    if drawn == 0:
        return Grade(exercise, PASSING, cases=1)
    failed = _search(exercise, learner, drawn)
    return failed or Grade(exercise, PASSING, cases=1 + drawn)


class _CaseFailed(Exception):
    def __init__(self, grade):
        super().__init__(grade.status)
        self.grade = grade


def _search(exercise, learner, drawn):
    """Run ``drawn`` hypothesis cases; the smallest failing one found, as a Grade, or None."""
    try:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    except ImportError:
        raise ImportError("grading draws its cases with hypothesis: pip install hypothesis "
                          "(or pip install -e '.[dev]')") from None

    @settings(max_examples=drawn, derandomize=True, database=None, deadline=None, report_multiple_bugs=False,
              verbosity=Verbosity.quiet, phases=(Phase.generate, Phase.shrink),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(case=exercise.draw())
    def run(case):
        failed = _run_case(exercise, learner, case)
        if failed is not None:
            failed.fixed_case = False
            raise _CaseFailed(failed)

    try:
        run()
    except _CaseFailed as failure:             # hypothesis re-raises the smallest failing case last
        return failure.grade
    return None


def _run_case(exercise, learner, case):
    """Grade one case: None if it passes, else a Grade saying why."""
    described = exercise.describe(case)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradcheckWarning)   # an all-zero gradient shows as "(all ~0)"
            warnings.simplefilter("ignore", RuntimeWarning)     # the learner's overflow shows as inf or nan
            reports = exercise.run(learner, case, exercise.mistakes)
    except LearnerError as error:
        if error.not_started:
            return Grade(exercise, NOT_STARTED, cases=1, case=described, message=error.message)
        return Grade(exercise, FAILING, cases=1, case=described, message=error.text)
    except (ValueError, TypeError) as error:    # the comparison refused what the learner's object holds
        return Grade(exercise, FAILING, cases=1, case=described, message=str(error))
    if all(report.passed for report in reports):
        return None
    label = f"{exercise.file}:{exercise.class_name}"
    for report in reports:
        report.label = label
    return Grade(exercise, FAILING, cases=1, case=described, reports=reports)
