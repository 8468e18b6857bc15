"""What passes between the grader and the process that runs the learner's code, and how it is framed.

Requests (grader -> the learner's process) are pickled: that process trusts
the grader.  Replies (the learner's process -> grader) are JSON, arrays as
their raw bytes with dtype and shape: reading one runs no code, and
whatever the learner's code returned arrives as numbers, text, or the name
of a type it was.  Each message is its length (8 bytes) then its bytes.
"""

import base64
import json
import struct

import numpy as np

NUMBERS = "biufc"                    # the array kinds a reply may hold: bool, integers, floats, complex
LARGEST_FRAME = 1 << 30              # a length beyond this is no frame of ours


class Unreadable:
    """Something the learner's code returned that is no array or plain value: only its type's name arrives."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name}>"


class WireError(ValueError):
    """Bytes that are no reply: a frame too long, or JSON that is not what ``encode_reply`` writes."""


def encode_reply(value):
    return json.dumps(_plain(value)).encode("utf-8")


def decode_reply(data):
    try:
        return _value(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise WireError(f"not a reply: {error}") from None


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in NUMBERS:
            return {"object_array": list(value.shape), "dtype": str(value.dtype)}
        return {"array": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii"),
                "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"tuple": [_plain(part) for part in value]}
    if isinstance(value, list):
        return [_plain(part) for part in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"dict": {key: _plain(part) for key, part in value.items()}}
    return {"object": type(value).__name__}


def _value(plain):
    if isinstance(plain, list):
        return [_value(part) for part in plain]
    if not isinstance(plain, dict):
        return plain
    if "array" in plain:
        dtype = np.dtype(plain["dtype"])
        if dtype.kind not in NUMBERS or dtype.hasobject:
            raise WireError(f"an array of {dtype}")
        shape = tuple(int(size) for size in plain["shape"])
        return np.frombuffer(base64.b64decode(plain["array"]), dtype=dtype).reshape(shape).copy()
    if "object_array" in plain:
        return np.empty(tuple(int(size) for size in plain["object_array"]), dtype=object)
    if "tuple" in plain:
        return tuple(_value(part) for part in plain["tuple"])
    if "dict" in plain:
        return {str(key): _value(part) for key, part in plain["dict"].items()}
    return Unreadable(str(plain["object"]))


def write_frame(stream, data):
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def read_frame(stream):
    """The next frame's bytes, or None at the end of the stream."""
    header = _read_exactly(stream, 8)
    if header is None:
        return None
    (length,) = struct.unpack(">Q", header)
    if length > LARGEST_FRAME:
        raise WireError(f"a frame of {length} bytes")
    data = _read_exactly(stream, length)
    if data is None:
        raise WireError("the stream ended inside a frame")
    return data


def _read_exactly(stream, count):
    chunks, left = [], count
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
