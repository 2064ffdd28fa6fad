"""Cascading JSON5 configs, the language database, and where each value came from.

`config/default.json` (next to this package, whatever the working directory) is loaded first, then
each config file given, in order. A later file overrides an earlier one: objects merge key by key,
anything else (a list, a number, a string, null) replaces. In the free-form maps `languages`,
`model_types` and `slurm.fields`, a null value removes the entry. Files may hold // and /* */
comments and trailing commas (parsed with json5).

Relative paths in `paths` resolve against PROJECT_ROOT (not the working directory), so a Slurm job
finds the same files wherever it starts; `~` and `$VARS` are expanded. Everything is validated
before anything runs; every problem is one ConfigError line naming the file, key, value and what is
valid. Example:

    cfg = load_config(["config/finetune-rus-pol-sentiment.json"])
    spec = dataset_spec(cfg, "russian")   # DatasetSpec of the database entry the config names
"""
import copy
import dataclasses
import os
import re
import sys

import json5

from . import config_schema as schema
from .cli import PROJECT_ROOT
from .config_schema import did_you_mean, listing, show
from .errors import ConfigError

DEFAULT_CONFIG = os.path.join(PROJECT_ROOT, "config", "default.json")
FREE_MAPS = ("languages", "model_types", "slurm.fields")  # null removes an entry here


def display_path(path):
    """A file as shown in messages: relative to PROJECT_ROOT when inside it, else absolute."""
    path = os.path.abspath(path)
    rel = os.path.relpath(path, PROJECT_ROOT)
    return path if rel.startswith("..") else rel


_PARSED = {}  # (path, mtime, size) -> parsed content: json5 is pure Python and slow


def read_json5(path, what="config file"):
    """Parse one JSON5 file; a missing file or a syntax error is a one-line ConfigError."""
    if not os.path.isfile(path):
        raise ConfigError(f"{what} '{path}' not found")
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        _PARSED[key] = _parse(path)
    return copy.deepcopy(_PARSED[key])


