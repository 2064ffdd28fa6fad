"""The report's tables as rows for differences.csv and upper_bound.csv (tables.csv_text writes them).

differences.csv holds every number of a difference cell: both model types' seeds' scores (one column
per seed), the difference, its interval, raw p, the family-wise adjusted p and the report-wide q, the
mark, and why a cell has none. The LaTeX tables (latex.py) format the same numbers.
"""
from .tables import lang_label, summarize
from .uncertainty import comparison_at

DIFFERENCE_COLUMNS = (
    "study", "task", "selection", "model_type", "baseline", "train_langs", "eval_lang", "split",
    "metric", "mean", "std", "n", "baseline_mean", "baseline_std", "baseline_n", "difference",
    "ci_low", "ci_high", "excludes_zero", "se", "df", "p", "correction", "p_adjusted", "q", "marked",
    "interval", "paired_seeds", "chosen_on_shown_split", "mde", "n_examples", "resamples", "note")


def _number(v):
    return None if v is None else float(v)


def _seed_columns(prefix, scores):
    return {f"{prefix}seed_{seed}": score for seed, score in scores}


def sides(t, mt, train, lang, c):
    """{mean, std, n, baseline_*} from the seeds' scores the comparison used (its predictions), else
    from the table's cells (results.json)."""
    out = {}
    for prefix, scores, cell in (("", c.x_scores, t.cells[(mt, train, lang)]),
                                 ("baseline_", c.b_scores, t.cells[(t.baseline, train, lang)])):
        stat = summarize(s for _, s in scores) if scores else cell.stat
        out.update({f"{prefix}mean": stat.mean, f"{prefix}std": stat.std, f"{prefix}n": stat.n})
    return out


def difference_row(t, mt, i, j, correction):
    """One differences.csv row (a dict) of the cell at row i, column j of `mt`'s block."""
    train, lang = t.train_sets[i], t.eval_langs[j]
    c = comparison_at(t, mt, i, j)
    both = sides(t, mt, train, lang, c)
    row = {"study": t.study, "task": t.task, "selection": t.selection, "model_type": mt,
           "baseline": t.baseline, "train_langs": lang_label(train), "eval_lang": lang, "split": t.split,
           "metric": t.metric, **both, "difference": c.difference if c.difference is not None
           else both["mean"] - both["baseline_mean"],
           "ci_low": c.low, "ci_high": c.high, "excludes_zero": None if c.low is None else c.excludes_zero,
           "se": c.se, "df": _number(c.df), "p": c.p, "correction": correction, "p_adjusted": c.p_adjusted,
           "q": c.q, "marked": c.marked, "interval": c.scope, "paired_seeds": c.paired if c.scope else None,
           "chosen_on_shown_split": c.on_shown_split, "mde": c.mde, "n_examples": c.n_examples or None,
           "resamples": c.resamples or None, "note": c.reason or ""}
    return {**row, **_seed_columns("", c.x_scores), **_seed_columns("baseline_", c.b_scores)}


def difference_rows(tables, correction="holm"):
    """(columns, rows) of differences.csv: one row per difference cell with a comparison; the
    per-seed columns (seed_<s>, baseline_seed_<s>) follow the fixed ones, by seed."""
    rows = [difference_row(t, mt, i, j, correction) for t in tables for mt, block in t.comparisons.items()
            for i, r in enumerate(block) for j, c in enumerate(r) if c is not None]
    seeds = sorted({k for row in rows for k in row if k not in DIFFERENCE_COLUMNS},
                   key=lambda k: (k.startswith("baseline_"), _seed_order(k)))
    return list(DIFFERENCE_COLUMNS) + seeds, rows


def _seed_order(column):
    seed = column.rsplit("seed_", 1)[1]
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


UPPER_COLUMNS = ("study", "task", "model_type", "train_langs", "eval_lang", "split", "metric",
                 "selection", "mean", "std", "n", "upper_bound_selection", "upper_bound_mean",
                 "upper_bound_std", "upper_bound_n", "gap")


def upper_bound_rows(bounds):
    """(columns, rows) of upper_bound.csv: per cell the zero-shot number, the target-selected upper
    bound from the same runs, and the gap (upper bound - zero-shot)."""
    rows = []
    for b in bounds:
        u = b.upper
        for mt in u.model_types:
            for train in u.train_sets:
                for lang in u.eval_langs:
                    up, zero, gap = b.gap(mt, train, lang)
                    if up is None and zero is None:
                        continue
                    rows.append({"study": u.study, "task": u.task, "model_type": mt,
                                 "train_langs": lang_label(train), "eval_lang": lang, "split": u.split,
                                 "metric": u.metric, "selection": b.zero_shot.selection,
                                 **_stat_columns("", zero), "upper_bound_selection": u.selection,
                                 **_stat_columns("upper_bound_", up), "gap": gap})
    return list(UPPER_COLUMNS), rows


def _stat_columns(prefix, cell):
    stat = cell.stat if cell is not None else None
    return {f"{prefix}mean": stat and stat.mean, f"{prefix}std": stat and stat.std,
            f"{prefix}n": stat and stat.n}
