"""Containers: Sequential, as ``torch/nn/modules/container.py``.

Derivation of the chain it walks backwards: derivations/backprop.md
"""

from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """Run modules in order: y = f_K(... f_2(f_1(x))).  Derivation: derivations/backprop.md

    Children are named "0", "1", ... as in PyTorch, so ``state_dict()`` keys
    read ``0.weight``, ``2.bias``; PyTorch's other form, one OrderedDict of
    {name: module}, names them (``fc.weight``).  Backward is the chain rule
    walked in reverse: each module turns dL/d(its output) into dL/d(its input).
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self._add(name, module)
        else:
            for module in modules:
                self.append(module)

    def append(self, module):
        """Add a module at the end; return self."""
        return self._add(str(len(self._modules)), module)

    def _add(self, name, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: expected a Module, got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name or name in self.__dict__ or hasattr(type(self), name):
            raise ValueError(f"Sequential: a child's name must be a non-empty str without '.' that names nothing "
                             f"else of the container, got {name!r}")
        setattr(self, name, module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def backward(self, grad_output, need_input_grad=True):
        """Walk the chain backwards; return dL/dx (None when need_input_grad=False).

        A module's input gradient is computed only when something before it
        learns (has parameters) or the caller asked for dL/dx: with
        ``need_input_grad=False`` the first Linear skips G W, about half the
        matrix work of a two-layer MLP's backward (derivations/backprop.md, section 3).
        """
        modules = list(self)
        learns_before = _learns_before(modules)
        grad = grad_output
        for index in reversed(range(len(modules))):
            needed = need_input_grad or learns_before[index]
            if not needed and not modules[index].has_parameters():
                return None                          # nothing left that learns
            grad = modules[index].backward(grad, need_input_grad=needed)   # eq. (7)
        return grad


def _learns_before(modules):
    """For each position, whether any module before it has parameters."""
    flags, seen = [], False
    for module in modules:
        flags.append(seen)
        seen = seen or module.has_parameters()
    return flags
