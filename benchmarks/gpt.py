"""One GPT training step, manualnet against nanoGPT's model in PyTorch CPU, and where each side's time goes.

    python -m benchmarks.gpt [--pairs 10] [--threads 2] [--out benchmarks/results/gpt-latest.json]

The step is nanoGPT's at its laptop-CPU configuration
(``manualnet.train_gpt.SHAKESPEARE_CPU``: 4 layers, 4 heads, 128 wide, block
64, batch 12, vocabulary 76 as the Shakespeare corpus's): forward, cross-
entropy, backward, gradient clipping, AdamW.  Both sides run float32 with the
same number of BLAS threads (threadpoolctl for NumPy's OpenBLAS,
``torch.set_num_threads`` for torch), from the same weights (``to_torch``), on
the same batches.  ``step_times`` alternates the two in pairs (which goes first
alternates too), so a change in the machine's load hits both; the ratio is
the median of the pairs' ratios.  ``breakdown`` splits manualnet's step by
wrapping the layers' methods with timers (attention, LayerNorm, GELU, matrix
products, softmax, ...) and torch's with its profiler, grouping its
operators the same way.  ``attention_memory`` counts the attention matrices
(B, H, T, T) each side keeps for the backward.
"""

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import manualnet as mn
from manualnet.models.gpt import GPT
from manualnet.nn.modules._attention import Attention
from manualnet.interop.nanogpt import TorchTrainer
from manualnet.train_gpt import SHAKESPEARE_CPU, ManualnetTrainer, get_batch, gpt_arguments

from .machine import environment

VOCAB = 76                      # the characters of manualnet.datasets.load_shakespeare_corpus()
RESULTS = Path(__file__).resolve().parent / "results"
WORKLOAD = "one nanoGPT training step: B=12, T=64, 4 layers, 4 heads, C=128, V=76, float32"


def contestants(torch, config=SHAKESPEARE_CPU, seed=0, batches=8):
    """(manualnet trainer, torch trainer, batches): the same initial weights and the same random batches."""
    from manualnet.interop.pytorch import to_torch
    model = GPT(vocab_size=VOCAB, **gpt_arguments(config), rng=seed)
    twin = to_torch(model)
    rng = np.random.default_rng(seed)
    data = rng.integers(0, VOCAB, 100_000)
    return (ManualnetTrainer(model, config), TorchTrainer(twin, config),
            [get_batch(data, config, rng) for _ in range(batches)])


def step_times(torch, pairs=10, steps=3, config=SHAKESPEARE_CPU):
    """Seconds per step of each side, ``steps`` steps per turn, ``pairs`` interleaved turns; and their ratios."""
    ours, theirs, batches = contestants(torch, config)
    for trainer in (ours, theirs):                   # warm-up: caches, thread pools, first allocations
        for x, y in batches[:2]:
            trainer.step(x, y, config.learning_rate)
    seconds = {"manualnet": [], "torch": []}
    for pair in range(pairs):
        order = [("manualnet", ours), ("torch", theirs)][::1 if pair % 2 == 0 else -1]
        for name, trainer in order:
            start = time.perf_counter()
            for index in range(steps):
                x, y = batches[(pair * steps + index) % len(batches)]
                trainer.step(x, y, config.learning_rate)
            seconds[name].append((time.perf_counter() - start) / steps)
    ratios = [a / b for a, b in zip(seconds["manualnet"], seconds["torch"])]
    return {"seconds": {name: _spread(values) for name, values in seconds.items()}, "ratio": _spread(ratios)}


def _spread(values):
    return {"median": float(np.median(values)), "min": float(np.min(values)), "max": float(np.max(values)),
            "runs": len(values)}


# -- where the time goes --------------------------------------------------------------------------------

PIECES = {    # label: (class, method) wrapped with a timer; nested pieces are subtracted from their parent
    "matrix products (Linear forward and backward)": [(mn.Linear, "forward"), (mn.Linear, "backward")],
    "attention: QKᵀ, mask, PV and back (softmax apart)": [(Attention, "_attend"), (Attention, "_attend_backward")],
    "softmax (attention's forward)": [("softmax_rows", None)],
    "LayerNorm": [(mn.LayerNorm, "forward"), (mn.LayerNorm, "backward")],
    "GELU": [(mn.GELU, "forward"), (mn.GELU, "backward")],
    "embeddings": [(mn.Embedding, "forward"), (mn.Embedding, "backward")],
    "cross-entropy": [(mn.CrossEntropyLoss, "forward"), (mn.CrossEntropyLoss, "backward")],
    "gradient clipping": [("clip_grad_norm_", None)],
    "AdamW step": [(mn.optim.AdamW, "step")],
}


