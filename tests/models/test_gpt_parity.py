"""GPT against nanoGPT's model in PyTorch, as llm.c's test_gpt2 checks its C: activations, gradients, 10 steps.

Same weights (moved by ``to_torch``, nanoGPT's state-dict keys), same
batches, float64: every activation of one forward, the loss, every
parameter's gradient, then 10 steps of AdamW with nanoGPT's parameter groups
and gradient clipping — the loss at every step equal to 1e-10 relative, and
every weight after them.  Skipped with a visible reason when torch is absent;
required in CI (MANUALNET_REQUIRE_TORCH=1).
"""

import numpy as np
import pytest

import manualnet as mn
from manualnet.interop.nanogpt import TorchTrainer, nanogpt_classes
from manualnet.interop.pytorch import from_torch, to_torch
from manualnet.train_gpt import ManualnetTrainer, TrainConfig, get_batch, gpt_arguments, train_gpt

from ..torch_required import import_torch

torch = import_torch()
TOLERANCE = dict(rtol=1e-10, atol=1e-12)
SMALL = TrainConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, batch_size=4, max_iters=9, eval_interval=5,
                    eval_iters=2, warmup_iters=3, lr_decay_iters=9, dropout=0.0, bias=True)
VOCAB = 11


@pytest.fixture(autouse=True)
def one_thread():
    """Many small float64 ops: torch's two OpenMP threads spin-wait for each other on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def twins(config=SMALL, bias=True, seed=0):
    ours = mn.GPT(vocab_size=VOCAB, **dict(gpt_arguments(config), bias=bias), dtype=np.float64, rng=seed)
    return ours, to_torch(ours)


def data(seed=0, length=400):
    return np.random.default_rng(seed).integers(0, VOCAB, length)


def close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours), theirs.detach().numpy(), err_msg=what, **TOLERANCE)


def recorded(module, into):
    """Record module's forward output under its name each call (our modules have no hooks: wrap forward)."""
    for name, child in module.named_modules():
        def wrapped(*args, _forward=child.forward, _name=name, **kwargs):
            output = _forward(*args, **kwargs)
            into[_name] = output
            return output
        object.__setattr__(child, "forward", wrapped)


def test_the_torch_twin_is_nanogpts_model_with_the_same_keys_and_tied_weights():
    ours, theirs = twins()
    assert type(theirs) is nanogpt_classes(torch)["GPT"]
    assert list(theirs.state_dict()) == list(ours.state_dict())
    assert theirs.lm_head.weight is theirs.transformer.wte.weight
    assert [name for name, _ in theirs.named_parameters()] == [name for name, _ in ours.named_parameters()]
    back = from_torch(theirs)
    assert back.lm_head.weight is back.transformer.wte.weight
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value, err_msg=key)


@pytest.mark.parametrize("bias", [True, False])
def test_every_activation_the_loss_and_every_gradient_of_one_step_match_nanogpt(bias):
    ours, theirs = twins(bias=bias)
    x, y = get_batch(data(), SMALL, np.random.default_rng(1))
    ours_outputs, theirs_outputs = {}, {}
    recorded(ours, ours_outputs)
    for name, module in theirs.named_modules():
        module.register_forward_hook(lambda m, args, output, _name=name: theirs_outputs.__setitem__(_name, output))
    logits = ours(x)
    criterion = mn.CrossEntropyLoss()
    loss = criterion(logits.reshape(-1, VOCAB), y.reshape(-1))
    torch_logits, torch_loss = theirs(torch.from_numpy(x), torch.from_numpy(y))
    compared = [name for name in ours_outputs if name in theirs_outputs and name not in ("", "transformer.drop")]
    assert len(compared) >= 20, compared                 # every block, attention, MLP, LayerNorm and linear
    for name in compared:
        close(ours_outputs[name], theirs_outputs[name], f"activation of {name}")
    close(logits, torch_logits, "logits")
    np.testing.assert_allclose(loss, torch_loss.item(), rtol=1e-12)
    ours.backward(criterion.backward().reshape(logits.shape))
    torch_loss.backward()
    torch_parameters = dict(theirs.named_parameters())
    assert set(torch_parameters) == {name for name, _ in ours.named_parameters()}
    for name, parameter in ours.named_parameters():
        close(parameter.grad, torch_parameters[name].grad, f"gradient of {name}")


def test_ten_adamw_steps_give_nanogpts_loss_at_every_step_and_its_weights_after():
    """llm.c's test: 10 steps, each loss equal to 1e-10 relative; nanoGPT's optimizer groups and clipping."""
    config = SMALL.with_(eval_interval=100, eval_iters=1)
    ours, theirs = twins(config)
    ids = data()
    ours_result = train_gpt(ManualnetTrainer(ours, config), ids[:300], ids[300:], config, rng=5)
    theirs_result = train_gpt(TorchTrainer(theirs, config), ids[:300], ids[300:], config, rng=5)
    assert len(ours_result["losses"]) == 10
    np.testing.assert_allclose(ours_result["losses"], theirs_result["losses"], rtol=1e-10)
    assert ours_result["losses"][-1] < ours_result["losses"][0]           # it learned something
    torch_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        close(value, torch_state[key], f"{key} after 10 steps")


def test_nanogpts_parameter_groups_decay_the_matrices_and_embeddings_only():
    ours, theirs = twins()
    optimizer = ManualnetTrainer(ours, SMALL).optimizer
    decayed, plain = optimizer.param_groups
    names = {id(parameter): name for name, parameter in ours.named_parameters()}
    assert decayed["weight_decay"] == SMALL.weight_decay and plain["weight_decay"] == 0.0
    assert {names[id(p)] for p in decayed["params"]} == {n for n, p in ours.named_parameters() if p.data.ndim == 2}
    assert "transformer.wte.weight" in {names[id(p)] for p in decayed["params"]}
    torch_groups = theirs.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu").param_groups
    assert [len(group["params"]) for group in torch_groups] == [len(decayed["params"]), len(plain["params"])]


def test_evaluation_and_checkpoints_follow_nanogpts_loop(tmp_path):
    """Evaluations at 0, eval_interval, …, max_iters; the loss estimates equal torch's; a checkpoint on improvement."""
    ours, theirs = twins()
    ids = data()
    saved = []
    ours_result = train_gpt(ManualnetTrainer(ours, SMALL), ids[:300], ids[300:], SMALL, rng=3,
                            checkpoint=lambda iteration, losses: saved.append(iteration))
    theirs_result = train_gpt(TorchTrainer(theirs, SMALL), ids[:300], ids[300:], SMALL, rng=3)
    assert [e["iter"] for e in ours_result["evaluations"]] == [0, 5]
    for mine, reference in zip(ours_result["evaluations"], theirs_result["evaluations"]):
        np.testing.assert_allclose([mine["train"], mine["val"]], [reference["train"], reference["val"]], rtol=1e-10)
    assert saved == ([5] if ours_result["evaluations"][1]["val"] < ours_result["evaluations"][0]["val"] else [])
