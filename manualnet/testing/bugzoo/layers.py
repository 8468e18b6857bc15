"""The bug zoo's losses, Linear, activations, Dropout and BatchNorm1d: one wrong line each."""

import numpy as np

from manualnet._numerics import sigmoid
from manualnet._checks import check_dtype_matches, check_float_array, check_grad_output
from manualnet._threads import threads_for
from manualnet.nn._version_counter import check_versions
from manualnet.nn.modules.activation import ReLU, Sigmoid, Softmax, _softmax_axis
from manualnet.nn.modules.batchnorm import BatchNorm1d, _channel_shape, _channel_sum
from manualnet.nn.modules.dropout import Dropout
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, _Loss
from manualnet.nn.modules.module import as_ndarray


class SignFlippedBCEWithLogitsLoss(BCEWithLogitsLoss):
    """dL/dz written as y − σ(z) instead of σ(z) − y: the right size, the wrong sign.

    Shows as: input.grad = −reference ("sign flipped"); training with it
    climbs the loss instead of descending it.

    The right gradient: derivations/bce.md.
    """

    def backward(self, grad_output=1.0):
        """dL/dz = (σ(z) − y) · g / M; with weight or pos_weight, eq. (9)."""
        z, target = self.z, self.target
        scale = self._grad_per_element(grad_output, z.shape, z.dtype)
        if self.weight is None and self.pos_weight is None:
            return as_ndarray((target - sigmoid(z)) * scale)                 # BUG: should be (sigmoid(z) - target) * scale, eq. (5)
        return as_ndarray(self._weighted_gradient(z, target) * scale)          # eq. (9)


class CrossEntropyMissingOneOverN(CrossEntropyLoss):
    """The gradient of the mean cross-entropy without its 1/N: softmax(z) − onehot(y), times g.

    Shows as: input.grad = N × reference with N the batch size ("sum vs
    mean"); the effective learning rate grows with the batch size.

    The right gradient: derivations/cross_entropy.md.
    """

    def _grad_per_element(self, grad_output, losses_shape, dtype):
        return np.asarray(grad_output, dtype=dtype)                    # BUG: should be g / N for the mean, eq. (5)


class CrossEntropyWeightedGradOverN(CrossEntropyLoss):
    """Class weights whose gradient is divided by N, the batch size, where the mean divides by Σ w_{y_n}.

    Forward is right (PyTorch's weighted mean); backward takes w_{y_n}(p − onehot)/N.
    Shows as: input.grad = Σ w_{y_n} / N × reference ("constant factor"): the
    weights then scale the learning rate, and a batch heavy in a large-weight
    class takes a larger step.

    The right gradient: derivations/cross_entropy.md.
    """

    def _grad_per_element(self, grad_output, losses_shape, dtype, total=None):
        return _Loss._grad_per_element(self, grad_output, losses_shape, dtype)   # BUG: should pass total = Σ w_{y_n}, eq. (10)


class MSELossSummedForward(MSELoss):
    """Forward sums the squared errors where the mean belongs; backward (correctly) takes the mean's gradient.

    Shows as: output = M × reference with M the number of elements ("sum vs
    mean"), and a backward that no longer matches its own forward, which is
    what the gradient checker sees.

    The right gradient: derivations/mse.md.
    """

    def _reduce(self, losses):
        return losses.sum()                                            # BUG: should be the mean, eq. (2)


class MSELossMissingTwo(MSELoss):
    """dL/dx written as (x − y)/M, dropping the 2 of d(x − y)²/dx.

    Shows as: input.grad = reference / 2 ("factor of 2").

    The right gradient: derivations/mse.md.
    """

    def backward(self, grad_output=1.0):
        """dL/dx = 2 (x − y) · g / M."""
        difference = self.difference
        scale = self._grad_per_element(grad_output, difference.shape, difference.dtype)
        return difference * scale                    # BUG: should be difference * (2 * scale), eq. (3)


