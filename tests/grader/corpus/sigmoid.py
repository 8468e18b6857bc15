"""Sigmoid.backward: dL/dx = G ⊙ y(1 − y) (eq. (2), (3))."""

from . import PASS, Entry

ENTRIES = [
    Entry("vectorised", "right", PASS, """\
        return grad_output * self.y * (1 - self.y)
"""),
    Entry("vectorised", "right, y − y²", PASS, """\
        y = self.y
        return grad_output * (y - y ** 2)
"""),
    Entry("vectorised", "G times σ", "value for slope", """\
        return grad_output * self.y
"""),
    Entry("vectorised", "σ taken again on the output", "sigmoid taken twice", """\
        s = mn.nn.functional.sigmoid(self.y)
        return grad_output * s * (1 - s)
"""),
    Entry("vectorised", "σ'(x) = e^−x/(1 + e^−x)² evaluated at y", "sigmoid taken twice", """\
        import numpy as np
        e = np.exp(-self.y)
        return grad_output * e / (1 + e) ** 2
"""),
    Entry("vectorised", "only 1 − σ", "1 − y for the slope", """\
        return grad_output * (1 - self.y)
"""),
    Entry("vectorised", "tanh's 1 − y²", "tanh's slope", """\
        return grad_output * (1 - self.y ** 2)
"""),
    Entry("vectorised", "the slope alone", "upstream ignored", """\
        return self.y * (1 - self.y)
"""),
    Entry("vectorised", "y(y − 1)", "sign flipped", """\
        return grad_output * self.y * (self.y - 1)
"""),
]
