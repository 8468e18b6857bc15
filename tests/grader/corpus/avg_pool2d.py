"""AvgPool2d.backward: every cell of window (i, j) gets G/D[i, j] (eq. (8)), added back where it read (eq. (9))."""

from . import PASS, UNNAMED, Entry

VECTORISED = """\
        N, C, H, W = self.input_shape
        k_h, k_w = self.kernel_size
        (P_h, P_w) = self.padding
        share = grad_output / self.divisor
        d_windows = np.broadcast_to(share[:, :, np.newaxis, np.newaxis], (N, C, k_h, k_w, *share.shape[2:]))
        d_padded = add_windows(np.zeros((N, C, H + 2 * P_h, W + 2 * P_w)), d_windows, self.stride, (1, 1))
        return d_padded[:, :, P_h:P_h + H, P_w:P_w + W]
"""
LOOPS = """\
        N, C, H, W = self.input_shape
        k_h, k_w = self.kernel_size
        (s_h, s_w), (P_h, P_w) = self.stride, self.padding
        H_out, W_out = grad_output.shape[2:]
        d_padded = np.zeros((N, C, H + 2 * P_h, W + 2 * P_w))
        for i in range(H_out):
            for j in range(W_out):
                share = grad_output[:, :, i, j] / self.divisor[i, j]
                d_padded[:, :, i * s_h:i * s_h + k_h, j * s_w:j * s_w + k_w] += share[:, :, None, None]
        return d_padded[:, :, P_h:P_h + H, P_w:P_w + W]
"""

ENTRIES = [
    Entry("vectorised", "right, with add_windows", PASS, VECTORISED),
    Entry("loops", "right, window by window", PASS, LOOPS),
    Entry("vectorised", "G spread without dividing", "not divided",
          VECTORISED.replace("share = grad_output / self.divisor", "share = grad_output")),
    Entry("loops", "kH·kW for the divisor", "divided by kH·kW", LOOPS.replace("/ self.divisor[i, j]", "/ (k_h * k_w)")),
    Entry("vectorised", "D applied twice", "divided twice",
          VECTORISED.replace("share = grad_output / self.divisor", "share = grad_output / self.divisor ** 2")),
    Entry("loops", "= into each window", "windows overwritten",
          LOOPS.replace("j * s_w + k_w] += ", "j * s_w + k_w] = ")),
    Entry("loops", "windows at (i, j)", "stride ignored",
          LOOPS.replace("d_padded[:, :, i * s_h:i * s_h + k_h, j * s_w:j * s_w + k_w]", "d_padded[:, :, i:i + k_h, j:j + k_w]")),
    Entry("vectorised", "the padded gradient returned", "border kept",
          VECTORISED.replace("return d_padded[:, :, P_h:P_h + H, P_w:P_w + W]", "return d_padded")),
    Entry("vectorised", "the border cut with P:-P", "border cut with -0",
          VECTORISED.replace("d_padded[:, :, P_h:P_h + H, P_w:P_w + W]", "d_padded[:, :, P_h:-P_h, P_w:-P_w]")),
    Entry("vectorised", "D read as D[j, i]", UNNAMED,
          VECTORISED.replace("share = grad_output / self.divisor", "share = grad_output / self.divisor.T"),
          points_at="(8)"),
]
