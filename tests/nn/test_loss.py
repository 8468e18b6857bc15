"""CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss: gradients, invariants, stability, bad input."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import check_loss

from ..strategies import (binary_loss_cases, class_loss_cases, logits_and_labels, probabilities_and_targets,
                         random_array, seeds, shapes)

reductions = st.sampled_from(["mean", "sum", "none"])


# -- finite differences --------------------------------------------------------

@given(data=logits_and_labels(), reduction=reductions, seed=seeds)
def test_cross_entropy_backward_matches_finite_differences(data, reduction, seed):
    """Property: the fused gradient (softmax − onehot)·g/N matches central differences."""
    logits, labels = data
    assert check_loss(mn.CrossEntropyLoss(reduction=reduction), logits, labels, rng=seed).passed


@given(data=logits_and_labels(), reduction=reductions, seed=seeds)
def test_nll_backward_matches_finite_differences(data, reduction, seed):
    """Property: dL/dx is −g/N at each target, 0 elsewhere."""
    logits, labels = data
    assert check_loss(mn.NLLLoss(reduction=reduction), logits, labels, rng=seed).passed


@given(data=probabilities_and_targets(), reduction=reductions, seed=seeds)
def test_bce_backward_matches_finite_differences(data, reduction, seed):
    """Property: dL/dp = (p − y) / (p(1 − p)) · g/M matches central differences inside (0, 1)."""
    p, y = data
    assert check_loss(mn.BCELoss(reduction=reduction), p, y, rng=seed).passed


@given(data=probabilities_and_targets(), scale=st.sampled_from([0.5, 3.0, 20.0]), reduction=reductions, seed=seeds)
def test_bce_with_logits_backward_matches_finite_differences(data, scale, reduction, seed):
    """Property: dL/dz = (σ(z) − y)·g/M matches central differences, also for large logits."""
    _, y = data
    z = random_array(seed, y.shape, scale)
    assume(np.max(np.abs(mn.functional.sigmoid(z) - y)) > 1e-6)   # all saturated and right: gradient ~0
    assert check_loss(mn.BCEWithLogitsLoss(reduction=reduction), z, y, rng=seed).passed


@given(shape=shapes(), reduction=reductions, seed=seeds)
def test_mse_backward_matches_finite_differences(shape, reduction, seed):
    """Property: dL/dx = 2(x − y)·g/M matches central differences."""
    x, y = random_array(seed, shape), random_array(seed + 1, shape)
    assert check_loss(mn.MSELoss(reduction=reduction), x, y, rng=seed).passed


# -- invariants ------------------------------------------------------------------

@given(data=logits_and_labels(scale=10.0))
def test_cross_entropy_is_non_negative_and_grad_rows_sum_to_zero(data):
    """Property: −log p >= 0, and each row of (softmax − onehot) sums to 1 − 1 = 0."""
    logits, labels = data
    loss = mn.CrossEntropyLoss()
    assert loss(logits, labels) >= 0
    np.testing.assert_allclose(loss.backward().sum(axis=1), 0.0, atol=1e-12)


@given(data=logits_and_labels(), reduction=reductions, seed=seeds)
def test_nll_of_log_softmax_equals_cross_entropy(data, reduction, seed):
    """Property: NLLLoss(LogSoftmax(z)) = CrossEntropyLoss(z), in value and in gradient."""
    logits, labels = data
    log_softmax, nll, cross_entropy = mn.LogSoftmax(), mn.NLLLoss(reduction=reduction), mn.CrossEntropyLoss(reduction=reduction)
    g = 1.3 if reduction != "none" else random_array(seed, labels.shape)
    np.testing.assert_allclose(nll(log_softmax(logits), labels), cross_entropy(logits, labels), rtol=1e-12)
    np.testing.assert_allclose(log_softmax.backward(nll.backward(g)), cross_entropy.backward(g), atol=1e-12)


@given(data=probabilities_and_targets(), seed=seeds)
def test_bce_with_logits_equals_bce_of_sigmoid(data, seed):
    """Property: BCEWithLogitsLoss(z) = BCELoss(σ(z)), in value and in gradient."""
    _, y = data
    z = random_array(seed, y.shape, 3.0)
    sigmoid, bce, with_logits = mn.Sigmoid(), mn.BCELoss(), mn.BCEWithLogitsLoss()
    np.testing.assert_allclose(with_logits(z, y), bce(sigmoid(z), y), rtol=1e-10)
    np.testing.assert_allclose(with_logits.backward(), sigmoid.backward(bce.backward()), rtol=1e-8, atol=1e-15)


def test_cross_entropy_worked_example():
    """Uniform logits over 4 classes: loss log 4, gradient (1/4 − onehot)/N."""
    loss = mn.CrossEntropyLoss()
    value = loss(np.zeros((2, 4)), np.array([1, 3]))
    np.testing.assert_allclose(value, np.log(4))
    np.testing.assert_allclose(loss.backward(), [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


@pytest.mark.parametrize("reduction, expected", [("mean", 2.5), ("sum", 5.0), ("none", [4.0, 1.0])])
def test_mse_reductions(reduction, expected):
    loss = mn.MSELoss(reduction=reduction)
    np.testing.assert_allclose(loss(np.array([3.0, 0.0]), np.array([1.0, 1.0])), expected)


def test_bce_clamps_log_like_pytorch():
    """p = 0 with y = 1 costs 100 (log clamped at −100), not inf; the gradient stays finite."""
    loss = mn.BCELoss()
    assert loss(np.array([0.0, 1.0]), np.array([1.0, 1.0])) == pytest.approx(50.0)
    assert np.all(np.isfinite(loss.backward()))


def test_losses_return_numpy_scalars_with_item():
    """`loss.item()` works as in PyTorch."""
    value = mn.CrossEntropyLoss()(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert isinstance(value, np.float32) and isinstance(value.item(), float)


# -- dtypes and stability ----------------------------------------------------------

LOSS_CASES = [
    (mn.CrossEntropyLoss, lambda x: np.array([0, 2])),
    (mn.NLLLoss, lambda x: np.array([0, 2])),
    (mn.BCEWithLogitsLoss, lambda x: (x > 0).astype(x.dtype)),
    (mn.MSELoss, lambda x: np.ones_like(x)),
]


@pytest.mark.parametrize("make_loss, make_target", LOSS_CASES + [(mn.BCELoss, lambda x: np.ones_like(x))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_keep_dtype(make_loss, make_target, dtype):
    x = np.array([[0.2, 0.5, 0.7], [0.9, 0.1, 0.4]], dtype=dtype)
    loss = make_loss()
    value = loss(x, make_target(x))
    assert value.dtype == loss.backward().dtype == np.dtype(dtype)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("make_loss, make_target", LOSS_CASES[:3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_are_finite_for_huge_logits(make_loss, make_target, dtype):
    """Logits of magnitude 1e4: finite loss and gradient, no overflow warning (log-sum-exp, stable BCE)."""
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=dtype)
    loss = make_loss()
    assert np.isfinite(loss(x, make_target(x)))
    assert np.all(np.isfinite(loss.backward()))


@pytest.mark.filterwarnings("error")
def test_cross_entropy_of_confident_wrong_logits_is_exact():
    """log-sum-exp keeps the loss exact where a naive log(softmax) would give log(0) = −inf."""
    value = mn.CrossEntropyLoss()(np.array([[1e4, -1e4]]), np.array([1]))
    assert value == pytest.approx(2e4)


# -- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("make_loss", [mn.CrossEntropyLoss, mn.NLLLoss])
def test_class_losses_reject_bad_labels(make_loss):
    loss, logits = make_loss(), np.zeros((3, 4))
    name = type(loss).__name__
    with pytest.raises(ValueError, match=rf"{name}.*class labels must be in \[0, 3\] for 4 classes, got 4"):
        loss(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=rf"{name}.*got -1"):
        loss(logits, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match=rf"{name}.*expected integer class labels \(int64\).*got dtype float64"):
        loss(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=rf"{name}.*expected target of shape \(3,\) \(input \(3, 4\) without its class "
                                         r"dimension 1\), got \(2,\)"):
        loss(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"{name}.*expected target of shape \(\) \(input \(4,\) without its class "
                                         r"dimension 0\), got \(1,\)"):
        loss(np.zeros(4), np.array([0]))
    with pytest.raises(ValueError, match=rf"{name}.*expected input of shape \(N, C\).*got a 0-d array"):
        loss(np.zeros(()), np.array(0))
    with pytest.raises(ValueError, match=rf"{name}.*expected target of shape \(2, 5\) \(input \(2, 3, 5\) without"):
        loss(np.zeros((2, 3, 5)), np.zeros((2, 3), np.int64))


def test_bce_rejects_values_outside_unit_interval():
    """BCELoss takes probabilities and targets in [0, 1] only, as PyTorch (BCEWithLogitsLoss: any target)."""
    with pytest.raises(ValueError, match=r"BCELoss\(\): expected probabilities in \[0, 1\], got values from -0.5 to 1.0; apply Sigmoid"):
        mn.BCELoss()(np.array([-0.5, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"BCELoss\(\): expected target values in \[0, 1\], got values from 0.0 to 2.0"):
        mn.BCELoss()(np.array([0.5, 0.5]), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"BCEWithLogitsLoss\(\): expected target of shape \(2,\) \(the shape of input\), got shape \(3,\)"):
        mn.BCEWithLogitsLoss()(np.zeros(2), np.zeros(3))


def test_losses_reject_bad_reduction_and_grad_output():
    with pytest.raises(ValueError, match="reduction must be one of"):
        mn.MSELoss(reduction="average")
    loss = mn.MSELoss()
    with pytest.raises(RuntimeError, match="MSELoss.backward called before forward"):
        loss.backward()
    loss(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="grad_output must be a finite number"):
        loss.backward(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="grad_output must be a finite number"):
        loss.backward(float("nan"))
    per_element = mn.MSELoss(reduction="none")
    per_element(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(3,\)"):
        per_element.backward(np.ones(2))


def test_losses_reject_nan_logits_with_a_hint():
    with pytest.raises(ValueError, match="CrossEntropyLoss.*non-finite.*learning rate"):
        mn.CrossEntropyLoss()(np.array([[np.nan, 0.0]]), np.array([0]))


def test_loss_backward_out_of_pytorch_habit_says_what_to_write_instead():
    """The notes' `loss.backward()`: the loss is a plain number here, and says so."""
    loss = mn.CrossEntropyLoss()(np.zeros((2, 3), np.float32), np.array([0, 1]))
    with pytest.raises(RuntimeError, match=r"model.backward\(criterion.backward\(\)\) is what loss.backward\(\) does"):
        loss.backward()
    assert isinstance(loss, np.float32) and isinstance(loss.item(), float)
    assert f"{loss:.3f}" == "1.099" and loss == np.float32(np.log(3)) and str(loss) == str(np.float32(np.log(3)))


