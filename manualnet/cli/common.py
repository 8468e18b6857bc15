"""What every command shares: its name, the usage error, argparse that never exits, option types, output checks."""

import argparse
import math
import os
import tempfile

from manualnet._threads import set_num_threads

PROG = "python -m manualnet"
EXIT_USAGE, EXIT_ERROR = 2, 1


class UsageError(Exception):
    """The command line asks for something impossible: exit code 2."""

    def __init__(self, prog, message):
        super().__init__(f"{prog}: error: {message} (see '{prog} --help')")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage dump) and never exits by itself."""

    def error(self, message):
        raise UsageError(self.prog, message)


# -- option types: each says what it wanted and what came ------------------------

def _integer(text, minimum, wanted):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text):
    return _integer(text, 1, "a positive integer")


def non_negative_int(text):
    return _integer(text, 0, "an integer >= 0")


def positive_number(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# -- --threads N: the library's BLAS thread setting (manualnet/_threads.py) ------------

def add_threads_option(command):
    command.add_argument("--threads", type=positive_int, metavar="N",
                         help="BLAS threads for every matrix product (default: chosen by each product's size and "
                              "the cores other processes leave free; MANUALNET_NUM_THREADS=N does the same)")


def apply_threads_option(args):
    """Set the library's BLAS threads from ``--threads N``, when the command has it and it was given."""
    if getattr(args, "threads", None) is not None:
        set_num_threads(args.threads)


# -- checks made before any work -----------------------------------------------------

def check_output(prog, option, path, formats=None):
    """Refuse now, not after training, a --save/--plot target that cannot be written."""
    if path == "":
        raise UsageError(prog, f"{option}: expected a file name, got ''")
    if os.path.isdir(path):
        raise UsageError(prog, f"{option} {path}: is a directory; give a file name, "
                               f"e.g. {os.path.join(path, 'model.npz' if formats is None else 'curves.png')}")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise UsageError(prog, f"{option} {path}: exists and is not a regular file")
    if formats is not None and os.path.splitext(path)[1].lower() not in formats:
        raise UsageError(prog, f"{option} {path}: the format follows the extension; "
                               f"expected a name ending in {', '.join(list(formats)[:-1])} or {list(formats)[-1]}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(prog, f"{option} {path}: the folder {folder} does not exist")
    name_bytes = len(os.fsencode(os.path.basename(path)))
    if name_bytes > _longest_name(folder):
        raise UsageError(prog, f"{option}: the file name is {name_bytes} bytes long, longer than the "
                               f"{_longest_name(folder)} bytes {folder} allows")
    try:                                         # the real test of writability (permissions, read-only disks)
        handle, probe = tempfile.mkstemp(prefix=".manualnet-probe-", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise UsageError(prog, f"{option} {path}: cannot write in {folder} ({error.strerror})") from None


def _longest_name(folder):
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
