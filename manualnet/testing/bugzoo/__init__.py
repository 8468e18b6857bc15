"""The bug zoo: the classic wrong backward passes, one mistake per class.

Each class subclasses the correct manualnet layer and overrides the
smallest method that holds its mistake: a loss's one-line reduction
(``_reduce``, ``_grad_per_element``) where the mistake is there, else
``backward`` copied from the layer with ONE line changed.  The wrong line is
marked ``# BUG:`` with the right one beside it.  tests/test_bugzoo.py checks
that every copied ``backward`` still equals the layer's own except on its
``# BUG`` line, so a bug can never drift from the layer it breaks.  Its docstring
says what is wrong and how it shows.  Use them to see what each mistake
looks like in a report::

    import numpy as np
    import manualnet as mn
    from manualnet.testing import bugzoo, compare_modules

    x = np.random.default_rng(0).standard_normal((4, 3))
    print(compare_modules(bugzoo.TransposedWeightGradLinear(3, 3), mn.Linear(3, 3), x))

tests/test_bugzoo.py checks that the gradient checker and the comparison
catch every one of them, and that the comparison names the mistake: a suite
that cannot fail proves nothing.  ``BUGS`` lists them all.  None is part of
``manualnet``'s public layers.
"""


import numpy as np

from manualnet._numerics import sigmoid
from manualnet._checks import check_float_array, check_grad_output
from manualnet._threads import threads_for
from manualnet.nn.modules.activation import ReLU, Sigmoid, Softmax, _softmax_axis
from manualnet.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, _channel_shape, _channel_sum
from manualnet.nn.modules.dropout import Dropout
from manualnet.nn.modules.sparse import Embedding
from manualnet.nn.modules.linear import Linear
from manualnet.nn.modules.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, _Loss
from manualnet.nn.modules.conv import Conv2d
from manualnet.nn.modules.module import as_ndarray, keep_output
from manualnet.nn.modules.pooling import AvgPool2d, MaxPool2d
from manualnet.nn.modules.rnn import LSTM, RNN, RNNCell
from manualnet.nn.windows import im2col, pad, pad_adjoint, windows


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
        mask = self.mask
        if mask is None:                             # evaluation: the identity, any shape passes
            check_float_array(self, grad_output, "grad_output")
            return grad_output if need_input_grad else None    # eq. (5)
        check_grad_output(self, grad_output, mask.shape, grad_output.dtype)
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
        mask = self.mask
        if mask is None:                             # evaluation: the identity, any shape passes
            check_float_array(self, grad_output, "grad_output")
            return grad_output if need_input_grad else None    # eq. (5)
        check_grad_output(self, grad_output, mask.shape, grad_output.dtype)
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

BUGS = (
    SignFlippedBCEWithLogitsLoss, CrossEntropyMissingOneOverN, CrossEntropyWeightedGradOverN, MSELossSummedForward,
    MSELossMissingTwo,
    TransposedWeightGradLinear, BiasGradMeanLinear, OverwritingLinear, ReLUWithoutMask,
    SoftmaxDiagonalOnly, SigmoidDerivativeAsValue, DropoutWithoutMask, DropoutScaledByP, BatchNormWithoutMeanTerm,
)


# -- convolution and pooling (issue 14) ------------------------------------------------------
#
# The layers compute dL/dx by col2im (derivations/conv2d.md, eq. (14)); a learner who derives it
# as a convolution writes it in the other form, eq. (7): the full correlation of G, dilated by the
# stride, with the flipped kernel.  ``full_correlation_input_gradient`` is that form, right when given
# the right kernel and dilation (tests/test_conv.py checks it against the layer); the two bugs below
# hand it a wrong one.

