"""Paired bootstrap confidence intervals for the report's difference cells: model type X minus a
baseline B (e.g. ipa - normal) on the same train set, eval language and split.

One cell, from the runs' saved predictions (ipa_finetune.predictions), R resamples:

    for r in 1..R:
        draw n example indices with replacement: the SAME draw for X and for B (paired)
        when a model type has k > 1 seeds, draw k of its seeds with replacement
            (independently for X and B: their seeds are different runs)
        d[r] = mean over X's drawn seeds of the metric on the drawn examples - the same for B
    95% CI = the 2.5th and 97.5th percentiles of d

Why paired: both models answer the same test questions. Some examples are hard for every model;
resampling them jointly keeps that shared difficulty out of the difference, so the interval
measures how much the *difference* depends on which examples were drawn, and is much narrower
than two independent intervals would be. Resampling seeds as well adds the run-to-run variation
(initialisation, data order), the part a single run hides. A cell is marked when its interval
excludes 0. The draws are vectorised: a resample is a vector of example counts, and
each class's true/predicted/correct counts are one matrix product, so macro F1 over R resamples
is a few array operations (sklearn's definition: mean over all classes, 0 where undefined). A
seq2seq cell (report/seq2seq.py) pairs the runs' examples by id and recomputes corpus-level chrF,
BLEU, exact match and error rate on each resample from summed per-example statistics
(text_metrics.TextStatistics.scores(counts)).
"""
import dataclasses
import functools
import os
import zlib

import numpy as np

from ..predictions import read_predictions

RESAMPLES = 2000   # at least 1,000; 2,000 keeps the 2.5/97.5 percentiles stable to about 0.002
BOOTSTRAP_SEED = 0  # fixed: the same predictions always give the same interval
CHUNK = 250        # resamples per matrix product, bounding memory at CHUNK x n counts
LEVEL = 95
PROB_FLOOR = 5e-7  # probabilities are saved to 6 decimals: a 0 there is below 5e-7 (log-loss)


@dataclasses.dataclass(frozen=True)
class Interval:
    """A difference cell's bootstrap interval, or why it has none (low/high None, reason set)."""
    low: float | None
    high: float | None
    n_examples: int = 0
    resamples: int = 0
    reason: str | None = None

    @property
    def excludes_zero(self):
        return self.low is not None and (self.low > 0 or self.high < 0)


class NoPredictions(Exception):
    """A run's predictions for a language and split cannot be used; the message says why."""


# ----------------------------------------------------------------------------- metrics, vectorised

def example_columns(labels, preds, probs, metric):
    """Per-example columns whose count-weighted sums make the metric: (n, 3 x classes) one-hots of
    gold label, prediction and hit for the classification metrics, (n, 1) log-loss for loss."""
    n = len(labels)
    if metric == "loss":
        return -np.log(np.clip(probs[np.arange(n), labels], PROB_FLOOR, None))[:, None]
    gold, guess = np.eye(probs.shape[1])[labels], np.eye(probs.shape[1])[preds]
    return np.hstack([gold, guess, gold * guess])


