"""Put an implementation in place of an exercise stub's method, for tests/grader/test_exercises.py.

``with_drop_in(stub_text, class_name, source)`` returns the stub file's text
with two lines appended that, when the grader runs the file, replace the
stub's ``backward`` (an optimizer's ``step``) by the one of ``source``: a
manualnet class (the library's own implementation) or a bug-zoo class (one
classic mistake).  The grader then loads the file as it loads a learner's,
from a temporary copy of exercises/; the real folder is never written.

A layer's backward comes with the helper methods it calls (a loss's
``_grad_per_element``, the notes' model's ``_check_x``), which the stub does
not define; the stub's own ``__init__`` and ``forward`` stay.  An optimizer's
``step`` runs manualnet's optimizer, built with the stub's options, on the
stub's parameters.
"""

import importlib
import inspect

import numpy as np

from manualnet.nn.modules.module import Module
from manualnet.nn.modules.rnn import _Trace


def with_drop_in(stub_text, class_name, source, **attributes):
    """The stub's text, ending with a drop-in of ``source`` ('module:Class') into ``class_name``."""
    return (f"{stub_text}\n\n# dropped in by tests/grader/test_exercises.py\n"
            f"import tests.exercise_drop_in as _drop_in\n"
            f"_drop_in.drop_in({class_name}, {source!r}, **{attributes!r})\n")


# What the library's convolution and pooling read under other names than their stubs keep (the stubs
# keep the derivation's symbols; the library keeps one 2-D geometry shared with Conv1d, and a dtype to
# check G against).  ``drop_in(..., adapter=NAME)`` adds them to the stub's class
# (an instance's own attribute, as the max-pool stub's dilation, still wins over the class's).
ADAPTERS = {
    "conv2d": {
        "groups": 1, "spatial_dims": 2, "_pad_mode": "constant",
        "_kernel": property(lambda self: self.kernel_size), "_stride": property(lambda self: self.stride),
        "_dilation": property(lambda self: self.dilation),
        "_padding": property(lambda self: tuple((p, p) for p in self.padding)),
        "cols": property(lambda self: self.X_col[np.newaxis]),                 # one group
        "input_shape": property(lambda self: (*self.x_padded.shape[:2], *(
            size - 2 * p for size, p in zip(self.x_padded.shape[2:], self.padding)))),
    },
    "dropout": {"input_dtype": property(lambda self: np.dtype(np.float64))},   # the graded cases are float64
    "pool2d": {
        "ceil_mode": False, "dilation": (1, 1), "divisor_override": None,
        "input_dtype": property(lambda self: np.dtype(np.float64)),            # the graded cases are float64
    },
    # The library's cells keep one _Trace of a sequence of one step; the stub keeps the step's arrays.
    "lstm_cell": {
        "num_gates": 4, "has_cell_state": True, "gate_order": "ifgo", "folds_hidden_bias": True, "unbatched": False,
        "trace": property(lambda self: _Trace(
            self.x[np.newaxis], np.stack([self.h, self.o * self.tanh_c]),
            c=np.stack([self.c, np.full_like(self.c, np.nan)]),          # c' is not read by backward: NaN shows it
            gates=np.concatenate([self.i, self.f, self.g, self.o], axis=1)[np.newaxis],
            tanh_c=self.tanh_c[np.newaxis])),
    },
}


def resolve(source):
    module, name = source.split(":")
    return getattr(importlib.import_module(module), name)


def drop_in(stub_class, source, adapter=None, **attributes):
    """Replace ``stub_class``'s backward (or step) by ``source``'s, with the helpers it needs
    (and the attributes ``ADAPTERS[adapter]`` names)."""
    source = resolve(source)
    if not issubclass(source, Module):
        stub_class.step = _delegating_step(source)
        return
    own = set(vars(stub_class))                # the stub's own methods, before any is added
    for klass in reversed(source.__mro__[:source.__mro__.index(Module)]):
        for name, value in vars(klass).items():
            helper = name.startswith("_") and not name.startswith("__") and name not in own
            if inspect.isfunction(value) and (name == "backward" or helper):
                setattr(stub_class, name, value)
    # The library's backward checks the Parameter versions its forward kept (nn/_version_counter.py);
    # the stub's forward keeps none, and the stub's class names no Parameter to check (backward_reads).
    stub_class.versions = ()
    for name, value in {**ADAPTERS.get(adapter, {}), **attributes}.items():
        setattr(stub_class, name, value)


def _delegating_step(optimizer_class):
    """A ``step`` that runs ``optimizer_class`` on the stub's parameters with the stub's options."""
    options = [name for name in inspect.signature(optimizer_class).parameters if name != "params"]

    def step(self):
        if "library" not in vars(self):
            chosen = {name: getattr(self, name) for name in options if hasattr(self, name)}
            self.library = optimizer_class(self.params, **chosen)
        self.library.step()
    return step


def with_body(stub_text, body):
    """The stub's text with its ``raise NotImplementedError(...)`` replaced by ``body``, as a learner writes it.

    ``body`` is the method's code, indented as the method body is (8 spaces).
    """
    start = stub_text.index("        raise NotImplementedError(")
    end = stub_text.index("\n        )\n", start) + len("\n        )\n")
    return stub_text[:start] + body.rstrip("\n") + "\n" + stub_text[end:]
