"""The command line: ``python -m manualnet train | sample PATH | evaluate PATH | download mnist | gradcheck | graph | exercises``.

``train`` is the study notes' last program, run for real: a model (``--model``,
the notes' MLP by default) learns handwritten digits with the notes' loop and
prints the notes' epoch line
``epoch:[3] loss:[0.123] train_accr:[0.975] test_accr:[0.964].``
— on scikit-learn's 8×8 digits by default (no download), or on MNIST
(``--dataset mnist``: the notes' own experiment, downloaded and verified once).
``evaluate`` reloads a saved model and prints its test accuracy and confusion
matrix; ``download mnist`` fills the cache; ``gradcheck`` checks every
operation's backward against finite differences and prints a table; ``graph``
prints what autograd records for the notes' MLP loss.  ``train --model gpt
--dataset shakespeare`` trains nanoGPT's character-level GPT instead
(``gpt.py``), and ``sample`` prints text from the model it saved.

One module per command (``train.py``, ``evaluate.py``, ...), each adding its
parser and its ``run``; what ``train`` can train is two small registries in
``choices.py``, ``DATASETS`` and ``MODELS``: a new model or dataset is one entry.
The training loop itself is ``manualnet/train.py``, which the examples share.

Failures are one line on stderr and a non-zero exit — 2 for a usage mistake,
1 for anything else, 130 for Ctrl-C — never a traceback.  Everything that can
be checked before the work is: the ``--save`` and ``--plot`` targets, the
plot format, the model's size in memory.  A broken pipe (``train | head -1``)
ends the run quietly.
"""

import os
import sys

from manualnet._main_guard import EXIT_INTERRUPTED
from manualnet.train import Diverged

from . import download, evaluate, exercises, gpt, gradcheck, graph, train
from .choices import DATASETS, MODELS
from .common import EXIT_ERROR, EXIT_USAGE, PROG, Parser, UsageError, apply_threads_option

__all__ = ["main", "build_parser", "DATASETS", "MODELS"]

COMMANDS = (train, gpt, evaluate, download, gradcheck, graph, exercises)


def build_parser():
    parser = Parser(prog=PROG, description="manualnet: train, evaluate and gradient-check "
                                           "hand-written neural-network layers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_command(commands)
    return parser


def main(argv=None):
    """Run the command line on ``argv`` (default sys.argv[1:]); return the exit code."""
    try:
        args = _parse(argv)
        apply_threads_option(args)
        code = args.run(args)
        sys.stdout.flush()                           # a closed pipe shows here, not at exit
        return code
    except SystemExit as exit:                       # --help
        return exit.code
    except UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:                          # `train | head -1`: the reader has all it wanted
        _discard_stdout()
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError as error:
        print(f"{PROG}: error: not enough memory ({error})", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError, ImportError, Diverged) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:                       # a bug: still one line, named, never a traceback
        print(f"{PROG}: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


def _parse(argv):
    """Parse ``argv``; a stray argument names the command's own --help, and a bare number hints at --epochs."""
    args, extras = build_parser().parse_known_args(argv)
    if extras:
        hint = ""
        if args.command == "train" and extras[0].isdigit():
            hint = f"; to train for {extras[0]} epochs, write --epochs {extras[0]}"
        raise UsageError(f"{PROG} {args.command}", f"unrecognized arguments: {' '.join(extras)}{hint}")
    return args


def _discard_stdout():
    """Point stdout at /dev/null so the interpreter's last flush cannot fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