@pytest.mark.parametrize("reduction, expected", [("mean", np.nan), ("sum", 0.0)])
def test_cross_entropy_of_an_empty_batch_is_what_torch_gives(reduction, expected):
    """PyTorch: nan for the mean of no samples (0/0), 0 for their sum — and no NumPy warning here."""
    loss = mn.CrossEntropyLoss(reduction=reduction)
    value = loss(np.zeros((0, 3), np.float32), np.zeros(0, np.int64))
    np.testing.assert_equal(value, np.float32(expected))
    assert loss.backward().shape == (0, 3)


# == weight, ignore_index, label_smoothing, class probabilities, any layout, pos_weight ==========

def without_reduction(options):
    return {name: value for name, value in options.items() if name != "reduction"}


@given(case=class_loss_cases(smoothing=True, min_classes=2))
def test_cross_entropy_options_backward_matches_finite_differences(case):
    """Property: with weight, ignore_index, label_smoothing, in every layout, dL/dz = s·p − u matches central differences."""
    input, target, options = case
    assert check_loss(mn.CrossEntropyLoss(**options), input, target, rng=0).passed


@given(case=class_loss_cases(smoothing=True, probabilities=True, min_classes=2))
def test_cross_entropy_probability_targets_backward_matches_finite_differences(case):
    """Property: class-probability targets, with weight and smoothing: the same s·p − u."""
    input, target, options = case
    assert check_loss(mn.CrossEntropyLoss(**options), input, target, rng=0).passed


