"""Finding the exercises folder, and showing an error of the learner's code in the learner's own lines.

The file itself is compiled from its text, never cached, in the process that runs it
(``manualnet.grader.child``).
"""

import traceback
from pathlib import Path

from .exercise import FOLDER


class ExerciseError(ValueError):
    """The exercise cannot be graded as it stands (no such folder or file, no such class, a syntax error)."""


def find_folder(folder=None):
    """The exercises folder: ``folder`` if given, else ./exercises, else the one in manualnet's checkout."""
    candidates = [Path(folder)] if folder is not None else [Path.cwd() / FOLDER,
                                                            Path(__file__).resolve().parents[2] / FOLDER]
    for candidate in candidates:
        if candidate.is_dir():
            if not any((candidate / f"{exercise.name}.py").is_file() for exercise in _exercises()):
                raise ExerciseError(f"{candidate} holds none of the exercise files ({_exercises()[0].name}.py, ...); "
                                    f"git checkout {FOLDER}/ brings them back")
            return candidate
    where = candidates[0] if folder is not None else "the current folder or manualnet's checkout"
    raise ExerciseError(f"no {FOLDER}/ folder in {where}: run this from the manualnet checkout "
                        "(git clone it; the exercises are files you edit)")


def learner_traceback(error, path):
    """The traceback lines that are in the learner's file, then the error itself."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename) == Path(path)]
    shown = display_path(path)
    lines = [f'  File "{shown}", line {frame.lineno}, in {frame.name}\n    {frame.line}' for frame in frames]
    if isinstance(error, SyntaxError) and error.lineno:
        lines.append(f'  File "{shown}", line {error.lineno}\n    {(error.text or "").strip()}')
    return "\n".join(lines + [f"{type(error).__name__}: {error}"])


def not_started(error, path):
    """Whether the error is the stub's own NotImplementedError, raised in the learner's file."""
    frames = traceback.extract_tb(error.__traceback__)
    return isinstance(error, NotImplementedError) and bool(frames) and Path(frames[-1].filename) == Path(path)


def display_path(folder):
    try:
        return str(Path(folder).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def _exercises():
    from .path import EXERCISES      # the path's table imports the runners; read it when a folder is looked for
    return EXERCISES
