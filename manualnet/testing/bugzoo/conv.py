"""The bug zoo's convolution, pooling and BatchNorm2d mistakes.

The layers compute dL/dx by col2im (derivations/conv2d.md, eq. (14)); a learner who derives it
as a convolution writes it in the other form, eq. (7): the full correlation of G, dilated by the
stride, with the flipped kernel.  ``full_correlation_input_gradient`` is that form, right when given
the right kernel and dilation (tests/nn/test_conv.py checks it against the layer); the two bugs below
hand it a wrong one.
"""

import numpy as np

from manualnet._checks import check_grad_output
from manualnet.nn._version_counter import versions
from manualnet.nn.modules.batchnorm import BatchNorm2d, _channel_shape, _channel_sum
from manualnet.nn.modules.conv import Conv2d
from manualnet.nn.modules.module import keep_output
from manualnet.nn.modules.pooling import AvgPool2d, MaxPool2d
from manualnet.nn.windows import im2col, pad, pad_adjoint, windows


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

    The right gradient: derivations/pooling.md, eq. (6).
    """

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx: each G[n, c, i, j] added at its window's maximum, eq. (6)."""
        routes, input_shape = self.routes, self.input_shape
        check_grad_output(self, grad_output, (*input_shape[:2], *routes.shape[3:]), self.input_dtype)
        if not need_input_grad:
            return None
        dx, d_windows = self._gradient_windows(input_shape, grad_output.dtype)
        for offset, (p, q) in enumerate(np.ndindex(self.kernel_size)):      # one pass per window cell
            d_windows[:, :, p, q] = grad_output                              # BUG: should be routes[:, :, offset] * G, eq. (6)
        return self._add_to_input(d_windows, input_shape) if dx is None else dx      # eq. (7)


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
        self.versions = versions(self)
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


CONV_BUGS = (UnflippedKernelConv2d, UndilatedGradConv2d, MaxPoolGradToWholeWindow, MaxPoolGradToAllTies,
         AvgPoolGradNotDivided, BatchNorm2dOverAllAxes)