@given(case=class_loss_cases(min_classes=2))
def test_nll_options_backward_matches_finite_differences(case):
    """Property: −w_y g / Σw at each kept target, 0 elsewhere, in every layout."""
    input, target, options = case
    assert check_loss(mn.NLLLoss(**options), input, target, rng=0).passed


@given(case=binary_loss_cases(logits=True))
def test_bce_with_logits_weight_and_pos_weight_backward_matches_finite_differences(case):
    """Property: w((1 + (c − 1) y) σ(z) − c y)·g/M, any shape, broadcast weights, targets outside [0, 1]."""
    input, target, options = case
    loss = mn.BCEWithLogitsLoss(**options)
    assume(np.max(np.abs(loss._weighted_gradient(input, target)), initial=0) > 1e-6)   # all saturated: ~0
    assert check_loss(loss, input, target, rng=0).passed


@given(case=binary_loss_cases(logits=False))
def test_bce_weight_backward_matches_finite_differences(case):
    input, target, options = case
    assert check_loss(mn.BCELoss(**options), input, target, rng=0).passed


@given(case=class_loss_cases(smoothing=True), seed=seeds)
def test_cross_entropy_options_equal_nll_of_log_softmax_plus_the_smoothing_term(case, seed):
    """Property: CE(w, ignore, ε) = (1 − ε)·NLL(LogSoftmax(z); w, ignore) + ε/C·Σ_c w_c(−log p_c)/Σw (PyTorch's own sum)."""
    input, target, options = case
    axis = 1 if input.ndim > 1 else 0
    smoothing, weight = options.get("label_smoothing", 0.0), options.get("weight")
    nll_options = without_reduction(options)
    nll_options.pop("label_smoothing", None)
    log_p = mn.LogSoftmax(dim=axis)(input)
    per_position = mn.NLLLoss(reduction="none", **nll_options)(log_p, target)
    kept = target != options.get("ignore_index", -100)
    class_weight = np.ones(input.shape[axis]) if weight is None else weight
    shape = [1] * input.ndim
    shape[axis] = -1
    smooth = -np.sum(log_p * class_weight.reshape(shape), axis=axis) * kept
    expected = (1 - smoothing) * per_position + smoothing / input.shape[axis] * smooth
    total = np.sum(class_weight[np.where(kept, target, 0)] * kept)
    expected = {"none": expected, "sum": expected.sum(), "mean": expected.sum() / total}[options["reduction"]]
    np.testing.assert_allclose(mn.CrossEntropyLoss(**options)(input, target), expected, rtol=1e-12, atol=1e-14)


