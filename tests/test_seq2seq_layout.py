"""ipa_finetune/seq2seq_layout.py: the row layout, the special tokens, the too-long rule, padding."""
import os

import numpy as np
import pytest
from tokenizers import ByteLevelBPETokenizer

from ipa_finetune import seq2seq_layout as layout
from ipa_finetune.checkpoint import read_checkpoint
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.errors import CheckpointError, ConfigError, DataError

DEMO = os.path.join(PROJECT_ROOT, "demo")
TOKENS = layout.SpecialTokens(separator=50, end=0, pad=0, kind="spare")


def demo_tokenizer(name):
    folder = os.path.join(DEMO, "tokenizers")
    return ByteLevelBPETokenizer(os.path.join(folder, f"{name}-vocab.json"),
                                 os.path.join(folder, f"{name}-merges.txt"))._tokenizer


def pair(i, n_source, n_target):
    return layout.Pair(str(i), tuple(range(1, n_source + 1)), tuple(range(10, 10 + n_target)))


@pytest.mark.parametrize("model_type", ["normal", "ipa"])
def test_demo_checkpoints_have_a_spare_row_for_the_separator(model_type):
    config, _ = read_checkpoint(os.path.join(DEMO, "checkpoints", model_type, "ckpt.pt"))
    tok = demo_tokenizer(model_type)
    tokens = layout.special_tokens(tok.get_vocab_size(), tok.token_to_id("<|endoftext|>"), config.vocab_size, "spare")
    assert tokens == layout.SpecialTokens(separator=1000, end=0, pad=0, kind="spare")
    assert layout.special_tokens(1000, 0, config.vocab_size) == layout.SpecialTokens(0, 0, 0, "eos")  # default


def test_a_vocabulary_without_room_is_one_clear_line():
    with pytest.raises(CheckpointError) as e:
        layout.special_tokens(1024, 0, 1024, "spare", checkpoint="ckpts/ipa/ckpt.pt")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("checkpoint ckpts/ipa/ckpt.pt has vocab_size 1024, all of it used by the tokenizer's "
                          "1024 tokens: no spare embedding row for the seq2seq separator; set the separator to 'eos'")
    with pytest.raises(CheckpointError, match="vocab_size 900 but the tokenizer has 1000 tokens"):
        layout.special_tokens(1000, 0, 900, "eos")
    assert layout.special_tokens(1024, 0, 1024).kind == "eos"  # fits any checkpoint of the tokenizer
    with pytest.raises(ConfigError, match="separator 'tab' is not one of eos, spare"):
        layout.special_tokens(1000, 0, 1024, "tab")
    with pytest.raises(ConfigError, match="no end-of-document token"):
        layout.special_tokens(1000, None, 1024)
    with pytest.raises(CheckpointError, match="vocab_size 999 but the tokenizer has 1000 tokens"):
        layout.special_tokens(1000, 0, 999)


def test_training_row_labels_the_target_and_end_only():
    rows, counts = layout.training_rows([pair("a", 3, 2)], TOKENS, block_size=16)
    assert rows == [{"id": "a", "input_ids": [1, 2, 3, 50, 10, 11, 0],
                     "labels": [-100, -100, -100, -100, 10, 11, 0]}]
    assert counts == layout.LayoutCounts(examples=1)


def test_too_long_training_examples_are_dropped_and_counted():
    pairs = [pair(0, 3, 2), pair(1, 10, 4), pair(2, 9, 4)]  # 7, 16 and 15 tokens
    rows, counts = layout.training_rows(pairs, TOKENS, block_size=15)
    assert [r["id"] for r in rows] == ["0", "2"] and max(len(r["input_ids"]) for r in rows) == 15
    assert counts.as_dict() == {"examples": 3, "dropped": 1, "truncated": 0, "target_over_budget": 0}
    with pytest.raises(DataError, match=r"data/x/train.jsonl: all 2 examples are too long for block_size 8 "
                                        r"\(source \+ separator \+ target \+ end; the shortest has 9 tokens\)"):
        layout.training_rows([pair(0, 3, 4), pair(1, 9, 9)], TOKENS, block_size=8, where="data/x/train.jsonl")


