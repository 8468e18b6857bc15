"""Datasets: Dataset, TensorDataset, Subset and random_split, as ``torch/utils/data/dataset.py``.

A dataset is anything with ``__len__`` (how many samples) and
``__getitem__(i)`` (sample i, usually an ``(x, y)`` tuple).  Randomness comes
from ``rng=`` (a numpy Generator or an int seed), as everywhere in manualnet;
``seed=`` is the same argument under the name earlier versions used.
"""

import math
import numbers
from collections.abc import Iterable

import numpy as np

from manualnet._rng import as_generator

from .collate import collate


class Dataset:
    """A map-style dataset: ``len(dataset)`` samples, ``dataset[i]`` is sample i.

    Subclass it and define ``__len__`` and ``__getitem__``, as with
    ``torch.utils.data.Dataset``.  ``get_batch(indices)`` is how a DataLoader
    fetches a batch; the default collects the samples one by one and collates
    them (``collate``), and datasets that can do better override it.
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def get_batch(self, indices):
        """The samples at ``indices`` (an int array), collated into one batch."""
        return collate([self[int(index)] for index in indices])


class TensorDataset(Dataset):
    """Samples are rows of arrays that share their first dimension: sample i = (a[i], b[i], ...).

    Shape: each array (N, *) — x (N, 64) and y (N,) give samples (x[i], y[i])
    and batches (x[indices], y[indices]).  The arrays are kept as given (no copy).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array, got none")
        arrays = tuple(_as_array(position, array) for position, array in enumerate(arrays))
        shapes = [array.shape for array in arrays]
        if any(len(shape) == 0 for shape in shapes):
            raise ValueError(f"TensorDataset: every array needs a first (sample) dimension, got shapes {shapes}")
        if len({shape[0] for shape in shapes}) > 1:
            raise ValueError(
                f"TensorDataset: every array must have the same first dimension (the number of "
                f"samples), got shapes {shapes}"
            )
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(array[index] for array in self.arrays)

    def get_batch(self, indices):
        """One fancy index per array: no Python loop over the samples."""
        return tuple(array[indices] for array in self.arrays)

    def __repr__(self):
        return f"TensorDataset({', '.join(str(array.shape) for array in self.arrays)})"


def _as_array(position, array):
    """One of TensorDataset's arrays: rectangular, and not an array of Python objects."""
    try:
        array = np.asanyarray(array)
    except ValueError:
        raise ValueError(f"TensorDataset: array {position} is ragged (its rows have different lengths); "
                         "every array must be rectangular, e.g. pad the rows to one length") from None
    if array.dtype == object:
        raise TypeError(f"TensorDataset: array {position} has dtype object (rows of different lengths or "
                        "mixed types); give arrays of numbers")
    return array


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: subset[i] = dataset[indices[i]].

    ``indices`` are integers in [-len(dataset), len(dataset)), negative ones
    counting from the end as in Python; a boolean mask, floats or strings are
    refused (``np.flatnonzero(mask)`` turns a mask into indices).
    """

    def __init__(self, dataset, indices):
        size = check_dataset("Subset", dataset)
        self.dataset = dataset
        self.indices = _check_indices(indices, size)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices):
        """Translate the indices and let the underlying dataset fetch (fast for a TensorDataset)."""
        return fetch(self.dataset, self.indices[indices])


def _check_indices(indices, size):
    """``indices`` as a new int64 array in [0, size); integers only, where NumPy would convert anything."""
    if isinstance(indices, (str, bytes)):
        raise TypeError(f"Subset: expected indices to be integers, got the string {indices!r}")
    try:
        array = np.asarray(indices)
    except ValueError:
        raise ValueError("Subset: expected indices to be a flat sequence of integers, got nested sequences "
                         "of different lengths") from None
    if array.ndim != 1:
        raise ValueError(f"Subset: expected indices to be a flat sequence of integers, got {array.ndim}-D "
                         f"{type(indices).__name__} of shape {array.shape}")
    if array.size == 0:
        return np.empty(0, np.int64)
    if array.dtype == bool:
        raise TypeError("Subset: expected indices to be integers, got a boolean mask; "
                        "turn it into the indices it selects with np.flatnonzero(mask)")
    if array.dtype == object and all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in array):
        outside = [i for i in array if not -size <= i < size]          # e.g. 2**70: too big for NumPy's integers
        if outside:
            raise IndexError(f"Subset: index {outside[0]} is out of range for a dataset of {size} samples")
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"Subset: expected indices to be integers, got {array.dtype} values such as "
                        f"{array[:1].tolist()[0]!r}")
    low, high = array.min(), array.max()
    if low < -size or high >= size:
        bad = low if low < -size else high
        raise IndexError(f"Subset: index {bad} is out of range for a dataset of {size} samples")
    return np.where(array < 0, array + size, array).astype(np.int64)


def check_dataset(owner, dataset):
    """Require the map-style protocol: __len__ and __getitem__."""
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        missing = [name for name in ("__len__", "__getitem__") if not hasattr(dataset, name)]
        raise TypeError(
            f"{owner}: expected a dataset with __len__ and __getitem__ (a map-style Dataset), "
            f"got {type(dataset).__name__} without {' and '.join(missing)}; "
            "wrap arrays in TensorDataset(x, y)"
        )
    return len(dataset)


def fetch(dataset, indices):
    """The batch at ``indices``: the dataset's own ``get_batch`` if it has one, else sample by sample."""
    if isinstance(dataset, Dataset):
        return dataset.get_batch(indices)
    return collate([dataset[int(index)] for index in indices])


