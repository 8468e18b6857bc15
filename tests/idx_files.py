"""Small IDX files (MNIST's format) written by the tests themselves: nothing is downloaded."""

import gzip

import numpy as np

from manualnet.datasets.mnist import MNIST_FILES

IMAGES, LABELS = 2051, 2049


def idx_bytes(magic, array):
    """An IDX file's bytes: magic, one big-endian size per dimension, then the uint8 values."""
    header = magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_file(path, data, gz=False):
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def small_mnist(rng, train=6, test=4, side=3):
    """Random images and labels for both splits, keyed like MNIST_FILES."""
    return {
        "train_images": rng.integers(0, 256, size=(train, side, side), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(test, side, side), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=test, dtype=np.uint8),
    }


def write_mnist(folder, arrays, gz=False):
    for key, array in arrays.items():
        magic = IMAGES if key.endswith("images") else LABELS
        write_file(folder / MNIST_FILES[key], idx_bytes(magic, array), gz=gz)
