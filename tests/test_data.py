"""Dataset, TensorDataset, Subset, random_split and DataLoader: batches, order, seeds and bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from manualnet.data import DataLoader, Dataset, Subset, TensorDataset, collate, random_split

from .strategies import seeds


def numbered_dataset(n):
    """x row i is (i, -i), label i: every batch says which samples it holds."""
    x = np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float32)
    return TensorDataset(x, np.arange(n, dtype=np.int64))


class SampleBySample(Dataset):
    """The same samples as numbered_dataset, served one at a time through __getitem__."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        if not 0 <= index < self.n:
            raise IndexError(index)
        return np.array([index, -index], np.float32), np.int64(index)


class CountingArray(np.ndarray):
    """An ndarray that counts how often it is indexed."""

    lookups = 0

    def __getitem__(self, index):
        CountingArray.lookups += 1
        return np.asarray(self).__getitem__(index)


def labels_seen(loader):
    return np.concatenate([y for _, y in loader]) if len(loader) else np.array([], np.int64)


# -- TensorDataset ------------------------------------------------------------

def test_tensor_dataset_samples_are_rows_of_each_array():
    dataset = numbered_dataset(5)
    x, y = dataset[3]
    assert len(dataset) == 5
    np.testing.assert_array_equal(x, [3, -3])
    assert y == 3


def test_tensor_dataset_rejects_different_first_dimensions_naming_the_shapes():
    with pytest.raises(ValueError, match=r"same first dimension.*\[\(5, 2\), \(4,\)\]"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))


def test_tensor_dataset_rejects_no_arrays_and_scalars():
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()
    with pytest.raises(ValueError, match=r"first \(sample\) dimension, got shapes \[\(3,\), \(\)\]"):
        TensorDataset(np.zeros(3), np.float32(1.0))


# -- DataLoader: what comes out ------------------------------------------------

@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), shuffle=st.booleans(), seed=seeds)
def test_loader_yields_every_sample_exactly_once_per_epoch(n, batch_size, shuffle, seed):
    """Property: without drop_last, one epoch's batches hold each sample once, len(loader) of them."""
    loader = DataLoader(numbered_dataset(n), batch_size=batch_size, shuffle=shuffle, seed=seed)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-n // batch_size)
    assert all(len(x) == len(y) <= batch_size for x, y in batches)
    assert all(len(x) == batch_size for x, _ in batches[:-1])
    assert sorted(labels_seen(loader)) == list(range(n))


@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), seed=seeds)
def test_loader_drop_last_gives_only_full_batches(n, batch_size, seed):
    """Property: with drop_last, there are n // batch_size batches, all full, no sample twice."""
    loader = DataLoader(numbered_dataset(n), batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)
    batches = list(loader)
    assert len(batches) == len(loader) == n // batch_size
    assert all(len(x) == batch_size for x, _ in batches)
    seen = labels_seen(loader)
    assert len(set(seen.tolist())) == len(seen)


def test_loader_without_shuffle_keeps_the_dataset_order():
    loader = DataLoader(numbered_dataset(7), batch_size=3)
    assert [y.tolist() for _, y in loader] == [[0, 1, 2], [3, 4, 5], [6]]


def test_loader_batches_are_stacked_arrays_with_the_dataset_dtypes():
    x, y = next(iter(DataLoader(numbered_dataset(10), batch_size=4)))
    assert x.shape == (4, 2) and x.dtype == np.float32
    assert y.shape == (4,) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0], y)


def test_tensor_dataset_batches_take_one_fancy_index_per_array():
    """The hot path: a batch costs one lookup per array, never one per sample."""
    x = np.arange(200, dtype=np.float32).reshape(100, 2).view(CountingArray)
    y = np.arange(100).view(CountingArray)
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True, seed=0)
    CountingArray.lookups = 0
    batches = list(loader)
    assert CountingArray.lookups == 2 * len(batches) == 20


def test_generic_dataset_is_collated_like_a_tensor_dataset(rng):
    """A Dataset serving one sample at a time gives the same batches, stacked with np.stack."""
    seed = int(rng.integers(2**32))
    fast = DataLoader(numbered_dataset(23), batch_size=5, shuffle=True, seed=seed)
    slow = DataLoader(SampleBySample(23), batch_size=5, shuffle=True, seed=seed)
    for _ in range(2):
        for (x_fast, y_fast), (x_slow, y_slow) in zip(fast, slow, strict=True):
            np.testing.assert_array_equal(x_fast, x_slow)
            np.testing.assert_array_equal(y_fast, y_slow)
            assert x_fast.dtype == x_slow.dtype and y_fast.dtype == y_slow.dtype


def test_any_object_with_len_and_getitem_is_a_dataset():
    pairs = [(np.full(3, i, np.float32), i) for i in range(5)]
    x, y = next(iter(DataLoader(pairs, batch_size=4)))
    assert x.shape == (4, 3) and y.tolist() == [0, 1, 2, 3]


def test_samples_that_are_single_arrays_collate_to_one_array():
    batch = collate([np.ones(3), np.zeros(3)])
    assert isinstance(batch, np.ndarray) and batch.shape == (2, 3)


