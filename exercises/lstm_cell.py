"""Exercise: LSTMCell.backward, one time step of the LSTM (the notes' MLP, now reading a sequence).

One step takes x (N, input_size) and the state (h, c), each (N, hidden_size),
and returns the new state (h', c'). One matrix product gives the four gates'
pre-activations a = [a_i, a_f, a_g, a_o] in PyTorch's order (eq. (1));
i, f, o are sigmoids and g a tanh (eq. (2), (3)); c' = f ⊙ c + i ⊙ g (eq. (4))
and h' = o ⊙ tanh(c') (eq. (5)). In a sequence the next step uses both h'
and c', so backward receives a gradient for each.

Read `derivations/lstm.md`, section Backward: eq. (6) to (10) are the gates'
gradients, eq. (7) the cell state's two sources (c' reaches the loss
directly and through h'), eq. (11) goes through the activations, eq. (12)
and (13) go back to h and c, and eq. (14) to (17) back to x and the weights
(as in `derivations/rnn.md`, eq. (7) to (10), for one step). Then write `backward` below. It takes grad_output = (dh', dc'),
dL/dh' and dL/dc', each (N, hidden_size), ADDS (`+=`) dL/dW_ih, dL/dW_hh,
dL/db_ih and dL/db_hh into the `.grad` of `weight_ih` (4H, input_size),
`weight_hh` (4H, H), `bias_ih` and `bias_hh` (4H,) (no biases when
`bias=False`: then `self.bias` is False), and returns (dx, (dh, dc)):
dL/dx (N, input_size) and the gradients of the state it was given.

`forward` is written. It keeps x, h and c in `self.x`, `self.h`, `self.c`,
the activated gates in `self.i`, `self.f`, `self.g`, `self.o` (each
(N, hidden_size)) and tanh(c') in `self.tanh_c`. The gate blocks of the
weights' rows are in PyTorch's order i, f, g, o (CS231n's is i, f, o, g).
Grade your backward with

    python -m manualnet exercises check lstm_cell

and `git checkout exercises/lstm_cell.py` brings this stub back.

한국어
------

연습: LSTMCell의 backward — LSTM의 한 time step (노트의 MLP가 이제 sequence를 읽는다).

한 step은 x (N, input_size)와 state (h, c) (각 (N, hidden_size))를 받아 새 state (h', c')를
돌려준다. 행렬곱 하나로 네 gate의 pre-activation a = [a_i, a_f, a_g, a_o]를 PyTorch의
순서로 얻는다 (식 (1)). i, f, o는 sigmoid, g는 tanh이고 (식 (2), (3)), c' = f ⊙ c + i ⊙ g
(식 (4)), h' = o ⊙ tanh(c') (식 (5))이다. sequence에서는 다음 step이 h'과 c'을 모두 쓰므로
backward는 둘 각각의 gradient를 받는다.

먼저 `derivations/lstm.md`의 Backward 절을 읽는다. 식 (6)부터 (10)까지가 gate들의
gradient이고, 식 (7)은 cell state의 두 source (c'이 loss에 직접 닿는 길과 h'을 거치는
길)이다. 식 (11)은 activation을 거치고, 식 (12)와 (13)은 h와 c로, 식 (14)부터 (17)까지는 x와
weight로 돌아간다 (`derivations/rnn.md`의 식 (7)부터 (10)까지를 한 step에 대해 쓴 것).
그다음 아래의 `backward`를 작성한다. 입력 grad_output = (dh', dc')은 dL/dh'과 dL/dc'
(각 (N, hidden_size))이다. dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh를 `weight_ih`
(4H, input_size), `weight_hh` (4H, H), `bias_ih`, `bias_hh` (4H,)의 `.grad`에 더하고 (`+=`)
(`bias=False`이면 bias가 없고 `self.bias`는 False이다), (dx, (dh, dc))를 돌려준다.
dL/dx (N, input_size)와, 받은 state의 gradient이다.

`forward`는 이미 작성되어 있다. x, h, c를 `self.x`, `self.h`, `self.c`에, activation을
거친 gate들을 `self.i`, `self.f`, `self.g`, `self.o` (각 (N, hidden_size))에, tanh(c')을
`self.tanh_c`에 저장해 둔다. weight의 row에 쌓인 gate block은 PyTorch의 순서 i, f, g, o이다
(CS231n은 i, f, o, g). 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check lstm_cell

`git checkout exercises/lstm_cell.py`를 실행하면 처음 상태로 돌아간다.
"""

import math

import numpy as np

import manualnet as mn


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


class LSTMCell(mn.Module):
    """One LSTM step: i, f, g, o gates; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').  Derivation: derivations/lstm.md

    Shape: x (N, input_size), hx = (h, c) each (N, hidden_size) (None: zeros) -> (h', c');
    weight_ih (4·hidden_size, input_size), weight_hh (4·hidden_size, hidden_size),
    bias_ih, bias_hh (4·hidden_size,), gate blocks in PyTorch's order i, f, g, o.
    """

    saved_for_backward = ("x", "h", "c", "i", "f", "g", "o", "tanh_c")

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        bound = 1 / math.sqrt(hidden_size)                      # PyTorch's default range
        rng = np.random.default_rng()
        self.weight_ih = mn.Parameter(rng.uniform(-bound, bound, (4 * hidden_size, input_size)))
        self.weight_hh = mn.Parameter(rng.uniform(-bound, bound, (4 * hidden_size, hidden_size)))
        if bias:
            self.bias_ih = mn.Parameter(rng.uniform(-bound, bound, 4 * hidden_size))
            self.bias_hh = mn.Parameter(rng.uniform(-bound, bound, 4 * hidden_size))

    def forward(self, input, hx=None):
        x = input
        if hx is None:
            hx = (np.zeros((len(x), self.hidden_size)), np.zeros((len(x), self.hidden_size)))
        h, c = hx
        a = x @ self.weight_ih.data.T + h @ self.weight_hh.data.T               # eq. (1)
        if self.bias:
            a = a + self.bias_ih.data + self.bias_hh.data                         # eq. (1)
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)                              # PyTorch's order i, f, g, o
        self.i, self.f, self.o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)        # eq. (2)
        self.g = np.tanh(a_g)                                                    # eq. (3)
        c_new = self.f * c + self.i * self.g                                     # eq. (4)
        self.tanh_c = np.tanh(c_new)
        self.x, self.h, self.c = x, h, c                                         # kept for backward
        return self.o * self.tanh_c, c_new                                       # eq. (5): (h', c')

    def backward(self, grad_output, need_input_grad=True):
        """Take (dL/dh', dL/dc'); add the weights' gradients to their .grad; return (dL/dx, (dL/dh, dL/dc))."""
        raise NotImplementedError(
            "write LSTMCell.backward in exercises/lstm_cell.py: read derivations/lstm.md#backward, "
            "eq. (6) to (10) for the gates, (7) for dL/dc', (11) through the activations, (12) and (13) for dL/dh "
            "and dL/dc, (14) to (17) for dL/dx and the weights; then run: python -m manualnet "
            "exercises check lstm_cell"
        )
