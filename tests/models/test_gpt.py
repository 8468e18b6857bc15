"""GPT: nanoGPT's keys, the tied weight, finite differences of a block and of the model, generate, bad input;
the Shakespeare corpus and the training loop.  PyTorch parity: test_gpt_parity.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import manualnet as mn
from manualnet.datasets import CharTokenizer
from manualnet.models.gpt import Block
from manualnet.nn.parameter import Parameter
from manualnet.testing.gradcheck import check_module
from manualnet.train_gpt import (ManualnetTrainer, TrainConfig, get_batch, get_lr, load_checkpoint, sample,
                                 save_checkpoint, train_gpt)

from ..strategies import random_array, seeds

NANOGPT_KEYS = ["transformer.wte.weight", "transformer.wpe.weight"] + [
    f"transformer.h.0.{name}" for name in (
        "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
        "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
        "mlp.c_proj.bias")] + ["transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight"]


def tiny(seed=0, dtype=np.float64, **changes):
    sizes = dict(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=4, bias=True)
    return mn.GPT(**{**sizes, **changes}, dtype=dtype, rng=seed)


def randomized(module, seed):
    """Random values everywhere (the LayerNorms' ones and the biases' zeros hide bugs)."""
    rng = np.random.default_rng(seed)
    for parameter in module.parameters():
        parameter.data[...] = rng.uniform(0.3, 1.0, parameter.shape) * rng.choice([-1, 1], parameter.shape)
    return module


def test_state_dict_keys_are_nanogpts_and_the_head_is_tied():
    model = tiny()
    assert list(model.state_dict()) == NANOGPT_KEYS
    assert model.lm_head.weight is model.transformer.wte.weight
    names = [name for name, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and len(names) == len(NANOGPT_KEYS) - 1      # yielded once
    assert len(model.parameters()) == len({id(p) for p in model.parameters()})
    unbiased = tiny(bias=False)
    assert not any(key.endswith("bias") for key in unbiased.state_dict())


def test_loading_a_state_dict_fills_the_tied_weight_once_under_both_keys():
    model, other = tiny(0), tiny(1)
    state = other.state_dict()
    model.load_state_dict(state)
    np.testing.assert_array_equal(model.lm_head.weight.data, state["lm_head.weight"])
    assert model.lm_head.weight is model.transformer.wte.weight
    arrays = model._state_arrays()
    assert arrays["lm_head.weight"] is arrays["transformer.wte.weight"]
    np.testing.assert_array_equal(model.state_dict()["lm_head.weight"], model.state_dict()["transformer.wte.weight"])


def test_the_tied_gradient_is_the_sum_of_the_lookups_and_the_heads():
    """Untie a copy (two Parameters with the same values): the tied .grad equals the sum of the two .grad."""
    tied = randomized(tiny(), 3)
    untied = tiny()
    untied.load_state_dict(tied.state_dict())
    untied.lm_head.weight = Parameter(tied.lm_head.weight.data.copy())
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    idx = np.random.default_rng(0).integers(0, 7, (2, 5))
    G = random_array(1, (2, 5, 7))
    for model in (tied, untied):
        model(idx)
        model.backward(G)
    lookup, head = untied.transformer.wte.weight.grad, untied.lm_head.weight.grad
    assert np.abs(lookup).max() > 0 and np.abs(head).max() > 0
    np.testing.assert_allclose(tied.transformer.wte.weight.grad, lookup + head, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
@given(bias=st.booleans(), heads=st.sampled_from([1, 2]), seed=seeds)
def test_a_block_matches_finite_differences(bias, heads, seed):
    """x + attn(ln_1(x)), then + mlp(ln_2(·)): the residual stream adds the gradients of both paths."""
    block = randomized(Block(4, heads, bias=bias, dtype=np.float64, rng=seed), seed)
    assert check_module(block, random_array(seed, (2, 3, 4)), rng=seed).passed


@pytest.mark.slow
@given(length=st.integers(1, 6), seed=seeds)
def test_the_whole_model_matches_finite_differences(length, seed):
    """Every parameter's gradient, the tied one too; token ids are held fixed (they have no gradient)."""
    model = randomized(tiny(), seed)
    idx = np.random.default_rng(seed).integers(0, 7, (2, length))
    report = check_module(model, idx, rng=seed)
    assert report.passed
    assert "transformer.wte.weight" in {array.name for array in report.arrays}


