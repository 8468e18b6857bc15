"""Legacy: the models of checkpoints written before checkpoints carried a record, inferred from their weights.

manualnet 0.1 saved a bare state dict.  ``evaluate`` still reads such a file:
the keys tell which model it is (the MLP's, the LSTM classifier's or the
CNN's), and the weight shapes give its sizes.  New checkpoints say what they
are (``manualnet/model_record.py``); this is the only place that guesses.
"""

import math

import numpy as np

from manualnet.models import CNN, MLP, LSTMClassifier

MLP_KEYS = {"lin_1.weight": 2, "lin_1.bias": 1, "lin_2.weight": 2, "lin_2.bias": 1}   # key: number of dimensions
LSTM_KEYS = {"lstm.weight_ih_l0": 2, "lstm.weight_hh_l0": 2, "lstm.bias_ih_l0": 1, "lstm.bias_hh_l0": 1,
             "fc.weight": 2, "fc.bias": 1}
CNN_WEIGHTS = {"features.0.weight": 4, "features.4.weight": 4, "classifier.1.weight": 2, "classifier.3.weight": 2}


def model_from_legacy_state(state, path):
    """The model whose weights are ``state``, sizes read from the weight shapes; a ValueError if none fits."""
    for keys, infer in ((MLP_KEYS, _mlp), (LSTM_KEYS, _lstm), (_cnn_keys(), _cnn)):
        if set(state) == set(keys):
            model = infer(state, path)
            try:
                model.load_state_dict(state)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path}: {error}") from None
            return model
    expected = "; or ".join(", ".join(keys) for keys in (MLP_KEYS, LSTM_KEYS, _cnn_keys()))
    raise ValueError(f"{path} does not hold a model saved by 'train --save': it has no model record, and its keys "
                     f"are none of a legacy checkpoint's ({expected}); found {', '.join(state) or 'none'}")


def _check_ndims(state, ndims, path):
    """Each weight named in ``ndims`` a non-empty array of that many dimensions, so its shape can size a model."""
    for key, ndim in ndims.items():
        if np.ndim(state[key]) != ndim or 0 in np.shape(state[key]):
            raise ValueError(f"{path}: the weight {key} has shape {np.shape(state[key])}, "
                             f"expected a non-empty {ndim}-D array")


def _mlp(state, path):
    _check_ndims(state, MLP_KEYS, path)
    hdim, xdim = np.shape(state["lin_1.weight"])
    return MLP(xdim=xdim, hdim=hdim, ydim=np.shape(state["lin_2.weight"])[0])


def _lstm(state, path):
    _check_ndims(state, LSTM_KEYS, path)
    four_hidden, input_size = np.shape(state["lstm.weight_ih_l0"])
    num_classes, hidden = np.shape(state["fc.weight"])
    if four_hidden != 4 * hidden:
        raise ValueError(f"{path}: lstm.weight_ih_l0 has shape {np.shape(state['lstm.weight_ih_l0'])} and "
                         f"fc.weight {np.shape(state['fc.weight'])}; expected (4·H, input_size) and (classes, H)")
    return LSTMClassifier(input_size=input_size, hidden_size=hidden, num_classes=num_classes)


def _cnn_keys():
    return tuple(CNN(image_size=4, channels=(1, 1), hidden=1, rng=0).state_dict())


def _cnn(state, path):
    _check_ndims(state, CNN_WEIGHTS, path)
    first, in_channels = np.shape(state["features.0.weight"])[:2]
    second = np.shape(state["features.4.weight"])[0]
    hidden, flat = np.shape(state["classifier.1.weight"])
    num_classes = np.shape(state["classifier.3.weight"])[0]
    side = math.isqrt(flat // second)
    if second * side * side != flat:
        raise ValueError(f"{path}: classifier.1.weight has {flat} inputs, which is not {second} channels "
                         "of a square image")
    return CNN(in_channels, num_classes, image_size=4 * side, channels=(first, second), hidden=hidden)
