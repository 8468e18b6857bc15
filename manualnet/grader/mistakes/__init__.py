"""The mistakes each exercise's grader names: one table per exercise, one entry per mistake.

Each table is a ``manualnet.testing.chain.MistakeTable``: the layer's backward
written line by line as its derivation page writes it (a ``Chain``), and the
classic wrong backwards a learner writes (``Mistake``), each one or two lines
of that chain replaced, named and explained in the words of the stub's code.
The comparison reproduces every mistake on the case it grades and names the
one the learner's numbers equal (``manualnet.testing.diagnoses``); a failure
no entry explains is left to the relations every layer shares (a missing
path, an ignored upstream gradient, a transpose, a missing 1/N ...), and the
chain then points at the first line that could have caused it.

The floor for each list: CS231n's assignments and makemore's "backprop
ninja" (a forgotten sum over a broadcast axis, a variable used twice whose
gradients must add, a 1/N, the max-subtraction of a stable softmax, the
scatter of an embedding).  A new exercise gets its names by adding a table
here and passing it as its ``Exercise(mistakes=...)``.
"""

from .basics import CROSS_ENTROPY, LINEAR, LOGISTIC_REGRESSION, RELU, SEQUENTIAL, SIGMOID, SOFTMAX
from .normalization import BATCHNORM, DROPOUT
from .optimizers import ADAM, SGD
from .sequences import EMBEDDING, LSTM_CELL
from .windows import AVG_POOL2D, CONV2D, MAX_POOL2D

__all__ = ["LOGISTIC_REGRESSION", "LINEAR", "RELU", "SIGMOID", "SOFTMAX", "CROSS_ENTROPY", "SEQUENTIAL", "SGD",
           "ADAM", "DROPOUT", "BATCHNORM", "CONV2D", "MAX_POOL2D", "AVG_POOL2D", "EMBEDDING", "LSTM_CELL"]
