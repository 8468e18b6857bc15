"""manualnet.torch_interop: modules to PyTorch and back, bit for bit, and compare_with_torch."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given

import manualnet as mn
from manualnet.interop.pytorch import compare_with_torch, from_torch, notes_mlp_class, to_torch
from manualnet.testing import bugzoo

from ..corruptions import corrupted_cases
from ..strategies import KINK_MARGIN, random_array, seeds
from ..torch_required import import_torch

torch = import_torch()

SEED = 20261122
UPSTREAM_SEED = SEED + 1


def every_layer(seed, dtype=np.float64):
    """A Sequential holding every supported parameterless layer between two Linears."""
    return mn.Sequential(
        mn.Flatten(), mn.Linear(6, 5, rng=seed, dtype=dtype), mn.LeakyReLU(0.1), mn.Linear(5, 5, rng=seed + 1, dtype=dtype),
        mn.Tanh(), mn.Linear(5, 4, bias=False, rng=seed + 2, dtype=dtype), mn.ReLU(), mn.Sigmoid(),
        mn.Softmax(dim=1), mn.LogSoftmax(),
    )


def with_batchnorm(seed, dtype=np.float64, training=True):
    """Linear, BatchNorm1d (random γ, β, running statistics moved by a few batches), Dropout, ReLU."""
    batchnorm = mn.BatchNorm1d(5, momentum=0.3, dtype=dtype)
    rng = np.random.default_rng(seed)
    batchnorm.weight.data[...] = rng.uniform(0.5, 1.5, 5)
    batchnorm.bias.data[...] = rng.standard_normal(5)
    for _ in range(3):
        batchnorm(rng.standard_normal((8, 5)).astype(dtype))
    model = mn.Sequential(mn.Linear(6, 5, rng=seed, dtype=dtype), batchnorm, mn.Dropout(0.3), mn.ReLU())
    return model.train(training)


def image_batch(seed=SEED):
    return random_array(seed, (4, 2, 3), margin=KINK_MARGIN)


def assert_same_state(a, b):
    """Same keys, and every array equal bit for bit with the same dtype."""
    a, b = a.state_dict(), b.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# -- to_torch and from_torch ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=seeds)
@pytest.mark.slow
def test_round_trip_through_torch_keeps_every_weight_exactly(dtype, seed):
    """Property: from_torch(to_torch(m)) has m's state-dict keys and arrays, bit for bit."""
    for model in (every_layer(seed % 1000, dtype), mn.MLP(6, 5, 3, rng=seed, dtype=dtype),
                  with_batchnorm(seed, dtype)):
        back = from_torch(to_torch(model))
        assert type(back) is type(model)
        assert_same_state(back, model)


def test_to_torch_keeps_the_state_dict_keys_and_values():
    model = mn.MLP(6, 5, 3, rng=SEED)
    twin = to_torch(model)
    assert type(twin).__name__ == "MultiLayerPerceptronClass"
    theirs = {key: value.numpy() for key, value in twin.state_dict().items()}
    assert list(theirs) == ["lin_1.weight", "lin_1.bias", "lin_2.weight", "lin_2.bias"]
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(theirs[key], value)
        assert theirs[key].dtype == value.dtype


def test_to_torch_gives_the_same_outputs():
    model = every_layer(SEED)
    x = image_batch()
    np.testing.assert_allclose(to_torch(model)(torch.from_numpy(x)).detach().numpy(), model(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("training", [True, False])
def test_modes_cross_over(training):
    model = every_layer(SEED).train(training)
    twin = to_torch(model)
    assert all(module.training is training for module in twin.modules())
    assert all(module.training is training for module in from_torch(twin).modules())


def test_from_torch_builds_the_layers_of_a_torch_model():
    nn = torch.nn
    twin = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, bias=False), nn.LogSoftmax(dim=1)).double()
    model = from_torch(twin)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "LogSoftmax"]
    assert model[2].bias is None and model[0].weight.dtype == np.float64
    x = random_array(SEED, (5, 3))
    np.testing.assert_allclose(model(x), twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-14)
    again = to_torch(model)
    for key, value in twin.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)


