"""Exercise: AvgPool2d.backward, the average of each window.

Average pooling pads x with zeros and divides the sum of every kH × kW
window by a divisor D[i, j] (eq. (4)): the window's size kH·kW, or, with
`count_include_pad=False`, only its cells inside the input (eq. (5)). Each
cell of window (i, j) enters that average with rate 1/D[i, j], and a cell in
several overlapping windows (stride smaller than the kernel) collects from
each of them.

Read `derivations/pooling.md`, section Backward: eq. (8) gives each cell of a
window its share of the window's gradient, eq. (9) adds the shares back
into the padded input and cuts the padding off. Then write `backward` below.
It takes G = grad_output, dL/dy of shape (N, C, Ho, Wo), and returns dL/dx
of the shape of x, (N, C, H, W). There are no parameters.

`forward` is written. It keeps the divisors D (Ho, Wo) in `self.divisor` and
the shape of x in `self.input_shape`. `kernel_size`, `stride` and `padding`
are stored as (height, width) pairs; cell (p, q) of window (i, j) sits at row
s·i + p and column s·j + q of the padded input. `add_windows` in
`manualnet/nn/windows.py` does the adding of eq. (9) if you want it. Grade your
backward with

    python -m manualnet exercises check avg_pool2d

and `git checkout exercises/avg_pool2d.py` brings this stub back.

한국어
------

연습: AvgPool2d의 backward — 각 window의 평균.

average pooling은 x를 0으로 padding하고 모든 kH × kW window의 합을 divisor D[i, j]로
나눈다 (식 (4)). divisor는 window의 크기 kH·kW이고, `count_include_pad=False`이면 입력
안에 있는 칸의 수이다 (식 (5)). window (i, j)의 각 칸은 rate 1/D[i, j]로 평균에 들어가고,
겹치는 여러 window (stride가 kernel보다 작을 때)에 속한 칸은 각 window에서 받은 것을
더한다.

먼저 `derivations/pooling.md`의 Backward 절을 읽는다. 식 (8)이 window의 gradient를 각
칸에 나누어 주고, 식 (9)가 그것을 padding된 입력에 더한 뒤 padding을 잘라낸다. 그다음
아래의 `backward`를 작성한다. 입력 G = grad_output은 shape (N, C, Ho, Wo)의 dL/dy이고,
x와 같은 shape (N, C, H, W)의 dL/dx를 돌려준다. parameter는 없다.

`forward`는 이미 작성되어 있다. divisor D (Ho, Wo)를 `self.divisor`에, x의 shape를
`self.input_shape`에 저장해 둔다. `kernel_size`, `stride`, `padding`은 (height, width) 쌍으로
저장되어 있고, window (i, j)의 칸 (p, q)는 padding된 입력의 행 s·i + p, 열 s·j + q에 있다.
식 (9)의 더하기는 `manualnet/nn/windows.py`의 `add_windows`를 써도 된다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check avg_pool2d

`git checkout exercises/avg_pool2d.py`를 실행하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn
from manualnet.nn.windows import add_windows, windows  # noqa: F401  (add_windows: eq. (9), if you use it)


def pair(value):
    """An int or an (h, w) pair, as the (h, w) pair."""
    return (value, value) if isinstance(value, int) else tuple(value)


class AvgPool2d(mn.Module):
    """y[n, c, i, j] = the sum of window (i, j) of x[n, c] divided by its divisor.  Derivation: derivations/pooling.md

    Shape: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = ⌊(H + 2P − kH)/s⌋ + 1, likewise Wo;
    ``stride`` defaults to ``kernel_size``.
    """

    saved_for_backward = ("divisor", "input_shape")

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__()
        self.kernel_size = pair(kernel_size)
        self.stride = self.kernel_size if stride is None else pair(stride)
        self.padding, self.count_include_pad = pair(padding), count_include_pad

    def forward(self, x):
        (P_h, P_w) = self.padding
        x_padded = np.pad(x, ((0, 0), (0, 0), (P_h, P_h), (P_w, P_w)))            # zeros
        cells = windows(x_padded, self.kernel_size, self.stride, (1, 1))           # (N, C, kH, kW, Ho, Wo), a view
        counts = []                                                                # h_i and w_j of eq. (5)
        for size, out, k, s, P in zip(x.shape[2:], cells.shape[4:], self.kernel_size, self.stride, self.padding):
            start = np.arange(out) * s - P                                         # t_i, in input coordinates
            end = start + k
            if not self.count_include_pad:
                start, end = np.maximum(start, 0), np.minimum(end, size)
            counts.append(end - start)
        self.divisor = np.outer(*counts)                                           # D, eq. (5), kept for backward
        self.input_shape = x.shape                                                 # kept for backward
        return cells.sum(axis=(2, 3)) / self.divisor                               # eq. (4)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; return dL/dx."""
        raise NotImplementedError(
            "write AvgPool2d.backward in exercises/avg_pool2d.py: read derivations/pooling.md#backward, "
            "eq. (8) for each cell's share, (9) for dL/dx; then run: python -m manualnet exercises check avg_pool2d"
        )
