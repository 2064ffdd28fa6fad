"""The answer with error bars: intervals and p-values from saved predictions with known answers,
identity checks before pairing, --baseline, differences.csv, learning curves (synthetic results;
collect-results.py as a subprocess)."""
import csv
import json
import math
import os

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, precision_recall_fscore_support

from conftest import one_line_error, run_script
from test_collect import write_run
from ipa_finetune.report import build, collect, plots, resampling, uncertainty
from ipa_finetune.report.curves import learning_curves
from ipa_finetune.report.markdown import render_report
from ipa_finetune.predictions import write_predictions

CLASSES = 3
LABELS = [0, 1, 2] * 20


def set_predictions(run_dir, lang, split, labels, preds, epoch="2"):
    """Give a synthetic run (with per-epoch records) its epoch's predictions file."""
    logits = np.full((len(labels), CLASSES), -2.0)
    logits[np.arange(len(labels)), preds] = 2.0
    rel = write_predictions(run_dir, lang, split, labels, logits, epoch=epoch)
    edit_results(run_dir, lambda d: d.setdefault("epoch_predictions", {}).setdefault(epoch, {})
                 .setdefault(lang, {}).__setitem__(split, rel))


def edit_results(run_dir, change):
    path = os.path.join(run_dir, "results.json")
    with open(path) as f:
        data = json.load(f)
    change(data)
    with open(path, "w") as f:
        json.dump(data, f)


def record_inputs(run_dir, lang, train="train-sha", test="test-sha"):
    """The data fingerprints a run read (results.json inputs): what pairing compares."""
    entry = {"splits": ["train", "validation", "test"], "task_type": "classification",
             "data": {"train": {"size": 1, "sha256": train}, "test": {"size": 1, "sha256": test}}}
    edit_results(run_dir, lambda d: d.setdefault("inputs", {}).setdefault("datasets", {}).__setitem__(lang, entry))


def study_with_predictions(root, ipa_preds, normal_preds, labels, seeds=(1, 2), inputs=True):
    """ipa and normal, polish -> polish, one run per seed with the given test predictions."""
    res = str(root / "results")
    for seed in seeds:
        for mt, preds in (("ipa", ipa_preds), ("normal", normal_preds)):
            acc = float(np.mean(np.asarray(preds) == np.asarray(labels)))
            d = write_run(res, mt, ["polish"], ["polish"], {"polish": (acc, acc)}, seed=seed, selection="source")
            set_predictions(d, "polish", "test", labels, preds)
            if inputs:
                record_inputs(d, "polish")
    return res


def only_comparison(res, metric="f1", **kwargs):
    (t,) = build.build_report([res], metric, **kwargs).tables
    return t.comparisons[[m for m in t.model_types if m != t.baseline][0]][0][0]


def test_identical_predictions_give_the_interval_zero_and_no_mark(tmp_path):
    preds = [0, 1, 1] * 20
    res = study_with_predictions(tmp_path, preds, preds, LABELS)
    for metric in ("accuracy", "f1"):
        c = only_comparison(res, metric)
        assert (c.difference, c.low, c.high, c.p) == (0.0, 0.0, 0.0, 1.0) and not c.marked
        assert c.n_examples == 60 and c.resamples == uncertainty.RESAMPLES >= 1000 and c.paired
    md = render_report(build.build_report([res], "f1"))
    assert "| polish → polish | 0.667 ± 0.000 (n=2) | 0.667 ± 0.000 (n=2) | +0.000 | [+0.000, +0.000] | 1.000 " \
           "| 1.000 | 1.000 |  |" in md
    assert "**ipa beats normal in 0 of 1 cells after Holm" in md


def test_right_where_the_other_is_wrong_is_marked(tmp_path):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS)
    c = only_comparison(res)
    assert (c.low, c.high, c.p, c.p_adjusted) == (1.0, 1.0, 0.0, 0.0) and c.marked and c.excludes_zero
    md = render_report(build.build_report([res], "f1"))
    assert "| polish → polish | 1.000 ± 0.000 (n=2) | 0.000 ± 0.000 (n=2) | +1.000 | [+1.000, +1.000] | <0.001 " \
           "| <0.001 | <0.001 | * |" in md
    assert "**ipa beats normal in 1 of 1 cells after Holm (normal beats ipa in 0" in md
    flipped = only_comparison(res, baseline="ipa")   # normal minus ipa: [-1, -1], also marked
    assert (flipped.low, flipped.high) == (-1.0, -1.0) and flipped.marked


