"""Every ```python block of README.md runs, each on its own, in a temporary folder.

When a ```text block follows a python block directly, it is what that block
prints, and the test compares the two: the README cannot drift from what the
code prints.  Only rounding-level numbers (errors such as 1.81e-10, whose last
digits depend on the CPU's summation order) are masked.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*\n?", re.S | re.M)
TINY_NUMBER = re.compile(r"\d\.\d+e-\d+")


def masked(text):
    return TINY_NUMBER.sub("<tiny>", text.rstrip())


def python_blocks():
    """(source, printed output shown right after it or None) for each python block."""
    text = README.read_text(encoding="utf-8")
    fences = list(FENCE.finditer(text))
    for here, after in zip(fences, fences[1:] + [None]):
        if here.group(1) != "python":
            continue
        shown = None
        if after is not None and after.group(1) == "text" and not text[here.end():after.start()].strip():
            shown = after.group(2)
        line = text.count("\n", 0, here.start()) + 1
        yield pytest.param(here.group(2), shown, line, id=f"README.md:L{line}")


@pytest.mark.parametrize("source, shown, line", list(python_blocks()))
def test_readme_python_block_runs_and_prints_what_is_shown(source, shown, line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        # Padded so that line numbers are README.md's: tracebacks, and inspect.getsource
        # (hypothesis calls it), then read the block's own lines.
        exec(compile("\n" * line + source, str(README), "exec"), {"__name__": "__readme__"})
    if shown is not None:
        assert masked(printed.getvalue()) == masked(shown)


def test_readme_has_runnable_examples():
    assert len(list(python_blocks())) >= 3
