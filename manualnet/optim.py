"""Optimizers: SGD, Adam, AdamW, RMSprop and Adagrad, the update rules of ``torch.optim`` written out.

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
import sys

import numpy as np

from ._checks import as_state_array, check_learning_rate
from .module import Module
from .parameter import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


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
                group[key] = _check_number(owner, key, saved[key])
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


class SGD(Optimizer):
    """Stochastic gradient descent with momentum: θ ← θ − γ·b, b = μ·b + (1 − τ)·g.  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.SGD documents it (γ lr, λ weight_decay,
    μ momentum, τ dampening), for each parameter θ at step t = 1, 2, ...::

        g ← θ.grad                                 what backward left there
        if maximize:  g ← −g                       climb instead         eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty            eq. (2)
        if μ ≠ 0:
            b ← g                   if t = 1       first step: no history   eq. (3)
            b ← μ b + (1 − τ) g     otherwise      exponential average      eq. (4)
            g ← g + μ b  if nesterov, else b       look ahead                eq. (5)
        θ ← θ − γ g                                                         eq. (6)

    Shape: every state array (the momentum buffer b) has its parameter's
    shape and dtype.  Nesterov momentum needs μ > 0 and τ = 0, as in PyTorch.
    """

    _options_added_later = {"maximize": False, "foreach": None, "differentiable": False, "fused": None}

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach, "differentiable": differentiable,
                    "fused": fused}
        super().__init__(params, defaults)

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        group["momentum"] = _check_number(owner, "momentum", group["momentum"], lower=0.0)
        group["dampening"] = _check_number(owner, "dampening", group["dampening"])
        group["weight_decay"] = _check_number(owner, "weight_decay", group["weight_decay"], lower=0.0)
        group["nesterov"] = _check_flag(owner, "nesterov", group["nesterov"])
        _check_common_options(owner, group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{owner}: Nesterov momentum requires momentum > 0 and dampening = 0, "
                f"got momentum={group['momentum']!r} and dampening={group['dampening']!r}"
            )
        return group

    def _state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, p, group, state):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        grad = -p.grad if group["maximize"] else p.grad               # eq. (16)
        if group["weight_decay"] != 0:
            # Into the work array: p.grad itself must stay dL/dθ for whoever reads it next.
            decay = np.multiply(p.data, group["weight_decay"], out=self._work_array(p))
            grad = np.add(grad, decay, out=decay)                 # eq. (2)
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()  # eq. (3)
            else:
                buffer *= momentum                                # eq. (4)
                buffer += (1 - dampening) * grad                  # eq. (4)
            grad = grad + momentum * buffer if group["nesterov"] else buffer   # eq. (5)
        # In place: `p.data = p.data - ...` would bind a new array that the
        # model's layers never see.
        p.data -= np.multiply(grad, lr, out=self._work_array(p))     # eq. (6)


class Adam(Optimizer):
    """Adam: θ ← θ − γ·m̂ / (√v̂ + ε), with bias-corrected averages m̂, v̂ of g and g².  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.Adam documents it (γ lr, β₁, β₂ betas,
    ε eps, λ weight_decay), for each parameter θ; t counts this parameter's
    steps and goes up by one per ``step()`` call::

        t ← t + 1                                                          eq. (7)
        g ← θ.grad, or −θ.grad with maximize                               eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty, as in SGD   eq. (2)
        m ← β₁ m + (1 − β₁) g                      average of g            eq. (8)
        v ← β₂ v + (1 − β₂) g²                     average of g²           eq. (9)
        if amsgrad:  v_max ← max(v_max, v); use v_max in place of v         eq. (10)
        θ ← θ − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)                     eq. (13)

    which is θ ← θ − γ m̂ / (√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
    (eq. (11), (12)), arranged as PyTorch computes it.  m, v and v_max start
    at zeros.

    Shape: each state array (``exp_avg`` m, ``exp_avg_sq`` v, and
    ``max_exp_avg_sq`` with amsgrad) has its parameter's shape and dtype;
    ``step`` is an int.
    """

    _options_added_later = {"maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                            "fused": None, "decoupled_weight_decay": False}
    _nonnegative_state = ("exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        group["betas"] = _check_betas(owner, group["betas"])
        group["eps"] = _check_number(owner, "eps", group["eps"], lower=0.0)
        group["weight_decay"] = _check_number(owner, "weight_decay", group["weight_decay"], lower=0.0)
        group["amsgrad"] = _check_flag(owner, "amsgrad", group["amsgrad"])
        group["decoupled_weight_decay"] = _check_flag(owner, "decoupled_weight_decay", group["decoupled_weight_decay"])
        _check_common_options(owner, group)
        return group

    def _state_names(self, group):
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _update(self, p, group, state):
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state.update({name: 0 if name == "step" else np.zeros_like(p.data) for name in self._state_names(group)})
        state["step"] += 1                                       # eq. (7)
        t = state["step"]
        grad = -p.grad if group["maximize"] else p.grad          # eq. (16)
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.data *= 1 - lr * weight_decay                  # eq. (14)
            else:
                grad = grad + weight_decay * p.data              # eq. (2)

        # m, v and θ change in place; `work` holds each intermediate product,
        # so the step allocates no new arrays.
        m, v, work = state["exp_avg"], state["exp_avg_sq"], self._work_array(p)
        m *= beta1                                               # eq. (8)
        m += np.multiply(grad, 1 - beta1, out=work)              # eq. (8)
        v *= beta2                                               # eq. (9)
        np.multiply(grad, grad, out=work)
        v += np.multiply(work, 1 - beta2, out=work)              # eq. (9)
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])   # eq. (10)

        # eq. (11)-(13) rearranged to save a pass (derivations/optimizers.md, eq. (15)):
        # m̂ / (√v̂ + ε) = c·m / (√v + c·ε) with c = √(1 − β₂ᵗ).
        root_correction = math.sqrt(1 - beta2**t)
        denominator = np.sqrt(v, out=work)
        denominator += eps * root_correction                     # eq. (15)
        update = np.divide(m, denominator, out=work)
        update *= lr * root_correction / (1 - beta1**t)          # eq. (15)
        p.data -= update                                         # eq. (15)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay θ ← θ(1 − γλ) instead of an L2 term in g.  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.AdamW documents it: Adam's eq. (7)–(13)
    without eq. (2), preceded by shrinking the weights directly::

        θ ← θ (1 − γ λ)                                                    eq. (14)

    With an L2 term (Adam's weight_decay) the decay passes through m and is
    divided by √v̂, so weights with large gradients are barely decayed;
    decoupled, every weight shrinks by the same factor (Loshchilov & Hutter,
    2019).  Default weight_decay=1e-2, as PyTorch's.

    Shape: as Adam.
    """

    _options_added_later = {**Adam._options_added_later, "decoupled_weight_decay": True}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


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


def _check_number(owner, name, value, lower=None):
    """Require a finite real number, >= lower when given (PyTorch's rule for each option)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or (lower is not None and value < lower):
        wanted = f"a finite number >= {lower:g}" if lower is not None else "a finite number"
        raise ValueError(f"{owner}: invalid {name} {value!r}: expected {wanted}")
    return float(value)


def _check_betas(owner, betas):
    """Require (β₁, β₂) with each β in [0, 1): β = 1 would never forget, and 1 − βᵗ would be 0."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{owner}: expected betas to be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta < 1:
            raise ValueError(f"{owner}: invalid beta parameter at index {index}: {beta!r}: expected a number in [0, 1)")
    return (float(betas[0]), float(betas[1]))


def _check_flag(owner, name, value):
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


# == issue 13: RMSprop, Adagrad, and the options every optimizer shares with torch.optim ==========

class RMSprop(Optimizer):
    """RMSprop: θ ← θ − γ·g / (√v + ε), v an exponential average of g².  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.RMSprop documents it (γ lr, α alpha,
    ε eps, λ weight_decay, μ momentum), for each parameter θ::

        g ← θ.grad, or −θ.grad with maximize                               eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty, as in SGD   eq. (2)
        v ← α v + (1 − α) g²                       average of g²           eq. (17)
        if centered:
            ḡ ← α ḡ + (1 − α) g                    average of g            eq. (18)
            d ← √(v − ḡ²) + ε                      a running std. dev.     eq. (19)
        else:
            d ← √v + ε                                                     eq. (19)
        if μ > 0:  b ← μ b + g / d;  θ ← θ − γ b   momentum on the step    eq. (20)
        else:      θ ← θ − γ g / d                                         eq. (21)

    v, ḡ and b start at zeros.  Unlike Adam there is no bias correction, so
    the first steps are large (v starts small): (1 − α) g² is all of v₁.

    Shape: each state array (``square_avg`` v, ``grad_avg`` ḡ when centered,
    ``momentum_buffer`` b when μ > 0) has its parameter's shape and dtype;
    ``step`` is an int.
    """

    _nonnegative_state = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            group[name] = _check_number(owner, name, group[name], lower=0.0)
        group["centered"] = _check_flag(owner, "centered", group["centered"])
        _check_common_options(owner, group)
        return group

    def _state_names(self, group):
        return ("step", "square_avg") + (("momentum_buffer",) if group["momentum"] > 0 else ()) \
            + (("grad_avg",) if group["centered"] else ())

    def _update(self, p, group, state):
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        if not state:
            state.update({name: 0 if name == "step" else np.zeros_like(p.data) for name in self._state_names(group)})
        state["step"] += 1
        grad = -p.grad if group["maximize"] else p.grad                  # eq. (16)
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data                 # eq. (2)
        square_avg = state["square_avg"]
        square_avg *= alpha                                              # eq. (17)
        square_avg += (1 - alpha) * grad * grad                          # eq. (17)
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(p.data))
            grad_avg += (1 - alpha) * (grad - grad_avg)                  # eq. (18), as torch's lerp
            denominator = np.sqrt(square_avg - grad_avg * grad_avg)      # eq. (19)
        else:
            denominator = np.sqrt(square_avg)                            # eq. (19)
        denominator += eps                                               # eq. (19)
        if momentum > 0:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(p.data))
            buffer *= momentum                                           # eq. (20)
            buffer += grad / denominator                                 # eq. (20)
            p.data -= lr * buffer                                        # eq. (20)
        else:
            p.data -= lr * (grad / denominator)                          # eq. (21)


