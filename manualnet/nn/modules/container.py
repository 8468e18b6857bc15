"""Containers: Sequential, ModuleList and ModuleDict, as ``torch/nn/modules/container.py``.

Derivation of the chain Sequential walks backwards: derivations/backprop.md.
ModuleList and ModuleDict only hold modules (a GPT's blocks, its
``transformer`` parts): the model that holds them runs them, forward and
backward, in its own order.
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


class ModuleList(Module):
    """Hold modules in a list, named "0", "1", ... as PyTorch's (``h.0.ln_1.weight``).  Derivation: derivations/gpt.md

    It has no forward and no backward: the model that holds it runs its
    modules, as a GPT runs its blocks (the page above: the backward of the
    whole model).  Indexing, ``len``, iteration, ``append``, ``extend``,
    ``insert``, ``+=``, and ``del`` (which renumbers, as PyTorch's does).
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, index):
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"ModuleList: indices must be integers or slices, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"ModuleList: index {index} is out of range for a list of {len(self)} modules")
        return str(index % len(self))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[self._index(index)]

    def __setitem__(self, index, module):
        setattr(self, self._index(index), _module("ModuleList", module))

    def __delitem__(self, index):
        modules = list(self._modules.values())
        del modules[index if isinstance(index, slice) else int(self._index(index))]
        for name in list(self._modules):
            delattr(self, name)
        self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        """Add a module at the end; return self."""
        setattr(self, str(len(self)), _module("ModuleList", module))
        return self

    def extend(self, modules):
        """Append every module of an iterable; return self."""
        if isinstance(modules, Module) or not hasattr(modules, "__iter__"):
            raise TypeError(f"ModuleList.extend: expected an iterable of modules, got {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        """Insert a module before ``index``; the ones after it move up by one."""
        modules = list(self._modules.values())
        modules.insert(index, _module("ModuleList", module))
        for name in list(self._modules):
            delattr(self, name)
        return self.extend(modules)


class ModuleDict(Module):
    """Hold modules by name, as PyTorch's (``transformer.wte.weight``, ``transformer.ln_f.bias``).  Derivation: derivations/gpt.md

    It has no forward and no backward: the model that holds it runs its
    modules.  A dict's interface: ``d[name]``, ``d[name] = module``,
    ``del d[name]``, ``in``, ``len``, iteration over the names, ``keys``,
    ``values``, ``items``, ``update``, ``pop``, ``clear``; insertion order
    is kept, so ``state_dict()`` lists the modules in the order given.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, name):
        return self._modules[name]

    def __setitem__(self, name, module):
        if not isinstance(name, str) or not name or "." in name or (name not in self._modules and (
                name in self.__dict__ or hasattr(type(self), name))):
            raise KeyError(f"ModuleDict: a key must be a non-empty str without '.' that names nothing else of the "
                           f"container, got {name!r}")
        setattr(self, name, _module("ModuleDict", module))

    def __delitem__(self, name):
        if name not in self._modules:
            raise KeyError(name)
        delattr(self, name)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, name):
        return name in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        """Add or replace modules from a mapping or an iterable of (name, module) pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for name, module in pairs:
            self[name] = module

    def pop(self, name):
        module = self[name]
        del self[name]
        return module

    def clear(self):
        for name in list(self._modules):
            del self[name]


def _module(owner, module):
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: expected a Module, got {type(module).__name__}")
    return module
