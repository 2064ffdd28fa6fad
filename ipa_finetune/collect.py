"""Reading finished runs back: results.json files -> transfer tables, grid summaries, CSV rows.

Everything here is a pure function of the parsed files (plus `load_results`, which reads them), so
the numbers in a paper's tables can be tested against synthetic results with known values. Job
status (manifests, Slurm) is at the end of this module.

Statistics, stated once so the docs and the code agree:
- A *setting* is a run's hyperparameters without `seed` (plus its datasets and model type entry,
  as in the run id). Runs that differ only in the seed are replicates of one setting: a cell shows their mean, the sample standard deviation (ddof=1; none
  when n=1) and n.
- Where one cell (model type, train set, eval language) has several settings (a grid), the cell shows
  the setting with the highest mean *eval-split* metric on that eval language, whatever split is shown
  (`--split test` shows the test metric of the setting chosen on eval: selection never looks at test).
"""
import csv
import io
import json
import math
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from .runs import RESULTS_FILE, SCHEMA_VERSION, write_text_atomic

BASELINE_MODEL_TYPE = "normal"  # every other model type gets a "<type> - normal" difference block
SPLITS = ("eval", "test")
# Metric columns first in runs.csv, in this order; any other metric keys follow, sorted.
KNOWN_METRICS = ("accuracy", "precision", "recall", "f1", "loss", "majority_baseline", "n")
LOWER_IS_BETTER = {"loss"}  # settings are picked by the lowest value of these, the highest otherwise


# ----------------------------------------------------------------------------- loading

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

    @property
    def setting(self):
        """Canonical JSON of what makes runs replicates of one experiment: the hyperparameters
        without the seed, plus (as the run id does) the datasets and the model type's entry
        (checkpoint and tokenizer names), so that runs on other data or another checkpoint are
        never averaged as seeds. Both are left out when the file lacks them."""
        ident = {k: v for k, v in self.hyperparameters.items() if k != "seed"}
        model = ((self.data.get("config") or {}).get("model_types") or {}).get(self.model_type)
        for key, value in (("datasets", self.data.get("datasets")), ("model", model)):
            if value:
                ident[key] = value
        return json.dumps(ident, sort_keys=True, separators=(",", ":"))

    def value(self, lang, split, metric):
        """The metric as a float, or None when the file has no finite number there."""
        v = ((self.metrics.get(lang) or {}).get(split) or {}).get(metric)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return float(v)

    def mean_value(self, split, metric):
        """Mean over the run's eval languages (how best_score is defined); None if any is missing."""
        vals = [self.value(lang, split, metric) for lang in self.eval_langs]
        return None if any(v is None for v in vals) else statistics.fmean(vals)


@dataclass(frozen=True)
class BadFile:
    path: str
    reason: str


def find_results(dirs):
    """Every results.json under the given folders (recursively), each file once, sorted."""
    found = {}
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            subdirs.sort()
            if RESULTS_FILE in files:
                p = os.path.join(root, RESULTS_FILE)
                found.setdefault(os.path.realpath(p), p)
    return sorted(found.values())


def _lang_list(data, key):
    v = data.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise ResultError(f"'{key}' is {v!r}, expected a non-empty list of language names")
    return tuple(sorted(v))


def parse_run(data, path):
    """Validate one parsed results.json against schema 1; raise ResultError naming what is wrong."""
    if not isinstance(data, dict):
        raise ResultError(f"top level is a {type(data).__name__}, expected a JSON object")
    if "schema_version" not in data:
        raise ResultError("missing key 'schema_version'")
    if data["schema_version"] != SCHEMA_VERSION:
        raise ResultError(f"schema_version {data['schema_version']!r} is not supported "
                          f"(expected {SCHEMA_VERSION})")
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
    seed = data.get("seed", hp.get("seed"))
    return Run(path=path, run_id=data["run_id"], study=data["study"], task=data["task"],
               model_type=data["model_type"], train_langs=train, eval_langs=evals,
               hyperparameters=hp, seed=seed, metrics=metrics, data=data)


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
    for path in find_results(dirs):
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