class TransposedWeightGradLinear(Linear):
    """dL/dW written as xᵀ G, the gradient of the (in, out) layout y = x @ W, for PyTorch's W (out, in).

    Shows as: weight.grad = reference transposed ("transposed").  With
    in_features ≠ out_features NumPy refuses to add it into ``.grad``; with a
    square weight it runs silently, which is why it survives.

    The right gradient: derivations/linear.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        x = self.x
        check_versions(self, self.versions)
        check_grad_output(self, grad_output, x.shape[:-1] + (self.out_features,), x.dtype)
        G = grad_output.reshape(-1, self.out_features)                  # each leading position is a row, eq. (5)
        threads_for(G.shape[0] * self.weight.size)                      # each product below is this size
        self.weight.grad += x.reshape(-1, self.in_features).T @ G       # BUG: should be G.T @ x.reshape(...), eq. (3)
        if self.bias is not None:
            self.bias.grad += G.sum(axis=0)                              # eq. (4)
        if not need_input_grad:
            return None
        return (G @ self.weight.data).reshape(x.shape)                   # eq. (2)


class BiasGradMeanLinear(Linear):
    """dL/db taken as the mean of G over the batch where the sum belongs.

    Shows as: bias.grad = reference / N with N the batch size ("sum vs mean").

    The right gradient: derivations/linear.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        x = self.x
        check_versions(self, self.versions)
        check_grad_output(self, grad_output, x.shape[:-1] + (self.out_features,), x.dtype)
        G = grad_output.reshape(-1, self.out_features)                  # each leading position is a row, eq. (5)
        threads_for(G.shape[0] * self.weight.size)                      # each product below is this size
        self.weight.grad += G.T @ x.reshape(-1, self.in_features)       # eq. (3)
        if self.bias is not None:
            self.bias.grad += G.mean(axis=0)                             # BUG: should be G.sum(axis=0), eq. (4)
        if not need_input_grad:
            return None
        return (G @ self.weight.data).reshape(x.shape)                   # eq. (2)


class OverwritingLinear(Linear):
    """dL/dW assigned (=) into ``.grad`` where it must be added (+=).

    One forward and backward after ``zero_grad`` cannot tell the difference.
    Shows when the weight is used twice: two backward passes without
    ``zero_grad`` (weight.grad holds only the second one: "not accumulated"),
    or one weight shared by two layers of a graph, whose gradient is the sum
    over both uses (the gradient checker sees half of it missing).

    The right gradient: derivations/linear.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        x = self.x
        check_versions(self, self.versions)
        check_grad_output(self, grad_output, x.shape[:-1] + (self.out_features,), x.dtype)
        G = grad_output.reshape(-1, self.out_features)                  # each leading position is a row, eq. (5)
        threads_for(G.shape[0] * self.weight.size)                      # each product below is this size
        self.weight.grad = G.T @ x.reshape(-1, self.in_features)        # BUG: should be self.weight.grad += ..., eq. (3)
        if self.bias is not None:
            self.bias.grad += G.sum(axis=0)                              # eq. (4)
        if not need_input_grad:
            return None
        return (G @ self.weight.data).reshape(x.shape)                   # eq. (2)


class ReLUWithoutMask(ReLU):
    """dL/dx = G, passing the gradient through where the input was negative.

    Shows as: input.grad right where x > 0 and nonzero where the reference is
    exactly 0 ("mask missing").

    The right gradient: derivations/relu.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ 1[x > 0]."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return grad_output                           # BUG: should be as_ndarray(grad_output * (y > 0)), eq. (4)


