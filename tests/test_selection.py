"""The selection protocols from one run, the saved predictions and the no-pretraining control, on real
finetune-exp.py runs of the tiny study (alpha -> beta: a cross-lingual cell)."""
import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from conftest import CLASSES, SCRIPTS, one_line_error, run_script, write_tiny_study
from ipa_finetune.checkpoint import load_classifier
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import ConfigError
from ipa_finetune import predictions
from ipa_finetune.report import build
from ipa_finetune.train import experiment

EPOCHS = 3
# name -> (model type, extra config, beta relabelled): "source" and "target" are one run id (the
# protocol is not part of it), so each writes to its own results folder; "last" also runs the
# random-init control; "relabelled" is "source" with other labels on beta's validation split.
RUNS = {"source": ("normal", {}, False),
        "target": ("normal", {"hyperparameters": {"selection": "target"}}, False),
        "last": ("random", {"hyperparameters": {"selection": "last"}}, False),
        "relabelled": ("normal", {}, True)}
RANDOM = {"model_prefix": "normal", "tokenizer": "normal", "init": "random", "features_of": "normal"}


def read_log_evaluations(path):
    """The metric keys of every evaluation the Trainer logged while training (train.log JSON)."""
    keys = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if " step " in line and "{" in line:
                keys.update(k for k in json.loads(line[line.index("{"):]) if k.startswith(("eval_", "test_")))
    return keys


def relabelled_beta(folder, tiny_assets):
    """A copy of beta's data whose validation labels are rotated: only the target's eval labels differ."""
    target = os.path.join(folder, "beta-relabelled")
    shutil.copytree(tiny_assets.language_dir("beta"), target)
    path = os.path.join(target, "validation.jsonl")
    rows = [json.loads(line) for line in open(path)]
    for row in rows:
        row["label"] = CLASSES[(CLASSES.index(row["label"]) + 1) % len(CLASSES)]
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return target


