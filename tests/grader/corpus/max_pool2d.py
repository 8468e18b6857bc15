"""MaxPool2d.backward: each window's G to the cell forward picked (eq. (6)), added back where it read (eq. (7))."""

from . import PASS, UNNAMED, Entry

VECTORISED = """\
        N, C, H, W = self.input_shape
        k_h, k_w = self.kernel_size
        (P_h, P_w) = self.padding
        H_out, W_out = grad_output.shape[2:]
        d_windows = (self.routes * grad_output[:, :, np.newaxis]).reshape(N, C, k_h, k_w, H_out, W_out)
        d_padded = np.zeros((N, C, H + 2 * P_h, W + 2 * P_w))
        add_windows(d_padded, d_windows, self.stride, self.dilation)
        return d_padded[:, :, P_h:P_h + H, P_w:P_w + W]
"""
LOOPS = """\
        N, C, H, W = self.input_shape
        k_h, k_w = self.kernel_size
        (s_h, s_w), (d_h, d_w), (P_h, P_w) = self.stride, self.dilation, self.padding
        H_out, W_out = grad_output.shape[2:]
        d_padded = np.zeros((N, C, H + 2 * P_h, W + 2 * P_w))
        for n in range(N):
            for c in range(C):
                for i in range(H_out):
                    for j in range(W_out):
                        p, q = divmod(int(np.argmax(self.routes[n, c, :, i, j])), k_w)
                        d_padded[n, c, i * s_h + p * d_h, j * s_w + q * d_w] += grad_output[n, c, i, j]
        return d_padded[:, :, P_h:P_h + H, P_w:P_w + W]
"""
WINDOWS = """\
        N, C, H, W = self.input_shape
        k_h, k_w = self.kernel_size
        (s_h, s_w), (d_h, d_w), (P_h, P_w) = self.stride, self.dilation, self.padding
        H_out, W_out = grad_output.shape[2:]
        routes = self.routes.reshape(N, C, k_h, k_w, H_out, W_out)
        d_padded = np.zeros((N, C, H + 2 * P_h, W + 2 * P_w))
        for i in range(H_out):
            for j in range(W_out):
                rows = slice(i * s_h, i * s_h + d_h * (k_h - 1) + 1, d_h)
                cols = slice(j * s_w, j * s_w + d_w * (k_w - 1) + 1, d_w)
                d_padded[:, :, rows, cols] += routes[:, :, :, :, i, j] * grad_output[:, :, i, j, None, None]
        return d_padded[:, :, P_h:P_h + H, P_w:P_w + W]
"""

ENTRIES = [
    Entry("vectorised", "right, with add_windows", PASS, VECTORISED),
    Entry("loops", "right, the maximum's cell found window by window", PASS, LOOPS),
    Entry("windows", "right, one window's mask at a time", PASS, WINDOWS),
    Entry("vectorised", "G to every cell of its window", "max to whole window", VECTORISED.replace(
        "(self.routes * grad_output[:, :, np.newaxis])",
        "np.broadcast_to(grad_output[:, :, np.newaxis], self.routes.shape)")),
    Entry("loops", "= at the maximum's cell", "windows overwritten", LOOPS.replace("q * d_w] += ", "q * d_w] = ")),
    Entry("windows", "= of the window's masked G", "windows overwritten",
          WINDOWS.replace("d_padded[:, :, rows, cols] += ", "d_padded[:, :, rows, cols] = ")),
    Entry("loops", "windows at (i, j)", "stride ignored",
          LOOPS.replace("i * s_h + p * d_h, j * s_w + q * d_w", "i + p * d_h, j + q * d_w")),
    Entry("loops", "taps next to each other", "dilation ignored",
          LOOPS.replace("i * s_h + p * d_h, j * s_w + q * d_w", "i * s_h + p, j * s_w + q")),
    Entry("vectorised", "the padded gradient returned", "border kept",
          VECTORISED.replace("return d_padded[:, :, P_h:P_h + H, P_w:P_w + W]", "return d_padded")),
    Entry("vectorised", "the border cut with P:-P", "border cut with -0",
          VECTORISED.replace("d_padded[:, :, P_h:P_h + H, P_w:P_w + W]", "d_padded[:, :, P_h:-P_h, P_w:-P_w]")),
    Entry("vectorised", "the taps read column by column", UNNAMED, VECTORISED.replace(
        ".reshape(N, C, k_h, k_w, H_out, W_out)", ".reshape(N, C, k_h, k_w, H_out, W_out).transpose(0, 1, 3, 2, 4, 5)"),
        points_at="(6)"),
]
