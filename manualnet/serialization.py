"""Saving and loading: ``save(obj, path)`` writes an ``.npz`` atomically, ``load(path)`` never unpickles.

What ``save`` accepts: a Module (its ``state_dict()`` is saved), an
Optimizer (its ``state_dict()``), a state dict, or a dict holding several,
e.g. ``{"model": model.state_dict(), "optimizer": optimizer.state_dict(),
"epoch": 3}``.  Inside, dicts (keys str or int), lists and tuples nest freely;
the leaves are NumPy arrays of numbers or plain values (int, float, bool,
str, None).  ``load`` returns the same structure with Modules and Optimizers
replaced by their state dicts, so ``model.load_state_dict(mn.load(path))``
reads as in PyTorch.  NumPy scalars come back as 0-d arrays.

The file (format version 1) is a zip archive NumPy can open too
(``np.load(path)``):

* one uncompressed ``.npy`` member per array, named by its path in the saved
  structure, keys joined by "/": ``0.weight.npy`` for a model's state dict,
  ``model/0.weight.npy`` and ``optimizer/state/0/exp_avg.npy`` for a
  checkpoint.  A "%" or "/" inside a key is written ``%25`` or ``%2F``, so
  every path gives exactly one name;
* one member ``%manualnet.npy``: UTF-8 JSON (stored as a uint8 array) with the
  format name and version and the tree of the structure — which dicts,
  lists and tuples hold what, the type of each key, the plain values, and
  for each array its member name, dtype and shape.  No path can produce
  this name, because a "%" in a key is always escaped.

Writing is atomic: the archive goes to a temporary file in the target's
directory, named ``.<name>.<16 hex digits>.tmp`` (hidden, and never ending
in ``.npz``, so it cannot be mistaken for a checkpoint; ``<name>`` is
shortened when needed so the whole name fits the file system's limit, 255
bytes), is flushed and fsynced, then renamed over the target with
``os.replace`` and the directory is fsynced.  A reader sees the old file or
the new one, never half of either.  If writing fails, the temporary file is
removed; only a process killed outright (SIGKILL, power loss) can leave one
behind, under that pattern, and it is safe to delete.  A path that is a
symbolic link is written through, as ``torch.save`` (``open(path, "wb")``)
does: the file it points to is replaced and the link stays.  Save refuses,
before writing anything, what load could not read back: a key that puts a
NUL character, an unencodable character or more than 65,535 bytes into an
array's member name, and a structure whose metadata exceeds the bound below.

Loading trusts nothing in the file, and its cost is bounded by the file's
size: it opens only a regular file (a device such as /dev/zero never ends, a
FIFO can block forever), the zip's central directory may hold at most
MAX_CENTRAL_DIRECTORY_BYTES and the metadata at most MAX_METADATA_BYTES
(4 MiB: room for some 30,000 arrays, where a model and its Adam state take
about 140 bytes each), ``allow_pickle=False`` throughout, the member list
must be exactly the one the metadata names, each name must be the one its
path gives, dtypes must be numbers, each member's header and size must agree
with the metadata, members must be stored uncompressed and unencrypted (so
no declared size can exceed the file), and the zip's CRC must hold.  Any
failure raises CheckpointError naming the file and what is wrong; only a
missing or unreadable path raises the operating system's error
(FileNotFoundError, PermissionError).
"""

import contextlib
import json
import math
import os
import secrets
import stat
import zipfile

import numpy as np

from manualnet.nn.modules.module import Module
from manualnet.optim.optimizer import Optimizer

FORMAT = "manualnet-checkpoint"
VERSION = 1
METADATA_MEMBER = "%manualnet.npy"
MAX_METADATA_BYTES = 4 * 2**20      # about 30,000 arrays; reading it costs at most ~100 MB and ~1 s
# Every member but the metadata is an array the metadata lists by name, and a
# central-directory entry (at most 74 bytes + the name) is less than twice the
# array's metadata (at least 40 bytes + the name): whatever save writes fits.
MAX_CENTRAL_DIRECTORY_BYTES = 2 * MAX_METADATA_BYTES
MAX_MEMBER_NAME_BYTES = 65535       # a zip stores a name's length in 16 bits
MAX_DEPTH = 64                      # nesting deeper than this is not a state dict
READ_CHUNK = 16 * 2**20             # read arrays in pieces: no second full-size copy in memory
NUMERIC_KINDS = "biufc"             # bool, int, uint, float, complex: never objects
# Zip flag bits save may set: 0x0008 sizes after the data, 0x0800 UTF-8 name.  Never 0x0001
# (encrypted), 0x0020 (patched data) or 0x0040 (strong encryption), which zipfile cannot read.
ALLOWED_FLAG_BITS = 0x0008 | 0x0800


