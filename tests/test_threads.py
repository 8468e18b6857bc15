"""BLAS threads: chosen for each layer by its size and the free cores, or fixed by the user.

No timing here: whether the choice is fast is measured by ``make bench``
(benchmarks/threads.py); these tests check that the choice is made as
documented and that every way of fixing it works.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import manualnet as mn
from manualnet import _threads
from manualnet.cli import main

ROOT = Path(__file__).resolve().parent.parent


def blas_threads():
    """NumPy's BLAS threads (the wheel's own OpenBLAS; SciPy, once imported, brings another)."""
    return [info["num_threads"] for info in threadpool_info()
            if info["user_api"] == "blas" and "numpy" in info["filepath"]]


@pytest.fixture(autouse=True)
def restore_the_setting():
    state = _threads._threads
    before = (state.fixed, state.free, state.last_reading)
    yield
    state.fixed, state.free, state.last_reading = before
    state.set(len(os.sched_getaffinity(0)))


@pytest.fixture
def two_free_cores(monkeypatch):
    monkeypatch.setattr(_threads._threads, "fixed", None)
    monkeypatch.setattr(_threads._threads, "free_cores", lambda: 2)


def test_a_small_product_runs_on_one_thread_and_a_large_one_on_the_free_cores(two_free_cores):
    mn.Linear(64, 128, rng=0)(np.ones((32, 64), np.float32))                  # 32·64·128: the digits MLP
    assert blas_threads() == [1]
    mn.Linear(1024, 1024, rng=0)(np.ones((64, 1024), np.float32))             # 64·1024·1024 > SINGLE_THREAD_WORK
    assert blas_threads() == [2]


def test_each_layer_sets_the_threads_of_its_own_products(two_free_cores):
    """The backward of a small layer run after a large one's forward gets one thread again."""
    small, large = mn.Linear(8, 8, rng=0), mn.Linear(1024, 1024, rng=0)
    x = np.ones((4, 8), np.float32)
    small(x)
    large(np.ones((64, 1024), np.float32))
    small.backward(np.ones((4, 8), np.float32))
    assert blas_threads() == [1]


@pytest.mark.parametrize("layer, x", [
    (mn.Conv2d(16, 64, 3, padding=1, rng=0), np.ones((64, 16, 32, 32), np.float32)),
    (mn.LSTM(64, 512, rng=0), np.ones((16, 256, 64), np.float32)),
])
def test_convolutions_and_recurrent_layers_choose_threads_too(two_free_cores, layer, x):
    mn.set_num_threads(1)
    mn.set_num_threads(None)
    layer(x)
    assert blas_threads() == [2]


def test_set_num_threads_fixes_every_product_and_none_goes_back_to_the_choice(two_free_cores):
    mn.set_num_threads(2)
    assert mn.get_num_threads() == 2
    mn.Linear(8, 8, rng=0)(np.ones((4, 8), np.float32))
    assert blas_threads() == [2]
    mn.set_num_threads(None)
    assert mn.get_num_threads() is None
    mn.Linear(8, 8, rng=0)(np.ones((4, 8), np.float32))
    assert blas_threads() == [1]


def test_num_threads_fixes_the_count_inside_the_block_only(two_free_cores):
    with mn.num_threads(2):
        mn.Linear(8, 8, rng=0)(np.ones((4, 8), np.float32))
        assert blas_threads() == [2] and mn.get_num_threads() == 2
    assert mn.get_num_threads() is None


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_anything_but_a_positive_int(count):
    with pytest.raises(ValueError, match="positive number of threads"):
        mn.set_num_threads(count)


def _run_with_environment(value, code):
    env = {**os.environ, "MANUALNET_NUM_THREADS": value, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_environment_variable_fixes_the_count_for_the_whole_process():
    code = ("import numpy as np, manualnet as mn\nfrom threadpoolctl import threadpool_info\n"
            "mn.Linear(8, 8)(np.ones((4, 8), np.float32))\n"
            "print(mn.get_num_threads(), [i['num_threads'] for i in threadpool_info() if 'numpy' in i['filepath']])")
    assert _run_with_environment("2", code).stdout.split(None, 1) == ["2", "[2]\n"]
    assert _run_with_environment("auto", code).stdout.split(None, 1) == ["None", "[1]\n"]


def test_a_bad_environment_variable_is_named_at_the_first_product_not_at_import():
    result = _run_with_environment("many", "import numpy as np, manualnet as mn\nprint('imported')\n"
                                           "mn.Linear(8, 8)(np.ones((4, 8), np.float32))")
    assert result.stdout == "imported\n"
    assert "MANUALNET_NUM_THREADS='many': expected a positive number of threads, or 'auto'" in result.stderr


class FakeMachine:
    """/proc/stat's busy and total jiffies (100 per core-second), the clock and this process's CPU time."""

    def __init__(self, monkeypatch, cores=2):
        self.cores, self.busy, self.total, self.now, self.own = cores, 0, 0, 100.0, 0.0
        monkeypatch.setattr(_threads, "machine_jiffies", lambda: (self.busy, self.total))
        monkeypatch.setattr(_threads.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(_threads.time, "process_time", lambda: self.own)
        monkeypatch.setattr(_threads.os, "cpu_count", lambda: cores)
        monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: set(range(cores)))
        monkeypatch.setattr(_threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))

    def run(self, seconds, others, own):
        """``seconds`` pass with ``others`` cores busy in other processes and ``own`` in this one."""
        self.now += seconds
        self.total += round(100 * seconds * self.cores)
        self.busy += round(100 * seconds * (others + own))
        self.own += seconds * own


@pytest.mark.parametrize("others, own, free", [(0.0, 1.0, 2), (0.0, 2.0, 2), (1.0, 1.0, 1), (1.0, 0.0, 1),
                                               (2.0, 0.0, 1), (0.3, 1.7, 2)])
def test_free_cores_are_the_cores_other_processes_left_idle(monkeypatch, others, own, free):
    """This process's own CPU time never counts as busy: its two threads do not make it choose one."""
    machine = FakeMachine(monkeypatch)
    state = _threads._Threads()
    state.free_cores()                                 # the first reading starts the interval
    machine.run(0.6, others, own)
    assert state.free_cores() == free


def test_free_cores_are_read_again_only_after_the_interval(monkeypatch):
    machine = FakeMachine(monkeypatch)
    state = _threads._Threads()
    state.free_cores()
    machine.run(0.6, 0.0, 1.0)
    assert state.free_cores() == 2
    machine.run(0.1, 2.0, 0.0)                         # a burst shorter than the interval: not read yet
    assert state.free_cores() == 2
    machine.run(0.5, 2.0, 0.0)
    assert state.free_cores() == 1


def test_without_proc_stat_every_core_counts_as_free(monkeypatch):
    FakeMachine(monkeypatch, cores=4)
    monkeypatch.setattr(_threads, "machine_jiffies", lambda: None)
    assert _threads._Threads().free_cores() == 4


def test_train_and_evaluate_take_threads(monkeypatch, capsys):
    chosen = []
    monkeypatch.setattr("manualnet.cli.common.set_num_threads", chosen.append)
    assert main(["train", "--epochs", "1", "--threads", "1"]) == 0
    assert main(["evaluate", "no-such-model.npz", "--threads", "2"]) != 0
    assert chosen == [1, 2]
    assert main(["train", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
