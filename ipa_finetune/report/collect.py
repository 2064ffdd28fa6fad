"""Reading finished runs back: every results.json under some folders, validated, as Run objects.

    runs, bad = load_results(["results/demo"])      # bad: [BadFile(path, reason)], skipped

A bad file never stops a report: it is listed with its reason. tables.py computes from the Runs.
"""
import json
import math
import statistics
from dataclasses import dataclass, field

from ..config.schema import SELECTIONS
from ..config.selection import selection_of
from ..files import find_all
from ..runs import READABLE_SCHEMAS, RESULTS_FILE, canonical

SPLITS = ("eval", "test")


class ResultError(Exception):
    """A results.json that cannot be used; the message is the reason shown in the report."""


@dataclass(frozen=True)
class Run:
    path: str                 # the results.json file
    run_id: str
    study: str
    task: str
    model_type: str
    train_langs: tuple        # sorted
    eval_langs: tuple         # sorted
    hyperparameters: dict
    seed: object
    metrics: dict             # language -> split -> metric -> value
    data: dict = field(repr=False)  # the whole parsed file

    def setting_identity(self):
        """What makes runs replicates of one experiment: the hyperparameters without the seed, plus
        (as the run id does) the datasets and the model type's entry (checkpoint and tokenizer
        names), so that runs on other data or another checkpoint are never averaged as seeds, and
        for seq2seq the generation settings. Each is left out when the file lacks it."""
        ident = {k: v for k, v in self.hyperparameters.items() if k != "seed"}
        model = ((self.data.get("config") or {}).get("model_types") or {}).get(self.model_type)
        generation = (self.data.get("seq2seq") or {}).get("generation")
        for key, value in (("datasets", self.data.get("datasets")), ("model", model),
                           ("generation", generation)):
            if value:
                ident[key] = value
        return ident

    @property
    def setting(self):
        """setting_identity() as canonical JSON: a dictionary key."""
        return canonical(self.setting_identity())

    def value(self, lang, split, metric):
        """The metric as a float, or None when the file has no finite number there."""
        return _number(((self.metrics.get(lang) or {}).get(split) or {}).get(metric))

    def mean_value(self, split, metric):
        """Mean over the run's eval languages (how best_score is defined); None if any is missing."""
        vals = [self.value(lang, split, metric) for lang in self.eval_langs]
        return None if any(v is None for v in vals) else statistics.fmean(vals)

    def protocols(self):
        """The selection protocols this run can be read under: all of them when it recorded each
        protocol's epoch (results.json "selection_epochs"), else only the one it was trained with."""
        picks = self.data.get("selection_epochs")
        if isinstance(picks, dict) and picks:
            return tuple(p for p in SELECTIONS if p in picks)
        return (selection_of(self.hyperparameters),)

    def outcome(self, protocol):
        """The run under `protocol` (an Outcome), or None when it cannot be read so."""
        picks = self.data.get("selection_epochs")
        if isinstance(picks, dict) and picks:
            pick = picks.get(protocol)
            if not pick:
                return None
            key = str(pick["epoch"])
            return Outcome(self, protocol, pick["epoch"], _number(pick.get("score")),
                           self.data["epochs"][key], (self.data.get("epoch_predictions") or {}).get(key) or {})
        if protocol != selection_of(self.hyperparameters):
            return None
        return Outcome(self, protocol, self.data.get("best_epoch"), _number(self.data.get("best_score")),
                       self.metrics, self.data.get("predictions") or {})


def _number(v):
    """A finite float, or None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


@dataclass(frozen=True)
class Outcome:
    """One run read under one selection protocol: the epoch the protocol picks, the run's selection
    score there (mean metric_for_best_model over the protocol's validation splits: what a grid's
    settings are compared by) and that epoch's metrics and predictions."""
    run: Run
    protocol: str
    epoch: object
    score: object             # float, or None when the run has none
    metrics: dict             # language -> split -> metric -> value
    predictions: dict         # language -> split -> file relative to the run folder

    def value(self, lang, split, metric):
        """The metric as a float, or None when there is no finite number there."""
        return _number(((self.metrics.get(lang) or {}).get(split) or {}).get(metric))

    def __getattr__(self, name):  # run_id, model_type, seed, train_langs, ...: the run's
        if name.startswith("__") or name == "run":  # copy/pickle probes, before `run` is set
            raise AttributeError(name)
        return getattr(self.run, name)


