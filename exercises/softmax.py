"""Exercise: Softmax.backward, the Jacobian-vector product (the softmax the notes' classifier needs, note 001).

Read `derivations/softmax.md`, section Backward, subsection Softmax: eq. (3)
is the Jacobian J = diag(y) − y yᵀ of one row, and eq. (4) is dL/dx = Jᵀ G
carried out without building J. Then write `backward` below. It takes
G = grad_output, dL/dy of the shape of x, and returns dL/dx of that same
shape. Every output of a row depends on every input of that row; rows do
not interact. The softmax runs along `self.dim` (the last axis by default):
grading also tries `dim=0`.

`forward` is written and keeps its output y in `self.y` for you. Grade your
backward with

    python -m manualnet exercises check softmax

and `git checkout exercises/softmax.py` brings this stub back.

한국어
------

연습: Softmax의 backward — Jacobian-vector product (노트 001의 분류기에 필요한 softmax).

먼저 `derivations/softmax.md`의 Backward 절, 그 안의 Softmax 부분을 읽는다. 식 (3)이
row 하나의 Jacobian J = diag(y) − y yᵀ이고, 식 (4)는 J를 만들지 않고 계산한
dL/dx = Jᵀ G이다. 그다음 아래의 `backward`를 작성한다. 입력 G = grad_output은
x와 같은 shape의 dL/dy이고, 같은 shape의 dL/dx를 돌려준다. 한 row의 출력은
그 row의 모든 입력에 의존하고, row끼리는 서로 영향이 없다. softmax는 `self.dim`
축을 따라 계산된다 (기본값은 마지막 축). 채점할 때는 `dim=0`도 확인한다.

`forward`는 이미 작성되어 있고 출력 y를 `self.y`에 저장해 둔다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check softmax

`git checkout exercises/softmax.py`를 실행하면 처음 상태로 돌아간다.
"""

import manualnet as mn


class Softmax(mn.Module):
    """y_i = e^{x_i} / Σ_j e^{x_j} along ``dim``.  Derivation: derivations/softmax.md

    Shape: x (*) -> y (*), entries in [0, 1] summing to 1 along ``dim``.
    """

    saved_for_backward = ("y",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        self.y = mn.nn.functional.softmax(x, dim=self.dim)  # eq. (1), without overflow; kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; return dL/dx = Jᵀ G without building J."""
        raise NotImplementedError(
            "write Softmax.backward in exercises/softmax.py: read derivations/softmax.md#softmax (under "
            "Backward), eq. (3) for the Jacobian, (4) for dL/dx; then run: python -m manualnet exercises check softmax"
        )
