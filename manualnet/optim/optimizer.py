"""Optimizer: the base class of SGD, Adam, AdamW, RMSprop and Adagrad, as ``torch/optim/optimizer.py``.

An optimizer keeps references to Parameters.  ``step()`` moves every
``p.data`` IN PLACE, using ``p.grad`` (which backward filled) and the
optimizer's own per-parameter state (a momentum buffer, Adam's moments);
``zero_grad()`` clears the gradients, because backward adds into them.  The
training loop reads as in PyTorch::

    optimizer.zero_grad()
    loss = criterion(model(x), y)
    model.backward(criterion.backward())     # PyTorch: loss.backward()
    optimizer.step()

``params`` is what PyTorch takes: ``model.parameters()``, or a list of dicts
("parameter groups"), each with its own options::

    SGD([{"params": model.lin_1.parameters(), "lr": 0.1},
         {"params": model.lin_2.parameters()}], lr=0.01, momentum=0.9)

One deliberate difference: ``.grad`` is never None here (``zero_grad()``
fills it with zeros), so every parameter takes part in every step, where
PyTorch skips a parameter whose ``.grad`` is None.  With weight decay or
momentum, a parameter that backward never reached still moves.

``step()`` first checks that every ``.grad`` is an array of its parameter's
shape and dtype (PyTorch refuses any other when it is assigned); NumPy
would otherwise broadcast a wrong-shaped gradient into a wrong step without
a word.  It does not look at the values: a NaN or inf in ``.grad`` is
applied, and the weights become NaN, exactly as in PyTorch.  Finding it is
the training loop's job, once per step on the loss (``np.isfinite(loss)``),
rather than a pass over every gradient inside every step.

Each update line carries the number of its equation in
derivations/optimizers.md, which also explains momentum as an exponential
average and why Adam corrects its bias.

Every constructor takes PyTorch's arguments in PyTorch's order, and each
parameter group holds the options torch.optim's does, so state dicts move
between the two libraries.  ``maximize=True`` climbs instead of descending.
``foreach`` and ``fused`` choose among PyTorch's kernels (the numbers are
the same): accepted, no effect here; ``capturable`` (CUDA graphs) and
``differentiable`` (autograd through ``step``) cannot apply to NumPy and
are refused when True.  Learning-rate schedules: ``manualnet.optim.lr_scheduler``.
"""

import math
import numbers

import numpy as np

