"""Exercise: Sigmoid.backward, y = σ(x) = 1 / (1 + e^(−x)) element-wise (the notes' sigmoid, note 002).

Read `derivations/sigmoid.md`, section Backward: eq. (2) is σ'(x) written
with the output y alone, and eq. (3) is dL/dx for the whole array. Then
write `backward` below. It takes G = grad_output, dL/dy of the shape of x,
and returns dL/dx of that same shape. Sigmoid has no parameters.

`forward` is written and keeps its output y in `self.y` for you, so backward
needs no exponential. Grade your backward with

    python -m manualnet exercises check sigmoid

and `git checkout exercises/sigmoid.py` brings this stub back.

한국어
------

연습: Sigmoid의 backward — 원소별 y = σ(x) = 1 / (1 + e^(−x)) (노트 002의 sigmoid).

먼저 `derivations/sigmoid.md`의 Backward 절을 읽는다. 식 (2)는 σ'(x)를 출력 y
만으로 쓴 것이고, 식 (3)이 배열 전체의 dL/dx이다. 그다음 아래의 `backward`를
작성한다. 입력 G = grad_output은 x와 같은 shape의 dL/dy이고, 같은 shape의
dL/dx를 돌려준다. Sigmoid에는 parameter가 없다.

`forward`는 이미 작성되어 있고 출력 y를 `self.y`에 저장해 두므로, backward에서는
exponential을 다시 계산할 필요가 없다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check sigmoid

`git checkout exercises/sigmoid.py`를 실행하면 처음 상태로 돌아간다.
"""

import manualnet as mn


class Sigmoid(mn.Module):
    """y = σ(x) = 1 / (1 + e^{−x}), element-wise.  Derivation: derivations/sigmoid.md

    Shape: x (*) -> y (*), the same shape.
    """

    saved_for_backward = ("y",)

    def forward(self, x):
        self.y = mn.nn.functional.sigmoid(x)                # eq. (1), without overflow; kept for backward
        return self.y

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; return dL/dx."""
        raise NotImplementedError(
            "write Sigmoid.backward in exercises/sigmoid.py: read derivations/sigmoid.md#backward, eq. (2) "
            "for σ'(x) from y, (3) for dL/dx; then run: python -m manualnet exercises check sigmoid"
        )
