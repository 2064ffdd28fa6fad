"""What a valid language-database entry looks like (config/schema.py's rules and messages): language
-> task -> dataset name -> entry, its keys depending on the entry's task_type (classification: a
label column and `classes`; seq2seq: a target text column, per model type if need be, and no classes).
Every check raises ConfigError with one line naming the file, the entry, the key and what is valid.
"""
from ..errors import ConfigError
from .schema import (CLASSIFICATION_ONLY, DATA_FORMATS, ENTRY_OPTIONAL, ENTRY_REQUIRED, IPA_KEYS, NAME, STRING,
                     TASK_TYPES, check_keys, check_object, check_value, choice, integer, show)


def validate_database(db, file):
    """The whole language database: language -> task -> dataset name -> entry."""
    check_object(db, "language database", file)
    for lang, tasks in db.items():
        check_value(lang, NAME, f"language name {show(lang)}", file)
        check_object(tasks, lang, file)
        for task, datasets in tasks.items():
            check_value(task, NAME, f"task name {show(task)} in {lang}", file)
            check_object(datasets, f"{lang}.{task}", file)
            for name, entry in datasets.items():
                check_value(name, NAME, f"dataset name {show(name)} in {lang}.{task}", file)
                validate_entry(entry, f"{lang}.{task}.{name}", file)


def validate_entry(entry, dotted, file):
    valid = ENTRY_REQUIRED + ENTRY_OPTIONAL
    check_object(entry, dotted, file, list(ENTRY_REQUIRED))
    check_keys(entry, dotted, valid, lambda _key: file)
    if "task_type" in entry:
        check_value(entry["task_type"], choice(TASK_TYPES), f"{dotted}.task_type", file)
    task_type = entry.get("task_type")
    if task_type == "seq2seq":
        for key in CLASSIFICATION_ONLY:
            if key in entry:
                raise ConfigError(f"{file}: {dotted}.{key} is not allowed in a seq2seq entry: its target "
                                  "is text, not a class (remove the key; eval_feature names the target "
                                  "column)")
    required = ENTRY_REQUIRED if task_type != "seq2seq" else tuple(
        k for k in ENTRY_REQUIRED if k not in CLASSIFICATION_ONLY)
    check_keys(entry, dotted, valid, lambda _key: file, required=required)
    for key in ("dataset", "subset"):
        if key in entry:
            check_value(entry[key], STRING, f"{dotted}.{key}", file)
    _validate_splits(entry["splits"], f"{dotted}.splits", file)
    _validate_features(entry["train_features"], f"{dotted}.train_features", file)
    if task_type == "seq2seq":
        _validate_target(entry["eval_feature"], f"{dotted}.eval_feature", file)
    else:
        check_value(entry["eval_feature"], STRING, f"{dotted}.eval_feature", file)
        check_value(entry["classes"], integer(2), f"{dotted}.classes", file)
    if "label_names" in entry:
        _validate_label_names(entry["label_names"], entry["classes"], f"{dotted}.label_names", file)
    if "data_format" in entry:
        check_value(entry["data_format"], choice(DATA_FORMATS), f"{dotted}.data_format", file)
    if "ipa" in entry:
        _validate_ipa(entry["ipa"], f"{dotted}.ipa", file)


def _validate_target(target, dotted, file):
    """A seq2seq entry's eval_feature: the target column for every model type, or model type ->
    column (e.g. the ipa model writes IPA)."""
    if STRING.ok(target):
        return
    if isinstance(target, dict) and target:
        for model_type, column in target.items():
            check_value(model_type, NAME, f"model type {show(model_type)} in {dotted}", file)
            check_value(column, STRING, f"{dotted}.{model_type}", file)
        return
    raise ConfigError(f"{file}: {dotted} = {show(target)} is not valid; expected the target column's "
                      "name, or an object model type -> target column name")


def _validate_splits(splits, dotted, file):
    ok = (isinstance(splits, list) and len(splits) in (2, 3)
          and all(STRING.ok(s) for s in splits) and len(set(splits)) == len(splits))
    if not ok:
        raise ConfigError(f"{file}: {dotted} = {show(splits)} is not valid; expected 2 or 3 different "
                          "split names: [train, eval] or [train, eval, test]")


def _validate_features(features, dotted, file):
    def is_list(v):
        return isinstance(v, list) and len(v) > 0 and all(STRING.ok(f) for f in v)

    if is_list(features):
        return
    if isinstance(features, dict) and features:
        for model_type, cols in features.items():
            check_value(model_type, NAME, f"model type {show(model_type)} in {dotted}", file)
            if not is_list(cols):
                raise ConfigError(f"{file}: {dotted}.{model_type} = {show(cols)} is not valid; "
                                  "expected a non-empty list of column names")
        return
    raise ConfigError(f"{file}: {dotted} = {show(features)} is not valid; expected a non-empty list of "
                      "column names, or an object model type -> list of column names")


def _validate_label_names(names, classes, dotted, file):
    ok = isinstance(names, list) and all(STRING.ok(n) for n in names) and len(set(names)) == len(names)
    if not ok or len(names) != classes:
        raise ConfigError(f"{file}: {dotted} = {show(names)} is not valid; expected {classes} different "
                          f"strings (one per class, classes = {classes}), label id = position")


def _validate_ipa(ipa, dotted, file):
    """{"epitran": "<code>", "columns"?: {"<ipa column>": "<text column>"}}; the code itself is checked
    against epitran's own list by prepare-data.py, so that training never needs epitran."""
    check_object(ipa, dotted, file, list(IPA_KEYS))
    check_keys(ipa, dotted, IPA_KEYS, lambda _key: file, required=("epitran",))
    check_value(ipa["epitran"], STRING, f"{dotted}.epitran", file)
    if "columns" in ipa:
        columns = ipa["columns"]
        ok = (isinstance(columns, dict) and columns
              and all(STRING.ok(k) and STRING.ok(v) for k, v in columns.items()))
        if not ok:
            raise ConfigError(f"{file}: {dotted}.columns = {show(columns)} is not valid; expected an object "
                              '{"<IPA column>": "<text column it transcribes>", ...}')