def metric_from_sums(sums, n, metric):
    """The metric of each resample from its column sums (R, columns): accuracy, macro precision /
    recall / F1 over all classes (0 where a class has no prediction or no gold example, as
    sklearn's zero_division=0), or the mean log-loss."""
    if metric == "loss":
        return sums[:, 0] / n
    true, pred, hit = np.split(sums, 3, axis=1)  # (R, classes) each
    if metric == "accuracy":
        return hit.sum(axis=1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = {"precision": hit / pred, "recall": hit / true, "f1": 2 * hit / (pred + true)}[metric]
    return np.nan_to_num(per_class, nan=0.0, posinf=0.0).mean(axis=1)


BOOTSTRAP_METRICS = ("accuracy", "precision", "recall", "f1", "loss")


def _seed_means(per_run, rng):
    """(R,) mean over seeds drawn with replacement for each resample; per_run is (k, R)."""
    k, resamples = per_run.shape
    if k == 1:
        return per_run[0]
    drawn = rng.integers(0, k, size=(resamples, k))
    return np.take_along_axis(per_run.T, drawn, axis=1).mean(axis=1)


def example_counts(rng, n, resamples):
    """(resamples, n) float counts: how often each of n examples is drawn in each resample of n
    draws with replacement (a bincount of the drawn indices: faster than a multinomial)."""
    drawn = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(drawn.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def paired_bootstrap(x_scorers, b_scorers, n, resamples=RESAMPLES, seed=BOOTSTRAP_SEED):
    """The bootstrap distribution (R,) of mean(X) - mean(B). x_scorers, b_scorers: one per seed, each
    `scorer(counts) -> (R,)` the metric of the run on each resample, counts (R, n) the multiplicity
    of each of the n examples (the same examples, in the same order, for every run: the caller
    pairs them). The seam between the resampling and a task type's metrics: classification's
    `classification_scorer`, seq2seq's report/seq2seq.py (text_metrics.TextStatistics.scores)."""
    rng = np.random.default_rng(seed)
    x_metric, b_metric = [], []
    for start in range(0, resamples, CHUNK):
        counts = example_counts(rng, n, min(CHUNK, resamples - start))
        x_metric.append([score(counts) for score in x_scorers])
        b_metric.append([score(counts) for score in b_scorers])
    x_all, b_all = np.concatenate(x_metric, axis=1), np.concatenate(b_metric, axis=1)
    return _seed_means(x_all, rng) - _seed_means(b_all, rng)


def classification_scorer(labels, preds, probs, metric):
    """A paired_bootstrap scorer of one classification run's predictions."""
    columns, n = example_columns(labels, preds, probs, metric), len(labels)
    return lambda counts: metric_from_sums(counts @ columns, n, metric)


def interval(diffs, n_examples, level=LEVEL):
    low, high = np.percentile(diffs, [(100 - level) / 2, 100 - (100 - level) / 2])
    return Interval(float(low), float(high), n_examples, len(diffs))


# ----------------------------------------------------------------------------- runs -> interval

@functools.lru_cache(maxsize=4096)
def _read(path):
    return read_predictions(path)


def predictions_path(run, lang, split):
    """The path of a run's predictions file for a language and split; NoPredictions when it has none."""
    rel = ((run.data.get("predictions") or {}).get(lang) or {}).get(split)
    if not rel:  # the same words for every such run: the report lists the cells once per reason
        raise NoPredictions(f"a run saved no {split} predictions (results.json written before "
                            "predictions were saved, or a dataset without that split)")
    return os.path.join(os.path.dirname(run.path), rel)


def run_predictions(run, lang, split):
    """(labels, preds, probs) of a run's predictions file; NoPredictions saying why not."""
    path = predictions_path(run, lang, split)
    try:
        return _read(path)
    except FileNotFoundError:
        raise NoPredictions(f"predictions file {path} is missing") from None
    except (OSError, ValueError, EOFError) as e:
        raise NoPredictions(f"predictions file {path} cannot be read: {e}") from None


def _cell_seed(key):
    """A seed per cell from its key, so that a cell's interval does not depend on the other cells."""
    return [BOOTSTRAP_SEED, zlib.crc32(repr(key).encode("utf-8"))]


def cell_interval(x_runs, b_runs, lang, split, metric, resamples=RESAMPLES, key=None):
    """The Interval of mean(X) - mean(B) for one cell from its runs (collect.Run lists)."""
    from .seq2seq import is_seq2seq, text_scorers, unit_of
    if any(is_seq2seq(r) for r in x_runs + b_runs):
        try:
            scorers = text_scorers([(predictions_path(r, lang, split), unit_of(r, lang)) for r in x_runs],
                                   [(predictions_path(r, lang, split), unit_of(r, lang)) for r in b_runs],
                                   metric)
        except NoPredictions as e:
            scorers = str(e)
    else:
        scorers = _classification_scorers(x_runs, b_runs, lang, split, metric)
    if isinstance(scorers, str):  # none: the reason why
        return Interval(None, None, reason=scorers)
    x_scorers, b_scorers, n = scorers
    return interval(paired_bootstrap(x_scorers, b_scorers, n, resamples, _cell_seed(key)), n)


def _classification_scorers(x_runs, b_runs, lang, split, metric):
    """(X's scorers, B's scorers, examples) from the runs' predictions, or the reason why not."""
    if metric not in BOOTSTRAP_METRICS:
        return f"no interval for {metric}: the bootstrap covers {', '.join(BOOTSTRAP_METRICS)}"
    try:
        xs = [run_predictions(r, lang, split) for r in x_runs]
        bs = [run_predictions(r, lang, split) for r in b_runs]
    except NoPredictions as e:
        return str(e)
    gold = xs[0][0]
    if len(gold) == 0:
        return f"no {split} examples for {lang}"
    for labels, _, probs in xs + bs:
        if len(labels) != len(gold) or not np.array_equal(labels, gold):
            return (f"the runs' {split} predictions for {lang} are not of the same examples "
                    f"({len(labels)} vs {len(gold)} rows, or other gold labels)")
        if probs.shape[1] != xs[0][2].shape[1]:
            return "the runs' predictions have different class counts"
    return ([classification_scorer(*run, metric) for run in xs],
            [classification_scorer(*run, metric) for run in bs], len(gold))


def difference_intervals(tables, runs, resamples=RESAMPLES):
    """Fill each TransferTable's `intervals`: {model type: rows x columns of Interval, or None where
    the difference has no value}, for every difference block (model type minus table.baseline)."""
    from tqdm import tqdm

    by_id = {r.run_id: r for r in runs}
    work = []
    for t in tables:
        for mt, diff in t.differences().items():
            t.intervals[mt] = [[None] * len(t.eval_langs) for _ in t.train_sets]
            work += [(t, mt, i, j) for i, row in enumerate(diff) for j, v in enumerate(row)
                     if v is not None]
    for t, mt, i, j in tqdm(work, desc="bootstrap", unit="cell", leave=False, disable=None):
        train, lang = t.train_sets[i], t.eval_langs[j]
        x, b = t.cells[(mt, train, lang)], t.cells[(t.baseline, train, lang)]
        key = (t.study, t.task, t.selection, mt, t.baseline, train, lang, t.split, t.metric)
        t.intervals[mt][i][j] = cell_interval([by_id[r] for r in x.run_ids], [by_id[r] for r in b.run_ids],
                                              lang, t.split, t.metric, resamples, key)
    return tables


# ----------------------------------------------------------------------------- differences.csv

DIFFERENCE_COLUMNS = (
    "study", "task", "selection", "model_type", "baseline", "train_langs", "eval_lang", "split",
    "metric", "mean", "std", "n", "baseline_mean", "baseline_std", "baseline_n", "difference",
    "ci_low", "ci_high", "excludes_zero", "n_examples", "resamples", "note")


def difference_rows(tables):
    """(columns, rows) of differences.csv: one row per difference cell with a value."""
    rows = []
    for t in tables:
        for mt, diff in t.differences().items():
            for i, train in enumerate(t.train_sets):
                for j, lang in enumerate(t.eval_langs):
                    if diff[i][j] is not None:
                        rows.append(_difference_row(t, mt, train, lang, diff[i][j],
                                                    interval_at(t, mt, i, j)))
    return list(DIFFERENCE_COLUMNS), rows


def interval_at(table, model_type, i, j):
    """The Interval of a difference cell (row i, column j), or None when none was computed."""
    block = table.intervals.get(model_type)
    return block[i][j] if block else None


def _difference_row(t, mt, train, lang, value, ci):
    x, b = t.cells[(mt, train, lang)].stat, t.cells[(t.baseline, train, lang)].stat
    ci = ci or Interval(None, None, reason="no interval computed")
    return {"study": t.study, "task": t.task, "selection": t.selection, "model_type": mt,
            "baseline": t.baseline, "train_langs": "+".join(train), "eval_lang": lang,
            "split": t.split, "metric": t.metric, "mean": x.mean, "std": x.std, "n": x.n,
            "baseline_mean": b.mean, "baseline_std": b.std, "baseline_n": b.n, "difference": value,
            "ci_low": ci.low, "ci_high": ci.high,
            "excludes_zero": None if ci.low is None else ci.excludes_zero,
            "n_examples": ci.n_examples or None, "resamples": ci.resamples or None,
            "note": ci.reason or ""}
