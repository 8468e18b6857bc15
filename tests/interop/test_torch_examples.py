"""PyTorch's documented examples, run in manualnet with the same numbers.

Each test is the example of the class's docstring in torch 2.13 (``help(torch.nn.CrossEntropyLoss)``
etc.): torch draws the inputs as the example does (seeded, float32), and
manualnet, given the same inputs and weights, must print what torch prints —
to float32 rounding — and give the same gradients.  Examples that print their
own numbers (CrossEntropyLoss's misleading probabilities, BCEWithLogitsLoss's
pos_weight) are checked against those printed numbers too.
"""

from collections import OrderedDict

import numpy as np
import pytest

import manualnet as mn

from ..torch_required import import_torch

torch = import_torch()
nn = torch.nn
FLOAT32 = dict(rtol=2e-6, atol=1e-7)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def same(ours, theirs):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), **FLOAT32)


def run_loss(ours, theirs, input, target):
    """Forward and backward of both losses (torch's target as given, ours as NumPy)."""
    input.requires_grad_(True)
    output = theirs(input, target)
    output.backward()
    value = ours(input.detach().numpy(), target.numpy())
    same(value, output)
    same(ours.backward(), input.grad)
    return value


# -- layers -----------------------------------------------------------------------------

def test_linear_example():
    """m = nn.Linear(20, 30); input = torch.randn(128, 20); output.size() is (128, 30)."""
    m = nn.Linear(20, 30)
    ours = mn.Linear(20, 30)
    ours.load_state_dict({key: value.detach().numpy() for key, value in m.state_dict().items()})
    input = torch.randn(128, 20)
    output = ours(input.numpy())
    assert output.shape == tuple(m(input).size()) == (128, 30)
    same(output, m(input))


@pytest.mark.parametrize("name, build", [
    ("ReLU", lambda: (mn.ReLU(), nn.ReLU())),
    ("LeakyReLU", lambda: (mn.LeakyReLU(0.1), nn.LeakyReLU(0.1))),
    ("Sigmoid", lambda: (mn.Sigmoid(), nn.Sigmoid())),
    ("Tanh", lambda: (mn.Tanh(), nn.Tanh())),
])
def test_activation_examples(name, build):
    """m = nn.<Activation>(); input = torch.randn(2); output = m(input) — a 1-D input."""
    ours, theirs = build()
    input = torch.randn(2)
    same(ours(input.numpy()), theirs(input))


def test_relu_concatenated_example():
    """input = torch.randn(2).unsqueeze(0); output = torch.cat((m(input), m(-input))): the CReLU trick."""
    m, ours = nn.ReLU(), mn.ReLU()
    input = torch.randn(2).unsqueeze(0)
    output = torch.cat((m(input), m(-input)))
    x = input.numpy()
    same(np.concatenate((ours(x), ours(-x))), output)


@pytest.mark.parametrize("ours, theirs", [(mn.Softmax, nn.Softmax), (mn.LogSoftmax, nn.LogSoftmax)])
def test_softmax_examples(ours, theirs):
    """m = nn.Softmax(dim=1); input = torch.randn(2, 3); output = m(input)."""
    input = torch.randn(2, 3)
    same(ours(dim=1)(input.numpy()), theirs(dim=1)(input))


def test_flatten_example():
    """input = torch.randn(32, 1, 5, 5): Flatten() gives (32, 25), Flatten(0, 2) gives (160, 5)."""
    input = torch.randn(32, 1, 5, 5)
    assert mn.Flatten()(input.numpy()).shape == tuple(nn.Flatten()(input).size()) == (32, 25)
    assert mn.Flatten(0, 2)(input.numpy()).shape == tuple(nn.Flatten(0, 2)(input).size()) == (160, 5)


def test_dropout_example():
    """m = nn.Dropout(p=0.2); input = torch.randn(20, 16): with the mask torch drew, the same output."""
    m = nn.Dropout(p=0.2)
    input = torch.randn(20, 16)
    output = m(input)
    mask = output.numpy() != 0
    same(mn.Dropout(p=0.2)(input.numpy(), mask), output)


def test_batchnorm1d_example():
    """m = nn.BatchNorm1d(100, affine=False); input = torch.randn(20, 100); output = m(input)."""
    input = torch.randn(20, 100)
    same(mn.BatchNorm1d(100, affine=False)(input.numpy()), nn.BatchNorm1d(100, affine=False)(input))


