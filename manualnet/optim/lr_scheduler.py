"""Learning-rate schedules: StepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau.

``torch.optim.lr_scheduler``'s, with the same arguments, the same numbers and
the same state dicts; reachable as ``mn.optim.lr_scheduler`` (and
``from manualnet.optim.lr_scheduler import StepLR``), as in PyTorch.

A scheduler changes ``group["lr"]`` of its optimizer's parameter groups, which
every ``optimizer.step()`` reads.  Step it after the optimizer: once per
epoch (OneCycleLR: once per batch; ReduceLROnPlateau: with the metric it
watches)::

    scheduler = mn.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        for x, y in loader:
            optimizer.zero_grad()
            ...
            optimizer.step()
        scheduler.step()

Construction is step 0: it stores each group's lr as ``group["initial_lr"]``
(``base_lrs``), sets ``last_epoch = 0`` and leaves the lr as it is; each
``step()`` adds one to ``last_epoch`` and sets the lr of that epoch.
``get_last_lr()`` lists the lrs the last step set.  Stepping the scheduler
before the optimizer's first step skips the first lr of the schedule, and
says so with PyTorch's warning.  The formulas, and why CosineAnnealingLR
computes its lr from the previous one: derivations/optimizers.md, eq. (25)-(33).
"""

import math
import numbers
import warnings

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau"]

STEP_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and later, you should "
    "call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  Failure to do this will "
    "result in PyTorch skipping the first value of the learning rate schedule."
)
GET_LR_WARNING = "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."


class LRScheduler:
    """Base class: ``step()``, ``get_last_lr()``, state dicts; a subclass defines ``get_lr()``.

    The state is plain attributes named as PyTorch's (``base_lrs``,
    ``last_epoch``, ``_step_count``, ``_last_lr``, the schedule's own
    arguments); ``state_dict()`` is a copy of all of them but the optimizer,
    exactly the keys torch's holds, so a saved schedule resumes in either
    library.
    """

    def __init__(self, optimizer, last_epoch=-1):
        owner = type(self).__name__
        self.optimizer = _check_optimizer(owner, optimizer)
        last_epoch = _check_integer(owner, "last_epoch", last_epoch, lower=-1)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for number, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{owner}: last_epoch={last_epoch} resumes a schedule, but parameter group {number} has no "
                        "'initial_lr'; load the optimizer's state dict from the same checkpoint first, or leave "
                        "last_epoch at -1 to start a new schedule"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True                     # construction's step keeps the lr (eq. (25))
        self.step()
        self._is_initial = False

    def get_lr(self):
        """The lrs of epoch ``last_epoch`` (called by ``step()``; read ``get_last_lr()`` instead)."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def step(self, epoch=None):
        """Move to the next epoch: last_epoch += 1, and set every group's lr to that epoch's."""
        _refuse_epoch(type(self).__name__, epoch)
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(STEP_ORDER_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        self.last_epoch += 1
        self._get_lr_called_within_step = True
        try:
            lrs = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The lr of each parameter group, as the last ``step()`` (or construction) set it."""
        return list(self._last_lr)

    def _current_lrs(self):
        if not self._get_lr_called_within_step:
            warnings.warn(GET_LR_WARNING, UserWarning, stacklevel=3)
        return [group["lr"] for group in self.optimizer.param_groups]

    # -- state dicts ------------------------------------------------------------

    def state_dict(self):
        """Every attribute but the optimizer, copied: the keys and values torch's scheduler saves."""
        import copy                                 # here, not at the top: `import copy` is slow at startup
        return {key: copy.deepcopy(value) for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a schedule saved by ``state_dict()`` (manualnet's or torch's); validated before anything changes.

        The saved keys must be this scheduler's; each value must be of the
        kind the current one is (a whole number, a number, a flag, a text, or
        a list of them with one entry per parameter group).
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        current = self.state_dict()
        missing, unexpected = sorted(set(current) - set(state_dict)), sorted(set(state_dict) - set(current))
        if missing or unexpected:
            raise ValueError(f"{owner}: the saved state's keys differ from this scheduler's: missing {missing}, "
                             f"unexpected {unexpected}")
        values = {key: _value_like(owner, key, state_dict[key], current[key]) for key in current}
        vars(self).update(values)
        try:
            self._check_arguments()
        except (TypeError, ValueError) as error:
            vars(self).update(current)
            raise ValueError(f"{owner}: {error}") from None

    def _check_arguments(self):
        """Re-validate the schedule's own arguments after a load (a subclass checks its own)."""

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply every lr by ``gamma`` every ``step_size`` epochs: γ_t = γ₀ · gamma^⌊t / step_size⌋.

    Derivation: derivations/optimizers.md, eq. (26).  E.g. lr 0.05, step_size=30,
    gamma=0.1: 0.05 for epochs 0-29, 0.005 for 30-59, 0.0005 for 60-89.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = step_size
        self.gamma = gamma
        self._check_arguments()
        super().__init__(optimizer, last_epoch)

    def _check_arguments(self):
        self.step_size = _check_integer(type(self).__name__, "step_size", self.step_size, lower=1)
        self.gamma = _check_real(type(self).__name__, "gamma", self.gamma)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]                # eq. (26)


