"""ipa_finetune.inputs.tokenizer: both tokenizer forms, the end-of-document token, vocab coverage."""
import dataclasses
import os

import pytest
from tokenizers import ByteLevelBPETokenizer

from conftest import EOS
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import CheckpointError, ConfigError
from ipa_finetune.inputs.tokenizer import check_vocab_coverage, load_tokenizer, tokenizer_fingerprint

SAMPLE = "kalo mine rusa tivoxx"


def reference(assets, name):
    prefix = assets.tokenizer_prefix
    return ByteLevelBPETokenizer(os.path.join(prefix, f"{name}-vocab.json"),
                                 os.path.join(prefix, f"{name}-merges.txt"))



def model_spec(config, name="normal", **changes):
    """The ModelSpec of `name` in a study config, with some fields changed."""
    return dataclasses.replace(load_study([config]).model(name), **changes)

def test_vocab_and_merges_encode_like_the_tokenizers_library(tiny_study, tiny_assets):
    # guards against transformers 5's GPT2TokenizerFast(vocab_file=, merges_file=), which builds an
    # empty tokenizer from these files and encodes every text to []
    study = load_study([tiny_study()])
    for name in ("normal", "ipa"):
        tok = load_tokenizer(study.model(name))
        ref = reference(tiny_assets, name)
        expected = ref.encode(SAMPLE).ids
        assert len(expected) > 1
        assert tok(SAMPLE, add_special_tokens=False)["input_ids"] == expected
        assert len(tok) == ref.get_vocab_size() > 256
        assert tok.eos_token == tok.pad_token == EOS
        assert tok.eos_token_id == tok.pad_token_id == ref.token_to_id(EOS)
        assert tok.padding_side == "right"


def test_tokenizer_json_folder(tiny_study, tiny_assets, tmp_path):
    prefix = tmp_path / "toks"
    (prefix / "whole").mkdir(parents=True)
    reference(tiny_assets, "normal")._tokenizer.save(str(prefix / "whole" / "tokenizer.json"))
    model = model_spec(tiny_study(extra={"model_types": {"normal": {"model_prefix": "normal",
                                                                    "tokenizer": "whole"}}}),
                       tokenizer_prefix=str(prefix))
    assert model.tokenizer_files() == ("json", [str(prefix / "whole" / "tokenizer.json")])
    tok = load_tokenizer(model)
    expected = reference(tiny_assets, "normal").encode(SAMPLE).ids
    assert tok(SAMPLE, add_special_tokens=False)["input_ids"] == expected


def test_missing_tokenizer_names_both_forms(tiny_study):
    model = model_spec(tiny_study(extra={"model_types": {"normal": {"model_prefix": "normal",
                                                                    "tokenizer": "nope"}}}))
    with pytest.raises(ConfigError) as err:
        load_tokenizer(model)
    msg = str(err.value)
    assert "nope-vocab.json" in msg and "nope-merges.txt" in msg
    assert os.path.join("nope", "tokenizer.json") in msg
    assert "model_types.normal.tokenizer" in msg


def test_unreadable_tokenizer_file(tiny_study, tmp_path):
    (tmp_path / "toks").mkdir()
    (tmp_path / "toks" / "normal-vocab.json").write_text("{broken")
    (tmp_path / "toks" / "normal-merges.txt").write_text("")
    model = model_spec(tiny_study(), tokenizer_prefix=str(tmp_path / "toks"))
    with pytest.raises(ConfigError, match="cannot read tokenizer .*normal-vocab.json"):
        load_tokenizer(model)


def test_eos_token_must_be_in_vocabulary(tiny_study):
    model = model_spec(tiny_study(extra={"tokenizer": {"eos_token": "<|nope|>"}}))
    with pytest.raises(ConfigError, match=r"'<\|nope\|>' is not in the vocabulary"):
        load_tokenizer(model)


def test_eos_token_per_model_type(tiny_study, tiny_assets):
    token = "ka"  # any token of the vocabulary can serve
    assert reference(tiny_assets, "normal").token_to_id(token) is not None
    types = {"normal": {"model_prefix": "normal", "tokenizer": "normal", "eos_token": token},
             "ipa": {"model_prefix": "ipa", "tokenizer": "ipa"}}
    study = load_study([tiny_study(extra={"model_types": types})])
    assert load_tokenizer(study.model("normal")).eos_token == token
    assert load_tokenizer(study.model("ipa")).eos_token == EOS


def test_vocab_size_must_cover_tokenizer(tiny_study):
    tok = load_tokenizer(model_spec(tiny_study()))
    check_vocab_coverage(tok, len(tok), "ckpt.pt")
    with pytest.raises(CheckpointError) as err:
        check_vocab_coverage(tok, 100, "/x/ckpt.pt")
    assert "/x/ckpt.pt has vocab_size 100" in str(err.value) and f"{len(tok)} tokens" in str(err.value)


def test_fingerprint_is_stable_and_tells_tokenizers_apart(tiny_study):
    study = load_study([tiny_study()])
    normal = tokenizer_fingerprint(load_tokenizer(study.model("normal")))
    assert normal == tokenizer_fingerprint(load_tokenizer(study.model("normal")))
    assert normal != tokenizer_fingerprint(load_tokenizer(study.model("ipa")))


def test_fingerprint_ignores_padding_and_truncation_left_by_a_call(tiny_study):
    """A tokenizer once called with padding/truncation must still hit the tokenized cache."""
    tok = load_tokenizer(model_spec(tiny_study()))
    before = tokenizer_fingerprint(tok)
    tok.pad_token = tok.eos_token
    tok(["ka lo", "mi"], padding="max_length", truncation=True, max_length=8)
    assert tokenizer_fingerprint(tok) == before