@given(case=class_loss_cases(smoothing=True, min_classes=2))
def test_cross_entropy_gradient_sums_to_zero_along_classes_only_without_weight(case):
    """Property: s·p − u sums to s − Σu = 0 over the classes at every position (any weight, any smoothing)."""
    input, target, options = case
    loss = mn.CrossEntropyLoss(**without_reduction(options))
    loss(input, target)
    np.testing.assert_allclose(loss.backward().sum(axis=1 if input.ndim > 1 else 0), 0.0, atol=1e-12)


@given(data=logits_and_labels(), seed=seeds)
def test_a_constant_weight_changes_nothing_under_the_mean(data, seed):
    """The weighted mean divides by Σ w_{y_n}: a weight of 2.5 for every class cancels (over N it would not)."""
    logits, labels = data
    weighted, plain = mn.CrossEntropyLoss(weight=np.full(logits.shape[1], 2.5)), mn.CrossEntropyLoss()
    np.testing.assert_allclose(weighted(logits, labels), plain(logits, labels), rtol=1e-14)
    np.testing.assert_allclose(weighted.backward(), plain.backward(), rtol=1e-13, atol=1e-16)


@given(data=logits_and_labels(max_batch=8), seed=seeds)
def test_ignored_positions_are_as_if_left_out(data, seed):
    """ignore_index: the loss and the kept rows' gradient equal those of the batch without the ignored rows."""
    logits, labels = data
    ignored = np.random.default_rng(seed).random(len(labels)) < 0.5
    assume(not ignored.all())
    marked = np.where(ignored, -100, labels)
    for make in (lambda: mn.CrossEntropyLoss(weight=np.linspace(0.5, 2, logits.shape[1]), label_smoothing=0.2),
                 lambda: mn.NLLLoss(weight=np.linspace(0.5, 2, logits.shape[1]))):
        with_ignored, without = make(), make()
        np.testing.assert_allclose(with_ignored(logits, marked), without(logits[~ignored], labels[~ignored]),
                                   rtol=1e-13)
        grad = with_ignored.backward()
        np.testing.assert_allclose(grad[~ignored], without.backward(), rtol=1e-12, atol=1e-15)
        assert np.all(grad[ignored] == 0)


