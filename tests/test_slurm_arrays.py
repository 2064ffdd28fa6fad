"""Job arrays on a real local Slurm (scripts/local-slurm.sh, as CI starts it): a throttled array with
#SBATCH options from the config, the job status of its tasks, a cancelled task resubmitted alone that
resumes from its checkpoint, and MaxArraySize on a second, independent cluster started for the test.
Where a test is about Slurm's mechanics, the jobs run a stand-in template (no training)."""
import json
import os
import random
import re
import shutil
import socket
import subprocess

import pytest

from conftest import (one_line_error, pausing_env, require_slurm, run_script, slurm_job, stopped_pid,
                      wait_for, wait_for_jobs)
from ipa_finetune import runs
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.manifest import manifest_path, read_manifest
from ipa_finetune.slurm import FORGOTTEN
from ipa_finetune.report.status import job_statuses

pytestmark = [pytest.mark.slow, pytest.mark.slurm]  # real jobs on a real Slurm
LOCAL_SLURM = os.path.join(PROJECT_ROOT, "scripts", "local-slurm.sh")
# An array template that only sleeps and writes timestamps; the beta -> beta task fails like Python.
SLEEPER = """#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --cpus-per-task={cpus}
#SBATCH --time={timeout}
#SBATCH --output={log}
{sbatch_options}
{array}
set -euo pipefail
{array_task}
echo "start $(date +%s.%N) at $(date -Iseconds)"
sleep {sleep}
if [ {train_langs} = beta ] && [ {eval_langs} = beta ]; then
  printf 'Traceback (most recent call last):\\nValueError: boom\\n' >&2
  exit 3
fi
echo "end $(date +%s.%N)"
"""


def entries_of(config):
    out = os.path.join(os.path.dirname(config), "jobs", "tiny")
    return read_manifest(manifest_path(out))[0], read_manifest(manifest_path(out), kind="report")[0]


def sleeper(tmp_path, seconds):
    path = tmp_path / "sleeper.sh"
    path.write_text(SLEEPER.replace("{sleep}", str(seconds)))
    return path


def times_of(log):
    """(start, end) epoch seconds a SLEEPER task wrote (end: None when it failed)."""
    text = open(log).read()
    start = float(re.search(r"^start (\S+)", text, re.M).group(1))
    end = re.search(r"^end (\S+)", text, re.M)
    return start, float(end.group(1)) if end else None


