"""LogisticRegression.backward(x, yhat, y): the notes' model stores dL/dw and dL/db (eq. (4)-(6))."""

from . import PASS, UNNAMED, Entry

ENTRIES = [
    Entry("vectorised", "right", PASS, """\
        dz = (yhat - y) / len(x)
        self.w.grad[...] = x.T @ dz
        self.b.grad[...] = dz.sum()
"""),
    Entry("the notes'", "right, the notes' mean", PASS, """\
        self.w.grad = np.mean(x * (yhat - y)[:, None], axis=0)
        self.b.grad = np.mean(yhat - y)
"""),
    Entry("loops", "right, one sample at a time", PASS, """\
        N = x.shape[0]
        dw, db = np.zeros_like(self.w.data), 0.0
        for n in range(N):
            dw += x[n] * (yhat[n] - y[n]) / N
            db += (yhat[n] - y[n]) / N
        self.w.grad = dw
        self.b.grad = np.array(db)
"""),
    Entry("vectorised", "the gradient of the sum", "1/N missing", """\
        self.w.grad[...] = x.T @ (yhat - y)
        self.b.grad[...] = (yhat - y).sum()
"""),
    Entry("loops", "the sum, one sample at a time", "1/N missing", """\
        dw, db = np.zeros_like(self.w.data), 0.0
        for n in range(len(x)):
            dw += x[n] * (yhat[n] - y[n])
            db += yhat[n] - y[n]
        self.w.grad[...] = dw
        self.b.grad[...] = db
"""),
    Entry("the notes'", "x.shape[1] for N", "features for N", """\
        N = x.shape[1]
        self.w.grad[...] = x.T @ (yhat - y) / N
        self.b.grad[...] = (yhat - y).sum() / N
"""),
    Entry("vectorised", "y − ŷ", "sign flipped", """\
        dz = (y - yhat) / len(x)
        self.w.grad[...] = x.T @ dz
        self.b.grad[...] = dz.sum()
"""),
    Entry("vectorised", "σ' multiplied in again", "σ' applied again", """\
        dz = (yhat - y) * yhat * (1 - yhat) / len(x)
        self.w.grad[...] = x.T @ dz
        self.b.grad[...] = dz.sum()
"""),
    Entry("vectorised", "dL/dŷ used as dL/dz", "chain stopped at ŷ", """\
        dyhat = (-y / yhat + (1 - y) / (1 - yhat)) / len(x)
        self.w.grad[...] = x.T @ dyhat
        self.b.grad[...] = dyhat.sum()
"""),
    Entry("vectorised", "db as the mean of dz", "db averaged", """\
        dz = (yhat - y) / len(x)
        self.w.grad[...] = x.T @ dz
        self.b.grad[...] = dz.mean()
"""),
    Entry("vectorised", "b.grad never written", "path missing", """\
        dz = (yhat - y) / len(x)
        self.w.grad[...] = x.T @ dz
"""),
    Entry("vectorised", "the logit z for ŷ", UNNAMED, """\
        z = x @ self.w.data + self.b.data
        dz = (z - y) / len(x)
        self.w.grad[...] = x.T @ dz
        self.b.grad[...] = dz.sum()
""", points_at="(4)"),
]
