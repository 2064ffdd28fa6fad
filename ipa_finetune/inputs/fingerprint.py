"""A run's inputs by content: what makes two runs the same experiment.

    found = run_inputs(study, "ipa", ["polish", "russian"], ["russian"])   # results.json's "inputs"
    identity(found)        # the same without paths and names: what the run id hashes
    changes(old, found)    # ["checkpoint sha256 1a2b3c4d5e6f → 9f8e7d6c5b4a", "russian columns text → ipa"]

`found` is
    {"checkpoint": {"path", "size", "sha256"},
     "tokenizer": {"name", "path": [files], "kind": "bpe" | "json", "eos_token", "size", "sha256"},
     "datasets": {language: {"name", "path" (local) | "hub", "subset", "columns" (what this model
                             type reads), "label_column" (seq2seq: the target column it
                             writes), "splits", "classes", "label_names",
                             "data_format", "task_type",
                             "data": {split: {"path", "size", "sha256"} | {"fingerprint"}}}}}
with "data" holding the splits the run reads: a local file's size and sha256, a save_to_disk
split's files, or the `datasets` fingerprint of hub data in the HF cache. Paths and names are
recorded but are not identity: a checkpoint moved elsewhere with the same bytes is the same input.
"""
from ..errors import DataError, UserError, one_line
from .hashing import file_sha256, files_sha256
from .splits import local_split, roles_of, split_names, where

NOT_IDENTITY = ("path", "name")  # where an input is and what it is called, not what it is
SHORT = 12                       # hex digits of a hash shown to people
_hubs = {}                       # (name, subset, cache_dir) -> DatasetDict, loaded once per process
_warned = set()                  # dataset entries already warned about (shared_columns)


def _checkpoint(model, cache_dir):
    return file_sha256(model.existing_checkpoint(), cache_dir, sidecar=True)


def _tokenizer(model, cache_dir):
    kind, paths = model.tokenizer_files()
    labels = ["vocab", "merges"] if kind == "bpe" else ["tokenizer.json"]
    found = files_sha256(list(zip(labels, paths)), cache_dir, paths)
    return {"name": model.tokenizer, "kind": kind, "eos_token": model.eos_token, **found}


def hub_split(spec, split, cache_dir):
    """One split of a hub dataset, from the HF cache only (loaded once per process)."""
    key = (spec.dataset, spec.subset, cache_dir)
    if key not in _hubs:
        import datasets
        try:
            _hubs[key] = datasets.load_dataset(spec.dataset, spec.subset, cache_dir=cache_dir)
        except Exception as e:  # not in the cache, a bad subset, ...
            raise DataError(f"{where(spec)}: cannot load: a hub name, but not in the HF cache {cache_dir} "
                            f"({type(e).__name__}: {one_line(e)}); jobs run offline: download it there once, "
                            "or give a local path") from None
    if split not in _hubs[key]:
        raise DataError(f"{where(spec, split)}: no such split; the dataset has {sorted(_hubs[key])}")
    return _hubs[key][split]


def _split_data(spec, split, cache_dir):
    """The data fingerprint of one split (DataError when it is missing)."""
    if not spec.is_local:
        return {"fingerprint": hub_split(spec, split, cache_dir)._fingerprint}
    source = local_split(spec, split)
    if source.saved_files is not None:
        return files_sha256(source.saved_files, cache_dir, source.path)
    return file_sha256(source.path, cache_dir)


def dataset_entry(spec, columns, target):
    """The resolved database entry as a model type reads it (`columns`: Study.columns, `target`:
    Study.target, the label column or the seq2seq target column)."""
    entry = {"name": spec.name, "subset": spec.subset, "columns": columns, "label_column": target,
             "splits": [s for s in (spec.train_split, spec.eval_split, spec.test_split) if s],
             "classes": spec.classes, "label_names": spec.label_names, "data_format": spec.data_format,
             "task_type": spec.task_type}
    entry.update({"path": spec.dataset} if spec.is_local else {"hub": spec.dataset})
    return entry


