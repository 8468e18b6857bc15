"""The layers, one file per family as in ``torch/nn/modules/``: each file the math of its layers first."""

from .activation import GELU, LeakyReLU, LogSoftmax, MultiheadAttention, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .normalization import LayerNorm
from .pooling import AvgPool2d, MaxPool2d
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .sparse import Embedding

__all__ = [
    "Module", "Linear", "Flatten", "Sequential",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss",
    "Dropout", "BatchNorm1d", "BatchNorm2d",
    "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d",
    "Embedding", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
    "LayerNorm", "GELU", "MultiheadAttention", "ModuleList", "ModuleDict",
]
