"""Pooling layers: MaxPool2d and AvgPool2d.

Each output is one number per window of the input (``manualnet.windows``,
shared with convolution): the window's maximum, or its average.  Neither has
parameters, so backward only sends G = dL/dy back into the windows: all of
it to the maximum's position, or an equal share to every cell.  Each line
carries the number of its equation in derivations/pooling.md.
"""

import numpy as np

from manualnet._checks import check_float_array, check_grad_output, check_int_tuple, name_of
from manualnet.nn.modules.module import Module
from manualnet.nn.windows import add_windows, output_size, pad, pad_adjoint, windows


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: PyTorch's window arguments, output size and input checks."""

    saved_for_backward = ("input_shape", "input_dtype")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        owner = type(self).__name__
        self.kernel_size = check_int_tuple(owner, "kernel_size", kernel_size, 2, minimum=1)
        # stride=None (PyTorch's default) means windows side by side: stride = kernel_size.
        self.stride = self.kernel_size if stride is None else check_int_tuple(owner, "stride", stride, 2, minimum=1)
        self.padding = check_int_tuple(owner, "padding", padding, 2, minimum=0)
        self.dilation = check_int_tuple(owner, "dilation", dilation, 2, minimum=1)
        self.ceil_mode = bool(ceil_mode)
        spans = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))
        if any(2 * p > span for p, span in zip(self.padding, spans)):
            raise ValueError(f"{owner}: padding should be at most half of the effective kernel size d·(k − 1) + 1 = "
                             f"{spans}, got padding={self.padding}, kernel_size={self.kernel_size}, "
                             f"dilation={self.dilation} (PyTorch's rule: a first window of padding alone would "
                             "have no input)")

    def _output_size(self, input_shape):
        """(Ho, Wo): eq. (3) per axis, rounded up with ceil_mode."""
        return tuple(output_size(size, k, s, 2 * p, d, self.ceil_mode) for size, k, s, p, d in
                     zip(input_shape[2:], self.kernel_size, self.stride, self.padding, self.dilation))

    def _pads(self, input_shape):
        """((top, bottom), (left, right)): p on each side, and with ceil_mode as many more cells at the
        bottom/right as the last window reaches past the padded input."""
        pads = []
        for size, out, k, s, p, d in zip(input_shape[2:], self._output_size(input_shape), self.kernel_size,
                                         self.stride, self.padding, self.dilation):
            reach = (out - 1) * s + d * (k - 1) + 1               # the cells the windows span
            pads.append((p, max(p, reach - size - p)))
        return tuple(pads)

    def _gradient_windows(self, input_shape, dtype):
        """Where backward writes each window's gradient: ``(None, d_windows)``, a new (N, C, kH, kW, Ho, Wo)
        array that ``_add_to_input`` then adds into dL/dx, or, where the windows tile the input, ``(dx,
        the windows of dx)``: each input cell lies in one window at most (stride = kernel, no padding,
        no dilation, as the CNN's pooling), so its gradient is written straight where it was read —
        no zeros to add into, no padding to cut, one pass.  Only the rows and columns past the last
        window (floor mode) are set to 0 here.  Tested equal to the general path (tests/nn/test_pooling.py)."""
        out_h, out_w = self._output_size(input_shape)
        tiles = (self.stride == self.kernel_size and self.dilation == (1, 1)
                 and self._pads(input_shape) == ((0, 0), (0, 0)))
        if not tiles:
            return None, np.empty((*input_shape[:2], *self.kernel_size, out_h, out_w), dtype)
        dx = np.empty(input_shape, dtype)
        dx[:, :, out_h * self.kernel_size[0]:] = 0
        dx[:, :, :, out_w * self.kernel_size[1]:] = 0
        return dx, windows(dx, self.kernel_size, self.stride, self.dilation, writeable=True)

    def _add_to_input(self, d_windows, input_shape):
        """dL/dx from every window's gradient d_windows (N, C, kH, kW, Ho, Wo): added back where each window
        read, overlapping windows adding up, and the padding's share dropped, eq. (7)."""
        pads = self._pads(input_shape)
        padded_size = tuple(size + before + after for size, (before, after) in zip(input_shape[2:], pads))
        d_padded = np.zeros((*input_shape[:2], *padded_size), dtype=d_windows.dtype)
        add_windows(d_padded, d_windows, self.stride, self.dilation)
        return pad_adjoint(d_padded, pads)

    def _check_input(self, x):
        check_float_array(self, x)
        if x.ndim != 4:
            hint = "; for one unbatched image (C, H, W) add the batch axis: x[np.newaxis]" if x.ndim == 3 else ""
            raise ValueError(f"{name_of(self)}: expected input of shape (N, C, H, W), got shape {x.shape} "
                             f"({x.ndim}-D){hint}")
        if min(self._output_size(x.shape)) < 1:
            raise ValueError(f"{name_of(self)}: input of shape {x.shape} is too small: the windows (kernel "
                             f"{self.kernel_size}, dilation {self.dilation}, padding {self.padding}) give output "
                             f"size {self._output_size(x.shape)}")
        self._check_every_window_reads_the_input(x.shape)

    def _check_every_window_reads_the_input(self, input_shape):
        """Refuse an input so small that a dilated window's taps step over it onto padding alone.

        Such a window has no maximum (PyTorch returns −inf and an index outside
        the input, and its backward crashes); the constructor cannot see it, since
        it depends on the input's size (kernel 2, dilation 2, padding 1: a window
        at rows −1 and 1 of an input 1 row high).
        """
        for axis, (size, out, k, s, p, d) in enumerate(zip(input_shape[2:], self._output_size(input_shape),
                                                            self.kernel_size, self.stride, self.padding,
                                                            self.dilation)):
            if d == 1 or p == 0:                    # taps side by side, or no padding: every window reads the input
                continue
            taps = (np.arange(out) * s - p)[:, np.newaxis] + d * np.arange(k)    # (out, k), input coordinates
            empty = np.flatnonzero(((taps < 0) | (taps >= size)).all(axis=1))
            if empty.size:
                raise ValueError(
                    f"{name_of(self)}: input of shape {input_shape} is too small for the dilated windows: window "
                    f"{empty[0]} along the {('height', 'width')[axis]} reads {('rows', 'columns')[axis]} "
                    f"{taps[empty[0]].tolist()}, padding alone (the input has {size}), so it has no maximum and no "
                    "input to send its gradient to; use a larger input, or less padding or dilation")


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = the maximum of window (i, j) of x[n, c].  Derivation: derivations/pooling.md

    Shape: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1
    (⌈·⌉ with ``ceil_mode``), likewise Wo.  ``stride`` defaults to
    ``kernel_size``; padding cells are −∞, so they never win.

    backward routes each G[n, c, i, j] to the one input cell that was its
    window's maximum — on a tie, the first in window order (row by row), as
    PyTorch does — and overlapping windows (stride < kernel) add up.
    ``return_indices=True`` makes forward return (y, indices) as PyTorch
    does: the flat position h·W + w of each maximum in its input plane.
    """

    saved_for_backward = ("routes", "input_shape", "input_dtype")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)

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
            np.equal(first, offset, out=routes[:, :, offset])               # eq. (2): the first maximum only
        self.routes = routes                                                 # (N, C, kH·kW, Ho, Wo), for backward
        self.input_shape, self.input_dtype = x.shape, x.dtype                # to check G against
        if self.return_indices:
            return y, self._flat_indices(x.shape)
        return y

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx: each G[n, c, i, j] added at its window's maximum, eq. (6)."""
        routes, input_shape = self.routes, self.input_shape
        check_grad_output(self, grad_output, (*input_shape[:2], *routes.shape[3:]), self.input_dtype)
        if not need_input_grad:
            return None
        dx, d_windows = self._gradient_windows(input_shape, grad_output.dtype)
        for offset, (p, q) in enumerate(np.ndindex(self.kernel_size)):      # one pass per window cell
            d_windows[:, :, p, q] = routes[:, :, offset] * grad_output       # eq. (6)
        return self._add_to_input(d_windows, input_shape) if dx is None else dx      # eq. (7)

    def _flat_indices(self, input_shape):
        """PyTorch's indices: h·W + w of each window's maximum, in unpadded input coordinates."""
        (stride_h, stride_w), (pad_h, pad_w), (dilation_h, dilation_w) = self.stride, self.padding, self.dilation
        out_h, out_w = self.routes.shape[3:]
        p, q = np.divmod(self.routes.argmax(axis=2), self.kernel_size[1])
        rows = np.arange(out_h)[:, np.newaxis] * stride_h - pad_h + dilation_h * p
        cols = np.arange(out_w) * stride_w - pad_w + dilation_w * q
        return rows * input_shape[3] + cols

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = the sum of window (i, j) of x[n, c] divided by its size.  Derivation: derivations/pooling.md

    Shape: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = ⌊(H + 2p − k)/s⌋ + 1
    (⌈·⌉ with ``ceil_mode``), likewise Wo.  ``stride`` defaults to ``kernel_size``.

    The divisor, as PyTorch: with ``count_include_pad=True`` the window's
    cells inside the padded input (padding zeros count, cells past the
    padding that ``ceil_mode`` adds do not); with ``count_include_pad=False``
    only its cells inside the input; ``divisor_override`` replaces both.
    backward gives every cell of a window the same share G / divisor, and
    overlapping windows add up.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None:
            divisor_override = check_int_tuple(type(self).__name__, "divisor_override", divisor_override, 1, 1)[0]
        self.divisor_override = divisor_override

    def forward(self, x):
        self._check_input(x)
        padded = pad(x, self._pads(x.shape))                                 # zeros
        cells = windows(padded, self.kernel_size, self.stride, self.dilation)    # (N, C, kH, kW, Ho, Wo), a view
        sums = np.zeros(cells[:, :, 0, 0].shape, dtype=x.dtype)
        for p, q in np.ndindex(self.kernel_size):                           # one pass per window cell
            sums += cells[:, :, p, q]                                        # eq. (4)
        self.input_shape, self.input_dtype = x.shape, x.dtype                # backward's geometry; to check G
        return sums / self._divisor(x.shape).astype(x.dtype)                  # eq. (4)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx: every cell of window (i, j) gets G[n, c, i, j] / divisor[i, j], eq. (8)."""
        input_shape = self.input_shape
        check_grad_output(self, grad_output, (*input_shape[:2], *self._output_size(input_shape)),
                          self.input_dtype)
        if not need_input_grad:
            return None
        share = grad_output / self._divisor(input_shape).astype(grad_output.dtype)   # eq. (8)
        dx, d_windows = self._gradient_windows(input_shape, grad_output.dtype)
        for p, q in np.ndindex(self.kernel_size):                           # one pass per window cell
            d_windows[:, :, p, q] = share                                    # eq. (8): every cell the same share
        return self._add_to_input(d_windows, input_shape) if dx is None else dx      # eq. (9)

    def _divisor(self, input_shape):
        """(Ho, Wo): the number each window's sum is divided by, eq. (5); one count per axis, multiplied."""
        if self.divisor_override is not None:
            return np.full(self._output_size(input_shape), self.divisor_override)
        counts = []
        for size, out, k, s, p in zip(input_shape[2:], self._output_size(input_shape), self.kernel_size,
                                      self.stride, self.padding):
            start = np.arange(out) * s - p                      # in input coordinates: −p is the first padding cell
            end = np.minimum(start + k, size + p)               # a window reaches at most to the padding's end
            if not self.count_include_pad:
                start, end = np.maximum(start, 0), np.minimum(end, size)
            counts.append(end - start)
        return np.outer(*counts)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
