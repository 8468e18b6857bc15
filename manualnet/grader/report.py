"""What the grader prints: hints that say where to read (never what to write), a grade, the listing."""

import sys
import textwrap

from .exercise import COMMAND, DRAWN_CASES, FOLDER
from .grading import NOT_STARTED, PASSING, grade
from .loading import display_path, find_folder
from .path import EXERCISES, get, next_after


HINTS = {
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
    "kernel not flipped": "find which outputs read one input cell: output (i, j) reads cell a through tap "
                          "p = (a − s·i)/d, so seen from the input the taps run backwards; eq. (6) and eq. (7) "
                          "say it with indices",
    "stride not dilated": "outputs i and i + 1 read windows s cells apart: their gradients go back s cells apart "
                          "too (eq. (6) and the zeros of eq. (7))",
    "max to whole window": "only the window's maximum reached the output: the other cells of the window get "
                           "nothing from it (routes, eq. (2) and (6))",
    "average not divided": "forward divided each window's sum by its divisor D, so each cell's rate is 1/D",
    "duplicates lost": "a token used twice gets the sum of both rows of G: weight.grad[idx] += G writes each row "
                       "once (embedding.md eq. (3) and the paragraph after it)",
    "shape": "backward returns dL/dx of the shape of x and keeps each .grad the shape of its parameter; does "
             "backward end with return?",
}


def hints(grade):
    """Lines that say which section and equation to read for each failing gradient, and what the diagnosis means."""
    exercise = grade.exercise
    if grade.status == NOT_STARTED:
        return []
    if not grade.reports:
        return [_wrap(f"hint: read the error above; {exercise.shapes} lines up the shapes of every array "
                      f"({exercise.page}, eq. {exercise.read})")]
    lines, seen = [], set()
    for report in grade.reports:
        for array in report.arrays:
            if array.passed:
                continue
            key = _equation_key(exercise, array.name)
            if key in seen:
                continue
            seen.add(key)
            if key == "output":
                lines.append(f"hint: your forward's output differs from manualnet's: the exercise is {exercise.title}; "
                             f"git checkout {exercise.file} brings the written forward back")
                continue
            equation, what = exercise.equations[key]
            lines.append(f"hint: {_row_name(array.name)} is {what}, eq. {equation}: read {exercise.page}")
    for name in grade.diagnosed():
        lines.append(f"hint ({name}): {HINTS[name]}")
    return [_wrap(line) for line in lines]


def _wrap(text, indent="    "):
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


def _row_name(name):
    """A report row as a hint names it: 'bias' -> 'bias.grad', 'params[0] after step 2' -> 'params'."""
    if name.startswith("params["):
        return "params"
    return name if name.endswith(".grad") else f"{name}.grad"


def _equation_key(exercise, name):
    """The key of ``exercise.equations`` that a report row stands for: 'bias.grad' -> 'bias', '0.weight' -> 'input'."""
    if name.startswith("params["):
        return "params"
    plain = name.removesuffix(".grad")
    if plain in exercise.equations:
        return plain
    if plain.split("[")[0] == "output":             # a tuple output's rows: output[0], output[1]
        return "output"
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
    if grade.message:
        lines += ["", grade.message]
    for report in grade.reports:
        lines += ["", str(report)]
    lines.append("")
    lines += hints(grade)
    return "\n".join(lines)


def listing(folder=None, drawn=DRAWN_CASES):
    """Grade every exercise; return (the text of ``exercises``, the grades)."""
    folder = find_folder(folder)
    grades = [grade(exercise, folder, drawn) for exercise in EXERCISES]
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
