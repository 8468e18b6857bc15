"""Exercise: SGD.step, stochastic gradient descent with momentum (the notes' optim.SGD(net.parameters()), note 001).

`optimizer.step()` is the last line of the notes' training loop: it moves
every parameter a little against its gradient, which backward left in
`.grad`. Here you write that step, as `torch.optim.SGD` does it.

Read `derivations/optimizers.md`, section Update rules, part SGD: eq. (2) adds
weight decay to the gradient, eq. (3) and (4) update the momentum buffer
(note what the first step does), eq. (5) is the Nesterov variant and eq. (6)
the step itself. Then write `step` below: for each parameter p in
`self.params`, read g = p.grad, and change p.data IN PLACE (`p.data -= ...`).
Keep each parameter's momentum buffer in its dict `self.state[i]` (under
"momentum_buffer"), between calls. Leave `p.grad` as it is.

`__init__` and `zero_grad` are written. Grading runs your optimizer and
manualnet's `optim.SGD` side by side for a few steps, on the same parameters
and the same random gradients, with and without momentum, dampening, weight
decay and Nesterov. Grade your step with

    python -m manualnet exercises check sgd

and `git checkout exercises/sgd.py` brings this stub back.

한국어
------

연습: SGD의 step — momentum이 있는 stochastic gradient descent (노트 001의
optim.SGD(net.parameters())).

`optimizer.step()`은 노트의 학습 loop의 마지막 줄이다. backward가 `.grad`에 남긴
gradient의 반대 방향으로 모든 parameter를 조금씩 옮긴다. 여기서는 그 step을
`torch.optim.SGD`와 똑같이 직접 작성한다.

먼저 `derivations/optimizers.md`의 Update rules 절, 그 안의 SGD 부분을 읽는다. 식 (2)는
gradient에 weight decay를 더하고, 식 (3), (4)는 momentum buffer를 갱신하며 (첫 step에서
무엇을 하는지 주의한다), 식 (5)는 Nesterov 방식, 식 (6)이 step 자체이다.
그다음 아래의 `step`을 작성한다. `self.params`의 각 parameter p에 대해 g = p.grad를
읽고, p.data를 제자리에서 (in place, `p.data -= ...`) 바꾼다. parameter마다
momentum buffer는 `self.state[i]` dict에 ("momentum_buffer"로) 저장해 두고 다음
호출에서 다시 쓴다. `p.grad`는 바꾸지 않는다.

`__init__`과 `zero_grad`는 이미 작성되어 있다. 채점할 때는 같은 parameter와 같은
random gradient로 직접 작성한 optimizer와 manualnet의 `optim.SGD`를 나란히 몇 step
돌려 본다 (momentum, dampening, weight decay, Nesterov가 있을 때와 없을 때 모두).
다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check sgd

`git checkout exercises/sgd.py`를 실행하면 처음 상태로 돌아간다.
"""


class SGD:
    """θ ← θ − γ·b with b = μ·b + (1 − τ)·g, as torch.optim.SGD.  Derivation: derivations/optimizers.md

    γ lr, μ momentum, τ dampening, λ weight_decay.  Shape: each momentum buffer has its parameter's shape.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.state = [{} for _ in self.params]           # per parameter: "momentum_buffer" once it has one

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0                              # backward adds into .grad: clear it before each batch

    def step(self):
        """Move every parameter in place: eq. (2)-(6)."""
        raise NotImplementedError(
            "write SGD.step in exercises/sgd.py: read derivations/optimizers.md#sgd-optimsgd, eq. (2) for "
            "weight decay, (3) and (4) for the momentum buffer, (5) for Nesterov, (6) for the step; then run: "
            "python -m manualnet exercises check sgd"
        )
