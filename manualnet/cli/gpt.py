"""``train --model gpt --dataset shakespeare`` and ``sample MODEL.npz``: nanoGPT's character model, by hand.

``train`` runs ``manualnet.train_gpt``'s loop (nanoGPT's train.py) at
nanoGPT's laptop-CPU configuration (``SHAKESPEARE_CPU``: 4 layers, 4 heads,
128 wide, block 64, batch 12, AdamW lr 1e-3 cosine-decayed to 1e-4) on the
Shakespeare corpus, printing nanoGPT's line at every evaluation
``step 250: train loss 2.0134, val loss 2.0821`` and a progress bar on a
terminal.  ``--save`` writes nanoGPT's checkpoint after the last iteration;
``sample`` reads it back and prints text.
"""

import time

from manualnet.datasets import load_shakespeare_corpus
from manualnet.models import GPT
from manualnet._progress import ProgressBar
from manualnet.train_gpt import (SHAKESPEARE_CPU, ManualnetTrainer, gpt_arguments, load_checkpoint, sample,
                                 save_checkpoint, train_gpt)

from .common import PROG, UsageError, check_output, non_negative_int, positive_int, positive_number

# train's options that mean something for the image models only, and why the GPT has none.
IMAGE_ONLY = {"epochs": "--iters", "hidden": "the GPT's sizes are nanoGPT's (4 layers, 4 heads, 128 wide)",
              "optimizer": "the GPT trains with nanoGPT's AdamW", "schedule": "the GPT's lr is nanoGPT's cosine",
              "plot": "--plot draws the image models' per-epoch curves"}
SAMPLE_CHARACTERS = 200          # shown after training


def add_train_arguments(train):
    """The options of ``train`` that only the GPT reads."""
    train.add_argument("--iters", type=positive_int, metavar="N",
                       help=f"gpt: training iterations (default {SHAKESPEARE_CPU.max_iters}, nanoGPT's)")
    train.add_argument("--eval-interval", type=positive_int, metavar="N",
                       help=f"gpt: estimate the train and val loss every N iterations "
                            f"(default {SHAKESPEARE_CPU.eval_interval})")
    train.add_argument("--eval-iters", type=positive_int, metavar="N",
                       help=f"gpt: batches of each split per estimate (default {SHAKESPEARE_CPU.eval_iters})")


def run_train(args):
    """Train the GPT on the Shakespeare corpus; print nanoGPT's evaluation lines, then a sample."""
    prog = f"{PROG} train"
    if (args.model == "gpt") != (args.dataset == "shakespeare"):
        raise UsageError(prog, "the gpt model reads the shakespeare dataset, and only it reads it: "
                               "give both --model gpt and --dataset shakespeare")
    for option, instead in IMAGE_ONLY.items():
        if getattr(args, option) is not None:
            raise UsageError(prog, f"--{option} is not an option of --model gpt ({instead})")
    if args.save is not None:
        check_output(prog, "--save", args.save)
    lr = args.lr or SHAKESPEARE_CPU.learning_rate
    config = SHAKESPEARE_CPU.with_(
        max_iters=args.iters or SHAKESPEARE_CPU.max_iters,
        lr_decay_iters=args.iters or SHAKESPEARE_CPU.lr_decay_iters,
        eval_interval=args.eval_interval or SHAKESPEARE_CPU.eval_interval,
        eval_iters=args.eval_iters or SHAKESPEARE_CPU.eval_iters,
        batch_size=args.batch_size or SHAKESPEARE_CPU.batch_size,
        learning_rate=lr, min_lr=lr / 10)                        # nanoGPT decays to a tenth
    corpus = (load_shakespeare_corpus(args.data_dir) if args.data_dir is not None
              else load_shakespeare_corpus(download=True))
    model = GPT(vocab_size=corpus.tokenizer.vocab_size, **gpt_arguments(config), rng=args.seed)
    trainer = ManualnetTrainer(model, config)
    print(f"training {model.describe()} on shakespeare: {len(corpus.train):,} training and {len(corpus.val):,} "
          f"validation characters, a vocabulary of {corpus.tokenizer.vocab_size}; AdamW lr={config.learning_rate:g} "
          f"(cosine to {config.min_lr:g}), batch size {config.batch_size}, {config.max_iters} iterations, "
          f"seed {args.seed}", flush=True)
    progress = ProgressBar(config.max_iters + 1, "iter")

    def report(event):
        if "val" in event:
            progress.close()
            print(f"step {event['iter']}: train loss {event['train']:.4f}, val loss {event['val']:.4f}", flush=True)
        else:
            progress.show(event["iter"] + 1)

    start = time.perf_counter()
    try:
        result = train_gpt(trainer, corpus.train, corpus.val, config, rng=args.seed, progress=report)
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    if args.save is not None:
        final = result["evaluations"][-1]
        save_checkpoint(args.save, trainer, corpus.tokenizer, config, config.max_iters, final)
        print(f"saved the model to {args.save} ({PROG} sample {args.save} prints text)")
    print(f"done: {config.max_iters} iterations in {seconds:.1f} s "
          f"({1e3 * seconds / (config.max_iters + 1):.0f} ms per iteration)")
    print("sample:\n" + sample(model, corpus.tokenizer, tokens=SAMPLE_CHARACTERS, rng=args.seed))
    return 0


def add_command(commands):
    command = commands.add_parser("sample", help="print text from a GPT saved by train --model gpt --save",
                                  description="Print text from a character-level GPT checkpoint.")
    command.add_argument("path", metavar="MODEL.npz", help="a checkpoint written by train --model gpt --save")
    command.add_argument("--prompt", default="\n", help="the text to continue (default: a new line); every "
                                                         "character must occur in the training text")
    command.add_argument("--tokens", type=positive_int, default=300, metavar="N",
                         help="characters to generate (default 300)")
    command.add_argument("--temperature", type=positive_number, default=1.0, metavar="X",
                         help="divides the logits before the softmax: below 1 sharper, above 1 flatter (default 1)")
    command.add_argument("--top-k", type=positive_int, metavar="K",
                         help="draw only among the K likeliest characters (default: all)")
    command.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                         help="seed of the draws (default 0): the same seed prints the same text")
    command.set_defaults(run=run_sample)


def run_sample(args):
    model, tokenizer = load_checkpoint(args.path)
    if not args.prompt:
        raise UsageError(f"{PROG} sample", "--prompt: expected at least one character to continue")
    tokenizer.encode(args.prompt)               # a character outside the vocabulary is named before any work
    print(sample(model, tokenizer, args.prompt, args.tokens, args.temperature, args.top_k, rng=args.seed))
    return 0
