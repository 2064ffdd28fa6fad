"""The declared selection protocol, the saved predictions and the no-pretraining control, on real
finetune-exp.py runs of the tiny study (alpha -> beta: a cross-lingual cell)."""
import gzip
import json
import os
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
from ipa_finetune.train import experiment

EPOCHS = 2
# name -> (model type, extra config): one run per protocol; "last" also runs the random-init control
RUNS = {"source": ("normal", {}), "target": ("normal", {"hyperparameters": {"selection": "target"}}),
        "last": ("random", {"hyperparameters": {"selection": "last"}})}
RANDOM = {"model_prefix": "normal", "tokenizer": "normal", "init": "random", "features_of": "normal"}


def read_log_evaluations(path):
    """The metric keys of every evaluation the Trainer logged while training (train.log JSON)."""
    keys = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if " step " in line and "{" in line:
                keys.update(k for k in json.loads(line[line.index("{"):]) if k.startswith("eval_"))
    return keys


@pytest.fixture(scope="module")
def cross_lingual(tiny_assets, tmp_path_factory):
    """alpha -> beta under each protocol, the three runs in parallel (one thread each)."""
    folder = str(tmp_path_factory.mktemp("selection"))
    base = write_tiny_study(folder, tiny_assets, epochs=EPOCHS,
                            extra={"model_types": {"normal": {"model_prefix": "normal", "tokenizer": "normal"},
                                                   "random": RANDOM}})
    procs, plans = {}, {}
    for name, (model_type, extra) in RUNS.items():
        overlay = os.path.join(folder, f"{name}.json")
        with open(overlay, "w") as f:
            json.dump(extra, f)
        plans[name] = experiment.plan_run(load_study([base, overlay]), model_type, ["alpha"], ["beta"])
        procs[name] = subprocess.Popen(
            [sys.executable, SCRIPTS["finetune-exp.py"], base, overlay, "--model-type", model_type,
             "--train-langs", "alpha", "--eval-langs", "beta", "--cpus", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = {}
    for name, proc in procs.items():
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]
        with open(plans[name].results_file, encoding="utf-8") as f:
            results[name] = json.load(f)
    return plans, results


def assert_chosen_on(plan, r, protocol, seen, unseen):
    """The run chose its epoch on `seen`'s validation split: results.json says so, and train.log
    shows evaluations of `seen` and none of `unseen` while training."""
    assert (r["selection"], r["selected_on"]) == (protocol, {seen: "validation"})
    logged = read_log_evaluations(plan.log_file)
    assert f"eval_{seen}_f1" in logged and not [k for k in logged if k.startswith(f"eval_{unseen}")]
    assert [h["languages"] for h in r["history"]] == [[seen]] * EPOCHS
    assert all(set(h["metrics"]) == {seen} for h in r["history"])


@pytest.mark.slow
def test_source_never_evaluates_the_target_while_training(cross_lingual):
    plans, results = cross_lingual
    r = results["source"]
    assert_chosen_on(plans["source"], r, "source", seen="alpha", unseen="beta")
    assert set(r["metrics"]) == {"beta"}  # the target's labels: only in the final evaluation
    assert r["best_score"] == max(h["score"] for h in r["history"])


@pytest.mark.slow
def test_target_chooses_on_the_target(cross_lingual):
    plans, results = cross_lingual
    r = results["target"]
    assert_chosen_on(plans["target"], r, "target", seen="beta", unseen="alpha")
    # chosen on beta's validation split: the kept epoch's score is the final beta eval metric
    assert r["best_score"] == pytest.approx(r["metrics"]["beta"]["eval"]["f1"])
    assert plans["source"].run_id != plans["target"].run_id  # the protocol is part of the run id


@pytest.mark.slow
def test_last_keeps_the_final_epoch_and_random_init_is_recorded(cross_lingual):
    plans, results = cross_lingual
    r = results["last"]
    assert (r["selection"], r["selected_on"], r["best_epoch"]) == ("last", None, EPOCHS)
    assert [h["languages"] for h in r["history"]] == [["alpha"]] * EPOCHS   # never the target
    assert r["config"]["model_types"]["random"]["init"] == "random"
    assert "init random, the architecture of" in open(plans["last"].log_file).read()


@pytest.mark.slow
def test_prediction_files_match_the_metrics(cross_lingual, tiny_assets):
    """Recomputed with scikit-learn from the files alone, the metrics are results.json's."""
    plans, results = cross_lingual
    gold = {split: [CLASSES.index(row["label"]) for row in map(json.loads, open(os.path.join(
        tiny_assets.language_dir("beta"), f"{name}.jsonl")))] for split, name in (("eval", "validation"),
                                                                                  ("test", "test"))}
    for name, r in results.items():
        assert set(r["predictions"]["beta"]) == {"eval", "test"}
        for split, rel in r["predictions"]["beta"].items():
            assert rel == f"predictions/beta.{split}.jsonl"
            rows = [json.loads(line) for line in open(os.path.join(plans[name].run_dir, rel))]
            assert [row["index"] for row in rows] == list(range(len(rows)))
            labels, preds = [row["label"] for row in rows], [row["pred"] for row in rows]
            assert labels == gold[split]  # in the split's own order
            m = r["metrics"]["beta"][split]
            p, rc, f1, _ = precision_recall_fscore_support(labels, preds, labels=[0, 1, 2],
                                                           average="macro", zero_division=0)
            assert (m["n"], m["accuracy"]) == (len(rows), pytest.approx(accuracy_score(labels, preds)))
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