class CheckpointError(ValueError):
    """A file is not a readable manualnet checkpoint (missing parts, damaged, or tampered with)."""


# -- save ------------------------------------------------------------------------

def save(obj, path):
    """Write a Module's state dict, an Optimizer's, or a dict of them to ``path`` as .npz, atomically.

    The path is used as given (no ".npz" is appended).  An existing file is
    replaced only once the new one is complete on disk; through a symbolic
    link, the file it points to is replaced and the link stays.
    """
    if not isinstance(obj, (Module, Optimizer, dict)):
        raise TypeError(f"save: expected a Module, an Optimizer or a dict (a state dict), got {type(obj).__name__}")
    arrays = {}
    tree = _flatten(obj, (), arrays)
    metadata = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}).encode("utf-8")
    if len(metadata) > MAX_METADATA_BYTES:
        raise ValueError(
            f"save: the structure takes {len(metadata)} bytes to describe ({len(arrays)} arrays), more than "
            f"the {MAX_METADATA_BYTES} that load accepts; store a long list of numbers as one array "
            "(np.array(values)) instead of one entry per number"
        )
    _write_atomically(os.fspath(path), arrays, np.frombuffer(metadata, dtype=np.uint8))


def _flatten(obj, path, arrays):
    """Describe ``obj`` as a JSON-able tree; collect its arrays into ``arrays`` {member name: array}."""
    if len(path) > MAX_DEPTH:
        raise ValueError(f"save: nesting deeper than {MAX_DEPTH} levels at {_where(path)}")
    if isinstance(obj, (Module, Optimizer)):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at {_where(path)}")
            items.append([key, _flatten(value, path + (key,), arrays)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_flatten(value, path + (index,), arrays) for index, value in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, (np.ndarray, np.generic)):
        array = np.asarray(obj)
        if array.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(f"save: only arrays of numbers can be saved, got dtype {array.dtype} at {_where(path)}")
        name = _checked_member_name(path)
        if name in arrays:
            raise ValueError(f"save: two keys at {_where(path)} give the same entry name {name!r} (e.g. 0 and '0')")
        arrays[name] = array
        return {"array": name, "dtype": array.dtype.str, "shape": list(array.shape)}
    raise TypeError(
        f"save: cannot save a {type(obj).__name__} at {_where(path)}; "
        "expected arrays, numbers, strings, None, or dicts/lists/tuples of them"
    )


def member_name(path):
    """The archive member name of the array at ``path``: the keys, escaped, joined by "/", plus .npy."""
    return "/".join(_escape(str(key)) for key in path) + ".npy"


def _checked_member_name(path):
    """The member name of the array at ``path``, refused here if a zip archive could not give it back."""
    name = member_name(path)
    if "\x00" in name:                      # zipfile cuts a member name at its first NUL
        raise ValueError(f"save: a key holding an array cannot contain the NUL character '\\x00', at {_where(path)}")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise ValueError(
            f"save: a key holding an array is not valid Unicode ({error.reason}), at {_where(path)}"
        ) from None
    if size > MAX_MEMBER_NAME_BYTES:
        raise ValueError(
            f"save: the keys at {_where(path)[:200]} make a member name of {size} bytes, "
            f"more than the {MAX_MEMBER_NAME_BYTES} a zip archive allows"
        )
    return name


def _escape(key):
    """Make a key safe as one path component: % and / escaped; "", "." and ".." spelled out."""
    text = key.replace("%", "%25").replace("/", "%2F")
    if text.strip(".") == "":               # "", ".", "..": components a zip tool would misread
        text = "%" + text.replace(".", "%2E")
    return text


def _where(path):
    return "the top level" if not path else "key path " + " / ".join(repr(key) for key in path)


def _write_atomically(path, arrays, metadata):
    """Write the archive to a temporary file beside ``path``'s target, fsync it, rename it over the target."""
    target = _target_of(path)
    directory = os.path.dirname(target)
    temporary = os.path.join(directory, _temporary_name(os.path.basename(target), directory))
    # O_EXCL: never reuse a file someone else made; mode 0o666 lets the umask decide, as open() would.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            _write_archive(file, arrays, metadata)
            file.flush()
            os.fsync(file.fileno())         # the data is on disk before the name points at it
        os.replace(temporary, target)
    except BaseException:                   # KeyboardInterrupt too: leave nothing behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _target_of(path):
    """The file ``save`` replaces: ``path`` itself, or the file its symbolic links lead to."""
    target = os.path.realpath(path)
    if os.path.islink(target):                       # realpath stops where links go round in a circle
        raise OSError(f"save: cannot write {path!r}: its symbolic links form a loop")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write {path!r}: the directory {directory!r} does not exist")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target                                # a new file
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"save: cannot write {path!r}: it is a directory")
    if not stat.S_ISREG(mode):
        raise OSError(f"save: cannot write {path!r}: it is {_file_kind(mode)}, not a regular file")
    return target