def test_sequential_ordered_dict_example():
    """nn.Sequential(OrderedDict([('conv1', ...), ('relu1', nn.ReLU()), ...])), with Linear for Conv2d."""
    theirs = nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 20)), ("relu1", nn.ReLU()),
                                        ("fc2", nn.Linear(20, 6)), ("relu2", nn.ReLU())]))
    ours = mn.Sequential(OrderedDict([("fc1", mn.Linear(4, 20)), ("relu1", mn.ReLU()),
                                      ("fc2", mn.Linear(20, 6)), ("relu2", mn.ReLU())]))
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    input = torch.randn(3, 4)
    same(ours(input.numpy()), theirs(input))


# -- the transformer ---------------------------------------------------------------------------

def test_layer_norm_examples():
    """NLP: nn.LayerNorm(embedding_dim) on (20, 5, 10); image: nn.LayerNorm([C, H, W]) on (20, 5, 10, 10).

    x − μ cancels digits in float32: an entry near its row's mean is exact only to ~ε·|x| in absolute
    terms, in either library, so the comparison allows 1e-6 absolute (values are about 1).
    """
    def near(ours, theirs):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=2e-6, atol=1e-6)

    embedding = torch.randn(20, 5, 10)
    upstream = torch.randn(20, 5, 10)
    theirs, ours = nn.LayerNorm(10), mn.LayerNorm(10)
    embedding.requires_grad_(True)
    output = theirs(embedding)
    near(ours(embedding.detach().numpy()), output)
    output.backward(upstream)
    near(ours.backward(upstream.numpy()), embedding.grad)
    near(ours.weight.grad, theirs.weight.grad)
    input = torch.randn(20, 5, 10, 10)
    near(mn.LayerNorm([5, 10, 10])(input.numpy()), nn.LayerNorm([5, 10, 10])(input))


def test_gelu_example():
    """m = nn.GELU(); input = torch.randn(2); output = m(input)."""
    input = torch.randn(2)
    same(mn.GELU()(input.numpy()), nn.GELU()(input))


def test_multihead_attention_example():
    """multihead_attn = nn.MultiheadAttention(embed_dim, num_heads);
    attn_output, attn_output_weights = multihead_attn(query, key, value) — with embed_dim 8, num_heads 2."""
    theirs = nn.MultiheadAttention(8, 2)
    ours = mn.MultiheadAttention(8, 2)
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    query, key, value = torch.randn(5, 3, 8), torch.randn(6, 3, 8), torch.randn(6, 3, 8)
    attn_output, attn_output_weights = theirs(query, key, value)
    mine, mine_weights = ours(query.numpy(), key.numpy(), value.numpy())
    same(mine, attn_output)
    same(mine_weights, attn_output_weights)


