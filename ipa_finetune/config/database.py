"""The language database: language -> task -> dataset name -> entry, and the DatasetSpec of an entry.

    db = load_database("config/language-database.json")          # validated (config/entries.py)
    entries = resolve_languages(cfg, prov, file_of, db)           # {language: entry} the config uses
    spec = dataset_spec(entries["russian"], "russian", "sentiment", "rusentiment", db_name)
"""
import dataclasses
import os

from ..files import PROJECT_ROOT
from ..errors import ConfigError
from .entries import validate_database
from .reading import display_path, read_json5, resolve_path
from .schema import did_you_mean, listing, show

DATA_FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow", ".txt")


def load_database(path):
    """The validated language database at `path`."""
    if not os.path.isfile(path):
        raise ConfigError(f"language database '{path}' not found (set paths.language_database)")
    db = read_json5(path, "language database")
    validate_database(db, display_path(path))
    return db


def _task_datasets(db, db_name, lang, task, file, dotted, task_file):
    if lang not in db:
        raise ConfigError(f"{file}: {dotted}: language '{lang}' is not in the language database "
                          f"{db_name}{did_you_mean(lang, db)} (languages: {listing(db)})")
    if task not in db[lang]:
        raise ConfigError(f"{task_file}: task '{task}' is not defined for language '{lang}' ({file}) in "
                          f"{db_name}{did_you_mean(task, db[lang])} (tasks for {lang}: {listing(db[lang])})")
    return db[lang][task]


def _lookup_entry(db, db_name, lang, task, name, file, task_file):
    datasets = _task_datasets(db, db_name, lang, task, file, f"languages.{lang}", task_file)
    if name not in datasets:
        raise ConfigError(f"{file}: languages.{lang} = {show(name)}: no such '{task}' dataset for {lang} "
                          f"in {db_name}{did_you_mean(name, datasets)} (available: {listing(datasets)})")
    return datasets[name]


def resolve_languages(cfg, prov, file_of, db):
    """Check task, languages and datasets against the database; a list of languages becomes
    {language: the task's only dataset}. Returns {language: its database entry}."""
    db_name = display_path(cfg["paths"]["language_database"])
    task, languages = cfg["task"], cfg["languages"]
    tasks = sorted({t for lang in db.values() for t in lang})
    if task is None:
        raise ConfigError(f'no task set: add "task": "<name>" to a config file ({file_of("task")} '
                          f"leaves it null; tasks in {db_name}: {listing(tasks)})")
    if not languages:
        raise ConfigError(f'no languages set: add "languages": {{"<language>": "<dataset name>"}} '
                          f"to a config file ({file_of('languages')} leaves it empty; languages in "
                          f"{db_name}: {listing(db)})")
    if isinstance(languages, list):
        listed_in = prov.pop("languages")
        cfg["languages"] = {}
        for lang in languages:
            datasets = _task_datasets(db, db_name, lang, task, listed_in, "languages", file_of("task"))
            if len(datasets) > 1:
                raise ConfigError(f"{listed_in}: languages lists '{lang}', but {db_name} has several "
                                  f"'{task}' datasets for it ({listing(datasets)}); name one: "
                                  f'"languages": {{"{lang}": "<dataset name>", ...}}')
            cfg["languages"][lang] = next(iter(datasets))
            prov[f"languages.{lang}"] = listed_in
    entries = {lang: _lookup_entry(db, db_name, lang, task, name, file_of(f"languages.{lang}"),
                                   file_of("task"))
               for lang, name in cfg["languages"].items()}
    for lang, entry in entries.items():
        for key in ("train_features", "eval_feature"):
            _check_model_types(cfg, entry, key, f"{db_name}: {lang}.{task}.{cfg['languages'][lang]}.{key}")
    return entries


def _check_model_types(cfg, entry, key, where):
    """A per-model-type train_features or (seq2seq) eval_feature must cover every model type."""
    columns = entry[key]
    missing = [m for m, e in cfg["model_types"].items()
               if isinstance(columns, dict) and e.get("features_of", m) not in columns]
    if missing:
        what = "columns" if key == "train_features" else "target column"
        raise ConfigError(f"{where} has no {what} for model type(s) {', '.join(missing)} (it covers "
                          f"{listing(columns)}); add them, remove the model type from model_types (null "
                          f"removes it), or give it \"features_of\": one of {listing(columns)}")


