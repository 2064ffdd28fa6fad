"""Generation: model.py's key/value cache and padding, and hf_wrapper's NanoGPTForCausalLM (loss on
target tokens only, transformers' generate with the cache, save/load through the Auto classes)."""
import os

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, DynamicCache, Trainer, TrainingArguments
from transformers.loss.loss_utils import ForCausalLMLoss

from hf_wrapper import NanoGPTConfig, NanoGPTForCausalLM
from ipa_finetune import seq2seq_layout as layout
from ipa_finetune.checkpoint import load_checkpoint, read_checkpoint
from model import GPT, GPTConfig, KVCache, attention_mask_4d
from tests.ckpt_helpers import tiny_gpt, train_steps, write_train_py_checkpoint

CONFIG = GPTConfig(n_layer=2, n_head=4, n_embd=32, block_size=64, vocab_size=64, bias=True)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs tiny models in this process."""


def chaotic_gpt(seed=0, config=CONFIG):
    """A random GPT with large weights: unlike nanoGPT's small init (which repeats one token), its
    greedy continuations vary token by token, so a wrong position or mask changes them."""
    torch.manual_seed(seed)
    gpt = GPT(config, lm_head=False)
    with torch.no_grad():
        for p in gpt.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    return gpt


@pytest.fixture(scope="module")
def lm():
    """A chaotic causal LM whose end token is one it often generates, so rows stop at different steps."""
    model = NanoGPTForCausalLM.from_gpt_weights(CONFIG, chaotic_gpt().state_dict(), eos_token_id=1)
    free = torch.tensor(sum(model.complete(prompts(), 20), []))
    end = int(free.bincount().argmax())
    model.config.eos_token_id = model.config.pad_token_id = end
    return model


def prompts(lengths=(5, 12, 3, 9, 1, 20, 7, 7), seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(2, CONFIG.vocab_size, (n,), generator=gen).tolist() for n in lengths]


# ----------------------------------------------------------------------------- model.py

@pytest.mark.parametrize("cache_class", [KVCache, DynamicCache])
def test_cached_decoding_gives_the_hidden_states_of_the_whole_sequence(cache_class):
    gpt = chaotic_gpt().eval()
    x = torch.randint(0, CONFIG.vocab_size, (3, 20), generator=torch.Generator().manual_seed(0))
    cache = cache_class()
    with torch.no_grad():
        full = gpt.hidden_states(x)
        parts = [gpt.hidden_states(x[:, :7], cache=cache), gpt.hidden_states(x[:, 7:12], cache=cache)]
        parts += [gpt.hidden_states(x[:, t:t + 1], cache=cache) for t in range(12, 20)]
    assert cache.get_seq_length() == 20
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5, rtol=0)


def test_left_padded_batch_decodes_each_row_as_alone():
    """Prefix then token by token, left-padded with position ids counting real tokens only."""
    gpt = chaotic_gpt().eval()
    rows = prompts((9, 4, 1))
    T = 9
    ids = torch.zeros(3, T, dtype=torch.long)
    mask = torch.zeros(3, T, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, T - len(r):], mask[b, T - len(r):] = torch.tensor(r), 1
    nxt = torch.tensor([[5], [6], [7]])
    with torch.no_grad():
        cache = KVCache()
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        prefix = gpt.hidden_states(ids, attention_mask=mask, position_ids=pos, cache=cache)
        step = gpt.hidden_states(nxt, attention_mask=torch.cat([mask, torch.ones(3, 1, dtype=torch.long)], 1),
                                 position_ids=pos[:, -1:] + 1, cache=cache)
        for b, r in enumerate(rows):
            alone = gpt.hidden_states(torch.tensor([r + [5 + b]]))  # (1, n + 1, C)
            assert torch.allclose(prefix[b, T - len(r):], alone[0, :-1], atol=1e-5, rtol=0)
            assert torch.allclose(step[b, 0], alone[0, -1], atol=1e-5, rtol=0)
    assert torch.isfinite(prefix).all()  # padding queries attend to themselves: no NaN anywhere


def test_mask_only_where_causal_attention_is_not_exact():
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    assert attention_mask_4d(None, 4, 0) is None and attention_mask_4d(None, 1, 9) is None
    assert attention_mask_4d(torch.ones(2, 4), 4, 0) is None
    assert attention_mask_4d(right, 4, 0) is None  # right padding: real tokens never look forward
    offset = attention_mask_4d(None, 2, 3)  # two new tokens after three cached ones
    assert offset.tolist() == [[[[True, True, True, True, False], [True, True, True, True, True]]]]
    m = attention_mask_4d(left, 4, 0)
    assert m.shape == (2, 1, 4, 4)
    assert m[0, 0].tolist() == [[True, False, False, False], [False, True, False, False],
                                [False, True, True, False], [False, True, True, True]]
    with pytest.raises(ValueError, match="covers 4 positions; expected the 2 cached plus the 1 new"):
        attention_mask_4d(left, 1, 2)


def test_right_padded_rows_need_no_mask():
    gpt = chaotic_gpt().eval()
    x = torch.randint(0, CONFIG.vocab_size, (2, 10), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 6:] = 0
    with torch.no_grad():
        assert torch.equal(gpt.hidden_states(x, attention_mask=mask), gpt.hidden_states(x))
        assert torch.allclose(gpt.hidden_states(x)[1, :6], gpt.hidden_states(x[1:, :6])[0], atol=1e-5, rtol=0)


def test_cache_beyond_block_size_is_refused():
    gpt = chaotic_gpt().eval()
    cache = KVCache()
    with torch.no_grad():
        gpt.hidden_states(torch.zeros(1, CONFIG.block_size, dtype=torch.long), cache=cache)
        with pytest.raises(ValueError, match=f"length {CONFIG.block_size + 1}, block size is only"):
            gpt.hidden_states(torch.zeros(1, 1, dtype=torch.long), cache=cache)


# ----------------------------------------------------------------------------- NanoGPTForCausalLM

def test_greedy_decoding_with_the_cache_gives_the_tokens_without_it(lm):
    with_cache = lm.complete(prompts(), 24)
    without = lm.complete(prompts(), 24, use_cache=False)
    assert with_cache == without
    assert len({len(c) for c in with_cache}) > 2  # rows stop at different steps (end token)
    assert len(set(sum(with_cache, []))) > 8  # varied tokens: a wrong position would show


def test_generation_runs_without_dropout_and_restores_the_mode():
    lm = NanoGPTForCausalLM.from_gpt_weights(CONFIG, chaotic_gpt().state_dict(), eos_token_id=1, dropout=0.5)
    expected = lm.complete(prompts(), 16)
    lm.train()
    assert lm.complete(prompts(), 16) == expected and lm.training
    assert lm.gpt.transformer.h[0].attn.dropout == 0.5  # the dropout is there: eval mode switched it off


def test_generate_matches_a_plain_argmax_loop(lm):
    """complete() through transformers' generate() = the obvious loop over model.py's forward()."""
    end = lm.config.eos_token_id
    for prompt in prompts()[:4]:
        ids = list(prompt)
        with torch.no_grad():
            while len(ids) < len(prompt) + 24:
                nxt = int(lm.gpt(torch.tensor([ids]))[0][0, -1].argmax())
                if nxt == end:
                    break
                ids.append(nxt)
        assert lm.complete([prompt], 24) == [ids[len(prompt):]]


@pytest.mark.parametrize("num_beams", [1, 4])
def test_batched_generation_gives_each_prompt_alone(lm, num_beams):
    batched = lm.complete(prompts(), 16, num_beams=num_beams, batch_size=4)
    alone = [lm.complete([p], 16, num_beams=num_beams)[0] for p in prompts()]
    assert batched == alone


def test_beam_search_uses_the_cache_and_differs_from_greedy(lm):
    beams = lm.complete(prompts(), 16, num_beams=4)
    assert beams == lm.complete(prompts(), 16, num_beams=4, use_cache=False)
    assert beams != lm.complete(prompts(), 16)


def test_loss_covers_the_labelled_tokens_only():
    lm = NanoGPTForCausalLM.from_gpt_weights(CONFIG, chaotic_gpt().state_dict(), eos_token_id=0)
    ids = torch.randint(0, CONFIG.vocab_size, (3, 12), generator=torch.Generator().manual_seed(3))
    labels = ids.clone()
    labels[:, :5] = layout.IGNORE_INDEX  # a source
    labels[2, 9:] = layout.IGNORE_INDEX  # padding
    with torch.no_grad():
        logits = lm(ids).logits  # (B, T, V)
        out = lm(ids, labels=labels)
        expected = ForCausalLMLoss(logits, labels, CONFIG.vocab_size)
        assert out.logits is None
        assert torch.allclose(out.loss, expected, atol=1e-6, rtol=0)
        n = int((labels[:, 1:] != -100).sum())
        summed = lm(ids, labels=labels, num_items_in_batch=torch.tensor(2 * n)).loss
        assert torch.allclose(summed, expected / 2, atol=1e-6, rtol=0)
        other_source = ids.clone()
        other_source[:, 0] = (ids[:, 0] + 1) % CONFIG.vocab_size  # changes the targets' context only
        assert not torch.allclose(lm(other_source, labels=labels).loss, out.loss)
    labels[0, 6] = -1  # nanoGPT's ignore index is not transformers'
    with pytest.raises(ValueError, match=r"labels hold -1; expected -100 \(no loss\) or a token id in \[0, 64\)"):
        lm(ids, labels=labels)


def test_checkpoint_body_and_tied_lm_head_are_reused(tmp_path):
    model = tiny_gpt(dropout=0.1)
    path = write_train_py_checkpoint(model, tmp_path / "ckpt.pt", optimizer=train_steps(model), compiled=True)
    config, weights = read_checkpoint(path)
    lm = NanoGPTForCausalLM.from_gpt_weights(config, weights, eos_token_id=0, dropout=0.0)
    assert lm.gpt.lm_head.weight is lm.gpt.transformer.wte.weight
    assert lm.config.dropout == 0.0 and lm.config.pad_token_id == 0 and lm.generation_config.eos_token_id == 0
    x = torch.randint(0, config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.allclose(lm(x).logits, load_checkpoint(path).eval().lm_head(
            load_checkpoint(path).hidden_states(x)), atol=1e-6, rtol=0)


def test_save_pretrained_round_trip_through_auto_classes(lm, tmp_path):
    lm.generation_config.eos_token_id = lm.config.eos_token_id
    lm.save_pretrained(tmp_path / "best_model")
    assert sorted(os.listdir(tmp_path / "best_model")) == ["config.json", "generation_config.json",
                                                          "model.safetensors"]
    with safe_open(str(tmp_path / "best_model" / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "gpt.transformer.wte.weight" in keys and not any("lm_head" in k for k in keys)  # tied: once
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "best_model")
    assert isinstance(loaded, NanoGPTForCausalLM) and isinstance(loaded.config, NanoGPTConfig)
    assert loaded.gpt.lm_head.weight is loaded.gpt.transformer.wte.weight
    assert loaded.complete(prompts(), 16) == lm.complete(prompts(), 16)


def test_random_init_for_a_control():
    torch.manual_seed(0)
    lm = NanoGPTForCausalLM.from_gpt_weights(CONFIG, None, eos_token_id=3)
    std = lm.gpt.transformer.wte.weight.std().item()
    assert 0.015 < std < 0.025 and lm.gpt.lm_head.weight is lm.gpt.transformer.wte.weight


@pytest.mark.parametrize("kwargs,message", [
    (dict(eos_token_id=64), r"eos_token_id=64; expected a token id in \[0, 64\)"),
    (dict(eos_token_id=None), r"eos_token_id=None"),
    (dict(eos_token_id=0, pad_token_id=-1), r"pad_token_id=-1"),
    (dict(eos_token_id=0, dropout=1.5), r"dropout=1.5; expected a number in \[0, 1\)"),
])
def test_bad_arguments_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NanoGPTForCausalLM.from_gpt_weights(CONFIG, chaotic_gpt().state_dict(), **kwargs)


def test_weights_of_another_model_are_a_value_error():
    weights = chaotic_gpt().state_dict()
    del weights["transformer.h.1.mlp.c_fc.weight"]
    with pytest.raises(ValueError, match=r"weights lack transformer\.h\.1\.mlp\.c_fc\.weight; expected"):
        NanoGPTForCausalLM.from_gpt_weights(CONFIG, weights, eos_token_id=0)
    wider = GPTConfig(**{**CONFIG.__dict__, "n_embd": 64})
    with pytest.raises(ValueError, match="size mismatch"):
        NanoGPTForCausalLM.from_gpt_weights(wider, chaotic_gpt().state_dict(), eos_token_id=0)


@pytest.mark.parametrize("call,message", [
    (dict(prompts=[[3]], max_new_tokens=0), "max_new_tokens=0; expected an integer >= 1"),
    (dict(prompts=[[3]], max_new_tokens=4, num_beams=0), "num_beams=0"),
    (dict(prompts=[[3]], max_new_tokens=4, batch_size=True), "batch_size=True"),
    (dict(prompts=[[3], []], max_new_tokens=4), "prompt 1 is empty"),
    (dict(prompts=[[3, 64]], max_new_tokens=4), r"prompt 0 holds 64; expected token ids in \[0, 64\)"),
    (dict(prompts=[[0.5]], max_new_tokens=4), "prompt 0 is not a list of token ids"),
    (dict(prompts=[[3] * 60], max_new_tokens=5), "prompt 0 has 60 tokens, and 60 \\+ max_new_tokens 5 > block_size 64"),
])
def test_bad_generation_arguments_are_value_errors(lm, call, message):
    with pytest.raises(ValueError, match=message):
        lm.complete(**call)


@pytest.mark.parametrize("separator", layout.SEPARATORS)
def test_learns_a_seq2seq_task_laid_out_by_seq2seq_layout(separator):
    """source SEP target END rows, loss on the target only: the model learns to write a source's
    reverse after the separator and to stop; complete() reads it back. An off-by-one anywhere in the
    layout, the label shift or the prompt would fail this."""
    torch.manual_seed(0)
    config = GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=32, vocab_size=24, bias=False)
    lm = NanoGPTForCausalLM.from_gpt_weights(config, None, eos_token_id=0)
    tokens = layout.special_tokens(tokenizer_size=20, eos_id=0, vocab_size=24, separator=separator)
    gen = torch.Generator().manual_seed(0)
    sources = [tuple(torch.randint(1, 20, (int(n),), generator=gen).tolist())
               for n in torch.randint(2, 6, (400,), generator=gen)]
    pairs = [layout.Pair(str(i), s, s[::-1]) for i, s in enumerate(sources)]
    rows, counts = layout.training_rows(pairs, tokens, config.block_size)
    assert counts.dropped == 0
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-3)
    lm.train()
    for step in range(300):
        batch = layout.pad_right([rows[(step * 32 + k) % len(rows)] for k in range(32)], tokens.pad)
        loss = lm(**{k: torch.from_numpy(v) for k, v in batch.items()}).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    lm.eval()
    prompt_ids, _ = layout.generation_prompts(pairs[:50], tokens, config.block_size, max_new_tokens=8)
    outputs = lm.complete(prompt_ids, 8)
    right = sum(list(p.target) == o for p, o in zip(pairs[:50], outputs))
    assert right >= 45, (right, loss.item())


def test_one_trainer_step_counts_target_tokens_and_lowers_the_loss(tmp_path):
    lm = NanoGPTForCausalLM.from_gpt_weights(CONFIG, chaotic_gpt().state_dict(), eos_token_id=0)
    tokens = layout.special_tokens(tokenizer_size=60, eos_id=0, vocab_size=64)
    pairs = [layout.Pair(str(i), tuple(p), tuple(reversed(p))) for i, p in enumerate(prompts())]
    rows, _ = layout.training_rows(pairs, tokens, CONFIG.block_size)
    batch = {k: torch.from_numpy(v) for k, v in layout.pad_right(rows, tokens.pad).items()}

    def loss():
        lm.eval()
        with torch.no_grad():
            return lm(**batch).loss.item()

    before = loss()
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, gradient_accumulation_steps=2,
        max_steps=1, learning_rate=1e-2, lr_scheduler_type="constant", use_cpu=True, report_to="none",
        save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0)
    trainer = Trainer(model=lm, args=args, train_dataset=[{k: r[k] for k in ("input_ids", "labels")} for r in rows],
                      data_collator=lambda b: {k: torch.from_numpy(v) for k, v in layout.pad_right(b, 0).items()})
    assert trainer.model_accepts_loss_kwargs and trainer._loss_shifts_labels  # counts labels[:, 1:]
    trainer.train()
    assert loss() < before - 1e-3
