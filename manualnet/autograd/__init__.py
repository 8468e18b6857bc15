"""manualnet.autograd: what ``loss.backward()`` does, built from the layers' own backward passes.

    from manualnet.autograd import Tensor, linear, relu, cross_entropy, graph

    W = Tensor(np.random.randn(3, 4), requires_grad=True)
    loss = cross_entropy(relu(linear(x, W)), y)
    loss.backward()             # fills W.grad
    print(graph(loss))          # the recorded nodes, with PyTorch's grad_fn names

A ``Tensor`` records every operation on it; ``backward()`` walks the record
in topological order and adds each gradient into the leaves' ``.grad``.
The operations PyTorch users know from ``torch.nn.functional`` (``linear``,
``relu``, ``log_softmax``, ``cross_entropy``, ...) run the manualnet layer's
own forward and backward — the math lives once, on the layer — and the
primitive ones (``+ - * / @ **``, sum, mean, reshape, indexing, exp, log)
carry their derivatives in ``primitives.py``.  ``ParameterTensor`` shares a
Parameter's arrays, so ``mn.optim`` trains what the graph differentiates.

Derivation: derivations/autograd.md
"""

from .engine import AccumulateGrad, Node
from .functional import (
    batch_norm, binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, dropout, flatten,
    leaky_relu, linear, log_softmax, mse_loss, nll_loss, relu, sigmoid, softmax, tanh,
)
from .functional import avg_pool2d, conv1d, conv2d, max_pool2d          # convolution and pooling
from .functional import embedding                                      # lookups
from .graph import Comparison, Graph, cmp, graph, mlp_loss_graph
from .parameter_tensor import ParameterTensor
from .tensor import Tensor, is_grad_enabled, no_grad

__all__ = [
    "Tensor", "ParameterTensor", "no_grad", "is_grad_enabled", "Node", "AccumulateGrad",
    "linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "dropout",
    "batch_norm", "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d", "conv1d", "max_pool2d", "avg_pool2d", "embedding",
    "graph", "Graph", "mlp_loss_graph", "cmp", "Comparison",
]
