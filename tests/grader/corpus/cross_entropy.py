"""CrossEntropyLoss.backward(g): dL/dz = g (p − Y)/N, without the 1/N for reduction='sum' (eq. (4), (5))."""

from . import PASS, UNNAMED, Entry

ENTRIES = [
    Entry("vectorised", "right", PASS, """\
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        if self.reduction == "mean":
            grad /= len(self.target)
        return grad * grad_output
"""),
    Entry("one-hot", "right, with np.eye", PASS, """\
        N, C = self.probs.shape
        Y = np.eye(C)[self.target]
        scale = grad_output / N if self.reduction == "mean" else grad_output
        return (self.probs - Y) * scale
"""),
    Entry("loops", "right, sample by sample", PASS, """\
        grad = np.zeros_like(self.probs)
        for n, label in enumerate(self.target):
            grad[n] = self.probs[n]
            grad[n, label] -= 1
        if self.reduction == "mean":
            grad = grad / len(grad)
        return grad_output * grad
"""),
    Entry("in place", "right, changing self.probs itself", PASS, """\
        grad = self.probs
        grad[np.arange(len(self.target)), self.target] -= 1
        return grad * grad_output / (len(grad) if self.reduction == "mean" else 1)
"""),
    Entry("vectorised", "the mean's 1/N forgotten", "1/N missing", """\
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        return grad * grad_output
"""),
    Entry("vectorised", "1/N for 'sum' too", "1/N in the sum", """\
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        return grad * grad_output / len(self.target)
"""),
    Entry("vectorised", "grad_output never read", "upstream ignored", """\
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        if self.reduction == "mean":
            grad /= len(self.target)
        return grad
"""),
    Entry("vectorised", "p alone", "one-hot missing", """\
        grad = self.probs.copy()
        if self.reduction == "mean":
            grad /= len(self.target)
        return grad * grad_output
"""),
    Entry("vectorised", "grad[:, target] -= 1", "labels in every row", """\
        grad = self.probs.copy()
        grad[:, self.target] -= 1
        if self.reduction == "mean":
            grad /= len(self.target)
        return grad * grad_output
"""),
    Entry("one-hot", "Y − p", "sign flipped", """\
        Y = np.eye(self.probs.shape[1])[self.target]
        grad = Y - self.probs
        return grad * grad_output / (len(grad) if self.reduction == "mean" else 1)
"""),
    Entry("one-hot", "log p for p", "log-probabilities for probabilities", """\
        Y = np.eye(self.probs.shape[1])[self.target]
        grad = np.log(self.probs) - Y
        return grad * grad_output / (len(grad) if self.reduction == "mean" else 1)
"""),
    Entry("vectorised", "divided by the number of classes", "constant factor", """\
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        if self.reduction == "mean":
            grad /= self.probs.shape[1]
        return grad * grad_output
"""),
    Entry("vectorised", "−1 written at the label instead of subtracted", UNNAMED, """\
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] = -1
        if self.reduction == "mean":
            grad /= len(self.target)
        return grad * grad_output
""", points_at="(5)"),
]
