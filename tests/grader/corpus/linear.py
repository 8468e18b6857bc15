"""Linear.backward: dL/dx = G W, dL/dW = Gᵀ x, dL/db = Σ_n G_n (eq. (2)-(4)), added into .grad."""

from . import ERROR, PASS, UNNAMED, Entry

ENTRIES = [
    Entry("vectorised", "right", PASS, """\
        self.weight.grad += grad_output.T @ self.x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data
"""),
    Entry("einsum", "right", PASS, """\
        self.weight.grad += np.einsum("no,ni->oi", grad_output, self.x)
        if self.bias is not None:
            self.bias.grad += np.einsum("no->o", grad_output)
        return np.einsum("no,oi->ni", grad_output, self.weight.data)
"""),
    Entry("loops", "right, one sample at a time", PASS, """\
        dx = np.zeros_like(self.x)
        for n in range(len(self.x)):
            self.weight.grad += np.outer(grad_output[n], self.x[n])
            if self.bias is not None:
                self.bias.grad += grad_output[n]
            dx[n] = self.weight.data.T @ grad_output[n]
        return dx
"""),
    Entry("vectorised", "bias gradient as a mean", "bias averaged", """\
        self.weight.grad += grad_output.T @ self.x
        if self.bias is not None:
            self.bias.grad += grad_output.mean(axis=0)
        return grad_output @ self.weight.data
"""),
    Entry("loops", "bias gradient divided by N in the loop", "bias averaged", """\
        N = len(self.x)
        for n in range(N):
            self.weight.grad += np.outer(grad_output[n], self.x[n])
            if self.bias is not None:
                self.bias.grad += grad_output[n] / N
        return grad_output @ self.weight.data
"""),
    Entry("vectorised", "weight gradient divided by N", "weight averaged", """\
        self.weight.grad += grad_output.T @ self.x / len(self.x)
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data
"""),
    Entry("vectorised", "the (in, out) layout's xᵀ G", "transposed", """\
        self.weight.grad += self.x.T @ grad_output
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data
"""),
    Entry("vectorised", "dx through Wᵀ", "input gradient through Wᵀ", """\
        self.weight.grad += grad_output.T @ self.x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data.T
"""),
    Entry("vectorised", "= into weight.grad", "not accumulated", """\
        self.weight.grad = grad_output.T @ self.x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data
"""),
    Entry("vectorised", "the bias forgotten", "path missing", """\
        self.weight.grad += grad_output.T @ self.x
        return grad_output @ self.weight.data
"""),
    Entry("vectorised", "dx from weight.grad, not weight.data", UNNAMED, """\
        self.weight.grad += grad_output.T @ self.x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.grad
""", points_at="(2)"),
    Entry("vectorised", "no check for bias=False", ERROR, """\
        self.weight.grad += grad_output.T @ self.x
        self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data
"""),
    Entry("vectorised", "the bias gradient not summed over the batch", ERROR, """\
        self.weight.grad += grad_output.T @ self.x
        if self.bias is not None:
            self.bias.grad += grad_output
        return grad_output @ self.weight.data
"""),
]
