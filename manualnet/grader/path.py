"""The learning path: every exercise in order, with its page, its equations, its fixed case and how it runs."""

import difflib

from manualnet import optim
from manualnet.nn import AvgPool2d, MaxPool2d, ReLU, Sigmoid, Softmax

from .cases import (draw_adam, draw_batchnorm, draw_conv2d, draw_cross_entropy, draw_dropout, draw_elementwise,
                    draw_embedding, draw_linear, draw_logistic_regression, draw_lstm_cell, draw_pool,
                    draw_sequential, draw_sgd)
from . import mistakes
from .exercise import Exercise
from .runners import (LayerRun, run_optimizer, setup_activation, setup_batchnorm, setup_conv2d, setup_cross_entropy,
                      setup_dropout, setup_embedding, setup_linear, setup_logistic_regression, setup_lstm_cell,
                      setup_pool, setup_sequential)


def _shape(case):
    return f"x {tuple(case['shape'])}"


def _options(case, *names):
    return ", ".join(f"{name}={case[name]!r}" for name in names)


_LINEAR_EQUATIONS = {"input": ("(2)", "dL/dx"), "weight": ("(3)", "dL/dW"), "bias": ("(4)", "dL/db")}

EXERCISES = (
    Exercise(
        "logistic_regression", "LogisticRegression", "backward", "derivations/logistic_regression.md#backward",
        "(4), (5), (6)",
        {"w": ("(5)", "dL/dw"), "b": ("(6)", "dL/db"), "input": ("(4)", "dL/dz times w (from the model's forward)")},
        "derivations/logistic_regression.md#dimension-check", "002",
        fixed={"batch": 4, "features": 3, "seed": 0}, draw=draw_logistic_regression,
        run=LayerRun(setup_logistic_regression), mistakes=mistakes.LOGISTIC_REGRESSION,
        describe=lambda c: f"x ({c['batch']}, {c['features']}), labels ({c['batch']},), seed {c['seed']}"),
    Exercise(
        "linear", "Linear", "backward", "derivations/linear.md#backward", "(2), (3), (4)", _LINEAR_EQUATIONS,
        "derivations/linear.md#dimension-check", "000, 002",
        fixed={"batch": 4, "in_features": 3, "out_features": 3, "bias": True, "seed": 0}, draw=draw_linear,
        run=LayerRun(setup_linear), mistakes=mistakes.LINEAR,
        describe=lambda c: (f"x ({c['batch']}, {c['in_features']}), "
                            f"Linear({c['in_features']}, {c['out_features']}, bias={c['bias']}), seed {c['seed']}")),
    Exercise(
        "relu", "ReLU", "backward", "derivations/relu.md#backward", "(3), (4)",
        {"input": ("(4)", "dL/dx")},
        "derivations/relu.md#dimension-check", "001, 004",
        fixed={"shape": (4, 3), "seed": 0}, draw=draw_elementwise(),
        run=LayerRun(setup_activation(ReLU, margin=0.01)), mistakes=mistakes.RELU,
        describe=lambda c: f"{_shape(c)}, every entry at least 0.01 from the kink at 0, seed {c['seed']}"),
    Exercise(
        "sigmoid", "Sigmoid", "backward", "derivations/sigmoid.md#backward", "(2), (3)",
        {"input": ("(3)", "dL/dx")},
        "derivations/sigmoid.md#dimension-check", "002",
        fixed={"shape": (4, 3), "seed": 0}, draw=draw_elementwise(),
        run=LayerRun(setup_activation(Sigmoid, scale=3.0)), mistakes=mistakes.SIGMOID,
        describe=lambda c: f"{_shape(c)}, seed {c['seed']}"),
    Exercise(
        "softmax", "Softmax", "backward", "derivations/softmax.md#softmax", "(3), (4)",
        {"input": ("(4)", "dL/dx = Jᵀ G")},
        "derivations/softmax.md#dimension-check", "001",
        fixed={"shape": (4, 3), "dim": -1, "seed": 0}, draw=draw_elementwise(dim=[-1, 0]),
        run=LayerRun(setup_activation(Softmax, scale=2.0, options=("dim",))),
        mistakes=mistakes.SOFTMAX,
        describe=lambda c: f"{_shape(c)}, Softmax({_options(c, 'dim')}), seed {c['seed']}"),
    Exercise(
        "cross_entropy", "CrossEntropyLoss", "backward", "derivations/cross_entropy.md#backward", "(4), (5)",
        {"input": ("(5)", "dL/dz")}, "derivations/cross_entropy.md#dimension-check", "001, 004",
        fixed={"batch": 4, "classes": 3, "reduction": "mean", "seed": 0}, draw=draw_cross_entropy,
        run=LayerRun(setup_cross_entropy), mistakes=mistakes.CROSS_ENTROPY,
        describe=lambda c: (f"logits ({c['batch']}, {c['classes']}), labels ({c['batch']},), "
                            f"CrossEntropyLoss({_options(c, 'reduction')}), seed {c['seed']}")),
    Exercise(
        "sequential", "Sequential", "backward", "derivations/backprop.md#the-chain-sequentialbackward", "(7)",
        {"input": ("(7)", "dL/dx of the first module")}, "derivations/backprop.md#3-a-layer-one-step-of-the-chain-rule",
        "001, 004",
        fixed={"batch": 4, "sizes": (5, 4, 3), "seed": 0}, draw=draw_sequential,
        run=LayerRun(setup_sequential), mistakes=mistakes.SEQUENTIAL,
        describe=lambda c: (f"x ({c['batch']}, {c['sizes'][0]}), Sequential of "
                            + ", ReLU, ".join(f"Linear({a}, {b})" for a, b in zip(c['sizes'][:-1], c['sizes'][1:]))
                            + f", seed {c['seed']}")),
    Exercise(
        "sgd", "SGD", "step", "derivations/optimizers.md#sgd-optimsgd", "(2)-(6)",
        {"params": ("(2)-(6)", "θ after each step")},
        "derivations/optimizers.md#shapes", "001",
        fixed={"shapes": [(3, 2), (2,)], "steps": 3, "seed": 0,
               "options": {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}},
        draw=draw_sgd, run=run_optimizer(optim.SGD), mistakes=mistakes.SGD,
        describe=lambda c: f"parameters {', '.join(map(str, c['shapes']))}, {c['steps']} steps, seed {c['seed']}"),
    Exercise(
        "adam", "Adam", "step", "derivations/optimizers.md#adam-optimadam", "(7)-(13)",
        {"params": ("(7)-(13)", "θ after each step")},
        "derivations/optimizers.md#shapes", "004",
        fixed={"shapes": [(3, 2), (2,)], "steps": 3, "seed": 0,
               "options": {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}},
        draw=draw_adam, run=run_optimizer(optim.Adam), mistakes=mistakes.ADAM,
        describe=lambda c: f"parameters {', '.join(map(str, c['shapes']))}, {c['steps']} steps, seed {c['seed']}"),
    Exercise(
        "dropout", "Dropout", "backward", "derivations/dropout.md#backward", "(4), (5)",
        {"input": ("(4)", "dL/dx in training; (5) in evaluation")}, "derivations/dropout.md#dimension-check", "004",
        fixed={"shape": (4, 3), "p": 0.2, "training": True, "seed": 0}, draw=draw_dropout,
        run=LayerRun(setup_dropout), mistakes=mistakes.DROPOUT,
        describe=lambda c: (f"{_shape(c)} and a keep-mask, Dropout(p={c['p']}) in "
                            f"{'training' if c['training'] else 'evaluation'}, seed {c['seed']}")),
    Exercise(
        "batchnorm", "BatchNorm1d", "backward", "derivations/batchnorm.md#backward", "(8)-(15)",
        {"input": ("(14)", "dL/dx in training; (15) in evaluation"), "weight": ("(9)", "dL/dγ"),
         "bias": ("(10)", "dL/dβ")},
        "derivations/batchnorm.md#dimension-check", "004",
        fixed={"batch": 4, "features": 3, "training": True, "seed": 0}, draw=draw_batchnorm,
        run=LayerRun(setup_batchnorm), mistakes=mistakes.BATCHNORM,
        describe=lambda c: (f"x ({c['batch']}, {c['features']}), BatchNorm1d({c['features']}) in "
                            f"{'training' if c['training'] else 'evaluation'}, seed {c['seed']}")),
    Exercise(
        "conv2d", "Conv2d", "backward", "derivations/conv2d.md#backward", "(4)-(8), im2col (9)-(14)",
        {"input": ("(6), (8) (with im2col (13), (14), (8))", "dL/dx"),
         "weight": ("(4) (with im2col (12))", "dL/dW"), "bias": ("(5)", "dL/db")},
        "derivations/conv2d.md#dimension-check", "—",
        fixed={"batch": 2, "in_channels": 2, "out_channels": 3, "kernel_size": (3, 2), "stride": (2, 2),
               "padding": (1, 1), "dilation": (1, 1), "bias": True, "size": (5, 6), "seed": 0},
        draw=draw_conv2d, run=LayerRun(setup_conv2d), mistakes=mistakes.CONV2D,
        describe=lambda c: (f"x ({c['batch']}, {c['in_channels']}, {c['size'][0]}, {c['size'][1]}), "
                            f"Conv2d({c['in_channels']}, {c['out_channels']}, "
                            f"{_options(c, 'kernel_size', 'stride', 'padding', 'dilation', 'bias')}), "
                            f"seed {c['seed']}")),
    Exercise(
        "max_pool2d", "MaxPool2d", "backward", "derivations/pooling.md#backward", "(6), (7)",
        {"input": ("(6), (7)", "dL/dx")}, "derivations/pooling.md#dimension-check", "—",
        fixed={"batch": 2, "channels": 2, "kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1),
               "dilation": (1, 1), "size": (5, 6), "seed": 0},
        draw=draw_pool(dilation=True),
        run=LayerRun(setup_pool(MaxPool2d, ("kernel_size", "stride", "padding", "dilation"))),
        mistakes=mistakes.MAX_POOL2D,
        describe=lambda c: (f"x ({c['batch']}, {c['channels']}, {c['size'][0]}, {c['size'][1]}) without ties, "
                            f"MaxPool2d({_options(c, 'kernel_size', 'stride', 'padding', 'dilation')}), "
                            f"seed {c['seed']}")),
    Exercise(
        "avg_pool2d", "AvgPool2d", "backward", "derivations/pooling.md#backward", "(8), (9)",
        {"input": ("(8), (9)", "dL/dx")}, "derivations/pooling.md#dimension-check", "—",
        fixed={"batch": 2, "channels": 2, "kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1),
               "count_include_pad": False, "size": (5, 6), "seed": 0},
        draw=draw_pool(count_include_pad=[True, False]),
        run=LayerRun(setup_pool(AvgPool2d, ("kernel_size", "stride", "padding", "count_include_pad"))),
        mistakes=mistakes.AVG_POOL2D,
        describe=lambda c: (f"x ({c['batch']}, {c['channels']}, {c['size'][0]}, {c['size'][1]}), "
                            f"AvgPool2d({_options(c, 'kernel_size', 'stride', 'padding', 'count_include_pad')}), "
                            f"seed {c['seed']}")),
    Exercise(
        "embedding", "Embedding", "backward", "derivations/embedding.md#backward", "(2), (3)",
        {"weight": ("(3)", "dL/dW")}, "derivations/embedding.md#dimension-check", "—",
        fixed={"batch": 2, "length": 3, "num_embeddings": 5, "embedding_dim": 3, "seed": 0},
        draw=draw_embedding, run=LayerRun(setup_embedding), mistakes=mistakes.EMBEDDING,
        describe=lambda c: (f"indices ({c['batch']}, {c['length']}) with a token repeated, "
                            f"Embedding({c['num_embeddings']}, {c['embedding_dim']}), seed {c['seed']}")),
    Exercise(
        "lstm_cell", "LSTMCell", "backward", "derivations/lstm.md#backward", "(6)-(17)",
        {"input": ("(6)-(11), then (14)", "dL/dx = da W_ih"), "hx[0]": ("(6)-(12)", "dL/dh = da W_hh"),
         "hx[1]": ("(7), (13)", "dL/dc"), "weight_ih": ("(6)-(11), then (15)", "dL/dW_ih = daᵀ x"),
         "weight_hh": ("(6)-(11), then (16)", "dL/dW_hh = daᵀ h"),
         "bias_ih": ("(6)-(11), then (17)", "dL/db_ih = Σ_n da"), "bias_hh": ("(6)-(11), then (17)", "dL/db_hh = Σ_n da")},
        "derivations/lstm.md#dimension-check", "—",
        fixed={"batch": 3, "input_size": 3, "hidden_size": 2, "bias": True, "seed": 0},
        draw=draw_lstm_cell, run=LayerRun(setup_lstm_cell), mistakes=mistakes.LSTM_CELL,
        describe=lambda c: (f"x ({c['batch']}, {c['input_size']}), h and c ({c['batch']}, {c['hidden_size']}), "
                            f"LSTMCell({c['input_size']}, {c['hidden_size']}, bias={c['bias']}), seed {c['seed']}")),
)

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}


def get(name):
    """The exercise called ``name``; a ValueError naming the closest name and listing them all otherwise."""
    if name not in BY_NAME:
        raise ValueError(unknown(name))
    return BY_NAME[name]


def unknown(name):
    """What to say about a name that is no exercise: the closest one, if one is close, and every name."""
    close = difflib.get_close_matches(name, BY_NAME, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"no exercise {name!r}; {guess}the exercises are {', '.join(BY_NAME)}"


def next_after(exercise):
    """The exercise after this one on the path, or None after the last."""
    position = EXERCISES.index(exercise)
    return EXERCISES[position + 1] if position + 1 < len(EXERCISES) else None
