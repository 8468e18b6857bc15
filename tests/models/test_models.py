"""The study notes' models: LogisticRegression (its own backward/optimize) and the MLP."""

import numpy as np
import pytest
import scipy.optimize
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import manualnet as mn
from manualnet.testing.gradcheck import check_module, numerical_gradient

from ..strategies import batch_sizes, feature_sizes, random_array, seeds


def labelled_problem(seed, batch, dim, noise=1.0):
    """Inputs, 0/1 labels from a noisy linear rule, and a model with random (non-zero) weights."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, dim))
    y = (x @ rng.standard_normal(dim) + noise * rng.standard_normal(batch) > 0).astype(np.float64)
    model = mn.LogisticRegression(dim, dtype=np.float64)
    model.w.data[...] = rng.standard_normal(dim)
    model.b.data[...] = rng.standard_normal()
    return x, y, model


def loss_of_flat_parameters(model, x, y):
    """L(θ) for θ = [w, b], as scipy wants it."""
    def loss(theta):
        model.w.data[...], model.b.data[...] = theta[:-1], theta[-1]
        return float(model.loss(model(x), y))
    return loss


def gradient_of_flat_parameters(model, x, y):
    """dL/dθ from the model's own backward."""
    def gradient(theta):
        model.w.data[...], model.b.data[...] = theta[:-1], theta[-1]
        model.backward(x, model(x), y)
        return np.append(model.w.grad, model.b.grad)
    return gradient


# -- LogisticRegression ------------------------------------------------------------

@given(batch=batch_sizes, dim=feature_sizes, seed=seeds)
def test_logistic_regression_backward_matches_finite_differences(batch, dim, seed):
    """Property: w.grad = xᵀ(ŷ − y)/N and b.grad = mean(ŷ − y) are the gradient of the mean BCE."""
    x, y, model = labelled_problem(seed, batch, dim)
    theta = np.append(model.w.data, model.b.data)
    analytic = gradient_of_flat_parameters(model, x, y)(theta.copy())
    numeric = numerical_gradient(loss_of_flat_parameters(model, x, y), theta.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_logistic_regression_gradient_agrees_with_scipy_check_grad():
    """SciPy as a second opinion: check_grad's own finite differences agree with backward."""
    x, y, model = labelled_problem(3, 40, 5)
    theta = np.append(model.w.data, model.b.data)
    error = scipy.optimize.check_grad(loss_of_flat_parameters(model, x, y),
                                      gradient_of_flat_parameters(model, x, y), theta)
    assert error < 1e-6


@pytest.mark.slow
def test_logistic_regression_fits_with_scipy_lbfgs_and_with_its_own_optimize():
    """L-BFGS driven by our gradient reaches a stationary point; gradient descent approaches the same loss."""
    x, y, model = labelled_problem(4, 200, 3, noise=2.0)     # overlapping classes: a finite optimum
    loss, gradient = loss_of_flat_parameters(model, x, y), gradient_of_flat_parameters(model, x, y)
    result = scipy.optimize.minimize(loss, np.zeros(4), jac=gradient, method="L-BFGS-B")
    assert result.success and np.linalg.norm(gradient(result.x)) < 1e-4

    learner = mn.LogisticRegression(3, lr=0.5, dtype=np.float64)
    for _ in range(3000):
        learner.backward(x, learner(x), y)
        learner.optimize()
    assert learner.loss(learner(x), y) == pytest.approx(result.fun, rel=1e-3)
    assert np.mean(learner.predict(x) == y) > 0.7


def test_logistic_regression_overwrites_grads_and_optimize_updates_in_place():
    x, y, model = labelled_problem(5, 6, 2)
    model.backward(x, model(x), y)
    first = model.w.grad.copy()
    model.backward(x, model(x), y)
    np.testing.assert_array_equal(model.w.grad, first)      # = , not +=: the whole model, loss included
    w_array = model.w.data
    expected = model.w.data - model.lr * model.w.grad
    model.optimize()
    assert model.w.data is w_array
    np.testing.assert_allclose(model.w.data, expected)


def test_logistic_regression_worked_example():
    """x = [[1, 2], [−1, 0]], y = [1, 0], w = b = 0: ŷ = [½, ½], dL/dw = [−½, −½], dL/db = 0, L = log 2."""
    model = mn.LogisticRegression(2, dtype=np.float64)
    x, y = np.array([[1.0, 2.0], [-1.0, 0.0]]), np.array([1.0, 0.0])
    yhat = model(x)
    np.testing.assert_allclose(yhat, [0.5, 0.5])
    model.backward(x, yhat, y)
    np.testing.assert_allclose(model.w.grad, [-0.5, -0.5])   # xᵀ(ŷ − y)/N = [[1, −1], [2, 0]]·[−½, ½]/2
    np.testing.assert_allclose(model.b.grad, 0.0)
    np.testing.assert_allclose(model.loss(yhat, y), np.log(2))


def test_logistic_regression_rejects_bad_input():
    model = mn.LogisticRegression(3)
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"LogisticRegression\(dim=3, lr=0.01\): expected x of shape \(N, 3\), got shape \(4, 2\)"):
        model(np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"expected labels y in \[0, 1\], got values from 0.0 to 2.0"):
        model.backward(x, model(x), np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"expected y of shape \(4,\), got shape \(3,\)"):
        model.backward(x, model(x), np.zeros(3))
    with pytest.raises(ValueError, match="x has 5 rows but yhat has 4"):
        model.backward(np.zeros((5, 3), np.float32), model(x), np.zeros(4))
    with pytest.raises(ValueError, match="expected a finite learning rate"):
        mn.LogisticRegression(3, lr=float("inf"))
    with pytest.raises(ValueError, match="positive integer"):
        mn.LogisticRegression(0)


