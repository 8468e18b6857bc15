"""``python -m manualnet``: the command line (see manualnet/cli.py)."""

import sys

from .cli import main

if __name__ == "__main__":          # importing this module (e.g. to read its docstring) runs nothing
    sys.exit(main())
