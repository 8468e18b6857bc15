"""The learner's class, as the grader holds it: a stand-in whose every call runs in another process.

``load_learner(link, exercise, path)`` returns a ``RemoteClass``: calling it
builds the learner's object in the process at the other end of ``link``
(``manualnet.grader.child``) and returns a stand-in here — a
``RemoteModule`` (an ``mn.Module`` whose parameters, buffers and mode mirror
the learner's) or, for an optimizer, a ``RemoteObject`` that moves the
grader's own parameters.  Before each call the stand-in sends its values,
after it takes back the learner's: the comparison and the gradient checker
use it as they use any module, and everything they decide is decided here,
from numbers.

``ProcessLink`` runs the learner's code in a child process (``main`` of
``manualnet.grader.child``): what it prints
is kept apart, an exit or a crash ends that process and comes back as a
failure, and a call that does not return within ``CALL_TIMEOUT`` seconds is
stopped.  ``SameProcess`` sends the same requests and replies, through the
same encoding, to a server in this process (the tests' quicker way).
"""

import contextlib
import copy
import inspect
import io
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from manualnet.nn.modules.module import Module
from manualnet.nn.parameter import Parameter

from .child import Server, _flattened
from .loading import ExerciseError
from .wire import WireError, decode_reply, encode_reply, read_frame, write_frame

CALL_TIMEOUT = 60.0          # seconds one call of the learner's code may take


class LearnerError(Exception):
    """The learner's code raised, or ended the process it runs in: ``text`` says so in the learner's lines.

    ``not_started``: it was the stub's own NotImplementedError, whose ``message`` points at what to read;
    ``kind``: "does not run" (loading the file failed) or "no class" (it defines no class of the
    exercise's name) for the file itself.
    """

    def __init__(self, text, not_started=False, kind="", message=""):
        super().__init__(text)
        self.text, self.not_started, self.kind, self.message = text, not_started, kind, message


# -- the links ---------------------------------------------------------------------------------

class _Link:
    def request(self, message):
        """The reply's value; a LearnerError when the learner's code raised (or the process ended)."""
        reply = self._exchange(message)
        if not isinstance(reply, dict) or not ({"ok", "error", "failure"} & set(reply)):
            raise LearnerError(f"the process running your code sent something that is not a reply "
                               f"(while running {_what(message)})")
        if "failure" in reply:
            raise RuntimeError(f"the grader's process failed:\n{reply['failure']}")
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            raise LearnerError(str(error.get("traceback", f"your code failed while running {_what(message)}")),
                               not_started=error.get("not_started") is True, kind=str(error.get("kind", "")),
                               message=str(error.get("message", "")))
        return reply["ok"]


class SameProcess(_Link):
    """The learner's code run by a server in this process, through the same encoding as a child's replies."""

    def __init__(self):
        self._server, self._printed = Server(), io.StringIO()

    def _exchange(self, message):
        with contextlib.redirect_stdout(self._printed), contextlib.redirect_stderr(self._printed):
            reply = self._server.handle(pickle.loads(pickle.dumps(message)))
        return decode_reply(encode_reply(reply))

    def printed(self):
        return self._printed.getvalue()

    def close(self):
        pass


