"""The answer with error bars: paired bootstrap intervals from saved predictions with known answers,
--baseline, differences.csv, learning curves (synthetic results; collect-results.py as a subprocess)."""
import csv
import json
import os

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, precision_recall_fscore_support

from conftest import one_line_error, run_script
from test_collect import write_run
from ipa_finetune.report import build, collect, plots, tables, uncertainty
from ipa_finetune.report.curves import learning_curves
from ipa_finetune.report.markdown import render_report
from ipa_finetune.predictions import write_predictions

CLASSES = 3


def add_predictions(run_dir, lang, split, labels, preds):
    """Give a synthetic run a predictions file (and list it in its results.json)."""
    logits = np.full((len(labels), CLASSES), -2.0)
    logits[np.arange(len(labels)), preds] = 2.0
    rel = write_predictions(run_dir, lang, split, labels, logits)
    path = os.path.join(run_dir, "results.json")
    with open(path) as f:
        data = json.load(f)
    data.setdefault("predictions", {}).setdefault(lang, {})[split] = rel
    with open(path, "w") as f:
        json.dump(data, f)


def study_with_predictions(root, ipa_preds, normal_preds, labels, seeds=(1, 2)):
    """ipa and normal, polish -> polish, one run per seed with the given eval predictions."""
    res = str(root / "results")
    for seed in seeds:
        for mt, preds in (("ipa", ipa_preds), ("normal", normal_preds)):
            acc = float(np.mean(np.asarray(preds) == np.asarray(labels)))
            d = write_run(res, mt, ["polish"], ["polish"], {"polish": acc}, seed=seed)
            add_predictions(d, "polish", "eval", labels, preds)
    return res


LABELS = [0, 1, 2] * 20


def test_identical_predictions_give_the_interval_zero_and_no_mark(tmp_path):
    preds = [0, 1, 1] * 20
    res = study_with_predictions(tmp_path, preds, preds, LABELS)
    for metric in ("accuracy", "f1", "precision", "recall"):
        (t,) = build.build_report([res], metric, "eval").tables
        ci = t.intervals["ipa"][0][0]
        assert (ci.low, ci.high) == (0.0, 0.0) and not ci.excludes_zero
        assert ci.n_examples == 60 and ci.resamples == uncertainty.RESAMPLES >= 1000
    md = render_report(build.build_report([res], "f1", "eval"))
    assert "| polish → polish | 0.667 ± 0.000 (n=2) | 0.667 ± 0.000 (n=2) | +0.000 | [+0.000, +0.000] |  |" in md


def test_right_where_the_other_is_wrong_excludes_zero_and_is_marked(tmp_path):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS)
    report = build.build_report([res], "f1", "eval")
    ci = report.tables[0].intervals["ipa"][0][0]
    assert (ci.low, ci.high) == (1.0, 1.0) and ci.excludes_zero
    md = render_report(report)
    assert "| polish → polish | 1.000 ± 0.000 (n=2) | 0.000 ± 0.000 (n=2) | +1.000 | [+1.000, +1.000] | * |" in md
    # and the other way round: normal minus ipa is [-1, -1], also marked
    flipped = build.build_report([res], "f1", "eval", baseline="ipa")
    ci = flipped.tables[0].intervals["normal"][0][0]
    assert (ci.low, ci.high) == (-1.0, -1.0) and ci.excludes_zero