def generator_from(owner, rng, seed):
    """The Generator from ``rng`` or from its older name ``seed`` (a Generator, an int seed, or None)."""
    if seed is None:
        return as_generator(rng, argument=f"{owner}: rng")
    if rng is not None:
        raise TypeError(f"{owner}: got both rng= and seed=; seed is the older name of rng, pass only rng")
    return as_generator(seed, argument=f"{owner}: seed")


def random_split(dataset, lengths, generator=None, *, rng=None, seed=None):
    """Split ``dataset`` into non-overlapping Subsets of the given lengths, at random.

    ``lengths`` are either integers summing to ``len(dataset)`` or fractions
    summing to 1 (as in PyTorch >= 1.13: each part gets floor(fraction · N)
    samples, and the samples left over go one each to the parts in order).
    ``rng`` (a numpy Generator, an int seed, or None for fresh entropy) makes
    the split reproducible; ``seed`` is its older name.  PyTorch's
    ``generator`` (a torch.Generator) is refused: pass ``rng``.
    """
    total = check_dataset("random_split", dataset)
    if generator is not None:
        raise TypeError("random_split: generator= takes a torch.Generator; manualnet draws from rng= "
                        "(a numpy Generator or an int seed)")
    lengths = _split_lengths(lengths, total)
    order = generator_from("random_split", rng, seed).permutation(total)
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, order[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]


def _split_lengths(lengths, total):
    def is_number(value):
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Iterable):
        raise TypeError(f"random_split: expected lengths to be a list of integers or of fractions, "
                        f"got {type(lengths).__name__} {lengths!r}")
    lengths = list(lengths)
    if not lengths or not all(is_number(length) and length >= 0 for length in lengths):
        raise ValueError(f"random_split: expected lengths to be non-negative numbers, got {lengths!r}")
    if all(isinstance(length, numbers.Integral) for length in lengths):
        if sum(lengths) != total:
            raise ValueError(
                f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the dataset has "
                f"{total} samples; give integers summing to {total} or fractions summing to 1"
            )
        return [int(length) for length in lengths]
    if not math.isclose(sum(lengths), 1.0) or sum(lengths) > 1:
        raise ValueError(
            f"random_split: the lengths {lengths} are neither integers summing to {total} "
            f"(the dataset's size) nor fractions summing to 1 (they sum to {sum(lengths)})"
        )
    sizes = [math.floor(total * fraction) for fraction in lengths]
    for part in range(total - sum(sizes)):           # PyTorch's round-robin for the remainder
        sizes[part % len(sizes)] += 1
    return sizes
