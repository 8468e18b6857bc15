"""The study notes' MNIST experiment, twice in one run: manualnet's MLP and the notes' own PyTorch program.

    make bench-mnist                           # 10 epochs each, the README's table
    python -m benchmarks.mnist_notes --epochs 10 [--threads N] [--samples N] [--out PATH]

Both train the notes' ``MultiLayerPerceptronClass`` (784-256-10, ``init_param()``:
Kaiming-normal weights, zero biases) with Adam, lr 1e-3, on shuffled batches of
64 of the real MNIST (the verified cache, downloaded on first use), and end
each epoch with the notes' ``func_eval`` on the training and the test set.

* manualnet runs the code of ``make mnist`` (``python -m manualnet train
  --dataset mnist``): ``manualnet.train.train_one_epoch`` and ``func_eval``;
* PyTorch runs the notes' program line for line (004: the loop with
  ``loss_out.backward()``, ``loss_val_sum += loss_out``, ``view(-1, 28*28)``;
  ``func_eval`` in eval mode under ``torch.no_grad()``), with torch's
  ``DataLoader`` over the same pixels as (N, 1, 28, 28) tensors.  The notes
  read MNIST through torchvision's ``MNIST`` with ``ToTensor()``;
  torchvision is not a dependency here, and its per-image transform would
  only slow PyTorch down.

The two programs alternate epoch by epoch, who goes first alternating, so a
slow moment of a shared machine hits both.  For every epoch the JSON records
the notes' numbers (mean loss, train and test accuracy) and the seconds of the
training pass and of the two evaluations.  ``--threads N`` fixes manualnet's BLAS
threads (``mn.num_threads``) and torch's at N; the JSON records what was used.
``--readme JSON`` prints the README's table and machine line from a run's JSON
(``readme_block``); tests/test_mnist_notes_benchmark.py checks the README holds
exactly that for ``results/mnist-notes-readme-run.json``.
"""

import argparse
import contextlib
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from manualnet import datasets, num_threads, optim
from manualnet.train import EPOCH_LINE, EVAL_BATCH_SIZE, func_eval, train_one_epoch
from manualnet.interop.pytorch import notes_mlp_class
from manualnet.utils.data.dataloader import DataLoader
from manualnet.utils.data.dataset import TensorDataset
from manualnet.nn.modules.loss import CrossEntropyLoss
from manualnet.models.mlp import MLP
from manualnet._progress import ProgressBar

from . import machine

RESULTS = Path(__file__).resolve().parent / "results"
LATEST = RESULTS / "mnist-notes-latest.json"
README_RUN = RESULTS / "mnist-notes-readme-run.json"
BATCH_SIZE, LR, SEED = 64, 1e-3, 0
TORCH_LABEL = "PyTorch (the notes' program)"


# -- manualnet: the code of `make mnist` ------------------------------------------------

class ManualnetProgram:
    name = "manualnet"

    def __init__(self, x_train, y_train, x_test, y_test):
        init_rng, shuffle_rng = np.random.default_rng(SEED).spawn(2)     # as `python -m manualnet train`
        self.model = MLP(xdim=784, hdim=256, ydim=10, rng=init_rng)
        self.criterion = CrossEntropyLoss()
        self.optimizer = optim.Adam(self.model.parameters(), lr=LR)
        self.train_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH_SIZE, shuffle=True,
                                     rng=shuffle_rng)
        self.train_eval_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=EVAL_BATCH_SIZE)
        self.test_iter = DataLoader(TensorDataset(x_test, y_test), batch_size=EVAL_BATCH_SIZE)

    def train_epoch(self, epoch):
        progress = ProgressBar(len(self.train_iter), f"manualnet epoch {epoch}")
        return train_one_epoch(self.model, self.criterion, self.optimizer, self.train_iter, progress, epoch)

    def evaluate(self):
        return func_eval(self.model, self.train_eval_iter), func_eval(self.model, self.test_iter)


# -- PyTorch: the notes' own program -------------------------------------------------------

class NotesTorchProgram:
    name = TORCH_LABEL

    def __init__(self, torch, x_train, y_train, x_test, y_test):
        self.torch = torch
        nn, optim_ = torch.nn, torch.optim
        torch.manual_seed(SEED)
        images = lambda x: torch.from_numpy(x.reshape(-1, 1, 28, 28))           # what ToTensor() gives
        data = torch.utils.data
        self.train_iter = data.DataLoader(data.TensorDataset(images(x_train), torch.from_numpy(y_train)),
                                          batch_size=BATCH_SIZE, shuffle=True)
        self.test_iter = data.DataLoader(data.TensorDataset(images(x_test), torch.from_numpy(y_test)),
                                         batch_size=BATCH_SIZE)
        self.device = torch.device("cpu")
        self.M = notes_mlp_class()(name="mlp", xdim=784, hdim=256, ydim=10).to(self.device)
        self.loss = nn.CrossEntropyLoss()
        self.optm = optim_.Adam(self.M.parameters(), lr=LR)
        self.M.init_param()
        self.M.train()

    def train_epoch(self, epoch):
        M, loss, optm, device = self.M, self.loss, self.optm, self.device
        loss_val_sum = 0
        for batch_in, batch_out in self.train_iter:
            # Forward path
            y_pred = M.forward(batch_in.view(-1, 28 * 28).to(device))
            loss_out = loss(y_pred, batch_out.to(device))
            # Update
            optm.zero_grad()      # reset gradient
            loss_out.backward()   # backpropagate
            optm.step()           # optimizer update
            loss_val_sum += loss_out
        loss_val_avg = loss_val_sum / len(self.train_iter)
        return loss_val_avg.item()

    def evaluate(self):
        return self.func_eval(self.M, self.train_iter, self.device), self.func_eval(self.M, self.test_iter, self.device)

    def func_eval(self, model, data_iter, device):
        with self.torch.no_grad():
            model.eval()  # evaluate (affects DropOut and BN)
            n_total, n_correct = 0, 0
            for batch_in, batch_out in data_iter:
                y_trgt = batch_out.to(device)
                model_pred = model(batch_in.view(-1, 28 * 28).to(device))
                _, y_pred = self.torch.max(model_pred.data, 1)
                n_correct += (y_pred == y_trgt).sum().item()
                n_total += batch_in.size(0)
            val_accr = (n_correct / n_total)
            model.train()  # back to train mode
        return val_accr


