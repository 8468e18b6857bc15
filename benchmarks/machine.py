"""What the benchmark ran on: CPU, load, BLAS libraries, environment, and the GEMM rate."""

import os
import platform
import re
import time

import numpy as np

from manualnet._threads import machine_jiffies

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_libraries():
    """The BLAS NumPy calls, as threadpoolctl sees it: library, version, kernel, threads."""
    from threadpoolctl import threadpool_info
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")
    return [{key: info.get(key) for key in keys} for info in threadpool_info() if info.get("user_api") == "blas"]


def torch_blas(torch):
    """torch's version, threads and the BLAS/LAPACK it was built with (from its build settings)."""
    config = torch.__config__.show()
    built_with = dict(re.findall(r"\b(BLAS_INFO|LAPACK_INFO)=(\w+)", config))
    return {"version": torch.__version__, "threads": torch.get_num_threads(),
            "mkl": torch.backends.mkl.is_available(), **{key.lower(): value for key, value in built_with.items()}}


def load_average():
    """The 1-, 5- and 15-minute load averages."""
    return [round(load, 2) for load in os.getloadavg()]


def busy_jiffies():
    """The machine's busy CPU time since boot (every core, steal included), in clock ticks; None without /proc/stat."""
    machine = machine_jiffies()
    return None if machine is None else machine[0]


def environment(torch=None):
    """A dict describing the machine and the process environment of this run."""
    report = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": blas_libraries(),
        "openblas_env": {name: os.environ.get(name, "unset") for name in OPENBLAS_VARIABLES},
    }
    if torch is not None:
        report["torch"] = torch_blas(torch)
    return report


def gemm_rate(shapes, repeats=5, seconds=0.2, dtype=np.float32):
    """Best float32 GEMM rate (FLOP/s) over the given (M, K, N) shapes, measured now."""
    rng = np.random.default_rng(0)
    best = 0.0
    for m, k, n in shapes:
        a, b = rng.random((m, k), dtype=dtype), rng.random((k, n), dtype=dtype)
        out = np.empty((m, n), dtype=dtype)
        np.matmul(a, b, out=out)
        calls = max(1, int(seconds / max(_time_once(a, b, out), 1e-6)))
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                np.matmul(a, b, out=out)
            best = max(best, 2.0 * m * k * n * calls / (time.perf_counter() - start))
    return best


def _time_once(a, b, out):
    start = time.perf_counter()
    np.matmul(a, b, out=out)
    return time.perf_counter() - start
