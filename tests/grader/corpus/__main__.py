"""``python -m tests.grader.corpus``: the corpus counted, per exercise."""

from . import summary

print("\n".join(summary()))
