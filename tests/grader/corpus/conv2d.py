"""Conv2d.backward: dL/dW (eq. (4), im2col (12)), dL/db (5), dL/dx through the windows (6), (8) (im2col (13), (14)),
or as the full correlation of the dilated G with the flipped kernel (7)."""

from . import ERROR, PASS, UNNAMED, Entry

IM2COL = """\
        O = self.out_channels
        G_mat = grad_output.transpose(1, 0, 2, 3).reshape(O, -1)
        self.weight.grad += (G_mat @ self.X_col.T).reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += G_mat.sum(axis=1)
        d_cols = self.weight.data.reshape(O, -1).T @ G_mat
        d_padded = col2im(d_cols[np.newaxis], self.x_padded.shape, self.kernel_size, self.stride, self.dilation)
        (P_h, P_w) = self.padding
        return d_padded[:, :, P_h:d_padded.shape[2] - P_h, P_w:d_padded.shape[3] - P_w]
"""
LOOPS = """\
        N, C, H_pad, W_pad = self.x_padded.shape
        O, _, k_h, k_w = self.weight.shape
        (s_h, s_w), (d_h, d_w), (P_h, P_w) = self.stride, self.dilation, self.padding
        H_out, W_out = grad_output.shape[2:]
        dx_padded = np.zeros_like(self.x_padded)
        for n in range(N):
            for o in range(O):
                for i in range(H_out):
                    for j in range(W_out):
                        g = grad_output[n, o, i, j]
                        rows = slice(i * s_h, i * s_h + d_h * (k_h - 1) + 1, d_h)
                        cols = slice(j * s_w, j * s_w + d_w * (k_w - 1) + 1, d_w)
                        self.weight.grad[o] += g * self.x_padded[n, :, rows, cols]
                        dx_padded[n, :, rows, cols] += g * self.weight.data[o]
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=(0, 2, 3))
        return dx_padded[:, :, P_h:H_pad - P_h, P_w:W_pad - P_w]
"""
TAPS = """\
        (s_h, s_w), (d_h, d_w), (P_h, P_w) = self.stride, self.dilation, self.padding
        k_h, k_w = self.kernel_size
        H_out, W_out = grad_output.shape[2:]
        dx_padded = np.zeros_like(self.x_padded)
        for p in range(k_h):
            for q in range(k_w):
                rows = slice(p * d_h, p * d_h + s_h * (H_out - 1) + 1, s_h)
                cols = slice(q * d_w, q * d_w + s_w * (W_out - 1) + 1, s_w)
                self.weight.grad[:, :, p, q] += np.einsum("noij,ncij->oc", grad_output, self.x_padded[:, :, rows, cols])
                dx_padded[:, :, rows, cols] += np.einsum("noij,oc->ncij", grad_output, self.weight.data[:, :, p, q])
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=(0, 2, 3))
        H_pad, W_pad = dx_padded.shape[2:]
        return dx_padded[:, :, P_h:H_pad - P_h, P_w:W_pad - P_w]
"""
CORRELATION = """\
        N, C, H_pad, W_pad = self.x_padded.shape
        O, _, k_h, k_w = self.weight.shape
        (s_h, s_w), (d_h, d_w), (P_h, P_w) = self.stride, self.dilation, self.padding
        H_out, W_out = grad_output.shape[2:]
        for p in range(k_h):
            for q in range(k_w):
                rows = slice(p * d_h, p * d_h + s_h * (H_out - 1) + 1, s_h)
                cols = slice(q * d_w, q * d_w + s_w * (W_out - 1) + 1, s_w)
                self.weight.grad[:, :, p, q] += np.einsum("noij,ncij->oc", grad_output, self.x_padded[:, :, rows, cols])
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=(0, 2, 3))
        G = np.zeros((N, O, s_h * (H_out - 1) + 1, s_w * (W_out - 1) + 1))
        G[:, :, ::s_h, ::s_w] = grad_output
        r_h, r_w = d_h * (k_h - 1), d_w * (k_w - 1)
        G = np.pad(G, ((0, 0), (0, 0), (r_h, r_h), (r_w, r_w)))
        kernel = self.weight.data[:, :, ::-1, ::-1]
        dx_padded = np.zeros_like(self.x_padded)
        H_cover, W_cover = G.shape[2] - r_h, G.shape[3] - r_w
        for p in range(k_h):
            for q in range(k_w):
                window = G[:, :, p * d_h:p * d_h + H_cover, q * d_w:q * d_w + W_cover]
                dx_padded[:, :, :H_cover, :W_cover] += np.einsum("noab,oc->ncab", window, kernel[:, :, p, q])
        return dx_padded[:, :, P_h:H_pad - P_h, P_w:W_pad - P_w]
"""

