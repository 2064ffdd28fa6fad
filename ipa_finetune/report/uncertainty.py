"""A difference cell's interval and p-value: model type X minus a baseline B (e.g. ipa - normal) on
the same train set, eval language and split, from the runs' saved predictions.

With k_X and k_B seeds, each run scored on the split (score x_s, b_t), the difference is
d = mean(x) - mean(b), and its variance has two sources:

    test sampling   V_boot: the variance of d over R paired bootstrap resamples of the examples,
                    the seeds held fixed (the same draw for every run of both model types)
    seeds           s_x^2 / k_X + s_b^2 / k_B  (sample variances of the seeds' scores), or, where
                    the seeds are paired (the same seed and data order for X and B), s_D^2 / k of
                    the per-seed differences D_s = x_s - b_s

    SE = sqrt(V_boot + seed term); degrees of freedom by Welch-Satterthwaite (the bootstrap term
    exact, the seed term counted pessimistically: PESSIMISM), so that the test holds its level when
    the seed variance is estimated from few seeds; 95% interval d +- t(df) SE; two-sided
    p = 2 P(T_df > |d| / SE).

With fewer than 2 seeds on a side the seed term cannot be estimated: the interval counts test
sampling only (normal quantile), it has no p-value and the cell gets no mark. Paired resampling keeps
the examples' shared difficulty out of the difference; the seed term adds the run-to-run variation
(initialisation, data order) that one run hides. bench/bench_statistics.py checks the calibration.
"""
import dataclasses
import json
import math
import os
import zlib

import numpy as np
from scipy import stats as scipy_stats

from ..inputs.fingerprint import identity, short
from ..runs import canonical
from .resampling import read_statistics, resampled_scores
from .seq2seq import unit_of

