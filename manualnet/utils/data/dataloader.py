"""DataLoader: a dataset walked in batches, as ``torch/utils/data/dataloader.py``.

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

import numpy as np

from .dataset import check_dataset, fetch, generator_from


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
        check_dataset("DataLoader", dataset)
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
        self.rng = generator_from("DataLoader", rng, seed)

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
                yield fetch(self.dataset, indices)
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
