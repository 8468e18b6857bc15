"""CausalSelfAttention.backward, one head: back through c_proj (eq. (16)), Y = P V (6), (7), the softmax row by row
(9), the scaled scores (10), (11) and c_attn, adding x's three uses (17), (19)."""

from . import ERROR, PASS, UNNAMED, Entry

BATCHED = """\
        x, Q, K, V, P, Y, C = self.x, self.Q, self.K, self.V, self.P, self.Y, self.n_embd
        G = grad_output
        self.c_proj.weight.grad += G.reshape(-1, C).T @ Y.reshape(-1, C)
        self.c_proj.bias.grad += G.sum(axis=(0, 1))
        dY = G @ self.c_proj.weight.data
        dV = P.swapaxes(-1, -2) @ dY
        dP = dY @ V.swapaxes(-1, -2)
        dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))
        dQ = dS @ K / np.sqrt(C)
        dK = dS.swapaxes(-1, -2) @ Q / np.sqrt(C)
        d_qkv = np.concatenate([dQ, dK, dV], axis=-1)
        self.c_attn.weight.grad += d_qkv.reshape(-1, 3 * C).T @ x.reshape(-1, C)
        self.c_attn.bias.grad += d_qkv.sum(axis=(0, 1))
        return d_qkv @ self.c_attn.weight.data
"""
EINSUM = """\
        x, Q, K, V, P, Y, C = self.x, self.Q, self.K, self.V, self.P, self.Y, self.n_embd
        G = grad_output
        W_q, W_k, W_v = np.split(self.c_attn.weight.data, 3)
        self.c_proj.weight.grad += np.einsum("bto,btc->oc", G, Y)
        self.c_proj.bias.grad += np.einsum("bto->o", G)
        dY = np.einsum("bto,oc->btc", G, self.c_proj.weight.data)
        dV = np.einsum("bij,bic->bjc", P, dY)
        dP = np.einsum("bic,bjc->bij", dY, V)
        dS = P * (dP - np.einsum("bij,bij->bi", dP, P)[..., None])
        s = 1 / np.sqrt(C)
        dQ = s * np.einsum("bij,bjc->bic", dS, K)
        dK = s * np.einsum("bij,bic->bjc", dS, Q)
        for d, rows in ((dQ, slice(0, C)), (dK, slice(C, 2 * C)), (dV, slice(2 * C, 3 * C))):
            self.c_attn.weight.grad[rows] += np.einsum("btc,btd->cd", d, x)
            self.c_attn.bias.grad[rows] += np.einsum("btc->c", d)
        return (np.einsum("btc,cd->btd", dQ, W_q) + np.einsum("btc,cd->btd", dK, W_k)
                + np.einsum("btc,cd->btd", dV, W_v))
"""
LOOPS = """\
        C = self.n_embd
        s = 1 / np.sqrt(C)
        dx = np.zeros_like(self.x)
        for b in range(len(self.x)):
            x, Q, K, V, P, Y, G = self.x[b], self.Q[b], self.K[b], self.V[b], self.P[b], self.Y[b], grad_output[b]
            self.c_proj.weight.grad += G.T @ Y
            self.c_proj.bias.grad += G.sum(axis=0)
            dY = G @ self.c_proj.weight.data
            dV = P.T @ dY
            dP = dY @ V.T
            dS = P * (dP - (dP * P).sum(axis=1, keepdims=True))
            d_qkv = np.hstack([s * dS @ K, s * dS.T @ Q, dV])
            self.c_attn.weight.grad += d_qkv.T @ x
            self.c_attn.bias.grad += d_qkv.sum(axis=0)
            dx[b] = d_qkv @ self.c_attn.weight.data
        return dx
"""
# llm.c keeps the scores and recomputes P in backward to save memory; here the causal mask is forgotten there.
RECOMPUTED_WITHOUT_MASK = BATCHED.replace("""\
        dV = P.swapaxes(-1, -2) @ dY
""", """\
        S = Q @ K.swapaxes(-1, -2) / np.sqrt(C)
        P = np.exp(S - S.max(axis=-1, keepdims=True))
        P = P / P.sum(axis=-1, keepdims=True)
        dV = P.swapaxes(-1, -2) @ dY
""")

