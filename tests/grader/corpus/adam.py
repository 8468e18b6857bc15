"""Adam.step: t, m, v, their bias corrections and θ ← θ − γ m̂/(√v̂ + ε) (eq. (2), (7)-(13))."""

from . import PASS, Entry

RIGHT = """\
        beta1, beta2 = self.betas
        for p, state in zip(self.params, self.state):
            if not state:
                state.update(step=0, exp_avg=0 * p.data, exp_avg_sq=0 * p.data)
            g = p.grad + self.weight_decay * p.data
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1 ** t)
            v_hat = v / (1 - beta2 ** t)
            p.data -= self.lr * m_hat / (v_hat ** 0.5 + self.eps)
"""

ENTRIES = [
    Entry("PyTorch's", "right", PASS, RIGHT),
    Entry("eq. (15)", "right, the corrections folded into the step size", PASS, """\
        beta1, beta2 = self.betas
        for index, p in enumerate(self.params):
            state = self.state[index]
            state.setdefault("step", 0)
            state.setdefault("m", 0 * p.data)
            state.setdefault("v", 0 * p.data)
            g = p.grad + self.weight_decay * p.data
            state["step"] += 1
            state["m"] = beta1 * state["m"] + (1 - beta1) * g
            state["v"] = beta2 * state["v"] + (1 - beta2) * g ** 2
            c1, c2 = 1 - beta1 ** state["step"], 1 - beta2 ** state["step"]
            p.data -= self.lr / c1 * state["m"] / (state["v"] ** 0.5 / c2 ** 0.5 + self.eps)
"""),
    Entry("PyTorch's", "no bias correction", "bias correction missing", """\
        beta1, beta2 = self.betas
        for p, state in zip(self.params, self.state):
            if not state:
                state.update(step=0, exp_avg=0 * p.data, exp_avg_sq=0 * p.data)
            state["step"] += 1
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m[...] = beta1 * m + (1 - beta1) * (p.grad + self.weight_decay * p.data)
            v[...] = beta2 * v + (1 - beta2) * (p.grad + self.weight_decay * p.data) ** 2
            p.data -= self.lr * m / (v ** 0.5 + self.eps)
"""),
    Entry("PyTorch's", "only m corrected", "bias correction missing",
          RIGHT.replace("v_hat = v / (1 - beta2 ** t)", "v_hat = v")),
    Entry("PyTorch's", "ε under the root", "ε inside the root",
          RIGHT.replace("(v_hat ** 0.5 + self.eps)", "(v_hat + self.eps) ** 0.5")),
    Entry("PyTorch's", "no square root", "square root missing", RIGHT.replace("(v_hat ** 0.5 + self.eps)",
                                                                              "(v_hat + self.eps)")),
    Entry("PyTorch's", "v from g", "g for g²", RIGHT.replace("(1 - beta2) * g * g", "(1 - beta2) * g")),
    Entry("PyTorch's", "betas unpacked the wrong way round", "betas swapped",
          RIGHT.replace("beta1, beta2 = self.betas", "beta2, beta1 = self.betas")),
    Entry("PyTorch's", "the state kept in local variables", "state not kept", """\
        beta1, beta2 = self.betas
        for p in self.params:
            g = p.grad + self.weight_decay * p.data
            t, m, v = 1, (1 - beta1) * g, (1 - beta2) * g * g
            m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
            p.data -= self.lr * m_hat / (v_hat ** 0.5 + self.eps)
"""),
    Entry("PyTorch's", "weight decay never read", "weight decay missing",
          RIGHT.replace("g = p.grad + self.weight_decay * p.data", "g = p.grad")),
    Entry("AdamW's", "decoupled weight decay", "decoupled weight decay",
          RIGHT.replace("g = p.grad + self.weight_decay * p.data", "g = p.grad\n"
                        "            p.data -= self.lr * self.weight_decay * p.data")),
    Entry("PyTorch's", "a step uphill", "uphill", RIGHT.replace("p.data -= self.lr", "p.data += self.lr")),
    Entry("PyTorch's", "the new θ bound to the name p", "θ not written",
          RIGHT.replace("p.data -= self.lr * m_hat", "p = p.data - self.lr * m_hat")),
]
