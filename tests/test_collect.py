"""collect-results.py: tables from synthetic results.json files with known values, status, plots."""
import functools
import hashlib
import json
import os
import subprocess

import pytest

from conftest import require_slurm, run_script, wait_for_jobs
from ipa_finetune import slurm
from ipa_finetune.config.selection import pick_epochs
from ipa_finetune.report import build, collect, status, tables
from ipa_finetune.report.markdown import render_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "collect-results.py")
HP = {"learning_rate": 5e-4, "batch_size": 32, "epochs": 3, "warmup_ratio": 0.1, "seed": 1337,
      "metric_for_best_model": "f1"}


def write_run(results, model_type, train, evals, scores, *, study="s", lr=5e-4, seed=1337,
              task="sentiment", selection=None, source=None):
    """A results.json; scores: {lang: f1 on eval} or {lang: (eval f1, test f1)}. Without `selection`
    an old one (schema 1, no protocol key: trained under "target", the only protocol it can be read
    under); with it, one that recorded every protocol's epoch (one epoch, 2), `source`: {train
    language: its eval f1} for the train languages that are not evaluated (default 0.5)."""
    hp = dict(HP, learning_rate=lr, seed=seed, **({"selection": selection} if selection else {}))
    digest = hashlib.sha256(json.dumps([model_type, train, evals, hp]).encode()).hexdigest()[:10]
    rid = f"{model_type}__{'+'.join(sorted(train))}__to__{'+'.join(sorted(evals))}__{digest}"
    metrics = {}
    for lang, s in scores.items():
        ev, te = s if isinstance(s, tuple) else (s, None)
        metrics[lang] = {"eval": {"accuracy": ev + 0.1, "precision": ev, "recall": ev, "f1": ev,
                                  "n": 120, "loss": 1.0 - ev, "majority_baseline": 0.4}}
        if te is not None:
            metrics[lang]["test"] = {"accuracy": te + 0.1, "f1": te, "n": 100}
    data = {"schema_version": 1, "run_id": rid, "study": study, "task": task,
            "model_type": model_type, "train_langs": sorted(train), "eval_langs": sorted(evals),
            "datasets": {"polish": "polemo2", "russian": "rusentiment"}, "hyperparameters": hp,
            "seed": seed, "metric_for_best_model": "f1", "best_epoch": 2,
            "best_score": sum(m["eval"]["f1"] for m in metrics.values()) / len(metrics),
            "metrics": metrics, "history": [], "train_examples": 640,
            "train_examples_per_second": 100.0, "wall_time_seconds": 12.5,
            "checkpoint": "/x/ckpt.pt", "best_model_dir": "best_model", "config": {},
            "versions": {}, "git_commit": None, "device": "cpu",
            "finished_at": "2026-01-01T00:00:00"}
    if selection:
        data["epochs"] = {"2": {**metrics, **{lang: {"eval": {"f1": (source or {}).get(lang, 0.5)}}
                                              for lang in train if lang not in metrics}}}
        data["selection_epochs"] = pick_epochs(data["epochs"], train, evals, "f1")
    d = os.path.join(results, study, rid)
    os.makedirs(d)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(data, f)
    return d


@pytest.fixture
def study(tmp_path):
    """normal vs ipa on polish/russian with seeds, a 2-point grid and a joint A+B run, each run with
    every protocol's epoch recorded."""
    res = str(tmp_path / "results")
    run = functools.partial(write_run, res, selection="source")
    for seed, (n, i) in enumerate([(0.70, 0.75), (0.72, 0.77), (0.74, 0.79)]):
        run("normal", ["polish"], ["polish"], {"polish": n}, seed=seed)
        run("ipa", ["polish"], ["polish"], {"polish": i}, seed=seed)
    run("normal", ["polish"], ["russian"], {"russian": 0.40})
    run("ipa", ["polish"], ["russian"], {"russian": 0.45})
    run("normal", ["russian"], ["russian"], {"russian": (0.62, 0.61)})
    # A grid for ipa russian->russian: lr 5e-4 wins on eval although lr 1e-3 is better on test.
    run("ipa", ["russian"], ["russian"], {"russian": (0.60, 0.58)}, lr=1e-3)
    run("ipa", ["russian"], ["russian"], {"russian": (0.65, 0.55)}, lr=5e-4)
    # One run trained on both and evaluated on both fills two columns.
    run("normal", ["polish", "russian"], ["polish", "russian"], {"polish": 0.71, "russian": 0.63})
    return res


