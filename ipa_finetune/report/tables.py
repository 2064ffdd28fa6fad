"""The numbers of a report, as pure functions of the runs (collect.py), so a paper's tables can be
tested against synthetic results with known values: transfer matrices, grid summaries, runs.csv.

Statistics, stated once so the docs and the code agree:
- Every table reads its runs under one selection protocol (config/selection.py): each run's
  collect.Outcome, the epoch that protocol picks. The report's headline is the zero-shot protocol
  "source"; the same runs under "target" give the upper bound beside it.
- A *setting* is a run's hyperparameters without `seed` (plus its datasets and model type entry,
  as in the run id). Runs that differ only in the seed are replicates of one setting: a cell shows
  their mean, the sample standard deviation (ddof=1; none when n=1) and n.
- Where one cell (model type, train set, eval language) has several settings (a grid), the cell shows
  the setting with the best mean *selection score*: each run's own score under the protocol (mean
  metric_for_best_model over the validation splits that protocol chooses on). Under "source" an
  A -> B cell's setting is chosen on A's labels only, whatever language or split is shown.
- A cell is `on_shown_split` when the split shown chose its epoch or its setting (the eval split of a
  language the protocol chooses on): such a number is optimistic, and carries no mark.
"""
import csv
import io
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from ..config.schema import METRICS, higher_is_better
from ..config.selection import UPPER_BOUND, monitored_languages
from ..runs import canonical
from .collect import SPLITS

BASELINE_MODEL_TYPE = "normal"  # every other model type gets a "<type> - normal" difference block
# Metric columns first in runs.csv, in this order; any other metric keys follow, sorted.
KNOWN_METRICS = METRICS + ("majority_baseline", "n")
HEADLINE, UPPER, OWN = "headline", "upper bound", "own protocol"  # TransferTable.kind


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
    score: object           # Stat of the chosen setting's selection scores (None: none recorded)
    n_settings: int         # how many settings competed for this cell
    hyperparameters: dict   # the chosen setting (without seed)
    outcomes: tuple         # collect.Outcome of each replicate, by run id
    on_shown_split: bool = False  # the shown split chose the epoch or the setting

    @property
    def run_ids(self):
        return tuple(o.run_id for o in self.outcomes)


@dataclass
class TransferTable:
    """One (study, task, protocol): rows = training sets, columns = eval languages, one block per model
    type, each run read under `selection` (kind: HEADLINE, UPPER beside it, or OWN for runs that
    recorded only the protocol they were trained with)."""
    study: str
    task: str
    metric: str
    split: str
    model_types: list
    train_sets: list        # tuples of languages, row order
    eval_langs: list        # column order
    cells: dict             # (model_type, train_set, eval_lang) -> Cell
    selection: str = "source"
    kind: str = HEADLINE
    baseline: str = BASELINE_MODEL_TYPE  # difference blocks: every other model type minus this
    comparisons: dict = field(default_factory=dict)  # model type -> rows x columns of Comparison|None
    # seq2seq (report/seq2seq.py annotate): trivial baseline -> rows x columns of {model type: value}
    baselines: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)      # shown above the difference blocks

    def matrix(self, model_type):
        """Rows x columns of Cell or None."""
        return [[self.cells.get((model_type, t, e)) for e in self.eval_langs] for t in self.train_sets]

    def differences(self, base=None):
        """{model_type: rows x columns of (mean(model_type) - mean(base)) or None} for every model
        type other than `base` (default: the table's baseline); empty when `base` has no runs. A
        difference of the cells' means; the comparisons (uncertainty.py) recompute it from the runs'
        predictions, with its interval."""
        base = base or self.baseline
        if base not in self.model_types:
            return {}
        return {mt: [[_diff(a, b) for a, b in zip(row, brow)]
                     for row, brow in zip(self.matrix(mt), self.matrix(base))]
                for mt in self.model_types if mt != base}


def _diff(a, b):
    if a is None or b is None or a.stat is None or b.stat is None:
        return None
    return a.stat.mean - b.stat.mean


def selection_metric(outcomes):
    """The metric_for_best_model the runs' selection scores are of (f1 when a file lacks it)."""
    run = outcomes[0].run
    return run.data.get("metric_for_best_model") or run.hyperparameters.get("metric_for_best_model") or "f1"


def choose_setting(settings):
    """settings: {setting key: [Outcome]} -> (score Stat, number of settings, outcomes) of the setting
    with the best mean selection score (highest; lowest for a loss); ties -> more replicates, then
    the setting key, so the pick never depends on file order. A setting without scores ranks last."""
    candidates = [(summarize(o.score for o in outs), json.dumps(key), outs) for key, outs in settings.items()]
    sign = 1 if higher_is_better(selection_metric(candidates[0][2])) else -1
    best = max(candidates, key=lambda c: (c[0] is not None, sign * c[0].mean if c[0] else 0,
                                          c[0].n if c[0] else 0, c[1]))
    return best[0], len(candidates), sorted(best[2], key=lambda o: o.run_id)


