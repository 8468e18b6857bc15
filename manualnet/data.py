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
and collated (``collate``).

Randomness comes from ``rng=`` (a numpy Generator or an int seed), as
everywhere in manualnet.  ``seed=`` is the same argument under the name
earlier versions used; it stays valid through this version.
"""

import math
import numbers
from collections.abc import Iterable, Mapping

import numpy as np

from .rng import as_generator


def collate(samples):
    """Turn a list of samples into one batch, as PyTorch's ``default_collate``.

    Field by field, recursively: arrays and numbers are stacked along a new
    first axis (``np.stack``); a tuple or list of fields gives a tuple or list
    of batches, ``[(x0, y0), (x1, y1)]`` -> ``(stack([x0, x1]), stack([y0, y1]))``;
    a dict gives a dict of batches, one per key; strings give a list.
    """
    return _collate(samples, ())


def _collate(samples, where):
    first = samples[0]
    if isinstance(first, Mapping):
        if not all(isinstance(sample, Mapping) and sample.keys() == first.keys() for sample in samples):
            raise ValueError(f"DataLoader: the samples of a batch{_field(where)} are dicts with different keys "
                             f"(the first has {list(first)}); every sample must have the same keys")
        return {key: _collate([sample[key] for sample in samples], where + (f"key {key!r}",)) for key in first}
    if isinstance(first, (tuple, list)):
        if not all(isinstance(sample, (tuple, list)) and len(sample) == len(first) for sample in samples):
            raise ValueError(f"DataLoader: the samples of a batch{_field(where)} have different numbers of fields "
                             f"(the first has {len(first)}); every sample must have the same fields")
        fields = [_collate([sample[field] for sample in samples], where + (f"field {field}",))
                  for field in range(len(first))]
        if hasattr(first, "_fields"):                    # a namedtuple keeps its type, as in PyTorch
            return type(first)(*fields)
        return fields if isinstance(first, list) else tuple(fields)
    if isinstance(first, str):
        return list(samples)
    return _stack(samples, where)


def _stack(values, where):
    try:
        batch = np.stack(values)
    except ValueError:
        shapes = sorted({np.shape(value) for value in values})
        raise ValueError(
            f"DataLoader: cannot stack the samples of a batch{_field(where)}: they have different "
            f"shapes {shapes}; every sample must have the same shape"
        ) from None
    if batch.dtype == object:
        raise TypeError(
            f"DataLoader: cannot collate {type(values[0]).__name__} values{_field(where)}; a sample must hold "
            "arrays, numbers, strings, or tuples, lists and dicts of them"
        )
    return batch


def _field(where):
    return f" ({' / '.join(where)} of each sample)" if where else ""


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
        size = _check_dataset("Subset", dataset)
        self.dataset = dataset
        self.indices = _check_indices(indices, size)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices):
        """Translate the indices and let the underlying dataset fetch (fast for a TensorDataset)."""
        return _fetch(self.dataset, self.indices[indices])


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
    if array.dtype.kind not in "iu":
        raise TypeError(f"Subset: expected indices to be integers, got {array.dtype} values such as {array[0].item()!r}")
    low, high = array.min(), array.max()
    if low < -size or high >= size:
        bad = low if low < -size else high
        raise IndexError(f"Subset: index {bad} is out of range for a dataset of {size} samples")
    return np.where(array < 0, array + size, array).astype(np.int64)


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


def _generator(owner, rng, seed):
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
    total = _check_dataset("random_split", dataset)
    if generator is not None:
        raise TypeError("random_split: generator= takes a torch.Generator; manualnet draws from rng= "
                        "(a numpy Generator or an int seed)")
    lengths = _split_lengths(lengths, total)
    order = _generator("random_split", rng, seed).permutation(total)
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


class DataLoader:
    """Iterate over a dataset in batches: ``for x, y in DataLoader(TensorDataset(x, y), 64, shuffle=True)``.

    Shape: each batch is a tuple of arrays (batch_size, *sample_shape), the last
    one smaller unless ``drop_last``.  ``len(loader)`` is the number of batches.

    ``shuffle=True`` draws a new order every epoch (every ``iter(loader)``) from
    ``rng`` (a numpy Generator, or an int seed it is made from once): the same
    seed gives the same sequence of epochs, and each epoch differs from the one
    before.  ``rng=None`` takes fresh entropy, like PyTorch's default; ``seed``
    is the older name of ``rng``.  The dataset's length is read each epoch, as
    in PyTorch.  ``collate_fn`` (a function of a list of samples) replaces
    ``collate``.  PyTorch's other arguments are accepted at their defaults and
    refused, by name, otherwise: batches are made in this process, on the CPU,
    in the order shuffle and rng give.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, rng=None, seed=None):
        _check_dataset("DataLoader", dataset)
        _refuse_unsupported({
            "sampler": sampler, "batch_sampler": batch_sampler, "num_workers": num_workers,
            "pin_memory": pin_memory, "timeout": timeout, "worker_init_fn": worker_init_fn,
            "multiprocessing_context": multiprocessing_context, "generator": generator,
            "prefetch_factor": prefetch_factor, "persistent_workers": persistent_workers,
            "pin_memory_device": pin_memory_device, "in_order": in_order,
        })
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: expected batch_size to be a positive integer, got {batch_size!r}")
        shuffle = False if shuffle is None else shuffle
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"DataLoader: expected {name} to be True or False, got {flag!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: expected collate_fn to be a function of a list of samples, "
                            f"got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.rng = _generator("DataLoader", rng, seed)

    def __len__(self):
        return self._batch_count(len(self.dataset))

    def _batch_count(self, samples):
        if self.drop_last:
            return samples // self.batch_size
        return math.ceil(samples / self.batch_size)

    def __iter__(self):
        samples = len(self.dataset)                      # read each epoch: the dataset may have grown
        order = self.rng.permutation(samples) if self.shuffle else np.arange(samples)
        for start in range(0, self._batch_count(samples) * self.batch_size, self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.collate_fn is None:
                yield _fetch(self.dataset, indices)
            else:
                yield self.collate_fn([self.dataset[int(index)] for index in indices])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)} samples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})")


