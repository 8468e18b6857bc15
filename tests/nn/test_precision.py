"""Precision at any offset: the softmax losses are within a few ulp of the exact value.

The reference is computed from the very same float inputs in 60-digit
decimal arithmetic (``decimal``), then rounded to the dtype: the correctly
rounded value.  Logits are offset + N(0, 1)·scale at offsets 0, 1e4 and 1e8,
in float32 and float64.  The naive form (max + log Σ e^{z − max}) − z_y
cancels at large offsets (1e8 in float32 gives 0 instead of log C), and
log(1 + rest) rounds a small loss away; derivations/cross_entropy.md
("Numerical stability") shows why the code's form does neither.
"""

import decimal

import numpy as np
import pytest

import manualnet as mn

ULP_BOUND = 4
decimal.getcontext().prec = 60


def exact_log_softmax(z):
    """log softmax of each row of z in 60-digit decimals, from the exact values of z's entries."""
    rows = []
    for row in z.tolist():
        peak = decimal.Decimal(max(row))
        shifted = [decimal.Decimal(value) - peak for value in row]
        log_total = sum(s.exp() for s in shifted).ln()
        rows.append([s - log_total for s in shifted])
    return rows


def ulps(ours, exact, dtype):
    """|ours − exact| in units of the last place of the correctly rounded exact value."""
    rounded = np.array([[float(v) for v in row] for row in exact]).astype(dtype)
    return np.abs(ours.astype(np.float64) - rounded.astype(np.float64)) / np.spacing(np.abs(rounded))


def logits(seed, offset, scale, dtype):
    return (offset + np.random.default_rng(seed).standard_normal((16, 10)) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e4, 1e8])
@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_cross_entropy_is_within_a_few_ulp_at_any_offset(dtype, offset, scale):
    for seed in range(4):
        z = logits(seed, offset, scale, dtype)
        labels = np.random.default_rng(seed + 100).integers(0, 10, len(z))
        losses = mn.CrossEntropyLoss(reduction="none")(z, labels)
        exact = [[-row[label]] for row, label in zip(exact_log_softmax(z), labels)]
        assert ulps(losses[:, None], exact, dtype).max() <= ULP_BOUND


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e4, 1e8])
def test_log_softmax_is_within_a_few_ulp_at_any_offset(dtype, offset):
    z = logits(0, offset, 1.0, dtype)
    assert ulps(mn.LogSoftmax(dim=1)(z), exact_log_softmax(z), dtype).max() <= ULP_BOUND


def test_a_confident_right_answer_keeps_its_small_loss():
    """log(1 + rest) would round rest = 1e-9 away in float32 (loss 0); log1p(rest) keeps it."""
    z = np.array([[0.0, -20.7, -21.3]], np.float32)
    loss = mn.CrossEntropyLoss()(z, np.array([0]))
    exact = -exact_log_softmax(z)[0][0]
    assert loss > 0 and abs(float(loss) - float(exact)) <= ULP_BOUND * np.spacing(np.float32(exact))