def test_from_torch_reads_the_study_notes_mlp_class():
    """A learner's own copy of the notes' class (same name, lin_1, lin_2) becomes mn.MLP."""
    nn, F = torch.nn, torch.nn.functional

    class MultiLayerPerceptronClass(nn.Module):
        def __init__(self, name="mlp", xdim=784, hdim=256, ydim=10):
            super().__init__()
            self.name = name
            self.lin_1 = nn.Linear(xdim, hdim)
            self.lin_2 = nn.Linear(hdim, ydim)

        def forward(self, x):
            return self.lin_2(F.relu(self.lin_1(x)))

    theirs = MultiLayerPerceptronClass(xdim=6, hdim=5, ydim=3)
    model = from_torch(theirs)
    assert isinstance(model, mn.MLP) and (model.xdim, model.hdim, model.ydim) == (6, 5, 3)
    x = random_array(SEED, (4, 6)).astype(np.float32)
    np.testing.assert_allclose(model(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_batchnorm_and_dropout_convert_with_running_statistics_and_options():
    model = with_batchnorm(SEED)
    model[1].momentum = None
    twin = to_torch(model)
    assert twin[1].num_batches_tracked.item() == 3 and twin[1].momentum is None and twin[2].p == 0.3
    np.testing.assert_array_equal(twin[1].running_var.numpy(), model[1].running_var)
    x = random_array(SEED, (6, 6))
    head, twin_head = model[:2], twin[:2]                 # Linear and BatchNorm1d
    for training in (False, True):                        # running statistics, then batch statistics
        head.train(training), twin_head.train(training)
        np.testing.assert_allclose(twin_head(torch.from_numpy(x)).detach().numpy(), head(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(twin[1].running_mean.numpy(), model[1].running_mean, rtol=1e-12)


@pytest.mark.parametrize("affine, track", [(False, True), (True, False), (False, False)])
def test_batchnorm_without_parameters_or_buffers_round_trips(affine, track):
    layer = mn.BatchNorm1d(4, affine=affine, track_running_stats=track, dtype=np.float64)
    back = from_torch(to_torch(layer))
    assert (back.affine, back.track_running_stats) == (affine, track)
    assert_same_state(back, layer)


@pytest.mark.parametrize("loss", [mn.CrossEntropyLoss(reduction="sum"), mn.NLLLoss(), mn.BCELoss(reduction="none"),
                                  mn.BCEWithLogitsLoss(), mn.MSELoss(reduction="sum")])
def test_losses_convert_with_their_reduction(loss):
    twin = to_torch(loss)
    assert type(twin).__name__ == type(loss).__name__ and twin.reduction == loss.reduction
    back = from_torch(twin)
    assert type(back) is type(loss) and back.reduction == loss.reduction


# -- what has no equivalent ----------------------------------------------------------

def test_to_torch_names_a_module_without_equivalent_and_where_it_is():
    with pytest.raises(TypeError, match=r"to_torch: LogisticRegression\(dim=3, lr=0.01\) \(at '1'\) has no PyTorch"):
        to_torch(mn.Sequential(mn.Linear(2, 3), mn.LogisticRegression(3)))


def test_torch_functions_refuse_what_is_not_a_manualnet_module():
    with pytest.raises(TypeError, match="to_torch: expected a manualnet Module, got Linear"):
        to_torch(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="compare_with_torch: expected a manualnet Module, got list"):
        compare_with_torch([], np.zeros((2, 2)))


def test_from_torch_names_a_module_without_equivalent():
    with pytest.raises(TypeError, match=r"from_torch: Conv3d \(at '0'\) has no manualnet equivalent"):
        from_torch(torch.nn.Sequential(torch.nn.Conv3d(1, 1, 3)))


@pytest.mark.parametrize("loss", [
    torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]), ignore_index=1, label_smoothing=0.1),
    torch.nn.NLLLoss(weight=torch.tensor([0.3, 1.0, 2.0]), ignore_index=0, reduction="sum"),
    torch.nn.BCELoss(weight=torch.tensor([1.0, 2.0, 3.0])),
    torch.nn.BCEWithLogitsLoss(weight=torch.tensor([1.0, 2.0, 3.0]), pos_weight=torch.tensor([3.0, 1.0, 0.5])),
], ids=lambda loss: type(loss).__name__)
def test_loss_options_cross_over_both_ways(loss):
    """weight, pos_weight, ignore_index and label_smoothing go over to manualnet and back unchanged."""
    ours = from_torch(loss)
    back = to_torch(ours)
    for name in ("weight", "pos_weight", "ignore_index", "label_smoothing", "reduction"):
        if hasattr(loss, name):
            theirs, mine, again = getattr(loss, name), getattr(ours, name), getattr(back, name)
            if isinstance(theirs, torch.Tensor):
                np.testing.assert_array_equal(mine, theirs.numpy())
                assert torch.equal(again, theirs)
            else:
                assert mine == theirs == again, name


def test_an_implicit_softmax_dim_crosses_over_as_none():
    """Softmax(dim=None) means the same in both libraries for 0-, 1- and 2-D inputs."""
    ours = from_torch(torch.nn.Softmax())
    assert ours.dim is None and to_torch(ours).dim is None


def test_missing_torch_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)         # what an absent torch looks like to import
    with pytest.raises(ImportError, match=r"pip install torch==2\.13\.0"):
        to_torch(mn.ReLU())


