"""Exercise: Linear.backward, the affine layer y = x Wᵀ + b (the notes' MyLinear, notes 000 and 002).

Read `derivations/linear.md`, section Backward: eq. (2) is dL/dx, eq. (3) is
dL/dW and eq. (4) is dL/db. Then write `backward` below. It takes
G = grad_output, dL/dy of shape (N, out_features), and

- ADDS (`+=`) dL/dW into `self.weight.grad` and dL/db into `self.bias.grad`
  (there is no bias when `bias=False`: then `self.bias` is None);
- returns dL/dx, of the shape of x: (N, in_features).

`forward` is written and keeps x in `self.x` for you. The weight is stored
as PyTorch stores it, (out_features, in_features); the notes' `MyLinear`
stores its transpose. Grade your backward with

    python -m manualnet exercises check linear

and `git checkout exercises/linear.py` brings this stub back.

한국어
------

연습: Linear의 backward — affine layer y = x Wᵀ + b (노트 000, 002의 MyLinear).

먼저 `derivations/linear.md`의 Backward 절을 읽는다. 식 (2)가 dL/dx, 식 (3)이
dL/dW, 식 (4)가 dL/db이다. 그다음 아래의 `backward`를 작성한다. 입력
G = grad_output은 dL/dy이고 shape는 (N, out_features)이다. backward는

- dL/dW를 `self.weight.grad`에, dL/db를 `self.bias.grad`에 더한다 (`+=`)
  (`bias=False`이면 bias가 없고 `self.bias`는 None이다);
- dL/dx를 x와 같은 shape (N, in_features)로 돌려준다.

`forward`는 이미 작성되어 있고, backward에 필요한 x를 `self.x`에 저장해 둔다.
weight는 PyTorch와 같은 (out_features, in_features) layout이다 (노트의
`MyLinear`는 그 transpose를 저장한다). 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check linear

`git checkout exercises/linear.py`를 실행하면 처음 상태로 돌아간다.
"""

import math

import numpy as np

import manualnet as mn


class Linear(mn.Module):
    """Affine map y = x Wᵀ + b.  Derivation: derivations/linear.md

    Shape: x (N, in_features) -> y (N, out_features);
    weight (out_features, in_features), bias (out_features,).
    """

    saved_for_backward = ("x",)

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)               # PyTorch's default range
        rng = np.random.default_rng()
        self.weight = mn.Parameter(rng.uniform(-bound, bound, (out_features, in_features)))
        self.bias = mn.Parameter(rng.uniform(-bound, bound, out_features)) if bias else None

    def forward(self, x):
        self.x = x                                       # kept for backward
        y = x @ self.weight.data.T                       # eq. (1)
        if self.bias is not None:
            y = y + self.bias.data                       # eq. (1)
        return y

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW, dL/db to the parameters' .grad; return dL/dx."""
        raise NotImplementedError(
            "write Linear.backward in exercises/linear.py: read derivations/linear.md#backward, "
            "eq. (2) for dL/dx, (3) for dL/dW, (4) for dL/db; then run: python -m manualnet exercises check linear"
        )
