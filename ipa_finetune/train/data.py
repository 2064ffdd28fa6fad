"""Datasets: load a language's dataset, check it, and turn it into cached token ids.

Where a dataset comes from (the language database's `dataset` value):
- a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`;
- a folder holding one data file per split, `<split>.<ext>` (ext: jsonl, json, csv, tsv, parquet), e.g.
  `train.jsonl`, `validation.jsonl`, `test.jsonl`: the split name is the file name;
- a single data file: it is the split `train` (datasets' convention);
- otherwise a Hugging Face hub name (with the db's `subset`), which must already be in the HF datasets
  cache (`paths.hf_cache`): jobs run offline.
`data_format` in the db entry (json, csv, parquet, ...) overrides the guess from the file extension.

Labels (`eval_feature`) may be ints in [0, classes), a ClassLabel (its ids are used), or strings, which
need `label_names` in the db entry: the position in that list is the class id. The same id must mean the
same class in every language of a study, since their train splits feed one classifier.
"""
import contextlib
import hashlib
import json
import logging
import os

from ..errors import DataError, one_line
from ..inputs.diagnose import load_error, not_utf8
from ..inputs.fingerprint import hub_split
from ..inputs.splits import builder_of, is_saved_dataset, local_split, split_names, where
from .labels import label_encoder, validate_labels

# Bump when the encoding below changes, so old cached token ids are not reused.
ENCODING_VERSION = 1


def _is_blank(path):
    """An empty data file (datasets cannot load one: it has no columns)."""
    size = os.path.getsize(path)
    if size == 0:
        return True
    if size < 4096:
        with open(path, "rb") as f:
            return not f.read().strip()
    return False


def _load_file(spec, split, path, cache_dir):
    """One split from one data file; loaded alone, so its cache (and the tokenized cache keyed on it)
    does not depend on which other splits a run needs."""
    import datasets

    builder = builder_of(spec, split, path)
    if _is_blank(path):
        raise DataError(f"{where(spec, split)}: the split is empty ({path} has no rows)")
    kwargs = {"delimiter": "\t"} if path.lower().endswith(".tsv") else {}
    try:
        with _quiet_datasets_errors():
            ds = datasets.load_dataset(builder, data_files={split: path}, split=split,
                                       cache_dir=cache_dir, **kwargs)
    except Exception as e:
        if "corresponds to no data" in str(e):  # e.g. a csv with a header and no rows
            raise DataError(f"{where(spec, split)}: the split is empty ({path} has no rows)") from None
        raise load_error(spec, split, path, e, builder) from None
    return ds


@contextlib.contextmanager
def _quiet_datasets_errors():
    """datasets logs its own "Failed to load JSON from file ..." before raising; the error we raise
    names the file and line instead."""
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _load(spec, splits, cache_dir):
    """-> {split: Dataset} for the named splits; DataError naming what is missing or unreadable.
    Where a split is comes from inputs.splits.local_split (the rule the fingerprints and the
    pre-flight check use); hub data from the HF cache is loaded once per process (hub_split)."""
    import datasets

    if not spec.is_local:
        return {split: hub_split(spec, split, cache_dir) for split in splits}
    located = {split: local_split(spec, split) for split in splits}
    if not is_saved_dataset(spec):
        return {split: _load_file(spec, split, source.path, cache_dir) for split, source in located.items()}
    try:
        saved = datasets.load_from_disk(spec.dataset)
    except Exception as e:  # a damaged save_to_disk folder
        raise DataError(f"{where(spec)}: cannot load: {type(e).__name__}: {one_line(e, 400)}") from None
    if isinstance(saved, datasets.Dataset):
        saved = {str(saved.split or "train"): saved}
    return {split: saved[split] for split in splits}


def _check_columns(ds, spec, split, features, target):
    """The source columns (text), the label or target column: present, no nulls, valid UTF-8."""
    texts = list(features) + ([target] if spec.task_type == "seq2seq" else [])
    for col in list(features) + [target]:
        if col not in ds.column_names:
            raise DataError(f"{where(spec, split, col)}: no such column; the split has "
                            f"{ds.column_names}")
        nulls = ds.data.column(col).null_count
        if nulls:
            raise DataError(f"{where(spec, split, col)}: {nulls} row(s) hold null/missing values")
    for col in texts:
        dtype = getattr(ds.features[col], "dtype", None)
        if dtype not in ("string", "large_string"):
            kind = "a train feature" if col in features else "a seq2seq target"
            raise DataError(f"{where(spec, split, col)}: {kind} must be text, got {ds.features[col]}")
    _check_text(ds, spec, split, list(features) + [target])


