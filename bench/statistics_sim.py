"""Synthetic studies for bench_statistics.py: two model types' predictions over seeds and examples,
with a known difference, analysed by the report's own functions (ipa_finetune.report.resampling,
uncertainty.compare, multiplicity.apply_corrections).

A study is the transfer matrix's family of 6 cells: train sets A+B, A, B x eval languages A, B. Each
eval language has one test set of n examples (gold class y_i of 3, difficulty e_i ~ N(0, 1)), shared
by the cells evaluated on it. A run (model type m, train set T, seed s) answers example i correctly when

    a_m + u_(m,T,s) - e_i + v_(m,T,i) + w_(m,T,s,i) > 0

  a_m        the model type's skill (a_X = a_B under no effect; a_X - a_B = delta under the effect)
  u          the seed's shift of the whole run, N(0, tau^2); X's and B's shifts of the same seed and
             train set correlate (rho: they share the data order), and a joint run's shift is the
             same on both test sets
  v          the model's own disposition on the example, N(0, 1), the same for every seed
  w          seed x example noise, N(0, sigma_w^2)

and otherwise predicts a wrong class fixed by v. tau and sigma_w are set so that the standard
deviation over seeds of one model's macro-F1 on a fixed test set is the regime's seed SD (0: every
seed predicts the same). The true difference (expected macro-F1 of X minus B over seeds and test
sets) is 0 under no effect, and measured on a large sample under the effect.
"""
import dataclasses
import functools
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ipa_finetune.report import multiplicity, resampling  # noqa: E402
from ipa_finetune.report.tables import TransferTable  # noqa: E402
from ipa_finetune.report.uncertainty import TEST_ONLY, compare  # noqa: E402

CLASSES = 3
TRAIN_SETS = (("A", "B"), ("A",), ("B",))
EVALS = ("A", "B")
BASE_SKILL = 0.8        # a_B: macro-F1 about 0.7, where the audit's runs sit
SIGMA_W = 0.3           # seed x example noise when seeds differ at all
RHO = 0.5               # correlation of X's and B's seed shifts (shared data order)


@dataclasses.dataclass(frozen=True)
class Regime:
    seed_sd: float      # SD over seeds of one model's macro-F1 on a fixed test set
    k: int              # seeds per model type
    paired: bool = True  # the analysis pairs X's and B's seeds (as the report does for shared data order)


def predictions(y, e, v, shift, noise):
    """Predicted classes of one run: correct where skill + shift - e + v + noise > 0."""
    correct = shift - e + v + noise > 0
    return np.where(correct, y, (y + 1 + (v > 0)) % CLASSES)


def run_statistics(y, pred):
    """The report's per-example statistics (resampling.py) of one run's predictions."""
    probs = np.full((len(y), CLASSES), 0.1)
    probs[np.arange(len(y)), pred] = 0.8
    return resampling.class_statistics(y, pred, probs)


def macro_f1(y, pred):
    """Macro-F1 from the confusion counts (for the large calibration samples; the studies use the
    report's statistics)."""
    hit = np.bincount(y[y == pred], minlength=CLASSES)
    total = np.bincount(y, minlength=CLASSES) + np.bincount(pred, minlength=CLASSES)
    return float(np.mean(np.where(total > 0, 2 * hit / np.maximum(total, 1), 0.0)))


def _seed_sd(tau, sigma_w, n=2000, seeds=300, rng_seed=7):
    """The SD over seeds of macro-F1 on one test set of n examples, for seed shift tau, noise sigma_w."""
    rng = np.random.default_rng(rng_seed)
    y, e, v = rng.integers(0, CLASSES, n), rng.normal(size=n), rng.normal(size=n)
    scores = [macro_f1(y, predictions(y, e, v, BASE_SKILL + tau * rng.normal(), sigma_w * rng.normal(size=n)))
              for _ in range(seeds)]
    return float(np.std(scores, ddof=1))


@functools.lru_cache(maxsize=None)
def noise_for(seed_sd):
    """(tau, sigma_w) giving the seed SD (bisection on tau, sigma_w fixed; both 0 for no seed SD)."""
    if seed_sd == 0:
        return 0.0, 0.0
    lo, hi = 0.0, 1.0
    for _ in range(18):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _seed_sd(mid, SIGMA_W) < seed_sd else (lo, mid)
    return (lo + hi) / 2, SIGMA_W


