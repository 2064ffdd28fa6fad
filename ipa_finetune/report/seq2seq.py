"""Seq2seq runs in the report (results.json with a `seq2seq` record, written by train/seq2seq.py).

- The statistics behind intervals and p-values (resampling.READERS["seq2seq"]): each run's generated
  text (predictions/<lang>.<split>.jsonl: id, source, reference, hypothesis) in id order, so that
  runs are paired by example id, and a resample's corpus-level chrF, BLEU, exact match or error rate
  is recomputed from count-weighted sums of per-example statistics (text_metrics.TextStatistics),
  which equals the metric of the resampled corpus.
- The trivial baselines beside a transfer table: copying the source, and always answering the most
  frequent target of the run's training splits (the runs' `copy_source_<metric>` and
  `most_frequent_target_<metric>`).
- Which target column each model type wrote, and the error rate's unit: where the model types of a
  difference block wrote different columns, their scores are measured against different references,
  and the report says so above the block.
"""
import numpy as np

from ..predictions import read_text_predictions
from ..text_metrics import BASELINES, ERROR_RATE_NAMES, example_statistics


def is_seq2seq(run):
    return isinstance(run.data.get("seq2seq"), dict)


def _target(run, lang):
    return ((run.data["seq2seq"].get("targets") or {}).get(lang) or {}) if is_seq2seq(run) else {}


def unit_of(run, lang):
    """The error rate's unit of a run's target in a language: "char" or "phone"."""
    return _target(run, lang).get("error_unit", "char")


def target_column(run, lang):
    return _target(run, lang).get("target_column")


# ----------------------------------------------------------------------------- bootstrap statistics

def read_text(path, unit):
    """(TextStatistics, ids) of a seq2seq predictions file, its examples in id order: the report's
    statistics (resampling.READERS) pair runs by example id, whatever order each split was read in.
    `unit`: the error rate's ("char" or "phone", unit_of)."""
    rows = read_text_predictions(path)
    if not rows["id"]:
        raise ValueError("no examples")
    order = sorted(range(len(rows["id"])), key=rows["id"].__getitem__)
    stats = example_statistics([rows["hypothesis"][i] for i in order],
                               [rows["reference"][i] for i in order], unit)
    return stats, np.array([rows["id"][i] for i in order])


# ----------------------------------------------------------------------------- table annotations

def annotate(table, runs):
    """Add a seq2seq table's trivial baselines (`table.baselines`: {kind: rows x columns of {model
    type: value}}) and notes (`table.notes`: the error rate's unit, differing target columns)."""
    by_id = {r.run_id: r for r in runs}
    cell_runs = {key: [by_id[i] for i in cell.run_ids] for key, cell in table.cells.items()}
    if not any(is_seq2seq(r) for rs in cell_runs.values() for r in rs):
        return table
    for kind in BASELINES:
        table.baselines[kind] = [[_baseline(cell_runs, table, kind, train, lang) for lang in table.eval_langs]
                                 for train in table.train_sets]
    columns = {}  # model type -> {target column: eval languages}
    units = set()
    for (mt, _, lang), rs in cell_runs.items():
        for r in rs:
            columns.setdefault(mt, {}).setdefault(target_column(r, lang), set()).add(lang)
            units.add(unit_of(r, lang))
    if table.metric == "error_rate":
        table.notes.append("error_rate: " + " and ".join(ERROR_RATE_NAMES[u] for u in sorted(units))
                           + " (edits / reference length, lower is better).")
    if len({tuple(sorted(c)) for c in columns.values()}) > 1:
        wrote = "; ".join(f"{mt} → {', '.join(sorted(map(str, c)))}" for mt, c in sorted(columns.items()))
        table.notes.append(f"The model types generate into different target columns ({wrote}): their "
                           "scores are measured against different references, so a difference below "
                           "compares two tasks, not two models on one task.")
    return table


def _baseline(cell_runs, table, kind, train, lang):
    """{model type: the baseline's value} of one cell (one value per model type: it is the same for
    every seed), or None when no run has it."""
    values = {}
    for mt in table.model_types:
        for r in cell_runs.get((mt, train, lang), []):
            v = r.value(lang, table.split, f"{kind}_{table.metric}")
            if v is not None:
                values[mt] = v
                break
    return values or None
