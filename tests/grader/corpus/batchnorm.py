"""BatchNorm1d.backward: dx̂ = G γ, dγ, dβ, then dL/dx through x̂, μ and σ² in training, x̂ alone in evaluation
(eq. (8)-(15))."""

from . import PASS, UNNAMED, Entry

PARAMETERS = """\
        G, x_hat, s = grad_output, self.x_hat, self.inv_std
        self.weight.grad += (G * x_hat).sum(axis=0)
        self.bias.grad += G.sum(axis=0)
        d_x_hat = G * self.weight.data
        if not self.used_batch_statistics:
            return d_x_hat * s
        M = len(G)
"""
STAGED = PARAMETERS + """\
        x_mu = x_hat / s
        d_var = (d_x_hat * x_mu).sum(axis=0) * -0.5 * s ** 3
        d_mu = -(d_x_hat * s).sum(axis=0) + d_var * (-2 * x_mu).mean(axis=0)
        return d_x_hat * s + d_var * 2 * x_mu / M + d_mu / M
"""
COMPACT = PARAMETERS + """\
        return s / M * (M * d_x_hat - d_x_hat.sum(axis=0) - x_hat * (d_x_hat * x_hat).sum(axis=0))
"""

ENTRIES = [
    Entry("compact", "right", PASS, COMPACT),
    Entry("CS231n's staged graph", "right: dvar, dmean, then dx", PASS, STAGED),
    Entry("compact", "the x̂ Σ dx̂ x̂ term dropped", "x̂ term dropped",
          COMPACT.replace(" - x_hat * (d_x_hat * x_hat).sum(axis=0))", ")")),
    Entry("CS231n's staged graph", "dvar's term left out of dx", "x̂ term dropped",
          STAGED.replace("d_x_hat * s + d_var * 2 * x_mu / M + d_mu / M", "d_x_hat * s + d_mu / M")),
    Entry("compact", "the Σ dx̂ term dropped", "mean term dropped",
          COMPACT.replace("M * d_x_hat - d_x_hat.sum(axis=0) - ", "M * d_x_hat - ")),
    Entry("compact", "μ and σ treated as constants", "μ and σ as constants", PARAMETERS + """\
        return d_x_hat * s
"""),
    Entry("compact", "no evaluation branch", "training formula in evaluation", """\
        G, x_hat, s = grad_output, self.x_hat, self.inv_std
        self.weight.grad += (G * x_hat).sum(axis=0)
        self.bias.grad += G.sum(axis=0)
        d_x_hat = G * self.weight.data
        M = len(G)
        return s / M * (M * d_x_hat - d_x_hat.sum(axis=0) - x_hat * (d_x_hat * x_hat).sum(axis=0))
"""),
    Entry("compact", "γ left out of dx̂", "γ forgotten", COMPACT.replace("d_x_hat = G * self.weight.data",
                                                                         "d_x_hat = G")),
    Entry("compact", "dγ and dβ swapped", "dγ and dβ swapped",
          COMPACT.replace("self.weight.grad += (G * x_hat).sum(axis=0)\n        self.bias.grad += G.sum(axis=0)",
                          "self.weight.grad += G.sum(axis=0)\n        self.bias.grad += (G * x_hat).sum(axis=0)")),
    Entry("compact", "the 1/M in front forgotten", "1/M missing", COMPACT.replace("return s / M * (", "return s * (")),
    Entry("compact", "the sums along axis 1", "sums along the features",
          COMPACT.replace("d_x_hat.sum(axis=0) - x_hat * (d_x_hat * x_hat).sum(axis=0)",
                          "d_x_hat.sum(axis=1, keepdims=True) - x_hat * (d_x_hat * x_hat).sum(axis=1, keepdims=True)")),
    Entry("compact", "= into weight.grad", "not accumulated",
          COMPACT.replace("self.weight.grad += (G * x_hat).sum(axis=0)", "self.weight.grad = (G * x_hat).sum(axis=0)")),
    Entry("CS231n's staged graph", "Bessel's M − 1 in dvar's term", UNNAMED,
          STAGED.replace("d_var * 2 * x_mu / M", "d_var * 2 * x_mu / (M - 1)"), points_at="(8)"),
]