# -- compare_with_torch ---------------------------------------------------------------

@given(seed=seeds)
@pytest.mark.slow
def test_every_layer_matches_torch_autograd(seed):
    """Property: the output, dL/dx and every parameter gradient equal PyTorch's, in float64."""
    report = compare_with_torch(every_layer(seed % 1000, np.float32), image_batch(seed), rng=seed)
    # Where the ReLU zeroes every sample, every gradient is 0 on both sides: such a draw compares nothing,
    # and the report fails saying so (tests/testing/test_testing.py), so it says nothing about the layers here.
    assume(not report.proves_nothing)
    assert report.passed and report.max_rel_error < 1e-9
    assert [a.name for a in report.arrays][:3] == ["output", "input.grad", "1.weight.grad"]


def test_mlp_matches_torch_autograd():
    report = compare_with_torch(mn.MLP(6, 5, 3, rng=SEED), random_array(SEED, (4, 6)), rng=UPSTREAM_SEED)
    assert report.passed
    assert report.reference.startswith("torch.nn.MultiLayerPerceptronClass")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.slow
def test_batchnorm_and_dropout_match_torch_autograd(training):
    """BatchNorm1d in training (batch statistics) and eval (running ones); Dropout only in eval."""
    model = with_batchnorm(SEED, training=training)
    model[2].eval()                                   # masks drawn by two generators cannot agree
    report = compare_with_torch(model, random_array(SEED + 2, (6, 6)), rng=UPSTREAM_SEED)
    assert report.passed and [a.name for a in report.arrays][2:] == [
        "0.weight.grad", "0.bias.grad", "1.weight.grad", "1.bias.grad"]


def test_compare_with_torch_refuses_dropout_drawing_masks():
    with pytest.raises(ValueError, match=r"Dropout\(p=0.3\) \(at '2'\) is in training mode.*\.eval\(\)"):
        compare_with_torch(with_batchnorm(SEED), random_array(SEED, (6, 6)))


@pytest.mark.parametrize("loss, target", [
    (mn.CrossEntropyLoss(), np.array([0, 2, 1, 2])),
    (mn.NLLLoss(reduction="sum"), np.array([1, 1, 0, 2])),
    (mn.BCEWithLogitsLoss(), np.random.default_rng(SEED + 2).uniform(size=(4, 3))),
    (mn.MSELoss(reduction="none"), random_array(SEED + 2, (4, 3))),
])
def test_losses_match_torch_autograd(loss, target):
    assert compare_with_torch(loss, random_array(SEED, (4, 3)), target, rng=UPSTREAM_SEED).passed


