"""Sequential.backward: G_{k−1} = f_k.backward(G_k), last module first (eq. (7))."""

from . import ERROR, PASS, Entry

ENTRIES = [
    Entry("loop", "right", PASS, """\
        for module in reversed(list(self)):
            grad_output = module.backward(grad_output)
        return grad_output
"""),
    Entry("loop", "right, through _modules", PASS, """\
        modules = list(self._modules.values())
        G = grad_output
        for k in range(len(modules) - 1, -1, -1):
            G = modules[k].backward(G)
        return G
"""),
    Entry("recursive", "right", PASS, """\
        def back(modules, G):
            return G if not modules else back(modules[:-1], modules[-1].backward(G))
        return back(list(self), grad_output)
"""),
    Entry("loop", "grad_output returned", "upstream returned", """\
        G = grad_output
        for module in reversed(list(self)):
            G = module.backward(G)
        return grad_output
"""),
    Entry("one line", "the last module's backward alone", "only the last module", """\
        return list(self)[-1].backward(grad_output)
"""),
    Entry("loop", "the Linear layers alone", "activations skipped", """\
        for module in reversed(list(self)):
            if isinstance(module, mn.Linear):
                grad_output = module.backward(grad_output)
        return grad_output
"""),
    Entry("loop", "no return", "shape", """\
        for module in reversed(list(self)):
            grad_output = module.backward(grad_output)
"""),
    Entry("loop", "forward order", ERROR, """\
        for module in self:
            grad_output = module.backward(grad_output)
        return grad_output
"""),
    Entry("loop", "every module given the upstream G", ERROR, """\
        for module in reversed(list(self)):
            result = module.backward(grad_output)
        return result
"""),
]