def breakdown(torch, steps=10, config=SHAKESPEARE_CPU):
    """{side: {"total_ms": per step, "pieces_ms": {label: per step}}} for manualnet and torch."""
    return {"manualnet": _manualnet_breakdown(steps, config), "torch": _torch_breakdown(torch, steps, config)}


def _manualnet_breakdown(steps, config):
    from manualnet import train_gpt
    from manualnet.nn.modules import _attention
    spent, stack, restore = defaultdict(float), [], []

    def timed(function, label):
        def wrapper(*args, **kwargs):
            stack.append(0.0)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                inner = stack.pop()
                spent[label] += elapsed - inner              # its own time, without the pieces inside it
                if stack:
                    stack[-1] += elapsed
        return wrapper

    homes = {"softmax_rows": _attention, "clip_grad_norm_": train_gpt}
    for label, targets in PIECES.items():
        for owner, name in targets:
            if name is None:
                owner, name = homes[owner], owner
            restore.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, timed(getattr(owner, name), label))
    try:
        model = GPT(vocab_size=VOCAB, **gpt_arguments(config), rng=0)
        ours = ManualnetTrainer(model, config)
        rng = np.random.default_rng(0)
        data = rng.integers(0, VOCAB, 100_000)
        batches = [get_batch(data, config, rng) for _ in range(steps)]
        ours.step(*batches[0], config.learning_rate)
        spent.clear()
        start = time.perf_counter()
        for x, y in batches:
            ours.step(x, y, config.learning_rate)
        total = time.perf_counter() - start
    finally:
        for owner, name, original in reversed(restore):
            if original is None:
                delattr(owner, name)                         # it was inherited
            else:
                setattr(owner, name, original)
    pieces = {label: 1000 * seconds / steps for label, seconds in spent.items()}
    pieces["everything else (Python, residual adds, head splits, checks)"] = 1000 * total / steps - sum(pieces.values())
    return {"total_ms": 1000 * total / steps, "pieces_ms": pieces}


TORCH_GROUPS = (   # (label, substrings of aten operator names), first match wins
    ("attention: QKᵀ, mask, PV and back (softmax apart)", ("scaled_dot_product", "flash_attention")),
    ("softmax (attention's forward)", ("softmax",)),
    ("LayerNorm", ("layer_norm",)),
    ("GELU", ("gelu",)),
    ("matrix products (Linear forward and backward)", ("addmm", "aten::mm", "aten::bmm", "aten::linear")),
    ("embeddings", ("embedding",)),
    ("cross-entropy", ("cross_entropy", "nll_loss", "log_softmax")),
    ("gradient clipping", ("norm", "clamp", "foreach_mul")),
    ("AdamW step", ("adam", "foreach", "lerp", "addcdiv", "addcmul", "sqrt")),
)


def _torch_breakdown(torch, steps, config):
    """torch's self CPU time per operator, grouped as manualnet's pieces (the profiler's own overhead included)."""
    _, theirs, batches = contestants(torch, config, batches=steps)
    theirs.step(*batches[0], config.learning_rate)
    from torch.profiler import ProfilerActivity, profile
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for x, y in batches:
            theirs.step(x, y, config.learning_rate)
    total = time.perf_counter() - start
    pieces = defaultdict(float)
    for event in profiler.key_averages():
        label = next((label for label, names in TORCH_GROUPS if any(n in event.key for n in names)),
                     "everything else (Python, residual adds, head splits, checks)")
        pieces[label] += event.self_cpu_time_total / 1000 / steps
    return {"total_ms": 1000 * total / steps, "pieces_ms": dict(pieces), "note": "measured under torch.profiler"}


# -- memory ----------------------------------------------------------------------------------------------

def attention_memory(config=SHAKESPEARE_CPU):
    """Bytes of the (B, H, T, T) matrices manualnet keeps for backward after one forward, and what flash attention keeps."""
    model = GPT(vocab_size=VOCAB, **gpt_arguments(config), rng=0)
    x, _ = get_batch(np.random.default_rng(0).integers(0, VOCAB, 10_000), config, np.random.default_rng(1))
    model(x)
    kept = sum(block.attn.probs.nbytes + (0 if block.attn.keep is None else block.attn.keep.nbytes)
               for block in model.transformer.h)
    one = config.batch_size * config.n_head * config.block_size ** 2 * 4
    return {"manualnet_kept_bytes": kept, "per_layer_bytes": one, "layers": config.n_layer,
            "manualnet_peak_transient_bytes_per_layer": 2 * one,
            "torch_flash_kept_bytes": config.n_layer * config.batch_size * config.n_head * config.block_size * 4,
            "note": ("manualnet keeps P = softmax(s QKᵀ + M), (B, H, T, T) float32, per layer (and dropout's mask "
                     "when dropout > 0); forward holds the scores and P at once, backward dP and dS. PyTorch's CPU "
                     "flash attention keeps only each row's log-sum-exp, (B, H, T), and recomputes P in backward.")}


