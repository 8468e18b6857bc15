"""Embedding: a learned table of vectors, one row per token, read by integer index.

Its own module rather than part of recurrent.py: a lookup has no time axis
and no recurrence, and its users go beyond recurrent networks (bags of
words, transformers).  PyTorch keeps it apart too (``torch/nn/modules/sparse.py``).
Each line of backward carries the number of its equation in derivations/embedding.md.
"""

import numbers

import numpy as np

from manualnet.nn import init
from manualnet._checks import check_grad_output, check_plain_ndarray, check_positive_int, name_of
from manualnet.nn._version_counter import bump
from manualnet.nn.modules.module import Module, keep_input
from manualnet.nn.parameter import Parameter, as_float_dtype
from manualnet._rng import as_generator


class Embedding(Module):
    """y[…, :] = W[idx[…], :]: each index picks a row of the table.  Derivation: derivations/embedding.md

    Shape: input (*) integer indices in [0, num_embeddings) -> y (*, embedding_dim);
    weight (num_embeddings, embedding_dim), initialised N(0, 1) as PyTorch, with
    the padding row zeroed.

    The lookup is the product onehot(idx) W (eq. 2), so backward is
    onehot(idx)ᵀ G: every occurrence of a token ADDS its row of G into that
    token's row of ``weight.grad`` — a scatter-add (``np.add.at``, eq. 3).
    Indices are integers and have no gradient: backward returns None.

    PyTorch's options: ``padding_idx`` (that row starts at zero and never
    receives a gradient; negative values count from the end),
    ``max_norm``/``norm_type`` (rows looked up whose norm exceeds max_norm
    are rescaled in place to norm max_norm/(norm + 1e-7) before the lookup;
    the rescaling itself is not differentiated, as in PyTorch),
    ``scale_grad_by_freq`` (each token's gradient divided by its count in the
    batch), ``_weight`` (the initial table).  ``sparse=True`` and
    ``_freeze=True`` are refused by name: manualnet keeps dense ``.grad``
    arrays and has no ``requires_grad``.
    """

    saved_for_backward = ("indices",)

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None, *,
                 rng=None):
        super().__init__()
        owner = "Embedding"
        self.num_embeddings = check_positive_int(owner, "num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int(owner, "embedding_dim", embedding_dim)
        self.padding_idx = _check_padding_idx(padding_idx, self.num_embeddings)
        if max_norm is not None and (isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real)
                                     or not max_norm >= 0):
            raise ValueError(f"{owner}: expected max_norm to be a number >= 0 or None, got {max_norm!r}")
        self.max_norm = None if max_norm is None else float(max_norm)
        if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
            raise TypeError(f"{owner}: expected norm_type, the p of the p-norm that max_norm bounds, to be a number "
                            f"(2.0 by default, float('inf') for the largest entry), got {norm_type!r}")
        self.norm_type = float(norm_type)
        if not isinstance(scale_grad_by_freq, bool):
            raise TypeError(f"{owner}: expected scale_grad_by_freq to be True or False, got {scale_grad_by_freq!r}")
        self.scale_grad_by_freq = scale_grad_by_freq
        if sparse:
            raise ValueError(f"{owner}: sparse=True (a torch.sparse gradient) is not supported; manualnet keeps a "
                             "dense weight.grad, which holds the same numbers")
        if _freeze:
            raise ValueError(f"{owner}: _freeze=True (requires_grad=False) is not supported; to keep the table "
                             "fixed, leave embedding.weight out of the optimizer's parameters")
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(f"{owner}: device={device!r} is not supported; manualnet computes on the CPU")
        self.sparse = False
        if _weight is None:
            dtype = as_float_dtype(np.float32 if dtype is None else dtype, owner)
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype))
            self.reset_parameters(rng)
        else:
            self.weight = Parameter(_check_weight(_weight, self.num_embeddings, self.embedding_dim, dtype))

    def reset_parameters(self, rng=None):
        """PyTorch's default init: W ~ N(0, 1), the padding row (if any) zero."""
        init.normal_(self.weight, rng=as_generator(rng))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):
        self._check_input(input)
        if self.max_norm is not None:
            self._renormalise_rows(input)
        self.indices = keep_input(input)                   # kept for backward
        return self.weight.data[input]                     # eq. (1)

    def backward(self, grad_output, need_input_grad=True):
        """Take G = dL/dy; scatter-add its rows into weight.grad (eq. 3); return None (indices have no gradient)."""
        indices = self.indices
        check_grad_output(self, grad_output, indices.shape + (self.embedding_dim,), self.weight.dtype)
        rows, G = indices.reshape(-1), grad_output.reshape(-1, self.embedding_dim)
        if self.scale_grad_by_freq:
            counts = np.bincount(rows, minlength=self.num_embeddings)
            G = G / counts[rows, None].astype(G.dtype)     # eq. (5)
        if self.padding_idx is not None:
            used = rows != self.padding_idx                # eq. (4): the padding row learns nothing
            rows, G = rows[used], G[used]
        np.add.at(self.weight.grad, rows, G)               # eq. (3): a repeated token gets the SUM of its rows
        return None

    def _renormalise_rows(self, input):
        """Rescale, in place, each looked-up row whose norm exceeds max_norm (PyTorch's embedding_renorm_)."""
        rows = np.unique(input)
        norms = np.linalg.norm(self.weight.data[rows], ord=self.norm_type, axis=1)
        too_long = norms > self.max_norm
        scale = self.max_norm / (norms[too_long] + 1e-7)
        if too_long.any():
            self.weight.data[rows[too_long]] *= scale[:, None].astype(self.weight.dtype)
            bump(self.weight.data)                         # a pending backward that read the table raises

    def _check_input(self, input):
        if type(input) is not np.ndarray and isinstance(input, np.ndarray):
            check_plain_ndarray(self, input)
        if not isinstance(input, np.ndarray) or input.dtype.kind not in "iu":
            got = f"dtype {input.dtype}" if isinstance(input, np.ndarray) else type(input).__name__
            raise TypeError(f"{name_of(self)}: expected input to be a numpy.ndarray of integer token indices "
                            f"(int64), got {got}")
        if input.size and (input.min() < 0 or input.max() >= self.num_embeddings):
            bad = input[(input < 0) | (input >= self.num_embeddings)]
            raise ValueError(f"{name_of(self)}: expected token indices in [0, {self.num_embeddings}), got "
                             f"{len(bad)} outside it, e.g. {bad.flat[0]} (negative indices are errors here, as in "
                             "PyTorch: they do not count from the end)")

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        return text


def _check_padding_idx(padding_idx, num_embeddings):
    """padding_idx in [−num_embeddings, num_embeddings), negative counted from the end; None stays None."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
            or not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"Embedding: expected padding_idx in [{-num_embeddings}, {num_embeddings}) (within "
                         f"num_embeddings) or None, got {padding_idx!r}")
    return int(padding_idx) % num_embeddings


def _check_weight(weight, num_embeddings, embedding_dim, dtype):
    weight = np.asarray(weight)
    if weight.shape != (num_embeddings, embedding_dim):
        raise ValueError(f"Embedding: expected _weight of shape ({num_embeddings}, {embedding_dim}) "
                         f"(num_embeddings, embedding_dim), got {weight.shape}")
    return weight.astype(as_float_dtype(weight.dtype if dtype is None else dtype, "Embedding"))
