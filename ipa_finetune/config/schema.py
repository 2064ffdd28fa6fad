"""What a valid experiment config, language database and grid config look like.

Every check raises ConfigError with ONE line naming the file, the key, the value and what is valid,
e.g. `unknown key 'hyperparameters.wamrup_ratio' in config/x.json; did you mean 'warmup_ratio'?`.
loader.py parses and merges the files; this module only judges their content.
"""
import collections
import difflib
import json
import math
import re

from ..errors import ConfigError
from ..seq2seq_layout import SEPARATORS
from ..text_metrics import UNITS

# A rule: `ok(value) -> bool` and the words that tell the user what would be valid.
Rule = collections.namedtuple("Rule", "ok expected")

# Names of studies, languages, tasks, datasets and model types end up in run ids, file names and
# job names (run ids join languages with '+' and parts with '__'; dotted keys use '.').
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
NAME_RULE_TEXT = "a name of letters, digits, '_' and '-' (no spaces, dots, '+' or '/')"
# Slurm's --time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
SLURM_TIME_RE = re.compile(r"^(\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2})$")
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # usable as a str.format {field}

# Schedulers of transformers' SchedulerType that need no extra arguments.
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
              "constant_with_warmup", "inverse_sqrt")
# Metrics a run reports per language and split, and that hyperparameters.metric_for_best_model may
# name, per task type: classification's precision, recall and f1 are macro averages; seq2seq's are
# text_metrics.py's (chrF and BLEU 0-100, exact match 0-1, error rate in characters or phones) and the
# target tokens' cross-entropy. Loss and error rate are "lower is better", the others "higher".
TASK_METRICS = {"classification": ("accuracy", "precision", "recall", "f1", "loss"),
                "seq2seq": ("chrf", "bleu", "exact_match", "error_rate", "loss")}
METRICS = tuple(dict.fromkeys(m for ms in TASK_METRICS.values() for m in ms))
LOWER_IS_BETTER = ("loss", "error_rate")
# metric_for_best_model null (config/default.json): macro F1 is fair under class imbalance; chrF
# scores partly right outputs (a word with one wrong phone), where exact match and BLEU give 0.
DEFAULT_METRIC = {"classification": "f1", "seq2seq": "chrf"}
# How a run picks the epoch it keeps (hyperparameters.selection), see ipa_finetune/config/selection.py:
# on the train languages' validation splits (zero-shot for cross-lingual runs), on the eval
# languages' validation splits, or no choice at all (the last epoch).
SELECTIONS = ("source", "target", "last")
# How a model type's body starts (model_types.<t>.init): the checkpoint's weights, or a random
# initialisation of the checkpoint's architecture (a no-pretraining control).
INITS = ("pretrained", "random")
TASK_TYPES = tuple(TASK_METRICS)
ERROR_UNITS = ("auto",) + UNITS  # generation.error_unit: "auto" = phones for an IPA target column
DATA_FORMATS = ("json", "csv", "parquet")  # datasets' builders for local data files
# Job template fields (the spec's "Job Templates"): the required ones, then the others the job
# generators set per job. slurm.fields may set neither; it may override the installation's fields
# `python` and `project_dir` (another python on the compute nodes) and add any of its own.
REQUIRED_TEMPLATE_FIELDS = ("job_name", "cpus", "gpus", "timeout", "args")
# sbatch_options: the #SBATCH lines of slurm.options; array / array_task: a job array's #SBATCH
# --array line and the lines that read its task's line of the job list (empty for a single job).
JOB_TEMPLATE_FIELDS = REQUIRED_TEMPLATE_FIELDS + (
    "log", "run_id", "run_dir", "study", "model_type", "train_langs", "eval_langs", "output_dir",
    "temp_config_name", "sbatch_options", "array", "array_task")
GRID_ONLY_TEMPLATE_FIELDS = ("temp_config_name",)
# slurm.options: sbatch's long option names -> value; `true` is a bare flag, `false` leaves it out.
SBATCH_OPTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$")
# Options the templates and launchers set themselves, and where to set them instead.
OWN_SBATCH_OPTIONS = {
    "job-name": "the launchers name each job", "cpus-per-task": "slurm.cpus or --cpus",
    "gpus": "slurm.gpus or --gpus", "time": "slurm.timeout or --timeout",
    "output": "the launchers set each job's log (<output dir>/logs/)", "error": "the log holds both streams",
    "array": "the launchers write job arrays (--array-limit, --no-array)",
    "signal": "the templates' --signal=B:TERM@120 (it makes time-limited jobs resumable)",
    "ntasks": "the templates run one task per job", "parsable": "the launchers read sbatch's output",
    "wrap": "the jobs run the template's script", "dependency": "the launchers' report job",
}