def task_type_of(cfg, entries, file_of):
    """The task type the config's languages share (their entries for the task); ConfigError when they
    differ: one study trains one kind of model."""
    types = {lang: entry["task_type"] for lang, entry in entries.items()}
    if len(set(types.values())) > 1:
        detail = ", ".join(f"{lang}: {t}" for lang, t in sorted(types.items()))
        raise ConfigError(f"{file_of('languages')}: the languages' '{cfg['task']}' datasets have different "
                          f"task types ({detail}) in {display_path(cfg['paths']['language_database'])}; "
                          "one study is one task type")
    return next(iter(types.values()))


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One language's dataset for the config's task, as the language database describes it.
    `dataset` is an absolute path for local data, else a Hugging Face hub name."""
    language: str
    task: str
    name: str
    dataset: str
    subset: str | None
    train_features: dict | list  # model type -> columns, or columns for every model type
    eval_feature: str | dict     # the label column; seq2seq: the target column (or model type -> it)
    train_split: str
    eval_split: str
    test_split: str | None
    task_type: str
    classes: int | None          # None for seq2seq
    label_names: list | None
    data_format: str | None
    database: str = ""  # the database file, for messages
    ipa_columns: tuple = ()      # the columns the entry's `ipa` object makes (ipa_columns_of)

    @property
    def is_local(self):
        return os.path.isabs(self.dataset)

    @property
    def where(self):
        """`<database>: <language>.<task>.<name>`: where the entry is, for messages."""
        return f"{self.database}: {self.language}.{self.task}.{self.name}"

    def features_for(self, model_type):
        """The text columns the model of `model_type` reads (joined by the end-of-document token)."""
        if isinstance(self.train_features, list):
            return list(self.train_features)
        if model_type not in self.train_features:
            raise ConfigError(f"{self.where}.train_features has no columns for model type '{model_type}' "
                              f"(it covers {listing(self.train_features)})")
        return list(self.train_features[model_type])

    def target_for(self, model_type):
        """The column a model of `model_type` is scored against: the label column, or (seq2seq) the
        target text column it learns to write."""
        if isinstance(self.eval_feature, str):
            return self.eval_feature
        if model_type not in self.eval_feature:
            raise ConfigError(f"{self.where}.eval_feature has no target column for model type "
                              f"'{model_type}' (it covers {listing(self.eval_feature)})")
        return self.eval_feature[model_type]


def ipa_columns_of(entry):
    """The IPA columns of a database entry, as its `ipa` object makes them (prepare-data.py): the
    keys of ipa.columns, else the columns model type "ipa" reads. () without `ipa`."""
    ipa = entry.get("ipa")
    if not ipa:
        return ()
    if "columns" in ipa:
        return tuple(ipa["columns"])
    features = entry["train_features"]
    return tuple(features.get("ipa", ())) if isinstance(features, dict) else ()


def resolve_dataset(value):
    """Local path or hub name? Local (returned absolute): a path that starts with / ./ ../ ~ or $,
    has two or more '/' (hub ids are `name` or `org/name`), ends in a data file suffix, or exists
    relative to PROJECT_ROOT. Anything else is a hub name, returned as written."""
    local = (value.startswith(("/", "./", "../", "~", "$")) or value.count("/") >= 2
             or value.lower().endswith(DATA_FILE_SUFFIXES)
             or os.path.exists(os.path.join(PROJECT_ROOT, value)))
    return resolve_path(value) if local else value


def dataset_spec(entry, language, task, name, database):
    """The DatasetSpec of one (validated) database entry."""
    splits = entry["splits"]
    features = entry["train_features"]
    return DatasetSpec(
        language=language, task=task, name=name, dataset=resolve_dataset(entry["dataset"]),
        subset=entry.get("subset"),
        train_features=dict(features) if isinstance(features, dict) else list(features),
        eval_feature=dict(target) if isinstance(target := entry["eval_feature"], dict) else target,
        train_split=splits[0], eval_split=splits[1],
        test_split=splits[2] if len(splits) == 3 else None, task_type=entry["task_type"],
        classes=entry.get("classes"),
        label_names=list(entry["label_names"]) if "label_names" in entry else None,
        data_format=entry.get("data_format"), database=database, ipa_columns=ipa_columns_of(entry))
