"""BatchNorm1d: normalise each feature by batch statistics in training, by running ones in eval.

Each forward and backward line carries the number of its equation in
derivations/batchnorm.md.
"""

import numbers

import numpy as np

from ._checks import check_dtype_matches, check_float_array, check_grad_output, check_positive_int, name_of
from .module import Module
from .parameter import Parameter, as_float_dtype


class BatchNorm1d(Module):
    """y = γ ⊙ (x − μ) / √(σ² + ε) + β per feature; μ, σ² of the batch in training.  Derivation: derivations/batchnorm.md

    Shape: x (N, C) or (N, C, L) -> y of the same shape, statistics taken
    per feature C over the N (and L) axes; weight γ and bias β (C,);
    buffers ``running_mean``, ``running_var`` (C,) and
    ``num_batches_tracked`` (0-d int64), in the state dict under PyTorch's names.

    Training uses the batch mean and the BIASED batch variance (divided by
    M = N·L) and updates the running statistics with the UNBIASED variance
    (divided by M − 1), exponentially with ``momentum`` or, for
    ``momentum=None``, as the plain average of all batches so far — as
    PyTorch does.  Evaluation uses the running statistics, so one sample at a
    time works; training on one value per feature is an error.  With
    ``track_running_stats=False`` there are no buffers and evaluation uses
    batch statistics too.  ``affine=False`` drops γ and β.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        owner = "BatchNorm1d"
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
        self.weight = Parameter(np.ones(self.num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(self.num_features, dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        self._check_input(x)
        use_batch_statistics = self.training or not self.track_running_stats
        if use_batch_statistics:
            count = x.size // self.num_features
            if count == 1:
                raise ValueError(
                    f"{self.describe()}: expected more than 1 value per feature when using batch statistics, "
                    f"got input of shape {x.shape}; a variance needs two samples (use model.eval() to predict "
                    "one sample at a time)"
                )
            mean = x.mean(axis=self._axes(x))                              # eq. (1)
            centered = x - self._per_feature(mean, x)
            var = np.mean(centered * centered, axis=self._axes(x))         # eq. (2)
            if self.training and self.track_running_stats:
                self._update_running_statistics(mean, var, count)
        else:
            centered = x - self._per_feature(self.running_mean, x)
            var = self.running_var
        inv_std = 1 / np.sqrt(var + self.eps)                             # eq. (3)
        x_hat = centered * self._per_feature(inv_std, x)                    # eq. (4)
        self.x_hat, self.inv_std = x_hat, inv_std                           # kept for backward
        self.used_batch_statistics = use_batch_statistics
        if not self.affine:
            return x_hat
        return x_hat * self._per_feature(self.weight.data, x) + self._per_feature(self.bias.data, x)   # eq. (5)

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
        x_hat = self._saved("x_hat")
        check_grad_output(self, grad_output, x_hat.shape, x_hat.dtype)
        if not (self.affine or need_input_grad):
            return None
        axes = self._axes(x_hat)
        # Σ G and Σ G x̂ serve twice: they are dL/dβ and dL/dγ, and, times γ, the
        # sums Σ dx̂ and Σ dx̂ x̂ of eq. (14), because dx̂ = γ G (eq. (8)).
        sum_g = np.sum(grad_output, axis=axes)                              # eq. (10)
        sum_g_x_hat = np.sum(grad_output * x_hat, axis=axes)                # eq. (9)
        if self.affine:
            self.weight.grad += sum_g_x_hat                                 # eq. (9)
            self.bias.grad += sum_g                                         # eq. (10)
        if not need_input_grad:
            return None
        gamma = self.weight.data if self.affine else 1
        d_x_hat = grad_output * self._per_feature(gamma, x_hat) if self.affine else grad_output  # eq. (8)
        inv_std = self._per_feature(self.inv_std, x_hat)
        if not self.used_batch_statistics:
            return d_x_hat * inv_std                                        # eq. (15)
        count = x_hat.size // self.num_features
        sum_d_x_hat = self._per_feature(gamma * sum_g, x_hat)
        sum_d_x_hat_x_hat = self._per_feature(gamma * sum_g_x_hat, x_hat)
        return inv_std / count * (count * d_x_hat - sum_d_x_hat - x_hat * sum_d_x_hat_x_hat)   # eq. (14)

    # -- shapes ---------------------------------------------------------------

    @staticmethod
    def _axes(x):
        """The axes statistics are taken over: N, and L for (N, C, L) input."""
        return (0,) if x.ndim == 2 else (0, 2)

    @staticmethod
    def _per_feature(values, x):
        """Shape a (C,) vector to broadcast against x: (C,) for (N, C), (C, 1) for (N, C, L)."""
        return values if x.ndim == 2 else values[:, np.newaxis]

    def _check_input(self, x):
        owner = self
        check_float_array(owner, x)
        expected = f"(N, {self.num_features}) or (N, {self.num_features}, L)"
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"{name_of(owner)}: expected input of shape {expected}, got shape {x.shape} ({x.ndim}-D)")
        dtype = self.weight.dtype if self.affine else (self.running_mean.dtype if self.track_running_stats else x.dtype)
        check_dtype_matches(owner, x, dtype)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
