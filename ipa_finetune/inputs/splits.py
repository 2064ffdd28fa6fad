"""Where a dataset's splits are on disk, and how messages name them. Shared by the fingerprints, the
pre-flight check and the data loader (train/data.py), so that the three always agree on which file
a split reads.

    split_files(spec, spec.dataset)         # {"train": ".../train.jsonl", ...}: a file or a folder
    split_names(spec, ["train", "eval"])     # {"train": "train", "eval": "validation"}
"""
import dataclasses
import json
import os

from ..errors import DataError

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
SAVED_MARKERS = ("dataset_dict.json", "state.json")  # save_to_disk of a DatasetDict / a Dataset


def where(spec, split=None, column=None):
    """The location named by every data error message: dataset, language, path, split, column."""
    text = f"dataset '{spec.name}' of language '{spec.language}' ({spec.dataset})"
    if split is not None:
        text += f", split '{split}'"
    if column is not None:
        text += f", column '{column}'"
    return text


def roles_of(lang, train_langs, eval_langs):
    """The splits a language contributes to a run: its train split if it trains, its eval split
    always (every language's validation split is evaluated after each epoch, so that any selection
    protocol can be applied afterwards: config/selection.py), its test split if it is evaluated."""
    return (["train"] if lang in train_langs else []) + ["eval"] + (
        ["test"] if lang in eval_langs else [])


@dataclasses.dataclass(frozen=True)
class LocalSplit:
    """Where one split of a local dataset is: a data file, or a save_to_disk folder and its files."""
    path: str                  # the data file, or the split's save_to_disk folder
    saved_files: list | None   # [(name, path)] of a save_to_disk split (saved_split_files), else None


def local_split(spec, split):
    """The LocalSplit of `split` of a local dataset; DataError when the path or the split is missing.
    The one rule the fingerprints, the pre-flight check and the loader share."""
    if not os.path.exists(spec.dataset):
        raise DataError(f"{where(spec)}: local path {spec.dataset} does not exist")
    if is_saved_dataset(spec):
        return LocalSplit(*saved_split_files(spec, split))
    files = split_files(spec, spec.dataset)
    if split not in files:
        raise DataError(f"{where(spec, split)}: no such split; the dataset has {sorted(files)}")
    return LocalSplit(files[split], None)


def split_names(spec, roles):
    """{role: split name} of the roles (train, eval, test) whose split the entry names."""
    wanted = {"train": spec.train_split, "eval": spec.eval_split, "test": spec.test_split}
    return {role: wanted[role] for role in roles if wanted[role] is not None}


def is_saved_dataset(spec):
    """A folder written by Dataset.save_to_disk / DatasetDict.save_to_disk."""
    return spec.is_local and os.path.isdir(spec.dataset) and any(
        os.path.isfile(os.path.join(spec.dataset, f)) for f in SAVED_MARKERS)


def split_files(spec, path):
    """{split: file} for a data file (split "train") or a folder of `<split>.<ext>` files."""
    if os.path.isfile(path):
        return {"train": path}
    files = {}
    for entry in sorted(os.listdir(path)):
        stem, ext = os.path.splitext(entry)
        if ext.lower() in FILE_BUILDERS and os.path.isfile(os.path.join(path, entry)):
            if stem in files:
                raise DataError(f"{where(spec, stem)}: two files for one split in {path}: "
                                f"{os.path.basename(files[stem])} and {entry}; keep one")
            files[stem] = os.path.join(path, entry)
    if not files:
        raise DataError(f"{where(spec)}: folder {path} holds no save_to_disk dataset and no "
                        f"<split>.<ext> data files (ext: {', '.join(sorted(FILE_BUILDERS))})")
    return files


def builder_of(spec, split, path):
    """The `datasets` builder (json, csv, parquet) of a data file: the entry's data_format, else the
    file's extension."""
    builder = spec.data_format or FILE_BUILDERS.get(os.path.splitext(path)[1].lower())
    if builder is None:
        raise DataError(f"{where(spec, split)}: cannot tell the format of {path}; use one of "
                        f"{', '.join(sorted(FILE_BUILDERS))} or set data_format in the db entry")
    return builder


def _read_state(folder):
    try:
        with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def saved_split_files(spec, split):
    """[(name, path)] of one split of a save_to_disk dataset: state.json, dataset_info.json and the
    arrow files state.json lists (not cache files that a later `map` may have left in the folder)."""
    folder, has = spec.dataset, [str((_read_state(spec.dataset) or {}).get("_split") or "train")]
    if os.path.isfile(os.path.join(spec.dataset, "dataset_dict.json")):
        folder = os.path.join(spec.dataset, split)
        has = sorted(d for d in os.listdir(spec.dataset) if os.path.isdir(os.path.join(spec.dataset, d)))
    state = _read_state(folder) if split in has else None
    if state is None:
        raise DataError(f"{where(spec, split)}: no such split; the dataset has {has}")
    names = ["state.json", "dataset_info.json"] + [d["filename"] for d in state.get("_data_files", [])]
    return folder, [(name, os.path.join(folder, name)) for name in names
                    if os.path.isfile(os.path.join(folder, name))]
