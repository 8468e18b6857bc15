"""Turning a list of samples into one batch, as PyTorch's ``default_collate``."""

from collections.abc import Mapping

import numpy as np


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
