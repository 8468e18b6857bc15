"""A checkpoint says what it is: the model's class and constructor arguments, rebuilt by load_model."""

import numpy as np
import pytest

import manualnet as mn
from manualnet.serialization import CheckpointError, load_model

from .test_serialization import edit_metadata, rewrite

MODELS = [
    lambda: mn.MLP(xdim=12, hdim=7, ydim=3, rng=0),
    lambda: mn.CNN(in_channels=1, num_classes=4, image_size=8, channels=(2, 3), hidden=5, rng=0),
    lambda: mn.LSTMClassifier(input_size=4, hidden_size=6, num_classes=3, rng=0),
    lambda: mn.LogisticRegression(5, lr=0.5),
    lambda: mn.Conv2d(2, 3, (3, 1), stride=(2, 1), padding="valid", bias=False, rng=0),
    lambda: mn.GRU(3, 4, num_layers=2, bidirectional=True, rng=0, dtype=np.float64),
]


@pytest.mark.parametrize("build", MODELS)
def test_load_model_rebuilds_the_saved_model_with_its_weights(tmp_path, build):
    model = build()
    mn.save(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert type(loaded) is type(model) and loaded.describe() == model.describe()
    for (key, saved), (_, got) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert got.dtype == saved.dtype and np.array_equal(got, saved), key
    model.load_state_dict(mn.load(tmp_path / "m.npz"))          # the state dict reads as before


def test_a_model_converted_to_float64_comes_back_in_float64(tmp_path):
    mn.save(mn.MLP(xdim=4, hdim=3, ydim=2, rng=0).astype(np.float64), tmp_path / "m.npz")
    assert load_model(tmp_path / "m.npz").lin_1.weight.dtype == np.float64


def test_a_state_dict_or_a_class_of_your_own_has_no_record(tmp_path):
    class MyMLP(mn.MLP):
        pass

    for obj in (mn.MLP(xdim=4, hdim=3, ydim=2).state_dict(), MyMLP(xdim=4, hdim=3, ydim=2),
                mn.Sequential(mn.Linear(2, 2)), mn.CrossEntropyLoss(weight=np.ones(3))):
        mn.save(obj, tmp_path / "plain.npz")
        with pytest.raises(CheckpointError, match="holds no model record"):
            load_model(tmp_path / "plain.npz")


def test_a_record_that_disagrees_with_the_weights_is_refused_naming_the_key(tmp_path):
    mn.save(mn.MLP(xdim=4, hdim=3, ydim=2, rng=0), tmp_path / "m.npz")
    rewrite(tmp_path / "m.npz", tmp_path / "bad.npz",
            edit_metadata(lambda metadata: metadata["model"]["arguments"].update(hdim=5)))
    with pytest.raises(CheckpointError, match=r"'lin_1.weight': expected shape \(5, 4\), got \(3, 4\)"):
        load_model(tmp_path / "bad.npz")


@pytest.mark.parametrize("record, message", [
    ({"class": "os.system", "arguments": {}}, "not a manualnet layer or model"),
    ({"class": "MLP"}, "malformed"),
    ({"class": "MLP", "arguments": {"xdim": {"code": "x"}}}, "neither a tuple nor a float dtype"),
    ({"class": "MLP", "arguments": {"nonsense": 1}}, "do not build a MLP"),
])
def test_a_hostile_or_broken_record_is_refused_and_runs_nothing(tmp_path, record, message):
    mn.save(mn.MLP(xdim=4, hdim=3, ydim=2, rng=0), tmp_path / "m.npz")
    rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", edit_metadata(lambda metadata: metadata.update(model=record)))
    with pytest.raises(CheckpointError, match=message):
        load_model(tmp_path / "bad.npz")