def test_transfer_table_numbers(study):
    runs, bad = collect.load_results([study])
    assert len(runs) == 12 and bad == []
    (t,) = tables.transfer_tables(runs, "f1", "eval")
    assert t.model_types == ["normal", "ipa"]
    assert t.train_sets == [("polish", "russian"), ("polish",), ("russian",)]
    assert t.eval_langs == ["polish", "russian"]
    c = t.cells[("normal", ("polish",), "polish")]
    assert c.stat.mean == pytest.approx(0.72) and c.stat.std == pytest.approx(0.02)
    assert c.stat.n == 3 and c.n_settings == 1
    joint = [t.cells[("normal", ("polish", "russian"), lang)].stat.mean for lang in t.eval_langs]
    assert joint == [pytest.approx(0.71), pytest.approx(0.63)]
    grid = t.cells[("ipa", ("russian",), "russian")]
    assert grid.n_settings == 2 and grid.stat.mean == pytest.approx(0.65)
    assert grid.hyperparameters["learning_rate"] == 5e-4 and "seed" not in grid.hyperparameters
    assert t.cells[("normal", ("russian",), "russian")].stat.std is None  # n=1: no sample std
    diff = t.differences()["ipa"]
    assert diff[0] == [None, None]                       # no ipa A+B run
    assert diff[1] == [pytest.approx(0.05), pytest.approx(0.05)]
    assert diff[2] == [None, pytest.approx(0.03)]


def test_test_split_uses_the_setting_chosen_by_selection_scores(study):
    runs, _ = collect.load_results([study])
    (t,) = tables.transfer_tables(runs, "f1", "test")
    assert t.cells[("ipa", ("russian",), "russian")].stat.mean == pytest.approx(0.55)  # not 0.58
    assert t.cells[("normal", ("polish",), "polish")].stat is None  # no test split there
    assert t.differences()["ipa"][2] == [None, pytest.approx(0.55 - 0.61)]


def test_grid_summary(study):
    runs, _ = collect.load_results([study])
    rows = {(g.model_type, g.train_langs, g.eval_langs): g for g in tables.grid_summary(runs, "f1", "test")}
    g = rows[("ipa", ("russian",), ("russian",))]
    assert (g.n_settings, g.n_runs, g.selection, g.selection_metric) == (2, 2, "source", "f1")
    assert g.varying == {"learning_rate": 5e-4}
    assert g.best_score.mean == pytest.approx(0.65) and g.best_shown.mean == pytest.approx(0.55)
    assert (g.spread_min, g.spread_max) == (pytest.approx(0.60), pytest.approx(0.65))
    assert g.spread_std == pytest.approx(0.05 / 2 ** 0.5)
    j = rows[("normal", ("polish", "russian"), ("polish", "russian"))]
    assert j.best_score.mean == pytest.approx(0.67) and j.best_shown is None
    assert j.spread_std is None and j.varying == {}
    s = rows[("ipa", ("polish",), ("polish",))]
    assert (s.n_settings, s.n_runs, s.best_score.n) == (1, 3, 3)


def test_old_runs_are_read_under_the_protocol_they_were_trained_with(tmp_path):
    """Runs without per-epoch records (written before every protocol was recorded) are read under
    their own protocol only: never compared with another protocol's, and in the report as their own
    table after the headline's."""
    results = str(tmp_path / "r")
    for protocol, f1 in (("source", 0.5), ("target", 0.6)):
        d = write_run(results, "ipa", ["polish"], ["russian"], {"russian": f1})
        with open(os.path.join(d, "results.json")) as f:
            data = json.load(f)
        data["hyperparameters"]["selection"] = data["selection"] = protocol
        os.rename(d, d + protocol)
        with open(os.path.join(d + protocol, "results.json"), "w") as f:
            json.dump(dict(data, run_id=data["run_id"] + protocol), f)
    write_run(results, "normal", ["polish"], ["russian"], {"russian": 0.7})  # schema 1: "target"
    runs, _ = collect.load_results([results])
    assert sorted(r.protocols() for r in runs) == [("source",), ("target",), ("target",)]
    for protocol, f1 in (("source", 0.5), ("target", 0.6)):
        (g,) = [g for g in tables.grid_summary(runs, "f1", "eval", protocol) if g.model_type == "ipa"]
        assert (g.selection, g.n_settings, g.best_shown.mean) == (protocol, 1, pytest.approx(f1))
    report = build.build_report([results], "f1")
    assert report.split == "eval" and [(t.selection, t.kind) for t in report.tables] == [
        ("source", tables.HEADLINE), ("target", tables.OWN)]
    md = render_report(report)
    assert "(no run has a test split)" in md and "selection target (runs that recorded only selection target)" in md


