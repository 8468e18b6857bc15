"""``python -m manualnet exercises [check NAME]``: the learning path, graded by ``manualnet.grader``."""

from .common import PROG, UsageError


def add_command(commands):
    from manualnet.grader import BY_NAME, FOLDER

    exercises = commands.add_parser(
        "exercises", help="list the exercises with their status, or grade one: exercises check NAME",
        description=f"The learning path: write each backward in {FOLDER}/NAME.py, then grade it. Without "
                    "arguments, list every exercise with its status (not started, failing, passing) and the "
                    f"next one; 'check NAME' grades {FOLDER}/NAME.py against manualnet's own layer and finite "
                    f"differences. git checkout {FOLDER}/ brings the stubs back.")
    exercises.add_argument("action", nargs="?", choices=("check",), metavar="check", help="grade one exercise")
    exercises.add_argument("name", nargs="?", metavar="NAME", help=f"the exercise to grade: {', '.join(BY_NAME)}")
    exercises.add_argument("--dir", metavar="DIR", help=f"the folder of exercise files (default: ./{FOLDER}, "
                                                       "else the one in manualnet's checkout)")
    exercises.set_defaults(run=run_exercises)


def run_exercises(args):
    from manualnet.grader import BY_NAME, run_command, unknown

    if (args.action is None) != (args.name is None):
        raise UsageError(f"{PROG} exercises", "expected 'exercises' alone or 'exercises check NAME'")
    if args.name is not None and args.name not in BY_NAME:
        raise UsageError(f"{PROG} exercises", f"argument NAME: {unknown(args.name)}")
    return run_command(args.name, args.dir)
