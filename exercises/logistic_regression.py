"""Exercise: LogisticRegression.backward(x, yhat, y), the study notes' own model (note 002).

The notes' `LogisticRegression` writes its gradient by hand:
`backward(x, yhat, y)` stores dL/dw and dL/db, `optimize()` steps downhill.
Here it is batch-first (one sample per row of x, where the notes put samples
in columns), and you write `backward`.

Read `derivations/logistic_regression.md`, section Backward: eq. (4) is
dL/dz, eq. (5) is dL/dw and eq. (6) is dL/db, for the mean binary
cross-entropy L of eq. (3). Then write `backward` below. It gets

- x, shape (N, dim), the batch forward saw;
- yhat, shape (N,), what forward returned;
- y, shape (N,), the 0/1 labels;

and STORES (overwrites, `self.w.grad[...] = ...`) dL/dw in `self.w.grad`,
shape (dim,), and dL/db in `self.b.grad`, shape () — the model holds its
loss, so its gradient is complete and there is nothing to add to, as in the
notes. It returns nothing. `forward`, `sigmoid`, `loss` and `optimize` are
written. Grade your backward with

    python -m manualnet exercises check logistic_regression

and `git checkout exercises/logistic_regression.py` brings this stub back.

한국어
------

연습: LogisticRegression의 backward(x, yhat, y) — 스터디 노트 002의 모델 그대로이다.

노트의 `LogisticRegression`은 gradient를 직접 손으로 쓴다.
`backward(x, yhat, y)`가 dL/dw와 dL/db를 저장하고, `optimize()`가 parameter를
갱신한다. 여기서는 batch-first로 (노트는 sample을 column으로 놓지만, 여기서는
x의 row 하나가 sample 하나이다) 바꾸었고, `backward`를 직접 작성한다.

먼저 `derivations/logistic_regression.md`의 Backward 절을 읽는다. 식 (3)의
평균 binary cross-entropy L에 대해, 식 (4)가 dL/dz, 식 (5)가 dL/dw,
식 (6)이 dL/db이다. 그다음 아래의 `backward`를 작성한다. 입력은

- x: shape (N, dim), forward에 들어갔던 batch;
- yhat: shape (N,), forward가 돌려준 값;
- y: shape (N,), 0/1 label;

이고, dL/dw (shape (dim,))를 `self.w.grad`에, dL/db (shape ())를 `self.b.grad`에
저장한다 (더하지 않고 덮어쓴다: `self.w.grad[...] = ...`). 이 모델은 loss까지
포함하므로 gradient가 이미 완전하고, 노트와 마찬가지로 더할 것이 없다.
돌려주는 값은 없다. `forward`, `sigmoid`, `loss`, `optimize`는 이미 작성되어 있다.
다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check logistic_regression

`git checkout exercises/logistic_regression.py`를 실행하면 처음 상태로
돌아간다.
"""

import numpy as np

import manualnet as mn


class LogisticRegression(mn.Module):
    """ŷ = σ(x w + b), trained on the mean binary cross-entropy.  Derivation: derivations/logistic_regression.md

    Shape: x (N, dim) -> ŷ (N,); w (dim,), b ().
    """

    def __init__(self, dim, lr=0.01):
        super().__init__()
        self.dim = dim
        self.lr = lr
        self.w = mn.Parameter(np.zeros(dim))
        self.b = mn.Parameter(np.zeros(()))

    def forward(self, x):
        z = x @ self.w.data + self.b.data                # eq. (1)
        return self.sigmoid(z)                           # eq. (2)

    def sigmoid(self, z):
        return mn.nn.functional.sigmoid(z)                  # 1 / (1 + e^{-z}), without overflow

    def loss(self, yhat, y):
        return mn.nn.functional.binary_cross_entropy(yhat, y)     # eq. (3), the mean over the batch

    def backward(self, x, yhat, y):
        """Store dL/dw (eq. (5)) in self.w.grad and dL/db (eq. (6)) in self.b.grad."""
        raise NotImplementedError(
            "write LogisticRegression.backward in exercises/logistic_regression.py: read "
            "derivations/logistic_regression.md#backward, eq. (4) for dL/dz, (5) for dL/dw, (6) for dL/db; "
            "then run: python -m manualnet exercises check logistic_regression"
        )

    def optimize(self):
        self.w.data -= self.lr * self.w.grad             # in place, so every holder of w sees the step
        self.b.data -= self.lr * self.b.grad
