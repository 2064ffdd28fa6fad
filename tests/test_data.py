"""ipa_finetune.data / labels: loading every source format, label mapping, encoding, caching, and a
clear one-line DataError for every kind of bad data."""
import json
import os

import pytest

from conftest import CLASSES, EOS, write_jsonl
from ipa_finetune.train import data
from ipa_finetune.config.database import DatasetSpec
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import DataError
from ipa_finetune.inputs.tokenizer import load_tokenizer, tokenizer_fingerprint


def make_spec(dataset, **kw):
    fields = dict(language="alpha", task="sentiment", name="tiny-alpha", dataset=str(dataset), subset=None,
                  train_features={"normal": ["text"], "ipa": ["ipa"]}, eval_feature="label",
                  train_split="train", eval_split="validation", test_split="test",
                  task_type="classification", classes=3, label_names=list(CLASSES), data_format=None)
    fields.update(kw)
    return DatasetSpec(**fields)


def rows(labels, text="ka lo mi"):
    return [{"text": f"{text} {i}", "ipa": f"{text} {i}", "label": lab} for i, lab in enumerate(labels)]


def write_splits(folder, train, validation=None, test=None, ext="jsonl"):
    for split, r in (("train", train), ("validation", validation), ("test", test)):
        if r is not None:
            write_jsonl(os.path.join(folder, f"{split}.{ext}"), r)
    return folder


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")


@pytest.fixture(scope="module")
def tokenizer(tiny_assets, tmp_path_factory):
    from conftest import write_tiny_study
    study = load_study([write_tiny_study(str(tmp_path_factory.mktemp("tok")), tiny_assets)])
    return load_tokenizer(study.model("normal"))


def bad(spec, cache, roles=("train", "eval", "test"), model_type="normal"):
    with pytest.raises(DataError) as err:
        data.load_language(spec, model_type, list(roles), cache)
    msg = str(err.value)
    assert "\n" not in msg and "dataset 'tiny-alpha' of language 'alpha'" in msg
    return msg


# ----------------------------------------------------------------------------- sources and labels

def test_jsonl_folder_with_string_labels(tiny_assets, tokenizer, cache):
    spec = make_spec(tiny_assets.language_dir("alpha"))
    loaded = data.load_language(spec, "normal", ["train", "eval", "test"], cache)
    assert {role: split for role, (split, _) in loaded.items()} == {
        "train": "train", "eval": "validation", "test": "test"}
    split, raw = loaded["eval"]
    enc = data.encode(raw, spec, split, "normal", tokenizer, tokenizer_fingerprint(tokenizer), 64, cache)
    assert enc.column_names == ["input_ids", "labels", "length"]
    assert enc["labels"] == [CLASSES.index(label) for label in raw["label"]]
    expected = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in raw["text"]]
    assert enc["input_ids"] == expected and all(expected)
    assert enc["length"] == [len(e) for e in expected]


def test_several_features_joined_by_eos_and_truncated(tiny_assets, tokenizer, cache):
    spec = make_spec(tiny_assets.language_dir("alpha"), train_features=["text", "ipa"])
    split, raw = data.load_language(spec, "ipa", ["train"], cache)["train"]
    fp = tokenizer_fingerprint(tokenizer)
    enc = data.encode(raw, spec, split, "ipa", tokenizer, fp, 64, cache)
    ids = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = tokenizer.convert_tokens_to_ids(EOS)
    assert enc[0]["input_ids"] == ids(raw[0]["text"]) + [eos] + ids(raw[0]["ipa"])
    short = data.encode(raw, spec, split, "ipa", tokenizer, fp, 5, cache)
    assert max(short["length"]) == 5 and short[0]["input_ids"] == enc[0]["input_ids"][:5]


def test_tokenized_splits_are_cached(tiny_assets, tokenizer, cache):
    spec = make_spec(tiny_assets.language_dir("beta"))
    split, raw = data.load_language(spec, "normal", ["train"], cache)["train"]
    fp = tokenizer_fingerprint(tokenizer)
    first = data.encode(raw, spec, split, "normal", tokenizer, fp, 64, cache)
    path = first.cache_files[0]["filename"]
    assert path.startswith(os.path.join(cache, "ipa_finetune-tokenized"))
    stamp = os.stat(path).st_mtime_ns
    # a fresh load of the same file gets the same fingerprint, and the map is read back, not redone
    split, raw2 = data.load_language(spec, "normal", ["train"], cache)["train"]
    again = data.encode(raw2, spec, split, "normal", tokenizer, fp, 64, cache)
    assert again.cache_files[0]["filename"] == path and os.stat(path).st_mtime_ns == stamp
    other = data.encode(raw2, spec, split, "normal", tokenizer, fp, 8, cache)  # new max_length: new file
    assert other.cache_files[0]["filename"] != path


