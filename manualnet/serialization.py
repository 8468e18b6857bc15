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
import os
import secrets
import stat
import zipfile

import numpy as np

from manualnet._checkpoint_format import (CheckpointError, FORMAT, VERSION, METADATA_MEMBER, MAX_METADATA_BYTES, MAX_MEMBER_NAME_BYTES, MAX_DEPTH, NUMERIC_KINDS, member_name, where, file_kind, open_regular_file, check_central_directory_size, Invalid, read_checkpoint)
from manualnet.model_record import rebuild, record_of
from manualnet.nn.modules.module import Module
from manualnet.optim.optimizer import Optimizer

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
    description = {"format": FORMAT, "version": VERSION, "tree": tree}
    record = record_of(obj) if isinstance(obj, Module) else None
    if record is not None:
        description["model"] = record           # what load_model rebuilds (manualnet/model_record.py)
    metadata = json.dumps(description).encode("utf-8")
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
        raise ValueError(f"save: nesting deeper than {MAX_DEPTH} levels at {where(path)}")
    if isinstance(obj, (Module, Optimizer)):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at {where(path)}")
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
            raise TypeError(f"save: only arrays of numbers can be saved, got dtype {array.dtype} at {where(path)}")
        name = _checked_member_name(path)
        if name in arrays:
            raise ValueError(f"save: two keys at {where(path)} give the same entry name {name!r} (e.g. 0 and '0')")
        arrays[name] = array
        return {"array": name, "dtype": array.dtype.str, "shape": list(array.shape)}
    raise TypeError(
        f"save: cannot save a {type(obj).__name__} at {where(path)}; "
        "expected arrays, numbers, strings, None, or dicts/lists/tuples of them"
    )


def _checked_member_name(path):
    """The member name of the array at ``path``, refused here if a zip archive could not give it back."""
    name = member_name(path)
    if "\x00" in name:                      # zipfile cuts a member name at its first NUL
        raise ValueError(f"save: a key holding an array cannot contain the NUL character '\\x00', at {where(path)}")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise ValueError(
            f"save: a key holding an array is not valid Unicode ({error.reason}), at {where(path)}"
        ) from None
    if size > MAX_MEMBER_NAME_BYTES:
        raise ValueError(
            f"save: the keys at {where(path)[:200]} make a member name of {size} bytes, "
            f"more than the {MAX_MEMBER_NAME_BYTES} a zip archive allows"
        )
    return name


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
        raise OSError(f"save: cannot write {path!r}: it is {file_kind(mode)}, not a regular file")
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
    return load_checkpoint(path)[0]


def load_model(path):
    """The model saved at ``path``, rebuilt from its record (class and constructor arguments) with its weights.

    A checkpoint without a record (a state dict, or a file from manualnet
    0.1) is a CheckpointError that says to build the model and call
    ``load_state_dict(mn.load(path))``; a record whose weights do not fit the
    model it describes is refused naming the key.
    """
    path = os.fspath(path)
    state, record = load_checkpoint(path)
    if record is None:
        raise CheckpointError(f"load_model: {path!r} holds no model record (a plain state dict); build the "
                              f"model yourself and call model.load_state_dict(mn.load({path!r}))")
    return model_from_record(state, record, path)


def model_from_record(state, record, path):
    """The model ``record`` describes, holding ``state``; CheckpointError, naming the key, when they disagree."""
    try:
        model = rebuild(record, f"load_model: {path!r}")
        model.load_state_dict(state)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"load_model: {path!r}: the weights do not fit the model its record describes: "
                              f"{error}") from None
    return model


def load_checkpoint(path):
    """(the saved structure, the model record or None) of the file at ``path``; ``load`` and ``load_model`` read it."""
    path = os.fspath(path)
    with open_regular_file(path) as file:
        try:
            file_size = os.fstat(file.fileno()).st_size
            check_central_directory_size(file)
            with zipfile.ZipFile(file) as archive:
                return read_checkpoint(archive, file_size)
        except Invalid as error:
            raise CheckpointError(f"load: {path!r} is not a valid manualnet checkpoint: {error}") from None
        # What zipfile and NumPy raise for a damaged archive: NotImplementedError for zip
        # features a checkpoint never uses, OSError for a seek that a corrupt offset sends astray.
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, OSError) as error:
            raise CheckpointError(
                f"load: {path!r} is not a valid manualnet checkpoint (damaged, truncated or not an .npz archive): {error}"
            ) from None
