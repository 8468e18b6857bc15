"""Dataset, TensorDataset, Subset, random_split and DataLoader: batches, order, seeds and bad input."""

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from manualnet.utils.data.dataloader import DataLoader
from manualnet.utils.data.dataset import Dataset, Subset, TensorDataset, collate, random_split

from ..strategies import seeds
from ..torch_required import import_torch


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


def test_tensor_dataset_rejects_ragged_and_object_arrays_naming_which():
    with pytest.raises(ValueError, match=r"TensorDataset: array 1 is ragged \(its rows have different lengths\)"):
        TensorDataset(np.zeros((2, 2)), [[1, 2], [3]])
    with pytest.raises(TypeError, match="TensorDataset: array 0 has dtype object"):
        TensorDataset(np.array([{"x": 1}, None]))


def test_tensor_dataset_rejects_no_arrays_and_scalars():
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()
    with pytest.raises(ValueError, match=r"first \(sample\) dimension, got shapes \[\(3,\), \(\)\]"):
        TensorDataset(np.zeros(3), np.float32(1.0))


# -- DataLoader: what comes out ------------------------------------------------

@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), shuffle=st.booleans(), seed=seeds)
def test_loader_yields_every_sample_exactly_once_per_epoch(n, batch_size, shuffle, seed):
    """Property: without drop_last, one epoch's batches hold each sample once, len(loader) of them."""
    loader = DataLoader(numbered_dataset(n), batch_size=batch_size, shuffle=shuffle, rng=seed)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-n // batch_size)
    assert all(len(x) == len(y) <= batch_size for x, y in batches)
    assert all(len(x) == batch_size for x, _ in batches[:-1])
    assert sorted(labels_seen(loader)) == list(range(n))


@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), seed=seeds)
def test_loader_drop_last_gives_only_full_batches(n, batch_size, seed):
    """Property: with drop_last, there are n // batch_size batches, all full, no sample twice."""
    loader = DataLoader(numbered_dataset(n), batch_size=batch_size, shuffle=True, drop_last=True, rng=seed)
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
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True, rng=0)
    CountingArray.lookups = 0
    batches = list(loader)
    assert CountingArray.lookups == 2 * len(batches) == 20


def test_generic_dataset_is_collated_like_a_tensor_dataset(rng):
    """A Dataset serving one sample at a time gives the same batches, stacked with np.stack."""
    seed = int(rng.integers(2**32))
    fast = DataLoader(numbered_dataset(23), batch_size=5, shuffle=True, rng=seed)
    slow = DataLoader(SampleBySample(23), batch_size=5, shuffle=True, rng=seed)
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


Pair = namedtuple("Pair", "image label")


def dict_sample(index):
    """A sample as many PyTorch datasets give it: a dict holding arrays, numbers, strings and a tuple."""
    return {"image": np.full((2, 3), index, np.float32), "label": index, "name": f"img{index}",
            "meta": (np.float64(index / 2), Pair(np.array([index, -index]), index % 2))}


def test_dict_samples_collate_to_a_dict_of_batches_as_pytorch_does():
    batch = collate([dict_sample(i) for i in range(3)])
    assert list(batch) == ["image", "label", "name", "meta"]
    assert batch["image"].shape == (3, 2, 3) and batch["image"].dtype == np.float32
    assert batch["label"].tolist() == [0, 1, 2] and batch["label"].dtype == np.int64
    assert batch["name"] == ["img0", "img1", "img2"]
    half, pair = batch["meta"]
    assert isinstance(batch["meta"], tuple) and half.tolist() == [0.0, 0.5, 1.0]
    assert isinstance(pair, Pair) and pair.image.tolist() == [[0, 0], [1, -1], [2, -2]] and pair.label.tolist() == [0, 1, 0]


