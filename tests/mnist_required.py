"""Load the real MNIST for the ``mnist`` tests: skip visibly when it is not cached, fail in CI.

The data are the verified cache (``python -m manualnet download mnist`` fills
it; ``.ci/run`` does so first).  Set MANUALNET_REQUIRE_MNIST=1 (``.ci/run``
does) to turn the skip into a failure, so these tests can never silently stop
running there.
"""

import os

import pytest

from manualnet.datasets.mnist import load_mnist, mnist_cache_problem, mnist_folder

REQUIRED = os.environ.get("MANUALNET_REQUIRE_MNIST", "") not in ("", "0")


def real_mnist():
    """(x_train, y_train), (x_test, y_test) from the verified cache, or a skip (a failure when required)."""
    problem = mnist_cache_problem()
    if problem:
        first_problem = problem.split("; ")[0].removeprefix("load_mnist: ")
        reason = (f"no verified MNIST in {mnist_folder()} ({first_problem}); "
                  "fetch it once with: python -m manualnet download mnist")
        if REQUIRED:
            pytest.fail(f"MANUALNET_REQUIRE_MNIST is set but {reason}", pytrace=False)
        pytest.skip(f"{reason} (or set MANUALNET_REQUIRE_MNIST=1 to make this an error)")
    return load_mnist()
