"""Several runs in one finetune-exp.py process (`A --then B`, what a packed job runs): each run gets
exactly the numbers it gets alone, a failing run does not stop the next, runs at once share the
process's CPUs and pass a stop signal on; the job status reads each run's part of a job log. Real
subprocesses on the tiny study; the status part is pure."""
import filecmp
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import pausing_env, stopped_pid, wait_for
from ipa_finetune import runs
from ipa_finetune.config.study import load_study
from ipa_finetune.report.status import job_statuses
from ipa_finetune.train import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "finetune-exp.py")

pytestmark = pytest.mark.slow  # real fine-tunes


def spec(config, model_type, train, evals, seed, out):
    return [config, "--model-type", model_type, "--train-langs", train, "--eval-langs", *evals,
            "--seed", str(seed), "--output-dir", str(out)]


def joined(specs):
    return [w for s in specs for w in ("--then", *s)][1:]


def finetune(*words, env=None):
    return subprocess.run([sys.executable, SCRIPT, *words], capture_output=True, text=True, timeout=600,
                          env=env)


def results_of(config, specs):
    """The results.json of each spec's run (its run folder: the plan's)."""
    study = load_study([config])
    out = []
    for s in specs:
        model_type, train, seed, folder = s[2], s[4], int(s[s.index("--seed") + 1]), s[-1]
        evals = s[6:s.index("--seed")]
        plan = experiment.plan_run(study, model_type, [train], evals, seed=seed, output_dir=folder)
        out.append(runs.read_results(plan.run_dir) if runs.is_finished(plan.run_dir) else None)
    return out


def test_packed_runs_get_exactly_the_numbers_they_get_alone_and_a_failure_stops_none(tiny_study, tmp_path):
    """Three runs of different model types, languages and seeds, each alone (its own process), then
    packed in one process with a run between them that cannot write its folder: the packed runs'
    metrics, training histories and predictions equal the lone runs'; the failing run is reported in
    its part of the log and the exit status is 1."""
    config = tiny_study(languages=2, epochs=2)
    alone = [spec(config, "normal", "alpha", ["beta"], 1, tmp_path / "alone"),
             spec(config, "ipa", "beta", ["alpha", "beta"], 2, tmp_path / "alone"),
             spec(config, "normal", "alpha", ["alpha"], 3, tmp_path / "alone")]
    for s in alone:
        proc = finetune(*s, "--cpus", "1")
        assert proc.returncode == 0, proc.stderr[-2000:]
    packed = [[*s[:-1], str(tmp_path / "packed")] for s in alone]
    broken = spec(config, "ipa", "alpha", ["alpha"], 4, tmp_path / "packed")
    blocked = experiment.plan_run(load_study([config]), "ipa", ["alpha"], ["alpha"], seed=4,
                                  output_dir=str(tmp_path / "packed")).run_dir
    os.makedirs(os.path.dirname(blocked))
    open(blocked, "w").close()  # a file where the run folder goes
    proc = finetune(*joined([packed[0], broken, packed[1], packed[2]]), "--cpus", "1")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    rid = os.path.basename(blocked)
    assert f"===== run 2/4 {rid}: failed: FileExistsError" in proc.stdout and "1 of 4 runs failed" in proc.stderr
    for k in (1, 3, 4):
        assert f"===== run {k}/4 " in proc.stdout and ": finished in " in proc.stdout
    for lone, together in zip(results_of(config, alone), results_of(config, packed)):
        assert together["run_id"] == lone["run_id"]
        assert together["metrics"] == lone["metrics"] and together["history"] == lone["history"]
        for lang, files in lone["predictions"].items():
            for role, name in files.items():
                a = os.path.join(tmp_path / "alone" / "tiny" / lone["run_id"], name)
                b = os.path.join(tmp_path / "packed" / "tiny" / lone["run_id"], together["predictions"][lang][role])
                assert filecmp.cmp(a, b, shallow=False), (lang, role)
    proc = finetune(*joined(packed), "--cpus", "1")  # all finished: each skipped in a line
    assert proc.returncode == 0 and proc.stdout.count("skipped: already finished") == 3