class ExponentialLR(LRScheduler):
    """Multiply every lr by ``gamma`` every epoch: γ_t = γ₀ · gamma^t.  Derivation: derivations/optimizers.md, eq. (27)."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        self._check_arguments()
        super().__init__(optimizer, last_epoch)

    def _check_arguments(self):
        self.gamma = _check_real(type(self).__name__, "gamma", self.gamma)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]                # eq. (27)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base lr down to ``eta_min`` over ``T_max`` epochs.  Derivation: derivations/optimizers.md

    γ_t = η_min + (γ₀ − η_min)(1 + cos(π t / T_max)) / 2 (eq. (28)), computed as
    PyTorch does, from the previous epoch's lr (eq. (29)), so that a change
    made to the lr from outside carries on; past T_max the cosine climbs
    back (eq. (30)), without restarts.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = T_max
        self.eta_min = eta_min
        self._check_arguments()
        super().__init__(optimizer, last_epoch)

    def _check_arguments(self):
        self.T_max = _check_integer(type(self).__name__, "T_max", self.T_max, lower=1)
        self.eta_min = _check_real(type(self).__name__, "eta_min", self.eta_min)

    def get_lr(self):
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - period) % (2 * period) == 0:       # at the bottom, eq. (29) would divide by 1 + cos π = 0
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2            # eq. (30)
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs(), strict=True)]
        return [(1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))  # eq. (29)
                * (lr - eta_min) + eta_min for lr in self._current_lrs()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: lr up from max_lr/div_factor to max_lr, then down far below; momentum the other way.

    Derivation: derivations/optimizers.md, eq. (31)-(32).  Step it after every
    batch, ``total_steps`` times (or ``epochs * steps_per_epoch``).  Phase
    one (``pct_start`` of the steps) anneals the lr from
    initial_lr = max_lr / div_factor to max_lr; phase two from max_lr to
    min_lr = initial_lr / final_div_factor (``three_phase=True``: back to
    initial_lr first, then to min_lr).  With ``cycle_momentum`` the momentum
    (SGD's ``momentum``, Adam's β₁) goes from max_momentum down to
    base_momentum and back.  It writes initial_lr, max_lr, min_lr,
    max_momentum and base_momentum into each parameter group, as PyTorch does.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        owner = type(self).__name__
        optimizer = _check_optimizer(owner, optimizer)
        if total_steps is not None:
            self.total_steps = _check_integer(owner, "total_steps", total_steps, lower=1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _check_integer(owner, "epochs", epochs, lower=1) \
                * _check_integer(owner, "steps_per_epoch", steps_per_epoch, lower=1)
        else:
            raise ValueError(f"{owner}: give total_steps, or both epochs and steps_per_epoch")
        pct_start = _check_real(owner, "pct_start", pct_start)
        if not 0 <= pct_start <= 1:
            raise ValueError(f"{owner}: expected pct_start, the share of steps spent raising the lr, in [0, 1], "
                             f"got {pct_start!r}")
        self._schedule_phases = _phases(float(pct_start), self.total_steps, check_flag(owner, "three_phase",
                                                                                          three_phase))
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{owner}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self._anneal_func_type = anneal_strategy
        div_factor = _check_real(owner, "div_factor", div_factor, positive=True)
        final_div_factor = _check_real(owner, "final_div_factor", final_div_factor, positive=True)
        max_lrs = _per_group(owner, "max_lr", max_lr, optimizer, positive=True)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs, strict=True):
                group["initial_lr"] = top / div_factor                       # eq. (31)
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor     # eq. (31)
        self.cycle_momentum = check_flag(owner, "cycle_momentum", cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{owner}: cycle_momentum=True needs an optimizer with momentum or betas "
                                 f"(SGD, RMSprop, Adam, AdamW), got {type(optimizer).__name__}; pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            tops = _per_group(owner, "max_momentum", max_momentum, optimizer)
            bottoms = _per_group(owner, "base_momentum", base_momentum, optimizer)
            if last_epoch == -1:
                for group, top, bottom in zip(optimizer.param_groups, tops, bottoms, strict=True):
                    _set_momentum(group, top, self.use_beta1)
                    group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)

    def _check_arguments(self):
        self.total_steps = _check_integer(type(self).__name__, "total_steps", self.total_steps, lower=1)
        if self._anneal_func_type not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {self._anneal_func_type!r}")

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the schedule has total_steps="
                             f"{self.total_steps} (one step per batch, for every batch of every epoch)")
        if not self._get_lr_called_within_step:
            warnings.warn(GET_LR_WARNING, UserWarning, stacklevel=2)
        anneal = _anneal_cos if self._anneal_func_type == "cos" else _anneal_linear
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for number, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or number == len(self._schedule_phases) - 1:
                    fraction = (step - start_step) / (end_step - start_step)
                    lrs.append(anneal(group[phase["start_lr"]], group[phase["end_lr"]], fraction))   # eq. (32)
                    if self.cycle_momentum:
                        momentum = anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], fraction)
                        _set_momentum(group, momentum, self.use_beta1)
                    break
                start_step = end_step
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a watched metric has not improved for ``patience`` epochs.

    Derivation: derivations/optimizers.md, eq. (33).  ``step(metric)`` once
    per epoch with, e.g., the validation loss (``mode='min'``) or accuracy
    (``mode='max'``).  A metric improves on the best so far only by more than
    ``threshold`` (relative: best·(1 ∓ threshold); absolute: best ∓
    threshold).  After more than ``patience`` epochs in a row without
    improvement every lr becomes max(lr·factor, min_lr) — unless that changes
    it by no more than ``eps`` — and ``cooldown`` epochs follow in which bad
    epochs are not counted.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        owner = type(self).__name__
        self.factor = factor
        self.optimizer = _check_optimizer(owner, optimizer)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group(owner, "min_lr", min_lr, optimizer, lower=0.0)
        else:
            self.default_min_lr = _check_real(owner, "min_lr", min_lr, lower=0.0)
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self._check_arguments()
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _check_arguments(self):
        owner = type(self).__name__
        self.factor = _check_real(owner, "factor", self.factor, lower=0.0)
        if self.factor >= 1:
            raise ValueError(f"{owner}: factor must be < 1.0 (the lr is multiplied by it), got {self.factor!r}")
        self.patience = _check_integer(owner, "patience", self.patience, lower=0)
        self.cooldown = _check_integer(owner, "cooldown", self.cooldown, lower=0)
        self.eps = _check_real(owner, "eps", self.eps, lower=0.0)
        self.threshold = _check_real(owner, "threshold", self.threshold)
        if self.mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' (a loss) or 'max' (an accuracy), got {self.mode!r}")
        if self.threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {self.threshold_mode!r}")
        self.mode_worse = math.inf if self.mode == "min" else -math.inf     # worse than any metric

    def step(self, metrics, epoch=None):
        """Count the epoch as good or bad by ``metrics``; cut every lr after more than ``patience`` bad ones."""
        owner = type(self).__name__
        _refuse_epoch(owner, epoch)
        current = _metric(owner, metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0                                           # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _is_better(self, metric, best):
        if self.mode == "min":
            return metric < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return metric > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def _reduce_lr(self):
        if len(self.min_lrs) != len(self.optimizer.param_groups):
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau: the optimizer has {len(self.optimizer.param_groups)} parameter "
                                 f"groups now and min_lr lists {len(self.min_lrs)}; set min_lrs for every group")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
            new_lr = max(group["lr"] * self.factor, min_lr)                   # eq. (33)
            if group["lr"] - new_lr > self.eps:
                group["lr"] = new_lr


# -- the pieces of the schedules -------------------------------------------------

def _anneal_cos(start, end, fraction):
    """From start (fraction 0) to end (fraction 1) along half a cosine."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)