ENTRIES = [
    Entry("im2col", "right", PASS, IM2COL),
    Entry("loops", "right, one window at a time", PASS, LOOPS),
    Entry("taps", "right, one kernel tap at a time", PASS, TAPS),
    Entry("correlation", "right, the dilated G with the flipped kernel", PASS, CORRELATION),
    Entry("im2col", "= into weight.grad", "not accumulated", IM2COL.replace("self.weight.grad += ", "self.weight.grad = ")),
    Entry("im2col", "G_mat without the transpose", "G reshaped without its transpose",
          IM2COL.replace("grad_output.transpose(1, 0, 2, 3).reshape(O, -1)", "grad_output.reshape(O, -1)")),
    Entry("im2col", "d_padded returned as it is", "border kept",
          IM2COL.replace("return d_padded[:, :, P_h:d_padded.shape[2] - P_h, P_w:d_padded.shape[3] - P_w]",
                         "return d_padded")),
    Entry("im2col", "the border cut with P:-P", "border cut with -0",
          IM2COL.replace("d_padded[:, :, P_h:d_padded.shape[2] - P_h, P_w:d_padded.shape[3] - P_w]",
                         "d_padded[:, :, P_h:-P_h, P_w:-P_w]")),
    Entry("loops", "= into dx's window", "windows overwritten",
          LOOPS.replace("dx_padded[n, :, rows, cols] += ", "dx_padded[n, :, rows, cols] = ")),
    Entry("loops", "= into weight.grad in the loop", "windows overwritten",
          LOOPS.replace("self.weight.grad[o] += ", "self.weight.grad[o] = ")),
    Entry("taps", "= into each tap's cells", "windows overwritten",
          TAPS.replace("dx_padded[:, :, rows, cols] += ", "dx_padded[:, :, rows, cols] = ")),
    Entry("loops", "windows at (i, j), the stride left out", "stride ignored",
          LOOPS.replace("slice(i * s_h, i * s_h + ", "slice(i, i + ").replace("slice(j * s_w, j * s_w + ", "slice(j, j + ")),
    Entry("loops", "taps next to each other, the dilation left out", "dilation ignored",
          LOOPS.replace("d_h * (k_h - 1) + 1, d_h)", "k_h)").replace("d_w * (k_w - 1) + 1, d_w)", "k_w)")),
    Entry("correlation", "the kernel as it is", "kernel not flipped",
          CORRELATION.replace("self.weight.data[:, :, ::-1, ::-1]", "self.weight.data")),
    Entry("correlation", "G not spread out by the stride", "stride ignored", CORRELATION.replace(
        "G = np.zeros((N, O, s_h * (H_out - 1) + 1, s_w * (W_out - 1) + 1))\n        G[:, :, ::s_h, ::s_w] = grad_output",
        "G = grad_output")),
    Entry("taps", "the bias gradient summed over the channels too", UNNAMED,
          TAPS.replace("grad_output.sum(axis=(0, 2, 3))", "grad_output.sum()"), points_at="(5)"),
    Entry("loops", "the bias gradient summed over the batch alone", ERROR,
          LOOPS.replace("grad_output.sum(axis=(0, 2, 3))", "grad_output.sum(axis=0)")),
]
