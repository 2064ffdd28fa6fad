"""The report's statistics as a reviewer checks them: settings chosen without the target's labels,
no mark where the shown split chose, corrections for many comparisons, LaTeX equal to the CSV, bad
names as one line, and the calibration simulation (bench/bench_statistics.py --fast)."""
import csv
import json
import os
import re

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from conftest import one_line_error, run_script
from test_collect import write_run
from test_uncertainty import CLASSES, LABELS, record_inputs, set_predictions
from ipa_finetune.report import build, collect, multiplicity, tables
from ipa_finetune.report.markdown import render_report

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_holm_bonferroni_and_none():
    p = [0.03, 0.01, 0.04, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; made monotone
    assert list(multiplicity.adjust(p, "holm")) == pytest.approx([0.06, 0.03, 0.06, 0.02])
    assert list(multiplicity.adjust(p, "bonferroni")) == pytest.approx([0.12, 0.04, 0.16, 0.02])
    assert list(multiplicity.adjust(p, "none")) == p
    assert list(multiplicity.adjust([0.5, 0.9], "holm")) == [1.0, 1.0]


def grid_study(root, russian_eval):
    """A polish -> russian grid of two learning rates, 2 seeds each: polish's validation (the source)
    prefers 5e-4, russian's validation (the target) the values given; test predictions for each."""
    res = str(root / "results")
    for lr, polish, russian in ((5e-4, 0.8, russian_eval[0]), (1e-3, 0.6, russian_eval[1])):
        for seed in (1, 2):
            for mt in ("normal", "ipa"):
                test = 0.7 if lr == 5e-4 else 0.4
                d = write_run(res, mt, ["polish"], ["russian"], {"russian": (russian, test)}, seed=seed, lr=lr,
                              selection="source", source={"polish": polish})
                set_predictions(d, "russian", "test", LABELS, LABELS if lr == 5e-4 else [0] * len(LABELS))
                record_inputs(d, "russian")
    return res


def chosen_lr(res, protocol):
    runs, _ = collect.load_results([res])
    (t,) = tables.transfer_tables(runs, "f1", "test", protocol)
    return t.cells[("ipa", ("polish",), "russian")].hyperparameters["learning_rate"]


def test_a_cross_lingual_grid_cell_is_chosen_without_the_targets_labels(tmp_path):
    """The A -> B cell's setting follows A's validation split (the runs' own selection scores) and
    stays when only B's validation labels (its eval metrics) change; the target protocol follows B."""
    favours_1e3 = grid_study(tmp_path / "a", russian_eval=(0.3, 0.9))
    favours_5e4 = grid_study(tmp_path / "b", russian_eval=(0.9, 0.3))
    assert chosen_lr(favours_1e3, "source") == chosen_lr(favours_5e4, "source") == 5e-4
    assert (chosen_lr(favours_1e3, "target"), chosen_lr(favours_5e4, "target")) == (1e-3, 5e-4)
    md = render_report(build.build_report([favours_1e3], "f1"))
    assert "| polish | 0.700 ± 0.000 (n=2) † |" in md   # the test f1 of the 5e-4 runs


def test_cells_chosen_on_the_shown_split_carry_no_mark(tmp_path):
    """On the eval split a train language's cell was chosen on that very split: flagged, no p-value
    in the family, no mark, however large the difference; on the test split the same runs are marked."""
    res = str(tmp_path / "results")
    wrong = [(y + 1) % CLASSES for y in LABELS]
    for seed in (1, 2):
        for mt, preds in (("ipa", LABELS), ("normal", wrong)):
            d = write_run(res, mt, ["polish"], ["polish"], {"polish": (0.5, 0.5)}, seed=seed, selection="source")
            for split in ("eval", "test"):
                set_predictions(d, "polish", split, LABELS, preds)
            record_inputs(d, "polish")
    on_eval = build.build_report([res], "f1", "eval").tables[0].comparisons["ipa"][0][0]
    on_test = build.build_report([res], "f1", "test").tables[0].comparisons["ipa"][0][0]
    assert on_eval.on_shown_split and on_eval.p == 0.0 and on_eval.p_adjusted is None and not on_eval.marked
    assert not on_test.on_shown_split and on_test.marked
    md = render_report(build.build_report([res], "f1", "eval"))
    assert "| +1.000 | [+1.000, +1.000] | <0.001 | – | <0.001 | ‡ |" in md
    assert "1 chosen on the shown split" in md and "‡ the eval split shown chose this cell's epoch" in md


def test_latex_numbers_are_the_csvs(tmp_path):
    from test_uncertainty import noisy_study
    res = noisy_study(tmp_path)
    out = tmp_path / "out"
    p = run_script("collect-results.py", res, "--out", out, "--no-plots", "--metric", "accuracy", timeout=120)
    assert p.returncode == 0, p.stderr
    (row,) = list(csv.DictReader(open(out / "differences.csv")))
    tex = (out / "latex" / "difference__s__sentiment__ipa-minus-normal__accuracy__test.tex").read_text()
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1 and r"\begin{tabular}{lrrrrrr}" in tex
    line = next(x for x in tex.splitlines() if x.startswith(r"polish $\to$ polish"))
    numbers = [float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)]
    want = [row[k] for k in ("mean", "baseline_mean", "difference", "ci_low", "ci_high", "p", "p_adjusted")]
    assert numbers == [round(float(v), 3) for v in want]
    assert ("$^{*}$" in line) == (row["marked"] == "True")
    matrix = (out / "latex" / "transfer__s__sentiment__ipa__accuracy__test.tex").read_text()
    runs = [json.load(open(os.path.join(res, "s", d, "results.json"))) for d in os.listdir(os.path.join(res, "s"))]
    ipa = [r["metrics"]["polish"]["test"]["accuracy"] for r in runs if r["model_type"] == "ipa"]
    assert f"${np.mean(ipa):.3f} \\pm {np.std(ipa, ddof=1):.3f}$ (3)" in matrix