def chosen_on_shown_split(protocol, split, train, evals, lang, n_settings):
    """Whether the shown split of `lang` chose this cell's epoch or setting."""
    if split != "eval" or lang not in monitored_languages(protocol, train, evals):
        return False
    return protocol != "last" or n_settings > 1   # "last" chooses no epoch, only a grid's setting


def transfer_tables(runs, metric, split="test", protocol="source", kind=HEADLINE):
    """One TransferTable per (study, task) of the runs that can be read under `protocol`, sorted. A
    run trained on A+B and evaluated on A and B fills both columns of its row."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    by_task = defaultdict(list)
    for r in runs:
        o = r.outcome(protocol)
        if o is not None:
            by_task[(r.study, r.task)].append(o)
    tables = []
    for (study, task), outcomes in sorted(by_task.items()):
        # (model type, train set, eval lang) -> setting -> outcomes. The eval-language set is part of
        # the setting: a run's selection score is a mean over its languages.
        groups = defaultdict(lambda: defaultdict(list))
        for o in outcomes:
            for lang in o.eval_langs:
                groups[(o.model_type, o.train_langs, lang)][(o.eval_langs, o.setting)].append(o)
        cells = {key: _table_cell(key, settings, split, metric, protocol) for key, settings in groups.items()}
        tables.append(TransferTable(
            study, task, metric, split,
            model_types=sorted({k[0] for k in cells}, key=model_type_order),
            train_sets=sorted({k[1] for k in cells}, key=train_set_order),
            eval_langs=sorted({k[2] for k in cells}), cells=cells, selection=protocol, kind=kind))
    return tables


def _table_cell(key, settings, split, metric, protocol):
    _, train, lang = key
    score, n_settings, outs = choose_setting(settings)
    hp = {k: v for k, v in outs[0].hyperparameters.items() if k != "seed"}
    flagged = chosen_on_shown_split(protocol, split, train, outs[0].eval_langs, lang, n_settings)
    return Cell(summarize(o.value(lang, split, metric) for o in outs), score, n_settings, hp,
                tuple(outs), flagged)


@dataclass(frozen=True)
class GridRow:
    """The grid of one (study, task, model type, train set, eval set) under one protocol: its best
    setting by the runs' selection scores (mean over seeds) and how much the choice matters."""
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
    best_score: object      # Stat of the chosen setting's selection scores
    best_shown: object      # Stat of its `metric` on the shown split (mean over the eval languages)
    selection_metric: str   # what the scores are: metric_for_best_model
    spread_min: object      # min / max / sample std of the settings' mean selection score
    spread_max: object
    spread_std: object      # None with a single setting


def _mean_over_langs(outcome, split, metric):
    vals = [outcome.value(lang, split, metric) for lang in outcome.eval_langs]
    return None if any(v is None for v in vals) else statistics.fmean(vals)


def grid_summary(runs, metric, split="test", protocol="source"):
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        o = r.outcome(protocol)
        if o is not None:
            groups[(r.study, r.task, r.model_type, r.train_langs, r.eval_langs)][r.setting].append(o)
    rows = []
    for (study, task, mt, train, evals), settings in groups.items():
        score, n_settings, outs = choose_setting(settings)
        grid = [json.loads(k) for k in settings]
        best = json.loads(outs[0].setting)
        varying = {k: best.get(k) for k in sorted(set().union(*grid))
                   if len({canonical(g.get(k)) for g in grid}) > 1}
        means = [s.mean for s in (summarize(o.score for o in v) for v in settings.values()) if s]
        rows.append(GridRow(
            study, task, protocol, mt, train, evals, n_settings, sum(map(len, settings.values())),
            best, varying, score, summarize(_mean_over_langs(o, split, metric) for o in outs),
            selection_metric(outs), min(means, default=None), max(means, default=None),
            statistics.stdev(means) if len(means) > 1 else None))
    return sorted(rows, key=lambda g: (g.study, g.task, model_type_order(g.model_type),
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


# ----------------------------------------------------------------------------- upper bound

@dataclass
class UpperBound:
    """The same runs (those that recorded every protocol's epoch) under the headline protocol and
    under "target": the zero-shot numbers and their upper bound, cell by cell."""
    zero_shot: TransferTable
    upper: TransferTable

    def gap(self, model_type, train, lang):
        """(upper-bound Cell, zero-shot Cell, upper - zero-shot mean) of one cell; None parts when
        missing."""
        u, z = self.upper.cells.get((model_type, train, lang)), self.zero_shot.cells.get((model_type, train, lang))
        return u, z, _diff(u, z)


def upper_bounds(runs, metric, split, protocol, upper=UPPER_BOUND):
    """An UpperBound per (study, task) of the runs readable under both `protocol` and `upper`."""
    both = [r for r in runs if protocol in r.protocols() and upper in r.protocols()]
    zero = {(t.study, t.task): t for t in transfer_tables(both, metric, split, protocol)}
    return [UpperBound(zero[(t.study, t.task)], t)
            for t in transfer_tables(both, metric, split, upper, kind=UPPER)]
