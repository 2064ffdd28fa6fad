"""The numbers of a report, as pure functions of the runs (collect.py), so a paper's tables can be
tested against synthetic results with known values: transfer matrices, grid summaries, runs.csv.

Statistics, stated once so the docs and the code agree:
- A *setting* is a run's hyperparameters without `seed` (plus its datasets and model type entry,
  as in the run id). Runs that differ only in the seed are replicates of one setting: a cell shows
  their mean, the sample standard deviation (ddof=1; none when n=1) and n.
- Where one cell (model type, train set, eval language) has several settings (a grid), the cell shows
  the setting with the highest mean *eval-split* metric on that eval language, whatever split is shown
  (`--split test` shows the test metric of the setting chosen on eval: selection never looks at test).
- One transfer table per (study, task, selection protocol): runs that chose their epoch differently
  (hyperparameters.selection, config/selection.py) are never compared in one table.
"""
import csv
import io
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from ..config.schema import METRICS, higher_is_better
from ..config.selection import selection_of
from ..runs import canonical
from .collect import SPLITS

BASELINE_MODEL_TYPE = "normal"  # every other model type gets a "<type> - normal" difference block
# Metric columns first in runs.csv, in this order; any other metric keys follow, sorted.
KNOWN_METRICS = METRICS + ("majority_baseline", "n")


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
    selection: str = "source"   # the runs' selection protocol (hyperparameters.selection)
    protocols: int = 1          # how many protocols the (study, task) has: >1 names them apart
    baseline: str = BASELINE_MODEL_TYPE  # difference blocks: every other model type minus this
    intervals: dict = field(default_factory=dict)  # model type -> rows x columns of Interval|None
    # seq2seq (report/seq2seq.py annotate): trivial baseline -> rows x columns of {model type: value}
    baselines: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)      # shown above the difference blocks

    def matrix(self, model_type):
        """Rows x columns of Cell or None."""
        return [[self.cells.get((model_type, t, e)) for e in self.eval_langs] for t in self.train_sets]

    def differences(self, base=None):
        """{model_type: rows x columns of (mean(model_type) - mean(base)) or None} for every model
        type other than `base` (default: the table's baseline); empty when `base` has no runs. A
        difference of means; its uncertainty is the paired bootstrap's (uncertainty.py)."""
        base = base or self.baseline
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


def best_setting(candidates, metric):
    """candidates: [(Stat on eval, setting key, runs)]. Best eval mean (highest; lowest for a loss);
    ties -> more replicates, then the setting key, so the pick never depends on file order."""
    sign = 1 if higher_is_better(metric) else -1
    return max(candidates, key=lambda c: (sign * c[0].mean, c[0].n, c[1]))


def choose_setting(settings, lang, metric):
    """settings: {setting key: runs}. -> (Stat on eval, number of settings with a value, runs) of
    the best setting by the eval-split metric on `lang` (best_setting), or None when none has one."""
    candidates = []
    for skey, rs in settings.items():
        sel = summarize(r.value(lang, "eval", metric) for r in rs)
        if sel is not None:
            candidates.append((sel, json.dumps(skey), rs))
    if not candidates:
        return None
    sel, _, rs = best_setting(candidates, metric)
    return sel, len(candidates), rs


def transfer_tables(runs, metric, split="eval"):
    """One TransferTable per (study, task, selection protocol), sorted. A run trained on A+B and evaluated on A and B
    fills both columns of its row."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    by_task = defaultdict(list)
    for r in runs:
        by_task[(r.study, r.task, selection_of(r.hyperparameters))].append(r)
    protocols = defaultdict(int)
    for study, task, _ in by_task:
        protocols[(study, task)] += 1
    tables = []
    for (study, task, protocol), task_runs in sorted(by_task.items()):
        # (model type, train set, eval lang) -> setting -> runs. The eval-language set is part of
        # the setting: the best epoch is chosen on the mean over a run's eval languages.
        groups = defaultdict(lambda: defaultdict(list))
        for r in task_runs:
            for lang in r.eval_langs:
                groups[(r.model_type, r.train_langs, lang)][(r.eval_langs, r.setting)].append(r)
        cells = {}
        for (mt, train, lang), settings in groups.items():
            chosen = choose_setting(settings, lang, metric)
            if chosen is None:
                continue
            sel, n_settings, rs = chosen
            hp = {k: v for k, v in rs[0].hyperparameters.items() if k != "seed"}
            cells[(mt, train, lang)] = Cell(summarize(r.value(lang, split, metric) for r in rs), sel,
                                            n_settings, hp, tuple(sorted(r.run_id for r in rs)))
        keys = cells.keys()
        tables.append(TransferTable(
            study, task, metric, split,
            model_types=sorted({k[0] for k in keys}, key=model_type_order),
            train_sets=sorted({k[1] for k in keys}, key=train_set_order),
            eval_langs=sorted({k[2] for k in keys}), cells=cells, selection=protocol,
            protocols=protocols[(study, task)]))
    return tables


@dataclass(frozen=True)
class GridRow:
    """The grid of one (study, task, selection protocol, model type, train set, eval set): its best
    setting by the eval metric (mean over the eval languages, mean over seeds) and how much the choice
    matters. Runs that chose their epoch by different protocols are never compared."""
    study: str
    task: str
    selection: str
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
        key = (r.study, r.task, selection_of(r.hyperparameters), r.model_type, r.train_langs, r.eval_langs)
        groups[key][r.setting].append(r)
    rows = []
    for (study, task, protocol, mt, train, evals), settings in groups.items():
        candidates = []
        for skey, rs in settings.items():
            sel = summarize(r.mean_value("eval", metric) for r in rs)
            if sel is not None:
                candidates.append((sel, skey, rs))
        if not candidates:
            continue
        sel, skey, rs = best_setting(candidates, metric)
        grid = [json.loads(c[1]) for c in candidates]
        best = json.loads(skey)
        varying = {k: best.get(k) for k in sorted(set().union(*grid))
                   if len({canonical(g.get(k)) for g in grid}) > 1}
        means = [c[0].mean for c in candidates]
        rows.append(GridRow(
            study, task, protocol, mt, train, evals, len(candidates), sum(len(c[2]) for c in candidates),
            best, varying, sel, summarize(r.mean_value("test", metric) for r in rs),
            min(means), max(means), statistics.stdev(means) if len(means) > 1 else None))
    return sorted(rows, key=lambda g: (g.study, g.task, g.selection, model_type_order(g.model_type),
                                       train_set_order(g.train_langs), g.eval_langs))


# ----------------------------------------------------------------------------- runs.csv

RUN_FIELDS = ("best_epoch", "best_score", "metric_for_best_model", "train_examples",
              "train_examples_per_second", "wall_time_seconds", "device", "git_commit", "finished_at")


def _cell(v):
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def run_rows(runs, superseded=()):
    """(columns, rows): one flat row per run, eval language and split present in the file.
    `superseded`: run ids whose inputs were replaced by newer ones (column `superseded`); column
    `checkpoint_sha256` names the checkpoint's bytes (empty for results.json without inputs)."""
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
               + ["checkpoint_sha256", "superseded", "path"])
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
                row["checkpoint_sha256"] = ((r.data.get("inputs") or {}).get("checkpoint") or {}).get("sha256")
                row["superseded"] = r.run_id in superseded
                rows.append(row)
    return columns, rows


def csv_text(columns, rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
