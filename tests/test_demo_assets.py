"""The committed demo files are what config/demo.json and the language database promise, and the
builder's composition is deterministic."""
import json
import os
import random
import sys

import pytest
import torch

from ipa_finetune.checkpoint import load_checkpoint
from ipa_finetune.config.study import load_study
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.inputs.tokenizer import load_tokenizer

DEMO = os.path.join(PROJECT_ROOT, "demo")
CONFIG = os.path.join(PROJECT_ROOT, "config", "demo.json")
LABELS = {"negative", "neutral", "positive"}


def rows(lang, split):
    with open(os.path.join(DEMO, "data", lang, f"{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("lang", ["russian", "polish"])
def test_demo_data_splits_are_labelled_disjoint_and_sized(lang):
    seen = {}
    for split in ("train", "validation", "test"):
        data = rows(lang, split)
        assert len(data) >= 60, (lang, split, len(data))
        for row in data:
            assert set(row) == {"text", "ipa", "label"} and row["label"] in LABELS
            assert row["text"].strip() and row["ipa"].strip() and row["ipa"] != row["text"]
        seen[split] = {row["text"] for row in data}
        assert len({row["label"] for row in data}) == 3
    assert not seen["train"] & seen["validation"] and not seen["train"] & seen["test"]
    assert not seen["validation"] & seen["test"]


def test_demo_config_tokenizers_and_checkpoints_fit_together():
    study = load_study([CONFIG])
    study.check_languages(["russian", "polish"])  # local data paths exist
    for mt in ("normal", "ipa"):
        tok = load_tokenizer(study.model(mt))
        assert tok.convert_tokens_to_ids("<|endoftext|>") == 0
        assert study.model(mt).checkpoint == os.path.join(DEMO, "checkpoints", mt, "ckpt.pt")
        model = load_checkpoint(study.model(mt).checkpoint)
        assert len(tok) <= model.config.vocab_size
        ckpt = torch.load(os.path.join(DEMO, "checkpoints", mt, "ckpt.pt"), map_location="cpu",
                          weights_only=True)
        assert set(ckpt) == {"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"}
        ids = tok("Фильм был очень интересный." if mt == "normal" else rows("russian", "train")[0]["ipa"])["input_ids"]
        assert ids and max(ids) < model.config.vocab_size


@pytest.mark.parametrize("lang", ["russian", "polish"])
def test_committed_splits_are_what_the_builder_composes(lang):
    """demo/build_demo.py's composition (seed 1337) gives exactly the committed splits, so the
    committed files are rebuildable from demo/text (epitran is not needed for this part)."""
    sys.path.insert(0, DEMO)
    try:
        import build_demo
        from compose import labelled_set, load_source, split_stratified
    finally:
        sys.path.remove(DEMO)
    rng = random.Random(f"1337-{lang}")  # build_demo.compose_language's seeding
    source = load_source(os.path.join(DEMO, "text", f"{lang}.json5"))
    examples = labelled_set(source, build_demo.LABEL_COUNTS[lang], rng)
    splits = split_stratified(examples, build_demo.SPLITS, rng)
    for split, items in splits.items():
        assert [(r["text"], r["label"]) for r in rows(lang, split)] == items


def seq2seq_rows(lang, split):
    with open(os.path.join(DEMO, "data-seq2seq", lang, f"{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("lang", ["russian", "polish"])
def test_seq2seq_demo_data_is_what_the_builder_composes(lang):
    """data-seq2seq: every distinct word of the composed text once, ids by sorted word, split 60/20/20
    by the builder's seeded shuffle (the IPA column is taken as committed here; the next test checks it
    against epitran)."""
    sys.path.insert(0, DEMO)
    try:
        import build_demo
        import seq2seq_data
    finally:
        sys.path.remove(DEMO)
    committed = {split: seq2seq_rows(lang, split) for split in seq2seq_data.SPLITS}
    ipa = {r["text"]: r["ipa"] for rows in committed.values() for r in rows}
    _, splits, docs = build_demo.compose_texts(lang, build_demo.parse_args([]))
    texts = [t for items in splits.values() for t, _ in items] + docs
    rebuilt = build_demo.seq2seq_splits(lang, texts, ipa.__getitem__, 1337)
    assert rebuilt == committed
    assert [len(rows) for rows in committed.values()] >= [350, 120, 120]
    for rows in committed.values():
        for row in rows:
            assert set(row) == {"id", "text", "ipa"} and row["text"].strip() and row["ipa"].strip()
            assert row["text"] == row["text"].lower() and " " not in row["text"]


@pytest.mark.parametrize("lang,code", [("russian", "rus-Cyrl"), ("polish", "pol-Latn")])
def test_seq2seq_demo_ipa_is_epitrans(lang, code):
    from ipa_finetune.prepare.transcribe import load_backend

    rows = seq2seq_rows(lang, "test")[:40]
    to_ipa = load_backend(code)
    assert [r["ipa"] for r in rows] == [to_ipa(r["text"]) for r in rows]