def test_collate_rejects_samples_of_different_shapes():
    with pytest.raises(ValueError, match=r"field 0 of each sample.*different shapes \[\(2,\), \(3,\)\]"):
        collate([(np.zeros(2), 0), (np.zeros(3), 1)])


def test_empty_dataset_gives_no_batches():
    loader = DataLoader(numbered_dataset(0), batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 0 and list(loader) == []


# -- DataLoader: seeds ----------------------------------------------------------

def epochs_of(loader, count):
    return [labels_seen(loader).tolist() for _ in range(count)]


def test_seeded_shuffle_repeats_exactly_across_loaders():
    """Same seed, same sequence of epochs: a run can be repeated number for number."""
    first = DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, seed=123)
    second = DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, seed=123)
    assert epochs_of(first, 3) == epochs_of(second, 3)


def test_seeded_shuffle_draws_a_new_order_every_epoch():
    epochs = epochs_of(DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, seed=123), 3)
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]
    assert epochs[0] != list(range(50))


def test_different_seeds_give_different_orders():
    def order(seed):
        return epochs_of(DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, seed=seed), 1)

    assert order(1) != order(2)


# -- DataLoader: bad arguments ----------------------------------------------------

@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "64", None])
def test_loader_rejects_batch_sizes_that_are_not_positive_integers(batch_size):
    with pytest.raises(ValueError, match=f"batch_size to be a positive integer, got {batch_size!r}"):
        DataLoader(numbered_dataset(4), batch_size=batch_size)


def test_loader_rejects_non_boolean_flags():
    """DataLoader(ds, 32, 64) is a slip for batch_size=64: say so instead of shuffling."""
    with pytest.raises(TypeError, match="shuffle to be True or False, got 64"):
        DataLoader(numbered_dataset(4), 32, 64)


def test_loader_rejects_a_dataset_without_len():
    samples = ((np.zeros(2), i) for i in range(3))
    with pytest.raises(TypeError, match="__len__ and __getitem__.*got generator without __len__ and __getitem__"):
        DataLoader(samples, batch_size=2)


def test_dataset_base_class_says_what_to_define():
    with pytest.raises(NotImplementedError, match="Dataset does not define __len__"):
        DataLoader(Dataset())


# -- random_split and Subset -----------------------------------------------------

def test_random_split_with_integer_lengths_partitions_the_dataset():
    train, test = random_split(numbered_dataset(10), [7, 3], seed=0)
    train_labels = [train[i][1] for i in range(len(train))]
    test_labels = [test[i][1] for i in range(len(test))]
    assert (len(train), len(test)) == (7, 3)
    assert sorted(train_labels + test_labels) == list(range(10))


@pytest.mark.parametrize("n, fractions, sizes", [
    (10, [0.3, 0.3, 0.4], [3, 3, 4]),       # PyTorch's documented example
    (11, [0.5, 0.5], [6, 5]),               # floor gives 5 + 5; the one left over goes to the first
    (7, [0.25, 0.25, 0.25, 0.25], [2, 2, 2, 1]),
])
def test_random_split_with_fractions_follows_pytorchs_rounding(n, fractions, sizes):
    parts = random_split(numbered_dataset(n), fractions, seed=0)
    assert [len(part) for part in parts] == sizes


def test_random_split_is_reproducible_with_a_seed():
    def split(seed):
        return [part.indices.tolist() for part in random_split(numbered_dataset(20), [0.5, 0.5], seed=seed)]

    assert split(4) == split(4) != split(5)


@pytest.mark.parametrize("lengths, message", [
    ([7, 2], r"the lengths \[7, 2\] sum to 9, but the dataset has 10 samples"),
    ([0.5, 0.4], r"neither integers summing to 10 .* nor fractions summing to 1 \(they sum to 0.9"),
    ([-1, 11], "non-negative numbers"),
    ([True, 9], "non-negative numbers"),
    ([], "non-negative numbers"),
])
def test_random_split_rejects_lengths_that_do_not_add_up(lengths, message):
    with pytest.raises(ValueError, match=message):
        random_split(numbered_dataset(10), lengths, seed=0)


def test_subset_of_a_tensor_dataset_keeps_the_fast_path():
    """Batches of a split TensorDataset are still one fancy index per array."""
    x = np.arange(40, dtype=np.float32).reshape(20, 2).view(CountingArray)
    dataset = TensorDataset(x, np.arange(20))
    train, _ = random_split(dataset, [15, 5], seed=0)
    CountingArray.lookups = 0
    loader = DataLoader(train, batch_size=4, shuffle=True, seed=0)
    labels = labels_seen(loader)
    assert CountingArray.lookups == len(loader) == 4
    assert sorted(labels.tolist()) == sorted(train.indices.tolist())


def test_subset_of_a_generic_dataset_fetches_its_samples():
    subset = Subset(SampleBySample(10), [9, 2, 4])
    x, y = next(iter(DataLoader(subset, batch_size=3)))
    assert y.tolist() == [9, 2, 4]
    np.testing.assert_array_equal(x[:, 1], [-9, -2, -4])


def test_data_modules_are_reachable_from_the_package():
    import manualnet as mn

    assert mn.data.DataLoader is DataLoader
    assert callable(mn.datasets.load_mnist)