def test_int_labels_csv_tsv_parquet_and_single_file(tmp_path, cache):
    import pandas as pd

    frame = pd.DataFrame(rows([0, 1, 2, 1]))
    (tmp_path / "csv").mkdir()
    for split in ("train", "validation"):
        frame.to_csv(tmp_path / "csv" / f"{split}.csv", index=False)
    (tmp_path / "tsv").mkdir()
    frame.to_csv(tmp_path / "tsv" / "train.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "one.parquet")
    for source, roles in ((tmp_path / "csv", ["train", "eval"]), (tmp_path / "tsv", ["train"]),
                          (tmp_path / "one.parquet", ["train"])):
        spec = make_spec(source, label_names=None, test_split=None)
        loaded = data.load_language(spec, "normal", roles, cache)
        assert loaded["train"][1]["label"] == [0, 1, 2, 1], source


def test_save_to_disk_with_classlabel(tmp_path, cache):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "ipa": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "neu", "pos"])})
    ds = datasets.Dataset.from_list(rows([2, 0, 1]), features=features)
    datasets.DatasetDict({"train": ds, "validation": ds}).save_to_disk(str(tmp_path / "saved"))
    spec = make_spec(tmp_path / "saved", label_names=None, test_split=None)
    loaded = data.load_language(spec, "normal", ["train", "eval"], cache)
    assert loaded["eval"][1]["label"] == [2, 0, 1]
    from ipa_finetune.train.labels import class_names
    assert class_names(loaded["train"][1], spec) == ["neg", "neu", "pos"]


# ----------------------------------------------------------------------------- errors

def test_missing_split(tiny_assets, cache):
    msg = bad(make_spec(tiny_assets.language_dir("alpha"), eval_split="dev"), cache)
    assert "split 'dev'" in msg and "no such split" in msg and "'validation'" in msg


def test_missing_column(tiny_assets, cache):
    msg = bad(make_spec(tiny_assets.language_dir("alpha"), eval_feature="sentiment"), cache)
    assert "split 'train', column 'sentiment': no such column" in msg and "'label'" in msg


def test_missing_feature_column(tiny_assets, cache):
    msg = bad(make_spec(tiny_assets.language_dir("alpha"), train_features={"normal": ["txt"]}), cache)
    assert "column 'txt': no such column" in msg


def test_empty_split_file(tmp_path, cache):
    folder = write_splits(str(tmp_path / "d"), rows([0, 1]), [])
    assert "split 'validation': the split is empty" in bad(make_spec(folder, test_split=None), cache)


def test_empty_split_rows(tmp_path, cache):
    import pandas as pd
    (tmp_path / "d").mkdir()
    pd.DataFrame(rows([0, 1])).to_csv(tmp_path / "d" / "train.csv", index=False)
    pd.DataFrame(rows([0, 1])).head(0).to_csv(tmp_path / "d" / "validation.csv", index=False)
    spec = make_spec(tmp_path / "d", test_split=None, label_names=None)
    assert "split 'validation': the split is empty" in bad(spec, cache, ["train", "eval"])


def test_int_label_out_of_range(tmp_path, cache):
    folder = write_splits(str(tmp_path / "d"), rows([0, 1, 2, 3, 5]))
    msg = bad(make_spec(folder, label_names=None), cache, ["train"])
    assert "split 'train', column 'label': label 3 is outside [0, 3)" in msg and "5" in msg


def test_negative_classlabel_value(tmp_path, cache):
    import datasets
    features = datasets.Features({"text": datasets.Value("string"), "ipa": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["a", "b", "c"])})
    datasets.Dataset.from_list(rows([0, -1]), features=features).save_to_disk(str(tmp_path / "s"))
    msg = bad(make_spec(tmp_path / "s", label_names=None), cache, ["train"])
    assert "label -1 is not a class id in [0, 3)" in msg