def test_dropout_in_training_is_drawn_from_rng_and_off_in_eval():
    idx = np.random.default_rng(0).integers(0, 7, (2, 5))
    first, second = tiny(5, dropout=0.3), tiny(5, dropout=0.3)
    assert np.array_equal(first(idx), second(idx))
    assert not np.array_equal(first(idx), first.eval()(idx))
    assert np.array_equal(first(idx), second.eval()(idx))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_have_shape_b_t_vocab_and_the_models_dtype(dtype):
    model = tiny(dtype=dtype)
    logits = model(np.zeros((3, 6), np.int64))
    assert logits.shape == (3, 6, 7) and logits.dtype == dtype
    assert model.backward(np.ones_like(logits)) is None
    assert model.transformer.wpe.weight.grad.any() and model.lm_head.weight.grad.dtype == dtype


@pytest.mark.parametrize("idx, error, match", [
    (np.zeros((2, 7), np.int64), ValueError, r"GPT\(vocab_size=7, .*\): cannot forward a sequence of length 7, the "
                                             r"block size is only 6"),
    (np.array([[0, 7]]), ValueError, r"expected token ids in \[0, 7\), got 1 outside it, e.g. 7"),
    (np.array([[0, -1]]), ValueError, r"expected token ids in \[0, 7\)"),
    (np.zeros((2, 3)), TypeError, r"expected idx to be a numpy.ndarray of integer token ids \(B, T\), got dtype "
                                  r"float64"),
    (np.zeros(3, np.int64), ValueError, r"expected idx of shape \(B, T\) with T >= 1, got shape \(3,\)"),
])
def test_bad_token_ids_name_the_model_what_it_expected_and_what_came(idx, error, match):
    with pytest.raises(error, match=match):
        tiny()(idx)


@pytest.mark.parametrize("arguments, match", [
    ({"n_embd": 6, "n_head": 4}, r"n_embd must be divisible by n_head"),
    ({"dropout": 1.0}, r"dropout.*in \[0, 1\), got 1.0"),
    ({"vocab_size": 0}, r"vocab_size to be a positive integer"),
])
def test_bad_arguments_are_refused_by_name(arguments, match):
    with pytest.raises(ValueError, match=match):
        tiny(**arguments)


def test_generate_appends_tokens_crops_the_context_and_honours_top_k():
    model = tiny(0)
    idx = np.zeros((2, 4), np.int64)
    out = model.generate(idx, 9, rng=0)
    assert out.shape == (2, 13) and np.array_equal(out[:, :4], idx) and out.max() < 7
    assert np.array_equal(out, model.generate(idx, 9, rng=0))                       # rng draws the tokens
    greedy = model.generate(idx, 5, top_k=1, rng=1)
    for t in range(4, 9):
        context = greedy[:, max(0, t - 6):t]
        assert np.array_equal(greedy[:, t], model(context)[:, -1].argmax(axis=-1))   # top_k=1 is the argmax
    with pytest.raises(ValueError, match="temperature > 0"):
        model.generate(idx, 1, temperature=0.0)


def test_configure_optimizers_decays_two_dimensional_weights_only():
    model = tiny()
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    decayed, plain = optimizer.param_groups
    assert all(p.data.ndim == 2 for p in decayed["params"]) and all(p.data.ndim == 1 for p in plain["params"])
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0 and decayed["betas"] == (0.9, 0.99)
    assert len(decayed["params"]) + len(plain["params"]) == len(model.parameters())
    assert model.get_num_params() == sum(p.size for p in model.parameters()) - model.transformer.wpe.weight.size