def test_bce_loss_matches_torch_autograd_on_probabilities():
    p = np.random.default_rng(SEED).uniform(0.05, 0.95, size=(4, 3))
    y = np.random.default_rng(SEED + 2).uniform(size=(4, 3))
    assert compare_with_torch(mn.BCELoss(), p, y, rng=UPSTREAM_SEED).passed


@pytest.mark.parametrize("bug, inputs, row, mistake", [
    (bugzoo.TransposedWeightGradLinear(3, 3, rng=SEED), (random_array(SEED, (4, 3)),), "weight.grad", "transposed"),
    (bugzoo.CrossEntropyMissingOneOverN(), (random_array(SEED, (4, 3)), np.array([0, 2, 1, 2])), "input.grad",
     "sum vs mean"),
    (bugzoo.SoftmaxDiagonalOnly(), (random_array(SEED, (4, 3)),), "input.grad", "softmax diagonal"),
    (bugzoo.BatchNormWithoutMeanTerm(3, dtype=np.float64), (random_array(SEED, (5, 3)),), "input.grad",
     "mean term missing"),
], ids=lambda value: type(value).__name__ if isinstance(value, mn.Module) else None)
@pytest.mark.slow
def test_torch_comparison_catches_and_names_a_wrong_backward(bug, inputs, row, mistake):
    """A subclass converts as the layer it extends, so torch is the reference for what it should do."""
    report = compare_with_torch(bug, *inputs, rng=UPSTREAM_SEED)
    assert not report[row].passed
    assert report.diagnosed() == [mistake]


@given(case=corrupted_cases(kinds=("linear", "tanh", "cross_entropy", "mse")), seed=seeds)
@pytest.mark.slow
def test_no_corrupted_module_is_ever_passed_against_torch(case, seed):
    """Property: one entry of the output, dL/dx or a parameter's gradient replaced by NaN, ±inf or a
    huge value fails compare_with_torch (the subclass converts as the layer it should be), by name."""
    row_name = {"output": "output", "input": "input.grad"}.get(case.corruption.array, f"{case.corruption.array}.grad")
    report = compare_with_torch(case.module, *case.inputs, rng=seed)
    assert report.reference.startswith(f"torch.nn.{type(case.reference).__name__}")
    assert not report.passed and not report[row_name].passed
    if not case.corruption.finite:
        assert report[row_name].problem.startswith(f"mine is {case.corruption.kind()} at index {case.corruption.index}")


# -- the module's names: one home for the notes' class, the old name kept ---------------------------

def test_old_name_manualnet_compare_is_the_same_module():
    """DESIGN.md: renames keep old spellings working through version 2, as an alias of the new name."""
    import manualnet.compare
    import manualnet.torch_interop
    from manualnet.interop.pytorch import compare_with_torch as old_spelling

    assert manualnet.compare is manualnet.torch_interop and mn.compare is mn.torch_interop
    assert old_spelling is compare_with_torch and mn.compare.to_torch is to_torch


@pytest.mark.slow
def test_interop_module_imports_torch_only_when_called():
    code = ("import sys, manualnet, manualnet.compare, manualnet.torch_interop; "
            "print(manualnet.compare is manualnet.torch_interop, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False"]


def test_notes_mlp_class_is_the_notes_model_and_the_twin_of_mlp():
    """One class, built on first call: init_param's Kaiming weights and zero biases, MLP's keys and outputs."""
    cls = notes_mlp_class()
    assert cls is notes_mlp_class() and cls.__name__ == "MultiLayerPerceptronClass"
    assert type(to_torch(mn.MLP(6, 5, 3, rng=SEED))) is cls
    torch.manual_seed(0)
    theirs = cls(name="mlp", xdim=6, hdim=5, ydim=3).double()
    assert not theirs.lin_1.bias.detach().numpy().any() and theirs.lin_1.weight.detach().numpy().std() > 0
    ours = from_torch(theirs)
    assert isinstance(ours, mn.MLP) and list(ours.state_dict()) == list(theirs.state_dict())
    x = random_array(SEED, (4, 6))
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-14)
