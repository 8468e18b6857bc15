"""Exercise: ReLU.backward, y = max(x, 0) element-wise (the activation of the notes' MLP, notes 001 and 004).

Read `derivations/relu.md`, section Backward: eq. (3) is the derivative of
one entry, with PyTorch's choice at the kink x = 0, and eq. (4) is dL/dx for
the whole array. Then write `backward` below. It takes G = grad_output,
dL/dy of the shape of x, and returns dL/dx of that same shape. ReLU has no
parameters, so there is no `.grad` to fill.

`forward` is written and keeps its output y in `self.y` for you: y > 0
exactly where x > 0. Grade your backward with

    python -m manualnet exercises check relu

and `git checkout exercises/relu.py` brings this stub back.

한국어
------

연습: ReLU의 backward — 원소별 y = max(x, 0) (노트 001, 004의 MLP가 쓰는 activation).

먼저 `derivations/relu.md`의 Backward 절을 읽는다. 식 (3)이 원소 하나의 미분이고
(x = 0인 꺾인 점에서는 PyTorch와 같은 값을 고른다), 식 (4)가 배열 전체의
dL/dx이다. 그다음 아래의 `backward`를 작성한다. 입력 G = grad_output은 x와 같은
shape의 dL/dy이고, 같은 shape의 dL/dx를 돌려준다. ReLU에는 parameter가
없으므로 채울 `.grad`도 없다.

`forward`는 이미 작성되어 있고, 출력 y를 `self.y`에 저장해 둔다. y > 0인 곳은
정확히 x > 0인 곳이다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check relu

`git checkout exercises/relu.py`를 실행하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn


class ReLU(mn.Module):
    """y = max(x, 0), element-wise.  Derivation: derivations/relu.md

    Shape: x (*) -> y (*), the same shape.
    """

    saved_for_backward = ("y",)

    def forward(self, x):
        self.y = np.maximum(x, 0)                        # eq. (1), kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; return dL/dx."""
        raise NotImplementedError(
            "write ReLU.backward in exercises/relu.py: read derivations/relu.md#backward, eq. (3) for one "
            "entry's derivative, (4) for dL/dx; then run: python -m manualnet exercises check relu"
        )