# -- the corpus, the tokenizer and the loop --------------------------------------------------------

def test_char_tokenizer_round_trips_and_names_an_unknown_character():
    tokenizer = CharTokenizer.from_text("hello world")
    assert tokenizer.chars == " dehlorw" and tokenizer.vocab_size == 8
    ids = tokenizer.encode("hold")
    assert ids.dtype == np.int64 and tokenizer.decode(ids) == "hold"
    with pytest.raises(ValueError, match=r"'z' is not in the vocabulary of 8 characters"):
        tokenizer.encode("oz")


def test_the_corpus_is_the_plays_joined_and_split_90_10(tmp_path):
    plays = {"hamlet": "To be, or not to be\n", "macbeth": "Out, damned spot!\n"}
    for play, text in plays.items():
        (tmp_path / mn.datasets.SHAKESPEARE_PLAYS[play].name).write_text(text, encoding="utf-8")
    corpus = mn.datasets.load_shakespeare_corpus(path=tmp_path, plays=tuple(plays))
    assert corpus.text == "To be, or not to be\n\n\nOut, damned spot!\n"
    assert len(corpus.train) == int(0.9 * len(corpus.text)) and len(corpus.train) + len(corpus.val) == len(corpus.text)
    assert corpus.tokenizer.decode(np.concatenate([corpus.train, corpus.val])) == corpus.text
    with pytest.raises(ValueError, match="expected plays among hamlet"):
        mn.datasets.load_shakespeare_corpus(path=tmp_path, plays=("hamlett",))


def test_batches_are_blocks_and_their_next_characters():
    data = np.arange(100)
    x, y = get_batch(data, TrainConfig(block_size=5, batch_size=3), np.random.default_rng(0))
    assert x.shape == y.shape == (3, 5)
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)


def test_the_learning_rate_warms_up_decays_by_a_cosine_and_stays_at_min_lr():
    config = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, lr_decay_iters=110)
    assert get_lr(0, config) == pytest.approx(1e-3 / 11) and get_lr(9, config) == pytest.approx(1e-3 * 10 / 11)
    assert get_lr(10, config) == pytest.approx(1e-3) and get_lr(60, config) == pytest.approx(5.5e-4)
    assert get_lr(110, config) == pytest.approx(1e-4) and get_lr(500, config) == 1e-4
    assert get_lr(60, config.with_(decay_lr=False)) == 1e-3


def test_the_loop_learns_a_repeated_text_saves_checkpoints_and_samples(tmp_path):
    text = "abcabcabd" * 30
    tokenizer = CharTokenizer.from_text(text)
    ids = tokenizer.encode(text)
    config = TrainConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=8, max_iters=60, eval_interval=30,
                         eval_iters=2, warmup_iters=5, lr_decay_iters=60, learning_rate=1e-2)
    model = mn.GPT(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=16, bias=False, rng=0)
    trainer = ManualnetTrainer(model, config)
    events, path = [], tmp_path / "gpt.npz"
    result = train_gpt(trainer, ids[:240], ids[240:], config, rng=0, progress=events.append,
                       checkpoint=lambda iteration, losses: save_checkpoint(path, trainer, tokenizer, config,
                                                                            iteration, losses))
    assert [e["iter"] for e in result["evaluations"]] == [0, 30, 60] and len(result["losses"]) == 61
    assert result["evaluations"][-1]["val"] < 0.5 * result["evaluations"][0]["val"]
    assert sum("val" in event for event in events) == 3 and sum("loss" in event for event in events) == 61
    restored, restored_tokenizer = load_checkpoint(path)
    assert restored_tokenizer.chars == tokenizer.chars and restored.config == model.config
    text_out = sample(restored, restored_tokenizer, "abc", 12, rng=0)
    assert text_out.startswith("abc") and len(text_out) == 15 and set(text_out) <= set(tokenizer.chars)