def _temporary_name(name, directory):
    """``.<name>.<16 hex digits>.tmp``, with ``name`` shortened so the whole fits the file system's limit."""
    suffix = f".{secrets.token_hex(8)}.tmp"
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    while len(os.fsencode(f".{name}{suffix}")) > limit:
        name = name[:-1]
    return f".{name}{suffix}"


def _file_kind(mode):
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def _write_archive(file, arrays, metadata):
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        _write_member(archive, METADATA_MEMBER, metadata)
        for name, array in arrays.items():
            _write_member(archive, name, array)


def _write_member(archive, name, array):
    with archive.open(name, "w", force_zip64=True) as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _fsync_directory(directory):
    """Make the rename itself durable.  Some file systems refuse to fsync a directory; the file is already safe."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# -- load ------------------------------------------------------------------------

def load(path):
    """Read a file written by ``save``: the saved structure with its arrays (never unpickles).

    Raises FileNotFoundError for a missing file and CheckpointError, naming
    the file, for anything that is not an intact manualnet checkpoint.
    """
    path = os.fspath(path)
    with _open_regular_file(path) as file:
        try:
            file_size = os.fstat(file.fileno()).st_size
            _check_central_directory_size(file)
            with zipfile.ZipFile(file) as archive:
                return _read_checkpoint(archive, file_size)
        except _Invalid as error:
            raise CheckpointError(f"load: {path!r} is not a valid manualnet checkpoint: {error}") from None
        # What zipfile and NumPy raise for a damaged archive: NotImplementedError for zip
        # features a checkpoint never uses, OSError for a seek that a corrupt offset sends astray.
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, OSError) as error:
            raise CheckpointError(
                f"load: {path!r} is not a valid manualnet checkpoint (damaged, truncated or not an .npz archive): {error}"
            ) from None


def _open_regular_file(path):
    """Open ``path`` for reading if it is a regular file; a device can be endless, a FIFO can block forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file {path!r}") from None
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"load: {path!r} is {_file_kind(mode)}, not a checkpoint file")
    # O_NONBLOCK: should the path turn into a FIFO before open, opening it must not wait for a writer.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise CheckpointError(f"load: {path!r} is {_file_kind(mode)}, not a checkpoint file")
    return os.fdopen(descriptor, "rb")


def _check_central_directory_size(file):
    """Refuse an oversized table of members before zipfile parses it (~6 bytes of memory per byte of it)."""
    end_record = zipfile._EndRecData(file)       # zipfile's own reader of the end record, what ZipFile reads first
    if end_record is not None and end_record[zipfile._ECD_SIZE] > MAX_CENTRAL_DIRECTORY_BYTES:
        raise _Invalid(
            f"its table of members is {end_record[zipfile._ECD_SIZE]} bytes, more than the "
            f"{MAX_CENTRAL_DIRECTORY_BYTES} a manualnet checkpoint can need"
        )


class _Invalid(Exception):
    """What is wrong with a file, raised inside load and reported with the file's name."""


def _read_checkpoint(archive, file_size):
    members = _check_member_list(archive, file_size)
    metadata = _read_metadata(archive, members)
    arrays = {}
    tree = _check_tree(metadata["tree"], (), arrays)
    unexpected = sorted(set(members) - set(arrays) - {METADATA_MEMBER})
    if unexpected:
        raise _Invalid(f"unexpected member(s) {unexpected[:5]} that the metadata does not list")
    values = {}
    for name, (dtype, shape) in arrays.items():
        if name not in members:
            raise _Invalid(f"the metadata lists {name!r}, which the archive lacks")
        values[name] = _read_array(archive, members[name], name, dtype, shape)
    return _unflatten(tree, values)


def _check_member_list(archive, file_size):
    """{name: ZipInfo}: unique names, stored uncompressed, sizes within the file."""
    infos = archive.infolist()
    members = {info.filename: info for info in infos}
    if len(members) != len(infos):
        raise _Invalid("the archive holds two members with the same name")
    if METADATA_MEMBER not in members:
        raise _Invalid(f"no {METADATA_MEMBER!r} member: this .npz was not written by manualnet.save")
    for info in infos:
        if info.flag_bits & ~ALLOWED_FLAG_BITS:
            raise _Invalid(
                f"member {info.filename!r} has zip flag bits {info.flag_bits:#06x} (encrypted or "
                f"otherwise transformed); manualnet.save sets only {ALLOWED_FLAG_BITS:#06x}"
            )
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Invalid(f"member {info.filename!r} is compressed; manualnet.save writes uncompressed members")
        if info.file_size > file_size:
            raise _Invalid(f"member {info.filename!r} claims {info.file_size} bytes, more than the whole file")
    return members