def test_collate_matches_torchs_default_collate():
    torch = import_torch()
    from torch.utils.data import default_collate

    samples = [dict_sample(i) for i in range(4)]
    mine, theirs = collate(samples), default_collate(samples)

    def same(a, b):
        if isinstance(b, dict):
            assert list(a) == list(b)
            for key in b:
                same(a[key], b[key])
        elif isinstance(b, (tuple, list)) and not isinstance(b, torch.Tensor):
            assert len(a) == len(b) and (type(a) is type(b) or isinstance(a, tuple))   # torch gives a list for a tuple
            for x, y in zip(a, b):
                same(x, y)
        elif isinstance(b, str):
            assert a == b
        else:
            assert str(a.dtype) == str(b.dtype).removeprefix("torch.") and a.shape == tuple(b.shape)
            np.testing.assert_array_equal(a, b.numpy())

    same(mine, theirs)


class DictSamples(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, index):
        return dict_sample(index)


def test_loader_of_a_dict_dataset_yields_dicts_of_batches():
    batches = list(DataLoader(DictSamples(), batch_size=2))
    assert [batch["label"].tolist() for batch in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0]["image"].shape == (2, 2, 3)


@pytest.mark.parametrize("samples, error, message", [
    ([{"x": 1}, {"y": 2}], ValueError, r"dicts with different keys \(the first has \['x'\]\)"),
    ([(1, 2), (3,)], ValueError, r"different numbers of fields \(the first has 2\)"),
    ([{"x": None}, {"x": None}], TypeError, r"cannot collate NoneType values \(key 'x' of each sample\)"),
    ([(np.zeros(2), {"m": np.zeros(1)}), (np.zeros(2), {"m": np.zeros(2)})], ValueError,
     r"\(field 1 / key 'm' of each sample\): they have different shapes \[\(1,\), \(2,\)\]"),
])
def test_collate_names_the_field_it_cannot_collate(samples, error, message):
    with pytest.raises(error, match=message):
        collate(samples)


def test_loader_uses_collate_fn_on_the_list_of_samples():
    def first_fields(samples):
        return [sample[1] for sample in samples]

    loader = DataLoader(numbered_dataset(5), batch_size=2, collate_fn=first_fields)
    assert [[int(label) for label in batch] for batch in loader] == [[0, 1], [2, 3], [4]]


def test_loader_reads_the_dataset_length_every_epoch_as_pytorch_does():
    dataset = SampleBySample(4)                         # then samples are appended as they arrive
    loader = DataLoader(dataset, batch_size=3, shuffle=True, rng=0)
    assert len(loader) == 2 and sorted(labels_seen(loader)) == [0, 1, 2, 3]
    dataset.n = 7
    assert len(loader) == 3 and sorted(labels_seen(loader)) == list(range(7))
    assert "of 7 samples" in repr(loader)


def test_empty_dataset_gives_no_batches():
    loader = DataLoader(numbered_dataset(0), batch_size=4, shuffle=True, rng=0)
    assert len(loader) == 0 and list(loader) == []


# -- DataLoader: seeds ----------------------------------------------------------

def epochs_of(loader, count):
    return [labels_seen(loader).tolist() for _ in range(count)]


def test_seeded_shuffle_repeats_exactly_across_loaders():
    """Same seed, same sequence of epochs: a run can be repeated number for number."""
    first = DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, rng=123)
    second = DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, rng=123)
    assert epochs_of(first, 3) == epochs_of(second, 3)


def test_seeded_shuffle_draws_a_new_order_every_epoch():
    epochs = epochs_of(DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, rng=123), 3)
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]
    assert epochs[0] != list(range(50))


def test_different_seeds_give_different_orders():
    def order(seed):
        return epochs_of(DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, rng=seed), 1)

    assert order(1) != order(2)


