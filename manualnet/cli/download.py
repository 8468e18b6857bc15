"""``python -m manualnet download mnist``: fill the cache once, each file verified by SHA-256."""

from manualnet import datasets

from .common import PROG, UsageError


def add_command(commands):
    download = commands.add_parser("download", help="fetch MNIST once, each file verified by SHA-256",
                                   description="Fetch a dataset's files into the cache (or --dir), verified "
                                               "by SHA-256; a verified copy already there is kept.")
    download.add_argument("dataset", choices=("mnist",), help="the dataset to fetch: mnist")
    download.add_argument("--dir", metavar="DIR", help="put the files here instead of the cache "
                                                       "($MANUALNET_DATA/mnist, else ~/.cache/manualnet/mnist)")
    download.set_defaults(run=run_download)


def run_download(args):
    if args.dir == "":
        raise UsageError(f"{PROG} download", "--dir: expected a folder, got ''")
    folder = datasets.download_mnist(args.dir)
    print(f"MNIST is in {folder}: {len(datasets.MNIST_SPECS)} files, each verified by SHA-256")
    return 0
