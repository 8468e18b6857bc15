"""ReLU.backward: dL/dx = G ⊙ 1[y > 0] (eq. (4))."""

from . import PASS, UNNAMED, Entry

ENTRIES = [
    Entry("vectorised", "right", PASS, """\
        return grad_output * (self.y > 0)
"""),
    Entry("np.where", "right", PASS, """\
        return np.where(self.y > 0, grad_output, 0.0)
"""),
    Entry("in place", "right, zeroing a copy", PASS, """\
        dx = grad_output.copy()
        dx[self.y <= 0] = 0
        return dx
"""),
    Entry("in place", "right, zeroing grad_output itself", PASS, """\
        grad_output[self.y <= 0] = 0
        return grad_output
"""),
    Entry("loops", "right, entry by entry", PASS, """\
        dx = np.zeros_like(grad_output)
        for index in np.ndindex(*grad_output.shape):
            if self.y[index] > 0:
                dx[index] = grad_output[index]
        return dx
"""),
    Entry("vectorised", "G passed through", "mask missing", """\
        return grad_output
"""),
    Entry("vectorised", "the mask the wrong way round", "mask inverted", """\
        return grad_output * (self.y <= 0)
"""),
    Entry("vectorised", "G times the output", "value for slope", """\
        return grad_output * self.y
"""),
    Entry("vectorised", "the mask alone", "upstream ignored", """\
        return (self.y > 0).astype(float)
"""),
    Entry("vectorised", "LeakyReLU's slope for the negative side", "mask missing", """\
        return np.where(self.y > 0, grad_output, 0.01 * grad_output)
"""),
    Entry("vectorised", "the ReLU applied to G", UNNAMED, """\
        return np.maximum(grad_output, 0)
""", points_at="(4)"),
]
