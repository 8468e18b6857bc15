"""Exercise: BatchNorm1d.backward (the other layer the notes' model.eval() is for, note 004).

Batch norm normalises each feature over the batch, x̂ = (x − μ)/√(σ² + ε),
then scales and shifts it, y = γ x̂ + β. In training μ and σ² are the
batch's own, so every output depends on every sample of its feature; in
evaluation they are the running averages, constants.

Read `derivations/batchnorm.md`, section Backward: eq. (8) is dL/dx̂,
eq. (9) and (10) are dL/dγ and dL/dβ, eq. (11) to (13) follow x's three
roads to the loss (directly, through μ, through σ²) and eq. (14) is the
compact dL/dx the code uses; eq. (15), at the end of the section, is dL/dx
in evaluation. Then write `backward` below. It takes G = grad_output, dL/dy
of shape (N, num_features), ADDS (`+=`) dL/dγ into `self.weight.grad` and
dL/dβ into `self.bias.grad`, and returns dL/dx of shape (N, num_features).

`forward` is written. It keeps x̂ in `self.x_hat`, s = 1/√(σ² + ε) in
`self.inv_std` and, in `self.used_batch_statistics`, whether μ and σ² were
the batch's (training) or the running ones (evaluation). Grade your backward
with

    python -m manualnet exercises check batchnorm

and `git checkout exercises/batchnorm.py` brings this stub back.

한국어
------

연습: BatchNorm1d의 backward (노트 004의 model.eval()이 필요한 또 하나의 layer).

batch norm은 각 feature를 batch에 대해 정규화하고 (x̂ = (x − μ)/√(σ² + ε)), 그다음
y = γ x̂ + β로 scale과 shift를 한다. training 중에는 μ와 σ²가 그 batch의 값이므로,
각 출력은 같은 feature의 모든 sample에 의존한다. evaluation 중에는 running 평균을
쓰므로 상수이다.

먼저 `derivations/batchnorm.md`의 Backward 절을 읽는다. 식 (8)이 dL/dx̂, 식 (9),
(10)이 dL/dγ, dL/dβ이다. 식 (11)부터 (13)까지는 x가 loss에 닿는 세 갈래 길
(직접, μ를 거쳐, σ²를 거쳐)을 따라가고, 식 (14)가 코드에서 쓰는 간결한 dL/dx이다.
절의 끝에 있는 식 (15)가 evaluation 중의 dL/dx이다. 그다음 아래의 `backward`를
작성한다. 입력 G = grad_output은 shape (N, num_features)의 dL/dy이다. dL/dγ를
`self.weight.grad`에, dL/dβ를 `self.bias.grad`에 더하고 (`+=`), shape
(N, num_features)의 dL/dx를 돌려준다.

`forward`는 이미 작성되어 있다. x̂를 `self.x_hat`에, s = 1/√(σ² + ε)를
`self.inv_std`에 저장하고, μ와 σ²가 batch의 값(training)인지 running 값
(evaluation)인지를 `self.used_batch_statistics`에 저장해 둔다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check batchnorm

`git checkout exercises/batchnorm.py`를 실행하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn


class BatchNorm1d(mn.Module):
    """y = γ ⊙ (x − μ) / √(σ² + ε) + β per feature; μ, σ² of the batch in training.  Derivation: derivations/batchnorm.md

    Shape: x (N, num_features) -> y (N, num_features); weight γ and bias β (num_features,);
    buffers running_mean, running_var (num_features,), as in PyTorch.
    """

    saved_for_backward = ("x_hat", "inv_std", "used_batch_statistics")

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = mn.Parameter(np.ones(num_features))       # γ
        self.bias = mn.Parameter(np.zeros(num_features))        # β
        self.register_buffer("running_mean", np.zeros(num_features))
        self.register_buffer("running_var", np.ones(num_features))

    def forward(self, x):
        self.used_batch_statistics = self.training
        if self.training:
            mean = x.mean(axis=0)                                # μ, eq. (1)
            var = ((x - mean) ** 2).mean(axis=0)                 # σ², biased, eq. (2)
            unbiased = var * len(x) / (len(x) - 1)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean      # eq. (6)
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased   # eq. (7)
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1 / np.sqrt(var + self.eps)               # s, eq. (3), kept for backward
        self.x_hat = (x - mean) * self.inv_std                   # x̂, eq. (4), kept for backward
        return self.x_hat * self.weight.data + self.bias.data    # eq. (5)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dγ, dL/dβ to the parameters' .grad; return dL/dx."""
        raise NotImplementedError(
            "write BatchNorm1d.backward in exercises/batchnorm.py: read derivations/batchnorm.md#backward, "
            "eq. (8) for dL/dx̂, (9) and (10) for dL/dγ and dL/dβ, (14) for dL/dx in training, (15) in "
            "evaluation; then run: python -m manualnet exercises check batchnorm"
        )