def test_equal_logits_of_1e8_give_log_c_in_float32():
    z = np.full((4, 10), 1e8, np.float32)
    assert mn.CrossEntropyLoss()(z, np.zeros(4, np.int64)) == np.float32(np.log(10))
    np.testing.assert_array_equal(mn.LogSoftmax()(z), np.float32(-np.log(10)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_gradient_is_accurate_at_offset_1e4(dtype):
    """dx = G − p ΣG with p from the shifted logits: error a few ulp of the terms, not 1e-3."""
    z = logits(1, 1e4, 1.0, dtype)
    G = np.random.default_rng(2).standard_normal(z.shape).astype(dtype)
    layer = mn.LogSoftmax(dim=1)
    layer(z)
    dx = layer.backward(G)
    exact_p = np.array([[float(v.exp()) for v in row] for row in exact_log_softmax(z)])
    exact = G.astype(np.float64) - exact_p * G.astype(np.float64).sum(axis=1, keepdims=True)
    terms = np.abs(G) + exact_p * np.abs(G).sum(axis=1, keepdims=True)
    assert np.all(np.abs(dx - exact) <= 2 * ULP_BOUND * np.finfo(dtype).eps * terms)


def test_mse_gradient_stays_finite_for_differences_near_the_float32_limit():
    """2 (x − y) overflows for |x − y| > 1.7e38; 2·g/M is taken first, as PyTorch does."""
    x = np.array([3e38, -3e38, 1.0, 2.0], np.float32)
    loss = mn.MSELoss()
    with np.errstate(over="ignore"):                 # the loss itself is inf, as in PyTorch
        loss(x, np.zeros(4, np.float32))
    grad = loss.backward()
    assert np.all(np.isfinite(grad)) and grad[0] == np.float32(1.5e38)


# -- the options keep the precision ---------------------------------------------------
# Every option's loss is computed from the same shifted logits: −log p_c = log Σ − s_c for each
# class, then at most a product (a weight, a target probability) and a sum over the classes.

def exact_losses(z, weighted_targets):
    """−Σ_c u_c log p_c per row, in 60-digit decimals, for the float targets u given (their exact values)."""
    return [[-sum(decimal.Decimal(float(u)) * log_p for u, log_p in zip(row_u, row))]
            for row_u, row in zip(weighted_targets, exact_log_softmax(z))]


def option_cases(dtype, seed, classes=10):
    """(CrossEntropyLoss options, target, u = w ⊙ q per row as it enters the loss) for each option."""
    rng = np.random.default_rng(seed + 100)
    labels = rng.integers(0, classes, 16)
    one_hot = np.eye(classes)[labels]
    weight = rng.uniform(0.2, 3.0, classes).astype(dtype)
    scores = np.exp(rng.standard_normal((16, classes)))
    probabilities = (scores / scores.sum(axis=1, keepdims=True)).astype(dtype)
    smoothing = 0.1
    return {
        "weight": ({"weight": weight}, labels, one_hot * weight),
        "label_smoothing": ({"label_smoothing": smoothing}, labels,
                            one_hot * dtype(1 - smoothing) + dtype(smoothing / classes)),
        "probabilities": ({}, probabilities, probabilities),
        "ignore_index": ({"ignore_index": int(labels[0])}, labels, one_hot * (labels != labels[0])[:, None]),
    }


@pytest.mark.parametrize("option", ["weight", "label_smoothing", "probabilities", "ignore_index"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e4, 1e8])
@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_cross_entropy_options_are_within_a_few_ulp_at_any_offset(option, dtype, offset, scale):
    for seed in range(4):
        z = logits(seed, offset, scale, dtype)
        options, target, weighted_targets = option_cases(dtype, seed)[option]
        losses = mn.CrossEntropyLoss(reduction="none", **options)(z, target)
        counted = np.any(weighted_targets != 0, axis=1)                     # an ignored row is exactly 0
        assert np.all(losses[~counted] == 0)
        exact = [row for row, keep in zip(exact_losses(z, weighted_targets), counted) if keep]
        assert ulps(losses[counted, None], exact, dtype).max() <= ULP_BOUND


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e4, 1e8])
def test_cross_entropy_per_position_and_one_sample_are_within_a_few_ulp(dtype, offset):
    """(N, C, d) and (C,) inputs take the same path as rows: the same precision."""
    z = logits(3, offset, 3.0, dtype)                                         # 16 rows of 10 classes
    labels = np.random.default_rng(7).integers(0, 10, 16)
    positions = np.moveaxis(z.reshape(4, 4, 10), -1, 1)                      # (4, 10, 4): rows as positions
    per_position = mn.CrossEntropyLoss(reduction="none")(positions, labels.reshape(4, 4)).reshape(-1)
    one_sample = np.array([mn.CrossEntropyLoss()(row, np.array(label)) for row, label in zip(z, labels)])
    exact = [[-row[label]] for row, label in zip(exact_log_softmax(z), labels)]
    assert ulps(per_position[:, None], exact, dtype).max() <= ULP_BOUND
    assert ulps(one_sample[:, None], exact, dtype).max() <= ULP_BOUND
