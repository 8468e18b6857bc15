"""float32 end to end: no silent upcast to float64 anywhere in a training step.

A float64 temporary in the hot path doubles its memory traffic and, worse,
quietly turns the result float64; these tests run whole training steps in
float32 and look at every array that comes out or is kept.
"""

import numpy as np
import pytest

import manualnet as mn


def network(rng):
    return mn.Sequential(
        mn.Linear(12, 16, rng=rng), mn.BatchNorm1d(16), mn.ReLU(), mn.Dropout(0.2, rng=rng),
        mn.Linear(16, 8, rng=rng), mn.Tanh(), mn.Linear(8, 4, rng=rng),
    )


def arrays_kept_by(optimizer):
    for state in optimizer.state.values():
        yield from (value for value in state.values() if isinstance(value, np.ndarray))


@pytest.mark.parametrize("make_optimizer", [
    lambda params: mn.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda params: mn.optim.Adam(params, lr=1e-3, weight_decay=1e-4, amsgrad=True),
    lambda params: mn.optim.AdamW(params, lr=1e-3),
])
def test_training_steps_stay_float32(make_optimizer, rng):
    model = network(rng)
    criterion = mn.CrossEntropyLoss()
    optimizer = make_optimizer(model.parameters())
    x = rng.standard_normal((32, 12)).astype(np.float32)
    y = rng.integers(0, 4, 32)
    for _ in range(3):
        optimizer.zero_grad()
        logits = model(x)
        loss = criterion(logits, y)
        grad_input = model.backward(criterion.backward())
        optimizer.step()
        assert logits.dtype == loss.dtype == grad_input.dtype == np.float32
    kept = [p.data for p in model.parameters()] + [p.grad for p in model.parameters()]
    kept += list(arrays_kept_by(optimizer)) + [b for _, b in model.named_buffers() if b.dtype.kind == "f"]
    assert kept and all(array.dtype == np.float32 for array in kept)


@pytest.mark.parametrize("make_loss, target", [
    (mn.BCEWithLogitsLoss, lambda x: (x > 0).astype(np.float32)),
    (mn.BCELoss, lambda x: np.ones_like(x)),
    (mn.MSELoss, lambda x: np.zeros_like(x)),
    (mn.NLLLoss, lambda x: np.zeros(len(x), np.int64)),
])
def test_losses_keep_float32_gradients(make_loss, target, rng):
    x = rng.uniform(0.1, 0.9, (5, 3)).astype(np.float32)
    loss = make_loss()
    assert loss(x, target(x)).dtype == loss.backward().dtype == np.float32
    assert loss.backward(np.float64(2.0)).dtype == np.float32    # a float64 upstream scalar does not upcast


def test_logistic_regression_stays_float32(rng):
    model = mn.LogisticRegression(3, lr=0.1)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0])
    yhat = model(x)
    model.backward(x, yhat, y)
    model.optimize()
    assert yhat.dtype == model.w.data.dtype == model.w.grad.dtype == model.b.grad.dtype == np.float32
