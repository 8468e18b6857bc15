"""The teacher's page, exercises/README.md: per exercise, the mistakes the grader names, written from its own tables.

tests/grader/test_mistakes.py checks that the file is this text, so the page
cannot drift from what the grader does; after changing a table, write it again:

    python -c "from manualnet.grader.teacher import teacher_page; print(teacher_page(), end='')" > exercises/README.md
"""

from manualnet.testing.diagnoses import MISTAKES

from .exercise import COMMAND
from .path import EXERCISES

# The names every exercise can get, whatever its table: relations of the numbers, and an ignored upstream.
EVERY_EXERCISE = ("path missing", "entries missing", "upstream ignored", "not accumulated", "sum vs mean",
                  "sign flipped", "factor of 2", "constant factor", "transposed", "shape")


def teacher_page():
    lines = [
        "# The mistakes the grader names",
        "",
        f"For teachers. `{COMMAND} check NAME` grades a learner's file against manualnet's own layer and finite",
        "differences, and when the numbers show a classic mistake it names it: it reproduces each mistake below",
        "on the very case it grades (the backward written line by line as its derivation page writes it, one",
        "line replaced) and names the one the learner's numbers equal, entry by entry. The diagnosis says what",
        "the code did, the line to re-read and the evidence (how many entries, by how much the right value",
        "differs); when no name fits, the grader says which rows fail and which line of the backward is the",
        "first that can explain them. The tables are `manualnet/grader/mistakes/`; the learners' own words for",
        "these mistakes, as code, are the corpus in `tests/grader/corpus/`.",
        "",
        "Every exercise can also get these names, read from the numbers alone:",
        "",
        "| mistake | what the numbers show |",
        "|---|---|",
        *(f"| `{name}` | {MISTAKES[name]} |" for name in EVERY_EXERCISE),
    ]
    for number, exercise in enumerate(EXERCISES, start=1):
        page = exercise.mistakes.page or exercise.page
        lines += ["", f"## {exercise.name}", "",
                  f"Exercise {number}, `{exercise.title}` in [{exercise.name}.py]({exercise.name}.py); "
                  f"read [{page.split('/')[-1]}](../{page}).", "",
                  "| mistake | what the grader tells the learner | the line to re-read |", "|---|---|---|"]
        lines += [f"| `{m.name}` | {m.said} | {m.equation} |" for m in exercise.mistakes.mistakes]
    return "\n".join(lines) + "\n"
