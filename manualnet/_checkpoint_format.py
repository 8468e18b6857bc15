"""The checkpoint format's constants and its reader, which trusts nothing in the file (see manualnet/serialization.py).

``serialization.py`` describes the format and writes it; this module holds
what both sides share (the bounds, the member names) and the checks a file
must pass before anything in it is used.
"""

import json
import math
import os
import stat
import zipfile

import numpy as np

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


def member_name(path):
    """The archive member name of the array at ``path``: the keys, escaped, joined by "/", plus .npy."""
    return "/".join(_escape(str(key)) for key in path) + ".npy"


def _escape(key):
    """Make a key safe as one path component: % and / escaped; "", "." and ".." spelled out."""
    text = key.replace("%", "%25").replace("/", "%2F")
    if text.strip(".") == "":               # "", ".", "..": components a zip tool would misread
        text = "%" + text.replace(".", "%2E")
    return text


def where(path):
    return "the top level" if not path else "key path " + " / ".join(repr(key) for key in path)


def file_kind(mode):
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def open_regular_file(path):
    """Open ``path`` for reading if it is a regular file; a device can be endless, a FIFO can block forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file {path!r}") from None
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"load: {path!r} is {file_kind(mode)}, not a checkpoint file")
    # O_NONBLOCK: should the path turn into a FIFO before open, opening it must not wait for a writer.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise CheckpointError(f"load: {path!r} is {file_kind(mode)}, not a checkpoint file")
    return os.fdopen(descriptor, "rb")


def check_central_directory_size(file):
    """Refuse an oversized table of members before zipfile parses it (~6 bytes of memory per byte of it)."""
    end_record = zipfile._EndRecData(file)       # zipfile's own reader of the end record, what ZipFile reads first
    if end_record is not None and end_record[zipfile._ECD_SIZE] > MAX_CENTRAL_DIRECTORY_BYTES:
        raise Invalid(
            f"its table of members is {end_record[zipfile._ECD_SIZE]} bytes, more than the "
            f"{MAX_CENTRAL_DIRECTORY_BYTES} a manualnet checkpoint can need"
        )


class Invalid(Exception):
    """What is wrong with a file, raised inside load and reported with the file's name."""


def read_checkpoint(archive, file_size):
    members = _check_member_list(archive, file_size)
    metadata = _read_metadata(archive, members)
    record = metadata.get("model")
    arrays = {}
    tree = _check_tree(metadata["tree"], (), arrays)
    unexpected = sorted(set(members) - set(arrays) - {METADATA_MEMBER})
    if unexpected:
        raise Invalid(f"unexpected member(s) {unexpected[:5]} that the metadata does not list")
    values = {}
    for name, (dtype, shape) in arrays.items():
        if name not in members:
            raise Invalid(f"the metadata lists {name!r}, which the archive lacks")
        values[name] = _read_array(archive, members[name], name, dtype, shape)
    return _unflatten(tree, values), record


def _check_member_list(archive, file_size):
    """{name: ZipInfo}: unique names, stored uncompressed, sizes within the file."""
    infos = archive.infolist()
    members = {info.filename: info for info in infos}
    if len(members) != len(infos):
        raise Invalid("the archive holds two members with the same name")
    if METADATA_MEMBER not in members:
        raise Invalid(f"no {METADATA_MEMBER!r} member: this .npz was not written by manualnet.save")
    for info in infos:
        if info.flag_bits & ~ALLOWED_FLAG_BITS:
            raise Invalid(
                f"member {info.filename!r} has zip flag bits {info.flag_bits:#06x} (encrypted or "
                f"otherwise transformed); manualnet.save sets only {ALLOWED_FLAG_BITS:#06x}"
            )
        if info.compress_type != zipfile.ZIP_STORED:
            raise Invalid(f"member {info.filename!r} is compressed; manualnet.save writes uncompressed members")
        if info.file_size > file_size:
            raise Invalid(f"member {info.filename!r} claims {info.file_size} bytes, more than the whole file")
    return members


def _read_metadata(archive, members):
    info = members[METADATA_MEMBER]
    if info.file_size > MAX_METADATA_BYTES:
        raise Invalid(f"the metadata member is {info.file_size} bytes, more than the {MAX_METADATA_BYTES} allowed")
    raw = _read_npy(archive, info, METADATA_MEMBER)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise Invalid(f"the metadata member must be a 1-D uint8 array, got {raw.dtype} of shape {raw.shape}")
    try:
        metadata = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise Invalid(f"the metadata is not valid JSON: {error}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT or "tree" not in metadata:
        raise Invalid(f"the metadata does not describe a {FORMAT!r} file")
    if metadata.get("version") != VERSION:
        raise Invalid(f"format version {metadata.get('version')!r}; this manualnet reads version {VERSION}")
    return metadata


def _check_tree(node, path, arrays):
    """Validate one node of the metadata tree; record each array's (dtype, shape) under its member name."""
    if len(path) > MAX_DEPTH:
        raise Invalid(f"the metadata nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or len(node) not in (1, 3):
        raise Invalid(f"a malformed metadata node at {where(path)}: {str(node)[:80]}")
    if "dict" in node and len(node) == 1 and isinstance(node["dict"], list):
        keys = set()
        for item in node["dict"]:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
                    and not isinstance(item[0], bool)) or item[0] in keys:
                raise Invalid(f"a malformed or repeated dict key at {where(path)}: {str(item)[:80]}")
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
            raise Invalid(f"a malformed value at {where(path)}")
        return node
    if set(node) == {"array", "dtype", "shape"}:
        name = _check_array_node(node, path)
        arrays[name] = (node["dtype"], tuple(node["shape"]))
        return node
    raise Invalid(f"a malformed metadata node at {where(path)}: {str(node)[:80]}")


def _check_array_node(node, path):
    name, dtype, shape = node["array"], node["dtype"], node["shape"]
    if name != member_name(path):
        raise Invalid(f"the array at {where(path)} is named {name!r}, but its path gives {member_name(path)!r}")
    if not (isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise Invalid(f"a malformed shape {shape!r} for {name!r}")
    try:
        kind = np.dtype(dtype).kind if isinstance(dtype, str) else None
    except TypeError:
        kind = None
    if kind is None or kind not in NUMERIC_KINDS or np.dtype(dtype).fields is not None:
        raise Invalid(f"{name!r} has dtype {dtype!r}; only arrays of numbers are allowed")
    return name


def _read_array(archive, info, name, dtype, shape):
    array = _read_npy(archive, info, name)
    if array.dtype.str != dtype or array.shape != shape:
        raise Invalid(
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
            raise Invalid(f"member {name!r} uses .npy format version {version}, which manualnet does not write")
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
            raise Invalid(f"member {name!r} holds dtype {dtype}; only arrays of numbers are allowed (no pickles)")
        data_bytes = math.prod(shape) * dtype.itemsize
        if info.file_size != member.tell() + data_bytes:
            raise Invalid(
                f"member {name!r} is {info.file_size} bytes, but its header promises "
                f"{member.tell() + data_bytes} (shape {shape}, dtype {dtype})"
            )
        buffer = bytearray(data_bytes)
        view, filled = memoryview(buffer), 0
        while filled < data_bytes:
            count = member.readinto(view[filled:filled + READ_CHUNK])
            if not count:
                raise Invalid(f"member {name!r} ends early")
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
