"""``python -m manualnet train``: the study notes' last program, run for real, one line per epoch."""

import os
import time

import numpy as np

from manualnet._progress import ProgressBar
from manualnet.nn import CrossEntropyLoss
from manualnet.serialization import save
from manualnet.train import (EPOCH_LINE, EVAL_BATCH_SIZE, Diverged, accuracy_line, check_not_diverged,
                             confusion_matrix, func_eval, mean_loss, train_one_epoch)
from manualnet.utils.data import DataLoader, TensorDataset

from . import gpt
from .choices import (DATASETS, DEFAULT_BATCH_SIZE, DEFAULT_HIDDEN, DEFAULT_LR, MODELS, SCHEDULES, SGD_MOMENTUM,
                      check_data_dir, load_dataset, make_optimizer)
from .common import (PROG, UsageError, add_threads_option, check_output, non_negative_int, positive_int,
                     positive_number)
from .plot import PLOT_FORMATS, import_figure, plot_history


def add_command(commands):
    train = commands.add_parser("train", help="train a model on handwritten digits, one line per epoch (or a GPT "
                                              "on Shakespeare)",
                                description="Train the study notes' MLP with the notes' loop, or nanoGPT's "
                                            "character-level GPT (--model gpt --dataset shakespeare).")
    train.add_argument("--dataset", choices=(*DATASETS, "shakespeare"), default="digits",
                       help="; ".join(f"{name}: {entry.help}" for name, entry in DATASETS.items())
                            + "; shakespeare: eight plays as one text, for --model gpt (downloaded once, 5.4 MB)")
    train.add_argument("--data-dir", metavar="DIR", help="for mnist: a folder holding the four MNIST IDX files "
                                                         "(raw or .gz), read as they are, instead of the cache; "
                                                         "for shakespeare: a folder holding the plays' files")
    train.add_argument("--model", choices=(*MODELS, "gpt"), default="mlp",
                       help="; ".join(f"{name}: {entry.help}" for name, entry in MODELS.items())
                            + "; gpt: nanoGPT's character-level transformer (--dataset shakespeare)")
    train.add_argument("--hidden", type=positive_int, metavar="N",
                       help="hidden units (default: " + ", ".join(
                           f"{entry.default_hidden or DEFAULT_HIDDEN} for {name}" for name, entry in MODELS.items()) + ")")
    train.add_argument("--epochs", type=positive_int, metavar="N",
                       help="passes over the training set (default: " + ", ".join(
                           f"{entry.default_epochs} on {name}" for name, entry in DATASETS.items()) + ")")
    train.add_argument("--batch-size", type=positive_int, metavar="N",
                       help=f"samples per step (default {DEFAULT_BATCH_SIZE}; gpt: {gpt.SHAKESPEARE_CPU.batch_size} "
                            "blocks)")
    train.add_argument("--optimizer", choices=("sgd", "adam"),
                       help=f"adam (default) or sgd (with momentum {SGD_MOMENTUM})")
    train.add_argument("--lr", type=positive_number, metavar="X",
                       help=f"learning rate (default {DEFAULT_LR['adam']} for adam, {DEFAULT_LR['sgd']} for sgd; "
                            f"the lstm model's adam: {MODELS['lstm'].default_lr['adam']})")
    train.add_argument("--schedule", choices=tuple(SCHEDULES),
                       help="the learning rate over the run: constant, or cosine (CosineAnnealingLR with T_max = "
                            "--epochs, stepped after each epoch: from --lr down towards 0 along a half cosine); "
                            "default: " + ", ".join(f"{entry.default_schedule} for {name}"
                                                    for name, entry in MODELS.items()))
    train.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                       help="seed for the initial weights and the shuffling (default 0): "
                            "the same seed prints the same numbers")
    train.add_argument("--save", metavar="PATH", help="save the trained model here (.npz)")
    train.add_argument("--plot", metavar="PATH",
                       help="draw loss and accuracy per epoch into PATH, as PNG, PDF or SVG by its extension "
                            "(needs matplotlib: pip install 'manualnet[plot]')")
    gpt.add_train_arguments(train)
    add_threads_option(train)
    train.set_defaults(run=run_train)