def test_prompts_keep_room_for_the_tokens_to_generate():
    pairs = [pair(0, 3, 2), pair(1, 12, 9), pair(2, 11, 4)]
    prompts, counts = layout.generation_prompts(pairs, TOKENS, block_size=20, max_new_tokens=8)
    assert prompts[0] == [1, 2, 3, 50]
    assert prompts[1] == list(range(1, 12)) + [50] and prompts[2] == prompts[1]  # the source's end cut
    assert max(len(p) for p in prompts) + 8 == 20
    assert counts.as_dict() == {"examples": 3, "dropped": 0, "truncated": 1, "target_over_budget": 1}


@pytest.mark.parametrize("max_new_tokens,message", [
    (0, "max_new_tokens 0 must be a positive integer"),
    (19, "max_new_tokens 19 leaves no room for a source in block_size 20; expected at most 18"),
])
def test_a_generation_budget_without_room_is_a_config_error(max_new_tokens, message):
    with pytest.raises(ConfigError, match=message):
        layout.generation_prompts([pair(0, 3, 2)], TOKENS, block_size=20, max_new_tokens=max_new_tokens)


def test_pad_right_pads_ids_mask_and_labels():
    rows, _ = layout.training_rows([pair(0, 3, 2), pair(1, 1, 1)], TOKENS, block_size=16)
    batch = layout.pad_right(rows, pad_id=0, multiple_of=8)
    assert {k: v.shape for k, v in batch.items()} == {k: (2, 8) for k in ("input_ids", "attention_mask", "labels")}
    assert batch["input_ids"][1].tolist() == [1, 50, 10, 0, 0, 0, 0, 0]
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert batch["labels"][1].tolist() == [-100, -100, 10, 0, -100, -100, -100, -100]
    assert all(v.dtype == np.int64 for v in batch.values())


def test_encode_pairs_uses_the_tokenizers_ids():
    tok = demo_tokenizer("normal")
    pairs = layout.encode_pairs(tok, ["ru-1", "ru-2"], ["фильм", "книга"], ["fʲilʲm", "knʲiɡa"], "x.jsonl")
    bpe = ByteLevelBPETokenizer(os.path.join(DEMO, "tokenizers", "normal-vocab.json"),
                                os.path.join(DEMO, "tokenizers", "normal-merges.txt"))
    assert pairs[0] == layout.Pair("ru-1", tuple(bpe.encode("фильм").ids), tuple(bpe.encode("fʲilʲm").ids))
    assert all(p.source and p.target for p in pairs)
    assert 0 not in pairs[0].source + pairs[0].target  # no special token added


@pytest.mark.parametrize("sources,targets,kind", [(["ok", " "], ["a", "b"], "source"),
                                                  (["ok", "x"], ["a", ""], "target")])
def test_an_empty_source_or_target_names_the_file_and_example(sources, targets, kind):
    with pytest.raises(DataError, match=f"data/ru/test.jsonl: example 'id-2' has an empty {kind}"):
        layout.encode_pairs(demo_tokenizer("ipa"), ["id-1", "id-2"], sources, targets, "data/ru/test.jsonl")


def test_encode_pairs_ignores_padding_and_truncation_left_on_the_backend():
    tok = demo_tokenizer("ipa")
    plain = layout.encode_pairs(tok, ["a"], ["vʲelʲikolʲepnɨj"], ["ok"], "x")
    tok.enable_padding(length=32, pad_id=0)
    tok.enable_truncation(max_length=2)
    assert layout.encode_pairs(tok, ["a"], ["vʲelʲikolʲepnɨj"], ["ok"], "x") == plain
    assert len(plain[0].source) > 2
    assert tok.padding is not None  # the caller's tokenizer is left as it was
