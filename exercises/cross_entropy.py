"""Exercise: CrossEntropyLoss.backward, softmax and negative log-likelihood fused (the notes' criterion, notes 001 and 004).

Read `derivations/cross_entropy.md`, section Backward: differentiating one
sample's loss (3) gives p − onehot(y), and eq. (5) is dL/dz for the batch,
with the factor that `reduction` (4) puts in front. Then write `backward`
below. It takes g = grad_output, a number (1.0 when the loss is where
backward starts), and returns dL/dz of the shape of the logits, (N, C).
Grading tries `reduction='mean'` (PyTorch's default) and `reduction='sum'`.

`forward` is written and keeps p = softmax(z) in `self.probs` and the labels
in `self.target` for you: the fused gradient needs no Jacobian and no log.
Grade your backward with

    python -m manualnet exercises check cross_entropy

and `git checkout exercises/cross_entropy.py` brings this stub back.

한국어
------

연습: CrossEntropyLoss의 backward — softmax와 negative log-likelihood를 합친 loss
(노트 001, 004의 criterion).

먼저 `derivations/cross_entropy.md`의 Backward 절을 읽는다. sample 하나의 loss (3)을
미분하면 p − onehot(y)가 되고, 식 (5)가 batch 전체의 dL/dz이다. 앞에 붙는 계수는
`reduction` (식 (4))이 정한다. 그다음 아래의 `backward`를 작성한다. 입력
g = grad_output은 숫자 하나이고 (loss에서 backward를 시작할 때는 1.0),
logits와 같은 shape (N, C)의 dL/dz를 돌려준다. 채점할 때는
`reduction='mean'` (PyTorch 기본값)과 `reduction='sum'`을 모두 확인한다.

`forward`는 이미 작성되어 있고, p = softmax(z)를 `self.probs`에, label을
`self.target`에 저장해 둔다. 합친 gradient에는 Jacobian도 log도 필요 없다.
다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check cross_entropy

`git checkout exercises/cross_entropy.py`를 실행하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn


class CrossEntropyLoss(mn.Module):
    """l_n = log Σ_c e^{z_nc} − z_{n,y_n}, averaged (or summed) over the batch.  Derivation: derivations/cross_entropy.md

    Shape: input (N, C) logits, target (N,) integer labels in [0, C) -> a scalar.
    """

    saved_for_backward = ("probs", "target")

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"this exercise's CrossEntropyLoss takes reduction 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def forward(self, input, target):
        shifted = input - input.max(axis=1, keepdims=True)           # the same softmax, no overflow
        log_total = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = np.exp(shifted - log_total)                     # p, eq. (1), kept for backward
        self.target = target                                         # kept for backward
        losses = log_total[:, 0] - shifted[np.arange(len(target)), target]   # eq. (3)
        return losses.mean() if self.reduction == "mean" else losses.sum()   # eq. (4)

    def backward(self, grad_output=1.0):
        """Take g = dL_total/dL (a number); return dL/dz."""
        raise NotImplementedError(
            "write CrossEntropyLoss.backward in exercises/cross_entropy.py: read "
            "derivations/cross_entropy.md#backward, eq. (5) for dL/dz, with (4) for the mean and the sum; "
            "then run: python -m manualnet exercises check cross_entropy"
        )