def test_q_values_are_benjamini_hochberg_over_the_report(tmp_path):
    from test_uncertainty import noisy_study
    res = noisy_study(tmp_path)
    write_run(res, "ipa", ["russian"], ["russian"], {"russian": (0.5, 0.5)}, selection="source")
    report = build.build_report([res], "accuracy")
    cells = [c for t in report.tables for block in t.comparisons.values() for row in block for c in row
             if c is not None and c.p is not None]
    assert [c.q for c in cells] == list(false_discovery_control([c.p for c in cells]))


@pytest.mark.parametrize("args,message", [
    (["--correction", "hochberg"], "--correction 'hochberg' is not a correction for multiple comparisons; "
                                   "choose one of: holm, bonferroni, none"),
    (["--selection", "oracle"], "--selection 'oracle' is not a selection protocol; choose one of: "
                                "source, target, last"),
    (["--split", "test"], "--split test: none of the 1 runs under"),
])
def test_bad_names_are_one_line_errors(tmp_path, args, message):
    res = str(tmp_path / "results")
    write_run(res, "ipa", ["polish"], ["polish"], {"polish": 0.5}, selection="source")  # no test split
    msg = one_line_error(run_script("collect-results.py", res, "--no-plots", "--out", tmp_path / "o", *args,
                                    timeout=120))
    assert message in msg


@pytest.mark.slow
def test_the_simulation_is_calibrated(tmp_path):
    """bench/bench_statistics.py --fast (40 studies of 6 cells per regime, fixed seeds): the report's
    intervals cover, its marks are rare without an effect, Holm holds the family-wise rate, and one
    seed never gets a mark. Bounds: the acceptance's (93%, 5%, 5%) with a tolerance of about two
    standard errors at this size."""
    out = tmp_path / "stats.json"
    p = run_script(os.path.join(PROJECT_ROOT, "bench", "bench_statistics.py"), "--fast", "--json", out,
                   timeout=300)
    assert p.returncode == 0, p.stderr
    assert "| seed SD | k | seeds | coverage (none) |" in p.stdout
    results = json.loads(out.read_text())["results"]
    assert len(results) == 4
    for r in results:
        null, effect = r["null"], r["effect"]
        if r["regime"]["k"] == 1:
            assert null["marks"] == effect["marks"] == 0.0
            continue
        assert null["coverage"] >= 0.90 and effect["coverage"] >= 0.90, r
        assert null["marks"] <= null["raw_marks"] <= 0.08, r
        assert null["fwer_holm"] <= 0.12 and null["fwer_holm"] <= null["fwer_raw"], r
        assert effect["marks"] > null["marks"], r