def test_runs_at_once_share_the_cpus_and_pass_a_stop_signal_on(tiny_study, tmp_path):
    """Four runs in two processes (--runs-at-once 2, --cpus 2: one CPU each), each process's lines
    with its prefix. The first run of the second process stops itself after its first checkpoint;
    a SIGTERM to the parent reaches it (continued, as Slurm's scancel does): it saves a checkpoint,
    and the parent exits 143. The same command then resumes it and trains the rest."""
    config = tiny_study(languages=1, epochs=2, hyperparameters={"batch_size": 4})  # 10 steps per epoch
    specs = [spec(config, "normal", "alpha", ["alpha"], seed, tmp_path / "out") for seed in (1, 2, 3, 4)]
    study = load_study([config])
    plans = [experiment.plan_run(study, "normal", ["alpha"], ["alpha"], seed=seed, output_dir=str(tmp_path / "out"))
             for seed in (1, 2, 3, 4)]
    paused = tmp_path / "paused"
    parent = subprocess.Popen([sys.executable, SCRIPT, *joined(specs), "--runs-at-once", "2", "--cpus", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # bytes: \r stays \r
                              env=pausing_env(os.environ, paused, run=plans[2].run_id))
    child = wait_for(lambda: stopped_pid(paused), 180, "the third run stopped after its first checkpoint")
    parent.send_signal(signal.SIGTERM)
    wait_for(lambda: sigterm_pending(child), 30, "the parent passed SIGTERM on to the stopped process")
    os.kill(child, signal.SIGCONT)   # as Slurm's scancel does: continue, then the SIGTERM acts
    out = parent.communicate(timeout=120)[0].decode("utf-8", errors="replace")
    assert parent.returncode == 143, out[-3000:]
    assert "4 runs in 2 processes at once, 1 CPU(s) each" in out
    assert f"[2] ===== run 1/2 {plans[2].run_id}: interrupted at step" in out
    assert os.listdir(plans[2].checkpoints_dir) and not runs.is_finished(plans[2].run_dir)
    unprefixed = [line for line in out.split("\n") if line.strip() and not line.startswith(("[1] ", "[2] "))]
    assert unprefixed == ["4 runs in 2 processes at once, 1 CPU(s) each"], unprefixed

    again = subprocess.run([sys.executable, SCRIPT, *joined(specs), "--runs-at-once", "2", "--cpus", "2"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(runs.is_finished(p.run_dir) for p in plans)
    assert "resuming from checkpoint" in open(plans[2].log_file).read()


def sigterm_pending(pid):
    """SIGTERM waits, undelivered, for process `pid` (a stopped one): /proc's pending-signal masks."""
    with open(f"/proc/{pid}/status") as f:
        masks = [int(line.split()[1], 16) for line in f if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(mask & (1 << (signal.SIGTERM - 1)) for mask in masks)


def test_process_options_must_agree_across_runs(tiny_study, tmp_path):
    config = tiny_study(languages=1)
    one = spec(config, "normal", "alpha", ["alpha"], 1, tmp_path)
    proc = finetune(*one, "--cpus", "1", "--then", *one, "--cpus", "2")
    assert proc.returncode == 2 and "--cpus is one value for all runs, got 1 and 2" in proc.stderr
    proc = finetune(config, "--print-config", "--then", *one)
    assert proc.returncode == 2 and "--print-config shows one config: not with --then" in proc.stderr
    proc = finetune(*one, "--then", config, "--model-type", "phonetic", "--train-langs", "alpha",
                    "--eval-langs", "alpha")
    assert proc.returncode == 2 and "phonetic" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "tiny")   # every run planned before any trains


LOG = """array task 9_0: line 1 of x.jobs
===== run 1/3 r1: started at 2026-01-01T10:00:00+00:00 (normal, a -> a, seed 1) =====
training r1
===== run 1/3 r1: finished in 0:00:05 =====
===== run 2/3 r2: started at 2026-01-01T10:00:05+00:00 (normal, a -> a, seed 2) =====
Traceback (most recent call last):
ValueError: boom
===== run 2/3 r2: failed: ValueError: boom =====
===== run 3/3 r3: started at 2026-01-01T10:00:06+00:00 (normal, a -> a, seed 3) =====
{progress}
"""


@pytest.mark.parametrize("slurm_state", ["RUNNING", "TIMEOUT", "UNKNOWN"])
def test_the_status_of_each_run_of_a_job_comes_from_its_part_of_the_log(tmp_path, slurm_state):
    log = tmp_path / "job.out"
    ending = "slurmstepd: error: *** JOB 9 ON n1 CANCELLED AT 2026-01-01T10:10:00 DUE TO TIME LIMIT ***"
    log.write_text(LOG.format(progress="step 3" if slurm_state == "RUNNING" else f"step 3\n{ending}"))
    rids = ["r1", "r2", "r3", "r4"]
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "results.json").write_text(json.dumps({
        "schema_version": 2, "run_id": "r1", "study": "s", "task": "t", "model_type": "normal",
        "train_langs": ["a"], "eval_langs": ["a"], "metrics": {"a": {"eval": {"f1": 0.5}}}}))
    entries = [{"job_id": "9_0", "job_name": "j", "run_id": rid, "run_dir": str(tmp_path / rid),
                "log": str(log), "job_runs": rids} for rid in rids]
    got = {j.run_id: j for j in job_statuses(entries, lambda job_id: slurm_state)}
    assert got["r1"].state == "finished"
    assert got["r2"].state == "failed" and got["r2"].detail == "failed: ValueError: boom (run 2 of 4 in its job)"
    assert got["r2"].log_tail[-2:] == ("ValueError: boom", "===== run 2/3 r2: failed: ValueError: boom =====")
    if slurm_state == "RUNNING":
        assert (got["r3"].state, got["r4"].state) == ("running", "pending")
        assert got["r4"].detail == "Slurm RUNNING: waiting for its turn (run 4 of 4 in its job)"
    else:
        assert got["r3"].state == got["r4"].state == "failed"
        assert got["r4"].detail.startswith("not started: ") and "(run 4 of 4 in its job)" in got["r4"].detail
        assert "ended during it: the time limit ended it" in got["r3"].detail
        assert got["r3"].log_tail[-1] == ending
    if slurm_state == "UNKNOWN":   # Slurm forgot the job: the run's own part of the log tells
        assert got["r3"].slurm_state == "TIMEOUT (log)"