class ProcessLink(_Link):
    """The learner's code run in a child process (``python -m manualnet.grader.child``), started on first use."""

    def __init__(self, timeout=CALL_TIMEOUT):
        self.timeout, self._process = timeout, None

    def _start(self):
        root = str(Path(__file__).resolve().parents[2])          # the checkout this manualnet comes from
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self._output = tempfile.TemporaryFile()
        self._process = subprocess.Popen([sys.executable, "-c", "from manualnet.grader.child import main; main()"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._output, env=env)
        self._replies = queue.Queue()
        threading.Thread(target=self._read, args=(self._process.stdout, self._replies), daemon=True).start()

    @staticmethod
    def _read(stream, replies):
        try:
            while (frame := read_frame(stream)) is not None:
                replies.put(frame)
        except (WireError, OSError, ValueError):
            pass
        replies.put(None)

    def _exchange(self, message):
        if self._process is None:
            self._start()
        try:
            write_frame(self._process.stdin, pickle.dumps(message))
            frame = self._replies.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise LearnerError(f"your code did not return within {self.timeout:g} s (while running "
                               f"{_what(message)}): an endless loop? The grading stopped it.") from None
        except (BrokenPipeError, OSError):
            frame = None
        if frame is None:
            status = self._process.wait()
            self._process = None
            raise LearnerError(f"your code ended the process that runs it (exit status {status}) while running "
                               f"{_what(message)}: code that exits (os._exit, a crash) cannot be graded")
        try:
            return decode_reply(frame)
        except WireError:
            return None

    def printed(self):
        """Everything the learner's code printed so far."""
        if not hasattr(self, "_output"):
            return ""
        self._output.seek(0)
        return self._output.read().decode("utf-8", errors="replace")

    def close(self):
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _what(message):
    if message[0] == "call":
        return f"its {message[2]}()"
    return {"load": "the file", "new": "its constructor", "copy": "a copy of it"}.get(message[0], message[0])


# -- the stand-ins -------------------------------------------------------------------------------

def load_learner(link, exercise, path):
    """The learner's class in ``path``, as a RemoteClass (an ExerciseError if the file does not run or lacks it)."""
    try:
        reply = link.request(("load", str(path), exercise.class_name, f"exercises.{exercise.name}"))
    except LearnerError as error:
        if error.kind == "no class":
            raise ExerciseError(f"{path} defines no class {exercise.class_name}; "
                                f"git checkout {exercise.file} brings the stub back") from None
        raise ExerciseError(f"{path} does not run:\n{error.text}") from None
    return RemoteClass(link, reply["handle"], reply["name"])


class RemoteClass:
    """The learner's class: calling it builds the learner's object over there and returns its stand-in here."""

    def __init__(self, link, handle, name):
        self._link, self._handle, self.__name__ = link, handle, name

    def __call__(self, *args, **kwargs):
        reply = self._link.request(("new", self._handle, args, kwargs))
        if reply["module"]:
            return RemoteModule(self._link, reply["handle"], reply["state"], reply["forward"])
        mirrors = [value for value in _flattened((args, kwargs)) if isinstance(value, Parameter)]
        return RemoteObject(self._link, reply["handle"], mirrors)


def _mirror(data, grad):
    parameter = Parameter(data)
    parameter.grad = grad
    return parameter


def _take(owner, name, value):
    """``owner.name = value``, in place when the array already there fits (a checker may hold it)."""
    current = getattr(owner, name, None)
    if isinstance(value, np.ndarray) and isinstance(current, np.ndarray) and current.shape == value.shape \
            and current.dtype == value.dtype and current.flags.writeable:
        np.copyto(current, value)
    else:
        object.__setattr__(owner, name, value)


class _Method:
    """A method of the learner's object: called here, run there; its signature is the learner's."""

    def __init__(self, owner, name, arguments=()):
        self._owner, self._name = owner, name
        self.__signature__ = inspect.Signature([inspect.Parameter(argument, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                                for argument in arguments])

    def __call__(self, *args, **kwargs):
        return self._owner._call(self._name, args, kwargs)


class RemoteModule(Module):
    """A learner's Module: its parameters and buffers mirrored here, forward and backward run over there."""

    def __init__(self, link, handle, state, forward_arguments):
        super().__init__()
        for name, value in (("_link", link), ("_handle", handle), ("_forward_arguments", forward_arguments),
                            ("_description", state["describe"]), ("training", state["training"])):
            object.__setattr__(self, name, value)
        for name, data, grad in state["parameters"]:
            setattr(self, name, _mirror(data, grad))
        for name, value in state["buffers"]:
            self.register_buffer(name, value)
        object.__setattr__(self, "forward", _Method(self, "forward", forward_arguments))
        object.__setattr__(self, "backward", _Method(self, "backward"))

    def describe(self):
        return self._description

    def _state(self):
        return {"parameters": [(name, p.data, p.grad) for name, p in self._parameters.items()],
                "buffers": list(self._buffers.items()), "training": self.training}

    def _call(self, method, args, kwargs):
        reply = self._link.request(("call", self._handle, method, args, kwargs, self._state()))
        for name, data, grad in reply["state"]["parameters"]:
            if name in self._parameters:
                _take(self._parameters[name], "data", data)
                _take(self._parameters[name], "grad", grad)
        for name, value in reply["state"]["buffers"]:
            if name in self._buffers:
                current = self._buffers[name]
                if isinstance(value, np.ndarray) and isinstance(current, np.ndarray) and current.shape == value.shape:
                    np.copyto(current, value, casting="unsafe")
                else:
                    self._buffers[name] = value
                    object.__setattr__(self, name, value)
        return reply["result"]

    def __deepcopy__(self, memo):
        """A copy over there, and here a copy of this stand-in's values (which the next call sends)."""
        reply = self._link.request(("copy", self._handle))
        state = copy.deepcopy({**self._state(), "describe": self._description}, memo)
        return RemoteModule(self._link, reply["handle"], state, self._forward_arguments)


class RemoteObject:
    """A learner's optimizer: it moves the grader's own parameters, whose values go over and come back."""

    def __init__(self, link, handle, parameters):
        self._link, self._handle, self._parameters = link, handle, parameters

    def _call(self, method, args=(), kwargs=None):
        state = {"parameters": [(f"params[{index}]", p.data, p.grad) for index, p in enumerate(self._parameters)]}
        reply = self._link.request(("call", self._handle, method, args, kwargs or {}, state))
        for (_, data, grad), parameter in zip(reply["state"]["parameters"], self._parameters):
            _take(parameter, "data", data)
            _take(parameter, "grad", grad)
        return reply["result"]

    def step(self):
        return self._call("step")

    def zero_grad(self):
        return self._call("zero_grad")
