"""Convolution layers, Conv2d and Conv1d, and the naive loops to read beside them.

The layers compute with one matrix product: the input's windows are copied
into the columns of a matrix (im2col), the kernel is a matrix, and the
product is every output at once; backward is two more products and the
columns' gradient added back into the image (col2im).  ``manualnet.windows``
holds that machinery, shared with pooling.  Conv1d is Conv2d on images of
height 1, so both run the same forward and backward.

``conv2d_naive_forward`` and ``conv2d_naive_backward`` compute the same
numbers one output entry at a time, with the derivation's index formulas
written as loops: slow, and meant to be read next to derivations/conv2d.md.
tests/nn/test_conv.py proves the two implementations equal.
"""

import math

import numpy as np

from manualnet.nn import init
from manualnet._checks import check_device, check_dtype_matches, check_float_array, check_grad_output, check_int_tuple, check_positive_int, name_of
from manualnet.nn._version_counter import check_versions, versions
from manualnet.nn.modules.module import Module
from manualnet.nn.parameter import Parameter, as_float_dtype
from manualnet._rng import as_generator
from manualnet._threads import threads_for
from manualnet.nn.windows import col2im, im2col, output_size, pad, pad_adjoint

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("valid", "same")


class _ConvNd(Module):
    """Conv1d and Conv2d: PyTorch's arguments, weight layout and init, and one forward and backward in 2-D.

    A 1-D layer lifts everything to two dimensions with height 1 — input
    (N, C, L) is read as (N, C, 1, L), kernel (k,) as (1, k) — so the math
    below is written once.  ``self._kernel``, ``self._stride``,
    ``self._dilation`` and ``self._padding`` ((top, bottom), (left, right))
    hold that 2-D geometry.
    """

    spatial_dims = 2
    saved_for_backward = ("cols", "input_shape", "versions")
    backward_reads = ("weight",)                     # for dL/dx: backward checks it is still at forward's version

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=np.float32, rng=None):
        super().__init__()
        owner, dims = type(self).__name__, self.spatial_dims
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.out_channels = check_positive_int(owner, "out_channels", out_channels)
        self.kernel_size = check_int_tuple(owner, "kernel_size", kernel_size, dims, minimum=1)
        self.stride = check_int_tuple(owner, "stride", stride, dims, minimum=1)
        self.dilation = check_int_tuple(owner, "dilation", dilation, dims, minimum=1)
        self.groups = check_positive_int(owner, "groups", groups)
        self.padding = _check_padding(owner, padding, dims, self.stride)
        self.padding_mode = _check_padding_mode(owner, padding_mode)
        check_device(owner, device)
        for name, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels % self.groups:
                raise ValueError(f"{owner}: {name} must be divisible by groups, got {name}={channels}, "
                                 f"groups={self.groups}")
        dtype = as_float_dtype(dtype, owner)
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels // self.groups, *self.kernel_size),
                                         dtype=dtype))
        self.bias = Parameter(np.empty(self.out_channels, dtype=dtype)) if bias else None
        self.reset_parameters(rng)

        lift = (1,) * (2 - dims)
        self._kernel, self._stride, self._dilation = lift + self.kernel_size, lift + self.stride, lift + self.dilation
        per_axis = (self.padding,) * dims if isinstance(self.padding, str) else self.padding
        self._padding = ((0, 0),) * (2 - dims) + tuple(
            _padding_amounts(p, k, d) for p, k, d in zip(per_axis, self.kernel_size, self.dilation))
        self._pad_mode = "constant" if self.padding_mode == "zeros" else self.padding_mode

    def reset_parameters(self, rng=None):
        """PyTorch's default init: W and b uniform in ±1/√fan_in, fan_in = (in_channels/groups)·kH·kW."""
        rng = as_generator(rng)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def forward(self, x):
        self._check_input(x)
        image = x.reshape(len(x), self.in_channels, *self._image_size(x.shape))   # Conv1d: (N, C, 1, L)
        padded = pad(image, self._padding, self._pad_mode)                        # eq. (2)
        self.cols = im2col(padded, self._kernel, self._stride, self._dilation, self.groups)   # eq. (10)
        self.input_shape = x.shape
        self.versions = versions(self)                                            # of W, which backward reads again
        threads_for(self.weight.size * self.cols.shape[2])                       # BLAS threads by size (_threads.py)
        y = np.matmul(self._weight_matrices(), self.cols)                        # eq. (11): (g, O/g, N·Ho·Wo)
        output_shape = self._output_shape(x.shape)
        y = y.reshape(self.out_channels, len(x), math.prod(output_shape[2:]))    # sizes given: N may be 0
        if self.bias is not None:
            y += self.bias.data[:, np.newaxis, np.newaxis]                        # eq. (11)
        return y.transpose(1, 0, 2).reshape(output_shape)                        # (O, N, ·) -> (N, O, ·)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        cols, input_shape = self.cols, self.input_shape
        check_versions(self, self.versions)
        check_grad_output(self, grad_output, self._output_shape(input_shape), cols.dtype)
        G = grad_output.reshape(*grad_output.shape[:2], math.prod(grad_output.shape[2:])).transpose(1, 0, 2)  # (O, N, Ho·Wo)
        G = G.reshape(self.groups, self.out_channels // self.groups, -1)                      # (g, O/g, N·Ho·Wo)
        threads_for(self.weight.size * cols.shape[2])                                         # each product's size
        self.weight.grad += np.matmul(G, cols.transpose(0, 2, 1)).reshape(self.weight.shape)  # eq. (12)
        if self.bias is not None:
            self.bias.grad += G.sum(axis=2).reshape(-1)                                       # eq. (5)
        if not need_input_grad:
            return None
        return self._input_gradient(G, input_shape)

    def _input_gradient(self, G, input_shape):
        """dL/dx from G (g, O/g, N·Ho·Wo): the columns' gradient, added back where each column was read."""
        d_cols = np.matmul(self._weight_matrices().transpose(0, 2, 1), G)                    # eq. (13)
        padded_shape = (input_shape[0], self.in_channels, *self._padded_size(input_shape))
        d_padded = col2im(d_cols, padded_shape, self._kernel, self._stride, self._dilation)   # eq. (14)
        # A copy, not the view of d_padded's middle that pad_adjoint gives: the layer before
        # (the CNN's MaxPool2d) ran its backward twice as fast on a contiguous gradient.
        return np.ascontiguousarray(pad_adjoint(d_padded, self._padding, self._pad_mode)).reshape(input_shape)   # eq. (8)

    # -- shapes -----------------------------------------------------------------

    def _weight_matrices(self):
        """The kernel as one matrix per group: (g, O/g, C/g·kH·kW), a view of the weight, eq. (15)."""
        return self.weight.data.reshape(self.groups, self.out_channels // self.groups, -1)

    def _image_size(self, input_shape):
        """(H, W) of the input as a 2-D image: (1, L) for Conv1d."""
        return (1,) * (2 - self.spatial_dims) + tuple(input_shape[2:])

    def _padded_size(self, input_shape):
        return tuple(size + before + after for size, (before, after) in zip(self._image_size(input_shape),
                                                                             self._padding))

    def _output_shape(self, input_shape):
        """(N, out_channels, Ho, Wo), or (N, out_channels, Lo) for Conv1d: eq. (3) per axis."""
        sizes = [output_size(size, k, s, 0, d) for size, k, s, d in
                 zip(self._padded_size(input_shape), self._kernel, self._stride, self._dilation)]
        return (input_shape[0], self.out_channels, *sizes[2 - self.spatial_dims:])

    def _check_input(self, x):
        check_float_array(self, x)
        dims = self.spatial_dims
        if x.ndim != 2 + dims or x.shape[1] != self.in_channels:
            axes = ", H, W" if dims == 2 else ", L"
            unbatched = x.ndim == 1 + dims and x.shape[0] == self.in_channels
            hint = (f"; for one unbatched sample (PyTorch accepts ({self.in_channels}{axes})) add the batch axis: "
                    "x[np.newaxis]") if unbatched else ""
            raise ValueError(f"{name_of(self)}: expected input of shape (N, {self.in_channels}{axes}) "
                             f"({self.in_channels} channels), got shape {x.shape} ({x.ndim}-D){hint}")
        check_dtype_matches(self, x, self.weight.dtype)
        for size, kernel, dilation, (before, after) in zip(self._image_size(x.shape), self._kernel,
                                                           self._dilation, self._padding):
            span = dilation * (kernel - 1) + 1
            if size + before + after < span:
                raise ValueError(
                    f"{name_of(self)}: input of shape {x.shape} is too small: its spatial size {x.shape[2:]}, "
                    f"padded to {self._padded_size(x.shape)[2 - dims:]}, is smaller than the dilated kernel "
                    f"(span d·(k − 1) + 1 = {span})")
            too_wide = (max(before, after) >= size if self.padding_mode == "reflect"
                        else max(before, after) > size if self.padding_mode == "circular" else False)
            if too_wide:
                raise ValueError(f"{name_of(self)}: padding_mode={self.padding_mode!r} needs padding "
                                 f"{'<' if self.padding_mode == 'reflect' else '<='} the input size, got padding "
                                 f"{max(before, after)} for input of shape {x.shape}")

    def extra_repr(self):
        """PyTorch's: sizes, kernel and stride, then only what differs from the defaults."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.spatial_dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.spatial_dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv2d(_ConvNd):
    """y[n, o] = b_o + Σ_c W[o, c] ⋆ x̃[n, c]: every kH × kW window times the kernel, summed.  Derivation: derivations/conv2d.md

    Shape: x (N, C_in, H, W) -> y (N, C_out, Ho, Wo) with
    Ho = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1 (eq. 3) and likewise Wo;
    weight (C_out, C_in/groups, kH, kW), bias (C_out,) — PyTorch's layout.

    PyTorch's arguments: ``kernel_size``, ``stride``, ``padding``,
    ``dilation`` as an int or an (h, w) pair; ``padding='valid'`` (none) or
    ``'same'`` (output as large as the input: d(k − 1) cells in all, the
    extra one of an even kernel at the bottom/right; stride 1 only);
    ``groups`` splits the channels into independent convolutions
    (``groups=in_channels`` is depthwise); ``padding_mode`` 'zeros',
    'reflect', 'replicate' or 'circular'.  Initialised as PyTorch does: W
    and b uniform in ±1/√fan_in with fan_in = (C_in/groups)·kH·kW.
    ``rng`` (Generator or int seed) makes it reproducible; ``dtype`` is
    float32 (default) or float64.  The math is in ``_ConvNd``, shared with Conv1d.
    """


class Conv1d(_ConvNd):
    """y[n, o] = b_o + Σ_c W[o, c] ⋆ x̃[n, c] along one axis (time series, text).  Derivation: derivations/conv2d.md

    Shape: x (N, C_in, L) -> y (N, C_out, Lo), Lo = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1 (eq. 3);
    weight (C_out, C_in/groups, k), bias (C_out,) — PyTorch's layout.

    The same arguments as Conv2d, each an int or a 1-tuple.  It computes as
    Conv2d on images of height 1 (the same ``_ConvNd`` forward and backward).
    """

    spatial_dims = 1


def _check_padding(owner, padding, dims, stride):
    """PyTorch's padding: an int, a tuple of ints, 'valid' or 'same' (stride 1 only)."""
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ValueError(f"{owner}: invalid padding string {padding!r}, should be one of {PADDING_STRINGS}")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(f"{owner}: padding='same' is not supported for strided convolutions, got "
                             f"stride={stride} (the output of a stride-s layer is about 1/s of the input)")
        return padding
    return check_int_tuple(owner, "padding", padding, dims, minimum=0)


def _check_padding_mode(owner, padding_mode):
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{owner}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    return padding_mode


def _padding_amounts(padding, kernel, dilation):
    """(before, after) along one axis; 'same' splits d(k − 1) with the odd cell after, as PyTorch."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        total = dilation * (kernel - 1)
        return (total // 2, total - total // 2)
    return (padding, padding)


# -- the naive version: the derivation's index formulas, one entry at a time ------------

def conv2d_naive_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Eq. (1) as loops: each output entry is its window times the kernel, summed.

    Shape: x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) or None -> y (N, O, Ho, Wo).
    ``stride``, ``padding`` (zeros), ``dilation``: an int or an (h, w) pair.
    Slow on purpose: read it beside derivations/conv2d.md; the layers compute the same numbers with im2col.
    """
    stride, (pad_h, pad_w), dilation = _naive_pairs("conv2d_naive_forward", stride, padding, dilation)
    N, C, H, W = x.shape
    O, C_group, kernel_h, kernel_w = weight.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))                    # eq. (2)
    out_h = (H + 2 * pad_h - dilation[0] * (kernel_h - 1) - 1) // stride[0] + 1            # eq. (3)
    out_w = (W + 2 * pad_w - dilation[1] * (kernel_w - 1) - 1) // stride[1] + 1            # eq. (3)
    y = np.zeros((N, O, out_h, out_w), dtype=x.dtype)
    for n in range(N):
        for o in range(O):
            group = o // (O // groups)                       # output channel o reads input channels of its group
            channels = slice(group * C_group, (group + 1) * C_group)
            for i in range(out_h):
                for j in range(out_w):
                    rows, cols = _window(i, j, (kernel_h, kernel_w), stride, dilation)
                    y[n, o, i, j] = np.sum(weight[o] * x_pad[n, channels, rows, cols])   # eq. (1)
                    if bias is not None:
                        y[n, o, i, j] += bias[o]                                      # eq. (1)
    return y