def test_markdown_text(study):
    report = build.build_report([study], "f1", "eval")
    md = render_report(report)
    assert "## s · sentiment: f1 on the eval split, selection source" in md
    assert "**Numbers from the eval split**: the validation split, which also chose epochs." in md
    assert "| train \\ eval | polish | russian |" in md
    # ‡: the eval split chose the epoch of a train language's cell; polish -> russian is zero-shot
    assert "| polish | 0.720 ± 0.020 (n=3) ‡ | 0.400 (n=1) |" in md
    assert "| russian | – | 0.650 (n=1) † ‡ |" in md
    assert "### ipa - normal" in md
    assert "| polish → polish | 0.770 ± 0.020 (n=3) | 0.720 ± 0.020 (n=3) | +0.050 | – | – | – | – |  |" in md
    assert "| polish → russian | 0.450 (n=1) | 0.400 (n=1) | +0.050 | – | – | – | – |  |" in md
    assert "| polish+russian → " not in md.split("### ipa - normal")[1].split("## ")[0]  # no ipa A+B run
    assert "No interval for polish → polish, polish → russian, russian → russian: a run saved no " \
        "eval predictions" in md   # these synthetic runs have none
    assert "ipa beats normal in 0 of 3 cells after Holm" in md and "3 without predictions" in md
    assert "Selection `source`: epoch chosen on the training languages' validation splits" in md
    assert ("| s | sentiment | ipa | russian | russian | 2 | 2 | learning_rate=0.0005 | "
            "0.650 (n=1) | 0.650 (n=1) | 0.600 | 0.650 | 0.035 |") in md
    assert "## s · sentiment: upper bound (selection `target`)" in md
    assert "## Skipped files" not in md
    # only the grid point with two settings is a grid; single-setting cells are not listed there
    assert "| s | sentiment | ipa | polish | polish |" not in md


def test_markdown_without_a_grid(tmp_path):
    res = str(tmp_path / "results")
    write_run(res, "normal", ["polish"], ["polish"], {"polish": 0.7}, selection="source")
    md = render_report(build.build_report([res], "f1", "eval"))
    assert "No grid in these results" in md and "| best setting |" not in md


def test_bad_files_reported_and_skipped(study):
    bad_dir = os.path.join(study, "s", "broken")
    os.makedirs(bad_dir)
    with open(os.path.join(bad_dir, "results.json"), "w") as f:
        f.write('{"schema_version": 1, "run_id": "x", "metr')      # a partial write
    old = os.path.join(study, "s", "old")
    os.makedirs(old)
    with open(os.path.join(old, "results.json"), "w") as f:
        json.dump({"schema_version": 3, "run_id": "y"}, f)
    noeval = write_run(study, "ipa", ["polish"], ["polish"], {"polish": 0.9}, seed=99)
    with open(os.path.join(noeval, "results.json")) as f:
        data = json.load(f)
    del data["metrics"]["polish"]["eval"]
    with open(os.path.join(noeval, "results.json"), "w") as f:
        json.dump(data, f)
    report = build.build_report([study], "f1", "eval")
    reasons = {os.path.basename(os.path.dirname(b.path)): b.reason for b in report.bad}
    assert len(report.runs) == 12 and len(reasons) == 3
    assert reasons["broken"].startswith("not valid JSON")
    assert reasons["old"] == "schema_version 3 is not supported (expected 1 or 2)"
    assert reasons[os.path.basename(noeval)] == ("'metrics' has no 'eval' metrics for eval "
                                                  "language 'polish'")
    md = render_report(report)
    assert "## Skipped files" in md and "broken/results.json`: not valid JSON" in md
    assert "| polish | 0.770 ± 0.020 (n=3) ‡ |" in md   # the bad seed-99 run did not count


