"""Tensor: a NumPy array that records the operations that made it, so backward can walk back.

With ``requires_grad=True`` every operation on a tensor records a node
(``y.grad_fn``) that knows how to turn dL/dy into dL/d(its inputs);
``loss.backward()`` walks those nodes from the loss back to the leaves and
adds each leaf's gradient into its ``.grad`` — what PyTorch's autograd does,
in a few hundred lines you can read.  ``no_grad()`` turns the recording off.

``ParameterTensor(p)`` is the meeting point with the manual chain: a leaf
whose ``.data`` IS a manualnet Parameter's ``.data`` and whose gradient is
added into the Parameter's ``.grad``, so ``mn.optim`` optimizers train it.

Derivation: derivations/autograd.md
"""

import numbers
import warnings

import numpy as np

from manualnet._checks import as_float_dtype
from manualnet._grad_mode import _mode, is_grad_enabled, no_grad  # noqa: F401  (re-exported by autograd)
from manualnet.nn import Flatten, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from manualnet.nn._version_counter import bump, version
from manualnet.nn.modules.module import keep_input
from manualnet.nn.parameter import Parameter

from . import primitives as P
from manualnet.registry import REGISTRY

from .engine import NON_LEAF_GRAD, AccumulateGrad, run_backward
from .layer_node import LayerNode


def record(node, *inputs):
    """Run ``node.forward`` on the inputs' arrays; return the output, recorded if any input needs a gradient.

    ``inputs`` are Tensors, or constants (arrays, numbers) that get no
    gradient.  The node is linked into the graph — ``next_functions`` points
    at the node that made each input — only when recording is on and some
    input requires grad; otherwise it is dropped and the result is a plain
    tensor.  A node that saves its inputs records each tensor's version,
    which backward checks; a constant array it saves is a private copy
    (``keep_input``), since NumPy's in-place changes to it have no version.
    """
    requires_grad = _mode.enabled and any(isinstance(value, Tensor) and value.requires_grad for value in inputs)
    arrays = [value.data if isinstance(value, Tensor) else
              keep_input(value) if requires_grad and node.saved and isinstance(value, np.ndarray) else value
              for value in inputs]
    output = np.asarray(node.forward(*arrays))
    if not requires_grad:
        return Tensor._wrap(output)
    tensors = [value if isinstance(value, Tensor) else None for value in inputs]
    node.next_functions = tuple((None if t is None else t._edge(), 0) for t in tensors)
    node.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
    node.input_shapes = tuple(np.shape(array) for array in arrays)
    node.input_dtypes = tuple(np.asarray(array).dtype for array in arrays)
    node.output_shape = output.shape
    if node.saved:
        node._input_versions = tuple((t, t._version) for t in tensors if t is not None)
    return Tensor._wrap(output, requires_grad=True, grad_fn=node)