def conv2d_naive_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Eq. (4) to (8) as loops: each G[n, o, i, j] flows back to the window and the kernel it multiplied.

    Shape: grad_output (N, O, Ho, Wo), x (N, C, H, W), weight (O, C/groups, kH, kW)
    -> (dx (N, C, H, W), dweight (O, C/groups, kH, kW), dbias (O,)).
    """
    stride, (pad_h, pad_w), dilation = _naive_pairs("conv2d_naive_backward", stride, padding, dilation)
    N, C, H, W = x.shape
    O, C_group, kernel_h, kernel_w = weight.shape
    _, _, out_h, out_w = grad_output.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))                    # eq. (2)
    dx_pad, dweight = np.zeros_like(x_pad), np.zeros_like(weight)
    dbias = np.zeros(O, dtype=weight.dtype)
    for n in range(N):
        for o in range(O):
            group = o // (O // groups)
            channels = slice(group * C_group, (group + 1) * C_group)
            for i in range(out_h):
                for j in range(out_w):
                    rows, cols = _window(i, j, (kernel_h, kernel_w), stride, dilation)
                    g = grad_output[n, o, i, j]
                    dweight[o] += g * x_pad[n, channels, rows, cols]                  # eq. (4)
                    dbias[o] += g                                                     # eq. (5)
                    dx_pad[n, channels, rows, cols] += g * weight[o]                  # eq. (6)
    dx = dx_pad[:, :, pad_h:pad_h + H, pad_w:pad_w + W]                                # eq. (8)
    return dx, dweight, dbias


def _naive_pairs(owner, stride, padding, dilation):
    return (check_int_tuple(owner, "stride", stride, 2, minimum=1),
            check_int_tuple(owner, "padding", padding, 2, minimum=0),
            check_int_tuple(owner, "dilation", dilation, 2, minimum=1))


def _window(i, j, kernel, stride, dilation):
    """The rows and columns of x̃ that output (i, j) reads: s·i + d·p for p = 0 … k − 1, eq. (1)."""
    rows = slice(i * stride[0], i * stride[0] + dilation[0] * (kernel[0] - 1) + 1, dilation[0])
    cols = slice(j * stride[1], j * stride[1] + dilation[1] * (kernel[1] - 1) + 1, dilation[1])
    return rows, cols