def _read_metadata(archive, members):
    info = members[METADATA_MEMBER]
    if info.file_size > MAX_METADATA_BYTES:
        raise _Invalid(f"the metadata member is {info.file_size} bytes, more than the {MAX_METADATA_BYTES} allowed")
    raw = _read_npy(archive, info, METADATA_MEMBER)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Invalid(f"the metadata member must be a 1-D uint8 array, got {raw.dtype} of shape {raw.shape}")
    try:
        metadata = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise _Invalid(f"the metadata is not valid JSON: {error}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT or "tree" not in metadata:
        raise _Invalid(f"the metadata does not describe a {FORMAT!r} file")
    if metadata.get("version") != VERSION:
        raise _Invalid(f"format version {metadata.get('version')!r}; this manualnet reads version {VERSION}")
    return metadata


def _check_tree(node, path, arrays):
    """Validate one node of the metadata tree; record each array's (dtype, shape) under its member name."""
    if len(path) > MAX_DEPTH:
        raise _Invalid(f"the metadata nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or len(node) not in (1, 3):
        raise _Invalid(f"a malformed metadata node at {_where(path)}: {str(node)[:80]}")
    if "dict" in node and len(node) == 1 and isinstance(node["dict"], list):
        keys = set()
        for item in node["dict"]:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
                    and not isinstance(item[0], bool)) or item[0] in keys:
                raise _Invalid(f"a malformed or repeated dict key at {_where(path)}: {str(item)[:80]}")
            keys.add(item[0])
            _check_tree(item[1], path + (item[0],), arrays)
        return node
    for kind in ("list", "tuple"):
        if kind in node and len(node) == 1 and isinstance(node[kind], list):
            for index, child in enumerate(node[kind]):
                _check_tree(child, path + (index,), arrays)
            return node
    if "value" in node and len(node) == 1:
        if not (node["value"] is None or isinstance(node["value"], (bool, int, float, str))):
            raise _Invalid(f"a malformed value at {_where(path)}")
        return node
    if set(node) == {"array", "dtype", "shape"}:
        name = _check_array_node(node, path)
        arrays[name] = (node["dtype"], tuple(node["shape"]))
        return node
    raise _Invalid(f"a malformed metadata node at {_where(path)}: {str(node)[:80]}")


def _check_array_node(node, path):
    name, dtype, shape = node["array"], node["dtype"], node["shape"]
    if name != member_name(path):
        raise _Invalid(f"the array at {_where(path)} is named {name!r}, but its path gives {member_name(path)!r}")
    if not (isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise _Invalid(f"a malformed shape {shape!r} for {name!r}")
    try:
        kind = np.dtype(dtype).kind if isinstance(dtype, str) else None
    except TypeError:
        kind = None
    if kind is None or kind not in NUMERIC_KINDS or np.dtype(dtype).fields is not None:
        raise _Invalid(f"{name!r} has dtype {dtype!r}; only arrays of numbers are allowed")
    return name


def _read_array(archive, info, name, dtype, shape):
    array = _read_npy(archive, info, name)
    if array.dtype.str != dtype or array.shape != shape:
        raise _Invalid(
            f"member {name!r} holds {array.dtype.str} of shape {array.shape}, "
            f"but the metadata says {dtype} of shape {shape}"
        )
    return array


def _read_npy(archive, info, name):
    """Read one .npy member, checking its header against its size before reading any data."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise _Invalid(f"member {name!r} uses .npy format version {version}, which manualnet does not write")
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
            raise _Invalid(f"member {name!r} holds dtype {dtype}; only arrays of numbers are allowed (no pickles)")
        data_bytes = math.prod(shape) * dtype.itemsize
        if info.file_size != member.tell() + data_bytes:
            raise _Invalid(
                f"member {name!r} is {info.file_size} bytes, but its header promises "
                f"{member.tell() + data_bytes} (shape {shape}, dtype {dtype})"
            )
        buffer = bytearray(data_bytes)
        view, filled = memoryview(buffer), 0
        while filled < data_bytes:
            count = member.readinto(view[filled:filled + READ_CHUNK])
            if not count:
                raise _Invalid(f"member {name!r} ends early")
            filled += count
        member.read(1)                      # reach the end, where zipfile checks the CRC
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _unflatten(node, arrays):
    """Rebuild the saved structure from a checked tree and its arrays."""
    if "dict" in node:
        return {key: _unflatten(child, arrays) for key, child in node["dict"]}
    if "list" in node:
        return [_unflatten(child, arrays) for child in node["list"]]
    if "tuple" in node:
        return tuple(_unflatten(child, arrays) for child in node["tuple"])
    if "value" in node:
        return node["value"]
    return arrays[node["array"]]
