"""Datasets and batches: Dataset, TensorDataset, Subset, random_split, DataLoader.

PyTorch's ``torch.utils.data`` in NumPy.  A dataset is anything with
``__len__`` (how many samples) and ``__getitem__(i)`` (sample i, usually an
``(x, y)`` tuple).  A DataLoader walks a dataset in batches of ``batch_size``
samples, in order or reshuffled every epoch, and hands each batch out as a
tuple of stacked arrays: ``for x, y in loader`` gives x of shape
``(batch_size, *sample_shape)``.

The loader sits on the training hot path, so a TensorDataset (arrays already
in memory) is batched with ONE fancy index per array, ``x[indices]``, never a
Python loop over samples; only other datasets are fetched sample by sample
and stacked with ``np.stack``.
"""

import math
import numbers

import numpy as np

from .rng import as_generator


def collate(samples):
    """Stack a list of samples into a batch, as PyTorch's ``default_collate``.

    Samples that are tuples (or lists) give a tuple of stacked arrays, one per
    field: ``[(x0, y0), (x1, y1)]`` -> ``(stack([x0, x1]), stack([y0, y1]))``.
    Samples that are arrays or numbers give one stacked array.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_stack([sample[field] for sample in samples], field) for field in range(len(first)))
    return _stack(samples)


def _stack(values, field=None):
    try:
        return np.stack(values)
    except ValueError:
        where = "" if field is None else f" (field {field} of each sample)"
        shapes = sorted({np.shape(value) for value in values})
        raise ValueError(
            f"DataLoader: cannot stack the samples of a batch{where}: they have different "
            f"shapes {shapes}; every sample must have the same shape"
        ) from None


class Dataset:
    """A map-style dataset: ``len(dataset)`` samples, ``dataset[i]`` is sample i.

    Subclass it and define ``__len__`` and ``__getitem__``, as with
    ``torch.utils.data.Dataset``.  ``get_batch(indices)`` is how a DataLoader
    fetches a batch; the default collects the samples one by one and stacks
    them (``collate``), and datasets that can do better override it.
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def get_batch(self, indices):
        """The samples at ``indices`` (an int array), stacked into one batch."""
        return collate([self[int(index)] for index in indices])


class TensorDataset(Dataset):
    """Samples are rows of arrays that share their first dimension: sample i = (a[i], b[i], ...).

    Shape: each array (N, *) — x (N, 64) and y (N,) give samples (x[i], y[i])
    and batches (x[indices], y[indices]).  The arrays are kept as given (no copy).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array, got none")
        arrays = tuple(np.asanyarray(array) for array in arrays)
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


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: subset[i] = dataset[indices[i]]."""

    def __init__(self, dataset, indices):
        _check_dataset("Subset", dataset)
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices):
        """Translate the indices and let the underlying dataset fetch (fast for a TensorDataset)."""
        return _fetch(self.dataset, self.indices[indices])


def _check_dataset(owner, dataset):
    """Require the map-style protocol: __len__ and __getitem__."""
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        missing = [name for name in ("__len__", "__getitem__") if not hasattr(dataset, name)]
        raise TypeError(
            f"{owner}: expected a dataset with __len__ and __getitem__ (a map-style Dataset), "
            f"got {type(dataset).__name__} without {' and '.join(missing)}; "
            "wrap arrays in TensorDataset(x, y)"
        )
    return len(dataset)


def _fetch(dataset, indices):
    """The batch at ``indices``: the dataset's own ``get_batch`` if it has one, else sample by sample."""
    if isinstance(dataset, Dataset):
        return dataset.get_batch(indices)
    return collate([dataset[int(index)] for index in indices])


def random_split(dataset, lengths, seed=None):
    """Split ``dataset`` into non-overlapping Subsets of the given lengths, at random.

    ``lengths`` are either integers summing to ``len(dataset)`` or fractions
    summing to 1 (as in PyTorch >= 1.13: each part gets floor(fraction · N)
    samples, and the samples left over go one each to the parts in order).
    ``seed`` (int, Generator or None) makes the split reproducible.
    """
    total = _check_dataset("random_split", dataset)
    lengths = _split_lengths(list(lengths), total)
    order = as_generator(seed).permutation(total)
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, order[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]


def _split_lengths(lengths, total):
    def is_number(value):
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

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


class DataLoader:
    """Iterate over a dataset in batches: ``for x, y in DataLoader(TensorDataset(x, y), 64, shuffle=True)``.

    Shape: each batch is a tuple of arrays (batch_size, *sample_shape), the last
    one smaller unless ``drop_last``.  ``len(loader)`` is the number of batches.

    ``shuffle=True`` draws a new order every epoch (every ``iter(loader)``) from
    a Generator made once from ``seed``: the same seed gives the same sequence of
    epochs, and each epoch differs from the one before.  ``seed=None`` takes
    fresh entropy, like PyTorch's default.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None):
        self.dataset = dataset
        self.num_samples = _check_dataset("DataLoader", dataset)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: expected batch_size to be a positive integer, got {batch_size!r}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"DataLoader: expected {name} to be True or False, got {flag!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = as_generator(seed)

    def __len__(self):
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(self.num_samples) if self.shuffle else np.arange(self.num_samples)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield _fetch(self.dataset, order[start:start + self.batch_size])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {self.num_samples} samples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})")