# PyTorch DataLoader arguments manualnet accepts only at their defaults: (default, why, what to do instead).
_IN_THIS_PROCESS = "manualnet makes every batch in this process"
_UNSUPPORTED = {
    "sampler": (None, "the order comes from shuffle and rng", "pick samples with Subset(dataset, indices)"),
    "batch_sampler": (None, "the order comes from shuffle and rng", "pick samples with Subset(dataset, indices)"),
    "num_workers": (0, _IN_THIS_PROCESS, "leave num_workers at 0"),
    "timeout": (0, _IN_THIS_PROCESS, "leave timeout at 0"),
    "worker_init_fn": (None, _IN_THIS_PROCESS, "leave it out"),
    "multiprocessing_context": (None, _IN_THIS_PROCESS, "leave it out"),
    "prefetch_factor": (None, _IN_THIS_PROCESS, "leave it out"),
    "persistent_workers": (False, _IN_THIS_PROCESS, "leave it out"),
    "in_order": (True, _IN_THIS_PROCESS, "batches always come in order"),
    "pin_memory": (False, "manualnet's arrays live in CPU memory", "leave it out"),
    "pin_memory_device": ("", "manualnet's arrays live in CPU memory", "leave it out"),
    "generator": (None, "generator= takes a torch.Generator", "pass rng= (a numpy Generator or an int seed)"),
}


def _refuse_unsupported(given):
    for name, value in given.items():
        default, why, instead = _UNSUPPORTED[name]
        if value is default or (isinstance(value, (numbers.Number, str)) and value == default):
            continue
        raise ValueError(f"DataLoader: {name}={value!r} is not supported ({why}); {instead}")