@pytest.mark.filterwarnings("error")
def test_logistic_regression_is_stable_for_huge_scores():
    model = mn.LogisticRegression(1, dtype=np.float64)
    model.w.data[...] = 1.0
    x, y = np.array([[1e4], [-1e4]]), np.array([0.0, 1.0])
    yhat = model(x)
    model.backward(x, yhat, y)
    assert np.isfinite(model.loss(yhat, y)) and np.all(np.isfinite(model.w.grad))


# -- MLP ---------------------------------------------------------------------------

@given(batch=batch_sizes, seed=seeds)
def test_mlp_backward_matches_finite_differences(batch, seed):
    """Property: lin_2 → relu → lin_1 in reverse gives every gradient (random weights, so few exact kinks)."""
    model = mn.MLP(xdim=5, hdim=4, ydim=3, rng=seed, dtype=np.float64)
    for p in model.parameters():          # init_param zeroes the biases; move off them
        p.data += random_array(seed, p.shape, 0.1)
    x = random_array(seed + 1, (batch, 5))
    assume(np.any(model.lin_1(x) > 0))    # every hidden unit dead: all gradients 0, nothing to check
    report = check_module(model, x, rng=seed)
    assert report.passed


def test_mlp_init_param_is_kaiming_normal_with_zero_biases():
    model = mn.MLP(xdim=784, hdim=256, ydim=10, rng=0)
    assert abs(model.lin_1.weight.data.std() - np.sqrt(2 / 784)) < 0.02 * np.sqrt(2 / 784)
    assert abs(model.lin_2.weight.data.std() - np.sqrt(2 / 256)) < 0.05 * np.sqrt(2 / 256)
    assert not model.lin_1.bias.data.any() and not model.lin_2.bias.data.any()
    assert list(model.state_dict()) == ["lin_1.weight", "lin_1.bias", "lin_2.weight", "lin_2.bias"]


