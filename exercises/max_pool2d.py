"""Exercise: MaxPool2d.backward, the largest entry of each window (the CNN's downsampling).

Max pooling pads x with −∞ (a padding cell never wins) and keeps the largest
entry of every kH × kW window (eq. (1)). A small change of any other cell of
the window leaves that maximum where it is; a small change of the maximum
moves the output one for one. So each window's gradient goes to its maximum
and nowhere else, and a cell that is the maximum of several overlapping
windows (stride smaller than the kernel) collects all of theirs.

Read `derivations/pooling.md`, section Backward: eq. (6) gives each window's
gradient to its maximum, eq. (7) adds the windows' gradients back into the
padded input and cuts the padding off. Then write `backward` below. It takes
G = grad_output, dL/dy of shape (N, C, Ho, Wo), and returns dL/dx of the
shape of x, (N, C, H, W). There are no parameters.

`forward` is written. It keeps r of eq. (2) in `self.routes`, a boolean array
(N, C, kH·kW, Ho, Wo): routes[n, c, p·kW + q, i, j] is True at the tap (p, q)
that holds window (i, j)'s maximum (the first one, row by row, if several
are equal, as PyTorch; the graded cases have no ties), and the shape of x in
`self.input_shape`. `kernel_size`, `stride`, `padding` and `dilation` are
stored as (height, width) pairs; tap (p, q) of window (i, j) sits at row
s·i + d·p and column s·j + d·q of the padded input. `add_windows` in
`manualnet/nn/windows.py` does the adding of eq. (7) if you want it. Grade your
backward with

    python -m manualnet exercises check max_pool2d

and `git checkout exercises/max_pool2d.py` brings this stub back.

한국어
------

연습: MaxPool2d의 backward — 각 window의 가장 큰 원소 (CNN의 downsampling).

max pooling은 x를 −∞로 padding하고 (padding 칸은 최댓값이 되지 못한다) 모든 kH × kW
window의 가장 큰 원소를 남긴다 (식 (1)). window의 다른 칸을 조금 바꾸어도 최댓값은 그대로이고,
최댓값인 칸을 조금 바꾸면 출력이 그만큼 움직인다. 그래서 각 window의 gradient는 그 최댓값
칸으로만 가고, 겹치는 여러 window (stride가 kernel보다 작을 때)의 최댓값인 칸은 그
gradient를 모두 더해 받는다.

먼저 `derivations/pooling.md`의 Backward 절을 읽는다. 식 (6)이 각 window의 gradient를
최댓값 칸에 주고, 식 (7)이 window들의 gradient를 padding된 입력에 더한 뒤 padding을
잘라낸다. 그다음 아래의 `backward`를 작성한다. 입력 G = grad_output은 shape
(N, C, Ho, Wo)의 dL/dy이고, x와 같은 shape (N, C, H, W)의 dL/dx를 돌려준다.
parameter는 없다.

`forward`는 이미 작성되어 있다. 식 (2)의 r을 boolean array (N, C, kH·kW, Ho, Wo)로
`self.routes`에 저장해 둔다. routes[n, c, p·kW + q, i, j]는 window (i, j)의 최댓값이 있는
tap (p, q)에서 True이다 (같은 값이 여럿이면 PyTorch처럼 행 순서로 첫 번째; 채점하는
case에는 같은 값이 없다). x의 shape는 `self.input_shape`에 있다. `kernel_size`, `stride`,
`padding`, `dilation`은 (height, width) 쌍으로 저장되어 있고, window (i, j)의 tap (p, q)는
padding된 입력의 행 s·i + d·p, 열 s·j + d·q에 있다. 식 (7)의 더하기는 `manualnet/nn/windows.py`의
`add_windows`를 써도 된다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check max_pool2d

`git checkout exercises/max_pool2d.py`를 실행하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn
from manualnet.nn.windows import add_windows, windows  # noqa: F401  (add_windows: eq. (7), if you use it)


def pair(value):
    """An int or an (h, w) pair, as the (h, w) pair."""
    return (value, value) if isinstance(value, int) else tuple(value)


class MaxPool2d(mn.Module):
    """y[n, c, i, j] = the maximum of window (i, j) of x[n, c].  Derivation: derivations/pooling.md

    Shape: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = ⌊(H + 2P − d(kH − 1) − 1)/s⌋ + 1, likewise Wo;
    ``stride`` defaults to ``kernel_size``.
    """

    saved_for_backward = ("routes", "input_shape")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size = pair(kernel_size)
        self.stride = self.kernel_size if stride is None else pair(stride)
        self.padding, self.dilation = pair(padding), pair(dilation)

    def forward(self, x):
        (P_h, P_w), (k_h, k_w) = self.padding, self.kernel_size
        x_padded = np.pad(x, ((0, 0), (0, 0), (P_h, P_h), (P_w, P_w)), constant_values=-np.inf)   # eq. (1)
        cells = windows(x_padded, self.kernel_size, self.stride, self.dilation)   # (N, C, kH, kW, Ho, Wo), a view
        taps = cells.reshape(*x.shape[:2], k_h * k_w, *cells.shape[4:])          # tap (p, q) at p·kW + q
        first = taps.argmax(axis=2)                                  # the first maximum in window order, eq. (2)
        self.routes = np.arange(k_h * k_w)[:, np.newaxis, np.newaxis] == first[:, :, np.newaxis]   # r, eq. (2)
        self.input_shape = x.shape                                                # kept for backward
        return taps.max(axis=2)                                                   # eq. (1)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; return dL/dx."""
        raise NotImplementedError(
            "write MaxPool2d.backward in exercises/max_pool2d.py: read derivations/pooling.md#backward, "
            "eq. (6) for each window's gradient, (7) for dL/dx; then run: python -m manualnet exercises check "
            "max_pool2d"
        )
