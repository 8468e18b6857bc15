"""Exercise: LayerNorm.backward, the normalisation inside every transformer block.

Layer norm normalises each row — the features of one sample, one token of a
sequence — on its own: x̂ = (x − μ)/√(σ² + ε) with μ and σ² that row's
mean and variance, then y = γ x̂ + β. It is batch norm turned on its side:
the statistics run along the row instead of down the batch, so every output
of a row depends on every input of the same row, and on nothing else.

Read `derivations/layernorm.md`, section Backward: eq. (6) is dL/dx̂, eq. (7)
and (8) are dL/dγ and dL/dβ (summed over every row), eq. (9) to (11) follow
x's three roads to the loss (directly, through μ, through σ²) and eq. (12)
is the compact dL/dx. Then write `backward` below. It takes G = grad_output,
dL/dy of shape (N, D), ADDS (`+=`) dL/dγ into `self.weight.grad` and dL/dβ
into `self.bias.grad`, and returns dL/dx of shape (N, D).

`forward` is written. It keeps x̂ in `self.x_hat` (N, D) and s = 1/√(σ² + ε)
in `self.inv_std`, one per row: shape (N, 1). Check the axis of every sum you
write. Grade your backward with

    python -m manualnet exercises check layernorm

and `git checkout exercises/layernorm.py` brings this stub back.

한국어
------

연습: LayerNorm의 backward — 모든 transformer block 안에 있는 정규화.

layer norm은 각 row(한 sample, sequence에서는 token 하나의 feature들)를 따로 정규화한다:
x̂ = (x − μ)/√(σ² + ε)이고, μ와 σ²는 그 row의 평균과 분산이다. 그다음 y = γ x̂ + β이다.
batch norm을 옆으로 눕힌 것과 같다. 통계를 batch 방향이 아니라 row 방향으로 구하므로,
한 row의 모든 출력은 같은 row의 모든 입력에 의존하고, 다른 row에는 의존하지 않는다.

먼저 `derivations/layernorm.md`의 Backward 절을 읽는다. 식 (6)이 dL/dx̂이고, 식 (7)과 (8)이
dL/dγ와 dL/dβ이다(모든 row에 대해 더한다). 식 (9)부터 (11)까지는 x가 loss에 닿는 세 갈래
길(직접, μ를 거쳐, σ²를 거쳐)을 따라가고, 식 (12)가 간결한 dL/dx이다. 그다음 아래의
`backward`를 작성한다. 입력 G = grad_output은 shape (N, D)의 dL/dy이다. dL/dγ를
`self.weight.grad`에, dL/dβ를 `self.bias.grad`에 더하고(`+=`), shape (N, D)의 dL/dx를
return한다.

`forward`는 이미 작성되어 있다. x̂를 `self.x_hat` (N, D)에, s = 1/√(σ² + ε)를 row마다 하나씩
`self.inv_std` (N, 1)에 저장해 둔다. 합을 구할 때마다 어느 axis로 더하는지 확인한다. 다
작성했으면

    python -m manualnet exercises check layernorm

로 채점한다. `git checkout exercises/layernorm.py`를 하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn


class LayerNorm(mn.Module):
    """y = γ ⊙ (x − μ) / √(σ² + ε) + β, μ and σ² over each row's D features.  Derivation: derivations/layernorm.md

    Shape: x (N, D) -> y (N, D); weight γ and bias β (D,), ones and zeros at first, as in PyTorch.
    """

    saved_for_backward = ("x_hat", "inv_std")

    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.normalized_shape, self.eps = (normalized_shape,), eps
        self.weight = mn.Parameter(np.ones(normalized_shape))       # γ
        self.bias = mn.Parameter(np.zeros(normalized_shape))        # β

    def forward(self, x):
        mean = x.mean(axis=1, keepdims=True)                         # μ, eq. (1)
        var = ((x - mean) ** 2).mean(axis=1, keepdims=True)          # σ², biased, eq. (2)
        self.inv_std = 1 / np.sqrt(var + self.eps)                   # s, eq. (3), kept for backward
        self.x_hat = (x - mean) * self.inv_std                       # x̂, eq. (4), kept for backward
        return self.x_hat * self.weight.data + self.bias.data        # eq. (5)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dγ, dL/dβ to the parameters' .grad; return dL/dx."""
        raise NotImplementedError(
            "write LayerNorm.backward in exercises/layernorm.py: read derivations/layernorm.md#backward, "
            "eq. (6) for dL/dx̂, (7) and (8) for dL/dγ and dL/dβ, (12) for dL/dx; then run: "
            "python -m manualnet exercises check layernorm"
        )
