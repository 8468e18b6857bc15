"""Import torch for parity tests: skip visibly when it is absent, fail in CI.

Set MANUALNET_REQUIRE_TORCH=1 (``.ci/run`` does) to turn the skip into an
error, so parity tests can never silently stop running.
"""

import os

import pytest

REQUIRED = os.environ.get("MANUALNET_REQUIRE_TORCH", "") not in ("", "0")


def import_torch():
    try:
        import torch
    except ImportError as error:
        if REQUIRED:
            raise ImportError(
                "MANUALNET_REQUIRE_TORCH is set but torch is not importable; "
                "install it with: pip install torch==2.13.0"
            ) from error
        pytest.skip("PyTorch parity tests need torch: pip install torch==2.13.0 "
                    "(or set MANUALNET_REQUIRE_TORCH=1 to make this an error)", allow_module_level=True)
    return torch
