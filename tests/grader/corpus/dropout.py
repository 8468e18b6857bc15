"""Dropout.backward: G ⊙ m/(1 − p) after a training forward, G after an evaluation one (eq. (4), (5))."""

from . import ERROR, PASS, UNNAMED, Entry

ENTRIES = [
    Entry("vectorised", "right", PASS, """\
        if self.mask is None:
            return grad_output
        return grad_output * self.mask * self.scale
"""),
    Entry("np.where", "right", PASS, """\
        if not self.training:
            return grad_output
        return np.where(self.mask, grad_output / (1 - self.p), 0.0)
"""),
    Entry("vectorised", "the mask forgotten", "mask missing", """\
        if self.mask is None:
            return grad_output
        return grad_output * self.scale
"""),
    Entry("vectorised", "the scale forgotten", "scale missing", """\
        if self.mask is None:
            return grad_output
        return grad_output * self.mask
"""),
    Entry("vectorised", "CS231n's p, the keep probability", "scaled by 1/p", """\
        if self.mask is None:
            return grad_output
        return grad_output * self.mask / self.p
"""),
    Entry("vectorised", "~mask", "mask inverted", """\
        if self.mask is None:
            return grad_output
        return grad_output * ~self.mask * self.scale
"""),
    Entry("vectorised", "the scale in evaluation too", "scaled in evaluation", """\
        if self.mask is None:
            return grad_output * self.scale
        return grad_output * self.mask * self.scale
"""),
    Entry("vectorised", "the mask read as the dropped ones, and p as the keep probability", UNNAMED, """\
        if self.mask is None:
            return grad_output
        return grad_output * ~self.mask / self.p
""", points_at="(4), (5)"),
    Entry("vectorised", "no evaluation branch", ERROR, """\
        return grad_output * self.mask * self.scale
"""),
]