def full_correlation_input_gradient(layer, G, input_shape, kernel, dilate_by):
    """Eq. (7): dL/dx̃ as the correlation of G, dilated by ``dilate_by`` and padded by d(k − 1) on every
    side, with ``kernel`` (O, C/g, kH, kW) read with input and output channels swapped per group;
    then eq. (8), back from x̃ to x.

    ``G`` is the layer's (g, O/g, N·Ho·Wo) matrix; the right call passes the flipped kernel
    ``weight[..., ::-1, ::-1]`` and the layer's stride as ``dilate_by``.
    """
    batch, groups, out_channels = input_shape[0], layer.groups, layer.out_channels
    G = G.reshape(out_channels, batch, *layer._output_shape(input_shape)[2:]).swapaxes(0, 1)
    G = G.reshape(batch, out_channels, -1, G.shape[-1])                 # Conv1d: height 1
    dilated = np.zeros((batch, out_channels, *((size - 1) * s + 1 for size, s in zip(G.shape[2:], dilate_by))),
                       dtype=G.dtype)
    dilated[:, :, ::dilate_by[0], ::dilate_by[1]] = G                   # s − 1 zeros between G's entries
    reach = [d * (k - 1) for k, d in zip(layer._kernel, layer._dilation)]
    padded_G = pad(dilated, tuple((r, r) for r in reach))
    swapped = kernel.reshape(groups, out_channels // groups, -1, *layer._kernel).swapaxes(1, 2)  # (g, C/g, O/g, kH, kW)
    columns = im2col(padded_G, layer._kernel, (1, 1), layer._dilation, groups)
    d_part = np.matmul(swapped.reshape(groups, swapped.shape[1], -1), columns)
    d_part = d_part.reshape(layer.in_channels, batch, *(size - r for size, r in zip(padded_G.shape[2:], reach)))
    d_padded = np.zeros((batch, layer.in_channels, *layer._padded_size(input_shape)), dtype=G.dtype)
    rows, cols = min(d_part.shape[2], d_padded.shape[2]), min(d_part.shape[3], d_padded.shape[3])
    d_padded[:, :, :rows, :cols] = d_part.swapaxes(0, 1)[:, :, :rows, :cols]   # cells no window read stay 0
    return pad_adjoint(d_padded, layer._padding, layer._pad_mode).reshape(input_shape)


class UnflippedKernelConv2d(Conv2d):
    """dL/dx as the full correlation of G with the kernel as it is, not flipped: correlation where the
    chain rule gives convolution.

    x̃ cell (a, b) is read by output (i, j) through kernel tap (a − s·i, b − s·j): seen from the
    input, the taps run backwards, so the kernel must be rotated by 180°.  Shows as: a wrong
    input.grad that equals this class's, the weight and bias gradients right ("kernel not
    flipped"); invisible for a kernel symmetric under that rotation.

    The right gradient: derivations/conv2d.md, eq. (7).
    """

    def _input_gradient(self, G, input_shape):
        kernel = self.weight.data                    # BUG: should be self.weight.data[..., ::-1, ::-1], eq. (7)
        return full_correlation_input_gradient(self, G, input_shape, kernel, self._stride)   # eq. (7)


class UndilatedGradConv2d(Conv2d):
    """dL/dx of a strided convolution as the full correlation of G itself, not of G dilated by the stride.

    Output (i, j) read x̃ at s·i + d·p: its gradient belongs s cells from its neighbour's, so G
    must get s − 1 zeros between its entries before the correlation.  Shows as: a wrong
    input.grad (only for stride > 1) that equals this class's ("stride not dilated").

    The right gradient: derivations/conv2d.md, eq. (7).
    """

    def _input_gradient(self, G, input_shape):
        kernel = self.weight.data[..., ::-1, ::-1]   # eq. (7)
        return full_correlation_input_gradient(self, G, input_shape, kernel, (1, 1))   # BUG: should dilate by self._stride, eq. (7)


class MaxPoolGradToWholeWindow(MaxPool2d):
    """Max pooling's gradient sent to every cell of the window, not only to its maximum.

    Only the maximum reached the output; the other cells could move a little without changing
    it.  Shows as: input.grad nonzero at cells that were no window's maximum ("max to whole window").

    The right gradient: derivations/pooling.md, eq. (4).
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx: each G[n, c, i, j] added at its window's maximum, eq. (4)."""
        routes, input_shape = self.routes, self.input_shape
        check_grad_output(self, grad_output, (*input_shape[:2], *routes.shape[3:]), self.input_dtype)
        if not need_input_grad:
            return None
        dx, d_windows = self._gradient_windows(input_shape, grad_output.dtype)
        for offset, (p, q) in enumerate(np.ndindex(self.kernel_size)):      # one pass per window cell
            d_windows[:, :, p, q] = grad_output                              # BUG: should be routes[:, :, offset] * G, eq. (4)
        return self._add_to_input(d_windows, input_shape) if dx is None else dx      # eq. (5)


class MaxPoolGradToAllTies(MaxPool2d):
    """Max pooling's gradient sent to every cell equal to the window's maximum: twice (or more) the
    gradient when a window has a tie.

    Without ties it is right, and at a tie max is not differentiable, so finite differences
    cannot judge it (the checker excludes those kinks); PyTorch sends the whole gradient to the
    first maximum in window order.  Shows as: with tied inputs, input.grad nonzero at the later
    tied cells ("max to every tie").

    The right gradient: derivations/pooling.md, eq. (2).
    """

    def forward(self, x):
        self._check_input(x)
        padded = pad(x, self._pads(x.shape), value=-np.inf)                  # eq. (1): padding never wins
        cells = windows(padded, self.kernel_size, self.stride, self.dilation)    # (N, C, kH, kW, Ho, Wo), a view
        y = cells[:, :, 0, 0].copy()
        # The first maximum's tap, found in the pass that finds the maximum (pooling.md, eq. (2)).
        # np.fmax is np.maximum for inputs without NaN (checked above), and several times faster on
        # these strided views in NumPy 2; one pass per tap, no copy of the windows.
        first = np.zeros(y.shape, np.min_scalar_type(cells.shape[2] * cells.shape[3] - 1))
        for offset, (p, q) in enumerate(np.ndindex(self.kernel_size)):      # row by row, as PyTorch
            if offset:
                claim = np.greater(cells[:, :, p, q], y).astype(first.dtype)   # strictly: a tie keeps the first
                claim *= offset
                np.maximum(first, claim, out=first)                          # later taps override earlier ones
                np.fmax(y, cells[:, :, p, q], out=y)                         # eq. (1)
        routes = np.empty((*y.shape[:2], cells.shape[2] * cells.shape[3], *y.shape[2:]), dtype=bool)
        for offset in range(routes.shape[2]):
            np.equal(cells.reshape(routes.shape)[:, :, offset], y, out=routes[:, :, offset])   # BUG: should be first == offset, eq. (2)
        self.routes = routes                                                 # (N, C, kH·kW, Ho, Wo), for backward
        self.input_shape, self.input_dtype = x.shape, x.dtype                # to check G against
        if self.return_indices:
            return y, self._flat_indices(x.shape)
        return y


class AvgPoolGradNotDivided(AvgPool2d):
    """Average pooling's gradient spread to the window without dividing by its size.

    Forward divides the window's sum by its size, so each cell's rate is 1/size.  Shows as:
    input.grad = kH·kW × the right one where windows do not overlap the padding ("average not
    divided").

    The right gradient: derivations/pooling.md, eq. (8).
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx: every cell of window (i, j) gets G[n, c, i, j] / divisor[i, j], eq. (8)."""
        input_shape = self.input_shape
        check_grad_output(self, grad_output, (*input_shape[:2], *self._output_size(input_shape)),
                          self.input_dtype)
        if not need_input_grad:
            return None
        share = grad_output                                                 # BUG: should be G / divisor, eq. (8)
        dx, d_windows = self._gradient_windows(input_shape, grad_output.dtype)
        for p, q in np.ndindex(self.kernel_size):                           # one pass per window cell
            d_windows[:, :, p, q] = share                                    # eq. (8): every cell the same share
        return self._add_to_input(d_windows, input_shape) if dx is None else dx      # eq. (9)


class BatchNorm2dOverAllAxes(BatchNorm2d):
    """Batch norm's statistics taken over every axis, the channel axis too: one μ and σ² for the whole
    batch (``x.mean()`` without ``axis``), where each channel needs its own, over (N, H, W).

    It runs silently (the scalar statistics broadcast everywhere), and backward, written for
    per-channel statistics, no longer matches forward.  Shows as: a wrong output that equals this
    class's ("batch-norm axes"); every gradient wrong with it.

    The right gradient: derivations/batchnorm.md, eq. (1).
    """

    def forward(self, x):
        self._check_input(x)
        if x.size == 0:
            return self._empty_batch(x)
        rows = x.reshape(1, 1, -1)                                          # BUG: should be (len(x), C, -1): per channel, eq. (1)
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

BUGS += (UnflippedKernelConv2d, UndilatedGradConv2d, MaxPoolGradToWholeWindow, MaxPoolGradToAllTies,
         AvgPoolGradNotDivided, BatchNorm2dOverAllAxes)


# -- autograd: the engine's classic mistake (the right walk: manualnet/autograd/engine.py) ---------------

def recursive_backward_visiting_once(tensor):
    """``tensor.backward()`` as a recursive walk that runs each node when the FIRST path reaches it.

    The right engine runs a node only after every node that uses its output
    has sent its share, in topological order (eq. (31)), and adds the shares
    (eq. (32)).  This walk marks a node visited as soon as one consumer
    reaches it, runs it with that consumer's share alone and never comes
    back, so a value used twice gets the gradient of only one of its uses.

    Shows as: in the notes' z = x·(a x + b), x.grad = 7 (the direct use,
    ∂z/∂x with y held fixed) instead of 13; a graph in which every value is
    used once (a chain, a tree) comes out right, which is why the bug
    survives simple tests.  Being recursive, it also overflows Python's
    stack on a deep chain.

    The right walk: derivations/autograd.md.
    """
    visited = set()

    def visit(node, grad):
        visited.add(node)
        for (child, _), child_grad in zip(node.next_functions, node.backward(grad)):
            if child is not None and child_grad is not None and child not in visited:
                visit(child, child_grad)    # BUG: should wait for every consumer's share and add them, eq. (32)

    visit(tensor.grad_fn, np.ones(tensor.shape, dtype=tensor.dtype))


# -- sequences (issue 16) -----------------------------------------------------------------------
# The comparison names these by re-running the reference the way each mistake runs
# (manualnet.testing.mistaken): every step on its own, the last step alone, the gate
# blocks permuted, the upstream rescaled, repeated tokens' earlier gradients zeroed.

class RNNGradientNotCarried(RNN):
    """Backpropagation through time that drops dL/dh_t's second source: each step learns from its own output only.

    dL/dh_t = G_t + (what step t+1 sends back); without the second term
    the gradient never travels back in time.  Invisible for sequences of
    one step.  Shows as: every gradient equals the reference's when each
    step is back-propagated on its own ("gradient not carried").

    The right gradient: derivations/rnn.md.
    """

    def _state_gradient(self, from_above, from_next_step, h):
        """dL/dh_t = (from the output, or the layer above) + (from step t+1): two sources.  rnn.md eq. (4)."""
        total = from_above                           # BUG: should be _add(from_above, from_next_step), eq. (4)
        return np.zeros_like(h) if total is None else total


class RNNWeightGradLastStepOnly(RNN):
    """The weights' gradients taken from the last time step alone, where the sum over all steps belongs.

    W_ih and W_hh are used at every step, so dW = Σ_t δ_tᵀ (input of step t).
    The input and state gradients stay right.  Shows as: every weight's
    gradient equals the last step's contribution ("last step only").

    The right gradient: derivations/rnn.md.
    """

    def _add_weight_grads(self, trace, d_xw, d_hw, W_ih, W_hh, b_ih, b_hh):
        """dW = Σ_t δ_tᵀ (what step t multiplied W by): one product over the stacked steps.  rnn.md eq. (8)–(10)."""
        for W, b, delta, inputs in ((W_ih, b_ih, d_xw, trace.x), (W_hh, b_hh, d_hw, trace.h[:-1])):
            delta, inputs = delta[-1], inputs[-1]    # BUG: should be every step, reshaped (T·N, ·), eq. (8)
            threads_for(delta.size * inputs.shape[1])
            W.grad += delta.T @ inputs                   # rnn.md eq. (8), (9): the sum over t and n in one product
            if b is not None:
                b.grad += delta.sum(axis=0)              # rnn.md eq. (10)


class LSTMGatesInWrongOrder(LSTM):
    """An LSTM reading the four blocks of its weights as i, f, o, g (the textbook and CS231n order).

    Self-consistent — forward and backward agree, so finite differences pass
    — but with PyTorch's weights (stacked i, f, g, o) it computes another
    function.  Shows as: output and gradients equal the reference's with
    the blocks of every weight permuted ("gate order").

    The right gradient: derivations/lstm.md, eq. (1).
    """

    gate_order = "ifog"                              # BUG: PyTorch stacks the blocks i, f, g, o, eq. (1)


class RNNCellTanhDerivativeOfPreactivation(RNNCell):
    """tanh' written 1 − a² with a the pre-activation, instead of 1 − h² with h = tanh(a) the output.

    To make the mistake the cell keeps a, which the correct layer never
    needs.  Shows as: the gradients equal the reference's for an upstream
    gradient rescaled by (1 − a²)/(1 − h²) ("tanh derivative of
    pre-activation").

    The right gradient: derivations/rnn.md.
    """

    def _step(self, trace, k, xw_k, W_hh, b_hh):
        super()._step(trace, k, xw_k, W_hh, b_hh)
        self.a = xw_k + trace.h[k] @ W_hh.T          # eq. (1): the pre-activation, kept for the wrong slope

    def _slope(self, trace, k):
        return 1 - self.a * self.a                   # BUG: should be 1 − h² with h = trace.h[k + 1], eq. (5)


class EmbeddingFancyIndexPlusEquals(Embedding):
    """Embedding's scatter written ``weight.grad[idx] += G``: a token used twice keeps one gradient.

    NumPy evaluates it as weight.grad[idx] = weight.grad[idx] + G, one write
    per position, so the last occurrence of each index wins.  Shows as:
    weight.grad right for tokens used once, and for repeated tokens equal to
    the last occurrence's gradient alone ("duplicates lost").

    The right gradient: derivations/embedding.md.
    """

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; scatter-add its rows into weight.grad (eq. 3); return None (indices have no gradient)."""
        indices = self.indices
        check_grad_output(self, grad_output, indices.shape + (self.embedding_dim,), self.weight.dtype)
        rows, G = indices.reshape(-1), grad_output.reshape(-1, self.embedding_dim)
        if self.scale_grad_by_freq:
            counts = np.bincount(rows, minlength=self.num_embeddings)
            G = G / counts[rows, None].astype(G.dtype)     # eq. (5)
        if self.padding_idx is not None:
            used = rows != self.padding_idx                # eq. (4): the padding row learns nothing
            rows, G = rows[used], G[used]
        self.weight.grad[rows] += G                        # BUG: should be np.add.at(self.weight.grad, rows, G), eq. (3)
        return None


SEQUENCE_BUGS = (RNNGradientNotCarried, RNNWeightGradLastStepOnly, LSTMGatesInWrongOrder,
                 RNNCellTanhDerivativeOfPreactivation, EmbeddingFancyIndexPlusEquals)
BUGS += SEQUENCE_BUGS