# ----------------------------------------------------------------------------- statistics

@dataclass(frozen=True)
class Stat:
    mean: float
    std: object   # float, or None when n == 1 (a sample std needs two values)
    n: int


def summarize(values):
    """Mean, sample std (ddof=1) and n of the non-None values; None when there are none."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return Stat(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, len(vals))


def model_type_order(mt):
    """normal, ipa, then the others alphabetically: the baseline first reads best in tables."""
    return (mt != BASELINE_MODEL_TYPE, mt != "ipa", mt)


def train_set_order(langs):
    """Joint training sets (A+B) first, then single languages, alphabetically."""
    return (-len(langs), langs)


def lang_label(langs):
    return "+".join(langs)


# ----------------------------------------------------------------------------- transfer matrix

@dataclass(frozen=True)
class Cell:
    stat: object            # Stat of the shown split for the chosen setting; None if it has none
    selected_by: Stat       # the eval-split Stat the setting was chosen by
    n_settings: int         # how many settings competed for this cell
    hyperparameters: dict   # the chosen setting (without seed)
    run_ids: tuple


@dataclass
class TransferTable:
    """One (study, task): rows = training sets, columns = eval languages, one block per model type."""
    study: str
    task: str
    metric: str
    split: str
    model_types: list
    train_sets: list        # tuples of languages, row order
    eval_langs: list        # column order
    cells: dict             # (model_type, train_set, eval_lang) -> Cell

    def matrix(self, model_type):
        """Rows x columns of Cell or None."""
        return [[self.cells.get((model_type, t, e)) for e in self.eval_langs] for t in self.train_sets]

    def differences(self, base=BASELINE_MODEL_TYPE):
        """{model_type: rows x columns of (mean(model_type) - mean(base)) or None} for every model
        type other than `base`; empty when `base` has no runs. A difference of means: the two
        models' seeds are independent runs, so no paired statistic is implied."""
        if base not in self.model_types:
            return {}
        out = {}
        for mt in self.model_types:
            if mt == base:
                continue
            out[mt] = [[_diff(a, b) for a, b in zip(row, brow)]
                       for row, brow in zip(self.matrix(mt), self.matrix(base))]
        return out


def _diff(a, b):
    if a is None or b is None or a.stat is None or b.stat is None:
        return None
    return a.stat.mean - b.stat.mean


def higher_is_better(metric):
    return metric not in LOWER_IS_BETTER


def _best_setting(candidates, metric):
    """candidates: [(Stat on eval, setting key, runs)]. Best eval mean (highest; lowest for a loss);
    ties -> more replicates, then the setting key, so the pick never depends on file order."""
    sign = 1 if higher_is_better(metric) else -1
    return max(candidates, key=lambda c: (sign * c[0].mean, c[0].n, c[1]))


