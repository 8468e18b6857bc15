"""The training loop of the study notes, shared by ``python -m manualnet train``, the examples and the benchmarks.

``train_one_epoch`` is the notes' loop with the chain rule made visible::

    optimizer.zero_grad()
    loss = criterion(model(x), y)
    model.backward(criterion.backward())     # what loss.backward() does in PyTorch
    optimizer.step()

and ``func_eval`` is the notes' accuracy function.  The evaluations run
under ``no_grad()``: nothing is kept for a backward that never comes.
"""

import contextlib
import math

import numpy as np

from manualnet._grad_mode import no_grad

EPOCH_LINE = "epoch:[%d] loss:[%.3f] train_accr:[%.3f] test_accr:[%.3f]."   # the study notes' format
EVAL_BATCH_SIZE = 1000
# An epoch whose mean loss is above this many times ln(classes) — the loss of a uniform guess — has diverged.
DIVERGED_LOSS_FACTOR = 10


class Diverged(Exception):
    """The training loss left any sensible range."""


def train_one_epoch(model, criterion, optimizer, loader, progress, epoch):
    """One pass over the training set; returns the mean batch loss (the notes' loss_val_avg).

    ``progress`` has ``show(step)`` and ``close()`` (a ProgressBar).  A loss
    or an activation that turns inf or NaN raises Diverged, naming the step.
    """
    model.train()
    loss_val_sum = 0.0
    with contextlib.closing(progress):           # the bar is erased however the epoch ends
        for step, (batch_in, batch_out) in enumerate(loader, start=1):
            try:
                optimizer.zero_grad()                    # .grad accumulates: clear it first
                y_pred = model(batch_in)
                loss_out = criterion(y_pred, batch_out)
                model.backward(criterion.backward(), need_input_grad=False)   # loss.backward() in PyTorch
                optimizer.step()
            except ValueError:
                # The inputs were checked finite when loaded, so a layer refusing a non-finite
                # value here means the weights themselves blew up.
                raise Diverged(f"at epoch {epoch}, step {step} the activations became inf or NaN") from None
            loss = loss_out.item()
            if not math.isfinite(loss):
                raise Diverged(f"at epoch {epoch}, step {step} the loss became {loss}")
            loss_val_sum += loss
            progress.show(step)
    return loss_val_sum / len(loader)


def check_not_diverged(loss_val_avg, num_classes, epoch):
    """Raise Diverged when an epoch's mean loss is far above a uniform guess's, ln(classes)."""
    guess = math.log(num_classes)
    if loss_val_avg > DIVERGED_LOSS_FACTOR * guess:
        raise Diverged(f"the mean loss of epoch {epoch} is {loss_val_avg:.3g}, far above "
                       f"ln({num_classes}) = {guess:.2f}, the loss of a uniform guess")


@no_grad()
def func_eval(model, data_iter):
    """Accuracy over a loader, in eval mode, as the notes' ``func_eval`` (which ends in train mode)."""
    model.eval()
    n_total, n_correct = 0, 0
    for batch_in, batch_out in data_iter:
        y_pred = model(batch_in).argmax(axis=1)
        n_correct += int((y_pred == batch_out).sum())
        n_total += len(batch_in)
    model.train()
    return n_correct / n_total


@no_grad()
def mean_loss(model, criterion, data_iter):
    """The mean loss per sample over a loader, in eval mode (the plot's test loss)."""
    model.eval()
    total = sum(criterion(model(batch_in), batch_out).item() * len(batch_in) for batch_in, batch_out in data_iter)
    model.train()
    return total / len(data_iter.dataset)


@no_grad()
def confusion_matrix(model, data_iter, num_classes):
    """counts[true, predicted] over a loader, in eval mode; its trace is the number correct."""
    model.eval()
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for batch_in, batch_out in data_iter:
        np.add.at(counts, (batch_out, model(batch_in).argmax(axis=1)), 1)
    model.train()
    return counts


def accuracy_line(counts):
    """'test accuracy: 0.9833 (353/359 correct)' from a confusion matrix."""
    correct, total = int(np.trace(counts)), int(counts.sum())
    return f"test accuracy: {correct / total:.4f} ({correct}/{total} correct)"
