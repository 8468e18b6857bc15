"""LayerNorm.backward: dx̂ = G γ, dγ and dβ summed over the rows, then dL/dx through x̂, each row's μ and σ²
(eq. (6)-(12))."""

from . import ERROR, PASS, UNNAMED, Entry

PARAMETERS = """\
        G, x_hat, s = grad_output, self.x_hat, self.inv_std
        self.weight.grad += (G * x_hat).sum(axis=0)
        self.bias.grad += G.sum(axis=0)
        d_x_hat = G * self.weight.data
        D = G.shape[1]
"""
COMPACT = PARAMETERS + """\
        return s / D * (D * d_x_hat - d_x_hat.sum(axis=1, keepdims=True)
                        - x_hat * (d_x_hat * x_hat).sum(axis=1, keepdims=True))
"""
STAGED = PARAMETERS + """\
        x_mu = x_hat / s
        d_var = (d_x_hat * x_mu).sum(axis=1, keepdims=True) * -0.5 * s ** 3
        d_mu = -(d_x_hat * s).sum(axis=1, keepdims=True) + d_var * (-2 * x_mu).mean(axis=1, keepdims=True)
        return d_x_hat * s + d_var * 2 * x_mu / D + d_mu / D
"""

ENTRIES = [
    Entry("compact", "right", PASS, COMPACT),
    Entry("CS231n's staged graph", "right: dvar, dmean, then dx, along each row", PASS, STAGED),
    Entry("compact", "the Σ dx̂ term dropped", "mean term missing",
          COMPACT.replace("D * d_x_hat - d_x_hat.sum(axis=1, keepdims=True)\n", "D * d_x_hat\n")),
    Entry("CS231n's staged graph", "dmean's term left out of dx", "mean term missing",
          STAGED.replace(" + d_mu / D\n", "\n")),
    Entry("compact", "the x̂ Σ dx̂ x̂ term dropped", "variance term missing",
          COMPACT.replace("\n                        - x_hat * (d_x_hat * x_hat).sum(axis=1, keepdims=True))", ")")),
    Entry("CS231n's staged graph", "dvar's term left out of dx", "variance term missing",
          STAGED.replace("d_x_hat * s + d_var * 2 * x_mu / D + d_mu / D", "d_x_hat * s + d_mu / D")),
    Entry("compact", "μ and σ treated as constants", "μ and σ as constants", PARAMETERS + """\
        return d_x_hat * s
"""),
    Entry("compact", "batch norm's sums, down the batch", "sums down the batch",
          COMPACT.replace("axis=1, keepdims=True", "axis=0, keepdims=True")),
    Entry("compact", "batch norm's backward copied whole: M = len(G), axis=0", "sums down the batch",
          COMPACT.replace("D = G.shape[1]", "D = len(G)").replace("axis=1, keepdims=True", "axis=0")),
    Entry("compact", "D taken as len(G)", "N for D", COMPACT.replace("D = G.shape[1]", "D = len(G)")),
    Entry("compact", "the 1/D in front forgotten", "1/D missing", COMPACT.replace("return s / D * (", "return s * (")),
    Entry("compact", "γ left out of dx̂", "γ forgotten", COMPACT.replace("d_x_hat = G * self.weight.data",
                                                                         "d_x_hat = G")),
    Entry("compact", "dγ and dβ as means over the rows", "dγ and dβ averaged",
          COMPACT.replace("(G * x_hat).sum(axis=0)", "(G * x_hat).mean(axis=0)").replace("G.sum(axis=0)",
                                                                                         "G.mean(axis=0)")),
    Entry("compact", "dβ as a mean over the rows", "dγ and dβ averaged",
          COMPACT.replace("self.bias.grad += G.sum(axis=0)", "self.bias.grad += G.mean(axis=0)")),
    Entry("compact", "dγ and dβ swapped", "dγ and dβ swapped",
          COMPACT.replace("self.weight.grad += (G * x_hat).sum(axis=0)\n        self.bias.grad += G.sum(axis=0)",
                          "self.weight.grad += G.sum(axis=0)\n        self.bias.grad += (G * x_hat).sum(axis=0)")),
    Entry("compact", "grad_output never read: G taken as ones", "upstream ignored",
          COMPACT.replace("G, x_hat, s = grad_output, self.x_hat, self.inv_std",
                          "x_hat, s = self.x_hat, self.inv_std\n        G = np.ones_like(x_hat)")),
    Entry("compact", "= into bias.grad", "not accumulated",
          COMPACT.replace("self.bias.grad += G.sum(axis=0)", "self.bias.grad = G.sum(axis=0)")),
    Entry("CS231n's staged graph", "Bessel's D − 1 in dvar's term", UNNAMED,
          STAGED.replace("d_var * 2 * x_mu / D", "d_var * 2 * x_mu / (D - 1)"), points_at="(6)"),
    Entry("compact", "dγ summed along each row (axis=1)", ERROR,
          COMPACT.replace("(G * x_hat).sum(axis=0)", "(G * x_hat).sum(axis=1)")),
]