from manualnet._checks import as_state_array
from manualnet.nn.modules.module import Module
from manualnet.nn.parameter import Parameter


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``step``, state dicts.

    A subclass passes the default value of each option to ``__init__``,
    validates a group's options in ``_check_group``, names the state a
    parameter carries in ``_state_names`` (and, in ``_nonnegative_state``,
    which of it can never be negative, such as averages of g²) and moves one
    parameter in ``_update``, whose ``.grad`` ``step`` has checked already.
    ``param_groups`` is a list of dicts holding ``"params"`` and every
    option, as in PyTorch (so ``group["lr"] = 0.01`` changes the learning
    rate); ``state`` maps each Parameter to its state dict.
    """

    def __init__(self, params, defaults):
        self.defaults = self._check_group(dict(defaults))
        self.state = {}
        self.param_groups = []
        self._scratch = {}       # Parameter -> a work array of its shape, reused by every step
        for group in _param_groups(params, self._name):
            self.add_param_group(group)

    @property
    def _name(self):
        return type(self).__name__

    def add_param_group(self, param_group):
        """Add a dict with ``"params"`` and any options to override; the rest take the defaults."""
        owner = self._name
        if not isinstance(param_group, dict):
            raise TypeError(f"{owner}: expected a parameter group to be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{owner}: a parameter group needs a 'params' entry, got keys {sorted(param_group)}")
        _check_option_names(owner, [name for name in param_group if name != "params"], self.defaults)
        params = _parameter_list(owner, param_group["params"])
        for group in self.param_groups:
            if any(p is q for p in params for q in group["params"]):
                raise ValueError(f"{owner}: a Parameter appears in more than one parameter group")
        group = self._check_group({**self.defaults, **param_group})
        group["params"] = params
        self.param_groups.append(group)

    def parameters(self):
        """Every Parameter this optimizer updates, in group order."""
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self):
        """Set every parameter's ``.grad`` to zeros in place (backward accumulates with +=)."""
        for p in self.parameters():
            p.zero_grad()

    def step(self):
        """Take one step: update every parameter in place from its ``.grad`` and its state.

        Every ``.grad`` is checked before any parameter moves, so a refused
        step changes nothing.
        """
        self._check_gradients()
        for group in self.param_groups:
            for p in group["params"]:
                self._update(p, group, self.state.setdefault(p, {}))
        self._opt_called = True     # a learning-rate scheduler stepped before any optimizer step warns, as in torch

    # -- what a subclass defines ----------------------------------------------

    def _check_group(self, group):
        """Return the group with its options validated (and normalised to floats/bools)."""
        raise NotImplementedError

    def _state_names(self, group):
        """The names of the state a parameter of this group carries once it has taken a step."""
        raise NotImplementedError

    def _update(self, p, group, state):
        """Move ``p.data`` in place; ``state`` is this parameter's (empty before its first step)."""
        raise NotImplementedError

    _nonnegative_state = ()      # state names whose entries are never negative (checked by load_state_dict)

    # Options a save made before they existed lacks, with the value that save meant
    # (torch.optim's __setstate__ fills the same ones).
    _options_added_later = {}

    def _work_array(self, p):
        """A scratch array shaped like ``p``, allocated once and reused, so a step allocates nothing."""
        work = self._scratch.get(p)
        if work is None or work.dtype != p.dtype:
            work = self._scratch[p] = np.empty_like(p.data)
        return work

    def _check_gradients(self):
        """Require every ``.grad`` to be an ndarray of its parameter's shape and dtype (one comparison each)."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if type(grad) is not np.ndarray or grad.shape != p.data.shape or grad.dtype != p.data.dtype:
                    self._refuse_gradient(p)

    def _refuse_gradient(self, p):
        """Name the parameter whose ``.grad`` step cannot use, and say why (called only when one fails)."""
        index = next(i for i, q in enumerate(self.parameters()) if q is p)
        number, group = next((n, g) for n, g in enumerate(self.param_groups) if any(q is p for q in g["params"]))
        position = next(i for i, q in enumerate(group["params"]) if q is p)
        where = f"{self._name}.step: parameter {index} (group {number}, position {position}) has a .grad of"
        advice = ("; .grad holds dL/dp in p's shape and dtype: let backward add into it or fill it in place "
                  "(p.grad[...] = g), and clear it with zero_grad(), not p.grad = None")
        grad = p.grad
        if type(grad) is not np.ndarray:
            raise TypeError(f"{where} type {type(grad).__name__}, not a numpy.ndarray{advice}")
        if grad.shape != p.shape:
            raise ValueError(f"{where} shape {grad.shape}, but the parameter's shape is {p.shape} "
                             f"(NumPy would broadcast it into a wrong step){advice}")
        raise TypeError(f"{where} dtype {grad.dtype}, but the parameter's dtype is {p.dtype}{advice}")

    # -- state dicts ------------------------------------------------------------

    def state_dict(self):
        """The optimizer's state in torch.optim's layout, with copies of the arrays.

        ``{"state": {index: {name: value}}, "param_groups": [{option: value, ...,
        "params": [index, ...]}]}``, where parameters are numbered 0, 1, ... in
        group order (the Parameters themselves are not saved).  Parameters
        that have not taken a step yet have no entry in ``"state"``.
        """
        index = {p: i for i, p in enumerate(self.parameters())}
        groups = []
        for group in self.param_groups:
            packed = {name: value for name, value in group.items() if name != "params"}
            packed["params"] = [index[p] for p in group["params"]]
            groups.append(packed)
        state = {
            index[p]: {name: _copy(value) for name, value in entries.items()}
            for p, entries in sorted(self.state.items(), key=lambda item: index[item[0]]) if entries
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state saved by ``state_dict()``, so training resumes exactly.

        Saved parameters are matched to this optimizer's by position, as in
        PyTorch.  Everything is validated before anything changes: the group
        count and sizes, the option names and values, and each state entry's
        names, shapes and values (finite; averages of g² not negative).
        Arrays (NumPy arrays, lists, torch tensors that do not require grad)
        are copied and cast to the parameter's dtype.
        """
        owner = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            found = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{owner}: expected a dict with keys 'state' and 'param_groups', got {found}")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or len(saved_groups) != len(self.param_groups):
            count = len(saved_groups) if isinstance(saved_groups, (list, tuple)) else type(saved_groups).__name__
            raise ValueError(
                f"{owner}: the saved state has {count} parameter group(s), this optimizer has {len(self.param_groups)}"
            )
        groups, param_at = [], {}     # param_at: saved index -> (this optimizer's Parameter, its group)
        for number, (saved, current) in enumerate(zip(saved_groups, self.param_groups)):
            group = self._checked_saved_group(owner, number, saved, current)
            for index, p in zip(saved["params"], current["params"]):
                if index in param_at:
                    raise ValueError(f"{owner}: parameter index {index} is listed twice in the saved groups")
                param_at[index] = (p, group)
            groups.append(group)
        if not isinstance(saved_state, dict):
            raise ValueError(f"{owner}: expected 'state' to be a dict, got {type(saved_state).__name__}")
        state = {}
        for index, entries in saved_state.items():
            if index not in param_at:
                raise ValueError(f"{owner}: state for parameter {index!r}, which no saved group lists")
            p, group = param_at[index]
            state[p] = self._checked_saved_state(f"{owner}: state of parameter {index}", entries, p, group)
        self.param_groups[:] = groups
        self.state = state

    def _checked_saved_group(self, owner, number, saved, current):
        """Validate one saved parameter group against the current one; return the group to use."""
        if not isinstance(saved, dict) or "params" not in saved:
            raise ValueError(f"{owner}: saved parameter group {number} is not a dict with a 'params' entry")
        indices = saved["params"]
        if not isinstance(indices, (list, tuple)) \
                or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in indices):
            raise ValueError(f"{owner}: saved parameter group {number}'s 'params' must be a list of indices, got {indices!r}")
        if len(indices) != len(current["params"]):
            raise ValueError(
                f"{owner}: saved parameter group {number} has {len(indices)} parameter(s), "
                f"this optimizer's has {len(current['params'])}"
            )
        names = [name for name in saved if name not in ("params", *SCHEDULER_KEYS)]
        _check_option_names(owner, names, self.defaults)
        missing = sorted(set(self.defaults) - set(names) - set(self._options_added_later))
        if missing:
            raise ValueError(f"{owner}: saved parameter group {number} lacks option(s) {missing}")
        # A save from before an option existed meant its old behaviour, as torch.optim reads one.
        group = self._check_group({**self._options_added_later, **{name: saved[name] for name in names}})
        for key in SCHEDULER_KEYS:
            if key in saved:
                group[key] = check_number(owner, key, saved[key])
        group["params"] = current["params"]
        return group

    def _checked_saved_state(self, owner, entries, p, group):
        """Validate one parameter's saved state; return a fresh copy in the parameter's dtype."""
        expected = self._state_names(group)
        if not isinstance(entries, dict) or (entries and set(entries) != set(expected)):
            found = sorted(entries) if isinstance(entries, dict) else type(entries).__name__
            raise ValueError(f"{owner}: expected entries {list(expected)} (or none), got {found}")
        state = {}
        for name, value in entries.items():
            if name == "step":
                state[name] = _step_count(owner, value)
                continue
            array = as_state_array(owner, name, value)
            if array.shape != p.shape or array.dtype.kind not in "fiu":
                raise ValueError(
                    f"{owner}: {name!r} must be a real array of the parameter's shape {p.shape}, "
                    f"got shape {array.shape} and dtype {array.dtype}"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{owner}: {name!r} holds {np.count_nonzero(~np.isfinite(array))} "
                                 "NaN or infinite value(s); a saved state is finite")
            if name in self._nonnegative_state and (array < 0).any():
                raise ValueError(f"{owner}: {name!r} holds negative values (the smallest {float(array.min())!r}); "
                                 "it is an average of squared gradients, never below 0")
            state[name] = array.astype(p.dtype, copy=True)
        return state

    def __repr__(self):
        lines = [f"{self._name} ("]
        for number, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {number}")
            lines.extend(f"    {name}: {value}" for name, value in group.items() if name != "params")
        return "\n".join(lines + [")"])


