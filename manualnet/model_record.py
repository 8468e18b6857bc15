"""What a checkpoint says about its model: the class and the constructor's arguments, as JSON.

``mn.save(model, path)`` writes, next to the state dict, a record such as
``{"class": "MLP", "arguments": {"xdim": 64, "hdim": 256, "ydim": 10}}``;
``mn.serialization.load_model(path)`` builds that model again and loads the
weights into it, so a checkpoint can be used without knowing how it was made
(``python -m manualnet evaluate`` does).  Only manualnet's own classes are
rebuilt (the layers of ``mn.nn`` and the models of ``mn.models``), by name,
from plain values: nothing in a file can make manualnet import or run code.

A model gets a record when every argument it was built with can be written
as JSON — numbers, strings, booleans, None, tuples and lists of them, and
dtypes — except ``rng``, which is left out (the weights come from the state
dict).  ``dtype`` is recorded as the parameters' dtype when saved, so a model
converted with ``astype`` comes back as it was saved.  Anything else (an
array argument, a class of your own) is saved as a plain state dict, as
every checkpoint of manualnet 0.1 was.
"""

import inspect

import numpy as np

from manualnet import models
from manualnet.nn import modules

LEFT_OUT = ("rng",)                      # randomness is only for initial values, which the state dict replaces


def rebuildable_classes():
    """{name: class} of every class a record may name: the layers and the models."""
    return {name: getattr(package, name) for package in (modules, models) for name in package.__all__}


def record_of(model):
    """The record of ``model``: {"class": name, "arguments": {...}}; None when it cannot be written as JSON."""
    name = type(model).__name__
    if rebuildable_classes().get(name) is not type(model):
        return None
    try:
        arguments = model.constructor_arguments()
    except TypeError:                    # a constructor taking *args (Sequential) cannot be called by name
        return None
    parameters = model.parameters()
    if "dtype" in inspect.signature(type(model)).parameters and parameters:
        arguments["dtype"] = parameters[0].dtype        # as saved, after any astype
    encoded = {}
    for key, value in arguments.items():
        if key in LEFT_OUT:
            continue
        try:
            encoded[key] = _encode(value)
        except TypeError:
            return None
    return {"class": name, "arguments": encoded}


def rebuild(record, where):
    """The model a record describes, with fresh parameters; a malformed or unknown record is a ValueError."""
    if not (isinstance(record, dict) and set(record) == {"class", "arguments"}
            and isinstance(record["class"], str) and isinstance(record["arguments"], dict)):
        raise ValueError(f"{where}: the model record is malformed: {str(record)[:120]}")
    model_class = rebuildable_classes().get(record["class"])
    if model_class is None:
        raise ValueError(f"{where}: the record names {record['class']!r}, which is not a manualnet layer or model")
    try:
        arguments = {key: _decode(value) for key, value in record["arguments"].items()}
        return model_class(**arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: the record's arguments do not build a {record['class']}: {error}") from None


def _encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"dtype": np.dtype(value).name}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (tuple, list)):
        items = [_encode(item) for item in value]
        return {"tuple": items} if isinstance(value, tuple) else items
    raise TypeError(f"cannot record a {type(value).__name__}")


def _decode(value):
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"tuple"} and isinstance(value["tuple"], list):
            return tuple(_decode(item) for item in value["tuple"])
        if set(value) == {"dtype"} and value["dtype"] in ("float32", "float64"):
            return np.dtype(value["dtype"])
        raise ValueError(f"an argument {str(value)[:80]} is neither a tuple nor a float dtype")
    return value