def test_throttled_array_with_options_completes_and_shows_its_status(tiny_study, tmp_path):
    """6 tasks with --array-limit 2 and slurm.options {"partition": "local"}: Slurm accepts the
    #SBATCH --partition line, holds the array at 2 tasks at once, and every task ends; then
    collect-results.py --status lists each task with its state, elapsed time and a failure's log."""
    require_slurm()
    config = tiny_study(languages=2, extra={"slurm": {"cpus": 1, "gpus": 0, "timeout": "00:05:00",
                                                      "runs_per_job": 1, "fields": {},
                                                      "options": {"partition": "local"}}})
    proc = run_script("finetuning-generator.py", config, "--model-type", "normal", "--template",
                      sleeper(tmp_path, 1), "--array-limit", "2", "--no-report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 6 jobs as 1 array: tiny-transfer-" in proc.stdout and "(--array=0-5%2)" in proc.stdout
    entries, reports = entries_of(config)
    assert len(entries) == 6 and not reports and len({e["array_job_id"] for e in entries}) == 1
    array = slurm_job(entries[0]["array_job_id"])
    assert array.get("ArrayTaskThrottle") == "2" and array.get("Partition") == "local", array
    with open(entries[0]["script"]) as f:
        assert "\n#SBATCH --partition=local\n#SBATCH --array=0-5%2\n" in f.read()
    states = wait_for_jobs([e["job_id"] for e in entries], timeout=120)
    failing = [e for e in entries if e["train_langs"] == e["eval_langs"] == ["beta"]]
    assert [states[e["job_id"]] for e in failing] == ["FAILED"]
    assert sum(s == "COMPLETED" for s in states.values()) == 5, states
    spans = [times_of(e["log"]) for e in entries]
    ends = [end or start + 1 for start, end in spans]
    for start, _ in spans:   # tasks running at each task's start, itself included
        assert sum(s <= start < e for (s, _), e in zip(spans, ends)) <= 2, spans

    proc = run_script("collect-results.py", "--config", config, "--status")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "6 jobs from 1 manifest(s): 0 finished, 0 running, 0 pending, 6 failed" in text
    rows = [line for line in text.splitlines() if re.match(r"\| failed \| (COMPLETED|FAILED) \| 0:00:0\d \|", line)]
    assert len(rows) == 6, text   # every task: its Slurm state and elapsed time
    assert "| failed | FAILED | " in text and f"| {failing[0]['job_id']} |" in text
    assert f"Log of {failing[0]['job_name']} ({failing[0]['job_id']}, failed)" in text and "ValueError: boom" in text
    # once Slurm has forgotten the jobs (MinJobAge), their logs still tell how they ended
    forgotten = {j.job_id: j for j in job_statuses(entries, lambda job_id: FORGOTTEN)}
    assert forgotten[failing[0]["job_id"]].slurm_state == "FAILED (log)"
    assert forgotten[failing[0]["job_id"]].elapsed.startswith("0:00:0")


def test_cancelled_task_is_resubmitted_alone_and_resumes_from_its_checkpoint(tiny_study, tmp_path):
    """A grid of two real tiny fine-tunes as one array; task 1 (3 epochs) stops itself right after
    its first epoch's checkpoint (the pause hook, inherited through sbatch's environment), and is
    cancelled in that state with a plain scancel: Slurm's SIGCONT and SIGTERM reach python through the
    array script's exec, which saves a checkpoint. Re-running grid-search.py submits only index 1 of
    the same job list, and the new task resumes from that checkpoint and finishes."""
    require_slurm()
    config = tiny_study(languages=1, hyperparameters={"batch_size": 2})  # 20 steps per epoch
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"parameters": {"epochs": [1, 3]}, "languages": {"train": "all", "eval": "all"}}))
    args = ["grid-search.py", config, "--grid-config", grid, "--model-type", "normal", "--no-report",
            "--timeout", "10", "--runs-per-job", "1"]
    paused = tmp_path / "paused"
    proc = run_script(*args, env=pausing_env(os.environ, paused, task=1))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 2 jobs as 1 array: " in proc.stdout and "(--array=0-1)" in proc.stdout
    entries, _ = entries_of(config)
    task = entries[1]
    assert task["hyperparameters"]["epochs"] == 3 and task["array_index"] == 1
    wait_for(lambda: stopped_pid(paused), 120, "task 1 stopped after its first checkpoint")
    assert open(paused).read().split()[1] == "20"
    subprocess.run(["scancel", task["job_id"]], check=True)
    states = wait_for_jobs([e["job_id"] for e in entries], timeout=120)
    assert states[task["job_id"]] == "CANCELLED", states
    log = open(task["log"]).read()
    assert "CANCELLED AT" in log and "interrupted at step" in log, log[-2000:]
    assert not os.path.isfile(runs.results_path(task["run_dir"]))

    proc = run_script(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped: results.json exists" in proc.stdout   # task 0 finished
    assert f"submitted 1 job as 1 array: {os.path.basename(task['script'])} (--array=1)" in proc.stdout
    again = entries_of(config)[0][-1]
    assert again["run_id"] == task["run_id"] and again["job_list"] == task["job_list"]
    assert again["job_id"] == f"{again['array_job_id']}_1" != task["job_id"]
    states = wait_for_jobs([again["job_id"]], timeout=180)
    log = open(again["log"]).read()
    assert states[again["job_id"]] == "COMPLETED", log[-3000:]
    assert "resuming from checkpoint" in log and runs.read_results(task["run_dir"])["run_id"] == task["run_id"]
    # the first task's log, once Slurm forgets it: interrupted, checkpoint saved
    (first,) = job_statuses([task], lambda job_id: FORGOTTEN)
    assert first.state == "finished"  # its run has results now: the status says so whatever the log
    (cancelled,) = job_statuses([dict(task, run_dir=str(tmp_path / "elsewhere"))], lambda job_id: FORGOTTEN)
    assert cancelled.slurm_state == "INTERRUPTED (log)" and "a re-run resumes" in cancelled.detail


# ----------------------------------------------------------------------------- a second cluster

def free_port_pair():
    """A port p with p and p + 1 free on localhost (the controller's and the node daemon's)."""
    for _ in range(50):
        base = random.randrange(20000, 40000, 2)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 1))
            return base
        except OSError:
            continue
    raise AssertionError("no two free ports found")


