"""``train --plot``: loss and accuracy per epoch, drawn with matplotlib (the ``plot`` extra)."""

import os
import secrets

import numpy as np

PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}     # --plot's format follows its extension


def import_figure():
    """matplotlib's Figure class, or an ImportError that says which extra to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("--plot needs matplotlib; install the 'plot' extra: "
                          "pip install 'manualnet[plot]'") from None
    return Figure


def plot_history(figure_class, history, path, title):
    """Loss (training and test) and accuracy per epoch, in the format of ``path``'s extension, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator

    figure = figure_class(figsize=(9, 3.8))
    FigureCanvasAgg(figure)                          # no display needed
    epochs = np.arange(len(history["loss"]))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, history["loss"], marker="o", label="train (mean over the epoch's batches)")
    loss_axes.plot(epochs, history["test_loss"], marker="o", label="test (after the epoch)")
    loss_axes.set(title="loss", xlabel="epoch", ylabel="mean cross-entropy")
    loss_axes.legend()
    accuracy_axes.plot(epochs, history["train_accr"], marker="o", label="train")
    accuracy_axes.plot(epochs, history["test_accr"], marker="o", label="test")
    accuracy_axes.set(title="accuracy", xlabel="epoch", ylabel="fraction correct")
    accuracy_axes.legend()
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    file_format = PLOT_FORMATS[os.path.splitext(path)[1].lower()]
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".manualnet-plot-{secrets.token_hex(8)}.tmp")
    # O_EXCL: a file of our own; mode 0o666 lets the umask decide, as for any file the user writes
    # (mkstemp's 0o600 would stay on the plot after the rename).
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            figure.savefig(file, format=file_format)
        os.replace(temporary, path)
    except BaseException:
        os.remove(temporary)
        raise
