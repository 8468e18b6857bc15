"""Exercise: CausalSelfAttention.backward, one head of a GPT's masked self-attention.

Every token of a sequence x (B, T, C) asks every earlier token (and itself)
how well it matches and takes the weighted average of their values. One
product with the weights of `c_attn` gives the queries, keys and values side
by side, Q, K, V each (B, T, C) (eq. (13)); the scores are S = QKᵀ/√C
(eq. (1)); the causal mask sets every score of a later token to −∞ (eq. (2),
(12)); a softmax along each row makes the weights P (eq. (3)); Y = P V
(eq. (5)); and `c_proj` maps Y to the output (eq. (15)). This is nanoGPT's
layer with one head; x is used three times, as queries, keys and values.

Read `derivations/attention.md`, section Backward: eq. (16) goes back
through the output projection, eq. (6) and (7) through Y = P V, eq. (9)
through the softmax, row by row, eq. (10) and (11) through the scores (the
scale too), eq. (17) through the input projection, and eq. (19) adds x's
three uses. Then write `backward` below. It takes G = grad_output, dL/dy of
shape (B, T, C), ADDS (`+=`) the gradients of `c_attn.weight` (3C, C),
`c_attn.bias` (3C,), `c_proj.weight` (C, C) and `c_proj.bias` (C,) into
their `.grad`, and returns dL/dx of shape (B, T, C). `c_attn` and `c_proj`
only hold the weights (nanoGPT's names): forward multiplies by them itself,
so write their gradients yourself too, as in the linear exercise.

`forward` is written. It keeps x in `self.x`, Q, K, V in `self.Q`, `self.K`,
`self.V` (B, T, C), the weights P in `self.P` (B, T, T) and Y in `self.Y`
(B, T, C). Grade your backward with

    python -m manualnet exercises check attention

and `git checkout exercises/attention.py` brings this stub back.

한국어
------

연습: CausalSelfAttention의 backward — GPT의 mask가 있는 self-attention, head 하나.

sequence x (B, T, C)의 각 token은 자기보다 앞의 token들(과 자기 자신)에게 얼마나 잘 맞는지
묻고, 그 값들의 가중 평균을 가져간다. `c_attn`의 weight와 행렬곱 한 번으로 query, key,
value를 나란히 얻는다. Q, K, V는 각각 (B, T, C)이다(식 (13)). score는 S = QKᵀ/√C이고(식
(1)), causal mask가 뒤에 오는 token의 score를 모두 −∞로 만든다(식 (2), (12)). 각 row를
따라 softmax를 하면 weight P가 되고(식 (3)), Y = P V이며(식 (5)), `c_proj`가 Y를 출력으로
바꾼다(식 (15)). head가 하나인 nanoGPT의 layer이다. x는 query, key, value로 세 번 쓰인다.

먼저 `derivations/attention.md`의 Backward 절을 읽는다. 식 (16)은 출력 projection을
거슬러 가고, 식 (6)과 (7)은 Y = P V를, 식 (9)는 softmax를 row마다 거슬러 간다. 식 (10)과
(11)은 score를 거슬러 가고(scale도 함께), 식 (17)은 입력 projection을 거슬러 간다. 식
(19)는 x가 쓰인 세 곳의 gradient를 더한다. 그다음 아래의 `backward`를 작성한다. 입력 G =
grad_output은 shape (B, T, C)의 dL/dy이다. `c_attn.weight` (3C, C), `c_attn.bias` (3C,),
`c_proj.weight` (C, C), `c_proj.bias` (C,)의 gradient를 각자의 `.grad`에 더하고(`+=`),
shape (B, T, C)의 dL/dx를 return한다. `c_attn`과 `c_proj`는 weight만 담고 있다(nanoGPT의
이름). forward가 직접 곱하므로, linear 연습처럼 그 gradient도 직접 작성한다.

`forward`는 이미 작성되어 있다. x를 `self.x`에, Q, K, V를 `self.Q`, `self.K`, `self.V`
(B, T, C)에, weight P를 `self.P` (B, T, T)에, Y를 `self.Y` (B, T, C)에 저장해 둔다. 다
작성했으면

    python -m manualnet exercises check attention

로 채점한다. `git checkout exercises/attention.py`를 하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn


class CausalSelfAttention(mn.Module):
    """One head of masked self-attention: y = softmax(QKᵀ/√C + M) V W_projᵀ + b_proj.  Derivation: derivations/attention.md

    Shape: x (B, T, C) -> y (B, T, C); c_attn.weight (3C, C) stacks W_q, W_k,
    W_v (and c_attn.bias b_q, b_k, b_v), c_proj.weight (C, C) — nanoGPT's layout.
    """

    saved_for_backward = ("x", "Q", "K", "V", "P", "Y")

    def __init__(self, n_embd):
        super().__init__()
        self.n_embd = n_embd
        self.c_attn = mn.Linear(n_embd, 3 * n_embd, dtype=np.float64)   # holds W_q, W_k, W_v and their biases
        self.c_proj = mn.Linear(n_embd, n_embd, dtype=np.float64)       # holds W_proj and b_proj

    def forward(self, x):
        T, C = x.shape[1], self.n_embd
        self.x = x
        qkv = x @ self.c_attn.weight.data.T + self.c_attn.bias.data      # eq. (13)
        self.Q, self.K, self.V = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
        S = self.Q @ self.K.swapaxes(-1, -2) / np.sqrt(C)                  # eq. (1)
        later = np.triu(np.ones((T, T), dtype=bool), k=1)                  # key j > query i: hidden
        S = np.where(later, -np.inf, S)                                    # eq. (2), (12)
        S = np.exp(S - S.max(axis=-1, keepdims=True))
        self.P = S / S.sum(axis=-1, keepdims=True)                         # eq. (3), each row sums to 1
        self.Y = self.P @ self.V                                           # eq. (5)
        return self.Y @ self.c_proj.weight.data.T + self.c_proj.bias.data  # eq. (15)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add the projections' gradients to their .grad; return dL/dx."""
        raise NotImplementedError(
            "write CausalSelfAttention.backward in exercises/attention.py: read derivations/attention.md#backward, "
            "eq. (16) for the output projection, (6), (7) for Y = P V, (9) for the softmax, (10), (11) for the "
            "scores, (17) and (19) for the input projection and x's three uses; then run: "
            "python -m manualnet exercises check attention"
        )