def _parse(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return json5.loads(text, allow_duplicate_keys=False)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{display_path(path)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except ValueError as e:
        msg = str(e).replace("\n", "\\n")
        m = re.match(r"^<string>:(\d+) (.*) at column (\d+)$", msg)
        where = f"{display_path(path)}:{m.group(1)}:{m.group(3)}" if m else display_path(path)
        raise ConfigError(f"{where}: invalid JSON: {m.group(2) if m else msg}") from None


def find_config_file(path):
    """A config file argument: relative to the working directory, else to PROJECT_ROOT."""
    candidates = [os.path.abspath(os.path.expanduser(path))]
    if not os.path.isabs(path):
        candidates.append(os.path.join(PROJECT_ROOT, path))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    tried = " or ".join(dict.fromkeys(candidates))
    raise ConfigError(f"config file '{path}' not found (looked for {tried})")


def resolve_path(p):
    """An absolute path: `~` and $VARS expanded, relative paths taken from PROJECT_ROOT."""
    expanded = os.path.expandvars(os.path.expanduser(p))
    unset = re.search(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expanded)
    if unset:
        raise ConfigError(f"path {show(p)}: environment variable {unset.group(1)} is not set")
    return os.path.normpath(os.path.join(PROJECT_ROOT, expanded))


# ----------------------------------------------------------------------------- merge + provenance

def _forget(prov, dotted):
    for key in [k for k in prov if k == dotted or k.startswith(dotted + ".")]:
        del prov[key]


def _record(prov, value, file, dotted):
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _record(prov, sub, file, f"{dotted}.{key}")
    else:
        prov[dotted] = file


def deep_merge(base, new, prov, file, prefix=""):
    """Merge `new` into `base` in place: objects key by key, everything else replaces. `prov` maps
    each dotted leaf key to the file that set it."""
    for key, value in new.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            prov.pop(dotted, None)  # an object is no leaf: its keys carry the provenance
            deep_merge(base[key], value, prov, file, dotted + ".")
            if not base[key]:
                _forget(prov, dotted)
                prov[dotted] = file
            continue
        _forget(prov, dotted)
        if value is None and prefix[:-1] in FREE_MAPS:
            base.pop(key, None)
            continue
        base[key] = copy.deepcopy(value)
        _record(prov, value, file, dotted)


def _origin(prov, files):
    """file_of(dotted): the file that set a key (the latest one, for an object)."""
    order = {f: i for i, f in enumerate(files)}

    def file_of(dotted):
        while True:
            if dotted in prov:
                return prov[dotted]
            under = [f for k, f in prov.items() if not dotted or k.startswith(dotted + ".")]
            if under:
                return max(under, key=lambda f: order.get(f, -1))
            if "." not in dotted:
                return files[-1]
            dotted = dotted.rsplit(".", 1)[0]
    return file_of


# ----------------------------------------------------------------------------- loading

def load_config_with_provenance(paths):
    """default.json, then each path; merged and validated. Returns (config, {dotted key: file})."""
    files = [DEFAULT_CONFIG] + [find_config_file(p) for p in paths]
    cfg, prov, shown = {}, {}, []
    for path in files:
        data = read_json5(path)
        name = display_path(path)
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: a config file must hold one JSON object {{...}}, not {show(data)}")
        deep_merge(cfg, data, prov, name)
        shown.append(name)
    file_of = _origin(prov, shown)
    schema.validate_tree(cfg, schema.SCHEMA, file_of)
    schema.validate_model_types(cfg["model_types"], file_of)
    schema.validate_slurm_fields(cfg["slurm"]["fields"], file_of)
    schema.validate_language_names(cfg["languages"], file_of)
    for key, value in cfg["paths"].items():
        try:
            cfg["paths"][key] = resolve_path(value)
        except ConfigError as e:
            raise ConfigError(f"{file_of('paths.' + key)}: paths.{key}: {e}") from None
    _resolve_languages(cfg, prov, file_of)
    return cfg, prov


def load_config(paths):
    """The resolved config (a plain dict) of default.json + `paths`; raises ConfigError."""
    return load_config_with_provenance(paths)[0]


def _resolve_languages(cfg, prov, file_of):
    """Check task, languages and datasets against the database; a list of languages becomes
    {language: the task's only dataset}."""
    db_file = cfg["paths"]["language_database"]
    db = load_database(db_file)
    db_name = display_path(db_file)
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
    for lang, name in cfg["languages"].items():
        _lookup_entry(db, db_name, lang, task, name, file_of(f"languages.{lang}"), file_of("task"))
    for lang, name in cfg["languages"].items():
        features = db[lang][task][name]["train_features"]
        missing = [m for m in cfg["model_types"] if isinstance(features, dict) and m not in features]
        if missing:
            raise ConfigError(f"{db_name}: {lang}.{task}.{name}.train_features has no columns for model "
                              f"type(s) {', '.join(missing)} (it covers {listing(features)}); add them, "
                              "or remove the model type from model_types (null removes it)")


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


def load_database(path):
    """The validated language database at `path`."""
    if not os.path.isfile(path):
        raise ConfigError(f"language database '{path}' not found (set paths.language_database)")
    db = read_json5(path, "language database")
    schema.validate_database(db, display_path(path))
    return db


# ----------------------------------------------------------------------------- datasets

@dataclasses.dataclass
class DatasetSpec:
    """One language's dataset for the config's task, as the language database describes it.
    `dataset` is an absolute path for local data, else a Hugging Face hub name."""
    language: str
    task: str
    name: str
    dataset: str
    subset: str | None
    train_features: dict | list  # model type -> columns, or columns for every model type
    eval_feature: str
    train_split: str
    eval_split: str
    test_split: str | None
    task_type: str
    classes: int
    label_names: list | None
    data_format: str | None
    database: str = ""  # the database file, for messages

    @property
    def is_local(self):
        return os.path.isabs(self.dataset)

    def features_for(self, model_type):
        """The text columns the model of `model_type` reads (joined by the end-of-document token)."""
        if isinstance(self.train_features, list):
            return list(self.train_features)
        if model_type not in self.train_features:
            raise ConfigError(f"{self.database}: {self.language}.{self.task}.{self.name}.train_features "
                              f"has no columns for model type '{model_type}' "
                              f"(it covers {listing(self.train_features)})")
        return list(self.train_features[model_type])


DATA_FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow", ".txt")


def resolve_dataset(value):
    """Local path or hub name? Local (returned absolute): a path that starts with / ./ ../ ~ or $,
    has two or more '/' (hub ids are `name` or `org/name`), ends in a data file suffix, or exists
    relative to PROJECT_ROOT. Anything else is a hub name, returned as written."""
    local = (value.startswith(("/", "./", "../", "~", "$")) or value.count("/") >= 2
             or value.lower().endswith(DATA_FILE_SUFFIXES)
             or os.path.exists(os.path.join(PROJECT_ROOT, value)))
    return resolve_path(value) if local else value


def dataset_spec(cfg, language):
    """The DatasetSpec of `language` in a loaded config."""
    validate_languages(cfg, [language], check_data=False)
    db_file = cfg["paths"]["language_database"]
    db_name = display_path(db_file)
    name = cfg["languages"][language]
    entry = _lookup_entry(load_database(db_file), db_name, language, cfg["task"], name, "config", "config")
    splits = entry["splits"]
    features = entry["train_features"]
    return DatasetSpec(
        language=language, task=cfg["task"], name=name, dataset=resolve_dataset(entry["dataset"]),
        subset=entry.get("subset"),
        train_features=dict(features) if isinstance(features, dict) else list(features),
        eval_feature=entry["eval_feature"], train_split=splits[0], eval_split=splits[1],
        test_split=splits[2] if len(splits) == 3 else None, task_type=entry["task_type"],
        classes=entry["classes"], label_names=list(entry["label_names"]) if "label_names" in entry else None,
        data_format=entry.get("data_format"), database=db_name)


def validate_model_type(cfg, model_type):
    """Raise ConfigError unless `model_type` is one of the config's model_types."""
    types = cfg["model_types"]
    if model_type not in types:
        raise ConfigError(f"model type '{model_type}' is not in the config's model_types"
                          f"{did_you_mean(model_type, types)} (valid: {listing(types)})")


def validate_languages(cfg, langs, check_data=True):
    """Raise ConfigError unless every language is one of the config's languages (and, with
    check_data, its local dataset path exists)."""
    langs = list(langs)
    if not langs:
        raise ConfigError(f"no languages given (the config's languages: {listing(cfg['languages'])})")
    for lang in langs:
        if lang not in cfg["languages"]:
            raise ConfigError(f"language '{lang}' is not one of the config's languages"
                              f"{did_you_mean(lang, cfg['languages'])} (valid: {listing(cfg['languages'])})")
    if check_data:
        for lang in langs:
            spec = dataset_spec(cfg, lang)
            if spec.is_local and not os.path.exists(spec.dataset):
                raise ConfigError(f"{spec.database}: {lang}.{spec.task}.{spec.name}.dataset: local path "
                                  f"'{spec.dataset}' does not exist")


def shared_classes(cfg, langs):
    """The number of classes the languages of one run share. They feed one classifier, so their
    datasets need the same `classes` (class id i should also mean the same class in each); raise
    ConfigError otherwise, naming each dataset's count."""
    specs = [dataset_spec(cfg, lang) for lang in sorted(set(langs))]
    counts = {spec.classes for spec in specs}
    if len(counts) > 1:
        detail = ", ".join(f"{s.language}.{s.task}.{s.name}.classes = {s.classes}" for s in specs)
        raise ConfigError(
            f"{specs[0].database}: the languages of one run share one classifier, so their datasets need "
            f"the same classes, but {detail}; run these languages separately, or give their datasets "
            "one shared label set")
    return counts.pop()


# ----------------------------------------------------------------------------- grid config

def load_grid_config(path, cfg):
    """A grid-search config checked against `cfg`. Returns {"file": abs path, "parameters":
    {hyperparameter: [values]} (a scalar becomes a one-value list), "languages": {"train": [...],
    "eval": [...]}} with "all" expanded to the config's languages (sorted)."""
    file = find_config_file(path)
    grid = schema.validate_grid(read_json5(file, "grid config"), display_path(file), list(cfg["languages"]))
    return {"file": file, **grid}


# ----------------------------------------------------------------------------- command line

def add_config_arguments(parser):
    """The positional config files and --print-config, for every script."""
    parser.add_argument("config", nargs="+",
                        help="config files, applied in order after config/default.json "
                             "(a later file overrides an earlier one)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config with the file that set each value, then exit")


def config_from_args(args):
    """Load the config files named by add_config_arguments; with --print-config print and exit 0."""
    cfg, prov = load_config_with_provenance(args.config)
    if getattr(args, "print_config", False):
        try:
            print(format_config(cfg, prov), flush=True)
        except BrokenPipeError:  # `--print-config | head`: the reader left, which is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    return cfg


def format_config(cfg, prov):
    """The resolved config as JSON5 text, each value followed by a comment naming its file."""
    files = list(dict.fromkeys(prov.values()))
    lines = ["// resolved config; each value's comment names the file that set it",
             "// files: " + ", ".join(files), "{"]
    _render(cfg, "", 1, prov, lines)
    return "\n".join(lines + ["}"])


def _render(obj, prefix, depth, prov, lines):
    pad = "  " * depth
    items = list(obj.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        dotted = prefix + key
        name = show(key, limit=1000)
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{name}: {{")
            _render(value, dotted + ".", depth + 1, prov, lines)
            lines.append(f"{pad}}}{comma}")
        else:
            lines.append(f"{pad}{name}: {show(value, limit=10**6)}{comma}  // {prov.get(dotted, '?')}")
