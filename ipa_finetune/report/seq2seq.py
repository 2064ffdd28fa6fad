"""Seq2seq runs in the report (results.json with a `seq2seq` record, written by train/seq2seq.py).

- The paired bootstrap's scorers (uncertainty.paired_bootstrap): each run's generated text
  (predictions/<lang>.<split>.jsonl: id, source, reference, hypothesis) is paired with the other
  runs' by example id, and a resample's corpus-level chrF, BLEU, exact match or error rate is
  recomputed from count-weighted sums of per-example statistics (text_metrics.TextStatistics), which
  equals the metric of the resampled corpus.
- The trivial baselines beside a transfer table: copying the source, and always answering the most
  frequent target of the run's training splits (the runs' `copy_source_<metric>` and
  `most_frequent_target_<metric>`).
- Which target column each model type wrote, and the error rate's unit: where the model types of a
  difference block wrote different columns, their scores are measured against different references,
  and the report says so above the block.
"""
import functools

from ..predictions import read_text_predictions
from ..text_metrics import BASELINES, ERROR_RATE_NAMES, METRICS, example_statistics

def is_seq2seq(run):
    return isinstance(run.data.get("seq2seq"), dict)


def _target(run, lang):
    return ((run.data["seq2seq"].get("targets") or {}).get(lang) or {}) if is_seq2seq(run) else {}


def unit_of(run, lang):
    """The error rate's unit of a run's target in a language: "char" or "phone"."""
    return _target(run, lang).get("error_unit", "char")


def target_column(run, lang):
    return _target(run, lang).get("target_column")


# ----------------------------------------------------------------------------- bootstrap scorers

@functools.lru_cache(maxsize=4096)
def _statistics(path, unit):
    """(ids, sorted, and the TextStatistics of the file's examples in that order)."""
    rows = read_text_predictions(path)
    order = sorted(range(len(rows["id"])), key=rows["id"].__getitem__)
    stats = example_statistics([rows["hypothesis"][i] for i in order],
                               [rows["reference"][i] for i in order], unit) if order else None
    return tuple(rows["id"][i] for i in order), stats


def _read(path, unit):
    """_statistics, or the reason (a string) why the file cannot be used."""
    try:
        return _statistics(path, unit)
    except FileNotFoundError:
        return f"predictions file {path} is missing"
    except (OSError, ValueError, EOFError) as e:
        return f"predictions file {path} cannot be read: {e}"


def _scorer(stats, metric):
    return lambda counts: stats.scores(counts, (metric,))[metric]


def text_scorers(x_items, b_items, metric):
    """(X's scorers, B's scorers, n) for uncertainty.paired_bootstrap, from [(predictions path, error
    unit)] of each run; the examples paired by id. Or the reason why not, as a string."""
    if metric not in METRICS:
        return f"no interval for {metric}: the bootstrap covers {', '.join(METRICS)}"
    read = [_read(path, unit) for path, unit in x_items + b_items]
    reasons = [r for r in read if isinstance(r, str)]
    if reasons:
        return reasons[0]
    ids = read[0][0]
    if not ids:
        return "no examples"
    if any(other != ids for other, _ in read):
        sizes = sorted({len(other) for other, _ in read})
        return (f"the runs' predictions are not of the same examples (ids differ; "
                f"{' vs '.join(map(str, sizes))} examples)")
    scorers = [_scorer(stats, metric) for _, stats in read]
    return scorers[:len(x_items)], scorers[len(x_items):], len(ids)


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
