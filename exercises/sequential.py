"""Exercise: Sequential.backward, the chain rule through a chain of layers (the notes' MLP, notes 001 and 004).

`nn.Sequential(Linear, ReLU, Linear)` is the notes' MNIST network, and
`loss.backward()` walks it backwards. Here you write that walk.

Read `derivations/backprop.md`, section 3 (A layer: one step of the chain
rule) and its part The chain: eq. (7) says how dL/d(output of layer k)
becomes dL/d(input of layer k), layer by layer, from the last layer to the
first. Then write `backward` below. It takes G = grad_output, dL/dy for the
output of the last module, calls each module's own `backward` in the right
order (each adds to its own parameters' `.grad`), and returns dL/dx for the
input of the first module. You may ignore `need_input_grad` and always
return dL/dx (section 3's part `need_input_grad=False` says what it saves).

`__init__`, `append`, iteration and `forward` are written. Grading builds the
notes' chain Linear, ReLU, Linear (and a longer one) from manualnet's layers.
Grade your backward with

    python -m manualnet exercises check sequential

and `git checkout exercises/sequential.py` brings this stub back.

한국어
------

연습: Sequential의 backward — layer가 사슬처럼 이어진 network에서의 chain rule
(노트 001, 004의 MLP).

`nn.Sequential(Linear, ReLU, Linear)`가 노트의 MNIST network이고, `loss.backward()`는
이것을 거꾸로 따라간다. 여기서는 그 과정을 직접 작성한다.

먼저 `derivations/backprop.md`의 3절 (A layer: one step of the chain rule)과 그 안의
The chain 부분을 읽는다. 식 (7)이 layer k 출력의 gradient가 layer k 입력의
gradient로 바뀌는 과정을, 마지막 layer부터 첫 layer까지 차례로 보여 준다.
그다음 아래의 `backward`를 작성한다. 입력 G = grad_output은 마지막 module 출력에
대한 dL/dy이다. 각 module의 `backward`를 올바른 순서로 호출하고 (각 module은
자기 parameter의 `.grad`에 더한다), 첫 module 입력에 대한 dL/dx를 돌려준다.
`need_input_grad`는 무시하고 항상 dL/dx를 돌려주어도 된다 (이것으로 무엇을 아낄 수
있는지는 3절의 `need_input_grad=False` 부분에 있다).

`__init__`, `append`, iteration, `forward`는 이미 작성되어 있다. 채점할 때는
manualnet의 layer로 노트의 Linear, ReLU, Linear 사슬 (그리고 더 긴 사슬)을 만든다.
다 작성했으면 다음 명령으로 채점한다.

    python -m manualnet exercises check sequential

`git checkout exercises/sequential.py`를 실행하면 처음 상태로 돌아간다.
"""

import manualnet as mn


class Sequential(mn.Module):
    """Run modules in order: y = f_K(... f_2(f_1(x))).  Derivation: derivations/backprop.md

    Children are named "0", "1", ... as in PyTorch (state-dict keys ``0.weight``, ``2.bias``).
    """

    def __init__(self, *modules):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)   # registered as a child, named "0", "1", ...
        return self

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for module in self:
            x = module(x)                                # x_k = f_k(x_{k-1})
        return x

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy of the last output; return dL/dx of the first input."""
        raise NotImplementedError(
            "write Sequential.backward in exercises/sequential.py: read "
            "derivations/backprop.md#the-chain-sequentialbackward, eq. (7); then run: "
            "python -m manualnet exercises check sequential"
        )