def test_module_list_example():
    """MyModule with self.linears = nn.ModuleList([nn.Linear(10, 10) for i in range(10)]) and its forward loop.

    The forward only: it calls linears[i // 2] several times in one forward, and a manualnet layer keeps the
    input of its last call for backward (a reused layer needs one instance per use, or manualnet.autograd).
    """
    theirs = nn.ModuleList([nn.Linear(10, 10) for i in range(10)])
    ours = mn.ModuleList([mn.Linear(10, 10) for i in range(10)])
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(4, 10)
    expected, mine = x, x.numpy()
    for i, (l, m) in enumerate(zip(theirs, ours)):
        expected = theirs[i // 2](expected) + l(expected)
        mine = ours[i // 2](mine) + m(mine)
    same(mine, expected)


def test_module_dict_example():
    """self.choices = nn.ModuleDict({"conv": nn.Conv2d(10, 10, 3), "pool": nn.MaxPool2d(3)}) and
    self.activations = nn.ModuleDict([["lrelu", nn.LeakyReLU()], ...]); forward(x, choice, act).
    (The example's other activation, PReLU, has no manualnet class.)"""
    theirs = nn.ModuleDict({"conv": nn.Conv2d(10, 10, 3), "pool": nn.MaxPool2d(3)})
    ours = mn.ModuleDict({"conv": mn.Conv2d(10, 10, 3), "pool": mn.MaxPool2d(3)})
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    activations, mine_activations = nn.ModuleDict([["lrelu", nn.LeakyReLU()]]), mn.ModuleDict([["lrelu", mn.LeakyReLU()]])
    x = torch.randn(2, 10, 9, 9)
    for choice in ("conv", "pool"):
        # a convolution's output sums 90 float32 products, in another order than torch's: 1e-6 absolute
        np.testing.assert_allclose(mine_activations["lrelu"](ours[choice](x.numpy())),
                                   activations["lrelu"](theirs[choice](x)).detach().numpy(), rtol=2e-6, atol=1e-6)


# -- losses -------------------------------------------------------------------------------

def test_cross_entropy_examples_with_class_indices_and_with_probabilities():
    loss = nn.CrossEntropyLoss()
    input = torch.randn(3, 5)
    target = torch.empty(3, dtype=torch.long).random_(5)
    run_loss(mn.CrossEntropyLoss(), loss, input, target)
    input = torch.randn(3, 5)
    target = torch.randn(3, 5).softmax(dim=1)
    run_loss(mn.CrossEntropyLoss(), loss, input, target)


def test_cross_entropy_example_of_incorrectly_specified_probabilities():
    """torch.manual_seed(283): a target that is no distribution gives 4.6379876136779785 without complaint;
    its softmax gives 2.55349063873291.  manualnet does the same, as the docstring prints."""
    torch.manual_seed(283)
    input = torch.randn(3, 5, requires_grad=True)
    target = torch.randn(3, 5)
    np.testing.assert_allclose(target.numpy(), [[0.7105, 0.4446, 2.0297, 0.2671, -0.6075],
                                                [-1.0496, -0.2753, -0.3586, 0.9270, 1.0027],
                                                [0.7551, 0.1003, 1.3468, -0.3581, -0.9569]], atol=1e-4)
    loss = mn.CrossEntropyLoss()
    np.testing.assert_allclose(loss(input.detach().numpy(), target.numpy()), 4.6379876136779785, rtol=1e-6)
    target_new = target.softmax(dim=1)
    np.testing.assert_allclose(loss(input.detach().numpy(), target_new.numpy()), 2.55349063873291, rtol=1e-6)


def test_nll_examples_1d_and_2d():
    """LogSoftmax(dim=1) then NLLLoss on (3, 5) with target [1, 0, 4]; and the per-pixel example, whose
    input is the log-softmax of a Conv2d's (N, C, 8, 8) output (taken from torch: the layer is not the point)."""
    log_softmax, loss_fn = nn.LogSoftmax(dim=1), nn.NLLLoss()
    input = torch.randn(3, 5)
    target = torch.tensor([1, 0, 4])
    run_loss(mn.NLLLoss(), loss_fn, log_softmax(input).detach(), target)
    N, C = 5, 4
    data = torch.randn(N, 16, 10, 10)
    conv = nn.Conv2d(16, C, (3, 3))
    output = log_softmax(conv(data)).detach()
    assert output.shape == (N, C, 8, 8)
    target = torch.empty(N, 8, 8, dtype=torch.long).random_(0, C)
    run_loss(mn.NLLLoss(), loss_fn, output, target)


def test_bce_example():
    """m = nn.Sigmoid(); loss(m(input), target) with input (3, 2) and target = torch.rand(3, 2)."""
    m = nn.Sigmoid()
    input = torch.randn(3, 2)
    target = torch.rand(3, 2)
    run_loss(mn.BCELoss(), nn.BCELoss(), m(input).detach(), target)


def test_bce_with_logits_examples():
    """pos_weight of ones on logits 1.5 with targets 1: -log σ(1.5) = 0.20...; then the 1-D example."""
    target = torch.ones([10, 64], dtype=torch.float32)
    output = torch.full([10, 64], 1.5)
    pos_weight = torch.ones([64])
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    ours = mn.BCEWithLogitsLoss(pos_weight=pos_weight.numpy())
    value = run_loss(ours, criterion, output, target)
    assert f"{value:.2f}" == "0.20"
    np.testing.assert_allclose(value, np.log1p(np.exp(-1.5)), rtol=1e-6)
    input = torch.randn(3)
    target = torch.empty(3).random_(2)
    run_loss(mn.BCEWithLogitsLoss(), nn.BCEWithLogitsLoss(), input, target)


def test_mse_example():
    input, target = torch.randn(3, 5), torch.randn(3, 5)
    run_loss(mn.MSELoss(), nn.MSELoss(), input, target)


# -- optimizers and schedulers --------------------------------------------------------------

def twin_models():
    theirs = nn.Linear(4, 2)
    ours = mn.Linear(4, 2)
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    return ours, theirs


def train_both(ours, theirs, optimizer, reference, steps, after_step=lambda: None):
    """The docstring's loop: zero_grad, loss_fn(model(input), target).backward(), optimizer.step()."""
    for _ in range(steps):
        input, target = torch.randn(8, 4), torch.randn(8, 2)
        reference.zero_grad()
        nn.functional.mse_loss(theirs(input), target).backward()
        reference.step()
        optimizer.zero_grad()
        criterion = mn.MSELoss()
        criterion(ours(input.numpy()), target.numpy())
        ours.backward(criterion.backward())
        optimizer.step()
        after_step()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_sgd_example():
    """optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) and its training step."""
    ours, theirs = twin_models()
    train_both(ours, theirs, mn.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9),
               torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9), steps=5)


