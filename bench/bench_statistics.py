"""Calibration of the report's statistics on synthetic studies with a known answer.

    .venv/bin/python bench/bench_statistics.py                 # docs/statistics.md's table (minutes)
    .venv/bin/python bench/bench_statistics.py --fast --json /tmp/stats.json   # the test suite's run

Each regime (seed SD of macro-F1 over seeds: 0, 0.024, 0.044; k = 1, 3, 5 seeds per model type; seeds
paired across the two model types as the report pairs runs that share their data order, and for k >= 3
also unpaired: Welch) draws --studies studies with no difference and --studies with a known one
(statistics_sim.py says how), each a family of 6 cells (the transfer matrix), and analyses every
cell with the report's own functions: uncertainty.compare (interval, p-value) and
multiplicity.apply_corrections (Holm within the family, marks). It prints, per regime:
  coverage    share of 95% intervals holding the true difference (no effect / the effect)
  marks       share of cells marked under no effect: raw (p < 0.05) and after Holm
  FWER        share of no-effect studies with at least one mark: raw and after Holm
  power       share of cells marked (after Holm) under the effect
  MDE         median smallest detectable difference (80% power, 5% two-sided, per comparison)
With k = 1 the interval counts test sampling only, and no cell is ever marked.
"""
import argparse
import json
import os
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(BENCH_DIR), BENCH_DIR]

from ipa_finetune.cli import exit_on_user_error, positive_int  # noqa: E402
from statistics_sim import Regime, run_regime, true_difference  # noqa: E402

SEED_SDS = (0.0, 0.024, 0.044)
SEEDS = (1, 3, 5)
FAST = dict(studies=40, n=300, resamples=400)
FAST_REGIMES = [Regime(0.044, 3), Regime(0.024, 5), Regime(0.0, 3), Regime(0.044, 1)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studies", type=positive_int, default=200,
                   help="studies per regime and condition (no effect, effect); each is 6 cells (default: 200)")
    p.add_argument("--n", type=positive_int, default=500, help="test examples per eval language (default: 500)")
    p.add_argument("--resamples", type=positive_int, default=1000,
                   help="bootstrap resamples per cell (default: 1000; the report uses 2000)")
    p.add_argument("--effect", type=float, default=0.22,
                   help="skill difference of the known effect, in the model's latent units (default 0.22: "
                        "about +0.05 macro-F1; the true difference is printed)")
    p.add_argument("--fast", action="store_true",
                   help=f"the test suite's version: 4 regimes, {FAST['studies']} studies, n={FAST['n']}, "
                        f"{FAST['resamples']} resamples (seconds)")
    p.add_argument("--seed-sd", type=float, nargs="+", default=list(SEED_SDS), metavar="SD",
                   help="the regimes' seed SDs of macro-F1 (default: 0 0.024 0.044); each regime is "
                        "seeded by itself, so the table can be run in parts, one process per part")
    p.add_argument("--k", type=positive_int, nargs="+", default=list(SEEDS),
                   help="the regimes' seeds per model type (default: 1 3 5)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return p.parse_args(argv)


def regimes(args):
    if args.fast:
        return FAST_REGIMES
    out = [Regime(sd, k) for sd in args.seed_sd for k in args.k]
    return out + [Regime(sd, k, paired=False) for sd in args.seed_sd for k in args.k if k >= 3]


def pct(v):
    return "–" if v is None else f"{100 * v:5.1f}%"


def row(r):
    reg, null, eff = r["regime"], r["null"], r["effect"]
    seeds = "1 (test only)" if reg["k"] == 1 else ("paired" if reg["paired"] else "Welch")
    mde = "–" if null["mde"] is None else f"{null['mde']:.3f}"
    return (f"| {reg['seed_sd']:.3f} | {reg['k']} | {seeds} | {pct(null['coverage'])} | {pct(eff['coverage'])} | "
            f"{pct(null['raw_marks'])} | {pct(null['marks'])} | {pct(null['fwer_raw'])} | "
            f"{pct(null['fwer_holm'])} | {pct(eff['marks'])} | {mde} |")


HEAD = ("| seed SD | k | seeds | coverage (none) | coverage (effect) | marks raw | marks Holm | FWER raw | "
        "FWER Holm | power Holm | MDE |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    size = FAST if args.fast else dict(studies=args.studies, n=args.n, resamples=args.resamples)
    started = time.time()
    print(f"{size['studies']} studies x 6 cells per regime and condition, n = {size['n']} test examples per "
          f"language, {size['resamples']} resamples; effect: latent +{args.effect}, true macro-F1 "
          f"difference {true_difference(0.0, args.effect):+.3f} (seed SD 0)\n")
    print(HEAD, flush=True)
    results = []
    for regime in regimes(args):
        results.append(run_regime(regime, effect=args.effect, **size))
        print(row(results[-1]), flush=True)
    print(f"\n{time.time() - started:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"size": size, "effect": args.effect, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