# -- the run ---------------------------------------------------------------------------

def run_epoch(program, epoch):
    start = time.perf_counter()
    loss = program.train_epoch(epoch)
    trained = time.perf_counter()
    train_accr, test_accr = program.evaluate()
    return {"epoch": epoch, "loss": loss, "train_accr": train_accr, "test_accr": test_accr,
            "train_seconds": trained - start, "eval_seconds": time.perf_counter() - trained}


def run(epochs, threads=None, samples=None):
    import torch

    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(download=True)
    if samples is not None:
        x_train, y_train = x_train[:samples], y_train[:samples]
    with _thread_limit(torch, threads):
        report = {"environment": machine.environment(torch), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  "settings": {"model": "784-256-10 MLP, Kaiming-normal weights, zero biases", "optimizer": "adam",
                               "lr": LR, "batch_size": BATCH_SIZE, "epochs": epochs, "seed": SEED,
                               "training_images": len(x_train), "test_images": len(x_test),
                               "threads_requested": threads}}
        programs = [ManualnetProgram(x_train, y_train, x_test, y_test),
                    NotesTorchProgram(torch, x_train, y_train, x_test, y_test)]
        records = {program.name: [] for program in programs}
        for epoch in range(epochs):
            order = programs if epoch % 2 == 0 else programs[::-1]
            for program in order:
                row = run_epoch(program, epoch)
                records[program.name].append(row)
                print(f"{program.name:<30} " + EPOCH_LINE % (epoch, row["loss"], row["train_accr"], row["test_accr"])
                      + f" train {row['train_seconds']:.2f} s, eval {row['eval_seconds']:.2f} s", flush=True)
    report["programs"] = records
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    report["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    return report


@contextlib.contextmanager
def _thread_limit(torch, threads):
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with num_threads(threads):
            yield
    finally:
        torch.set_num_threads(before)


# -- the README's table -------------------------------------------------------------------

def readme_block(report):
    """What the README shows of a run: the table, then the machine it ran on."""
    return markdown_table(report) + "\n\n" + machine_line(report)


def machine_line(report):
    env, settings = report["environment"], report["settings"]
    blas = env["numpy_blas"][0] if env["numpy_blas"] else {}
    threads = (f"both capped at {settings['threads_requested']} thread(s)" if settings["threads_requested"]
               else f"NumPy's BLAS with {blas.get('num_threads')} thread(s), PyTorch with {env['torch']['threads']}")
    return (f"Run of {report['started']} ({Path(README_RUN).name}): {env['cpu']}, {env['cores']} cores, shared with "
            f"other jobs (load average {env['load_average'][0]} at the start, {report['load_average_at_end'][0]} at "
            f"the end); NumPy {env['numpy']} with {blas.get('internal_api')} {blas.get('version')}, PyTorch "
            f"{env['torch']['version']} with {env['torch']['blas_info']}, {threads}. Seconds are the training "
            f"pass alone (the evaluations after it are recorded in the JSON); the accuracies are the notes' "
            f"func_eval on the 10,000 test images.")


def markdown_table(report):
    """The README's table: per epoch, test accuracy and training seconds of both programs, and their ratio."""
    ours, theirs = report["programs"]["manualnet"], report["programs"][TORCH_LABEL]
    lines = ["| epoch | manualnet test accuracy | PyTorch test accuracy | manualnet s/epoch | PyTorch s/epoch "
             "| manualnet / PyTorch |",
             "|---|---|---|---|---|---|"]
    for a, b in zip(ours, theirs):
        lines.append(f"| {a['epoch']} | {a['test_accr']:.4f} | {b['test_accr']:.4f} | {a['train_seconds']:.2f} "
                     f"| {b['train_seconds']:.2f} | {a['train_seconds'] / b['train_seconds']:.2f} |")
    ratios = [a["train_seconds"] / b["train_seconds"] for a, b in zip(ours, theirs)]
    lines.append(f"| all | {ours[-1]['test_accr']:.4f} | {theirs[-1]['test_accr']:.4f} "
                 f"| {sum(a['train_seconds'] for a in ours):.1f} total | {sum(b['train_seconds'] for b in theirs):.1f} "
                 f"total | median {statistics.median(ratios):.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs for each program (default 10, as the notes)")
    parser.add_argument("--threads", type=int, help="cap NumPy's BLAS and torch at this many threads")
    parser.add_argument("--samples", type=int, help="train on the first N training images only (a smoke test)")
    parser.add_argument("--out", type=Path, default=LATEST, help=f"the JSON to write (default {LATEST})")
    parser.add_argument("--readme", type=Path, metavar="JSON", help="print the README's block for a run's JSON, run nothing")
    args = parser.parse_args(argv)
    if args.readme:
        print(readme_block(json.loads(args.readme.read_text())))
        return
    report = run(args.epochs, args.threads, args.samples)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(readme_block(report))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