class Adagrad(Optimizer):
    """Adagrad: θ ← θ − γ_t·g / (√Σg² + ε), each weight's step shrunk by all its past gradients.  Derivation: derivations/optimizers.md

    The algorithm, as torch.optim.Adagrad documents it (γ lr, η lr_decay,
    λ weight_decay, ε eps, s₀ initial_accumulator_value), for each
    parameter θ at step t = 1, 2, ...::

        g ← θ.grad, or −θ.grad with maximize                               eq. (16)
        if λ ≠ 0:  g ← g + λ θ                     L2 penalty, as in SGD   eq. (2)
        γ_t ← γ / (1 + (t − 1) η)                  a decaying rate         eq. (22)
        s ← s + g²                                 a sum, not an average   eq. (23)
        θ ← θ − γ_t g / (√s + ε)                                           eq. (24)

    s starts at s₀.  As PyTorch does, every parameter's state (``step`` 0,
    ``sum`` s₀) exists from construction, so ``state_dict()`` lists it before
    the first step.  (A parameter group's own ``initial_accumulator_value``
    is honoured here; PyTorch fills every state with the constructor's.)

    Shape: ``sum`` has its parameter's shape and dtype; ``step`` is an int.
    """

    _nonnegative_state = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._initial_state(p, group, self.state.setdefault(p, {}))

    def _check_group(self, group):
        owner = self._name
        group["lr"] = check_learning_rate(owner, group["lr"])
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            group[name] = _check_number(owner, name, group[name], lower=0.0)
        _check_common_options(owner, group)
        return group

    def _state_names(self, group):
        return ("step", "sum")

    def _initial_state(self, p, group, state):
        if not state:
            state.update({"step": 0, "sum": np.full_like(p.data, group["initial_accumulator_value"])})

    def _update(self, p, group, state):
        self._initial_state(p, group, state)          # a parameter added by add_param_group after construction
        state["step"] += 1
        grad = -p.grad if group["maximize"] else p.grad                  # eq. (16)
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data                 # eq. (2)
        decayed_lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])   # eq. (22)
        state["sum"] += grad * grad                                      # eq. (23)
        p.data -= decayed_lr * (grad / (np.sqrt(state["sum"]) + group["eps"]))     # eq. (24)