def test_mlp_can_skip_the_input_gradient(rng):
    model = mn.MLP(xdim=4, hdim=3, ydim=2, rng=0)
    model(rng.standard_normal((2, 4)).astype(np.float32))
    assert model.backward(np.ones((2, 2), np.float32), need_input_grad=False) is None
    assert model.lin_1.weight.grad.any()


# -- CNN ------------------------------------------------------------------

def _randomized_cnn(seed, image_size=8):
    """A float64 CNN with random parameters: normal weights, and BatchNorm's γ in [0.5, 1.5] and β
    small (random, never the init's ones and zeros; a large negative β would switch a ReLU off everywhere)."""
    model = mn.CNN(image_size=image_size, channels=(2, 3), hidden=8, rng=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for name, parameter in model.named_parameters():
        if name in ("features.1.weight", "features.5.weight"):
            parameter.data[...] = rng.uniform(0.5, 1.5, parameter.shape)
        elif name in ("features.1.bias", "features.5.bias"):
            parameter.data[...] = 0.1 * rng.standard_normal(parameter.shape)
        else:
            parameter.data[...] = rng.standard_normal(parameter.shape)
    return model


@settings(max_examples=4)          # each example differentiates ~250 entries through the whole network
@given(batch=st.integers(2, 3), seed=seeds)
@pytest.mark.slow
def test_cnn_backward_matches_finite_differences(batch, seed):
    """Convolution, batch norm, ReLU, max pooling and Linear chained.  Kinks (ReLU at 0, pooling ties) are
    hit with probability ~0 by normal inputs, and the checker excludes any a step crosses."""
    check_module(_randomized_cnn(seed), random_array(seed, (batch, 1, 8, 8)), rng=seed)


@pytest.mark.parametrize("image_size, flat", [(28, 32 * 7 * 7), (8, 32 * 2 * 2)])
def test_cnn_shapes_and_state_dict_keys(image_size, flat, rng):
    model = mn.CNN(image_size=image_size, rng=rng)
    assert model.classifier[1].in_features == flat
    x = rng.random((3, 1, image_size, image_size), dtype=np.float32)
    logits = model(x)
    assert logits.shape == (3, 10) and logits.dtype == np.float32
    assert model.backward(np.ones_like(logits)).shape == x.shape
    assert model.backward(np.ones_like(logits), need_input_grad=False) is None
    assert list(model.state_dict())[:4] == ["features.0.weight", "features.1.weight", "features.1.bias",
                                            "features.1.running_mean"]


def test_cnn_is_reproducible_from_a_seed():
    first, second = mn.CNN(rng=3), mn.CNN(rng=3)
    for key, value in first.state_dict().items():
        np.testing.assert_array_equal(value, second.state_dict()[key])


@pytest.mark.slow
def test_cnn_learns_the_digits():
    """The CI version of the accuracy claim: 2 epochs on the digits already classify most test images
    (chance is 0.1).  The full runs (the digits against the MLP, and MNIST) are in the README."""
    (x_train, y_train), (x_test, y_test) = mn.datasets.load_digits()
    model = mn.CNN(image_size=8, rng=0)
    criterion, optimizer = mn.CrossEntropyLoss(), mn.optim.Adam(model.parameters(), lr=1e-3)
    loader = mn.data.DataLoader(mn.data.TensorDataset(x_train.reshape(-1, 1, 8, 8), y_train), batch_size=64,
                                shuffle=True, seed=0)
    losses = []
    for _ in range(2):
        for x, y in loader:
            optimizer.zero_grad()
            losses.append(float(criterion(model(x), y)))
            model.backward(criterion.backward(), need_input_grad=False)
            optimizer.step()
    model.eval()
    accuracy = (model(x_test.reshape(-1, 1, 8, 8)).argmax(axis=1) == y_test).mean()
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert accuracy > 0.85


def test_cnn_refuses_images_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 16, .*expected input of shape \(N, 1, H, W\).*\(4, 784\)"):
        mn.CNN()(np.zeros((4, 784), np.float32))
