"""Per-example statistics: the one seam between a task's predictions and the report's statistics.

A metric family turns one run's predictions on one split into a statistics object with

    len(stats)                 the number of examples, n
    stats.scores()             {metric: score} of the split as it is
    stats.scores(counts)       {metric: (R,) array} for counts (R, n): how often each example is
                               drawn in each of R resamples

Every corpus-level score is a function of count-weighted sums of per-example columns, so a resample
is one matrix product and a macro average is recomputed at corpus level on each resample (exactly
scikit-learn's on the drawn examples), never averaged per example. Classification is one family
(ClassStatistics below); text_metrics.TextStatistics (chrF, BLEU, exact match, error rate) has the
same interface. READERS maps a dataset's task_type to the function that reads a predictions file into
(statistics, gold), `gold` being what the examples are (labels, references): runs compared on a split
must agree on it. Nothing downstream (intervals, p-values, corrections, tables) knows the task.
"""
import dataclasses
import functools

import numpy as np
from threadpoolctl import threadpool_limits

from ..predictions import read_predictions
from .seq2seq import read_text

CHUNK = 250          # resamples per matrix product, bounding memory at CHUNK x n counts
PROB_FLOOR = 5e-7    # probabilities are saved to 6 decimals: a 0 there is below 5e-7 (log-loss)


@dataclasses.dataclass(frozen=True)
class ClassStatistics:
    """Columns (n, 3 x classes + 1) per example: one-hot gold label, one-hot prediction, one-hot hit,
    and the log-loss of the gold label. Sums give each class's gold/predicted/correct counts."""
    columns: np.ndarray
    classes: int

    def __len__(self):
        return len(self.columns)

    def scores(self, counts=None):
        """{accuracy, precision, recall, f1, loss}: macro averages over all classes (0 where a class
        has no prediction or no gold example: scikit-learn's zero_division=0), mean log-loss."""
        if counts is None:
            return {k: float(v[0]) for k, v in self.scores(np.ones((1, len(self)))).items()}
        counts = np.asarray(counts, dtype=np.float64)
        sums = counts @ self.columns                       # (R, 3C + 1)
        drawn = counts.sum(axis=1)                         # (R,) examples in each resample
        c = self.classes
        true, pred, hit = sums[:, :c], sums[:, c:2 * c], sums[:, 2 * c:3 * c]   # (R, C) each
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class = {"precision": hit / pred, "recall": hit / true, "f1": 2 * hit / (pred + true)}
        out = {name: np.nan_to_num(v, nan=0.0, posinf=0.0).mean(axis=1) for name, v in per_class.items()}
        return {"accuracy": hit.sum(axis=1) / drawn, **out, "loss": sums[:, 3 * c] / drawn}


def class_statistics(labels, preds, probs):
    """ClassStatistics of one split's gold labels, predicted ids and class probabilities (n, C)."""
    n, classes = probs.shape
    gold, guess = np.eye(classes)[labels], np.eye(classes)[preds]
    loss = -np.log(np.clip(probs[np.arange(n), labels], PROB_FLOOR, None))
    return ClassStatistics(np.hstack([gold, guess, gold * guess, loss[:, None]]), classes)


def read_classification(path):
    """(ClassStatistics, gold labels) of a classification predictions file."""
    labels, preds, probs = read_predictions(path)
    return class_statistics(labels, preds, probs), labels


# task_type of the dataset entry (results.json inputs) -> reader of a predictions file (path, unit);
# seq2seq's gold is the example ids (its files are read in id order: runs pair by id)
READERS = {"classification": lambda path, unit: read_classification(path), "seq2seq": read_text}


@functools.lru_cache(maxsize=4096)
def read_statistics(path, task_type="classification", unit=None):
    """(statistics, gold) of a predictions file, read once per report. unit: a seq2seq error rate's
    ("char" or "phone": report/seq2seq.unit_of)."""
    reader = READERS.get(task_type)
    if reader is None:
        raise ValueError(f"no statistics for task_type {task_type!r} (known: {', '.join(READERS)})")
    return reader(path, unit)


def example_counts(rng, n, resamples):
    """(resamples, n) int64 counts: how often each of n examples is drawn in each resample of n
    draws with replacement (a bincount of the drawn indices: faster than a multinomial)."""
    drawn = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(drawn.ravel(), minlength=resamples * n).reshape(resamples, n)


def resampled_scores(stats, metric, resamples, seed):
    """(k, R) `metric` of each of k statistics (one per seed) on the same R resamples of the
    examples: the seeds are held fixed, only the examples are redrawn."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(stats), resamples))
    # one BLAS thread: the products are small ((CHUNK, n) x (n, columns)), and OpenBLAS's threads made
    # them 7x slower on a busy 2-core machine (bench/bench_statistics.py)
    with threadpool_limits(1, user_api="blas"):
        for start in range(0, resamples, CHUNK):
            # float once per chunk: the products run in BLAS (a family wanting ints converts back)
            counts = example_counts(rng, len(stats[0]), min(CHUNK, resamples - start)).astype(np.float64)
            for i, s in enumerate(stats):
                out[i, start:start + len(counts)] = s.scores(counts)[metric]
    return out
