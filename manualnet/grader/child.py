"""The process that runs a learner's exercise file, on the grader's requests (``main``).

It reads requests on its standard input and writes replies on the standard
output it started with; everything the learner's code prints (or writes to
file descriptor 1) goes to its standard error, which the grader keeps
apart.  It answers with numbers, never with a verdict: the grader compares
them with manualnet's own layer in its own process (``manualnet.grader.remote``),
so nothing the learner's code does here — ``sys.exit``, ``os._exit``,
printing, replacing the grader's objects — can make the grader report a pass.

The requests (``Server.handle``):

    ("load", path, class name, module name)      -> the class's handle and its kind
    ("new", class handle, args, kwargs)          -> an instance's handle and state
    ("call", handle, method, args, kwargs, state) -> the method's result and the state after it
    ("copy", handle)                             -> a deep copy's handle

An instance's state is what the grader mirrors: its parameters (name, data,
grad), its buffers, and whether it is training.  An error in the learner's
code comes back as {"error": ...} with the traceback lines of the learner's
file; the process keeps serving.
"""

import copy
import inspect
import os
import pickle
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

from manualnet.nn.modules.module import Module
from manualnet.nn.parameter import Parameter

from .loading import learner_traceback, not_started
from .wire import encode_reply, read_frame, write_frame


class _LearnerRaised(Exception):
    def __init__(self, report):
        super().__init__(report.get("traceback", ""))
        self.report = report


class Server:
    """The learner's objects by handle, and the answer to each request."""

    def __init__(self):
        self.objects = {}
        self.path = None

    def handle(self, request):
        kind, *arguments = request
        try:
            return {"ok": getattr(self, f"_{kind}")(*arguments)}
        except _LearnerRaised as raised:
            return {"error": raised.report}

    # -- the requests --------------------------------------------------------------

    def _load(self, path, class_name, module_name):
        self.path = Path(path)
        namespace = {"__name__": module_name, "__file__": str(path)}
        try:
            code = compile(self.path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as error:
            raise _LearnerRaised({"kind": "does not run", "traceback": learner_traceback(error, self.path)}) from None
        self._learner(exec, code, namespace, kind="does not run")
        found = namespace.get(class_name)
        if not isinstance(found, type):
            raise _LearnerRaised({"kind": "no class"})
        return {"handle": self._keep(found), "name": found.__name__}

    def _new(self, class_handle, args, kwargs):
        instance = self._learner(self.objects[class_handle], *args, **kwargs)
        if not isinstance(instance, Module):
            instance._grader_parameters = [value for value in _flattened((args, kwargs)) if isinstance(value, Parameter)]
        return {"handle": self._keep(instance), "module": isinstance(instance, Module),
                "forward": _argument_names(getattr(instance, "forward", None)), "state": self._state(instance)}

    def _call(self, handle, method, args, kwargs, state):
        instance = self.objects[handle]
        self._set_state(instance, state)
        result = self._learner(getattr(instance, method), *args, **kwargs)
        return {"result": result, "state": self._state(instance)}

    def _copy(self, handle):
        return {"handle": self._keep(self._learner(copy.deepcopy, self.objects[handle]))}

    # -- running the learner's code ----------------------------------------------------

    def _learner(self, function, *args, kind="raised", **kwargs):
        """``function(*args, **kwargs)``, any exception of the learner's code (SystemExit too) reported."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")             # an overflow shows as inf or nan in the report
                return function(*args, **kwargs)
        except BaseException as error:                      # noqa: B036 (sys.exit is the learner's code too)
            report = {"kind": kind, "traceback": learner_traceback(error, self.path),
                      "not_started": not_started(error, self.path), "message": str(error)}
            raise _LearnerRaised(report) from None

    def _keep(self, value):
        handle = len(self.objects)
        self.objects[handle] = value
        return handle

    def _state(self, instance):
        if isinstance(instance, Module):
            parameters = self._learner(lambda: list(instance.named_parameters()))
            buffers = self._learner(lambda: list(instance.named_buffers()))
            return {"parameters": [(name, p.data, p.grad) for name, p in parameters],
                    "buffers": buffers, "training": bool(instance.training),
                    "describe": self._learner(instance.describe)}
        own = getattr(instance, "_grader_parameters", [])
        return {"parameters": [(f"params[{index}]", p.data, p.grad) for index, p in enumerate(own)], "buffers": []}

    def _set_state(self, instance, state):
        """The grader's values into the learner's object: in place where the learner's arrays fit them."""
        if isinstance(instance, Module):
            parameters = dict(self._learner(lambda: list(instance.named_parameters())))
            Module.train(instance, state["training"])
            modules = dict(instance.named_modules())
            for name, value in state["buffers"]:
                owner, _, leaf = name.rpartition(".")
                _put(modules[owner], leaf, value, getattr(modules[owner], leaf, None))
        else:
            parameters = {f"params[{index}]": p for index, p in enumerate(instance._grader_parameters)}
        for name, data, grad in state["parameters"]:
            if name in parameters:
                _put(parameters[name], "data", data, parameters[name].data)
                _put(parameters[name], "grad", grad, parameters[name].grad)


def _put(owner, name, value, current):
    """``owner.name = value``: copied into the array already there when it fits (so every holder sees it)."""
    if isinstance(value, np.ndarray) and isinstance(current, np.ndarray) and current.shape == value.shape \
            and current.dtype == value.dtype and current.flags.writeable:
        np.copyto(current, value)
    elif isinstance(owner, Module) and name in owner._buffers:
        owner._buffers[name] = value
        object.__setattr__(owner, name, value)
    else:
        setattr(owner, name, value.copy() if isinstance(value, np.ndarray) else value)


def _flattened(value):
    if isinstance(value, (list, tuple)):
        return [leaf for part in value for leaf in _flattened(part)]
    if isinstance(value, dict):
        return [leaf for part in value.values() for leaf in _flattened(part)]
    return [value]


def _argument_names(method):
    """The names of a method's positional arguments (forward's: 'input', 'hx'), for the grader's reports."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def main():
    """Serve the grader's requests until it closes the pipe; the learner's output goes to standard error."""
    requests, replies = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)            # the learner's input() reads nothing
    os.dup2(2, 1)                                           # the learner's prints go to standard error
    sys.stdin, sys.stdout = open(os.devnull), sys.stderr
    server = Server()
    while (request := read_frame(requests)) is not None:
        try:
            reply = server.handle(pickle.loads(request))
        except Exception:                                   # the grader's own mistake: say so, keep serving
            reply = {"failure": traceback.format_exc()}
        write_frame(replies, encode_reply(reply))
        sys.stderr.flush()