@given(data=logits_and_labels(), smoothing=st.floats(0, 1), seed=seeds)
def test_one_hot_probability_targets_equal_class_labels(data, smoothing, seed):
    """A one-hot float target is the label it encodes: same loss, same gradient (without weight, or with it
    under 'sum', since the mean of probabilities divides by N and the labels' by Σ w_{y_n})."""
    logits, labels = data
    one_hot = np.eye(logits.shape[1])[labels]
    weight = np.random.default_rng(seed).uniform(0.5, 2, logits.shape[1])
    for options in ({"label_smoothing": smoothing}, {"weight": weight, "reduction": "sum", "label_smoothing": smoothing}):
        as_labels, as_probabilities = mn.CrossEntropyLoss(**options), mn.CrossEntropyLoss(**options)
        np.testing.assert_allclose(as_probabilities(logits, one_hot), as_labels(logits, labels), rtol=1e-12)
        np.testing.assert_allclose(as_probabilities.backward(), as_labels.backward(), rtol=1e-12, atol=1e-15)


@given(case=class_loss_cases(smoothing=True))
def test_positions_are_samples(case):
    """(N, C, d...) equals the same positions as rows of (N·d..., C), and (C,) equals a batch of one."""
    input, target, options = case
    axis = 1 if input.ndim > 1 else 0
    rows = np.moveaxis(input, axis, -1).reshape(-1, input.shape[axis])
    loss, flat = mn.CrossEntropyLoss(**options), mn.CrossEntropyLoss(**options)
    value, flat_value = loss(input, target), flat(rows, target.reshape(-1))
    np.testing.assert_allclose(np.reshape(value, -1), np.reshape(flat_value, -1), rtol=1e-13)
    upstream = 0.7 if options["reduction"] != "none" else random_array(1, np.shape(value))
    flat_grad = flat.backward(np.reshape(upstream, -1) if options["reduction"] == "none" else upstream)
    expected = np.moveaxis(flat_grad.reshape(np.moveaxis(input, axis, -1).shape), -1, axis)
    np.testing.assert_allclose(loss.backward(np.asarray(upstream) if options["reduction"] == "none" else upstream),
                               expected, rtol=1e-12, atol=1e-15)


def test_all_positions_ignored_gives_pytorchs_nan_mean_and_no_gradient():
    """0/0 for the mean (nan, as PyTorch), 0 for the sum; the gradient is 0 either way, never nan."""
    logits, labels = np.random.default_rng(0).standard_normal((3, 4)), np.full(3, 2)
    for reduction, expected in (("mean", np.nan), ("sum", 0.0)):
        for loss in (mn.CrossEntropyLoss(ignore_index=2, reduction=reduction, label_smoothing=0.1),
                     mn.CrossEntropyLoss(weight=np.ones(4), ignore_index=2, reduction=reduction),
                     mn.NLLLoss(ignore_index=2, reduction=reduction)):
            np.testing.assert_equal(loss(logits, labels), expected)
            np.testing.assert_array_equal(loss.backward(), 0.0)


