"""SGD.step: weight decay, the momentum buffer (g at the first step), Nesterov, then θ ← θ − γ g (eq. (2)-(6))."""

from . import PASS, Entry

RIGHT = """\
        for p, state in zip(self.params, self.state):
            g = p.grad + self.weight_decay * p.data
            if self.momentum:
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.copy()
                else:
                    b = state["momentum_buffer"]
                    b *= self.momentum
                    b += (1 - self.dampening) * g
                b = state["momentum_buffer"]
                g = g + self.momentum * b if self.nesterov else b
            p.data -= self.lr * g
"""

ENTRIES = [
    Entry("PyTorch's", "right", PASS, RIGHT),
    Entry("one expression", "right, the buffer rebuilt as a new array", PASS, """\
        for index, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p.data
            if self.momentum != 0:
                old = self.state[index].get("momentum_buffer")
                b = g if old is None else self.momentum * old + (1 - self.dampening) * g
                self.state[index]["momentum_buffer"] = b
                g = g + self.momentum * b if self.nesterov else b
            p.data[...] = p.data - self.lr * g
"""),
    Entry("PyTorch's", "a step uphill", "uphill", RIGHT.replace("p.data -= self.lr * g", "p.data += self.lr * g")),
    Entry("PyTorch's", "the new θ bound to the name p", "θ not written",
          RIGHT.replace("p.data -= self.lr * g", "p = p.data - self.lr * g")),
    Entry("PyTorch's", "no learning rate", "learning rate missing", RIGHT.replace("p.data -= self.lr * g", "p.data -= g")),
    Entry("CS231n's", "a buffer that starts at zeros", "first buffer dampened", """\
        for p, state in zip(self.params, self.state):
            g = p.grad + self.weight_decay * p.data
            if self.momentum:
                b = state.get("momentum_buffer", 0 * g)
                b = self.momentum * b + (1 - self.dampening) * g
                state["momentum_buffer"] = b
                g = g + self.momentum * b if self.nesterov else b
            p.data -= self.lr * g
"""),
    Entry("PyTorch's", "the buffer never stored", "momentum buffer not kept", """\
        for p in self.params:
            g = p.grad + self.weight_decay * p.data
            if self.momentum:
                b = g.copy()
                g = g + self.momentum * b if self.nesterov else b
            p.data -= self.lr * g
"""),
    Entry("PyTorch's", "weight decay never read", "weight decay missing",
          RIGHT.replace("g = p.grad + self.weight_decay * p.data", "g = p.grad.copy()")),
    Entry("PyTorch's", "weight decay added to the step", "weight decay after momentum",
          RIGHT.replace("g = p.grad + self.weight_decay * p.data", "g = p.grad.copy()")
               .replace("p.data -= self.lr * g", "p.data -= self.lr * (g + self.weight_decay * p.data)")),
    Entry("PyTorch's", "nesterov never read", "Nesterov ignored",
          RIGHT.replace("g = g + self.momentum * b if self.nesterov else b", "g = b")),
]