@pytest.fixture(scope="module")
def small_arrays_cluster(tmp_path_factory):
    """A second single-node Slurm beside the first (its own slurm.conf, state and ports) with
    MaxArraySize=5 and a second partition `short` of MaxTime 30 minutes; the environment that talks to
    it. Stopped afterwards."""
    require_slurm()
    if os.geteuid() != 0:
        pytest.skip("starting a second local Slurm needs root")
    folder = tmp_path_factory.mktemp("slurm2")
    env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"), LOCAL_SLURM_DIR=str(folder),
               LOCAL_SLURM_PORT_BASE=str(free_port_pair()),
               LOCAL_SLURM_EXTRA="MaxArraySize=5\nPartitionName=short Nodes=localhost MaxTime=00:30:00 State=UP",
               LOCAL_SLURM_CPUS="4")
    proc = subprocess.run([LOCAL_SLURM, "start"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    yield env
    subprocess.run([LOCAL_SLURM, "stop"], capture_output=True, env=env, timeout=60)


def max_array_size(env=None):
    proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, env=env)
    return re.search(r"MaxArraySize\s*=\s*(\d+)", proc.stdout).group(1)


def test_max_array_size_5_sends_10_jobs_as_3_arrays(small_arrays_cluster, tiny_study, tmp_path):
    env = small_arrays_cluster
    assert max_array_size(env) == "5" and max_array_size() != "5"   # two clusters side by side
    config = tiny_study(languages=1)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"parameters": {"learning_rate": [1e-3, 2e-3, 3e-3, 4e-3, 5e-3]}}))
    proc = run_script("grid-search.py", config, "--grid-config", grid, "--template", sleeper(tmp_path, 0),
                      "--runs-per-job", "1", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 10 jobs as 3 arrays: " in proc.stdout
    entries, (report,) = entries_of(config)
    arrays = {}
    for e in entries:
        arrays.setdefault(e["array_job_id"], []).append(e["array_index"])
    assert sorted(arrays.values()) == [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3]]
    assert report["depends_on"] == list(arrays)   # the report job waits for all three
    states = wait_for_jobs([e["job_id"] for e in entries] + [report["job_id"]], timeout=120, env=env)
    assert set(states.values()) == {"COMPLETED"}, states
    assert os.path.isfile(report["report"])


def test_runs_per_job_stay_within_the_partitions_max_time(small_arrays_cluster, tiny_study, tmp_path):
    """Partition `short` allows 30 minutes: "auto" packs 3 ten-minute runs per job, 4 runs per job is
    one clear line, and so is a per-run limit of 45 minutes; nothing is written then."""
    env = small_arrays_cluster
    config = tiny_study(languages=2, extra={"slurm": {"cpus": 1, "gpus": 0, "timeout": "00:10:00", "fields": {},
                                                      "options": {"partition": "short"}}})
    jobs = os.path.join(os.path.dirname(config), "jobs")
    args = ["finetuning-generator.py", config, "--model-type", "normal", "--dry-run"]
    proc = run_script(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "runs per job: 3 (auto; 00:10:00 per run, 1 at once; partition short (MaxTime 00:30:00, from " \
           "scontrol show partition))" in proc.stdout and "6 runs in 2 jobs in 1 array" in proc.stdout
    with open(next(os.path.join(jobs, "tiny", p) for p in os.listdir(os.path.join(jobs, "tiny")) if p.endswith(".sh")
                   and "transfer" in p)) as f:
        assert "\n#SBATCH --time=00:30:00\n" in f.read()
    shutil.rmtree(jobs)
    line = one_line_error(run_script(*args, "--runs-per-job", "4", env=env))
    assert line.endswith("error: 4 runs per job (slurm.runs_per_job or --runs-per-job) x 00:10:00 per run asks "
                         "for 00:40:00 per job, longer than partition short (MaxTime 00:30:00, from scontrol "
                         "show partition) allows: use at most 3 runs per job, a shorter --timeout, or "
                         "runs_per_job \"auto\""), line
    line = one_line_error(run_script(*args, "--timeout", "45", env=env))
    assert "the time limit per run, 00:45:00 (slurm.timeout or --timeout), is longer than partition short" in line
    line = one_line_error(run_script(*args, "--runs-per-job", "0", env=env))
    assert "argument --runs-per-job: expected \"auto\" or a whole number >= 1, got '0'" in line
    assert not os.path.exists(jobs)