def test_classlabel_with_wrong_class_count(tmp_path, cache):
    import datasets
    features = datasets.Features({"text": datasets.Value("string"), "ipa": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["a", "b"])})
    datasets.Dataset.from_list(rows([0, 1]), features=features).save_to_disk(str(tmp_path / "s"))
    msg = bad(make_spec(tmp_path / "s", label_names=None), cache, ["train"])
    assert "ClassLabel with 2 classes" in msg and "classes: 3" in msg


def test_unknown_string_label(tmp_path, cache):
    folder = write_splits(str(tmp_path / "d"), rows(["positive", "happy", "negative"]))
    msg = bad(make_spec(folder), cache, ["train"])
    assert "column 'label': label 'happy' is not in label_names" in msg and "'neutral'" in msg


def test_string_labels_without_label_names(tmp_path, cache):
    folder = write_splits(str(tmp_path / "d"), rows(["positive", "negative"]))
    msg = bad(make_spec(folder, label_names=None), cache, ["train"])
    assert "labels are strings" in msg and "label_names" in msg


def test_null_label(tmp_path, cache):
    folder = write_splits(str(tmp_path / "d"), rows([0, None, 1]))
    msg = bad(make_spec(folder, label_names=None), cache, ["train"])
    assert "column 'label': 1 row(s) hold null" in msg


def test_float_labels_rejected(tmp_path, cache):
    folder = write_splits(str(tmp_path / "d"), rows([0.5, 1.0]))
    assert "not supported" in bad(make_spec(folder, label_names=None), cache, ["train"])


def test_non_text_feature(tmp_path, cache):
    folder = str(tmp_path / "d")
    write_jsonl(os.path.join(folder, "train.jsonl"), [{"text": 1, "label": 0}, {"text": 2, "label": 1}])
    msg = bad(make_spec(folder, label_names=None, train_features=["text"]), cache, ["train"])
    assert "column 'text': a train feature must be text" in msg


def test_row_without_tokens(tmp_path, tokenizer, cache):
    folder = write_splits(str(tmp_path / "d"), [{"text": "ka", "label": 0}, {"text": "", "label": 1}])
    spec = make_spec(folder, label_names=None, train_features=["text"])
    split, raw = data.load_language(spec, "normal", ["train"], cache)["train"]
    expected = r"split 'train', column 'text': 1 row\(s\) have no text \(first: row 1\)"
    with pytest.raises(DataError, match=expected):
        data.encode(raw, spec, split, "normal", tokenizer, tokenizer_fingerprint(tokenizer), 64, cache)


def test_unparseable_file(tmp_path, cache):
    folder = str(tmp_path / "d")
    os.makedirs(folder)
    with open(os.path.join(folder, "train.jsonl"), "w") as f:
        f.write('{"text": "a", "label": 0}\n{not json\n')
    msg = bad(make_spec(folder, label_names=None), cache, ["train"])
    assert os.path.join(folder, "train.jsonl") + " line 2, column 2: not valid JSON" in msg


def test_folder_without_data_files(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    assert "no save_to_disk dataset and no <split>.<ext> data files" in bad(
        make_spec(tmp_path / "empty"), cache)


def test_hub_name_not_in_cache(cache):
    msg = bad(make_spec("nobody/no-such-dataset-xyz"), cache, ["train"])
    assert "cannot load" in msg and "HF cache" in msg


def test_train_set_downsamples_with_seed(tiny_assets, tokenizer, cache):
    spec = make_spec(tiny_assets.language_dir("alpha"))
    split, raw = data.load_language(spec, "normal", ["train"], cache)["train"]
    enc = data.encode(raw, spec, split, "normal", tokenizer, tokenizer_fingerprint(tokenizer), 64, cache)
    both = data.train_set([enc, enc], None, 1)
    assert len(both) == 2 * len(enc)
    a, b = data.train_set([enc, enc], 10, 1), data.train_set([enc, enc], 10, 1)
    assert len(a) == 10 and a["input_ids"] == b["input_ids"]
    assert data.train_set([enc, enc], 10, 2)["input_ids"] != a["input_ids"]
    assert len(data.train_set([enc], 10_000, 1)) == len(enc)


def test_collator_pads_with_eos_on_the_right(tokenizer):
    batch = data.collator(tokenizer)([{"input_ids": [5, 6, 7], "labels": 1}, {"input_ids": [8], "labels": 0}])
    eos = tokenizer.eos_token_id
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, eos, eos]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]
    assert json.dumps(sorted(batch.keys())) == '["attention_mask", "input_ids", "labels"]'