@pytest.mark.parametrize("name, arguments, epochs", [
    ("StepLR", {"step_size": 30, "gamma": 0.1}, 100),
    ("ExponentialLR", {"gamma": 0.95}, 100),
    ("CosineAnnealingLR", {"T_max": 100}, 100),
])
def test_epoch_scheduler_examples(name, arguments, epochs):
    """scheduler = StepLR(optimizer, step_size=30, gamma=0.1); for epoch in range(100): train, validate,
    scheduler.step() — and ExponentialLR(gamma=0.95), CosineAnnealingLR(T_max=num_epochs) alike."""
    ours = mn.optim.SGD(mn.Linear(4, 2).parameters(), lr=0.05)
    theirs = torch.optim.SGD(nn.Linear(4, 2).parameters(), lr=0.05)
    schedule, reference = getattr(mn.optim.lr_scheduler, name)(ours, **arguments), \
        getattr(torch.optim.lr_scheduler, name)(theirs, **arguments)
    for _ in range(epochs):
        ours.step()
        theirs.step()
        schedule.step()
        reference.step()
        np.testing.assert_allclose(schedule.get_last_lr(), reference.get_last_lr(), rtol=1e-12)
    if name == "StepLR":
        np.testing.assert_allclose(schedule.get_last_lr(), [0.05 * 0.1**3], rtol=1e-12)


def test_one_cycle_example():
    """SGD(lr=1e-4, momentum=0.9); OneCycleLR(optimizer, max_lr=0.01, steps_per_epoch=len(data_loader), epochs=10),
    stepped after every batch, with the model trained alongside."""
    ours, theirs = twin_models()
    optimizer = mn.optim.SGD(ours.parameters(), lr=1e-4, momentum=0.9)
    reference = torch.optim.SGD(theirs.parameters(), lr=1e-4, momentum=0.9)
    schedule = mn.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, steps_per_epoch=4, epochs=10)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.01, steps_per_epoch=4, epochs=10)

    def step_schedules():
        schedule.step()
        torch_schedule.step()
        np.testing.assert_allclose(schedule.get_last_lr(), torch_schedule.get_last_lr(), rtol=1e-12)
        np.testing.assert_allclose(optimizer.param_groups[0]["momentum"], reference.param_groups[0]["momentum"])

    train_both(ours, theirs, optimizer, reference, steps=40, after_step=step_schedules)


def test_reduce_on_plateau_example():
    """SGD(lr=0.1, momentum=0.9); ReduceLROnPlateau(optimizer, 'min'); scheduler.step(val_loss) every epoch."""
    ours = mn.optim.SGD(mn.Linear(4, 2).parameters(), lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(nn.Linear(4, 2).parameters(), lr=0.1, momentum=0.9)
    schedule = mn.optim.lr_scheduler.ReduceLROnPlateau(ours, "min")
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, "min")
    val_losses = [1.0, 0.9] + [0.95] * 25
    for val_loss in val_losses:
        schedule.step(val_loss)
        reference.step(val_loss)
        assert schedule.get_last_lr() == reference.get_last_lr()
    assert schedule.get_last_lr() == [0.1 * 0.1**2]