def test_cross_entropy_weighted_mean_worked_example():
    """derivations/cross_entropy.md's worked example: weights (2, 1, 0.5), labels (2, 0, 1 ignored)."""
    z = np.array([[0.0, 0.0, np.log(2)], [np.log(3), 0.0, 0.0], [1.0, 2.0, 3.0]])
    loss = mn.CrossEntropyLoss(weight=np.array([2.0, 1.0, 0.5]), ignore_index=1)
    value = loss(z, np.array([2, 0, 1]))
    np.testing.assert_allclose(value, (0.5 * np.log(2) - 2 * np.log(0.6)) / 2.5, rtol=1e-15)   # Σ w_y = 2.5
    np.testing.assert_allclose(loss.backward(), [[0.05, 0.05, -0.1], [-0.32, 0.16, 0.16], [0, 0, 0]], rtol=1e-14)


def test_label_smoothing_worked_example():
    """derivations/cross_entropy.md: ε = 0.3 over C = 3 classes, uniform logits: the loss is log 3, dz = p − q."""
    loss = mn.CrossEntropyLoss(label_smoothing=0.3)
    np.testing.assert_allclose(loss(np.zeros((1, 3)), np.array([0])), np.log(3), rtol=1e-15)
    np.testing.assert_allclose(loss.backward(), [[1 / 3 - 0.8, 1 / 3 - 0.1, 1 / 3 - 0.1]], rtol=1e-14)


def test_pos_weight_worked_example():
    """derivations/bce.md: z = 0, y = 1, c = 3: l = 3 log 2, dl/dz = 3·½ − 3 = −1.5; y = 0: l = log 2, dl/dz = ½."""
    loss = mn.BCEWithLogitsLoss(reduction="none", pos_weight=np.array([3.0]))
    np.testing.assert_allclose(loss(np.zeros(2), np.array([1.0, 0.0])), [3 * np.log(2), np.log(2)], rtol=1e-15)
    np.testing.assert_allclose(loss.backward(np.ones(2)), [-1.5, 0.5], rtol=1e-15)


@given(case=binary_loss_cases(logits=True))
def test_pos_weight_one_and_weight_one_change_nothing(case):
    input, target, options = case
    plain = mn.BCEWithLogitsLoss(reduction=options["reduction"])
    ones = mn.BCEWithLogitsLoss(reduction=options["reduction"], weight=np.array(1.0), pos_weight=np.array(1.0))
    np.testing.assert_allclose(ones(input, target), plain(input, target), rtol=1e-13, atol=1e-15)
    upstream = 1.3 if options["reduction"] != "none" else np.asarray(random_array(2, input.shape))
    np.testing.assert_allclose(ones.backward(upstream), plain.backward(upstream), rtol=1e-12, atol=1e-15)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pos_weight_form_is_finite_for_huge_logits(dtype):
    """(1 − y) z + c·softplus(−z) never exponentiates a positive number: logits of ±1e4 stay finite and exact."""
    z = np.array([1e4, -1e4, 1e4, -1e4], dtype)
    loss = mn.BCEWithLogitsLoss(reduction="none", pos_weight=np.array(3.0))
    values = loss(z, np.array([1.0, 1.0, 0.0, 0.0], dtype))
    np.testing.assert_array_equal(values, np.array([0.0, 3e4, 1e4, 0.0], dtype))
    np.testing.assert_array_equal(loss.backward(np.ones(4, dtype)), np.array([0.0, -3.0, 1.0, 0.0], dtype))


def test_bce_with_logits_takes_targets_outside_the_unit_interval_as_numbers():
    """PyTorch does not check them (it is a formula, not a probability): l = max(z, 0) − z y + log(1 + e^{−|z|})."""
    z, y = np.array([1.0, -2.0]), np.array([2.0, -0.5])
    loss = mn.BCEWithLogitsLoss(reduction="none")
    np.testing.assert_allclose(loss(z, y), np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), rtol=1e-15)


