"""``python -m manualnet``: the command line (see manualnet/cli/)."""

import sys

from ._main_guard import end_guard
from .cli import main

if __name__ == "__main__":          # importing this module (e.g. to read its docstring) runs nothing
    end_guard()                     # the imports are done: cli.main handles Ctrl-C from here on
    sys.exit(main())
