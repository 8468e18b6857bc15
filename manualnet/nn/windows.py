"""Sliding windows over the last two axes of an (N, C, H, W) array, and the adjoint of each step.

Convolution and pooling read an image the same way: pad it, then look at
every kH × kW window, one every ``stride`` cells, its taps ``dilation``
cells apart.  This module holds that machinery once, for Conv1d, Conv2d,
MaxPool2d and AvgPool2d, each step with its adjoint for the backward pass:

* ``output_size``: how many windows fit along one axis, eq. (3);
* ``pad`` and ``pad_adjoint``: the padded image x̃, eq. (2), and dL/dx from dL/dx̃, eq. (8);
* ``windows``: every window as a read-only view (N, C, kH, kW, Ho, Wo), no copy, eq. (9);
* ``add_windows``: its adjoint, each window's gradient added back where the window read, eq. (14);
* ``im2col`` and ``col2im``: the same two, laid out for the convolution's one matrix product, eq. (10), (14).

``add_windows`` loops over the kH·kW kernel offsets, each step one strided
add over all of N, C, Ho and Wo.  It was measured against the alternative,
the full correlation of the dilated G with the flipped kernel (an im2col of
G and a second matrix product): for 3×3 kernels at the sizes of
``benchmarks/`` it was as fast or faster (the README's Performance section
gives the numbers).
Derivation: derivations/conv2d.md
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# PyTorch's padding modes (torch.nn.functional.pad) in NumPy's words.
NUMPY_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def output_size(size, kernel, stride, padding, dilation=1, ceil_mode=False):
    """The number of windows along one axis: ⌊(size + padding − d(k − 1) − 1)/s⌋ + 1, eq. (3).

    ``padding`` is the total added on both sides.  ``ceil_mode`` (pooling,
    whose padding is p on each side) rounds up instead, as PyTorch does, and
    then drops a last window that would start in the right padding: it would
    cover no input at all.
    """
    span = dilation * (kernel - 1) + 1
    reach = size + padding - span
    count = (reach + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (count - 1) * stride >= size + padding // 2:
        count -= 1
    return count


def pad(x, padding, mode="constant", value=0.0):
    """x (N, C, H, W) with ``padding`` ((top, bottom), (left, right)) cells added: x̃ of eq. (2).

    ``mode`` is one of torch.nn.functional.pad's: 'constant' (cells of
    ``value``: 0 for convolution and average pooling, −∞ for max pooling),
    'reflect', 'replicate' or 'circular'.  No padding returns x itself.
    """
    if not any(before or after for before, after in padding):
        return x
    widths = ((0, 0), (0, 0), *padding)
    if mode == "constant":
        return np.pad(x, widths, constant_values=value)
    return np.pad(x, widths, mode=NUMPY_PAD_MODES[mode])


def pad_adjoint(d_padded, padding, mode="constant"):
    """dL/dx from dL/dx̃: each padded cell's gradient goes back to the input cell it copied, eq. (8).

    Constant padding copies nothing, so dL/dx is the middle of dL/dx̃ (a
    view).  'reflect', 'replicate' and 'circular' copy input cells into the
    border: those cells receive the border's gradient too, added axis by axis.
    """
    (top, bottom), (left, right) = padding
    height = d_padded.shape[2] - top - bottom
    width = d_padded.shape[3] - left - right
    if mode == "constant":
        return d_padded[:, :, top:top + height, left:left + width]
    grad = d_padded
    for axis, (before, after) in ((2, padding[0]), (3, padding[1])):
        size = grad.shape[axis] - before - after
        source = np.pad(np.arange(size), (before, after), mode=NUMPY_PAD_MODES[mode])   # the cell each one copies
        summed = np.zeros(grad.shape[:axis] + (size,) + grad.shape[axis + 1:], dtype=grad.dtype)
        np.add.at(summed, (slice(None),) * axis + (source,), grad)
        grad = summed
    return grad


def windows(padded, kernel, stride, dilation, writeable=False):
    """Every window of ``padded`` (N, C, Hp, Wp) as a view (N, C, kH, kW, Ho, Wo), eq. (9).

    view[n, c, p, q, i, j] = padded[n, c, s_h·i + d_h·p, s_w·j + d_w·q]: no
    value is copied; the view only walks the same memory with other strides.
    Read-only unless ``writeable``, which is safe only where the windows do
    not overlap (a write would otherwise land in several windows at once).
    """
    (kernel_h, kernel_w), (stride_h, stride_w), (dilation_h, dilation_w) = kernel, stride, dilation
    span = (dilation_h * (kernel_h - 1) + 1, dilation_w * (kernel_w - 1) + 1)
    view = sliding_window_view(padded, span, axis=(2, 3), writeable=writeable)   # (N, C, Hp − span + 1, Wp − span + 1, *span)
    return view[:, :, ::stride_h, ::stride_w, ::dilation_h, ::dilation_w].transpose(0, 1, 4, 5, 2, 3)


def add_windows(d_padded, d_windows, stride, dilation):
    """The adjoint of ``windows``: add d_windows[n, c, p, q, i, j] into d_padded[n, c, s_h·i + d_h·p, s_w·j + d_w·q], eq. (14).

    Windows that overlap add into the same cells.  One vectorised strided add
    per kernel offset (p, q), each over all of N, C, Ho and Wo; returns d_padded.
    Where the windows tile without overlapping (a stride at least the span
    d·(k − 1) + 1 on both axes, as pooling's default) every cell receives one
    value at most, and writing it does what adding it to 0 does, with half
    the memory traffic.
    """
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    _, _, kernel_h, kernel_w, out_h, out_w = d_windows.shape
    overlap = stride_h < dilation_h * (kernel_h - 1) + 1 or stride_w < dilation_w * (kernel_w - 1) + 1
    for p in range(kernel_h):
        rows = slice(dilation_h * p, dilation_h * p + stride_h * (out_h - 1) + 1, stride_h)
        for q in range(kernel_w):
            columns = slice(dilation_w * q, dilation_w * q + stride_w * (out_w - 1) + 1, stride_w)
            if overlap:
                d_padded[:, :, rows, columns] += d_windows[:, :, p, q]
            else:
                d_padded[:, :, rows, columns] = d_windows[:, :, p, q]
    return d_padded


def im2col(padded, kernel, stride, dilation, groups=1):
    """The windows copied into the columns of one matrix per group: (groups, C/groups·kH·kW, N·Ho·Wo), eq. (10).

    Row (c, p, q) and column (n, i, j) hold padded[n, c, s_h·i + d_h·p, s_w·j + d_w·q].
    Always a copy (the layer keeps it for backward); the copy keeps Wo the
    fastest axis, so it reads whole runs of each image row.
    """
    view = windows(padded, kernel, stride, dilation)               # (N, C, kH, kW, Ho, Wo)
    columns = view.transpose(1, 2, 3, 0, 4, 5).copy()              # (C, kH, kW, N, Ho, Wo)
    channels, kernel_h, kernel_w, batch, out_h, out_w = columns.shape    # every size given: N may be 0
    return columns.reshape(groups, channels // groups * kernel_h * kernel_w, batch * out_h * out_w)


def col2im(d_columns, padded_shape, kernel, stride, dilation):
    """The adjoint of ``im2col``: the gradient of each column entry added back into dL/dx̃ (N, C, Hp, Wp), eq. (14)."""
    batch, channels, padded_h, padded_w = padded_shape
    out_h = output_size(padded_h, kernel[0], stride[0], 0, dilation[0])
    out_w = output_size(padded_w, kernel[1], stride[1], 0, dilation[1])
    d_windows = d_columns.reshape(channels, *kernel, batch, out_h, out_w).transpose(3, 0, 1, 2, 4, 5)
    return add_windows(np.zeros(padded_shape, dtype=d_columns.dtype), d_windows, stride, dilation)
