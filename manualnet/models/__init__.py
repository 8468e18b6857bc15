"""Whole models, as torchvision keeps its models: the study notes' two, a CNN, an LSTM classifier, a GPT.

``LogisticRegression`` is the notes' hand-written model with its bugs fixed;
``MLP`` is their ``MultiLayerPerceptronClass``; ``CNN`` and
``LSTMClassifier`` are where the notes point next; ``GPT`` is nanoGPT's
character-level transformer, every backward by hand.
"""

from .cnn import CNN
from .gpt import GPT
from .logistic_regression import LogisticRegression
from .lstm_classifier import LSTMClassifier
from .mlp import MLP

__all__ = ["LogisticRegression", "MLP", "CNN", "LSTMClassifier", "GPT"]
