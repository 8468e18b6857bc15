"""Peak memory and import cost, each measured in a fresh Python process.

``python -m benchmarks.memory epoch manualnet|torch BATCH OPTIMIZER SAMPLES`` trains one epoch
and prints a JSON line with the peak RSS; ``python -m benchmarks.memory import manualnet``
(or ``numpy``) prints the wall and CPU time and the peak RSS of the import.  The runner calls these
as subprocesses so one contestant's memory never counts against another's.
"""

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

BYTECODE_CACHE = os.path.join(tempfile.gettempdir(), "manualnet-benchmark-bytecode")


def peak_rss_mib():
    """This process's peak resident set (VmHWM).

    Not ``getrusage``'s ru_maxrss: Linux carries that across exec from the
    parent that forked us, so a child of a big runner would report the runner's peak.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024                  # kB -> MiB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def measure_import(module):
    """Wall and CPU seconds of ``import module`` (manualnet, or numpy alone), and the peak RSS after it."""
    wall, cpu = time.perf_counter(), time.process_time()
    importlib.import_module(module)
    return {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
            "peak_rss_mib": peak_rss_mib()}


def measure_epoch(framework, batch_size, optimizer, samples):
    import numpy as np

    from .training import ManualnetRun, TorchRun, mnist_like

    x, y = mnist_like(samples, np.random.default_rng(0))
    sizes, lr = (784, 256, 10), (0.1 if optimizer == "sgd" else 1e-3)
    if framework == "torch":
        import torch
        torch.set_num_threads(len(os.sched_getaffinity(0)))
        run = TorchRun(torch, x, y, sizes, optimizer, lr, batch_size, seed=0)
    else:
        run = ManualnetRun(x, y, sizes, optimizer, lr, batch_size, seed=0)
    before = peak_rss_mib()
    run.epoch()
    return {"framework": framework, "peak_rss_mib": peak_rss_mib(), "before_epoch_mib": before}


def in_subprocess(*args):
    """Run this module with ``args`` in a fresh interpreter; return its JSON result.

    Bytecode is cached (in a folder of its own, not the repository's) as an
    installed package's is: where PYTHONDONTWRITEBYTECODE is set, every import
    would otherwise compile manualnet's sources anew.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = BYTECODE_CACHE
    output = subprocess.run([sys.executable, "-m", "benchmarks.memory", *map(str, args)],
                            check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv):
    if argv[0] == "import":
        result = measure_import(argv[1])
    else:
        framework, batch_size, optimizer, samples = argv[1], int(argv[2]), argv[3], int(argv[4])
        result = measure_epoch(framework, batch_size, optimizer, samples)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