class SoftmaxDiagonalOnly(Softmax):
    """The softmax Jacobian applied element-wise: dL/dx = G ⊙ p(1 − p).

    Only the diagonal ∂p_i/∂x_i = p_i(1 − p_i) of diag(p) − p pᵀ; the
    off-diagonal −p_i p_j, through which every output depends on every input,
    is missing.  Shows as: "softmax diagonal".

    The right gradient: derivations/softmax.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = y ⊙ (G − Σ_j G_j y_j)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        weighted_sum = np.sum(grad_output * y, axis=_softmax_axis(self, y.shape), keepdims=True)
        return as_ndarray(grad_output * y * (1 - y))             # BUG: should be y * (grad_output - weighted_sum), eq. (4)


class SigmoidDerivativeAsValue(Sigmoid):
    """σ'(z) written as σ(z) instead of σ(z)(1 − σ(z)).

    Shows as: input.grad = G ⊙ y ("derivative as value").

    The right gradient: derivations/sigmoid.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ y ⊙ (1 − y)."""
        y = self.y
        check_grad_output(self, grad_output, y.shape, y.dtype)
        if not need_input_grad:
            return None
        return as_ndarray(grad_output * y)               # BUG: should be grad_output * y * (1 - y), eq. (3)


class DropoutWithoutMask(Dropout):
    """Dropout's backward without its mask: every element gets G/(1 − p), the dropped ones too.

    A dropped element never reached the output, so no gradient may flow back
    to it.  Shows as: input.grad right at the kept elements and nonzero at the
    dropped ones, where the reference is exactly 0 ("mask missing").

    The right gradient: derivations/dropout.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ m / (1 − p) after a training forward, G after an evaluation one."""
        mask, dtype = self.mask, self.input_dtype
        if mask is None:                             # evaluation: the identity, any shape passes
            check_float_array(self, grad_output, "grad_output")
            check_dtype_matches(self, grad_output, dtype, "grad_output")
            return grad_output if need_input_grad else None    # eq. (5)
        check_grad_output(self, grad_output, mask.shape, dtype)
        if not need_input_grad:
            return None
        dx = grad_output.copy()                      # BUG: should be as_ndarray(grad_output * mask)
        dx *= self.scale                             # eq. (4)
        return dx


class DropoutScaledByP(Dropout):
    """Dropout's backward scaled by 1/p, reading p as the probability of KEEPING (cs231n's p).

    Here, as in PyTorch, p is the probability of dropping; forward scales the
    kept elements by 1/(1 − p) and backward must do the same.  Shows as:
    input.grad = (1 − p)/p × reference ("dropout scale"); invisible at p = 0.5.

    The right gradient: derivations/dropout.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx = G ⊙ m / (1 − p) after a training forward, G after an evaluation one."""
        mask, dtype = self.mask, self.input_dtype
        if mask is None:                             # evaluation: the identity, any shape passes
            check_float_array(self, grad_output, "grad_output")
            check_dtype_matches(self, grad_output, dtype, "grad_output")
            return grad_output if need_input_grad else None    # eq. (5)
        check_grad_output(self, grad_output, mask.shape, dtype)
        if not need_input_grad:
            return None
        dx = as_ndarray(grad_output * mask)
        dx *= 1 / self.p                             # BUG: should be dx *= self.scale, 1/(1 − p), eq. (4)
        return dx


class BatchNormWithoutMeanTerm(BatchNorm1d):
    """Batch norm's input gradient without −Σ dx̂: forgets that the batch mean depends on every sample.

    dL/dx = (1/σ)/M · (M dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂); dropping the middle term
    treats μ as a constant.  Shows as: input.grad off by one constant per
    feature, the same for every sample ("mean term missing"); the weight and
    bias gradients stay right.

    The right gradient: derivations/batchnorm.md.
    """

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
        dx -= x_hat * (scale * sum_g_x_hat / count).reshape(channel)        # BUG: − (1/σ)/M Σ dx̂ missing, eq. (14)
        return dx


LAYER_BUGS = (
    SignFlippedBCEWithLogitsLoss, CrossEntropyMissingOneOverN, CrossEntropyWeightedGradOverN, MSELossSummedForward,
    MSELossMissingTwo,
    TransposedWeightGradLinear, BiasGradMeanLinear, OverwritingLinear, ReLUWithoutMask,
    SoftmaxDiagonalOnly, SigmoidDerivativeAsValue, DropoutWithoutMask, DropoutScaledByP, BatchNormWithoutMeanTerm,
)
