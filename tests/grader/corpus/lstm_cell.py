"""LSTMCell.backward: the gates' gradients (eq. (6)-(10)), through the activations (11), back to h, c, x and the
weights (12)-(17)."""

from . import PASS, UNNAMED, Entry

RIGHT = """\
        dh_next, dc_next = grad_output
        i, f, g, o, tanh_c = self.i, self.f, self.g, self.o, self.tanh_c
        do = dh_next * tanh_c
        dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
        di, df, dg = dc * g, dc * self.c, dc * i
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
        self.weight_ih.grad += da.T @ self.x
        self.weight_hh.grad += da.T @ self.h
        if self.bias:
            self.bias_ih.grad += da.sum(axis=0)
            self.bias_hh.grad += da.sum(axis=0)
        return da @ self.weight_ih.data, (da @ self.weight_hh.data, dc * f)
"""
BLOCKS = """\
        dh_next, dc_next = grad_output
        H = self.hidden_size
        dc = dc_next + dh_next * self.o * (1 - self.tanh_c ** 2)
        da = {"i": dc * self.g * self.i * (1 - self.i), "f": dc * self.c * self.f * (1 - self.f),
              "g": dc * self.i * (1 - self.g ** 2), "o": dh_next * self.tanh_c * self.o * (1 - self.o)}
        dx, dh = 0, 0
        for k, gate in enumerate("ifgo"):
            rows = slice(k * H, (k + 1) * H)
            self.weight_ih.grad[rows] += da[gate].T @ self.x
            self.weight_hh.grad[rows] += da[gate].T @ self.h
            if self.bias:
                self.bias_ih.grad[rows] += da[gate].sum(axis=0)
                self.bias_hh.grad[rows] += da[gate].sum(axis=0)
            dx = dx + da[gate] @ self.weight_ih.data[rows]
            dh = dh + da[gate] @ self.weight_hh.data[rows]
        return dx, (dh, dc * self.f)
"""

ENTRIES = [
    Entry("vectorised", "right", PASS, RIGHT),
    Entry("gate by gate", "right, each gate's block of rows on its own", PASS, BLOCKS),
    Entry("vectorised", "CS231n's order i, f, o, g", "gate order", RIGHT.replace(
        "dg * (1 - g ** 2), do * o * (1 - o)]", "do * o * (1 - o), dg * (1 - g ** 2)]")),
    Entry("gate by gate", "the blocks taken in the order i, f, o, g", "gate order", BLOCKS.replace('"ifgo"', '"ifog"')),
    Entry("vectorised", "c where tanh(c') belongs", "c for tanh(c')", RIGHT.replace("do = dh_next * tanh_c",
                                                                                     "do = dh_next * self.c")),
    Entry("vectorised", "tanh' as 1 − c²", "tanh' from the cell state",
          RIGHT.replace("dh_next * o * (1 - tanh_c ** 2)", "dh_next * o * (1 - self.c ** 2)")),
    Entry("vectorised", "dc' from step t+1 left out", "dc' from step t+1 missing",
          RIGHT.replace("dc = dc_next + dh_next", "dc = dh_next")),
    Entry("vectorised", "dc = dc' alone", "path through h' missing",
          RIGHT.replace("dc = dc_next + dh_next * o * (1 - tanh_c ** 2)", "dc = dc_next")),
    Entry("vectorised", "dc_prev = dc", "forget gate left out",
          RIGHT.replace("(da @ self.weight_hh.data, dc * f)", "(da @ self.weight_hh.data, dc)")),
    Entry("vectorised", "dc_prev = 0", "path missing",
          RIGHT.replace("(da @ self.weight_hh.data, dc * f)", "(da @ self.weight_hh.data, np.zeros_like(self.c))")),
    Entry("vectorised", "one bias gradient only", "path missing",
          RIGHT.replace("            self.bias_hh.grad += da.sum(axis=0)\n", "")),
    Entry("vectorised", "σ' for the tanh gate g", "σ' for the tanh gate",
          RIGHT.replace("dg * (1 - g ** 2)", "dg * g * (1 - g)")),
    Entry("gate by gate", "1 − σ² for the sigmoid gates", "tanh' for the sigmoid gates", BLOCKS.replace(
        "self.g * self.i * (1 - self.i)", "self.g * (1 - self.i ** 2)").replace(
        "self.c * self.f * (1 - self.f)", "self.c * (1 - self.f ** 2)").replace(
        "self.tanh_c * self.o * (1 - self.o)", "self.tanh_c * (1 - self.o ** 2)")),
    Entry("vectorised", "tanh(c') for c in df", UNNAMED, RIGHT.replace("df, dg = dc * g, dc * self.c, dc * i",
                                                                      "df, dg = dc * g, dc * tanh_c, dc * i"),
          points_at="(6)"),
]
