"""The report of seq2seq runs: the statistics pair examples by id and recompute corpus-level chrF
per resample, trivial baselines and target-column notes beside the transfer table, a tiny
study (with the random-init control) reported by collect-results.py, and the transfer matrix of a
seq2seq study launched on the local Slurm."""
import csv
import json
import os

import numpy as np
import pytest

from conftest import run_script, wait_for_jobs
from ipa_finetune import runs
from ipa_finetune.manifest import manifest_path, read_manifest
from ipa_finetune.predictions import write_text_predictions
from ipa_finetune.report import seq2seq as report_s2s
from ipa_finetune.report.collect import parse_run
from ipa_finetune.report.tables import transfer_tables
from ipa_finetune.report.resampling import example_counts
from ipa_finetune.report.uncertainty import cell_comparison, same_examples
from ipa_finetune.text_metrics import example_statistics

REFS = {"a": "kɑt", "b": "dɔɡ", "c": "bɪɾd", "d": "fɪʃ", "e": "hɔɾʃə"}


def write_run(folder, rid, model_type, hyps, *, order=None, target="ipa", unit="phone", metrics=None,
              seed=1):
    """A results.json of a seq2seq run on REFS (alpha -> alpha, eval split) with its predictions."""
    ids = order or sorted(REFS)
    run_dir = os.path.join(folder, rid)
    rel = write_text_predictions(run_dir, "alpha", "eval", ids, ids, [REFS[i] for i in ids],
                                 [hyps[i] for i in ids])
    chrf = example_statistics([hyps[i] for i in ids], [REFS[i] for i in ids], unit).scores()["chrf"]
    data = {"schema_version": 2, "run_id": rid, "study": "s", "task": "g2p", "model_type": model_type,
            "train_langs": ["alpha"], "eval_langs": ["alpha"], "hyperparameters": {"seed": seed},
            "metric_for_best_model": "chrf",
            "metrics": {"alpha": {"eval": {"chrf": chrf, "copy_source_chrf": 10.0,
                                           "most_frequent_target_chrf": 5.0, **(metrics or {})}}},
            "predictions": {"alpha": {"eval": rel}},
            "inputs": {"datasets": {"alpha": {"task_type": "seq2seq", "label_column": target}}},
            "seq2seq": {"targets": {"alpha": {"target_column": target, "error_unit": unit}}}}
    path = os.path.join(run_dir, "results.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return parse_run(data, path)


def outcome(run):
    """The run as the report reads it (a results.json without per-epoch records: its own protocol)."""
    return run.outcome(run.protocols()[0])


def test_statistics_pair_examples_by_id_and_recompute_corpus_chrf(tmp_path):
    x_hyps = {"a": "kɑt", "b": "dɔɡ", "c": "bɪd", "d": "fɪs", "e": "hɔɾs"}
    b_hyps = {"a": "kat", "b": "dɔk", "c": "bɪd", "d": "fɪs", "e": "hɔs"}
    x = write_run(str(tmp_path), "x", "ipa", x_hyps)
    b = write_run(str(tmp_path), "b", "normal", b_hyps, order=["e", "c", "a", "d", "b"])  # other order
    xs, bs = same_examples([outcome(x), outcome(b)], "alpha", "eval")
    ids = sorted(REFS)
    assert len(xs) == len(bs) == 5 and xs.unit == "phone"
    counts = example_counts(np.random.default_rng(0), 5, 50)
    # each resample's score is the chrF of the resampled corpus, the examples paired by id
    for row, got_x, got_b in zip(counts, xs.scores(counts)["chrf"], bs.scores(counts)["chrf"]):
        drawn = [i for i, k in zip(ids, row) for _ in range(int(k))]
        for hyps, got in ((x_hyps, got_x), (b_hyps, got_b)):
            expected = example_statistics([hyps[i] for i in drawn], [REFS[i] for i in drawn], "phone")
            assert got == pytest.approx(expected.scores()["chrf"])
    c = cell_comparison([outcome(x)], [outcome(b)], "alpha", "eval", "chrf", resamples=400)
    assert c.reason is None and c.n_examples == 5
    assert c.difference == pytest.approx(x.value("alpha", "eval", "chrf") - b.value("alpha", "eval", "chrf"))
    assert c.low < c.difference < c.high and c.p is None  # one seed a side: test sampling only
    same = cell_comparison([outcome(x)], [outcome(x)], "alpha", "eval", "error_rate", resamples=200)
    assert same.difference == 0 and same.low == same.high == 0


def test_runs_of_other_examples_are_not_paired(tmp_path):
    x = write_run(str(tmp_path), "x", "ipa", dict(REFS))
    b = write_run(str(tmp_path), "b", "normal", dict(REFS), order=["a", "b", "c", "d"])  # e missing
    c = cell_comparison([outcome(x)], [outcome(b)], "alpha", "eval", "chrf")
    assert c.low is None and c.reason == ("the runs' eval predictions for alpha are not of the same "
                                          "examples (4 vs 5 rows, or other gold answers)")
    gone = write_run(str(tmp_path), "gone", "normal", dict(REFS))
    os.remove(os.path.join(os.path.dirname(gone.path), gone.data["predictions"]["alpha"]["eval"]))
    c = cell_comparison([outcome(x)], [outcome(gone)], "alpha", "eval", "chrf")
    assert c.reason.startswith("predictions file ") and c.reason.endswith(" is missing")
    c = cell_comparison([outcome(x)], [outcome(x)], "alpha", "eval", "loss")
    assert c.reason == "no interval for loss: the predictions give chrf, bleu, exact_match, error_rate"


def test_table_gets_baselines_unit_and_a_note_when_targets_differ(tmp_path):
    same = [write_run(str(tmp_path), "n", "normal", dict(REFS)),
            write_run(str(tmp_path), "i", "ipa", dict(REFS), metrics={"copy_source_chrf": 30.0})]
    (t,) = transfer_tables(same, "chrf", "eval", "target")
    report_s2s.annotate(t, same)
    assert t.baselines["copy_source"] == [[{"normal": 10.0, "ipa": 30.0}]]
    assert t.baselines["most_frequent_target"] == [[{"normal": 5.0, "ipa": 5.0}]]
    assert t.notes == []
    other = [same[0], write_run(str(tmp_path), "t", "ipa", dict(REFS), target="text", unit="char",
                                metrics={"error_rate": 0.5})]
    (t,) = transfer_tables(other, "chrf", "eval", "target")
    report_s2s.annotate(t, other)
    assert t.notes == ["The model types generate into different target columns (ipa → text; normal → ipa): "
                       "their scores are measured against different references, so a difference below "
                       "compares two tasks, not two models on one task."]
    from ipa_finetune.report.markdown import transfer_section
    from ipa_finetune.report.uncertainty import difference_comparisons
    text = transfer_section(difference_comparisons([t], resamples=200)[0])
    assert text.index("different target columns") < text.index("### ipa - normal")
    assert "### baseline: copy the source" in text and "| alpha | 10.000 |" in text
    with open(other[0].path) as f:
        data = json.load(f)
    data["metrics"]["alpha"]["eval"]["error_rate"] = 0.4
    runs_ = [parse_run(data, other[0].path), other[1]]
    (t,) = transfer_tables(runs_, "error_rate", "eval", "target")
    report_s2s.annotate(t, runs_)
    assert t.notes[0] == ("error_rate: character error rate (CER) and phone error rate (PER) (edits / "
                          "reference length, lower is better).")


@pytest.mark.slow
def test_collect_results_reports_a_seq2seq_study_with_intervals(tiny_study, tmp_path):
    """normal and ipa with two seeds each, and the random-init control with one, alpha -> alpha."""
    control = {"random": {"model_prefix": "normal", "tokenizer": "normal", "init": "random"}}
    config = tiny_study(languages=1, epochs=1, seq2seq=True, hyperparameters={"seed": [1, 2]})
    more = tmp_path / "more.json"
    more.write_text(json.dumps({"model_types": control}))
    for model_type, seeds in (("normal", []), ("ipa", []), ("random", ["--seed", "1"])):
        proc = run_script("finetune-exp.py", config, more, "--model-type", model_type, "--train-langs",
                          "alpha", "--eval-langs", "alpha", "--cpus", "1", *seeds)
        assert proc.returncode == 0, proc.stderr[-3000:]
    random_run = next((tmp_path / "results" / "tiny").glob("random__*")) / "results.json"
    assert json.loads(random_run.read_text())["inputs"]["checkpoint"]["sha256"]
    proc = run_script("collect-results.py", "--config", config, more)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert "5 runs from" in text and "metric `chrf`, split `test`" in text, text
    assert "### baseline: copy the source" in text and "### baseline: the most frequent training target" in text
    block = text[text.index("### ipa - normal"):]
    row = next(line for line in block.splitlines() if line.startswith("| alpha → alpha"))
    assert "(n=2)" in row and row.count("[") == 1  # an interval
    with open(tmp_path / "results" / "tiny" / "report" / "differences.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["model_type"] for r in rows} == {"ipa", "random"} and all(r["metric"] == "chrf" for r in rows)
    assert all(r["ci_low"] and float(r["ci_low"]) <= float(r["difference"]) <= float(r["ci_high"]) for r in rows)
    assert list((tmp_path / "results" / "tiny" / "report").glob("*.png"))  # the heatmaps
    proc = run_script("collect-results.py", "--config", config, more, "--metric", "error_rate",
                      "--baseline", "random", "--no-plots")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "error_rate: phone error rate (PER)" in proc.stdout and "### ipa - random" in proc.stdout


@pytest.mark.slow
@pytest.mark.slurm
def test_seq2seq_transfer_matrix_on_slurm_and_its_report(tiny_study):
    """finetuning-generator.py submits the seq2seq transfer matrix of two languages (6 configurations x
    2 model types) to the local Slurm as one array of 4 jobs of 3 runs; every job ends COMPLETED with
    its runs' results and predictions, and the report job writes the report with ipa - normal
    intervals."""
    config = tiny_study(languages=2, epochs=1, seq2seq=True)
    folder = os.path.dirname(config)
    out = os.path.join(folder, "jobs", "tiny")
    proc = run_script("finetuning-generator.py", config, "--timeout", "10", "--runs-per-job", "3", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 12 runs in 4 jobs as 1 array: tiny-transfer-" in proc.stdout, proc.stdout
    entries = read_manifest(manifest_path(out))[0]
    (report,) = read_manifest(manifest_path(out), kind="report")[0]
    states = wait_for_jobs(sorted({e["job_id"] for e in entries}) + [report["job_id"]], timeout=400)
    for entry in entries:
        log = open(entry["log"]).read() if os.path.isfile(entry["log"]) else "(no log)"
        assert states[entry["job_id"]] == "COMPLETED", f"{entry['job_name']}: {states}\n{log[-3000:]}"
        result = runs.read_results(entry["run_dir"])
        for lang in result["eval_langs"]:
            assert {"chrf", "bleu", "exact_match", "error_rate"} <= set(result["metrics"][lang]["test"])
            assert os.path.isfile(os.path.join(entry["run_dir"], result["predictions"][lang]["test"]))
    assert states[report["job_id"]] == "COMPLETED", open(report["log"]).read()[-3000:]
    text = open(report["report"]).read()
    assert "12 runs in 4 jobs from 1 manifest(s): 12 finished" in text, text
    assert "## tiny · g2p: chrf on the test split, selection source" in text
    block = text[text.index("### ipa - normal"):].split("\n## ")[0]
    cells = [line for line in block.splitlines() if " → " in line and line.startswith("| ") and "eval |" not in line]
    assert len(cells) == 6 and all(line.count("[") == 1 for line in cells), block
    proc = run_script("collect-results.py", "--config", config, "--status", "--no-slurm")
    assert proc.returncode == 0 and "12 finished" in proc.stdout