def test_unknown_metric_is_a_user_error(study):
    from ipa_finetune.errors import UserError
    with pytest.raises(UserError, match="--metric 'f2' is in no results.json.*available: accuracy"):
        build.build_report([study], "f2", "eval")


def test_status_states_and_log_tail(tmp_path, study):
    runs, _ = collect.load_results([study])
    done = os.path.dirname(runs[0].path)
    log = tmp_path / "logs" / "job-12.out"
    log.parent.mkdir()
    log.write_text("step 1\nstep 2\r step 3\nTraceback (most recent call last):\nValueError: boom\n")
    entries = [
        {"job_id": "11", "job_name": "done", "run_id": "a", "run_dir": done, "log": "x"},
        {"job_id": "12", "job_name": "crash", "run_id": "b", "run_dir": str(tmp_path / "b"),
         "log": str(tmp_path / "logs" / "job-%j.out"), "script": "/j/crash.sh"},
        {"job_id": "13", "job_name": "queued", "run_id": "c", "run_dir": str(tmp_path / "c")},
        {"job_id": "14", "job_name": "busy", "run_id": "d", "run_dir": str(tmp_path / "d")},
        {"job_id": "local", "job_name": "loc", "run_id": "e", "run_dir": str(tmp_path / "e"),
         "log": str(tmp_path / "nope.out")},
    ]
    states = {"12": "TIMEOUT", "13": "PENDING", "14": "RUNNING"}
    jobs = {j.job_name: j for j in status.job_statuses(entries, states.get, log_lines=2)}
    assert jobs["done"].state == "finished"
    assert (jobs["crash"].state, jobs["crash"].detail) == ("failed", "Slurm TIMEOUT")
    assert jobs["crash"].log_tail == ("Traceback (most recent call last):", "ValueError: boom")
    assert jobs["queued"].state == "pending" and jobs["busy"].state == "running"
    assert jobs["loc"].state == "unknown" and "log not found" in jobs["loc"].detail
    assert status.classify_slurm(None) == ("unknown", "no results (state unknown)")
    assert status.log_tail(str(log), 3)[0] == " step 3"   # \r updates collapsed as a terminal
    assert status.classify_slurm("COMPLETED")[0] == "failed"


def run_cli(*args, env=None):
    return run_script("collect-results.py", *args, env=env, timeout=120)


