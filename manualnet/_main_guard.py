"""``python -m manualnet``: Ctrl-C while the package is still importing exits 130, without a traceback.

``python -m manualnet`` imports the package (and NumPy with it) before
``__main__`` runs, so ``cli.main``'s own KeyboardInterrupt handler is not in
place yet.  ``manualnet/__init__.py`` calls ``guard_imports()`` first: when
the interpreter was started as ``python -m manualnet`` (and only then —
``import manualnet`` in your program keeps Python's Ctrl-C), SIGINT exits
quietly with status 130 until ``__main__`` calls ``end_guard()`` and hands
Ctrl-C back to ``cli.main``.
"""

import sys

EXIT_INTERRUPTED = 130          # 128 + SIGINT, what shells report for Ctrl-C


def _exit_interrupted(signum, frame):
    sys.stderr.write("python -m manualnet: interrupted\n")
    raise SystemExit(EXIT_INTERRUPTED)


def started_as_main():
    """True while ``python -m manualnet`` is importing the package (sys.argv[0] is "-m" only then)."""
    if sys.argv[:1] != ["-m"]:
        return False
    argv = getattr(sys, "orig_argv", [])
    for index, argument in enumerate(argv[1:], start=1):
        if argument == "-m":
            return argv[index + 1:index + 2] == ["manualnet"]
        if argument.startswith("-m"):
            return argument == "-mmanualnet"
    return False


def guard_imports():
    if started_as_main():
        import signal                   # only then: `import manualnet` elsewhere need not load it
        signal.signal(signal.SIGINT, _exit_interrupted)


def end_guard():
    import signal
    if signal.getsignal(signal.SIGINT) is _exit_interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
