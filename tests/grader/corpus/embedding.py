"""Embedding.backward: dW[k] = Σ over the positions p with idx_p = k of G_p (eq. (3)), added into weight.grad."""

from . import ERROR, PASS, UNNAMED, Entry

ENTRIES = [
    Entry("np.add.at", "right", PASS, """\
        np.add.at(self.weight.grad, self.indices, grad_output)
"""),
    Entry("loops", "right, position by position", PASS, """\
        rows, G = self.indices.reshape(-1), grad_output.reshape(-1, self.embedding_dim)
        for position, row in enumerate(rows):
            self.weight.grad[row] += G[position]
"""),
    Entry("one-hot", "right, the lookup as a product (eq. (2))", PASS, """\
        E = np.eye(self.num_embeddings)[self.indices.reshape(-1)]
        self.weight.grad += E.T @ grad_output.reshape(-1, self.embedding_dim)
"""),
    Entry("fancy index", "weight.grad[idx] += G", "duplicates lost", """\
        self.weight.grad[self.indices] += grad_output
"""),
    Entry("fancy index", "weight.grad[idx] = G", "duplicates lost and not added", """\
        self.weight.grad[self.indices] = grad_output
"""),
    Entry("one-hot", "= into weight.grad", "not accumulated", """\
        E = np.eye(self.num_embeddings)[self.indices.reshape(-1)]
        self.weight.grad = E.T @ grad_output.reshape(-1, self.embedding_dim)
"""),
    Entry("loops", "the first position of each sequence only", UNNAMED, """\
        for n in range(len(self.indices)):
            self.weight.grad[self.indices[n, 0]] += grad_output[n, 0]
""", points_at="(3)"),
    Entry("one-hot", "E G for Eᵀ G", ERROR, """\
        E = np.eye(self.num_embeddings)[self.indices.reshape(-1)]
        self.weight.grad += E @ grad_output.reshape(-1, self.embedding_dim)
"""),
]