def test_seed_is_the_older_name_of_rng():
    """What users already write, DataLoader(..., seed=) and random_split(..., seed=), gives the same numbers."""
    def loader(**randomness):
        return DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, **randomness)

    assert epochs_of(loader(seed=7), 3) == epochs_of(loader(rng=7), 3) \
        == epochs_of(loader(rng=np.random.default_rng(7)), 3) == epochs_of(loader(seed=np.random.default_rng(7)), 3)
    split_by_seed = random_split(numbered_dataset(20), [0.5, 0.5], seed=3)
    split_by_rng = random_split(numbered_dataset(20), [0.5, 0.5], rng=3)
    assert [part.indices.tolist() for part in split_by_seed] == [part.indices.tolist() for part in split_by_rng]


@pytest.mark.parametrize("name", ["rng", "seed"])
@pytest.mark.parametrize("value, error, message", [
    (-1, ValueError, "expected a non-negative int seed, got -1"),
    (1.5, TypeError, "expected a numpy.random.Generator, a non-negative int seed or None, got float 1.5"),
    ("0", TypeError, "got str '0'"),
    (True, TypeError, "got bool True"),
])
def test_bad_seeds_are_refused_naming_the_argument(name, value, error, message):
    with pytest.raises(error, match=f"DataLoader: {name}: .*{message}"):
        DataLoader(numbered_dataset(4), shuffle=True, **{name: value})
    with pytest.raises(error, match=f"random_split: {name}: .*{message}"):
        random_split(numbered_dataset(4), [2, 2], **{name: value})


def test_rng_and_seed_together_are_refused():
    with pytest.raises(TypeError, match="DataLoader: got both rng= and seed=; seed is the older name of rng"):
        DataLoader(numbered_dataset(4), rng=0, seed=0)
    with pytest.raises(TypeError, match="random_split: got both rng= and seed="):
        random_split(numbered_dataset(4), [2, 2], rng=0, seed=0)


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


def test_loader_takes_pytorchs_whole_signature_at_its_defaults():
    loader = DataLoader(numbered_dataset(5), 2, None, None, None, 0, None, False, True, 0, None, None, None,
                        prefetch_factor=None, persistent_workers=False, pin_memory_device="", in_order=True)
    assert loader.drop_last and not loader.shuffle and len(loader) == 2


@pytest.mark.parametrize("argument, value, message", [
    ("num_workers", 4, "num_workers=4 is not supported .manualnet makes every batch in this process.; "
                       "leave num_workers at 0"),
    ("sampler", [0, 1], r"sampler=\[0, 1\] is not supported .*Subset\(dataset, indices\)"),
    ("batch_sampler", [[0, 1]], "batch_sampler=.* is not supported"),
    ("pin_memory", True, "pin_memory=True is not supported .manualnet's arrays live in CPU memory."),
    ("generator", object(), r"generator=.* takes a torch.Generator.; pass rng= \(a numpy Generator or an int seed\)"),
    ("timeout", 5, "timeout=5 is not supported"),
    ("persistent_workers", True, "persistent_workers=True is not supported"),
    ("prefetch_factor", 2, "prefetch_factor=2 is not supported"),
    ("in_order", False, "in_order=False is not supported"),
])
def test_loader_refuses_pytorch_arguments_it_does_not_implement_by_name(argument, value, message):
    with pytest.raises(ValueError, match=f"DataLoader: {message}"):
        DataLoader(numbered_dataset(4), **{argument: value})


def test_loader_rejects_a_collate_fn_that_is_not_callable():
    with pytest.raises(TypeError, match="collate_fn to be a function of a list of samples, got str"):
        DataLoader(numbered_dataset(4), collate_fn="stack")


def test_dataset_base_class_says_what_to_define():
    with pytest.raises(NotImplementedError, match="Dataset does not define __len__"):
        DataLoader(Dataset())


# -- random_split and Subset -----------------------------------------------------

def test_random_split_with_integer_lengths_partitions_the_dataset():
    train, test = random_split(numbered_dataset(10), [7, 3], rng=0)
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
    parts = random_split(numbered_dataset(n), fractions, rng=0)
    assert [len(part) for part in parts] == sizes