# -- checking what the user passed ---------------------------------------------

def _param_groups(params, owner):
    """Turn ``model.parameters()`` or a list of group dicts into a list of group dicts."""
    hint = "; pass model.parameters() or a list of dicts with a 'params' entry"
    if isinstance(params, Module):
        raise TypeError(f"{owner}: got a {type(params).__name__} module{hint}")
    if isinstance(params, (Parameter, np.ndarray, dict, str)):
        raise TypeError(f"{owner}: expected an iterable of Parameters or of dicts, got a single {type(params).__name__}{hint}")
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{owner}: parameters must be in an ordered collection (a list), not a set: "
                        "the order of a set changes between runs")
    try:
        items = list(params)
    except TypeError:
        raise TypeError(f"{owner}: expected an iterable of Parameters or of dicts, got {type(params).__name__}{hint}") from None
    if not items:
        raise ValueError(f"{owner}: got an empty parameter list; the model has nothing to learn")
    if all(isinstance(item, dict) for item in items):
        return items
    if any(isinstance(item, dict) for item in items):
        raise TypeError(f"{owner}: got a mix of dicts and Parameters{hint}, not both")
    return [{"params": items}]


def _parameter_list(owner, params):
    """The list of Parameters of one group: each a Parameter, none twice."""
    if isinstance(params, Parameter):
        params = [params]
    elif isinstance(params, (set, frozenset)):
        raise TypeError(f"{owner}: a group's 'params' must be ordered (a list), not a set")
    elif isinstance(params, (Module, np.ndarray, dict, str)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{owner}: expected a group's 'params' to be Parameters, got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError(f"{owner}: got an empty parameter list; the model has nothing to learn")
    for position, p in enumerate(params):
        if not isinstance(p, Parameter):
            hint = " (a (name, Parameter) pair: pass model.parameters(), not named_parameters())" \
                if isinstance(p, tuple) else ""
            raise TypeError(f"{owner}: expected Parameters, got {type(p).__name__} at position {position}{hint}")
        first = next(i for i, q in enumerate(params) if q is p)
        if first != position:
            raise ValueError(
                f"{owner}: the same Parameter {p.shape} appears twice, at positions {first} and {position}; "
                "it would be updated twice per step"
            )
    return params


def _check_option_names(owner, names, defaults):
    unknown = sorted(set(names) - set(defaults))
    if unknown:
        raise ValueError(f"{owner}: unknown option(s) {unknown}; {owner} takes {list(defaults)}")


def check_number(owner, name, value, lower=None):
    """Require a finite real number, >= lower when given (PyTorch's rule for each option)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or (lower is not None and value < lower):
        wanted = f"a finite number >= {lower:g}" if lower is not None else "a finite number"
        raise ValueError(f"{owner}: invalid {name} {value!r}: expected {wanted}")
    return float(value)


def check_betas(owner, betas):
    """Require (β₁, β₂) with each β in [0, 1): β = 1 would never forget, and 1 − βᵗ would be 0."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{owner}: expected betas to be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta < 1:
            raise ValueError(f"{owner}: invalid beta parameter at index {index}: {beta!r}: expected a number in [0, 1)")
    return (float(betas[0]), float(betas[1]))


def check_flag(owner, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: expected {name} to be True or False, got {value!r}")
    return bool(value)


def _step_count(owner, value):
    """A saved step count: a non-negative whole number (an int, or a 0-d array from torch's float tensor)."""
    number = as_state_array(owner, "step", value)
    if number.shape != () or number.dtype.kind not in "fiu" or not np.isfinite(number) \
            or number < 0 or number != np.floor(number):
        raise ValueError(f"{owner}: 'step' must be a whole number >= 0, got {value!r}")
    return int(number)


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


# == RMSprop, Adagrad, and the options every optimizer shares with torch.optim ==========

# The keys a learning-rate scheduler (manualnet.optim.lr_scheduler, as torch's)
# writes into each parameter group, kept in its state dict beside the options.
SCHEDULER_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")


def check_common_options(owner, group):
    """maximize, and PyTorch's implementation switches where the optimizer has them."""
    group["maximize"] = check_flag(owner, "maximize", group["maximize"])
    for name in ("foreach", "fused"):                 # a choice of PyTorch kernels: same numbers, no effect here
        if name in group and group[name] is not None:
            group[name] = check_flag(owner, name, group[name])
    if group.get("foreach") and group.get("fused"):
        raise ValueError(f"{owner}: fused and foreach cannot both be True (as in PyTorch)")
    refused = {"capturable": "captures the step in a CUDA graph", "differentiable": "lets autograd differentiate "
               "through step()"}
    for name, what in refused.items():
        if name in group:
            if check_flag(owner, name, group[name]):
                raise ValueError(f"{owner}: {name}=True {what} in PyTorch; manualnet's step is plain NumPy on "
                                 f"the CPU, so leave {name} at False")
            group[name] = False