def start_run(folder, tiny_assets, name):
    model_type, extra, relabel = RUNS[name]
    base = write_tiny_study(os.path.join(folder, name), tiny_assets, epochs=EPOCHS,
                            database_overrides={"beta": {"dataset": relabelled_beta(folder, tiny_assets)}}
                            if relabel else None,
                            extra={"model_types": {"normal": {"model_prefix": "normal", "tokenizer": "normal"},
                                                   "random": RANDOM}})
    overlay = os.path.join(folder, f"{name}.json")
    with open(overlay, "w") as f:
        json.dump(extra, f)
    plan = experiment.plan_run(load_study([base, overlay]), model_type, ["alpha"], ["beta"])
    proc = subprocess.Popen(
        [sys.executable, SCRIPTS["finetune-exp.py"], base, overlay, "--model-type", model_type,
         "--train-langs", "alpha", "--eval-langs", "beta", "--cpus", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return plan, proc


@pytest.fixture(scope="module")
def cross_lingual(tiny_assets, tmp_path_factory):
    """alpha -> beta under each protocol (and with beta relabelled), in parallel (one thread each)."""
    folder = str(tmp_path_factory.mktemp("selection"))
    started = {name: start_run(folder, tiny_assets, name) for name in RUNS}
    plans, results = {}, {}
    for name, (plan, proc) in started.items():
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]
        with open(plan.results_file, encoding="utf-8") as f:
            plans[name], results[name] = plan, json.load(f)
    return plans, results


def at(r, protocol):
    """{lang: {split: metrics}} of the epoch `protocol` picks in a run's records."""
    return r["epochs"][str(r["selection_epochs"][protocol]["epoch"])]


@pytest.mark.slow
def test_every_epoch_is_recorded_and_source_chooses_on_the_source(cross_lingual):
    """Each epoch evaluates alpha's and beta's validation splits and predicts beta's test split, for
    every protocol's sake; the source protocol's choice (the kept epoch) reads alpha's only."""
    plans, results = cross_lingual
    r = results["source"]
    assert (r["selection"], r["selected_on"]) == ("source", {"alpha": "validation"})
    logged = read_log_evaluations(plans["source"].log_file)
    assert {"eval_alpha_f1", "eval_beta_f1", "test_beta_f1", "eval__mean_f1"} <= logged
    assert list(r["epochs"]) == ["1", "2", "3"]
    assert all(set(e) == {"alpha", "beta"} and set(e["alpha"]) == {"eval"} and set(e["beta"]) == {"eval", "test"}
               for e in r["epochs"].values())
    picks = r["selection_epochs"]
    assert [picks[p]["languages"] for p in ("source", "target", "last")] == [["alpha"], ["beta"], ["alpha"]]
    assert picks["last"]["epoch"] == EPOCHS and picks["source"]["epoch"] == r["best_epoch"]
    scores = {e: m["alpha"]["eval"]["f1"] for e, m in r["epochs"].items()}
    assert picks["source"]["score"] == r["best_score"] == max(scores.values())
    assert scores[str(picks["source"]["epoch"])] == max(scores.values())
    assert [h["languages"] for h in r["history"]] == [["alpha"]] * EPOCHS
    kept = {str(p["epoch"]) for p in picks.values()}
    assert set(r["epoch_predictions"]) == kept   # the other epochs' predictions are removed
    assert sorted(os.listdir(os.path.join(plans["source"].run_dir, "predictions"))) == sorted(
        ["beta.eval.jsonl", "beta.test.jsonl"] + [f"epoch-{e}" for e in kept])
    assert at(r, "source")["beta"]["test"]["f1"] == pytest.approx(r["metrics"]["beta"]["test"]["f1"])


@pytest.mark.slow
def test_target_numbers_from_one_run_equal_a_run_trained_under_target(cross_lingual, tmp_path):
    """The protocol is not part of the run id, and the source-trained run read under "target" gives
    the numbers of the run trained under "target" with the same seed: the same training, and the
    same epoch's predictions (batched differently: the epoch's in length order, the final ones in
    the split's order, so the loss agrees to float precision, the predictions exactly)."""
    plans, results = cross_lingual
    assert plans["source"].run_id == plans["target"].run_id
    src, tgt = results["source"], results["target"]
    assert src["selection_epochs"] == tgt["selection_epochs"] and src["epochs"] == tgt["epochs"]
    assert tgt["best_epoch"] == src["selection_epochs"]["target"]["epoch"]
    for split in ("eval", "test"):
        upper, trained = at(src, "target")["beta"][split], tgt["metrics"]["beta"][split]
        for m in ("accuracy", "precision", "recall", "f1"):
            assert upper[m] == trained[m], (split, m)
        assert upper["loss"] == pytest.approx(trained["loss"], abs=1e-5)
        epoch_file = os.path.join(plans["source"].run_dir, src["epoch_predictions"][str(
            src["selection_epochs"]["target"]["epoch"])]["beta"][split])
        final_file = os.path.join(plans["target"].run_dir, tgt["predictions"]["beta"][split])
        a, b = predictions.read_predictions(epoch_file), predictions.read_predictions(final_file)
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all() and np.allclose(a[2], b[2], atol=2e-6)
    report = build.build_report([plans["source"].study.cfg["paths"]["results_dir"]], "f1",
                                selection="target")
    (t,) = report.tables
    assert t.cells[("normal", ("alpha",), "beta")].stat.mean == tgt["metrics"]["beta"]["test"]["f1"]


@pytest.mark.slow
def test_the_targets_validation_labels_choose_nothing_under_source(cross_lingual):
    """Only beta's validation labels differ: the source pick (epoch, score: what a grid's setting is
    chosen by) and every test number are the same; the target pick reads the new labels."""
    _, results = cross_lingual
    a, b = results["source"], results["relabelled"]
    assert a["selection_epochs"]["source"] == b["selection_epochs"]["source"]
    for e in a["epochs"]:
        assert a["epochs"][e]["alpha"] == b["epochs"][e]["alpha"]
        assert a["epochs"][e]["beta"]["test"] == b["epochs"][e]["beta"]["test"]
        assert a["epochs"][e]["beta"]["eval"] != b["epochs"][e]["beta"]["eval"]
    assert a["metrics"]["beta"]["test"] == b["metrics"]["beta"]["test"]


@pytest.mark.slow
def test_last_keeps_the_final_epoch_and_random_init_is_recorded(cross_lingual):
    plans, results = cross_lingual
    r = results["last"]
    assert (r["selection"], r["selected_on"], r["best_epoch"]) == ("last", None, EPOCHS)
    assert r["selection_epochs"]["last"]["epoch"] == EPOCHS
    assert r["config"]["model_types"]["random"]["init"] == "random"
    assert "init random, the architecture of" in open(plans["last"].log_file).read()


@pytest.mark.slow
def test_prediction_files_match_the_metrics(cross_lingual, tiny_assets):
    """Recomputed with scikit-learn from the files alone, the metrics are results.json's."""
    plans, results = cross_lingual
    gold = {split: [CLASSES.index(row["label"]) for row in map(json.loads, open(os.path.join(
        tiny_assets.language_dir("beta"), f"{name}.jsonl")))] for split, name in (("eval", "validation"),
                                                                                  ("test", "test"))}
    files = [(name, split, rel, r["metrics"]["beta"][split]) for name, r in results.items()
             if name != "relabelled" for split, rel in r["predictions"]["beta"].items()]
    files += [(name, split, rel, r["epochs"][epoch]["beta"][split]) for name, r in results.items()
              if name != "relabelled" for epoch, langs in r["epoch_predictions"].items()
              for split, rel in langs["beta"].items()]
    assert len(files) > 2 * 3 * 2
    for name, split, rel, m in files:
        assert rel in (f"predictions/beta.{split}.jsonl", *(f"predictions/epoch-{e}/beta.{split}.jsonl.gz"
                                                            for e in range(1, EPOCHS + 1)))
        with (gzip.open if rel.endswith(".gz") else open)(os.path.join(plans[name].run_dir, rel), "rt") as f:
            rows = [json.loads(line) for line in f]
        assert [row["index"] for row in rows] == list(range(len(rows)))
        labels, preds = [row["label"] for row in rows], [row["pred"] for row in rows]
        assert labels == gold[split]  # in the split's own order
        if "n" in m:  # the final metrics (the epochs' records leave the count out)
            assert m["n"] == len(rows)
        p, rc, f1, _ = precision_recall_fscore_support(labels, preds, labels=[0, 1, 2],
                                                       average="macro", zero_division=0)
        assert m["accuracy"] == pytest.approx(accuracy_score(labels, preds))
        assert (m["precision"], m["recall"], m["f1"]) == (pytest.approx(p), pytest.approx(rc),
                                                          pytest.approx(f1))
        probs = np.array([row["probs"] for row in rows])
        assert probs.shape == (len(rows), 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
        assert list(probs.argmax(axis=1)) == preds


def test_large_predictions_are_gzipped(tmp_path, monkeypatch):
    labels, logits = [0, 2, 1], np.array([[3.0, 1, 0], [0, 0, 5], [1, 2, 0]])
    assert predictions.write_predictions(str(tmp_path), "beta", "test", labels, logits) == \
        "predictions/beta.test.jsonl"
    monkeypatch.setattr(predictions, "GZIP_ABOVE", 10)
    rel = predictions.write_predictions(str(tmp_path), "beta", "test", labels, logits)
    assert rel == "predictions/beta.test.jsonl.gz"
    assert os.listdir(tmp_path / "predictions") == ["beta.test.jsonl.gz"]  # the plain one is gone
    with gzip.open(tmp_path / rel, "rt") as f:
        assert json.loads(f.readline()) == {"index": 0, "label": 0, "pred": 0,
                                            "probs": [0.843795, 0.114195, 0.042010]}
    got_labels, got_preds, probs = predictions.read_predictions(str(tmp_path / rel))
    assert list(got_labels) == labels and list(got_preds) == [0, 2, 1] and probs.shape == (3, 3)


def test_random_init_is_the_architecture_drawn_from_the_seed(tiny_assets):
    ckpt = os.path.join(tiny_assets.checkpoint_prefix, "normal", "ckpt.pt")
    state = torch.get_rng_state()
    a, b = (load_classifier(ckpt, 3, seed=7, pretrained=False) for _ in range(2))
    other = load_classifier(ckpt, 3, seed=8, pretrained=False)
    trained = load_classifier(ckpt, 3, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator is left alone
    key = "gpt.transformer.h.0.attn.c_attn.weight"
    assert torch.equal(a.state_dict()[key], b.state_dict()[key])
    assert not torch.equal(a.state_dict()[key], other.state_dict()[key])
    assert not torch.equal(a.state_dict()[key], trained.state_dict()[key])
    assert a.config.n_embd == trained.config.n_embd and a.config.n_layer == trained.config.n_layer


def test_a_seed_list_plans_one_run_per_seed(tiny_study):
    config = tiny_study(hyperparameters={"seed": [1, 2, 3]})
    study = load_study([config])
    plans = experiment.plan_runs(study, "normal", ["alpha"], ["alpha"])
    assert [p.seed for p in plans] == [1, 2, 3] and len({p.run_id for p in plans}) == 3
    assert [p.run_id for p in experiment.plan_runs(study, "normal", ["alpha"], ["alpha"], seed=2)] == \
        [plans[1].run_id]
    one = experiment.plan_run(study, "normal", ["alpha"], ["alpha"], seed=2)
    assert one.cfg["hyperparameters"]["seed"] == 2
    assert one.run_id != experiment.plan_run(study, "normal", ["alpha"], ["alpha"], seed=3).run_id
    with pytest.raises(ConfigError, match=r"--seed -1 is not valid; expected an integer >= 0"):
        experiment.plan_runs(study, "normal", ["alpha"], ["alpha"], seed=-1)


def test_bad_selection_and_init_are_one_line_errors(tiny_study, tmp_path):
    for extra, expected in (({"hyperparameters": {"selection": "best"}},
                             'hyperparameters.selection = "best" is not valid; expected one of source, target, last'),
                            ({"model_types": {"normal": {"model_prefix": "normal", "tokenizer": "normal",
                                                         "init": "scratch"}}},
                             'model_types.normal.init = "scratch" is not valid; expected one of pretrained, random')):
        overlay = tmp_path / "bad.json"
        overlay.write_text(json.dumps(extra))
        msg = one_line_error(run_script("finetune-exp.py", tiny_study(), overlay, "--model-type", "normal",
                                        "--train-langs", "alpha", "--eval-langs", "alpha", timeout=120))
        assert expected in msg and "bad.json" in msg
