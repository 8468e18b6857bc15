"""Exercise: Conv2d.backward, the layer that slides a kernel over an image (the CNN after the notes' MLP).

Each output y[n, o, i, j] is the bias b_o plus the kernel W[o] times the
window of the padded input x̃ that starts at row s·i and column s·j, its
taps d cells apart (eq. (1)). One kernel is used at every position of every
image, and one input cell sits in several windows: backward adds up each of
those uses.

Read `derivations/conv2d.md`, section Backward. Then write `backward` below.
It takes G = grad_output, dL/dy of shape (N, out_channels, Ho, Wo), ADDS
(`+=`) dL/dW into `self.weight.grad` and dL/db into `self.bias.grad` (there
is no bias when `bias=False`: then `self.bias` is None), and returns dL/dx
of the shape of x, (N, in_channels, H, W). Two ways lead there; choose one:

- loops, the index formulas: eq. (4) is dL/dW, eq. (5) is dL/db, eq. (6)
  sends each G[n, o, i, j] back into the window it read, giving dL/dx̃, and
  eq. (8) cuts the padding off (one loop over output positions (i, j),
  with whole arrays inside, is enough);
- matrices, the im2col form of the section "im2col": eq. (12) is dL/dW,
  eq. (13) the gradient of the columns, and eq. (14) adds each column entry
  back into the cell it was copied from: `col2im` in `manualnet/nn/windows.py`
  does eq. (14) for you; then eq. (8).

`forward` is written. It keeps the padded input x̃ (N, in_channels, H + 2P_h,
W + 2P_w) in `self.x_padded` and the im2col matrix X_col
(in_channels·kH·kW, N·Ho·Wo) in `self.X_col`. `kernel_size`, `stride`,
`padding` and `dilation` are stored as (height, width) pairs. Grade your
backward with

    python -m manualnet exercises check conv2d

and `git checkout exercises/conv2d.py` brings this stub back.

한국어
------

연습: Conv2d의 backward — kernel을 이미지 위로 밀며 곱하는 layer (노트의 MLP 다음에 오는 CNN).

각 출력 y[n, o, i, j]는 bias b_o에, padding된 입력 x̃의 window (행 s·i, 열 s·j에서
시작하고 tap 사이가 d 칸)와 kernel W[o]를 곱해 더한 값이다 (식 (1)). 하나의 kernel이
모든 이미지의 모든 위치에서 쓰이고, 입력의 한 칸은 여러 window에 들어간다. backward는
그 사용들을 모두 더한다.

먼저 `derivations/conv2d.md`의 Backward 절을 읽는다. 그다음 아래의 `backward`를
작성한다. 입력 G = grad_output은 shape (N, out_channels, Ho, Wo)의 dL/dy이다. dL/dW를
`self.weight.grad`에, dL/db를 `self.bias.grad`에 더하고 (`+=`) (`bias=False`이면 bias가
없고 `self.bias`는 None이다), x와 같은 shape (N, in_channels, H, W)의 dL/dx를 돌려준다. 방법은 두 가지이고, 하나를 고른다.

- loop, index 공식: 식 (4)가 dL/dW, 식 (5)가 dL/db이다. 식 (6)은 각 G[n, o, i, j]를
  그것이 읽은 window로 돌려보내 dL/dx̃를 만들고, 식 (8)이 padding을 잘라낸다 (출력 위치
  (i, j)에 대한 loop 하나에, 안에서는 array 전체를 쓰면 충분하다);
- 행렬, "im2col" 절의 형태: 식 (12)가 dL/dW, 식 (13)이 column의 gradient이고, 식 (14)는
  각 column 원소의 gradient를 그것이 복사되어 온 칸에 더한다. `manualnet/nn/windows.py`의
  `col2im`이 식 (14)를 해 준다. 그다음 식 (8).

`forward`는 이미 작성되어 있다. padding된 입력 x̃ (N, in_channels, H + 2P_h, W + 2P_w)를
`self.x_padded`에, im2col 행렬 X_col (in_channels·kH·kW, N·Ho·Wo)을 `self.X_col`에 저장해
둔다. `kernel_size`, `stride`, `padding`, `dilation`은 (height, width) 쌍으로 저장되어 있다.
다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check conv2d

`git checkout exercises/conv2d.py`를 실행하면 처음 상태로 돌아간다.
"""

import math

import numpy as np

import manualnet as mn
from manualnet.nn.windows import col2im, im2col, output_size  # noqa: F401  (col2im: eq. (14), if you use it)


def pair(value):
    """An int or an (h, w) pair, as the (h, w) pair."""
    return (value, value) if isinstance(value, int) else tuple(value)


class Conv2d(mn.Module):
    """y[n, o] = b_o + Σ_c W[o, c] ⋆ x̃[n, c]: every kH × kW window times the kernel, summed.  Derivation: derivations/conv2d.md

    Shape: x (N, in_channels, H, W) -> y (N, out_channels, Ho, Wo), Ho = ⌊(H + 2P − d(kH − 1) − 1)/s⌋ + 1
    (eq. (3)), likewise Wo; weight (out_channels, in_channels, kH, kW), bias (out_channels,).
    """

    saved_for_backward = ("x_padded", "X_col")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = pair(kernel_size), pair(stride)
        self.padding, self.dilation = pair(padding), pair(dilation)
        bound = 1 / math.sqrt(in_channels * self.kernel_size[0] * self.kernel_size[1])   # PyTorch's default range
        rng = np.random.default_rng()
        self.weight = mn.Parameter(rng.uniform(-bound, bound, (out_channels, in_channels, *self.kernel_size)))
        self.bias = mn.Parameter(rng.uniform(-bound, bound, out_channels)) if bias else None

    def forward(self, x):
        (P_h, P_w) = self.padding
        self.x_padded = np.pad(x, ((0, 0), (0, 0), (P_h, P_h), (P_w, P_w)))          # x̃, eq. (2), kept for backward
        self.X_col = im2col(self.x_padded, self.kernel_size, self.stride, self.dilation)[0]   # eq. (10), kept
        out_h, out_w = (output_size(size, k, s, 0, d) for size, k, s, d in
                        zip(self.x_padded.shape[2:], self.kernel_size, self.stride, self.dilation))   # eq. (3)
        W_mat = self.weight.data.reshape(self.out_channels, -1)                       # (O, C·kH·kW)
        y = W_mat @ self.X_col                                                         # eq. (11): (O, N·Ho·Wo)
        if self.bias is not None:
            y = y + self.bias.data[:, np.newaxis]                                      # eq. (11)
        return y.reshape(self.out_channels, len(x), out_h, out_w).transpose(1, 0, 2, 3)   # (N, O, Ho, Wo)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        raise NotImplementedError(
            "write Conv2d.backward in exercises/conv2d.py: read derivations/conv2d.md#backward, "
            "eq. (4) for dL/dW, (5) for dL/db, (6) and (8) for dL/dx with loops, or (12), (13), (14) and (8) "
            "with im2col; then run: python -m manualnet exercises check conv2d"
        )
