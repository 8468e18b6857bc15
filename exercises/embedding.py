"""Exercise: Embedding.backward, a learned table read by integer index (the first layer of a language model).

An embedding holds one row of `weight` (num_embeddings, embedding_dim) per
token; forward looks the rows up, y[..., :] = W[idx[...], :] (eq. (1)). It
is a Linear layer whose input is one-hot (eq. (2)), so its backward is a
scatter: each row of G goes back to the row of W that its index read, and a
token that appears several times collects every one of its rows.

Read `derivations/embedding.md`, section Backward: eq. (2) writes the
lookup as a product, eq. (3) is dL/dW. Then write `backward` below. It takes
G = grad_output, dL/dy of shape `idx.shape + (embedding_dim,)`, ADDS (`+=`)
dL/dW into `self.weight.grad`, and returns None: the indices are integers
and have no gradient. (The page's `padding_idx`, `scale_grad_by_freq` and
`max_norm` are options of manualnet's Embedding that this one leaves out.)

`forward` is written and keeps the indices in `self.indices`. Beware of
NumPy's `weight.grad[idx] += G`: the page says what it does with a repeated
index. Grade your backward with

    python -m manualnet exercises check embedding

and `git checkout exercises/embedding.py` brings this stub back.

한국어
------

연습: Embedding의 backward — integer index로 읽는 학습 가능한 table (language model의 첫 layer).

embedding은 token마다 `weight` (num_embeddings, embedding_dim)의 row 하나를 가진다.
forward는 그 row들을 찾아 읽는다: y[..., :] = W[idx[...], :] (식 (1)). 입력이 one-hot인
Linear layer (식 (2))이므로 backward는 scatter이다. G의 각 row는 그 index가 읽은 W의
row로 돌아가고, 여러 번 나온 token은 자기 row들을 모두 더해 받는다.

먼저 `derivations/embedding.md`의 Backward 절을 읽는다. 식 (2)는 lookup을 행렬곱으로 쓴
것이고, 식 (3)이 dL/dW이다. 그다음 아래의 `backward`를 작성한다. 입력 G = grad_output은
shape `idx.shape + (embedding_dim,)`의 dL/dy이다. dL/dW를 `self.weight.grad`에 더하고
(`+=`), None을 돌려준다. index는 integer라서 gradient가 없다. (페이지의 `padding_idx`,
`scale_grad_by_freq`, `max_norm`은 manualnet의 Embedding에 있는 option이고, 여기서는 뺐다.)

`forward`는 이미 작성되어 있고, index를 `self.indices`에 저장해 둔다. NumPy의
`weight.grad[idx] += G`를 조심한다: 같은 index가 반복될 때 무슨 일이 생기는지 페이지에 나와
있다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check embedding

`git checkout exercises/embedding.py`를 실행하면 처음 상태로 돌아간다.
"""

import numpy as np

import manualnet as mn


class Embedding(mn.Module):
    """y[…, :] = W[idx[…], :]: each index picks a row of the table.  Derivation: derivations/embedding.md

    Shape: input (*) integer indices in [0, num_embeddings) -> y (*, embedding_dim);
    weight (num_embeddings, embedding_dim), N(0, 1) as PyTorch.
    """

    saved_for_backward = ("indices",)

    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = mn.Parameter(np.random.default_rng().standard_normal((num_embeddings, embedding_dim)))

    def forward(self, input):
        self.indices = input                               # kept for backward
        return self.weight.data[input]                     # eq. (1)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; add dL/dW to weight.grad; return None (the indices have no gradient)."""
        raise NotImplementedError(
            "write Embedding.backward in exercises/embedding.py: read derivations/embedding.md#backward, "
            "eq. (2) for the lookup as a product, (3) for dL/dW; then run: python -m manualnet exercises check "
            "embedding"
        )