@pytest.mark.parametrize("make_loss, args", [
    (mn.BCELoss, (np.array([0.3, 0.8]), np.array([0.0, 1.0]))),
    (mn.BCEWithLogitsLoss, (np.array([0.3, -0.8]), np.array([0.0, 1.0]))),
    (mn.MSELoss, (np.array([0.3, -0.8]), np.array([0.0, 1.0]))),
])
def test_elementwise_losses_take_0d_inputs_as_pytorch(make_loss, args):
    """One element, no dimensions: a 0-d loss and a 0-d gradient (arrays, not NumPy scalars)."""
    x, y = (np.asarray(a[0]) for a in args)
    for reduction in ("mean", "none"):
        loss = make_loss(reduction=reduction)
        value = loss(x, y)
        grad = loss.backward()
        assert np.shape(value) == () and isinstance(grad, np.ndarray) and grad.shape == ()
        per_element = make_loss(reduction="none")
        per_element(*args)
        np.testing.assert_allclose(grad, per_element.backward(np.array([1.0, 0.0]))[0], rtol=1e-15)


def test_the_constants_are_private_copies_and_state_dict_buffers():
    """weight and pos_weight are copied (editing the caller's array changes nothing) and saved as in PyTorch."""
    weight, pos_weight = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0])
    loss = mn.BCEWithLogitsLoss(weight=weight, pos_weight=pos_weight)
    x, y = np.zeros((2, 3)), np.ones((2, 3))
    before = loss(x, y)
    weight[...], pos_weight[...] = 0.0, 0.0
    assert loss(x, y) == before
    assert sorted(loss.state_dict()) == ["pos_weight", "weight"]
    assert list(mn.CrossEntropyLoss(weight=[1, 2]).state_dict()) == ["weight"]
    assert mn.CrossEntropyLoss().state_dict() == {}
    restored = mn.BCEWithLogitsLoss(weight=np.zeros(3), pos_weight=np.zeros(3))
    restored.load_state_dict(loss.state_dict())
    assert restored(x, y) == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_options_keep_the_inputs_dtype(dtype):
    """Class weights given as numbers take the input's dtype; BCE's float64 weights are cast to a float32
    input's, so the loss and gradient stay in the input's dtype."""
    x = np.array([[0.2, 0.5, 0.7], [0.9, 0.1, 0.4]], dtype=dtype)
    for loss, target in ((mn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0], label_smoothing=0.1), np.array([0, 2])),
                         (mn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0]), np.full((2, 3), 1 / 3, dtype)),
                         (mn.NLLLoss(weight=[1.0, 2.0, 3.0], ignore_index=0), np.array([0, 2])),
                         (mn.BCELoss(weight=np.array([1.0, 2.0, 3.0])), np.ones((2, 3), dtype)),
                         (mn.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 3.0])), np.ones((2, 3), dtype))):
        value = loss(x, target)
        assert value.dtype == loss.backward().dtype == np.dtype(dtype), loss


@pytest.mark.parametrize("loss", [mn.NLLLoss, mn.CrossEntropyLoss])
@pytest.mark.parametrize("weight_dtype, input_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_a_class_weight_array_of_another_dtype_than_the_input_is_refused_as_in_pytorch(loss, weight_dtype,
                                                                                        input_dtype):
    """PyTorch: "expected scalar type Float but found Double"; manualnet used to cast the weight silently."""
    criterion = loss(weight=np.array([1.0, 2.0, 3.0], weight_dtype))
    x, y = np.full((2, 3), -1.0, input_dtype), np.array([0, 2])
    with pytest.raises(TypeError, match=rf"{loss.__name__}\(weight=\[1., 2., 3.\]\): expected input of the weight's "
                                        rf"dtype {np.dtype(weight_dtype)}, got {np.dtype(input_dtype)}; a dtype mismatch "
                                        r"is an error, not a silent cast"):
        criterion(x, y)
    assert criterion.astype(input_dtype)(x, y).dtype == input_dtype      # converting the loss converts its weight


