"""Softmax.backward: dL/dx = y ⊙ (G − Σ_j G_j y_j) along dim (eq. (3), (4)); graded on dim=-1, 0 and 3-D inputs."""

from . import PASS, UNNAMED, Entry

ENTRIES = [
    Entry("vectorised", "right", PASS, """\
        y = self.y
        return y * (grad_output - (grad_output * y).sum(axis=self.dim, keepdims=True))
"""),
    Entry("the Jacobian", "right, J = diag(y) − y yᵀ built for each row", PASS, """\
        import numpy as np
        y = np.moveaxis(self.y, self.dim, -1)
        G = np.moveaxis(grad_output, self.dim, -1)
        dx = np.empty_like(G)
        for index in np.ndindex(*y.shape[:-1]):
            J = np.diag(y[index]) - np.outer(y[index], y[index])
            dx[index] = J.T @ G[index]
        return np.moveaxis(dx, -1, self.dim)
"""),
    Entry("the Jacobian", "the diagonal y(1 − y) only", "diagonal only", """\
        return grad_output * self.y * (1 - self.y)
"""),
    Entry("vectorised", "the sum down the batch", "sum along another axis", """\
        y = self.y
        return y * (grad_output - (grad_output * y).sum(axis=0, keepdims=True))
"""),
    Entry("the Jacobian", "one Jacobian per row of the last axis, dim ignored", "sum along another axis", """\
        import numpy as np
        dx = np.empty_like(grad_output)
        for n in range(len(self.y)):
            J = np.diag(self.y[n]) - np.outer(self.y[n], self.y[n])
            dx[n] = J.T @ grad_output[n]
        return dx
"""),
    Entry("vectorised", "the sum over everything", "sum over every entry", """\
        y = self.y
        return y * (grad_output - (grad_output * y).sum())
"""),
    Entry("vectorised", "Σ G without the weights y", "weights missing from the sum", """\
        return self.y * (grad_output - grad_output.sum(axis=self.dim, keepdims=True))
"""),
    Entry("vectorised", "the y in front forgotten", "y missing in front", """\
        y = self.y
        return grad_output - (grad_output * y).sum(axis=self.dim, keepdims=True)
"""),
    Entry("vectorised", "log-softmax's G − y Σ G", "log-softmax's backward", """\
        return grad_output - self.y * grad_output.sum(axis=self.dim, keepdims=True)
"""),
    Entry("vectorised", "the weighted mean for the weighted sum", UNNAMED, """\
        y = self.y
        return y * (grad_output - (grad_output * y).mean(axis=self.dim, keepdims=True))
""", points_at="(4)"),
]