def _anneal_linear(start, end, fraction):
    return (end - start) * fraction + start


def _phases(pct_start, total_steps, three_phase):
    """OneCycleLR's phases: the step each ends at and the group keys it anneals between (PyTorch's table)."""
    up = {"end_step": float(pct_start * total_steps) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
          "start_momentum": "max_momentum", "end_momentum": "base_momentum"}
    if not three_phase:
        return [up, {"end_step": total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                     "start_momentum": "base_momentum", "end_momentum": "max_momentum"}]
    return [up,
            {"end_step": float(2 * pct_start * total_steps) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
             "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            {"end_step": total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
             "start_momentum": "max_momentum", "end_momentum": "max_momentum"}]


def _set_momentum(group, momentum, use_beta1):
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


# -- checks -------------------------------------------------------------------------

def _check_optimizer(owner, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: expected a manualnet optimizer (e.g. mn.optim.SGD(model.parameters(), lr=0.1)), "
                        f"got {type(optimizer).__name__}")
    return optimizer


def _check_integer(owner, name, value, lower):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lower:
        raise ValueError(f"{owner}: expected {name} to be an integer >= {lower}, got {value!r}")
    return int(value)


def _check_real(owner, name, value, lower=None, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or (lower is not None and value < lower) or (positive and value <= 0):
        wanted = "> 0" if positive else f">= {lower:g}" if lower is not None else ""
        raise ValueError(f"{owner}: expected {name} to be a finite number {wanted}".rstrip() + f", got {value!r}")
    return float(value)


def check_flag(owner, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: expected {name} to be True or False, got {value!r}")
    return value


def _per_group(owner, name, value, optimizer, lower=None, positive=False):
    """One number per parameter group: a list of them, or one number for every group."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{owner}: {name} lists {len(value)} values for {groups} parameter groups")
        return [_check_real(owner, name, item, lower, positive) for item in value]
    return [_check_real(owner, name, value, lower, positive)] * groups


def _metric(owner, metrics):
    """The watched metric as a float (a NumPy scalar or 0-d array, a loss value, a Python number)."""
    try:
        return float(metrics)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}.step: expected the metric to watch as a number (e.g. the validation loss), "
                        f"got {type(metrics).__name__}") from None


def _refuse_epoch(owner, epoch):
    if epoch is not None:
        raise TypeError(f"{owner}.step: step(epoch) is deprecated in PyTorch (since 1.4) and not taken here; "
                        "call step() once per epoch, after optimizer.step()")


def _value_like(owner, key, value, current):
    """A loaded value of the kind ``current`` is: lists and dicts entry by entry, whole numbers whole, texts texts."""
    if isinstance(current, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(current):
            raise ValueError(f"{owner}: {key!r} must be a list of {len(current)} entries, got {value!r}")
        return [_value_like(owner, key, item, model) for item, model in zip(value, current)]
    if isinstance(current, dict):
        if not isinstance(value, dict) or set(value) != set(current):
            raise ValueError(f"{owner}: {key!r} must be a dict with keys {sorted(current)}, got {value!r}")
        return {name: _value_like(owner, key, value[name], current[name]) for name in current}
    if isinstance(current, str) or isinstance(current, bool):
        if type(value) is not type(current):
            raise ValueError(f"{owner}: {key!r} must be a {type(current).__name__}, got {value!r}")
        return value
    if current is None and value is None:
        return None
    whole = isinstance(current, numbers.Integral)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if whole else numbers.Real) \
            or math.isnan(value) or (math.isinf(value) and key not in ("best", "mode_worse")):
        raise ValueError(f"{owner}: {key!r} must be {'a whole' if whole else 'a finite'} number, got {value!r}")
    return value