def noisy_study(root, seeds=(1, 2, 3), p_ipa=0.7, p_normal=0.6, n=300):
    """ipa right on 70% of the examples, normal on 60%, each seed with its own predictions."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, CLASSES, n)
    res = str(root / "results")
    for seed in seeds:
        for mt, p in (("ipa", p_ipa), ("normal", p_normal)):
            preds = np.where(rng.random(n) < p, labels, (labels + 1) % CLASSES)
            acc = float(np.mean(preds == labels))
            d = write_run(res, mt, ["polish"], ["polish"], {"polish": (acc, acc)}, seed=seed, selection="source")
            set_predictions(d, "polish", "test", labels, preds)
            record_inputs(d, "polish")
    return res


def test_the_interval_counts_test_sampling_and_the_seeds(tmp_path):
    """SE^2 = the bootstrap variance of the difference (seeds fixed) + the paired seeds' variance / k,
    t quantile with Welch-Satterthwaite df, the seed term (k - 1 = 2 df) counted 8 times in the df."""
    res = noisy_study(tmp_path)
    c = only_comparison(res, "accuracy")
    assert c.paired and c.scope == uncertainty.SEEDS_AND_EXAMPLES
    x, b = dict(c.x_scores), dict(c.b_scores)
    assert c.difference == pytest.approx(np.mean(list(x.values())) - np.mean(list(b.values())))
    seed_var = np.var([x[s] - b[s] for s in x], ddof=1) / 3   # paired by seed
    assert c.se ** 2 > seed_var   # the bootstrap term adds variance
    v_boot = c.se ** 2 - seed_var
    assert c.df == pytest.approx((v_boot + 8 * seed_var) ** 2 / ((8 * seed_var) ** 2 / 2))
    from scipy import stats
    assert c.high - c.difference == pytest.approx(stats.t.ppf(0.975, c.df) * c.se)
    assert c.p == pytest.approx(2 * stats.t.sf(abs(c.difference) / c.se, c.df))
    # each seed's right/wrong drawn independently: Var = (0.7 * 0.3 + 0.6 * 0.4) / n / k
    assert v_boot == pytest.approx((0.21 + 0.24) / 300 / 3, rel=0.3)
    assert only_comparison(res, "accuracy") == c   # a fixed bootstrap seed: the same numbers again


def test_welch_when_the_seeds_are_not_paired(tmp_path):
    res = noisy_study(tmp_path, seeds=(1, 2, 3))
    for d in os.listdir(os.path.join(res, "s")):   # normal read other training data: no shared order
        if d.startswith("normal"):
            record_inputs(os.path.join(res, "s", d), "polish", train="other-train-sha")
    c = only_comparison(res, "accuracy")
    assert not c.paired and c.scope == uncertainty.SEEDS_AND_EXAMPLES and 2 <= c.df
    v = [np.var([s for _, s in scores], ddof=1) / 3 for scores in (c.x_scores, c.b_scores)]
    v_boot = c.se ** 2 - sum(v)
    assert c.df == pytest.approx((v_boot + 8 * sum(v)) ** 2 / sum((8 * x) ** 2 / 2 for x in v))


def test_one_seed_is_test_sampling_only_and_never_marked(tmp_path):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS, seeds=(1,))
    c = only_comparison(res)
    assert c.scope == uncertainty.TEST_ONLY and c.p is None and not c.marked and c.excludes_zero
    md = render_report(build.build_report([res], "f1"))
    assert "| [+1.000, +1.000] | – | – | – | test sampling only |" in md
    assert "ipa beats normal in 0 of 1 cells after Holm" in md and "1 with < 2 seeds on a side" in md


def test_vectorised_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    n, classes = 50, 4  # class 3 never occurs: macro averages still count it (zero_division=0)
    labels, preds = rng.integers(0, 3, n), rng.integers(0, 3, n)
    probs = rng.dirichlet(np.ones(classes), n)
    draws = rng.integers(0, n, size=(20, n))
    counts = np.stack([np.bincount(d, minlength=n) for d in draws])
    got = resampling.class_statistics(labels, preds, probs).scores(counts)
    for name in ("accuracy", "precision", "recall", "f1", "loss"):
        for r, idx in enumerate(draws):
            y, p = labels[idx], preds[idx]
            if name == "accuracy":
                want = accuracy_score(y, p)
            elif name == "loss":
                want = log_loss(y, probs[idx], labels=range(classes))
            else:
                prf = precision_recall_fscore_support(y, p, labels=range(classes), average="macro",
                                                      zero_division=0)
                want = prf[("precision", "recall", "f1").index(name)]
            assert got[name][r] == pytest.approx(want), (name, r)


def test_runs_without_comparable_predictions_get_no_interval(tmp_path):
    res = study_with_predictions(tmp_path, [0, 1, 2] * 5, [0, 1, 2] * 5, [0, 1, 2] * 5, seeds=(1,))
    extra = write_run(res, "ipa", ["polish"], ["polish"], {"polish": (0.5, 0.5)}, seed=9, selection="source")
    set_predictions(extra, "polish", "test", [0, 1] * 5, [0, 1] * 5)   # 10 rows, not 15
    record_inputs(extra, "polish")
    c = only_comparison(res)
    assert c.low is None and "not of the same examples" in c.reason


def test_runs_that_read_other_test_data_are_refused(tmp_path):
    """The recorded fingerprints of the test split differ: even with equal gold labels, no pairing."""
    res = study_with_predictions(tmp_path, LABELS, LABELS, LABELS)
    for d in os.listdir(os.path.join(res, "s")):
        if d.startswith("ipa"):
            record_inputs(os.path.join(res, "s", d), "polish", test="0123456789abcdef")
    c = only_comparison(res)
    assert c.low is None and c.p is None and not c.marked
    assert c.reason.startswith("the runs read different polish test data (fingerprints 0123456789ab, test-sha)")


def test_difference_figure_outlines_and_stars_the_marked_cells(tmp_path, monkeypatch):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS)
    (t,) = build.build_report([res], "accuracy").tables
    figures = {}
    monkeypatch.setattr(plots, "save_png_atomic", lambda fig, path: figures.update({os.path.basename(path): fig}))
    plots.transfer_heatmaps(t, str(tmp_path))
    plots.seed_figure(t, str(tmp_path))
    diff = figures["transfer__s__sentiment__ipa-minus-normal__accuracy__test.png"]
    ax = diff.axes[0]
    assert any(getattr(p, "get_linewidth", lambda: 0)() > 2 for p in ax.patches)  # the outline
    assert "+1.000 *\n[+1.000, +1.000]" in [x.get_text() for x in ax.texts]
    dots = figures["seeds__s__sentiment__seeds__accuracy__test.png"].axes[0]
    from matplotlib.collections import PathCollection
    assert [len(c.get_offsets()) for c in dots.collections if isinstance(c, PathCollection)] == [2, 2]


def test_cli_baseline_and_differences_csv(tmp_path):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS)
    out = tmp_path / "out"
    p = run_script("collect-results.py", res, "--out", out, "--baseline", "ipa", "--no-plots", timeout=120)
    assert p.returncode == 0, p.stderr
    assert "### normal - ipa" in p.stdout and "### ipa - normal" not in p.stdout
    with open(out / "differences.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["model_type"], row["baseline"], row["train_langs"], row["eval_lang"], row["split"]) == (
        "normal", "ipa", "polish", "polish", "test")
    assert float(row["difference"]) == -1.0 and float(row["ci_low"]) == float(row["ci_high"]) == -1.0
    assert (row["p"], row["p_adjusted"], row["q"], row["marked"], row["correction"]) == (
        "0.0", "0.0", "0.0", "True", "holm")
    assert row["n"] == row["baseline_n"] == "2" and row["paired_seeds"] == "True"
    assert (row["seed_1"], row["seed_2"], row["baseline_seed_1"], row["baseline_seed_2"]) == ("0.0", "0.0", "1.0", "1.0")
    assert int(row["resamples"]) >= 1000 and row["n_examples"] == "60"
    msg = one_line_error(run_script("collect-results.py", res, "--out", out, "--baseline", "random",
                                    "--no-plots", timeout=120))
    assert "--baseline 'random' is not a model type of these results; present: ipa, normal" in msg


# ----------------------------------------------------------------------------- learning curves

def curve_study(root):
    """normal and ipa, polish -> polish, at train_samples 10, 100 and all (400), two seeds each,
    and at 100 a second learning rate whose selection score is worse (not shown)."""
    res = str(root / "results")
    for size, examples, base in ((10, 10, 0.40), (100, 100, 0.55), (None, 400, 0.70)):
        for seed in (1, 2):
            for mt, gain in (("normal", 0.0), ("ipa", 0.05)):
                d = write_run(res, mt, ["polish"], ["polish"], {"polish": base + gain + seed / 100},
                              seed=seed, selection="source")
                patch_results(d, train_samples=size, train_examples=examples)
    d = write_run(res, "ipa", ["polish"], ["polish"], {"polish": 0.2}, seed=1, lr=1e-3, selection="source")
    patch_results(d, train_samples=100, train_examples=100)
    return res


def patch_results(run_dir, train_samples, train_examples):
    """Set train_samples and train_examples; the run (id and folder) gets the size in its name."""
    path = os.path.join(run_dir, "results.json")
    with open(path) as f:
        data = json.load(f)
    data["hyperparameters"]["train_samples"] = train_samples
    data["train_examples"] = train_examples
    data["run_id"] += f"-{train_samples}"
    os.rename(run_dir, f"{run_dir}-{train_samples}")
    with open(os.path.join(f"{run_dir}-{train_samples}", "results.json"), "w") as f:
        json.dump(data, f)


def test_learning_curve_points(tmp_path):
    runs, _ = collect.load_results([curve_study(tmp_path)])
    (curve,) = learning_curves(runs, "f1", "eval")
    assert (curve.train_langs, curve.eval_lang, curve.selection) == (("polish",), "polish", "source")
    assert list(curve.lines) == ["normal", "ipa"]
    ipa = curve.lines["ipa"]
    assert [p.examples for p in ipa] == [10, 100, 400]
    assert [p.stat.mean for p in ipa] == [pytest.approx(v) for v in (0.465, 0.615, 0.765)]
    assert ipa[1].stat.n == 2 and ipa[1].stat.std == pytest.approx(0.01 / 2 ** 0.5)
    assert ipa[1].hyperparameters["learning_rate"] == 5e-4   # the worse lr 1e-3 is not shown
    # no curve where train_samples never varies
    assert learning_curves(collect.load_results([str(tmp_path / "none")])[0], "f1") == []


def test_learning_curve_in_the_report(tmp_path):
    out = tmp_path / "out"
    p = run_script("collect-results.py", curve_study(tmp_path), "--out", out, timeout=120)
    assert p.returncode == 0, p.stderr
    name = "curve__s__sentiment__polish__polish__f1__eval.png"   # no test split: eval, flagged
    assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({name})" in p.stdout and "## Learning curves" in p.stdout
    assert "| 400 | 0.715 ± 0.007 (n=2) | 0.765 ± 0.007 (n=2) |" in p.stdout


def test_seed_columns_follow_the_seeds(tmp_path):
    res = noisy_study(tmp_path, seeds=(3, 10, 2))
    report = build.build_report([res], "accuracy")
    from ipa_finetune.report.exports import difference_rows
    columns, (row,) = difference_rows(report.tables)
    assert columns[-6:] == ["seed_2", "seed_3", "seed_10", "baseline_seed_2", "baseline_seed_3",
                            "baseline_seed_10"]
    assert math.isclose(np.mean([row[f"seed_{s}"] for s in (2, 3, 10)]), row["mean"])
