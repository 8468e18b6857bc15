"""BatchNorm1d and BatchNorm2d: normalise each channel by batch statistics in training, by running ones in eval.

One implementation serves both: the statistics of channel c are taken over
every axis but the channel axis 1 — (N) or (N, L) for BatchNorm1d, (N, H, W)
for BatchNorm2d — and the derivation is the same page.  Each forward and
backward line carries the number of its equation in derivations/batchnorm.md.
"""

import math
import numbers

import numpy as np

from manualnet._threads import threads_for
from manualnet._checks import check_device, check_dtype_matches, check_float_array, check_grad_output, check_positive_int
from manualnet.nn._version_counter import check_versions, versions
from manualnet.nn.modules.module import Module, keep_output
from manualnet.nn.parameter import Parameter, as_float_dtype


class _BatchNorm(Module):
    """y = γ ⊙ (x − μ) / √(σ² + ε) + β per channel; μ, σ² of the batch in training.  Derivation: derivations/batchnorm.md

    Shape: x (N, C, *) -> y of the same shape, statistics per channel C over
    the M = x.size / C values of the other axes; weight γ and bias β (C,);
    buffers ``running_mean``, ``running_var`` (C,) and ``num_batches_tracked``
    (0-d int64), in the state dict under PyTorch's names.

    Training uses the batch mean and the BIASED batch variance (divided by M)
    and updates the running statistics with the UNBIASED variance (divided by
    M − 1), exponentially with ``momentum`` or, for ``momentum=None``, as the
    plain average of all batches so far — as PyTorch does.  Evaluation uses
    the running statistics, so one sample at a time works; training on one
    value per channel is an error, and an empty batch gives an empty output
    and leaves the statistics as they were (PyTorch counts it in
    ``num_batches_tracked``, and so do we).  ``track_running_stats=False``:
    no buffers, batch statistics in evaluation too.  ``affine=False`` drops
    γ and β; ``bias=False`` drops β only.
    """

    input_shapes = ""          # the shapes a subclass takes, for messages: "(N, C) or (N, C, L)"
    input_ndims = ()

    saved_for_backward = ("x_hat", "inv_std", "used_batch_statistics", "versions")

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=np.float32, *, bias=True):
        super().__init__()
        owner = type(self).__name__
        check_device(owner, device)
        self.num_features = check_positive_int(owner, "num_features", num_features)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < np.inf:
            raise ValueError(f"{owner}: expected eps > 0 (it keeps 1/√(σ² + ε) finite), got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{owner}: expected momentum in [0, 1] or None (cumulative average), got {momentum!r}")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = as_float_dtype(dtype, owner)
        self.dtype = dtype
        self.weight = Parameter(np.ones(self.num_features, dtype)) if affine else None
        self.backward_reads = ("weight",) if affine else ()     # γ, for dL/dx: checked against forward's version
        self.bias = Parameter(np.zeros(self.num_features, dtype)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        self._check_input(x)
        self.versions = versions(self)
        if x.size == 0:
            return self._empty_batch(x)
        rows = x.reshape(len(x), self.num_features, -1)                     # (N, C, L): channel c is rows[:, c]
        self.used_batch_statistics = self.training or not self.track_running_stats
        if self.used_batch_statistics:
            count = rows.shape[0] * rows.shape[2]                            # M values per channel
            mean = _channel_sum(rows) / count                                # eq. (1)
            centered = rows - mean[:, np.newaxis]
            var = _channel_sum(centered, centered) / count                   # eq. (2)
            if self.training and self.track_running_stats:
                self._update_running_statistics(mean, var, count)
        else:
            centered = rows - self.running_mean[:, np.newaxis]
            var = self.running_var
        self.inv_std = 1 / np.sqrt(var + self.eps)                          # eq. (3), kept for backward
        centered *= self.inv_std[:, np.newaxis]                             # eq. (4): x̂, in place
        self.x_hat = centered.reshape(x.shape)                              # kept for backward
        if not self.affine:
            return keep_output(self.x_hat)                                  # y = x̂: handed out read-only
        channel = _channel_shape(x)
        y = self.x_hat * self.weight.data.reshape(channel)                  # eq. (5)
        if self.bias is not None:
            y += self.bias.data.reshape(channel)                            # eq. (5)
        return y

    def _update_running_statistics(self, mean, var, count):
        """Running mean and UNBIASED running variance, in place (the buffers stay the same arrays)."""
        self.num_batches_tracked += 1
        factor = 1 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean *= 1 - factor                                     # eq. (6)
        self.running_mean += factor * mean                                  # eq. (6)
        self.running_var *= 1 - factor                                      # eq. (7)
        self.running_var += factor * var * (count / (count - 1))            # eq. (7)

    def backward(self, grad_output, need_input_grad=True):
        """Add dL/dγ, dL/dβ to .grad; return dL/dx through the batch mean and variance (or the running ones)."""
        x_hat, inv_std = self.x_hat, self.inv_std
        check_versions(self, self.versions)
        check_grad_output(self, grad_output, x_hat.shape, x_hat.dtype)
        channel = _channel_shape(x_hat)
        # Σ G and Σ G x̂ serve twice: they are dL/dβ and dL/dγ, and, times γ, the
        # sums Σ dx̂ and Σ dx̂ x̂ of eq. (14), because dx̂ = γ G (eq. (8)).
        sum_g = _channel_sum(grad_output)                                   # eq. (10)
        sum_g_x_hat = _channel_sum(grad_output, x_hat)                      # eq. (9)
        if self.affine:
            self.weight.grad += sum_g_x_hat                                 # eq. (9)
        if self.bias is not None:
            self.bias.grad += sum_g                                         # eq. (10)
        if not need_input_grad:
            return None
        gamma = self.weight.data if self.affine else np.ones_like(inv_std)
        scale = gamma * inv_std                                             # dx̂ = γ G, eq. (8), times 1/σ
        if not self.used_batch_statistics:
            return grad_output * scale.reshape(channel)                     # eq. (15)
        # Eq. (14), (1/σ)/M · (M dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂), with one coefficient per channel for each of
        # G, x̂ and 1: four passes over the batch where the written-out form takes six.
        count = x_hat.size // self.num_features
        dx = grad_output * scale.reshape(channel)                           # eq. (14): (1/σ) dx̂
        dx -= x_hat * (scale * sum_g_x_hat / count).reshape(channel) + (scale * sum_g / count).reshape(channel)   # eq. (14)
        return dx

    def _empty_batch(self, x):
        """No samples: nothing to normalise and no statistics to learn from (PyTorch still counts the batch)."""
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
        self.x_hat, self.inv_std = x.copy(), np.ones(self.num_features, x.dtype)
        self.used_batch_statistics = False
        return x.copy()

    def _check_input(self, x):
        check_float_array(self, x)
        if x.ndim not in self.input_ndims or x.shape[1] != self.num_features:
            raise ValueError(
                f"{self.describe()}: expected input of shape {self.input_shapes.replace('C', str(self.num_features))}, "
                f"got shape {x.shape} ({x.ndim}-D)"
            )
        check_dtype_matches(self, x, self.dtype)
        if (self.training or not self.track_running_stats) and x.size == self.num_features:
            raise ValueError(
                f"{self.describe()}: expected more than 1 value per channel when using batch statistics, "
                f"got input of shape {x.shape}; a variance needs two samples (use model.eval() to predict "
                "one sample at a time)"
            )

    def astype(self, dtype=np.float32):
        super().astype(dtype)
        self.dtype = as_float_dtype(dtype)
        return self

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


def _channel_sum(a, b=None):
    """Σ a (or Σ a ⊙ b) per channel, over every axis but 1 of a (N, C, *) array: shape (C,).

    The same sums as ``np.sum(a, axis=(0, 2, 3))`` for images, as products over the
    (N, C, L) view: a matrix-vector product with ones, or a dot product per
    row (``np.vecdot``), then the N rows added.  NumPy's reduction over the
    non-adjacent axes 0, 2 and 3 took two to three times as long, and a ⊙ b
    needs no temporary.  An (N, C) input (L = 1) is summed down its columns
    by ones · a and ones · (a ⊙ b), which beat the per-row forms there.
    """
    rows = a.reshape(a.shape[:2] + (math.prod(a.shape[2:]),))            # (N, C, L)
    threads_for(a.size)
    if rows.shape[2] == 1:
        columns = rows[:, :, 0] if b is None else rows[:, :, 0] * b.reshape(rows.shape)[:, :, 0]
        return np.ones(len(columns), a.dtype) @ columns
    if b is not None:
        return np.vecdot(rows, b.reshape(rows.shape)).sum(axis=0)
    return (rows.reshape(-1, rows.shape[2]) @ np.ones(rows.shape[2], a.dtype)).reshape(rows.shape[:2]).sum(axis=0)


def _channel_shape(x):
    """The shape that makes a (C,) vector broadcast along axis 1: (C,), (C, 1) or (C, 1, 1)."""
    return (-1,) + (1,) * (x.ndim - 2)


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) input: each feature C normalised over N (and L).  Derivation: derivations/batchnorm.md

    PyTorch's ``torch.nn.BatchNorm1d``; arguments, buffers and the training /
    evaluation rules as described in ``_BatchNorm``.
    """

    input_shapes = "(N, C) or (N, C, L)"
    input_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) images: each channel C normalised over N, H and W.  Derivation: derivations/batchnorm.md

    PyTorch's ``torch.nn.BatchNorm2d``; arguments, buffers and the training /
    evaluation rules as described in ``_BatchNorm``.
    """

    input_shapes = "(N, C, H, W)"
    input_ndims = (4,)