ENTRIES = [
    Entry("batched @", "right", PASS, BATCHED),
    Entry("einsum", "right, the three projections apart", PASS, EINSUM),
    Entry("loops", "right, one sequence at a time", PASS, LOOPS),
    Entry("batched @", "1/√C left out of dQ and dK", "scale forgotten", BATCHED.replace(" / np.sqrt(C)\n", "\n")),
    Entry("loops", "s left out of dK", "scale forgotten", LOOPS.replace("s * dS.T @ Q", "dS.T @ Q")),
    Entry("batched @", "the softmax's sum down the columns", "softmax wrong axis",
          BATCHED.replace("(dP * P).sum(axis=-1, keepdims=True)", "(dP * P).sum(axis=-2, keepdims=True)")),
    Entry("loops", "the softmax's sum along axis 0", "softmax wrong axis",
          LOOPS.replace("(dP * P).sum(axis=1, keepdims=True)", "(dP * P).sum(axis=0, keepdims=True)")),
    Entry("batched @", "P recomputed from the scores without the mask", "future leaking", RECOMPUTED_WITHOUT_MASK),
    Entry("batched @", "dV = P dY", "Pᵀ missing in dV", BATCHED.replace("dV = P.swapaxes(-1, -2) @ dY", "dV = P @ dY")),
    Entry("loops", "dV = P dY", "Pᵀ missing in dV", LOOPS.replace("dV = P.T @ dY", "dV = P @ dY")),
    Entry("batched @", "dK = s dS Q", "dSᵀ missing in dK",
          BATCHED.replace("dK = dS.swapaxes(-1, -2) @ Q", "dK = dS @ Q")),
    Entry("batched @", "dx through the queries alone", "uses of x not added",
          BATCHED.replace("return d_qkv @ self.c_attn.weight.data", "return dQ @ self.c_attn.weight.data[:C]")),
    Entry("einsum", "dx through the queries and values, the keys forgotten", "uses of x not added",
          EINSUM.replace(' + np.einsum("btc,cd->btd", dK, W_k)', "")),
    Entry("batched @", "dY = G: c_proj skipped on the way back", "output projection skipped",
          BATCHED.replace("dY = G @ self.c_proj.weight.data", "dY = G")),
    Entry("batched @", "dY through W_projᵀ", "W_projᵀ in dY",
          BATCHED.replace("dY = G @ self.c_proj.weight.data", "dY = G @ self.c_proj.weight.data.T")),
    Entry("batched @", "both bias gradients as means over the positions", "bias averaged",
          BATCHED.replace("G.sum(axis=(0, 1))", "G.mean(axis=(0, 1))").replace("d_qkv.sum(axis=(0, 1))",
                                                                               "d_qkv.mean(axis=(0, 1))")),
    Entry("batched @", "c_proj's bias gradient as a mean", "bias averaged",
          BATCHED.replace("G.sum(axis=(0, 1))", "G.mean(axis=(0, 1))")),
    Entry("batched @", "grad_output never read: G taken as ones", "upstream ignored",
          BATCHED.replace("G = grad_output", "G = np.ones_like(Y)")),
    Entry("einsum", "c_proj's gradients never written", "path missing",
          EINSUM.replace('        self.c_proj.weight.grad += np.einsum("bto,btc->oc", G, Y)\n'
                         '        self.c_proj.bias.grad += np.einsum("bto->o", G)\n', "")),
    Entry("batched @", "= into c_attn.weight.grad", "not accumulated",
          BATCHED.replace("self.c_attn.weight.grad += d_qkv", "self.c_attn.weight.grad = d_qkv")),
    Entry("batched @", "dW_attn from the first sequence only", UNNAMED,
          BATCHED.replace("d_qkv.reshape(-1, 3 * C).T @ x.reshape(-1, C)", "d_qkv[0].T @ x[0]"), points_at="(17)"),
    Entry("batched @", "1/√C applied twice: in dS and again in dQ, dK", UNNAMED,
          BATCHED.replace("dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))",
                          "dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True)) / np.sqrt(C)"), points_at="(16)"),
    Entry("batched @", "db_attn summed over the batch axis alone", ERROR,
          BATCHED.replace("self.c_attn.bias.grad += d_qkv.sum(axis=(0, 1))",
                          "self.c_attn.bias.grad += d_qkv.sum(axis=0)")),
]
