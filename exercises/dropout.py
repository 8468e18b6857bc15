"""Exercise: Dropout.backward (why the notes call model.eval() before testing, note 004).

In training, dropout zeroes each element with probability p and scales the
kept ones by 1/(1 − p); in evaluation (`model.eval()`) it passes x through.
Here p is the probability of DROPPING, as in PyTorch.

Read `derivations/dropout.md`, section Backward: eq. (4) is dL/dx after a
training forward, with the same mask, and eq. (5) after an evaluation one.
Then write `backward` below. It takes G = grad_output, dL/dy of the shape of
x, and returns dL/dx of that same shape.

`forward` is written. It keeps the keep-mask m (True = kept) in `self.mask`,
or None after an evaluation forward, and takes a mask to use instead of
drawing one, `forward(x, mask)`, as manualnet's Dropout does: grading gives
your layer and manualnet's the same mask. Grade your backward with

    python -m manualnet exercises check dropout

and `git checkout exercises/dropout.py` brings this stub back.

한국어
------

연습: Dropout의 backward (노트 004가 test 전에 model.eval()을 호출하는 이유).

training 중에 dropout은 각 원소를 확률 p로 0으로 만들고, 남은 원소는 1/(1 − p)배로
키운다. evaluation (`model.eval()`) 중에는 x를 그대로 내보낸다. 여기서 p는 PyTorch와
같이 원소를 버릴 (DROP) 확률이다.

먼저 `derivations/dropout.md`의 Backward 절을 읽는다. 식 (4)가 training forward 뒤의
dL/dx이고 (forward와 같은 mask를 쓴다), 식 (5)가 evaluation forward 뒤의 dL/dx이다.
그다음 아래의 `backward`를 작성한다. 입력 G = grad_output은 x와 같은 shape의
dL/dy이고, 같은 shape의 dL/dx를 돌려준다.

`forward`는 이미 작성되어 있다. keep-mask m (True = 남긴 원소)을 `self.mask`에
저장하고, evaluation forward 뒤에는 None을 저장한다. manualnet의 Dropout처럼 mask를
새로 뽑는 대신 주어진 mask를 쓸 수도 있어서 (`forward(x, mask)`), 채점할 때는 직접
작성한 layer와 manualnet의 layer에 같은 mask를 준다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check dropout

`git checkout exercises/dropout.py`를 실행하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn


class Dropout(mn.Module):
    """Inverted dropout: y = x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p) in training, y = x in eval.  Derivation: derivations/dropout.md

    Shape: x (*) -> y (*), the same shape; p is the probability of dropping an element.
    """

    saved_for_backward = ("mask",)

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p
        self.scale = 1 / (1 - p) if p < 1 else 0.0      # p = 1 drops everything: y = 0, not 0 · inf
        self.rng = np.random.default_rng()

    def forward(self, x, mask=None):
        if not self.training:
            self.mask = None
            return x                                     # eq. (3)
        if mask is None:
            mask = self.rng.random(x.shape) >= self.p    # eq. (1): keep with probability 1 − p
        self.mask = mask                                 # kept for backward
        return x * self.mask * self.scale                # eq. (2)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; return dL/dx (the same mask as forward, or none after an evaluation forward)."""
        raise NotImplementedError(
            "write Dropout.backward in exercises/dropout.py: read derivations/dropout.md#backward, eq. (4) "
            "after a training forward, (5) after an evaluation one; then run: python -m manualnet exercises check dropout"
        )