def same_threads(torch, threads):
    """Both sides on ``threads`` BLAS threads: torch's setting, NumPy's OpenBLAS, and manualnet's own choice."""
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(threads)
    mn.set_num_threads(threads)
    return threadpool_limits(threads, user_api="blas")


def gpt_report(torch, budget):
    """``make bench``'s GPT section: the step at one thread and at every core, each side on the same threads;
    the breakdown and the attention memory at one thread."""
    rows = []
    for threads in sorted({1, os.cpu_count() or 1}):
        with same_threads(torch, threads):
            rows.append({"threads": threads, **step_times(torch, budget["gpt_pairs"], budget["gpt_steps"])})
    with same_threads(torch, 1):
        pieces = breakdown(torch, budget["gpt_breakdown_steps"])
    mn.set_num_threads(None)
    return {"workload": WORKLOAD, "rows": rows, "breakdown": pieces, "attention_memory": attention_memory()}


def gpt_targets(report, add):
    """One training step within 1.5× PyTorch CPU eager on the same threads."""
    for row in report["gpt"]["rows"]:
        add(f"GPT step manualnet / PyTorch, {row['threads']} thread{'s' * (row['threads'] > 1)}",
            row["ratio"]["median"], 1.5)


def gpt_lines(section):
    """The section as text: each thread count's step times and ratio, where manualnet's step goes, the memory."""
    lines = ["", f"GPT ({section['workload']}):"]
    for row in section["rows"]:
        lines.append(f"  {row['threads']} thread(s): manualnet {1000 * row['seconds']['manualnet']['median']:.1f} ms, "
                     f"torch {1000 * row['seconds']['torch']['median']:.1f} ms, ratio {row['ratio']['median']:.2f} "
                     f"(min {row['ratio']['min']:.2f}, max {row['ratio']['max']:.2f})")
    for side, parts in section["breakdown"].items():
        lines.append(f"  where {side}'s {parts['total_ms']:.1f} ms go (1 thread): " + ", ".join(
            f"{label} {ms:.1f}" for label, ms in sorted(parts["pieces_ms"].items(), key=lambda item: -item[1])))
    memory = section["attention_memory"]
    lines.append(f"  attention matrices kept for backward: manualnet {memory['manualnet_kept_bytes'] / 2**20:.2f} MiB, "
                 f"torch's flash attention {memory['torch_flash_kept_bytes'] / 2**10:.0f} KiB")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description="GPT training step: manualnet vs PyTorch CPU")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3, help="steps per turn of a pair")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--breakdown-steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpt-latest.json")
    args = parser.parse_args(argv)
    import torch
    with same_threads(torch, args.threads):
        report = {"workload": WORKLOAD,
                  "threads": args.threads, "environment": environment(torch),
                  "step": step_times(torch, args.pairs, args.steps),
                  "breakdown": breakdown(torch, args.breakdown_steps), "attention_memory": attention_memory()}
    step = report["step"]
    print(f"GPT step ({report['workload']}), {args.threads} threads, {report['environment']['cpu']}:")
    print(f"  manualnet {1000 * step['seconds']['manualnet']['median']:.1f} ms, torch "
          f"{1000 * step['seconds']['torch']['median']:.1f} ms, ratio {step['ratio']['median']:.2f} "
          f"(min {step['ratio']['min']:.2f}, max {step['ratio']['max']:.2f} over {step['ratio']['runs']} pairs)")
    for side, parts in report["breakdown"].items():
        print(f"  where {side}'s {parts['total_ms']:.1f} ms go:")
        for label, ms in sorted(parts["pieces_ms"].items(), key=lambda item: -item[1]):
            print(f"    {ms:7.2f} ms  {label}")
    memory = report["attention_memory"]
    print(f"  attention matrices kept for backward: manualnet {memory['manualnet_kept_bytes'] / 2**20:.2f} MiB "
          f"({memory['layers']} × {memory['per_layer_bytes'] / 2**20:.2f} MiB), torch's flash attention "
          f"{memory['torch_flash_kept_bytes'] / 2**10:.0f} KiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