def higher_is_better(metric):
    """Which way a metric improves: settings and epochs are chosen by its highest value (lowest for
    a loss)."""
    return metric not in LOWER_IS_BETTER


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(minimum, below=None):
    text = f"an integer >= {minimum}" + (f" and < {below}" if below is not None else "")
    return Rule(lambda v: _is_int(v) and v >= minimum and (below is None or v < below), text)


def number(minimum, below=None, strict=False):
    """A finite number >= minimum (> minimum if strict), and < below when given."""
    low = f"> {minimum}" if strict else f">= {minimum}"
    text = f"a number {low}" + (f" and < {below}" if below is not None else "")

    def ok(v):
        return (_is_number(v) and (v > minimum if strict else v >= minimum)
                and (below is None or v < below))
    return Rule(ok, text)


def choice(values):
    return Rule(lambda v: v in values, "one of " + ", ".join(map(str, values)))


def nullable(rule):
    return Rule(lambda v: v is None or rule.ok(v), rule.expected + " or null")


STRING = Rule(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")
NAME = Rule(lambda v: isinstance(v, str) and bool(NAME_RE.match(v)), NAME_RULE_TEXT)
BOOL = Rule(lambda v: isinstance(v, bool), "true or false")
SLURM_TIME = Rule(lambda v: isinstance(v, str) and bool(SLURM_TIME_RE.match(v)),
                  'a Slurm time string such as "04:00:00", "90" (minutes) or "1-12:00:00"')
# How many runs one Slurm job runs (launch/packing.py): a count, or "auto" (a count from the time limit).
RUNS_PER_JOB = Rule(lambda v: v == "auto" or (_is_int(v) and v >= 1), '"auto" or an integer >= 1')

SEED = integer(0, below=2**32)


def _is_seed_list(v):
    return (isinstance(v, list) and len(v) > 0 and all(SEED.ok(s) for s in v)
            and len(set(v)) == len(v))


# A study may ask for several seeds (replicates): the launchers start one run per seed.
SEEDS = Rule(lambda v: SEED.ok(v) or _is_seed_list(v),
             f"{SEED.expected}, or a non-empty list of different such integers (one run per seed)")

HYPERPARAMETERS = {
    "learning_rate": Rule(number(0, strict=True).ok, "a number > 0 (e.g. 5e-4)"),
    "batch_size": integer(1),
    "eval_batch_size": integer(1),
    "epochs": integer(1),
    "warmup_ratio": number(0, below=1),
    "weight_decay": number(0),
    "lr_scheduler_type": choice(SCHEDULERS),
    "gradient_accumulation_steps": integer(1),
    "max_length": integer(1),
    "seed": SEEDS,
    "train_samples": nullable(integer(1)),
    "metric_for_best_model": nullable(choice(METRICS)),
    "dropout": nullable(number(0, below=1)),
    "selection": choice(SELECTIONS),
}
# One grid value is one run's value: a grid loops over a list of seeds itself.
GRID_VALUE_RULES = dict(HYPERPARAMETERS, seed=SEED)

FREE = "free-form map"  # marker: keys are the user's names, checked by a dedicated function
PATH_KEYS = ("checkpoint_prefix", "tokenizer_prefix", "hf_cache", "results_dir", "jobs_dir",
             "temp_config_dir", "language_database")

# The resolved config: every key must be present (default.json sets them all).
SCHEMA = {
    "study": NAME,
    "paths": {key: STRING for key in PATH_KEYS},
    "task": nullable(NAME),  # null in default.json; load_config then asks for one
    "languages": FREE,
    "model_types": FREE,
    "tokenizer": {"eos_token": STRING},
    "hyperparameters": HYPERPARAMETERS,
    "slurm": {"cpus": integer(1), "gpus": integer(0), "timeout": SLURM_TIME, "runs_per_job": RUNS_PER_JOB,
              "runs_at_once": integer(1), "fields": FREE, "options": FREE},
    "wandb": {"enabled": BOOL, "project": STRING, "entity": nullable(STRING)},
    # seq2seq tasks only (docs/seq2seq.md); max_new_tokens against the checkpoint's block_size is
    # checked with the checkpoint (inputs/preflight.py)
    "generation": {"max_new_tokens": integer(1), "num_beams": integer(1, below=101),
                   "separator": choice(SEPARATORS), "error_unit": choice(ERROR_UNITS)},
}
MODEL_TYPE_KEYS = {"model_prefix": STRING, "tokenizer": STRING, "eos_token": STRING, "init": choice(INITS),
                   "features_of": NAME}
MODEL_TYPE_REQUIRED = ("model_prefix", "tokenizer")

# A language-database entry: language -> task -> dataset name -> entry. `classes` (and label_names)
# belong to classification: a seq2seq entry's eval_feature is its target text column.
ENTRY_REQUIRED = ("dataset", "train_features", "eval_feature", "splits", "task_type", "classes")
ENTRY_OPTIONAL = ("subset", "label_names", "data_format", "ipa")
CLASSIFICATION_ONLY = ("classes", "label_names")
# The entry's `ipa` object: how prepare-data.py transcribes the text columns (training never reads it).
IPA_KEYS = ("epitran", "columns")


def show(value, limit=60):
    """A value as JSON, shortened, on one line (for messages)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word, options):
    """'; did you mean 'x'?' for the closest option, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def listing(options):
    return ", ".join(sorted(map(str, options))) or "(none)"


def unknown_key(dotted, key, valid, file):
    return ConfigError(f"unknown key '{dotted}' in {file}{did_you_mean(key, valid)} "
                       f"(valid keys here: {', '.join(valid)})")


def check_value(value, rule, dotted, file):
    if not rule.ok(value):
        raise ConfigError(f"{file}: {dotted} = {show(value)} is not valid; expected {rule.expected}")


def check_object(value, dotted, file, valid=None):
    if not isinstance(value, dict):
        keys = f" with keys {', '.join(valid)}" if valid else ""
        raise ConfigError(f"{file}: {dotted} = {show(value)} is not valid; expected an object{keys}")


def check_keys(obj, dotted, valid, file_of, required=()):
    """Unknown keys (with did-you-mean) and missing required keys of one object."""
    for key in obj:
        if key not in valid:
            sub = f"{dotted}.{key}" if dotted else key
            raise unknown_key(sub, key, list(valid), file_of(sub))
    for key in required:
        if key not in obj:
            raise ConfigError(f"{file_of(dotted)}: '{dotted or 'config'}' is missing the key '{key}' "
                              f"(required: {', '.join(required)})")


def validate_tree(obj, schema, file_of, dotted=""):
    """Check a merged config against SCHEMA. `file_of(dotted_key)` names the file that set a key."""
    check_object(obj, dotted or "config", file_of(dotted), list(schema))
    check_keys(obj, dotted, schema, file_of, required=list(schema))
    for key, rule in schema.items():
        sub = f"{dotted}.{key}" if dotted else key
        if isinstance(rule, dict):
            validate_tree(obj[key], rule, file_of, sub)
        elif rule is not FREE:
            check_value(obj[key], rule, sub, file_of(sub))


def validate_model_types(model_types, file_of):
    check_object(model_types, "model_types", file_of("model_types"))
    if not model_types:
        raise ConfigError(f"{file_of('model_types')}: model_types is empty; define at least one, "
                          'e.g. "normal": {"model_prefix": "normal", "tokenizer": "normal"}')
    for name, entry in model_types.items():
        dotted = f"model_types.{name}"
        check_value(name, NAME, f"model type name {show(name)} in model_types", file_of(dotted))
        check_object(entry, dotted, file_of(dotted), list(MODEL_TYPE_KEYS))
        check_keys(entry, dotted, MODEL_TYPE_KEYS, file_of, required=MODEL_TYPE_REQUIRED)
        for key, value in entry.items():
            check_value(value, MODEL_TYPE_KEYS[key], f"{dotted}.{key}", file_of(f"{dotted}.{key}"))


def validate_slurm_fields(fields, file_of):
    check_object(fields, "slurm.fields", file_of("slurm.fields"))
    for name, value in fields.items():
        dotted = f"slurm.fields.{name}"
        if name in JOB_TEMPLATE_FIELDS:
            where = f"slurm.{name}" if name in ("cpus", "gpus", "timeout") else "the job generators"
            raise ConfigError(f"{file_of(dotted)}: {dotted} is not allowed; the template field "
                              f"'{name}' is set by {where} for each job (per-job fields: "
                              f"{', '.join(JOB_TEMPLATE_FIELDS)})")
        if not FIELD_NAME_RE.match(name):
            raise ConfigError(f"{file_of(dotted)}: slurm.fields key {show(name)} is not a valid "
                              "template field name; expected letters, digits and '_'")
        if not (isinstance(value, str) or _is_number(value)):
            raise ConfigError(f"{file_of(dotted)}: {dotted} = {show(value)} is not valid; "
                              "expected a string or a number")


def validate_slurm_options(options, file_of):
    """slurm.options: {long option name: value} rendered as `#SBATCH --name=value` lines (sbatch, not
    bash, reads them: it splits at whitespace and has no quoting, so values hold no whitespace)."""
    check_object(options, "slurm.options", file_of("slurm.options"))
    for name, value in options.items():
        dotted = f"slurm.options.{name}"
        if not SBATCH_OPTION_RE.match(name):
            raise ConfigError(f"{file_of(dotted)}: slurm.options key {show(name)} is not an sbatch long "
                              "option name; expected letters, digits and '-', without the leading "
                              "'--' (e.g. \"partition\", \"mem-per-cpu\")")
        if name in OWN_SBATCH_OPTIONS:
            raise ConfigError(f"{file_of(dotted)}: {dotted} is not allowed: the jobs already set "
                              f"--{name} (use {OWN_SBATCH_OPTIONS[name]})")
        if isinstance(value, bool) or _is_number(value):
            continue
        if not isinstance(value, str) or not value or any(c.isspace() or not c.isprintable() or c in "\"'"
                                                          for c in value):
            raise ConfigError(f"{file_of(dotted)}: {dotted} = {show(value)} is not valid; expected a "
                              "string without spaces, quotes or control characters, a number, true (a "
                              "bare flag such as --exclusive) or false (left out)")


def validate_language_names(languages, file_of):
    """`languages` as written: {language: dataset name} or [language, ...]."""
    if isinstance(languages, list):
        for lang in languages:
            check_value(lang, NAME, "languages[]", file_of("languages"))
        dupes = sorted({lang for lang in languages if languages.count(lang) > 1})
        if dupes:
            raise ConfigError(f"{file_of('languages')}: languages lists {', '.join(dupes)} twice")
        return
    check_object(languages, "languages", file_of("languages"))
    for lang, dataset in languages.items():
        dotted = f"languages.{lang}"
        check_value(lang, NAME, f"language name {show(lang)} in languages", file_of(dotted))
        check_value(dataset, NAME, dotted, file_of(dotted))


def validate_grid(grid, file, config_languages):
    """A grid-search config; returns {"parameters": {key: [values]}, "languages": {train, eval}}."""
    check_object(grid, "grid config", file, ["parameters", "languages"])
    check_keys(grid, "", ("parameters", "languages"), lambda _key: file)
    params = grid.get("parameters", {})
    check_object(params, "parameters", file, list(HYPERPARAMETERS))
    check_keys(params, "parameters", HYPERPARAMETERS, lambda _key: file)
    looped = {}
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ConfigError(f"{file}: parameters.{key} is an empty list; give one or more values")
        for v in values:
            check_value(v, GRID_VALUE_RULES[key], f"parameters.{key}", file)
        if len({json.dumps(v) for v in values}) != len(values):
            raise ConfigError(f"{file}: parameters.{key} = {show(values)} repeats a value")
        looped[key] = values
    langs = grid.get("languages", {})
    check_object(langs, "languages", file, ["train", "eval"])
    check_keys(langs, "languages", ("train", "eval"), lambda _key: file)
    chosen = {side: _grid_languages(langs.get(side, "all"), f"languages.{side}", file, config_languages)
              for side in ("train", "eval")}
    return {"parameters": looped, "languages": chosen}


def _grid_languages(value, dotted, file, config_languages):
    if value == "all":
        return sorted(config_languages)
    names = [value] if isinstance(value, str) else value
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise ConfigError(f"{file}: {dotted} = {show(value)} is not valid; expected \"all\", a language "
                          f"name or a list of them ({listing(config_languages)})")
    for name in names:
        if name not in config_languages:
            raise ConfigError(f"{file}: {dotted} names '{name}', which is not one of the config's "
                              f"languages ({listing(config_languages)}){did_you_mean(name, config_languages)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{file}: {dotted} = {show(value)} names a language twice")
    return sorted(names)