def transfer_tables(runs, metric, split="eval"):
    """One TransferTable per (study, task), sorted. A run trained on A+B and evaluated on A and B
    fills both columns of its row."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    by_task = defaultdict(list)
    for r in runs:
        by_task[(r.study, r.task)].append(r)
    tables = []
    for (study, task), task_runs in sorted(by_task.items()):
        # (model type, train set, eval lang) -> setting -> runs. The eval-language set is part of
        # the setting: the best epoch is chosen on the mean over a run's eval languages.
        groups = defaultdict(lambda: defaultdict(list))
        for r in task_runs:
            for lang in r.eval_langs:
                groups[(r.model_type, r.train_langs, lang)][(r.eval_langs, r.setting)].append(r)
        cells = {}
        for (mt, train, lang), settings in groups.items():
            candidates = []
            for skey, rs in settings.items():
                sel = summarize(r.value(lang, "eval", metric) for r in rs)
                if sel is not None:
                    candidates.append((sel, json.dumps(skey), rs))
            if not candidates:
                continue
            sel, _, rs = _best_setting(candidates, metric)
            hp = {k: v for k, v in rs[0].hyperparameters.items() if k != "seed"}
            cells[(mt, train, lang)] = Cell(summarize(r.value(lang, split, metric) for r in rs), sel,
                                            len(candidates), hp, tuple(sorted(r.run_id for r in rs)))
        keys = cells.keys()
        tables.append(TransferTable(
            study, task, metric, split,
            model_types=sorted({k[0] for k in keys}, key=model_type_order),
            train_sets=sorted({k[1] for k in keys}, key=train_set_order),
            eval_langs=sorted({k[2] for k in keys}), cells=cells))
    return tables


# ----------------------------------------------------------------------------- grid summary

@dataclass(frozen=True)
class GridRow:
    """The grid of one (study, task, model type, train set, eval set): its best setting by the eval
    metric (mean over the eval languages, mean over seeds) and how much the choice matters."""
    study: str
    task: str
    model_type: str
    train_langs: tuple
    eval_langs: tuple
    n_settings: int
    n_runs: int
    best: dict              # the chosen setting: hyperparameters without seed (+ datasets, model)
    varying: dict           # the hyperparameters that differ across the grid, as chosen
    best_eval: Stat
    best_test: object       # Stat, or None when the chosen setting has no test split
    spread_min: float       # min / max / sample std of the settings' mean eval metric
    spread_max: float
    spread_std: object      # None with a single setting


def grid_summary(runs, metric):
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        groups[(r.study, r.task, r.model_type, r.train_langs, r.eval_langs)][r.setting].append(r)
    rows = []
    for (study, task, mt, train, evals), settings in groups.items():
        candidates = []
        for skey, rs in settings.items():
            sel = summarize(r.mean_value("eval", metric) for r in rs)
            if sel is not None:
                candidates.append((sel, skey, rs))
        if not candidates:
            continue
        sel, skey, rs = _best_setting(candidates, metric)
        grid = [json.loads(c[1]) for c in candidates]
        best = json.loads(skey)
        varying = {k: best.get(k) for k in sorted(set().union(*grid))
                   if len({json.dumps(g.get(k), sort_keys=True) for g in grid}) > 1}
        means = [c[0].mean for c in candidates]
        rows.append(GridRow(
            study, task, mt, train, evals, len(candidates), sum(len(c[2]) for c in candidates),
            best, varying, sel, summarize(r.mean_value("test", metric) for r in rs),
            min(means), max(means), statistics.stdev(means) if len(means) > 1 else None))
    return sorted(rows, key=lambda g: (g.study, g.task, model_type_order(g.model_type),
                                       train_set_order(g.train_langs), g.eval_langs))


def missing_values(runs, metric, split="eval"):
    """[(path, language)] where a run lacks `metric` on `split` for one of its eval languages."""
    return [(r.path, lang) for r in runs for lang in r.eval_langs
            if r.value(lang, split, metric) is None]


# ----------------------------------------------------------------------------- runs.csv

RUN_FIELDS = ("best_epoch", "best_score", "metric_for_best_model", "train_examples",
              "train_examples_per_second", "wall_time_seconds", "device", "git_commit", "finished_at")


def _cell(v):
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def run_rows(runs):
    """(columns, rows): one flat row per run, eval language and split present in the file."""
    metric_keys, hp_keys = set(), set()
    for r in runs:
        hp_keys.update(r.hyperparameters)
        for lang in r.eval_langs:
            for split, m in (r.metrics.get(lang) or {}).items():
                if isinstance(m, dict):
                    metric_keys.update(m)
    metric_cols = [m for m in KNOWN_METRICS if m in metric_keys] + sorted(metric_keys - set(KNOWN_METRICS))
    hp_cols = sorted(hp_keys)
    columns = (["run_id", "study", "task", "model_type", "train_langs", "eval_langs", "eval_lang",
                "split", "seed"] + metric_cols + [f"hp_{k}" for k in hp_cols] + list(RUN_FIELDS)
               + ["path"])
    rows = []
    for r in sorted(runs, key=lambda r: (r.study, r.task, model_type_order(r.model_type),
                                         train_set_order(r.train_langs), r.run_id)):
        for lang in r.eval_langs:
            for split, m in sorted((r.metrics.get(lang) or {}).items()):
                if not isinstance(m, dict):
                    continue
                row = {"run_id": r.run_id, "study": r.study, "task": r.task,
                       "model_type": r.model_type, "train_langs": lang_label(r.train_langs),
                       "eval_langs": lang_label(r.eval_langs), "eval_lang": lang, "split": split,
                       "seed": r.seed, "path": r.path}
                row.update({k: _cell(m.get(k)) for k in metric_cols})
                row.update({f"hp_{k}": _cell(r.hyperparameters.get(k)) for k in hp_cols})
                row.update({k: _cell(r.data.get(k)) for k in RUN_FIELDS})
                rows.append(row)
    return columns, rows


def csv_text(columns, rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# ----------------------------------------------------------------------------- job status

# Slurm JobState values (scontrol) grouped by what a user does next.
SLURM_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
SLURM_RUNNING = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
STATES = ("finished", "running", "pending", "failed", "unknown")  # report order


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    job_name: str
    run_id: str
    run_dir: str
    script: str
    log: str                 # with %j / %x filled in
    state: str               # one of STATES
    detail: str              # e.g. "Slurm TIMEOUT", "no results (state unknown)"
    log_tail: tuple = ()     # last lines of the log, for failed and unknown jobs


def read_manifests(paths):
    """(entries, problems): the JSON lines of the generators' manifest.jsonl files. A run submitted
    several times is kept once, with its latest submission; a bad line is listed and skipped."""
    latest, problems = {}, []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    e = json.loads(line)
                except json.JSONDecodeError as err:
                    problems.append(BadFile(f"{path}:{no}", f"not valid JSON ({err.msg})"))
                    continue
                if not isinstance(e, dict) or not e.get("run_dir") or e.get("job_id") in (None, ""):
                    problems.append(BadFile(f"{path}:{no}", "expected an object with 'job_id' and "
                                                            "'run_dir'"))
                    continue
                key = e.get("run_id") or os.path.realpath(e["run_dir"])
                if key not in latest or str(e.get("submitted_at") or "") >= str(
                        latest[key].get("submitted_at") or ""):
                    latest[key] = e
    return list(latest.values()), problems


def slurm_state(job_id, timeout=20):
    """JobState of a Slurm job from `scontrol show job ID -o`; None when scontrol is not on PATH
    or the id is not a Slurm id (e.g. "local"); "UNKNOWN" when Slurm no longer knows the job."""
    import shutil
    import subprocess
    job_id = str(job_id)
    if not job_id.replace("_", "").isdigit() or shutil.which("scontrol") is None:
        return None
    try:
        p = subprocess.run(["scontrol", "show", "job", job_id, "-o"], capture_output=True,
                           text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in p.stdout.split():
        if token.startswith("JobState="):
            return token.split("=", 1)[1].rstrip("+")
    # "Invalid job id specified": the controller forgot the job (MinJobAge); anything else (the
    # controller is down) says nothing about the job.
    return "UNKNOWN" if "invalid job id" in p.stderr.lower() else None


def classify_slurm(state):
    """(status, detail) for a job without results, from its Slurm JobState (or None)."""
    if state is None:
        return "unknown", "no results (state unknown)"
    if state in SLURM_PENDING:
        return "pending", f"Slurm {state}"
    if state in SLURM_RUNNING:
        return "running", f"Slurm {state}"
    if state == "UNKNOWN":
        return "unknown", "no results; job not known to Slurm (finished long ago?)"
    if state == "COMPLETED":
        return "failed", "Slurm COMPLETED but no results.json"
    return "failed", f"Slurm {state}"


def log_tail(path, lines=15):
    """The last lines of a log as a terminal shows them (tqdm's \\r updates collapsed); None if the
    log cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    shown = [ln.rstrip("\r").rsplit("\r", 1)[-1] for ln in text.split("\n")]
    while shown and not shown[-1].strip():
        shown.pop()
    return tuple(shown[-lines:])


def job_statuses(entries, slurm=slurm_state, log_lines=15):
    """Status of each manifest entry: finished when its run dir holds a valid results.json;
    otherwise the Slurm state (via `slurm(job_id)`), with the log's tail for failed/unknown jobs."""
    out = []
    for e in entries:
        job_id, name = str(e.get("job_id")), str(e.get("job_name") or "")
        log = str(e.get("log") or "")
        if job_id != "local":
            log = log.replace("%j", job_id)
        log = log.replace("%x", name)
        results = os.path.join(e["run_dir"], RESULTS_FILE)
        tail = ()
        if os.path.isfile(results):
            try:
                load_run(results)
                state, detail = "finished", "results.json"
            except ResultError as err:
                state, detail = "failed", f"bad results.json: {err}"
        elif job_id == "local":
            state, detail = "unknown", "no results (local run)"
        else:
            state, detail = classify_slurm(slurm(job_id))
        if state in ("failed", "unknown") and log:
            tail = log_tail(log, log_lines)
            if tail is None:
                detail, tail = f"{detail}; log not found", ()
        out.append(JobStatus(job_id, name, str(e.get("run_id") or ""), e["run_dir"],
                             str(e.get("script") or ""), log, state, detail, tail))
    return sorted(out, key=lambda j: (STATES.index(j.state), j.job_name, j.run_id))


def find_manifests(folder):
    """Every manifest.jsonl under a jobs folder (recursively), sorted."""
    found = []
    for root, subdirs, files in os.walk(folder):
        subdirs.sort()
        if "manifest.jsonl" in files:
            found.append(os.path.join(root, "manifest.jsonl"))
    return found


# ----------------------------------------------------------------------------- the report

@dataclass
class Report:
    metric: str
    split: str
    results_dirs: list
    runs: list
    bad: list                       # BadFile: skipped results.json files
    tables: list                    # TransferTable
    grid: list                      # GridRow
    missing: list                   # (path, lang) lacking the metric on the eval split
    manifests: list = field(default_factory=list)
    jobs: object = None             # list of JobStatus, or None when no manifest was read
    manifest_problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    figures: list = field(default_factory=list)   # (title, file name relative to the report)


def build_report(results_dirs, metric="f1", split="eval", manifests=(), slurm=slurm_state,
                 log_lines=15):
    """Read everything and compute every table. Raises UserError for an unknown metric or split."""
    from .errors import UserError
    if split not in SPLITS:
        raise UserError(f"--split {split!r} is not valid; choose one of: {', '.join(SPLITS)}")
    runs, bad = load_results(results_dirs)
    known = available_metrics(runs)
    if runs and metric not in known:
        raise UserError(f"--metric {metric!r} is in no results.json under "
                        f"{', '.join(results_dirs)}; available: {', '.join(known)}")
    report = Report(metric, split, list(results_dirs), runs, bad, transfer_tables(runs, metric, split),
                    grid_summary(runs, metric), missing_values(runs, metric), list(manifests))
    if manifests:
        entries, report.manifest_problems = read_manifests(manifests)
        report.jobs = job_statuses(entries, slurm, log_lines)
    return report


def default_out_dir(results_dirs, runs, from_config_root=None, config_study=None):
    """<results_dir>/<study>/report when the runs are one study found under one folder (the study's
    folder or its parent) or a config's results_dir, else ./report."""
    studies = {r.study for r in runs} or ({config_study} if config_study else set())
    if len(studies) == 1:
        study = studies.pop()
        if from_config_root:
            return os.path.join(from_config_root, study, "report")
        if len(results_dirs) == 1:
            d = results_dirs[0]
            if os.path.basename(os.path.realpath(d)) == study:
                return os.path.join(d, "report")
            if os.path.isdir(os.path.join(d, study)):
                return os.path.join(d, study, "report")
    return "report"


def write_report(report, out_dir, digits=3, plots=True):
    """Heatmaps, runs.csv and report.md into out_dir, each atomically. Returns the Markdown text."""
    from .markdown import render_report
    if plots:
        from .plots import transfer_heatmaps
        for t in report.tables:
            report.figures += transfer_heatmaps(t, out_dir, digits)
    write_text_atomic(os.path.join(out_dir, "runs.csv"), csv_text(*run_rows(report.runs)))
    text = render_report(report, digits)
    write_text_atomic(os.path.join(out_dir, "report.md"), text)
    return text