def test_a_noisy_difference_has_an_interval_around_it(tmp_path):
    """ipa right on 70% of the examples, normal on 60%, with seeds that differ: the interval holds
    the difference and is wider than zero; the same data gives the same interval (fixed seed)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, CLASSES, 300)
    res = str(tmp_path / "results")
    for seed in (1, 2, 3):
        for mt, p in (("ipa", 0.7), ("normal", 0.6)):
            preds = np.where(rng.random(300) < p, labels, (labels + 1) % CLASSES)
            d = write_run(res, mt, ["polish"], ["polish"], {"polish": float(np.mean(preds == labels))},
                          seed=seed)
            add_predictions(d, "polish", "eval", labels, preds)
    one = build.build_report([res], "accuracy", "eval").tables[0]
    ci, diff = one.intervals["ipa"][0][0], one.differences()["ipa"][0][0]
    assert ci.low < diff < ci.high and 0.02 < ci.high - ci.low < 0.3 and ci.excludes_zero
    assert build.build_report([res], "accuracy", "eval").tables[0].intervals["ipa"][0][0] == ci


def test_vectorised_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    n, classes = 50, 4  # class 3 never occurs: macro averages still count it (zero_division=0)
    labels, preds = rng.integers(0, 3, n), rng.integers(0, 3, n)
    probs = rng.dirichlet(np.ones(classes), n)
    draws = rng.integers(0, n, size=(20, n))
    counts = np.stack([np.bincount(d, minlength=n) for d in draws])
    for name in ("accuracy", "precision", "recall", "f1", "loss"):
        columns = uncertainty.example_columns(labels, preds, probs, name)
        got = uncertainty.metric_from_sums(counts @ columns, n, name)
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
            assert got[r] == pytest.approx(want), (name, r)


def test_runs_without_comparable_predictions_get_no_interval(tmp_path):
    res = study_with_predictions(tmp_path, [0, 1, 2] * 5, [0, 1, 2] * 5, [0, 1, 2] * 5, seeds=(1,))
    extra = write_run(res, "ipa", ["polish"], ["polish"], {"polish": 0.5}, seed=9)
    add_predictions(extra, "polish", "eval", [0, 1] * 5, [0, 1] * 5)   # 10 rows, not 15
    ci = build.build_report([res], "f1", "eval").tables[0].intervals["ipa"][0][0]
    assert ci.low is None and "not of the same examples" in ci.reason


def test_difference_figure_outlines_and_stars_the_marked_cells(tmp_path, monkeypatch):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS)
    (t,) = build.build_report([res], "accuracy", "eval").tables
    figures = {}
    monkeypatch.setattr(plots, "save_png_atomic", lambda fig, path: figures.update({os.path.basename(path): fig}))
    plots.transfer_heatmaps(t, str(tmp_path))
    diff = figures["transfer__s__sentiment__ipa-minus-normal__accuracy__eval.png"]
    ax = diff.axes[0]
    assert any(getattr(p, "get_linewidth", lambda: 0)() > 2 for p in ax.patches)  # the outline
    assert "+1.000 *\n[+1.000, +1.000]" in [x.get_text() for x in ax.texts]


def test_cli_baseline_and_differences_csv(tmp_path):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS)
    out = tmp_path / "out"
    p = run_script("collect-results.py", res, "--out", out, "--baseline", "ipa", "--no-plots",
                   timeout=120)
    assert p.returncode == 0, p.stderr
    assert "### normal - ipa" in p.stdout and "### ipa - normal" not in p.stdout
    with open(out / "differences.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["model_type"], row["baseline"], row["train_langs"], row["eval_lang"]) == (
        "normal", "ipa", "polish", "polish")
    assert float(row["difference"]) == -1.0 and float(row["ci_low"]) == float(row["ci_high"]) == -1.0
    assert row["excludes_zero"] == "True" and row["n"] == row["baseline_n"] == "2"
    assert int(row["resamples"]) >= 1000 and row["n_examples"] == "60"
    msg = one_line_error(run_script("collect-results.py", res, "--out", out, "--baseline", "random",
                                    "--no-plots", timeout=120))
    assert "--baseline 'random' is not a model type of these results; present: ipa, normal" in msg


# ----------------------------------------------------------------------------- learning curves

def curve_study(root):
    """normal and ipa, polish -> polish, at train_samples 10, 100 and all (400), two seeds each,
    and at 100 a second learning rate that is worse on eval (not shown)."""
    res = str(root / "results")
    for size, examples, base in ((10, 10, 0.40), (100, 100, 0.55), (None, 400, 0.70)):
        for seed in (1, 2):
            for mt, gain in (("normal", 0.0), ("ipa", 0.05)):
                d = write_run(res, mt, ["polish"], ["polish"], {"polish": base + gain + seed / 100},
                              seed=seed)
                patch_results(d, train_samples=size, train_examples=examples)
    d = write_run(res, "ipa", ["polish"], ["polish"], {"polish": 0.2}, seed=1, lr=1e-3)
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
    assert (curve.train_langs, curve.eval_lang) == (("polish",), "polish")
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
    name = "curve__s__sentiment__polish__polish__f1__eval.png"
    assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({name})" in p.stdout and "## Learning curves" in p.stdout
    assert "| 400 | 0.715 ± 0.007 (n=2) | 0.765 ± 0.007 (n=2) |" in p.stdout


def test_tables_keep_selection_protocols_apart(tmp_path):
    res = str(tmp_path / "results")
    for protocol, score in (("source", 0.5), ("target", 0.6)):
        for mt in ("normal", "ipa"):
            d = write_run(res, mt, ["polish"], ["russian"], {"russian": score}, lr=1e-3 if protocol == "source" else 5e-4)
            path = os.path.join(d, "results.json")
            data = json.load(open(path))
            data["hyperparameters"]["selection"] = protocol
            json.dump(data, open(path, "w"))
    runs, _ = collect.load_results([res])
    got = {t.selection: t for t in tables.transfer_tables(runs, "f1")}
    assert set(got) == {"source", "target"} and all(t.protocols == 2 for t in got.values())
    assert got["source"].cells[("ipa", ("polish",), "russian")].stat.mean == pytest.approx(0.5)
    md = render_report(build.build_report([res], "f1", "eval"))
    assert "## s · sentiment: f1 on the eval split (selection source)" in md
    assert "Selection `source`: epoch chosen on the training languages' validation splits (zero-shot" in md
