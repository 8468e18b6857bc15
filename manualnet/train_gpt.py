"""Train a character-level GPT: nanoGPT's ``train.py`` loop, with every backward written out.

``train_gpt(trainer, train_ids, val_ids, config)`` is nanoGPT's loop: random
blocks of ``block_size + 1`` characters (inputs and the next characters),
an estimate of the train and validation losses every ``eval_interval``
iterations (``eval_iters`` batches each, in eval mode), AdamW with nanoGPT's
parameter groups, linear warm-up then cosine decay of the learning rate
(``get_lr``), gradient clipping at ``grad_clip``, a checkpoint whenever the
validation loss improves.  The loop owns the random batches; the
``trainer`` owns the model: ``ManualnetTrainer`` for ``mn.GPT``, and any
object with the same two methods for another implementation, so two models
can be trained from the same batches (examples/gpt_shakespeare.py does so
with PyTorch).

``SHAKESPEARE_CPU`` is nanoGPT's laptop-CPU configuration from its README:
4 layers, 4 heads, 128 wide, block 64, batch 12, 2000 iterations, dropout 0,
lr 1e-3 decayed to 1e-4 (``config/train_shakespeare_char.py`` with the
README's command-line overrides, train.py's defaults for the rest: no
biases, weight decay 0.1, β₂ 0.99, clipping at 1.0).  nanoGPT reports a
validation loss of 1.88 for it on its own Shakespeare text.

    corpus = mn.datasets.load_shakespeare_corpus(download=True)
    model = mn.GPT(vocab_size=corpus.tokenizer.vocab_size, **gpt_arguments(SHAKESPEARE_CPU), rng=0)
    result = train_gpt(ManualnetTrainer(model, SHAKESPEARE_CPU), corpus.train, corpus.val, SHAKESPEARE_CPU)
"""

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from manualnet._grad_mode import no_grad
from manualnet._rng import as_generator
from manualnet.datasets.shakespeare import CharTokenizer
from manualnet.models.gpt import GPT
from manualnet.nn.modules.loss import CrossEntropyLoss
from manualnet.nn.utils.clip_grad import clip_grad_norm_


@dataclass(frozen=True)
class TrainConfig:
    """nanoGPT's train.py settings that the loop reads (its names and meanings)."""

    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    batch_size: int = 12
    dropout: float = 0.0
    bias: bool = False
    max_iters: int = 2000
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 2000
    decay_lr: bool = True
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20

    def with_(self, **changes):
        """A copy with some settings changed (``config.with_(max_iters=100)``)."""
        return replace(self, **changes)


SHAKESPEARE_CPU = TrainConfig()


def gpt_arguments(config):
    """The GPT constructor's arguments a TrainConfig holds (all but vocab_size)."""
    return {name: getattr(config, name) for name in ("block_size", "n_layer", "n_head", "n_embd", "dropout", "bias")}


def get_lr(iteration, config):
    """nanoGPT's schedule: linear warm-up, cosine decay from learning_rate to min_lr, then min_lr."""
    if not config.decay_lr:
        return config.learning_rate
    if iteration < config.warmup_iters:
        return config.learning_rate * (iteration + 1) / (config.warmup_iters + 1)
    if iteration > config.lr_decay_iters:
        return config.min_lr
    decay_ratio = (iteration - config.warmup_iters) / (config.lr_decay_iters - config.warmup_iters)
    coefficient = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return config.min_lr + coefficient * (config.learning_rate - config.min_lr)


def get_batch(data, config, rng):
    """(x, y), each (batch_size, block_size): random blocks of the ids and the same blocks one character on."""
    starts = rng.integers(0, len(data) - config.block_size, config.batch_size)
    offsets = np.arange(config.block_size)
    return data[starts[:, None] + offsets], data[starts[:, None] + offsets + 1]


class ManualnetTrainer:
    """One training step and one evaluation of an ``mn.GPT``: cross-entropy, backward, clipping, AdamW.

    The optimizer is nanoGPT's (``GPT.configure_optimizers``: decay on the
    2-D weights only); ``step(x, y, lr)`` returns the batch's loss before the
    update, ``evaluate(x, y)`` a loss in eval mode with nothing kept for a
    backward.
    """

    def __init__(self, model, config):
        self.model, self.config = model, config
        self.optimizer = model.configure_optimizers(config.weight_decay, config.learning_rate,
                                                    (config.beta1, config.beta2))
        self.criterion = CrossEntropyLoss()

    def step(self, x, y, lr):
        model, criterion = self.model, self.criterion
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad()
        logits = model(x)
        loss = criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        model.backward(criterion.backward().reshape(logits.shape))     # what loss.backward() does in PyTorch
        if self.config.grad_clip:
            clip_grad_norm_(model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return float(loss)

    def evaluate(self, x, y):
        with no_grad():
            logits = self.model(x)
            return float(self.criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)))

    def train(self, mode=True):
        self.model.train(mode)


