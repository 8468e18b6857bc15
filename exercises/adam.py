"""Exercise: Adam.step (the notes' optim.Adam(M.parameters(), lr=1e-3), note 004).

Adam moves each parameter entry by about lr in the direction of its
averaged gradient, scaled by the average size of its gradients. Here you
write the step, as `torch.optim.Adam` does it.

Read `derivations/optimizers.md`, section Update rules, part Adam: eq. (7)
counts the steps (once per `step()` call, not once per parameter), eq. (2)
is the optional weight decay, eq. (8) and (9) update the averages m and v,
eq. (11) and (12) correct them for their start at zero (the section Why Adam
corrects its bias derives it) and eq. (13) is the step. Then write `step`
below: for each parameter p in `self.params`, read g = p.grad and change
p.data IN PLACE. Keep each parameter's "step", "exp_avg" (m) and
"exp_avg_sq" (v) in its dict `self.state[i]` between calls; m and v start
at zeros. Leave `p.grad` as it is.

`__init__` and `zero_grad` are written. Grading runs your optimizer and
manualnet's `optim.Adam` side by side for a few steps, on the same
parameters and the same random gradients. Grade your step with

    python -m manualnet exercises check adam

and `git checkout exercises/adam.py` brings this stub back.

한국어
------

연습: Adam의 step (노트 004의 optim.Adam(M.parameters(), lr=1e-3)).

Adam은 parameter의 각 원소를, gradient의 평균 방향으로, gradient 크기의 평균으로
나눈 만큼, 대략 lr씩 옮긴다. 여기서는 그 step을 `torch.optim.Adam`과 똑같이 직접
작성한다.

먼저 `derivations/optimizers.md`의 Update rules 절, 그 안의 Adam 부분을 읽는다. 식 (7)은
step 수를 센다 (parameter마다가 아니라 `step()` 호출마다 한 번). 식 (2)는 선택적인
weight decay, 식 (8), (9)는 평균 m과 v를 갱신하고, 식 (11), (12)는 0에서 시작한
평균을 보정한다 (Why Adam corrects its bias 절에서 유도한다). 식 (13)이 step이다.
그다음 아래의 `step`을 작성한다. `self.params`의 각 parameter p에 대해 g = p.grad를
읽고 p.data를 제자리에서 (in place) 바꾼다. parameter마다 "step", "exp_avg" (m),
"exp_avg_sq" (v)를 `self.state[i]` dict에 저장해 두고 다음 호출에서 다시 쓴다.
m과 v는 0에서 시작한다. `p.grad`는 바꾸지 않는다.

`__init__`과 `zero_grad`는 이미 작성되어 있다. 채점할 때는 같은 parameter와 같은
random gradient로 직접 작성한 optimizer와 manualnet의 `optim.Adam`을 나란히 몇 step
돌려 본다. 다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check adam

`git checkout exercises/adam.py`를 실행하면 처음 상태로 돌아간다.
"""


class Adam:
    """θ ← θ − γ·m̂ / (√v̂ + ε), with bias-corrected averages m̂, v̂ of g and g², as torch.optim.Adam.

    Derivation: derivations/optimizers.md.  γ lr, (β₁, β₂) betas, ε eps, λ weight_decay.
    Shape: m and v have their parameter's shape; step is an int.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.state = [{} for _ in self.params]           # per parameter: "step", "exp_avg", "exp_avg_sq"

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0                              # backward adds into .grad: clear it before each batch

    def step(self):
        """Move every parameter in place: eq. (7)-(13), with (2) for weight decay."""
        raise NotImplementedError(
            "write Adam.step in exercises/adam.py: read derivations/optimizers.md#adam-optimadam, eq. (7) for "
            "the step count, (8) and (9) for m and v, (11) and (12) for the bias correction, (13) for the step; "
            "then run: python -m manualnet exercises check adam"
        )
