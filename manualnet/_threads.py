"""BLAS threads: how many threads NumPy's matrix products get, chosen for each layer by its size.

OpenBLAS splits every product over all the cores by default, and its threads
wait for one another at the end of every call.  A small product (the digits
MLP's 32 × 64 × 128) gains nothing from a second thread; worse, when another
process holds that thread's core, every call waits for the core to come back,
a time slice of the scheduler, thousands of times the product's own cost
(``make demo`` went from 0.2 s to 5.7 s that way).  A large product on an
idle machine does run nearly twice as fast on two cores.  So the layers ask,
before their products, for the threads that suit them:

* a product of fewer than ``SINGLE_THREAD_WORK`` multiply-adds (m·k·n) runs on
  one thread: below it a second thread did not pay on the machines measured
  (benchmarks/threads.py);
* a larger one gets the cores that other processes leave free: the CPU time
  the whole machine spent over the last half second (``/proc/stat``) minus
  this process's own, so a second thread is used only where its core is idle.
  Where ``/proc/stat`` cannot be read, all the cores this process may use.

``MANUALNET_NUM_THREADS=N`` in the environment, ``mn.set_num_threads(N)`` or
``python -m manualnet train --threads N`` fix N threads for every product
instead; ``mn.set_num_threads(None)`` (or the variable set to ``auto``) goes
back to the automatic choice.  threadpoolctl sets the number in NumPy's BLAS,
imported on the first product; a change costs about 2 µs and is made only
when the number changes.  (threadpoolctl's own ``threadpool_limits`` around
manualnet code does not hold in the automatic mode: the next layer sets its
own number; use ``mn.num_threads(n)``.)
"""

import contextlib
import numbers
import os
import time

ENVIRONMENT_VARIABLE = "MANUALNET_NUM_THREADS"
SINGLE_THREAD_WORK = 2**24         # multiply-adds: about 0.3 ms of one core at 50 GFLOP/s
LOAD_INTERVAL = 0.5                # seconds between two readings of the machine's load


class _Threads:
    """The process's thread setting: a fixed count, or None for the automatic choice."""

    def __init__(self):
        self.fixed = _UNREAD            # read from the environment at the first product, not at import
        self.current = None            # what NumPy's BLAS was last set to by us (None: never set)
        self.controllers = None        # threadpoolctl's controllers of NumPy's BLAS, found on first use
        self.free = None               # cores other processes left free at the last reading
        self.last_reading = None       # (time, machine busy jiffies, machine total jiffies, own CPU seconds)

    def set(self, count):
        if count != self.current:
            if self.controllers is None:
                from threadpoolctl import ThreadpoolController
                self.controllers = ThreadpoolController().select(user_api="blas").lib_controllers
            for controller in self.controllers:
                controller.set_num_threads(count)
            self.current = count

    def free_cores(self):
        """The cores this process may use that others left idle over the last interval (at least 1)."""
        now = time.monotonic()
        if self.last_reading is not None and now - self.last_reading[0] < LOAD_INTERVAL:
            return self.free
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        machine = machine_jiffies()
        own = time.process_time()
        if machine is None:
            self.free = available
        elif self.last_reading is None:            # no interval yet: the last minute's load average
            self.free = _clamp(available - os.getloadavg()[0], available)
        else:
            then, busy_before, total_before, own_before = self.last_reading
            total = machine[1] - total_before
            busy_cores = (os.cpu_count() or 1) * (machine[0] - busy_before) / total if total else 0.0
            others = busy_cores - (own - own_before) / (now - then)
            self.free = _clamp(available - others, available)
        self.last_reading = (now, *(machine or (0, 0)), own)
        return self.free


def _clamp(cores, available):
    return max(1, min(available, round(cores)))


def machine_jiffies():
    """(busy, total) CPU time of the whole machine since boot, in clock ticks, from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]                   # idle and iowait; the rest (steal included) is taken
    return sum(fields) - idle, sum(fields)


def _from_environment():
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if text in ("", "auto"):
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={text!r}: expected a positive number of threads, or 'auto' "
                         "(each layer's products get threads by their size)")
    return int(text)


_UNREAD = object()
_threads = _Threads()


def threads_for(work):
    """Set NumPy's BLAS threads for products of ``work`` multiply-adds (m·k·n) each, unless a count is fixed."""
    if _threads.fixed is _UNREAD:
        _threads.fixed = _from_environment()
    if _threads.fixed is not None:
        count = _threads.fixed
    elif work < SINGLE_THREAD_WORK:
        count = 1
    else:
        count = _threads.free_cores()
    if count != _threads.current:
        _threads.set(count)


def set_num_threads(count):
    """Fix the BLAS threads of every product at ``count``; None returns to the choice by size (as ``torch.set_num_threads``)."""
    if count is not None and (isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1):
        raise ValueError(f"set_num_threads: expected a positive number of threads or None (choose by size), "
                         f"got {count!r}")
    _threads.fixed = None if count is None else int(count)
    if count is not None:
        _threads.set(int(count))


def get_num_threads():
    """The number fixed by ``set_num_threads`` or MANUALNET_NUM_THREADS, or None when chosen by size."""
    if _threads.fixed is _UNREAD:
        _threads.fixed = _from_environment()
    return _threads.fixed


@contextlib.contextmanager
def num_threads(count):
    """``with num_threads(1):`` fixes the count inside the block (None: by size), and restores the setting after."""
    before = get_num_threads()
    set_num_threads(count)
    try:
        yield
    finally:
        _threads.fixed = before
