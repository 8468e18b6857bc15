"""A progress bar redrawn in place on stderr, drawn only when stderr is a terminal.

Used for the steps of a training epoch (``python -m manualnet train``) and for
the bytes of a download (``manualnet.download``).  When the stream is not a
terminal (a pipe, a file, a test) nothing is written at all.
"""

import sys

WIDTH = 30


def count(value):
    return str(value)


def megabytes(value):
    return f"{value / 1e6:.1f} MB"


class ProgressBar:
    """``label [#######.......] done/total``, redrawn on each ``show(done)``; ``close()`` erases it.

    ``total=None`` (an unknown size) shows only how much is done.  ``unit``
    formats the numbers: ``count`` (default) or ``megabytes``.
    """

    def __init__(self, total, label, stream=None, unit=count):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty()
        self.total, self.label, self.unit = total, label, unit
        self.drawn = 0

    def show(self, done):
        if not self.enabled:
            return
        if self.total:
            filled = min(WIDTH, WIDTH * done // self.total)
            line = f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.unit(done)}/{self.unit(self.total)}"
        else:
            line = f"{self.label} {self.unit(done)}"
        self.stream.write("\r" + line.ljust(self.drawn))
        self.stream.flush()
        self.drawn = len(line)

    def close(self):
        if self.enabled and self.drawn:
            self.stream.write("\r" + " " * self.drawn + "\r")
            self.stream.flush()
            self.drawn = 0
