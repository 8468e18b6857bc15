"""What the grader prints: hints that say where to read (never what to write), a grade, the listing."""

import sys
import textwrap

from manualnet.testing.diagnoses import MISTAKES

from .exercise import COMMAND, DRAWN_CASES, FOLDER
from .grading import NOT_STARTED, PASSING, grade
from .loading import display_path, find_folder
from .path import EXERCISES, get, next_after
from .remote import ProcessLink


# Why the right line is right, for the mistakes every layer can make (a table's own mistakes carry theirs).
HINTS = {
    "path missing": "every path from a value to the loss adds its own term (derivations/backprop.md#two-paths-add-"
                    "them, eq. (4)); a gradient that stays 0 is a path whose line was never written",
    "entries missing": "each entry gets its own gradient: a loop that skips some, or a write of zeros over what "
                       "an earlier step added, loses them",
    "upstream ignored": "backward takes G = dL/dy and multiplies it by the layer's own derivative: the chain rule's "
                        "first factor is the gradient that arrives from above (derivations/backprop.md, eq. (5))",
    "sum vs mean": "count the terms: a value used once by each of the N samples gets one term per sample, and "
                   "the chain rule adds them (derivations/backprop.md#two-paths-add-them, eq. (4)); a 1/N "
                   "belongs only where forward itself divides by N (a mean)",
    "transposed": "compare the shapes: a gradient has the shape of its parameter, and PyTorch's weight is "
                  "(out_features, in_features); the page's Dimension check lines up the factors",
    "not accumulated": "backward ADDS into .grad (+=), it never assigns: a parameter used twice gets the sum of "
                       "both uses (derivations/backprop.md#2-why-grad-adds-up-and-why-zero_grad-exists)",
    "sign flipped": "redo the derivative one factor at a time and watch each sign; a step goes against the "
                    "gradient",
    "factor of 2": "look for a 2 from a square, d(u²)/du = 2u, that is missing or there twice",
    "dropout scale": "p is the probability of DROPPING an element: forward scaled the kept ones by 1/(1 − p)",
    "constant factor": "every entry is off by the same factor: check each constant (a 1/N, a 2, 1/(1 − p), the "
                       "learning rate, a bias correction)",
    "mask missing": "where forward passed nothing on (a dropped element, an input at or below 0 of a ReLU), "
                    "the gradient is exactly 0",
    "softmax diagonal": "every output of a row depends on every input of that row: the Jacobian's off-diagonal "
                        "entries count too, not only its diagonal",
    "derivative as value": "backward multiplies by the function's derivative, not by the function's value",
    "mean term missing": "a statistic of the batch (its mean) depends on every sample, so each x also reaches "
                         "the loss through it: that road adds a term",
    "shape": "backward returns dL/dx of the shape of x and keeps each .grad the shape of its parameter; does "
             "backward end with return?",
}


def hints(grade):
    """The hints under a failing grade: one per mistake named, and one for the failing rows no name explains.

    An error in the learner's code gets none: its traceback is the evidence.
    """
    if grade.status == NOT_STARTED or not grade.reports:
        return []
    exercise = grade.exercise
    lines = []
    named = {}
    for report in grade.reports:
        for diagnosis in getattr(report, "diagnoses", ()):
            named.setdefault(diagnosis.name, diagnosis)
    for name, diagnosis in named.items():
        why = diagnosis.why or HINTS.get(name) or MISTAKES.get(name, "")
        lines.append(f"hint ({name}): {_sentence(why)} Read {exercise.page}.")
    comparison = grade.reports[0]
    unnamed = [row for row in comparison.arrays if not row.passed and not _named(comparison, row.name)]
    if unnamed:
        lines.append(_unnamed_hint(exercise, comparison, unnamed))
    return [_wrap(line) for line in lines]


def _named(report, row):
    return any(diagnosis.array == row or diagnosis.array.startswith(f"the update of {row.split(' after')[0]}")
               for diagnosis in getattr(report, "diagnoses", ()))


def _unnamed_hint(exercise, report, unnamed):
    """Which rows fail, and the one line to read first: the chain's first that reaches exactly them."""
    rows = [row.name for row in unnamed]
    if "output" in rows[:1]:
        return (f"hint: Your forward's output differs from manualnet's, and the exercise is {exercise.title} only: "
                f"git checkout {exercise.file} brings the written forward back.")
    chain = getattr(exercise.mistakes, "chain", None)
    made = set(getattr(chain, "inputs", {})) | set(getattr(chain, "parameters", {}))
    passing = [row.name for row in report.arrays if row.passed and not row.name.startswith("output")
               and (not made or row.name in made)]
    said = f"hint: {_listed(rows)} {'fails' if len(rows) == 1 else 'fail'}"
    said += f" while {_listed(passing)} {'passes' if len(passing) == 1 else 'pass'}." if passing else "."
    suspects = getattr(report, "suspects", [])
    if suspects and rows[0].startswith("params["):
        return (f"{said} The first step went right, so look at what one step keeps for the next: "
                f"{_listed_lines(suspects)}; read {exercise.page}.")
    if suspects:
        first, last = suspects[0], suspects[-1]
        also = f" (so could every line after it up to eq. {last.equation})" if len(suspects) > 1 else ""
        return (f"{said} The first line of {exercise.title} that can explain exactly this is {first.formula}, "
                f"eq. {first.equation}{also}: read {report_page(exercise)} from there.")
    key = _equation_key(exercise, rows[0])
    equation, what = exercise.equations[key]
    return f"{said} {_row_name(rows[0]).capitalize()} is {what}, eq. {equation}: read {exercise.page}."