@pytest.mark.parametrize("build, error, message", [
    (lambda: mn.CrossEntropyLoss("sum"), TypeError,
     r"CrossEntropyLoss: expected weight to be an array of numbers, got the string 'sum'; weight is the first "
     r"positional argument, as in PyTorch: pass reduction='sum' by name"),
    (lambda: mn.MSELoss("sum"), TypeError, r"MSELoss: got size_average='sum'.*pass the reduction by name: reduction='sum'"),
    (lambda: mn.NLLLoss(size_average=False), TypeError,
     r"NLLLoss: size_average and reduce are PyTorch's deprecated spellings of reduction.*write reduction='sum'"),
    (lambda: mn.BCELoss(reduce=False), TypeError, r"write reduction='none'"),
    (lambda: mn.CrossEntropyLoss(label_smoothing=1.5), ValueError, r"label_smoothing must be between 0.0 and 1.0.*1.5"),
    (lambda: mn.CrossEntropyLoss(label_smoothing=-0.1), ValueError, r"label_smoothing must be between"),
    (lambda: mn.NLLLoss(ignore_index=1.5), TypeError, r"expected ignore_index to be an integer"),
    (lambda: mn.CrossEntropyLoss(weight=np.array([1.0, np.nan])), ValueError, r"weight contains 1 non-finite"),
    (lambda: mn.CrossEntropyLoss(weight=2.0), ValueError, r"weight must hold one value per class \(shape \(C,\)\), got shape \(\)"),
    (lambda: mn.NLLLoss(weight=np.ones((4, 1))), ValueError, r"NLLLoss: weight must hold one value per class.*\(4, 1\)"),
    (lambda: mn.BCEWithLogitsLoss(pos_weight=["a"]), TypeError, r"expected pos_weight to be an array of numbers"),
])
def test_bad_options_are_refused_by_name(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("loss, input, target, error, message", [
    (mn.CrossEntropyLoss(weight=np.ones(3)), np.zeros((2, 4)), np.array([0, 1]), ValueError,
     r"weight must hold one value per class, 4 for this input, got shape \(3,\)"),
    (mn.CrossEntropyLoss(ignore_index=0), np.zeros((2, 3)), np.full((2, 3), 1 / 3), ValueError,
     r"ignore_index=0 applies to class labels only"),
    (mn.CrossEntropyLoss(), np.zeros((2, 3)), np.zeros((2, 3), np.int64), TypeError,
     r"a target of the input's shape \(2, 3\) holds class probabilities and must be a float array"),
    (mn.CrossEntropyLoss(), np.zeros((2, 3)), np.array([[np.nan, 0, 1], [0, 0, 1]]), ValueError,
     r"target contains 1 non-finite"),
    (mn.CrossEntropyLoss(ignore_index=7), np.zeros((2, 3)), np.array([7, 3]), ValueError,
     r"class labels must be in \[0, 2\] for 3 classes \(or ignore_index=7\), got 3"),
    (mn.NLLLoss(), np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, r"expected integer class labels \(int64\), got"),
    (mn.BCEWithLogitsLoss(weight=np.ones(4)), np.zeros((2, 3)), np.zeros((2, 3)), ValueError,
     r"weight of shape \(4,\) does not broadcast to the input's shape \(2, 3\)"),
    (mn.BCEWithLogitsLoss(pos_weight=np.ones((2, 2, 3))), np.zeros((2, 3)), np.zeros((2, 3)), ValueError,
     r"pos_weight of shape \(2, 2, 3\) does not broadcast.*not add to them"),
    (mn.BCELoss(weight=np.ones(2)), np.full((2, 3), 0.5), np.zeros((2, 3)), ValueError, r"weight of shape \(2,\)"),
])
def test_bad_inputs_for_the_options_are_refused_naming_the_loss(loss, input, target, error, message):
    with pytest.raises(error, match=type(loss).__name__ + r"\(.*" + message):
        loss(input, target)


def test_the_options_show_in_the_losss_name():
    loss = mn.CrossEntropyLoss(weight=np.array([1.0, 2.0]), ignore_index=0, reduction="sum", label_smoothing=0.1)
    assert loss.describe() == ("CrossEntropyLoss(weight=[1., 2.], reduction='sum', ignore_index=0, "
                               "label_smoothing=0.1)")
    assert mn.BCEWithLogitsLoss(pos_weight=np.array([3.0])).describe() == "BCEWithLogitsLoss(pos_weight=[3.])"