def _part(strict, compute):
    """compute(); with strict=False a missing or unreadable input becomes {"missing": message}
    (the launchers plan every job first and then report every problem at once)."""
    try:
        return compute()
    except OSError as e:
        error = UserError(f"cannot read {e.filename}: {e.strerror}")
    except UserError as e:
        error = e
    if strict:
        raise error
    return {"missing": str(error)}


def run_inputs(study, model_type, train_langs, eval_langs, strict=True):
    """The inputs of one run (see the module docstring). Raises UserError naming a missing input,
    unless strict=False."""
    model = study.model(model_type)
    cache_dir = study.cfg["paths"]["hf_cache"]
    found = {"checkpoint": _part(strict, lambda: _checkpoint(model, cache_dir)),
             "tokenizer": _part(strict, lambda: _tokenizer(model, cache_dir)), "datasets": {}}
    for lang in sorted(set(train_langs) | set(eval_langs)):
        spec = study.dataset(lang)
        entry = dataset_entry(spec, study.columns(lang, model_type), study.target(lang, model_type))
        roles = roles_of(lang, train_langs, eval_langs)
        splits = sorted(set(split_names(spec, roles).values()))
        entry["data"] = {s: _part(strict, lambda s=s: _split_data(spec, s, cache_dir)) for s in splits}
        found["datasets"][lang] = entry
    return found


def identity(found):
    """`found` without paths and names, recursively: the part the run id hashes."""
    if isinstance(found, dict):
        return {k: identity(v) for k, v in found.items() if k not in NOT_IDENTITY}
    if isinstance(found, list):
        return [identity(v) for v in found]
    return found


def short(digest):
    return str(digest)[:SHORT]


def _leaves(tree, prefix=()):
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from _leaves(value, prefix + (str(key),))
    else:
        yield prefix, tree


def _show(key, value):
    if key[-1] in ("sha256", "fingerprint") and isinstance(value, str):
        return short(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "+".join(value) or "[]"
    return "none" if value is None else str(value)


def changes(old, new, shared_only=False):
    """What differs between two runs' inputs, one short phrase each, e.g. `checkpoint sha256
    1a2b3c4d5e6f → 9f8e7d6c5b4a` or `russian columns text → ipa` (sizes are left out when the
    hash differs too). `old` None: inputs not recorded (a results.json of schema 1). shared_only:
    compare only what both record (runs that read other languages or splits)."""
    if not isinstance(old, dict):
        return ["inputs not recorded (a results.json from before schema 2)"]
    before, after = dict(_leaves(identity(old))), dict(_leaves(identity(new)))
    keys = set(before) & set(after) if shared_only else set(before) | set(after)
    out = []
    for key in sorted(keys, key=lambda k: (k[0] != "checkpoint", k)):
        if before.get(key) == after.get(key):
            continue
        if key[-1] == "size" and before.get(key[:-1] + ("sha256",)) != after.get(key[:-1] + ("sha256",)):
            continue
        label = " ".join(key[1:] if key[0] == "datasets" else key)
        out.append(f"{label} {_show(key, before.get(key))} → {_show(key, after.get(key))}")
    return out


def shared_columns(study, languages):
    """Warnings, one per dataset entry, where two or more model types of the study read the same
    columns: legal (e.g. a list-form train_features), but for an ipa model usually a mistake. Each
    entry is warned about once per process. None for seq2seq, where reading the same source (and
    writing the same target) is how both model types do one task."""
    lines = []
    if study.seq2seq:
        return lines
    for lang in sorted(set(languages)):
        spec = study.dataset(lang)
        readers = {}
        for mt, model in study.models.items():
            if model.features_of is None:  # a declared features_of shares columns on purpose
                readers.setdefault(tuple(study.columns(lang, mt)), []).append(mt)
        for columns, types in readers.items():
            if len(types) > 1 and (spec.where, columns) not in _warned:
                _warned.add((spec.where, columns))
                lines.append(
                    f"{spec.where}: model types {' and '.join(types)} read the same column(s) "
                    f"{', '.join(columns)}; legal, but a model pretrained on IPA usually reads an IPA "
                    'column: give train_features one list per model type, e.g. {"normal": ["text"], '
                    '"ipa": ["ipa"]}')
    return lines