def run_train(args):
    prog = f"{PROG} train"
    if args.model == "gpt" or args.dataset == "shakespeare":
        return gpt.run_train(args)
    for option in ("iters", "eval_interval", "eval_iters"):
        if getattr(args, option) is not None:
            raise UsageError(prog, f"--{option.replace('_', '-')} is an option of --model gpt; the image models "
                                   "count --epochs")
    args.optimizer = args.optimizer or "adam"
    args.batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    dataset, model_entry = DATASETS[args.dataset], MODELS[args.model]
    check_data_dir(prog, args, args.dataset)
    for option, path, formats in (("--save", args.save, None), ("--plot", args.plot, PLOT_FORMATS)):
        if path is not None:
            check_output(prog, option, path, formats)
    if args.save is not None and args.plot is not None and os.path.abspath(args.save) == os.path.abspath(args.plot):
        raise UsageError(prog, f"--save and --plot name the same file {args.save}")
    figure_class = import_figure() if args.plot is not None else None
    epochs = args.epochs or dataset.default_epochs
    lr = args.lr or (model_entry.default_lr or DEFAULT_LR)[args.optimizer]
    args.hidden = args.hidden or model_entry.default_hidden or DEFAULT_HIDDEN
    schedule_name = args.schedule or model_entry.default_schedule

    init_rng, shuffle_rng = np.random.default_rng(args.seed).spawn(2)   # two independent streams
    try:
        model = model_entry.build(dataset.image_shape, dataset.num_classes, args, init_rng)
    except MemoryError as error:
        raise UsageError(prog, f"not enough memory for the model ({error}); try a smaller --hidden") from None
    (x_train, y_train), (x_test, y_test) = load_dataset(args.dataset, args)
    sample_shape = model_entry.input_shape(dataset.image_shape)
    x_train, x_test = x_train.reshape(-1, *sample_shape), x_test.reshape(-1, *sample_shape)
    criterion = CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), lr)
    schedule = SCHEDULES[schedule_name](optimizer, epochs)
    train_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size,
                            shuffle=True, rng=shuffle_rng)
    train_eval_iter = DataLoader(TensorDataset(x_train, y_train), batch_size=EVAL_BATCH_SIZE)
    test_iter = DataLoader(TensorDataset(x_test, y_test), batch_size=EVAL_BATCH_SIZE)

    setting = (f"{args.optimizer} lr={lr}" + (f" ({schedule_name} over {epochs} epoch{'s' * (epochs != 1)})" if schedule else "")
               + f", batch size {args.batch_size}, seed {args.seed}")
    print(f"training {model.describe()} on {args.dataset}: {len(x_train)} training and "
          f"{len(x_test)} test images, {setting}", flush=True)
    history = {"loss": [], "train_accr": [], "test_accr": [], "test_loss": []}
    start = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # a blow-up is reported as one line
            for epoch in range(epochs):
                progress = ProgressBar(len(train_iter), f"epoch {epoch}")
                loss_val_avg = train_one_epoch(model, criterion, optimizer, train_iter, progress, epoch)
                if schedule is not None:
                    schedule.step()
                train_accr = func_eval(model, train_eval_iter)
                test_accr = func_eval(model, test_iter)
                print(EPOCH_LINE % (epoch, loss_val_avg, train_accr, test_accr), flush=True)
                for key, value in zip(history, (loss_val_avg, train_accr, test_accr)):
                    history[key].append(value)
                if figure_class is not None:
                    history["test_loss"].append(mean_loss(model, criterion, test_iter))
                check_not_diverged(loss_val_avg, dataset.num_classes, epoch)
    except Diverged as error:
        raise Diverged(f"training diverged: {error}; lr={lr:g} is too large for {args.optimizer} here — "
                       f"try --lr {lr / 10:g} or smaller (nothing was saved)") from None
    seconds = time.perf_counter() - start

    if args.save is not None:
        save(model, args.save)
        print(f"saved the model to {args.save}")
    if args.plot is not None:
        title = f"{model.describe()} on {args.dataset}: {setting}"
        plot_history(figure_class, history, args.plot, title)
        print(f"plotted loss and accuracy to {args.plot}")
    print(f"done: {epochs} epochs in {seconds:.2f} s")
    print(accuracy_line(confusion_matrix(model, test_iter, dataset.num_classes)))
    return 0