class Tensor:
    """An array that can record how it was made: PyTorch's ``torch.Tensor``, in NumPy.

    ``Tensor(data, requires_grad=False, dtype=None)`` copies ``data`` (as
    ``torch.tensor`` does).  A NumPy array keeps its dtype; Python floats
    become float32, PyTorch's default.  ``.data`` is the NumPy array itself.

    ``.grad`` is None until a backward reaches the tensor (a leaf, or a
    tensor that called ``retain_grad()``), then a Tensor of the same shape
    that later backward passes ADD into.  ``.grad_fn`` is the node that made
    the tensor (None for a leaf), ``.is_leaf`` says it has none.
    """

    # ndarray + Tensor must call Tensor.__radd__ (and record), not NumPy's own loop.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Parameter):
            raise TypeError("Tensor: got a Parameter; ParameterTensor(p) shares its arrays, Tensor(p.data) copies them")
        source = data.data if isinstance(data, Tensor) else data
        array = np.array(source, dtype=dtype, copy=True)
        if dtype is None and not isinstance(source, (np.ndarray, np.generic)) and array.dtype == np.float64:
            array = array.astype(np.float32)          # Python floats: PyTorch's default dtype
        self._init(array, requires_grad, grad_fn=None)

    @classmethod
    def _wrap(cls, array, requires_grad=False, grad_fn=None):
        """A Tensor around ``array`` itself (no copy): the result of an operation."""
        tensor = cls.__new__(cls)
        tensor._init(array, requires_grad, grad_fn)
        return tensor

    def _init(self, array, requires_grad, grad_fn):
        self.data = array
        self.grad_fn = grad_fn
        self._requires_grad = False
        self._grad = None
        self._retains_grad = False
        self._accumulator = None      # this leaf's AccumulateGrad node, made on first use
        self.requires_grad = requires_grad

    # -- what a tensor is ---------------------------------------------------------

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def _version(self):
        """In-place changes to this tensor's memory, through it or any tensor sharing it (nn/_version_counter.py)."""
        return version(self.data)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if self.grad_fn is not None and not value:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            )
        if value and self.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require gradients, got dtype {self.dtype}")
        if value:
            as_float_dtype(self.dtype, "Tensor")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only); return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        """True for a tensor no recorded operation made: data, weights, anything detached."""
        return self.grad_fn is None

    @property
    def grad(self):
        if self.grad_fn is not None and not self._retains_grad:
            warnings.warn(NON_LEAF_GRAD, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None and (not isinstance(value, Tensor) or value.shape != self.shape):
            raise TypeError(
                f"Tensor.grad: expected None or a Tensor of shape {self.shape}, got "
                f"{getattr(value, 'shape', type(value).__name__)}"
            )
        self._grad = value

    @property
    def retains_grad(self):
        return self._retains_grad

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves keep theirs anyway)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retains_grad = True
            self.grad_fn.retained = self

    def accumulate_grad(self, grad):
        """Add a gradient into ``.grad`` in place (create it at the first one), eq. (33)."""
        if self._grad is None:
            self._grad = Tensor._wrap(np.array(grad, dtype=self.dtype, copy=True))
        else:
            self._grad.data += grad

    def _edge(self):
        """Where a gradient for this tensor goes: its grad_fn, its AccumulateGrad, or nowhere (None)."""
        if self.grad_fn is not None:
            return self.grad_fn
        if not self.requires_grad:
            return None
        if self._accumulator is None:
            self._accumulator = AccumulateGrad(self)
        return self._accumulator

    # -- backward -------------------------------------------------------------------

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Add dL/d(leaf) into the ``.grad`` of every leaf this tensor was made from.

        ``gradient`` is dL/d(this tensor); a scalar (the loss) needs none,
        any other shape must pass it.  The graph's saved values are freed
        afterwards unless ``retain_graph=True``: a second backward through a
        node that saved something raises PyTorch's error.
        """
        if create_graph:
            raise NotImplementedError("Tensor.backward: create_graph=True (gradients of gradients) is not supported")
        if inputs is not None:
            raise NotImplementedError("Tensor.backward: inputs= is not supported; every leaf receives its gradient")
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        run_backward(self._edge(), self._initial_gradient(gradient), retain_graph=bool(retain_graph))

    def _initial_gradient(self, gradient):
        """dL/d(this tensor): 1 for a scalar, else the caller's, checked against our shape."""
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            return np.ones(self.shape, dtype=self.dtype)
        array = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
        if array.shape != self.shape:
            raise RuntimeError(
                f"Mismatch in shape: gradient has a shape of {array.shape} and the tensor has a shape of {self.shape}"
            )
        if array.dtype.kind != "f":
            raise TypeError(f"Tensor.backward: expected a floating-point gradient, got dtype {array.dtype}")
        return array.astype(self.dtype, copy=False)

    # -- leaving the graph ----------------------------------------------------------

    def detach(self):
        """The same array as a new leaf that records nothing (no copy)."""
        return Tensor._wrap(self.data)

    def numpy(self):
        """The NumPy array itself (no copy), as ``torch.Tensor.numpy``; refused while it requires grad."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.data

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array.astype(dtype or array.dtype, copy=bool(copy))

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted to Scalar")
        return self.data.item()

    def __float__(self):
        return float(self.item())

    def __bool__(self):
        """The truth of a one-element tensor's value (``if loss < 1e-3:``); more or fewer values are ambiguous."""
        if self.data.size != 1:
            many = "no values" if self.data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous")
        return bool(self.data.item())

    # -- in place: only where nothing is being recorded -----------------------------

    def _in_place(self, ufunc, other):
        if _mode.enabled and self.requires_grad:
            if self.is_leaf:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            raise RuntimeError(
                f"{self.describe()}: manualnet.autograd records no in-place operations on a tensor in a graph; "
                "write y = y + ... instead of y += ..."
            )
        ufunc(self.data, other.data if isinstance(other, Tensor) else other, out=self.data)
        bump(self.data)               # every tensor over this memory (views, detach(), a Parameter's) sees it
        return self

    def __iadd__(self, other):
        return self._in_place(np.add, other)

    def __isub__(self, other):
        return self._in_place(np.subtract, other)

    def __imul__(self, other):
        return self._in_place(np.multiply, other)

    def __itruediv__(self, other):
        return self._in_place(np.divide, other)

    def zero_(self):
        """Fill with zeros in place (``x.grad.zero_()``); return self."""
        return self._in_place(np.multiply, 0)

    # -- comparisons: element-wise, as PyTorch's; the bool result records nothing ----------

    def _compare(self, ufunc, other):
        if not isinstance(other, (Tensor, np.ndarray, np.generic, numbers.Number)):
            return NotImplemented
        try:
            return Tensor._wrap(np.asarray(ufunc(self.data, _array(other))))
        except ValueError:
            raise ValueError(f"{ufunc.__name__}: cannot broadcast shapes {self.shape} and {np.shape(_array(other))} "
                             "together") from None

    def __eq__(self, other):
        return self._compare(np.equal, other)

    def __ne__(self, other):
        return self._compare(np.not_equal, other)

    def __lt__(self, other):
        return self._compare(np.less, other)

    def __le__(self, other):
        return self._compare(np.less_equal, other)

    def __gt__(self, other):
        return self._compare(np.greater, other)

    def __ge__(self, other):
        return self._compare(np.greater_equal, other)

    __hash__ = object.__hash__        # == is element-wise, so a tensor hashes by identity, as PyTorch's

    # -- arithmetic: primitives.py, with broadcasting -------------------------------

    def _binary(self, node, left, right):
        if not isinstance(right if left is self else left, (Tensor, np.ndarray, np.generic, numbers.Number)):
            return NotImplemented
        try:
            np.broadcast_shapes(np.shape(_array(left)), np.shape(_array(right)))
        except ValueError:
            raise ValueError(
                f"{node.name().removesuffix('Backward0').lower()}: cannot broadcast shapes {np.shape(_array(left))} and "
                f"{np.shape(_array(right))} together"
            ) from None
        return record(node, left, right)

    def __add__(self, other):
        return self._binary(P.AddBackward0(), self, other)

    def __radd__(self, other):
        return self._binary(P.AddBackward0(), other, self)

    def __sub__(self, other):
        return self._binary(P.SubBackward0(), self, other)

    def __rsub__(self, other):
        return self._binary(P.SubBackward0(), other, self)

    def __mul__(self, other):
        return self._binary(P.MulBackward0(), self, other)

    def __rmul__(self, other):
        return self._binary(P.MulBackward0(), other, self)

    def __truediv__(self, other):
        return self._binary(P.DivBackward0(), self, other)

    def __rtruediv__(self, other):
        return self._binary(P.DivBackward0(), other, self)

    def __neg__(self):
        return record(P.NegBackward0(), self)

    def __pow__(self, exponent):
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
            raise TypeError(
                f"{self.describe()} ** {type(exponent).__name__}: manualnet.autograd raises tensors to a number "
                "only; for a tensor exponent write (b * a.log()).exp()"
            )
        return record(P.PowBackward0(exponent), self)

    def __matmul__(self, other):
        return self._matmul(self, other)

    def __rmatmul__(self, other):
        return self._matmul(other, self)

    def _matmul(self, left, right):
        if not isinstance(right if left is self else left, (Tensor, np.ndarray)):
            return NotImplemented
        a_shape, b_shape = np.shape(_array(left)), np.shape(_array(right))
        if not (len(a_shape) in (1, 2) and len(b_shape) in (1, 2)):
            raise ValueError(
                f"matmul: manualnet.autograd multiplies 1-D and 2-D tensors, got shapes {a_shape} and {b_shape}; "
                "reshape batched operands to 2-D"
            )
        if a_shape[-1] != b_shape[0]:
            raise ValueError(f"matmul: shapes {a_shape} and {b_shape} do not fit: {a_shape[-1]} != {b_shape[0]}")
        return record(P.MatmulBackward(), left, right)

    # -- reductions and shapes ---------------------------------------------------------

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Σ over ``dim`` (all entries by default).  ``axis``/``keepdims`` are NumPy's names for the same."""
        dim, keepdim = P.reduction_dims("sum", self.shape, dim, keepdim, axis, keepdims)
        return record(P.SumBackward(dim, keepdim), self)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """The mean over ``dim`` (all entries by default).  ``axis``/``keepdims`` are NumPy's names for the same."""
        dim, keepdim = P.reduction_dims("mean", self.shape, dim, keepdim, axis, keepdims)
        if self.dtype.kind != "f":
            raise TypeError(f"mean: expected a floating-point tensor, got dtype {self.dtype}")
        return record(P.MeanBackward(dim, keepdim), self)

    def reshape(self, *shape):
        """The same entries in a new shape (one size may be -1)."""
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
        try:
            return record(P.ViewBackward0(shape), self)
        except (ValueError, TypeError):
            raise ValueError(f"reshape: shape {shape} is invalid for a tensor of shape {self.shape}") from None

    view = reshape

    @property
    def T(self):
        """All axes reversed (the transpose of a matrix)."""
        return record(P.PermuteBackward0(tuple(reversed(range(self.ndim)))), self)

    def permute(self, *dims):
        """The axes in the order ``dims`` (a permutation of 0 .. ndim − 1)."""
        dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], (int, np.integer)) else dims
        if sorted(d % self.ndim if -self.ndim <= d < self.ndim else d for d in dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {self.ndim} axes of {self.describe()}")
        return record(P.PermuteBackward0(tuple(d % self.ndim for d in dims)), self)

    def transpose(self, dim0, dim1):
        """Swap two axes."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return record(P.PermuteBackward0(axes, name="TransposeBackward0"), self)

    def __getitem__(self, index):
        index = tuple(_array(part) for part in index) if isinstance(index, tuple) else _array(index)  # NumPy's index
        try:
            return record(P.IndexBackward(index), self)
        except IndexError as error:
            raise IndexError(f"{self.describe()}[...]: {error}") from None

    # -- element-wise functions -------------------------------------------------------------

    def exp(self):
        return record(P.ExpBackward0(), self)

    def log(self):
        return record(P.LogBackward0(), self)

    # Each through its layer's own forward and backward (layer_node.py); autograd.functional calls these.

    def relu(self):
        return record(LayerNode(REGISTRY[ReLU].node, ReLU()), self)

    def sigmoid(self):
        return record(LayerNode(REGISTRY[Sigmoid].node, Sigmoid()), self)

    def tanh(self):
        return record(LayerNode(REGISTRY[Tanh].node, Tanh()), self)

    def softmax(self, dim):
        return record(LayerNode(REGISTRY[Softmax].node, Softmax(dim)), self)

    def log_softmax(self, dim):
        return record(LayerNode(REGISTRY[LogSoftmax].node, LogSoftmax(dim)), self)

    def flatten(self, start_dim=0, end_dim=-1):
        return record(LayerNode(REGISTRY[Flatten].node, Flatten(start_dim, end_dim)), self)

    # -- printing ---------------------------------------------------------------------------

    def describe(self):
        """A one-line name for messages: 'Tensor(shape=(4, 3), dtype=float64, grad_fn=MulBackward0)'."""
        extra = f", grad_fn={self.grad_fn.name()}" if self.grad_fn else (", requires_grad=True" if self.requires_grad else "")
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}{extra})"

    def __repr__(self):
        """PyTorch's layout, NumPy's numbers: tensor([1., 2.], dtype=float64, grad_fn=<MulBackward0>)."""
        text = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):      # PyTorch's defaults are not printed
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({', '.join([text, *extras])})"


def _array(value):
    return value.data if isinstance(value, Tensor) else value