# The keys a learning-rate scheduler (manualnet.optim.lr_scheduler, as torch's)
# writes into each parameter group, kept in its state dict beside the options.
SCHEDULER_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")


def _check_common_options(owner, group):
    """maximize, and PyTorch's implementation switches where the optimizer has them."""
    group["maximize"] = _check_flag(owner, "maximize", group["maximize"])
    for name in ("foreach", "fused"):                 # a choice of PyTorch kernels: same numbers, no effect here
        if name in group and group[name] is not None:
            group[name] = _check_flag(owner, name, group[name])
    if group.get("foreach") and group.get("fused"):
        raise ValueError(f"{owner}: fused and foreach cannot both be True (as in PyTorch)")
    refused = {"capturable": "captures the step in a CUDA graph", "differentiable": "lets autograd differentiate "
               "through step()"}
    for name, what in refused.items():
        if name in group:
            if _check_flag(owner, name, group[name]):
                raise ValueError(f"{owner}: {name}=True {what} in PyTorch; manualnet's step is plain NumPy on "
                                 f"the CPU, so leave {name} at False")
            group[name] = False


# mn.optim.lr_scheduler, as torch.optim.lr_scheduler (it needs Optimizer, defined above);
# registered by its dotted name too, so `from manualnet.optim.lr_scheduler import StepLR` works.
from . import lr_scheduler  # noqa: E402
sys.modules[f"{__name__}.lr_scheduler"] = lr_scheduler
