"""Cascading JSON5 configs and where each value came from.

`config/default.json` (next to this package, whatever the working directory) is loaded first, then
each config file given, in order. A later file overrides an earlier one: objects merge key by key,
anything else (a list, a number, a string, null) replaces. In the free-form maps `languages`,
`model_types`, `slurm.fields` and `slurm.options`, a null value removes the entry. Files may hold // and /* */
comments and trailing commas (parsed with json5).

Relative paths in `paths` resolve against PROJECT_ROOT (config/reading.py). Everything is validated
before anything runs, the languages against the language database (config/database.py); every
problem is one ConfigError line naming the file, key, value and what is valid. Example:

    cfg = load_config(["config/finetune-rus-pol-sentiment.json"])   # a plain dict
    study = load_study(["config/finetune-rus-pol-sentiment.json"])  # config/study.py: resolved once
"""
import copy
import os
import sys

from ..errors import ConfigError
from . import schema
from .database import load_database, resolve_languages, task_type_of
from .reading import DEFAULT_CONFIG, display_path, find_config_file, read_json5, resolve_path
from .schema import show

FREE_MAPS = ("languages", "model_types", "slurm.fields", "slurm.options")  # null removes an entry here


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

def load(paths):
    """default.json, then each path; merged and validated. Returns (config, {dotted key: file},
    {language: its language-database entry})."""
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
    schema.validate_slurm_options(cfg["slurm"]["options"], file_of)
    schema.validate_language_names(cfg["languages"], file_of)
    for key, value in cfg["paths"].items():
        try:
            cfg["paths"][key] = resolve_path(value)
        except ConfigError as e:
            raise ConfigError(f"{file_of('paths.' + key)}: paths.{key}: {e}") from None
    entries = resolve_languages(cfg, prov, file_of, load_database(cfg["paths"]["language_database"]))
    resolve_task_metric(cfg["hyperparameters"], task_type_of(cfg, entries, file_of), cfg["task"],
                        file_of("hyperparameters.metric_for_best_model"))
    return cfg, prov, entries


def resolve_task_metric(hp, task_type, task, file):
    """metric_for_best_model null becomes the task type's default (schema.DEFAULT_METRIC); a metric
    of another task type is a ConfigError."""
    metric = hp.get("metric_for_best_model")
    if metric is None:
        hp["metric_for_best_model"] = schema.DEFAULT_METRIC[task_type]
    else:
        check_task_metric(metric, task_type, task, "hyperparameters.metric_for_best_model", file)


def check_task_metric(metric, task_type, task, dotted, file):
    valid = schema.TASK_METRICS[task_type]
    if metric is not None and metric not in valid:
        raise ConfigError(f"{file}: {dotted} = {show(metric)} is not a {task_type} metric (task '{task}' "
                          f"is {task_type}){schema.did_you_mean(metric, valid)}; expected one of "
                          f"{', '.join(valid)}")


def default_paths():
    """config/default.json's paths, resolved: where results and jobs are when no study is named."""
    return {key: resolve_path(value) for key, value in read_json5(DEFAULT_CONFIG)["paths"].items()}


def load_config(paths):
    """The resolved config (a plain dict) of default.json + `paths`; raises ConfigError."""
    return load(paths)[0]


# ----------------------------------------------------------------------------- grid config

def load_grid_config(path, cfg, task_type=None):
    """A grid-search config checked against `cfg` (and its metrics against the study's task type,
    when given). Returns {"file": abs path, "parameters": {hyperparameter: [values]} (a scalar becomes
    a one-value list), "languages": {"train": [...], "eval": [...]}} with "all" expanded to the
    config's languages (sorted)."""
    file = find_config_file(path)
    grid = schema.validate_grid(read_json5(file, "grid config"), display_path(file), list(cfg["languages"]))
    for metric in grid["parameters"].get("metric_for_best_model", []) if task_type else []:
        check_task_metric(metric, task_type, cfg["task"], "parameters.metric_for_best_model",
                          display_path(file))
    return {"file": file, **grid}


# ----------------------------------------------------------------------------- command line

def add_config_arguments(parser):
    """The positional config files and --print-config, for every script."""
    parser.add_argument("config", nargs="+",
                        help="config files, applied in order after config/default.json "
                             "(a later file overrides an earlier one)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config with the file that set each value, then exit")


def load_from_args(args):
    """(config, {language: db entry}) of the config files named by add_config_arguments; with
    --print-config print the config and exit 0."""
    cfg, prov, entries = load(args.config)
    if getattr(args, "print_config", False):
        try:
            print(format_config(cfg, prov), flush=True)
        except BrokenPipeError:  # `--print-config | head`: the reader left, which is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    return cfg, entries


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