@dataclass(frozen=True)
class BadFile:
    path: str
    reason: str


def _lang_list(data, key):
    v = data.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise ResultError(f"'{key}' is {v!r}, expected a non-empty list of language names")
    return tuple(sorted(v))


def parse_run(data, path):
    """Validate one parsed results.json (schema 1 or 2: 2 adds inputs and provenance, which
    report/lineage.py reads); raise ResultError naming what is wrong."""
    if not isinstance(data, dict):
        raise ResultError(f"top level is a {type(data).__name__}, expected a JSON object")
    if "schema_version" not in data:
        raise ResultError("missing key 'schema_version'")
    if data["schema_version"] not in READABLE_SCHEMAS:
        raise ResultError(f"schema_version {data['schema_version']!r} is not supported "
                          f"(expected {' or '.join(map(str, READABLE_SCHEMAS))})")
    for key in ("run_id", "study", "task", "model_type"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise ResultError(f"'{key}' is {data.get(key)!r}, expected a non-empty string")
    train, evals = _lang_list(data, "train_langs"), _lang_list(data, "eval_langs")
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        raise ResultError(f"'metrics' is {metrics!r}, expected an object language -> split -> metrics")
    for lang in evals:
        per_lang = metrics.get(lang)
        if not isinstance(per_lang, dict) or not isinstance(per_lang.get("eval"), dict):
            raise ResultError(f"'metrics' has no 'eval' metrics for eval language '{lang}'")
    hp = data.get("hyperparameters") or {}
    if not isinstance(hp, dict):
        raise ResultError(f"'hyperparameters' is {hp!r}, expected an object")
    _check_epochs(data)
    seed = data.get("seed", hp.get("seed"))
    return Run(path=path, run_id=data["run_id"], study=data["study"], task=data["task"],
               model_type=data["model_type"], train_langs=train, eval_langs=evals,
               hyperparameters=hp, seed=seed, metrics=metrics, data=data)


def _check_epochs(data):
    """The per-epoch records, when present: every protocol's pick names an epoch of "epochs"."""
    picks, epochs = data.get("selection_epochs"), data.get("epochs")
    if picks is None:
        return
    if not isinstance(picks, dict) or not isinstance(epochs, dict):
        raise ResultError("'selection_epochs' and 'epochs' must be objects (protocol -> pick, "
                          "epoch -> language -> split -> metrics)")
    for protocol, pick in picks.items():
        if not isinstance(pick, dict) or not isinstance(epochs.get(str(pick.get("epoch"))), dict):
            raise ResultError(f"'selection_epochs.{protocol}' is {pick!r}: not an epoch of 'epochs'")


def load_run(path):
    """Read and validate one results.json; raise ResultError with a one-line reason."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ResultError(f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                          "partial or corrupt file") from None
    except UnicodeDecodeError as e:
        raise ResultError(f"not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise ResultError(f"unreadable ({e.strerror or e})") from None
    return parse_run(data, path)


def load_results(dirs):
    """(runs, bad files). A bad file is listed with its reason and skipped; a run id found twice
    (e.g. a copied folder) keeps the file with the later finished_at and lists the other."""
    runs, bad = {}, []
    for path in find_all(dirs, RESULTS_FILE):
        try:
            run = load_run(path)
        except ResultError as e:
            bad.append(BadFile(path, str(e)))
            continue
        old = runs.get(run.run_id)
        if old is not None:
            keep, drop = sorted([old, run], key=lambda r: str(r.data.get("finished_at") or ""))[::-1]
            bad.append(BadFile(drop.path, f"duplicate of run {run.run_id} at {keep.path} "
                                          "(kept the later finished_at)"))
            run = keep
        runs[run.run_id] = run
    return sorted(runs.values(), key=lambda r: r.path), bad


def available_metrics(runs, split="eval"):
    """Metric names that at least one run reports on `split`."""
    names = set()
    for r in runs:
        for lang in r.eval_langs:
            m = (r.metrics.get(lang) or {}).get(split)
            if isinstance(m, dict):
                names.update(m)
    return sorted(names)


def missing_values(runs, metric, split="eval"):
    """[(path, language)] where a run lacks `metric` on `split` for one of its eval languages."""
    return [(r.path, lang) for r in runs for lang in r.eval_langs
            if r.value(lang, split, metric) is None]