def _check_text(ds, spec, split, columns):
    """Text columns must be valid UTF-8: arrow's JSON reader loads other bytes as they are, and
    tokenizing them would crash later (validate(full=True) checks every string, in C++)."""
    import pyarrow as pa

    for col in columns:
        if getattr(ds.features[col], "dtype", None) not in ("string", "large_string"):
            continue
        try:
            ds.data.column(col).validate(full=True)
        except pa.ArrowInvalid:  # found on the error path only: the file to name, when there is one
            path = local_split(spec, split).path if spec.is_local and not is_saved_dataset(spec) else None
            raise not_utf8(spec, split, path, col) from None


def load_language(spec, model_type, roles, cache_dir):
    """Load and check the splits one language needs: `roles` names some of "train", "eval", "test";
    `model_type`: whose train_features (and seq2seq target) are read (ModelSpec.features_key).
    -> dict role -> (split name, raw Dataset). Raises DataError before any token is computed."""
    features = spec.features_for(model_type)
    if not features:
        raise DataError(f"{where(spec)}: no train_features for model type '{model_type}'")
    target = spec.target_for(model_type)
    names = split_names(spec, roles)
    loaded = _load(spec, sorted(set(names.values())), cache_dir)
    out = {}
    for role, split in names.items():
        ds = loaded[split]
        if len(ds) == 0:
            raise DataError(f"{where(spec, split)}: the split is empty")
        _check_columns(ds, spec, split, features, target)
        if spec.task_type == "classification":  # a seq2seq target is checked when encoded
            validate_labels(ds, spec, split)
        out[role] = (split, ds)
    return out


def _fingerprint(ds, tokenizer_fp, features, label_key, max_length):
    key = json.dumps([ENCODING_VERSION, ds._fingerprint, tokenizer_fp, features, label_key, max_length])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def encode(ds, spec, split, model_type, tokenizer, tokenizer_fp, max_length, cache_dir):
    """Token ids of one split, through a batched `map` cached under `cache_dir/ipa_finetune-tokenized`
    with a fingerprint of (source data, tokenizer, features, labels, max_length): the jobs of a grid,
    and a resumed job, reuse it. Columns: input_ids, labels, length (for length-grouped batches).
    The train features of a row are joined with the end-of-document token; the result is cut to
    `max_length` tokens (the model's block size or less)."""
    features = spec.features_for(model_type)
    encode_label, label_key = label_encoder(ds, spec)
    eos_id = tokenizer.eos_token_id
    fp = _fingerprint(ds, tokenizer_fp, features, label_key, max_length)
    folder = os.path.join(cache_dir, "ipa_finetune-tokenized")
    os.makedirs(folder, exist_ok=True)

    def encode_batch(batch):
        parts = [tokenizer(batch[f], add_special_tokens=False)["input_ids"] for f in features]
        ids = []
        for row_parts in zip(*parts):
            row = list(row_parts[0])
            for part in row_parts[1:]:
                row += [eos_id] + list(part)
            ids.append(row[:max_length])
        return {"input_ids": ids, "labels": [encode_label(v) for v in batch[spec.eval_feature]],
                "length": [len(r) for r in ids]}

    out = ds.map(encode_batch, batched=True, remove_columns=ds.column_names, new_fingerprint=fp,
                 cache_file_name=os.path.join(folder, f"{fp}.arrow"),
                 desc=f"Tokenizing {spec.language}/{split}")
    # read the arrow column at once: datasets 5 iterates out["length"] row by row (seconds per 100k rows)
    empty = [i for i, n in enumerate(out.data.column("length").to_pylist()) if n == 0]
    if empty:
        raise DataError(f"{where(spec, split, features[0])}: {len(empty)} row(s) have no text "
                        f"(first: row {empty[0]}); remove them or add text")
    return out


def train_set(parts, train_samples, seed):
    """The train splits of all train languages, concatenated, optionally downsampled to
    `train_samples` examples (a seeded shuffle: the same seed picks the same examples)."""
    import datasets

    ds = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    if train_samples and train_samples > len(ds):
        logging.getLogger("ipa_finetune").warning(
            "train_samples = %d but the train splits hold %d examples: using all of them",
            train_samples, len(ds))
    if train_samples and train_samples < len(ds):
        ds = ds.shuffle(seed=seed, keep_in_memory=True).select(range(train_samples))
    return ds


def collator(tokenizer):
    """Pads each batch to its longest row with the eos id (right side) and builds the attention mask."""
    from transformers import DataCollatorWithPadding
    return DataCollatorWithPadding(tokenizer)