def _listed_lines(steps):
    return "; ".join(f"{step.formula}, eq. {step.equation}" for step in steps)


def report_page(exercise):
    return exercise.mistakes.page if exercise.mistakes is not None and exercise.mistakes.page else exercise.page


def _listed(names):
    names = [_row_name(name) for name in dict.fromkeys(names)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _sentence(text):
    text = text.strip()
    return text + ("" if text.endswith(".") else ".")


def _wrap(text, indent="    "):
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


def _row_name(name):
    """A report row as a hint names it: 'bias' -> 'bias.grad', 'params[0] after step 2' -> 'params[0] after step 2'."""
    if name.startswith(("params[", "output")):
        return name
    return name if name.endswith(".grad") else f"{name}.grad"


def _equation_key(exercise, name):
    """The key of ``exercise.equations`` that a report row stands for: 'bias.grad' -> 'bias', '0.weight' -> 'input'."""
    if name.startswith("params["):
        return "params"
    plain = name.removesuffix(".grad")
    if plain in exercise.equations:
        return plain
    return "input"


# -- what the command line prints ----------------------------------------------------------

def position(exercise):
    return f"{EXERCISES.index(exercise) + 1}/{len(EXERCISES)}"


def format_grade(grade):
    """The text of ``exercises check NAME``."""
    exercise = grade.exercise
    lines = [f"exercise {position(exercise)}, {exercise.name}: {exercise.title} in {exercise.file}"]
    if grade.status == NOT_STARTED:
        lines.append(f"not started: {exercise.title} raises NotImplementedError:")
        lines.append(_wrap("  " + grade.message, indent="  "))
        return "\n".join(lines)
    if grade.status == PASSING:
        what = "finite differences of your forward" if exercise.method == "backward" else "the same gradients"
        lines.append(_wrap(f"passed: {grade.cases} cases (the fixed one and {grade.cases - 1} drawn by hypothesis), "
                           f"each compared with manualnet's {exercise.class_name} and {what}, in float64"))
        following = next_after(exercise)
        if following is None:
            lines.append("that was the last exercise: every step of the path is yours.")
        else:
            lines.append(_wrap(f"next: exercise {position(following)}, {following.name} — write {following.title} "
                               f"in {following.file} (read {following.page}), then run: "
                               f"{COMMAND} check {following.name}"))
        return "\n".join(lines)
    if grade.case:
        which = "the fixed first case" if grade.fixed_case else "the smallest failing case hypothesis found"
        lines.append(f"FAILED on {which}: {grade.case}")
    else:
        lines.append("FAILED")
    lines += _printed(grade.printed)
    if grade.message:
        lines += ["", grade.message]
    for report in grade.reports:
        lines += ["", str(report)]
    shown = hints(grade)
    return "\n".join(lines + ([""] + shown if shown else []))


def _printed(text, most=10):
    """What the learner's code printed while it was graded, its first lines, set apart from the grader's own."""
    printed = text.splitlines()
    if not printed:
        return []
    more = f", the first {most} of {len(printed)}" if len(printed) > most else ""
    return ["", f"your code printed{more}:", *(f"  | {line}" for line in printed[:most])]


def listing(folder=None, drawn=DRAWN_CASES, link=None):
    """Grade every exercise (each file in the same child process, unless ``link`` says otherwise); return (the
    text of ``exercises``, the grades)."""
    folder = find_folder(folder)
    own = link is None
    link = ProcessLink() if own else link
    try:
        grades = [grade(exercise, folder, drawn, link) for exercise in EXERCISES]
    finally:
        if own:
            link.close()
    rows = [(str(number), g.exercise.name, g.status, g.exercise.title, g.exercise.page.split("#")[0])
            for number, g in enumerate(grades, start=1)]
    from manualnet.testing.comparison import format_table  # the table every report prints
    shown = display_path(folder)
    lines = [f"the exercises in {shown}/, in order; {COMMAND} check NAME grades one",
             *format_table(("#", "name", "status", "write", "read"), rows)]
    waiting = next((g for g in grades if g.status != PASSING), None)
    if waiting is None:
        lines.append("all passing: every step of the path is yours.")
    else:
        lines.append(f"next: {waiting.exercise.name} — {COMMAND} check {waiting.exercise.name}")
    lines.append(f"(git checkout {FOLDER}/ brings every stub back)")
    return "\n".join(lines), grades


# -- the command (manualnet/cli/exercises.py adds it to the command line) --------------------------

def run_command(name=None, folder=None, out=None):
    """``exercises`` (name None) or ``exercises check NAME``; returns the exit code (0 only when passing)."""
    out = sys.stdout if out is None else out
    if name is None:
        text, grades = listing(folder)
        print(text, file=out)
        return 0
    exercise = get(name)
    result = grade(exercise, folder)
    print(format_grade(result), file=out)
    return 0 if result.status == PASSING else 1