def test_random_split_is_reproducible_with_a_seed():
    def split(seed):
        return [part.indices.tolist() for part in random_split(numbered_dataset(20), [0.5, 0.5], rng=seed)]

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
        random_split(numbered_dataset(10), lengths, rng=0)


@pytest.mark.parametrize("lengths, message", [(None, "got NoneType None"), (10, "got int 10"), ("73", "got str '73'")])
def test_random_split_rejects_lengths_that_are_not_a_list_naming_the_argument(lengths, message):
    with pytest.raises(TypeError, match=f"random_split: expected lengths to be a list of integers or of fractions, "
                                        f"{message}"):
        random_split(numbered_dataset(10), lengths, rng=0)


def test_random_split_refuses_a_torch_generator_by_name():
    with pytest.raises(TypeError, match="random_split: generator= takes a torch.Generator; manualnet draws from rng="):
        random_split(numbered_dataset(10), [5, 5], object())


def test_subset_of_a_tensor_dataset_keeps_the_fast_path():
    """Batches of a split TensorDataset are still one fancy index per array."""
    x = np.arange(40, dtype=np.float32).reshape(20, 2).view(CountingArray)
    dataset = TensorDataset(x, np.arange(20))
    train, _ = random_split(dataset, [15, 5], rng=0)
    CountingArray.lookups = 0
    loader = DataLoader(train, batch_size=4, shuffle=True, rng=0)
    labels = labels_seen(loader)
    assert CountingArray.lookups == len(loader) == 4
    assert sorted(labels.tolist()) == sorted(train.indices.tolist())


@pytest.mark.parametrize("indices, error, message", [
    ([0.5, 1.0], TypeError, "expected indices to be integers, got float64 values such as 0.5"),
    (np.array([2.0, 3.0]), TypeError, "got float64 values such as 2.0"),
    ([True, False, True], TypeError, r"got a boolean mask; .* np.flatnonzero\(mask\)"),
    (["1", "2"], TypeError, "got <U1 values such as '1'"),
    ("12", TypeError, "got the string '12'"),
    ([[0, 1], [2]], ValueError, "nested sequences of different lengths"),
    ([[0, 1], [2, 3]], ValueError, r"got 2-D list of shape \(2, 2\)"),
    (3, ValueError, r"got 0-D int of shape \(\)"),
    ([0, 10], IndexError, "index 10 is out of range for a dataset of 10 samples"),
    ([-11], IndexError, "index -11 is out of range"),
    ([2**70], IndexError, f"index {2**70} is out of range for a dataset of 10 samples"),   # no NumPy integer holds it
    ([1, -2**70], IndexError, f"index {-2**70} is out of range"),
    ([None, 1], TypeError, "got object values such as None"),
])
def test_subset_refuses_indices_that_are_not_integers_in_range(indices, error, message):
    """NumPy would truncate floats, read a mask as indices 0 and 1, and parse strings: refuse them instead."""
    with pytest.raises(error, match=f"Subset: .*{message}"):
        Subset(numbered_dataset(10), indices)


def test_subset_takes_negative_indices_from_the_end_and_keeps_its_own_copy():
    indices = np.array([-1, 0, 3])
    subset = Subset(numbered_dataset(10), indices)
    indices[:] = 5
    assert [subset[i][1] for i in range(3)] == [9, 0, 3]
    assert len(Subset(numbered_dataset(10), [])) == 0


def test_subset_of_a_generic_dataset_fetches_its_samples():
    subset = Subset(SampleBySample(10), [9, 2, 4])
    x, y = next(iter(DataLoader(subset, batch_size=3)))
    assert y.tolist() == [9, 2, 4]
    np.testing.assert_array_equal(x[:, 1], [-9, -2, -4])


def test_data_modules_are_reachable_from_the_package():
    import manualnet as mn

    assert mn.data.DataLoader is DataLoader
    assert callable(mn.datasets.load_mnist)