RESAMPLES = 2000    # the bootstrap variance to about 3% (its relative SE is sqrt(2 / R))
BOOTSTRAP_SEED = 0  # fixed: the same predictions always give the same interval
LEVEL = 95
ALPHA = 0.05        # two-sided, per comparison; corrected within families (multiplicity.py)
POWER = 0.8         # for the smallest detectable difference
# {fewest seed df: factor on the seed variance in the Satterthwaite df}: about the smallest that kept
# a test at Holm's first level (0.05 / 6) at or below it for every share of seed variance; 2 seeds (1
# df): the seeds' own df, however small their share (docs/statistics.md#intervals)
PESSIMISM = {1: math.inf, 2: 8, None: 4}
SEEDS_AND_EXAMPLES, TEST_ONLY = "seeds and test examples", "test sampling only"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One difference cell: the statistic, its interval and p-value, or why there is none (reason).
    multiplicity.py fills p_adjusted, q and marked."""
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    se: float | None = None
    df: float | None = None
    p: float | None = None                  # two-sided, per comparison; None: no test
    scope: str | None = None                # SEEDS_AND_EXAMPLES or TEST_ONLY
    paired: bool = False                    # seeds paired across the two model types
    x_scores: tuple = ()                    # ((seed, score), ...) of X's runs
    b_scores: tuple = ()
    mde: float | None = None                # smallest difference detected with POWER at ALPHA
    n_examples: int = 0
    resamples: int = 0
    reason: str | None = None               # why no interval
    on_shown_split: bool = False            # the split shown chose an epoch or setting: no mark
    p_adjusted: float | None = None
    q: float | None = None                  # Benjamini-Hochberg over the whole report
    marked: bool = False

    @property
    def excludes_zero(self):
        return self.low is not None and (self.low > 0 or self.high < 0)

    @property
    def testable(self):
        """Whether the cell may carry a mark: a p-value, and no selection on the shown split."""
        return self.p is not None and not self.on_shown_split


def _t(q, df):
    return float(scipy_stats.norm.ppf(q) if math.isinf(df) else scipy_stats.t.ppf(q, df))


def _welch(v_boot, parts):
    """(SE, df) of V_boot plus the seed variance parts [(variance, its degrees of freedom)]. df:
    Welch-Satterthwaite with the bootstrap term as exact and the seed term at PESSIMISM times its
    estimate, in the df only (SE keeps the estimate). The plain plug-in let a seed variance that came
    out small from 3 seeds push df towards the normal's: 7.6% of null cells marked at seed SD 0.044
    and 12.5% of null families after Holm (bench/bench_statistics.py); docs/statistics.md."""
    seeds = sum(v for v, _ in parts)
    m = PESSIMISM.get(min(d for _, d in parts), PESSIMISM[None])
    denominator = sum(v * v / d for v, d in parts)          # df below divided through by m^2
    df = (v_boot / m + seeds) ** 2 / denominator if denominator > 0 else math.inf
    return math.sqrt(v_boot + seeds), df


def compare(xs, bs, metric, *, pairs=None, resamples=RESAMPLES, seed=BOOTSTRAP_SEED):
    """The Comparison of mean(X) - mean(B) from statistics objects (resampling.py), one per seed, all
    on the same examples. pairs: [(i, j)] pairing xs[i] with bs[j] (same seed and data order), or
    None: independent seeds."""
    x = np.array([s.scores()[metric] for s in xs])
    b = np.array([s.scores()[metric] for s in bs])
    boot = resampled_scores(list(xs) + list(bs), metric, resamples, seed)       # (k_X + k_B, R)
    diffs = boot[:len(xs)].mean(axis=0) - boot[len(xs):].mean(axis=0)             # (R,)
    v_boot = float(diffs.var(ddof=1))
    d = float(x.mean() - b.mean())
    base = dict(difference=d, n_examples=len(xs[0]), resamples=resamples)
    if len(xs) < 2 or len(bs) < 2:
        half = _t(1 - ALPHA / 2, math.inf) * math.sqrt(v_boot)
        return Comparison(low=d - half, high=d + half, se=math.sqrt(v_boot), df=math.inf,
                          scope=TEST_ONLY, **base)
    if pairs:
        diff = np.array([x[i] - b[j] for i, j in pairs])
        parts = [(float(diff.var(ddof=1)) / len(diff), len(diff) - 1)]
    else:
        parts = [(float(x.var(ddof=1)) / len(x), len(x) - 1), (float(b.var(ddof=1)) / len(b), len(b) - 1)]
    se, df = _welch(v_boot, parts)
    half = _t(1 - ALPHA / 2, df) * se
    p = float(2 * (scipy_stats.norm.sf(abs(d) / se) if math.isinf(df) else scipy_stats.t.sf(abs(d) / se, df))) \
        if se > 0 else (1.0 if d == 0 else 0.0)
    mde = (_t(1 - ALPHA / 2, df) + _t(POWER, df)) * se
    return Comparison(low=d - half, high=d + half, se=se, df=df, p=p, scope=SEEDS_AND_EXAMPLES,
                      paired=bool(pairs), mde=mde, **base)


# ----------------------------------------------------------------------------- runs -> comparison

class Refused(Exception):
    """The runs of a cell cannot be compared; the message says why (the cell's note)."""


def _split_data(outcome, lang, role):
    """The recorded fingerprint of `lang`'s `role` split (eval/test) that the run read, or None."""
    entry = ((outcome.run.data.get("inputs") or {}).get("datasets") or {}).get(lang) or {}
    names, data = entry.get("splits") or [], entry.get("data") or {}
    index = {"train": 0, "eval": 1, "test": 2}[role]
    name = names[index] if len(names) > index else None
    return canonical(identity(data[name])) if name in data else None


def _statistics(outcome, lang, split):
    """(statistics, gold) of one run's predictions; Refused saying why not."""
    rel = (outcome.predictions.get(lang) or {}).get(split)
    if not rel:  # the same words for every such run: the report lists the cells once per reason
        raise Refused(f"a run saved no {split} predictions (results.json written before predictions "
                      "were saved, or a dataset without that split)")
    path = os.path.join(os.path.dirname(outcome.run.path), rel)
    entry = ((outcome.run.data.get("inputs") or {}).get("datasets") or {}).get(lang) or {}
    try:
        return read_statistics(path, entry.get("task_type") or "classification", unit_of(outcome.run, lang))
    except FileNotFoundError:
        raise Refused(f"predictions file {path} is missing") from None
    except (OSError, ValueError, EOFError) as e:
        raise Refused(f"predictions file {path} cannot be read: {e}") from None


def same_examples(outcomes, lang, split):
    """Refused unless every run read the same data for this split (its recorded fingerprint:
    results.json inputs) and has the same gold answers row by row; -> [statistics] in order."""
    prints = {_split_data(o, lang, split) for o in outcomes} - {None}
    if len(prints) > 1:
        digests = sorted(_digest(p) for p in prints)
        raise Refused(f"the runs read different {lang} {split} data (fingerprints "
                      f"{', '.join(digests)}): not the same examples, so no paired comparison")
    read = [_statistics(o, lang, split) for o in outcomes]
    gold = read[0][1]
    if len(gold) == 0:
        raise Refused(f"no {split} examples for {lang}")
    for _, other in read[1:]:
        if len(other) != len(gold) or not np.array_equal(other, gold):
            raise Refused(f"the runs' {split} predictions for {lang} are not of the same examples "
                          f"({len(other)} vs {len(gold)} rows, or other gold answers)")
    return [s for s, _ in read]


def _digest(fingerprint):
    """The short sha256 (or datasets fingerprint) of a recorded split fingerprint."""
    found = json.loads(fingerprint)
    return short(found.get("sha256") or found.get("fingerprint") or fingerprint) \
        if isinstance(found, dict) else short(fingerprint)


def _order_key(outcome):
    """What fixes a run's data order: its seed, the train splits it read (by content), and the
    hyperparameters that cut or batch them."""
    hp = outcome.hyperparameters
    train = [_split_data(outcome, lang, "train") for lang in outcome.train_langs]
    return canonical([outcome.seed, train, *(hp.get(k) for k in (
        "train_samples", "batch_size", "gradient_accumulation_steps", "epochs", "max_steps"))])


def seed_pairs(xs, bs):
    """[(i, j)] pairing X's and B's runs one to one by seed and data order (recorded train data
    fingerprints required), or None when they cannot all be paired."""
    if len(xs) != len(bs) or any(_split_data(o, lang, "train") is None for o in list(xs) + list(bs)
                                 for lang in o.train_langs):
        return None
    keys = {_order_key(o): j for j, o in enumerate(bs)}
    pairs = [(i, keys.get(_order_key(o))) for i, o in enumerate(xs)]
    return pairs if all(j is not None for _, j in pairs) and len(keys) == len(bs) else None


def _cell_seed(key):
    """A seed per cell from its key, so that a cell's interval does not depend on the other cells."""
    return [BOOTSTRAP_SEED, zlib.crc32(repr(key).encode("utf-8"))]


def cell_comparison(x_outcomes, b_outcomes, lang, split, metric, resamples=RESAMPLES, key=None):
    """The Comparison of one cell from its runs (collect.Outcome lists), or one with a reason."""
    try:
        stats = same_examples(list(x_outcomes) + list(b_outcomes), lang, split)
    except Refused as e:
        return Comparison(reason=str(e))
    xs, bs = stats[:len(x_outcomes)], stats[len(x_outcomes):]
    if metric not in xs[0].scores():
        return Comparison(reason=f"no interval for {metric}: the predictions give "
                                 f"{', '.join(xs[0].scores())}")
    c = compare(xs, bs, metric, pairs=seed_pairs(x_outcomes, b_outcomes), resamples=resamples,
                seed=_cell_seed(key))
    return dataclasses.replace(c, x_scores=_seed_scores(x_outcomes, xs, metric),
                               b_scores=_seed_scores(b_outcomes, bs, metric))


def _seed_scores(outcomes, stats, metric):
    """((seed, score), ...) of the runs, from their predictions: the numbers the interval is of."""
    return tuple((o.seed, s.scores()[metric]) for o, s in zip(outcomes, stats))


def difference_comparisons(tables, resamples=RESAMPLES):
    """Fill each TransferTable's `comparisons`: {model type: rows x columns of Comparison, or None
    where the difference has no value}, for every difference block (model type minus the baseline)."""
    from tqdm import tqdm

    work = []
    for t in tables:
        for mt, diff in t.differences().items():
            t.comparisons[mt] = [[None] * len(t.eval_langs) for _ in t.train_sets]
            work += [(t, mt, i, j) for i, row in enumerate(diff) for j, v in enumerate(row) if v is not None]
    for t, mt, i, j in tqdm(work, desc="bootstrap", unit="cell", leave=False, disable=None):
        train, lang = t.train_sets[i], t.eval_langs[j]
        x, b = t.cells[(mt, train, lang)], t.cells[(t.baseline, train, lang)]
        key = (t.study, t.task, t.selection, mt, t.baseline, train, lang, t.split, t.metric)
        c = cell_comparison(x.outcomes, b.outcomes, lang, t.split, t.metric, resamples, key)
        t.comparisons[mt][i][j] = dataclasses.replace(c, on_shown_split=x.on_shown_split or b.on_shown_split)
    return tables


def comparison_at(table, model_type, i, j):
    """The Comparison of a difference cell (row i, column j), or None when none was computed."""
    block = table.comparisons.get(model_type)
    return block[i][j] if block else None
