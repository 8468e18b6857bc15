"""Hypothesis strategies shared by the tests.

The general ones (arrays, shapes, seeds, batches, labels) are the public
``manualnet.testing.strategies``, the same ones a learner uses for property
tests of their own layers; strategies only this suite needs go below.
``margin`` keeps every value at least that far from 0, the kink of ReLU and
LeakyReLU: with a finite-difference step of 1e-6 · max(1, |x|), a margin of
0.01 means no step can cross the kink.
"""

from manualnet.testing.strategies import (  # noqa: F401  (re-exported for the tests)
    KINK_MARGIN,
    arrays,
    away_from_kinks,
    batch_sizes,
    batches,
    class_labels,
    feature_sizes,
    float_dtypes,
    logits_and_labels,
    probabilities_and_targets,
    random_array,
    seeds,
    shapes,
)


# -- convolution and pooling (issue 14) ------------------------------------------------

import numpy as np  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def conv_configs(draw, dims=2, padding_modes=("zeros",), max_extra=3):
    """(Conv keyword arguments, input shape) covering the issue's grid, small enough for finite differences.

    kernel 1–5, stride 1–3, padding 0–2 or 'same'/'valid', dilation 1–3 (each
    per axis), groups 1–3 including depthwise (groups = in_channels), bias or
    not, batch 1–3, and input sides from the smallest that fits the dilated
    kernel to ``max_extra`` more (so odd and even sizes both come up).
    """
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding_mode = draw(st.sampled_from(padding_modes))
    padding = draw(st.sampled_from(["same", "valid", "ints"]))
    stride = (1,) * dims if padding == "same" else tuple(draw(st.integers(1, 3)) for _ in range(dims))
    if padding == "ints":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    if padding == "same":
        amounts = [dilation_i * (kernel_i - 1) for kernel_i, dilation_i in zip(kernel, dilation)]
        widest = [amount - amount // 2 for amount in amounts]
    else:
        amounts = [0] * dims if padding == "valid" else [2 * p for p in padding]
        widest = [amount // 2 for amount in amounts]
    sides = []
    for k, d, total, wide in zip(kernel, dilation, amounts, widest):
        smallest = max(1, d * (k - 1) + 1 - total)
        if padding_mode != "zeros":
            smallest = max(smallest, wide + 1)          # reflect needs padding < size
        sides.append(smallest + draw(st.integers(0, max_extra)))
    batch = draw(st.integers(1, 3))
    kwargs = dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel, stride=stride,
                  padding=padding, dilation=dilation, groups=groups, bias=draw(st.booleans()),
                  padding_mode=padding_mode)
    return kwargs, (batch, in_channels, *sides)


@st.composite
def pool_configs(draw, average=False, max_extra=3):
    """(MaxPool2d or AvgPool2d keyword arguments, input shape): kernel 1–5, stride 1–3 or None,
    padding 0 to kernel/2, dilation 1–3 (max only), ceil_mode, count_include_pad and divisor_override
    (average only); input sides from the smallest that fits to ``max_extra`` more."""
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(2))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (1, 1) if average else tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    if average:
        kwargs.update(count_include_pad=draw(st.booleans()),
                      divisor_override=draw(st.one_of(st.none(), st.integers(1, 7))))
    else:
        kwargs.update(dilation=dilation)
    sides = [max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, max_extra))
             for k, d, p in zip(kernel, dilation, padding)]
    return kwargs, (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *sides)


def distinct_values(seed, shape, spacing=0.01):
    """A random arrangement of values at least ``spacing`` apart: no window has a tie, and no
    finite-difference step (1e-6 · max(1, |x|)) can change which entry is a window's maximum."""
    rng = np.random.default_rng(seed)
    values = spacing * rng.permutation(int(np.prod(shape))).reshape(shape)
    return values - values.mean()
