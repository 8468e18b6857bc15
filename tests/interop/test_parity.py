"""Every sample of the registry against PyTorch, value for value, through the one parity helper.

For each public layer with a PyTorch class, and each of its registry
samples (the plain one and those with PyTorch's options), the layer and its
``to_torch`` twin run forward and backward on the same arrays: the output,
the input gradients and every parameter gradient agree to 1e-10 in float64.
"""

import numpy as np
import pytest

import manualnet as mn
from manualnet.registry import ENTRIES

from ..parity import assert_matches_torch

# Dropout's sample fixes its keep-mask as a second input, which PyTorch's Dropout cannot take
# (tests/autograd/test_autograd_parity.py compares it with the mask PyTorch drew).
NO_SHARED_SAMPLE = {mn.Dropout}
SAMPLES = [(entry.layer.__name__ + (f"({option})" if option else ""), make)
           for entry in ENTRIES if entry.torch and entry.layer not in NO_SHARED_SAMPLE
           for option, make in entry.samples.items()]


@pytest.mark.parametrize("name, make", SAMPLES, ids=[name for name, _ in SAMPLES])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_registry_sample_matches_pytorch(name, make, seed):
    module, inputs = make(np.random.default_rng(seed))
    assert_matches_torch(module, inputs, seed)