def test_cli_end_to_end(tmp_path, study):
    """Subprocess run: stdout Markdown, report.md, runs.csv, valid PNGs, and the job status from a
    manifest with a fake squeue (one finished job, one failed with its log)."""
    runs, _ = collect.load_results([study])
    log = tmp_path / "crash-7.out"
    log.write_text("loading\nRuntimeError: CUDA out of memory\n")
    manifest = tmp_path / "jobs" / "manifest.jsonl"
    manifest.parent.mkdir()
    lines = [{"job_id": "6", "job_name": "ok", "script": "/j/ok.sh", "run_id": runs[0].run_id,
              "run_dir": os.path.dirname(runs[0].path), "log": "/j/ok-6.out", "args": [],
              "submitted_at": "2026-01-01T00:00:00"},
             {"job_id": "7", "job_name": "crash", "script": "/j/crash.sh", "run_id": "missing",
              "run_dir": str(tmp_path / "missing"), "log": str(tmp_path / "crash-%j.out"),
              "args": [], "submitted_at": "2026-01-01T00:00:00"}]
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{broken\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "squeue"  # asked once for every job: `squeue -h -r -t all -o ... -j 6,7`
    fake.write_text("#!/bin/sh\necho '7|OUT_OF_MEMORY|1:02'\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    p = run_cli(study, "--out", str(out), "--manifest", str(manifest), "--split", "eval", env=env)
    assert p.returncode == 0, p.stderr
    assert "| polish | 0.770 ± 0.020 (n=3) ‡ |" in p.stdout
    assert "2 jobs from 1 manifest(s): 1 finished, 0 running, 0 pending, 1 failed" in p.stdout
    assert "| failed | 7 | crash | missing | Slurm OUT_OF_MEMORY | /j/crash.sh |" in p.stdout
    assert "RuntimeError: CUDA out of memory" in p.stdout
    assert "manifest.jsonl:3: not valid JSON" in p.stdout
    assert (out / "report.md").read_text() == p.stdout
    import csv
    with open(out / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 13 + 3   # 12 runs, one with two eval langs; three have a test split
    grid = [r for r in rows if r["model_type"] == "ipa" and r["train_langs"] == "russian"
            and r["split"] == "test"]
    assert sorted(float(r["f1"]) for r in grid) == [0.55, 0.58]
    assert {"hp_learning_rate", "seed", "best_epoch", "wall_time_seconds", "eval_lang"} <= set(rows[0])
    pngs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    assert pngs == ["seeds__s__sentiment__seeds__f1__eval.png",
                    "transfer__s__sentiment__ipa-minus-normal__f1__eval.png",
                    "transfer__s__sentiment__ipa__f1__eval.png",
                    "transfer__s__sentiment__normal__f1__eval.png"]
    assert sorted(os.listdir(out / "latex")) == [
        "difference__s__sentiment__ipa-minus-normal__f1__eval.tex", "transfer__s__sentiment__ipa__f1__eval.tex",
        "transfer__s__sentiment__normal__f1__eval.tex", "upper-bound__s__sentiment__ipa__f1__eval.tex",
        "upper-bound__s__sentiment__normal__f1__eval.tex"]
    assert (out / "upper_bound.csv").read_text().startswith("study,task,model_type,")
    import matplotlib.image
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = matplotlib.image.imread(out / name)
        assert img.shape[0] > 300 and img.shape[1] > 500   # inches * dpi 200
    assert not [f for f in os.listdir(out) if f.startswith(".tmp-")]


def test_cli_errors_are_one_line(tmp_path, study):
    p = run_cli(str(tmp_path / "nowhere"), "--no-plots")
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "results directory" in p.stderr and "does not exist" in p.stderr
    p = run_cli(study, "--metric", "f2", "--no-plots", "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and "available: accuracy" in p.stderr and "Traceback" not in p.stderr


def test_default_report_dir(study, tmp_path):
    runs, _ = collect.load_results([study])
    assert build.default_report_dir([study], runs) == os.path.join(study, "s", "report")
    sdir = os.path.join(study, "s")
    assert build.default_report_dir([sdir], runs) == os.path.join(sdir, "report")
    assert build.default_report_dir([study], runs, "/r") == "/r/s/report"
    assert build.default_report_dir([study, sdir], runs) == "report"


def test_cli_with_config(tmp_path, study):
    """--config: results from paths.results_dir/<study>, manifests under paths.jobs_dir/<study>,
    the report in results_dir/<study>/report; the config's metric_for_best_model is the default."""
    jobs = tmp_path / "jobs" / "s"
    jobs.mkdir(parents=True)
    (jobs / "manifest.jsonl").write_text(json.dumps(
        {"job_id": "local", "job_name": "j", "script": "/j/j.sh", "run_id": "r",
         "run_dir": str(tmp_path / "r"), "log": "", "args": [], "submitted_at": "x"}) + "\n")
    cfg = tmp_path / "study.json"
    cfg.write_text(json.dumps({
        "study": "s", "task": "sentiment",
        "languages": {"russian": "demo-rusentiment", "polish": "demo-polsentiment"},
        "paths": {"results_dir": study, "jobs_dir": str(tmp_path / "jobs")},
        "hyperparameters": {"metric_for_best_model": "accuracy"}}))
    p = run_cli("--config", str(cfg), "--no-plots")
    assert p.returncode == 0, p.stderr
    assert "metric `accuracy`, split `test`" in p.stdout and "**Numbers from the test split.**" in p.stdout
    assert "| russian | – | 0.710 (n=1) |" in p.stdout   # the test split where there is one; + 0.1
    assert "1 jobs from 1 manifest(s): 0 finished, 0 running, 0 pending, 0 failed, 1 unknown" in p.stdout
    assert os.path.isfile(os.path.join(study, "s", "report", "runs.csv"))
    p = run_cli("--print-config", "--no-plots")
    assert p.returncode == 2 and "--print-config needs --config" in p.stderr


def test_duplicate_run_id_keeps_the_later(study, tmp_path):
    import shutil
    runs, _ = collect.load_results([study])
    src = os.path.dirname(runs[0].path)
    copy = tmp_path / "copy" / "x"
    shutil.copytree(src, copy)
    with open(copy / "results.json") as f:
        data = json.load(f)
    data["finished_at"] = "2027-01-01T00:00:00"
    (copy / "results.json").write_text(json.dumps(data))
    runs2, bad = collect.load_results([study, str(tmp_path / "copy"), study])  # study given twice
    assert len(runs2) == 12 and len(bad) == 1
    assert bad[0].path == runs[0].path and bad[0].reason.startswith("duplicate of run")
    assert str(copy) in {os.path.dirname(r.path) for r in runs2}


@pytest.mark.slurm
def test_status_of_a_real_failed_slurm_job(tmp_path):
    require_slurm()
    p = subprocess.run(["sbatch", "--parsable", "--output", str(tmp_path / "crash-%j.out"), "--wrap",
                        "echo starting; echo 'ValueError: boom' >&2; exit 3"],
                       capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    job_id = p.stdout.strip().split(";")[0]
    assert wait_for_jobs([job_id], timeout=30) == {job_id: "FAILED"}
    entry = {"job_id": job_id, "job_name": "crash", "run_id": "r", "run_dir": str(tmp_path / "r"),
             "log": str(tmp_path / "crash-%j.out")}
    (job,) = status.job_statuses([entry])
    assert (job.state, job.detail) == ("failed", "Slurm FAILED")
    assert job.log_tail == ("starting", "ValueError: boom")
    assert slurm.job_state("99999999") == "UNKNOWN"


def test_loss_is_shown_and_settings_chosen_by_metric_for_best_model(study):
    runs, _ = collect.load_results([study])
    rows = {(g.model_type, g.train_langs): g for g in tables.grid_summary(runs, "loss", "eval")}
    g = rows[("ipa", ("russian",))]
    assert g.varying == {"learning_rate": 5e-4} and g.best_shown.mean == pytest.approx(0.35)
    assert g.best_score.mean == pytest.approx(0.65)   # the f1 selection score, not the loss
    (t,) = tables.transfer_tables(runs, "loss", "eval")
    assert t.cells[("ipa", ("russian",), "russian")].stat.mean == pytest.approx(0.35)


def test_other_data_or_checkpoint_is_not_a_seed(tmp_path):
    """Same hyperparameters but another dataset or checkpoint: a separate setting, not a replicate."""
    res = str(tmp_path / "r")
    write_run(res, "ipa", ["polish"], ["polish"], {"polish": 0.5}, seed=1, selection="source")
    b = write_run(res, "ipa", ["polish"], ["polish"], {"polish": 0.7}, seed=2, selection="source")
    c = write_run(res, "ipa", ["polish"], ["polish"], {"polish": 0.9}, seed=3, selection="source")
    for d, key, value in ((b, "datasets", {"polish": "other"}),
                          (c, "config", {"model_types": {"ipa": {"model_prefix": "big"}}})):
        with open(os.path.join(d, "results.json")) as f:
            data = json.load(f)
        data[key] = value
        with open(os.path.join(d, "results.json"), "w") as f:
            json.dump(data, f)
    runs, _ = collect.load_results([res])
    (g,) = tables.grid_summary(runs, "f1")
    assert (g.n_settings, g.best_score.n, g.best_score.mean) == (3, 1, pytest.approx(0.9))
    assert g.varying == {"datasets": {"polish": "polemo2", "russian": "rusentiment"},
                         "model": {"model_prefix": "big"}}


def test_status_page_of_array_tasks_alive_finished_and_forgotten(tmp_path, study):
    """--status: one row per array task with its state, Slurm state and elapsed time, from a fake
    squeue (accounting off, as on the local Slurm); a task Slurm forgot is judged by its log; the
    page is printed and nothing is written."""
    runs, _ = collect.load_results([study])
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "x-22_2.out").write_text(
        "array task 22_2: line 3 of /j/x.jobs\njob 25 (x) on n1 at 2026-01-01T10:00:00+00:00; run c\n"
        "step 99\nslurmstepd: error: *** JOB 25 ON n1 CANCELLED AT 2026-01-01T10:00:10 DUE TO TIME LIMIT ***\n")
    start = 1767261600  # 2026-01-01T10:00:00Z
    os.utime(logs / "x-22_2.out", (start + 10, start + 10))
    entries = [{"job_id": f"22_{i}", "array_job_id": "22", "array_index": i, "job_name": f"job{i}",
                "run_id": rid, "run_dir": rdir, "log": str(logs / f"x-22_{i}.out"), "job_list": "/j/x.jobs",
                "script": "/j/x.sh", "submitted_at": "2026-01-01T09:00:00"}
               for i, (rid, rdir) in enumerate([(runs[0].run_id, os.path.dirname(runs[0].path)),
                                                ("b", str(tmp_path / "b")), ("c", str(tmp_path / "c"))])]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries)
                        + json.dumps({"kind": "report", "job_id": "23", "job_name": "r"}) + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/asked\"\n"
                                    "echo '22_1|RUNNING|1:02:03'\n")
    (bin_dir / "sacct").write_text("#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n")
    for name in ("squeue", "sacct"):
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    p = run_cli("--status", "--manifest", str(manifest), env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("# Job status\n\n3 jobs from 1 manifest(s): 1 finished, 1 running, 0 pending, "
                               "1 failed, 0 unknown.")
    assert "| finished | – | 0:00:12 | 22_0 | job0 |" in p.stdout         # wall_time_seconds 12.5
    assert "| running | RUNNING | 1:02:03 | 22_1 | job1 | b |" in p.stdout
    assert "| failed | TIMEOUT (log) | 0:00:10 | 22_2 | job2 | c | no results; Slurm no longer knows the " \
           "job, its log says: the time limit ended it |" in p.stdout
    assert "Log of job2 (22_2, failed)" in p.stdout and "DUE TO TIME LIMIT ***" in p.stdout
    assert "-r -t all -o %i|%T|%M -j 22" in (bin_dir / "asked").read_text()   # one call, by array id
    assert not os.path.exists(os.path.join(study, "s", "report"))
    line = run_cli("--status", str(tmp_path / "results"), "--no-plots").stderr
    assert "--status: no manifest.jsonl to read" in line and line.count("\n") == 1


def test_log_endings_and_elapsed_formats(tmp_path):
    assert slurm.normal_elapsed("0:01") == "0:00:01" and slurm.normal_elapsed("2-01:02:03") == "2-1:02:03"
    assert slurm.parse_squeue("22_3|CANCELLED by 0|00:00:05\n") == {"22_3": slurm.JobInfo("CANCELLED", "0:00:05")}
    # sacct's line for array tasks not started yet: one entry per task, so none looks forgotten
    assert set(slurm.parse_squeue("22_[4-6,9%2]|PENDING|00:00:00\n")) == {"22_4", "22_5", "22_6", "22_9"}
    # tasks cancelled before they started have no line of their own: real squeue -r -t all shows only
    # "22|CANCELLED" for them (seen on the local Slurm), and each such task takes that state
    lookup = slurm.Lookup()
    lookup.info, lookup.answered = slurm.parse_squeue("22_0|COMPLETED|0:00:09\n22|CANCELLED|0:00:00\n"), True
    assert (lookup("22_0"), lookup("22_7"), lookup("23_1")) == ("COMPLETED", "CANCELLED", slurm.FORGOTTEN)
    log = tmp_path / "x.out"
    for text, state in [("x\nslurmstepd: error: *** JOB 8 ON n CANCELLED AT 2026-01-01T00:00:00 ***\n"
                         "interrupted at step 12 by SIGTERM: checkpoint saved\n", "INTERRUPTED"),
                        ("slurmstepd: error: *** JOB 8 ON n CANCELLED AT 2026-01-01T00:00:00 ***\n", "CANCELLED"),
                        ("Traceback (most recent call last):\nValueError: x\n", "FAILED"),
                        ("all fine\n", None)]:
        log.write_text(text)
        assert (status.log_ending(str(log)) or (None,))[0] == state
    assert status.log_elapsed(str(log)) is None  # no start time in it