def estimate_loss(trainer, train_ids, val_ids, config, rng):
    """The mean loss of ``eval_iters`` random batches of each split, in eval mode (nanoGPT's estimate_loss)."""
    trainer.train(False)
    losses = {split: float(np.mean([trainer.evaluate(*get_batch(data, config, rng))
                                    for _ in range(config.eval_iters)]))
              for split, data in (("train", train_ids), ("val", val_ids))}
    trainer.train(True)
    return losses


def train_gpt(trainer, train_ids, val_ids, config=SHAKESPEARE_CPU, rng=0, progress=None, checkpoint=None):
    """nanoGPT's training loop; returns {"evaluations": [...], "losses": [...]}.

    ``rng`` (Generator or seed) draws every batch, training and evaluation,
    in nanoGPT's order, so two trainers given the same seed see the same
    batches.  ``progress(event)`` is called with {"iter", "loss", "lr"}
    after each step and {"iter", "train", "val"} after each evaluation.
    ``checkpoint(iteration, losses)`` is called when the validation loss
    improves (after iteration 0), as nanoGPT saves its checkpoint
    (``save_checkpoint`` below writes one).  As in nanoGPT, the loop runs
    iterations 0 … max_iters and evaluates before the step of each multiple
    of eval_interval, so the last evaluation is at iteration max_iters.
    """
    rng = as_generator(rng)
    evaluations, losses, best_val = [], [], math.inf
    x, y = get_batch(train_ids, config, rng)
    iteration = 0
    while True:
        lr = get_lr(iteration, config)
        if iteration % config.eval_interval == 0:
            estimate = estimate_loss(trainer, train_ids, val_ids, config, rng)
            evaluations.append({"iter": iteration, **estimate})
            if progress:
                progress({"iter": iteration, **estimate})
            if estimate["val"] < best_val:
                best_val = estimate["val"]
                if checkpoint and iteration > 0:
                    checkpoint(iteration, estimate)
        loss = trainer.step(x, y, lr)
        x, y = get_batch(train_ids, config, rng)        # the next batch, drawn right after the forward, as nanoGPT
        losses.append(loss)
        if progress:
            progress({"iter": iteration, "loss": loss, "lr": lr})
        iteration += 1
        if iteration > config.max_iters:
            return {"evaluations": evaluations, "losses": losses}


def save_checkpoint(path, trainer, tokenizer, config, iteration, losses):
    """Write nanoGPT's checkpoint with ``mn.save``: model, optimizer, model_args, iter_num, best_val_loss, config,
    and the tokenizer's characters (``load_checkpoint`` rebuilds the model and the tokenizer)."""
    from manualnet.serialization import save
    save({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(),
          "model_args": trainer.model.config, "iter_num": iteration, "best_val_loss": losses["val"],
          "config": asdict(config), "vocabulary": tokenizer.chars}, path)


def load_checkpoint(path, dtype=np.float32):
    """(model, tokenizer) from a checkpoint ``save_checkpoint`` wrote: ``model.generate`` and
    ``tokenizer.decode`` then sample text."""
    from manualnet.serialization import load
    state = load(path)
    missing = [key for key in ("model", "model_args", "vocabulary") if key not in state]
    if missing:
        raise ValueError(f"{path}: not a GPT checkpoint (one written by train --model gpt --save, or "
                         f"save_checkpoint): it has no {', '.join(missing)}")
    arguments = {name: value.item() if isinstance(value, np.ndarray) else value
                 for name, value in state["model_args"].items()}
    model = GPT(**arguments, dtype=dtype, rng=0)
    model.load_state_dict(state["model"])
    return model, CharTokenizer(str(state["vocabulary"]))


def sample(model, tokenizer, prompt="\n", tokens=300, temperature=1.0, top_k=None, rng=0):
    """``tokens`` characters after ``prompt``, drawn by ``model.generate`` in eval mode; the prompt included."""
    training = model.training
    model.eval()
    ids = model.generate(tokenizer.encode(prompt)[None], tokens, temperature=temperature, top_k=top_k, rng=rng)
    model.train(training)
    return tokenizer.decode(ids[0])