@functools.lru_cache(maxsize=None)
def true_difference(seed_sd, delta, n=20_000, seeds=300, rng_seed=11):
    """Expected macro-F1 of X minus B (skills BASE_SKILL + delta and BASE_SKILL), over seeds and
    examples, on a large sample: each draw scores X and B on the same examples, shift and noise
    (common random numbers: the expectation is the same, its Monte Carlo error far smaller)."""
    tau, sigma_w = noise_for(seed_sd)
    rng = np.random.default_rng(rng_seed)
    y, e = rng.integers(0, CLASSES, n), rng.normal(size=n)
    diffs = []
    for _ in range(seeds):
        v, shift, noise = rng.normal(size=n), tau * rng.normal(), sigma_w * rng.normal(size=n)
        x, b = (macro_f1(y, predictions(y, e, v, BASE_SKILL + d + shift, noise)) for d in (delta, 0.0))
        diffs.append(x - b)
    return float(np.mean(diffs))


def _shifts(rng, k, tau):
    """(X's, B's) seed shifts of one train set, correlated RHO."""
    common, own = rng.normal(size=k), rng.normal(size=(2, k))
    return tau * (math.sqrt(RHO) * common + math.sqrt(1 - RHO) * own)


def study_cells(rng, regime, delta, n):
    """{(train set, eval language): ([X statistics], [B statistics])} of one synthetic study."""
    tau, sigma_w = noise_for(regime.seed_sd)
    tests = {lang: (rng.integers(0, CLASSES, n), rng.normal(size=n)) for lang in EVALS}
    cells = {}
    for train in TRAIN_SETS:
        shifts = _shifts(rng, regime.k, tau)
        for lang in EVALS:
            y, e = tests[lang]
            runs = []
            for side, skill in enumerate((BASE_SKILL + delta, BASE_SKILL)):
                v = rng.normal(size=n)
                runs.append([run_statistics(y, predictions(y, e, v, skill + shifts[side][s], sigma_w * rng.normal(size=n)))
                             for s in range(regime.k)])
            cells[(train, lang)] = tuple(runs)
    return cells


def analyse(cells, regime, resamples, seed):
    """The study's family as a TransferTable block of Comparisons, corrected by Holm and by none:
    -> (comparisons under Holm, marks without correction)."""
    block = [[None] * len(EVALS) for _ in TRAIN_SETS]
    pairs = [(s, s) for s in range(regime.k)] if regime.paired else None
    for i, train in enumerate(TRAIN_SETS):
        for j, lang in enumerate(EVALS):
            xs, bs = cells[(train, lang)]
            block[i][j] = compare(xs, bs, "f1", pairs=pairs, resamples=resamples, seed=[seed, i, j])
    marks = {}
    for correction in ("none", "holm"):
        table = TransferTable("sim", "sim", "f1", "test", ["X", "B"], list(TRAIN_SETS), list(EVALS), {},
                              baseline="B", comparisons={"X": [list(row) for row in block]})
        multiplicity.apply_corrections([table], correction)
        marks[correction] = [c for row in table.comparisons["X"] for c in row]
    return marks["holm"], [c.marked for c in marks["none"]]


def run_regime(regime, *, studies, n, resamples, effect, rng_seed=0):
    """The regime's figures over `studies` null and `studies` effect studies (a dict)."""
    rng = np.random.default_rng([rng_seed, int(regime.seed_sd * 1000), regime.k, regime.paired])
    truth = {"null": 0.0, "effect": true_difference(regime.seed_sd, effect)}
    out = {"regime": dataclasses.asdict(regime), "true_effect": truth["effect"]}
    for name, delta in (("null", 0.0), ("effect", effect)):
        covered, marked, raw_marked, any_raw, any_holm, mdes = [], [], [], [], [], []
        for s in range(studies):
            holm, raw = analyse(study_cells(rng, regime, delta, n), regime, resamples, s)
            covered += [c.low <= truth[name] <= c.high for c in holm]
            marked += [c.marked for c in holm]
            raw_marked += raw
            any_raw.append(any(raw))
            any_holm.append(any(c.marked for c in holm))
            mdes += [c.mde for c in holm if c.mde is not None]
        out[name] = {"coverage": float(np.mean(covered)), "marks": float(np.mean(marked)),
                     "raw_marks": float(np.mean(raw_marked)), "fwer_raw": float(np.mean(any_raw)),
                     "fwer_holm": float(np.mean(any_holm)), "test_only": regime.k < 2,
                     "mde": float(np.median(mdes)) if mdes else None}
    return out


TEST_SAMPLING_ONLY = TEST_ONLY  # the scope of a k = 1 interval, for the printout
