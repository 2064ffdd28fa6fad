"""Several runs per job on a real local Slurm (scripts/local-slurm.sh): a packed array where one run
fails (the others finish, the job is FAILED, the job status shows each run, a re-launch submits only
that run), and a packed job cancelled while its second run trains (the re-launch skips the finished
run and resumes the interrupted one from its checkpoint). The runs are real tiny fine-tunes."""
import json
import os
import subprocess

import pytest

from conftest import pausing_env, run_script, stopped_pid, wait_for, wait_for_jobs
from ipa_finetune import runs
from ipa_finetune.launch import arrays
from ipa_finetune.manifest import manifest_path, read_manifest
from ipa_finetune.report.status import job_statuses

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def entries_of(config):
    return read_manifest(manifest_path(os.path.join(os.path.dirname(config), "jobs", "tiny")))[0]


def planned_order(config):
    """The run ids of each job of the job list a --dry-run wrote (one list)."""
    folder = os.path.join(os.path.dirname(config), "jobs", "tiny")
    (name,) = [p for p in os.listdir(folder) if p.endswith(".jobs")]
    with open(os.path.join(folder, name)) as f:
        return [arrays.line_run_ids(line) for line in f]


def status_rows(config):
    """{run id: its row of collect-results.py --status} and the page."""
    proc = run_script("collect-results.py", "--config", config, "--status")
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 7 and "__" in cells[5]:
            rows[cells[5]] = cells
    return rows, proc.stdout


def test_a_failing_run_does_not_stop_its_job_and_is_all_a_relaunch_submits(tiny_study):
    """Six tiny fine-tunes, three per job, as one array of two tasks. The second run of task 0
    cannot write its run folder (a file stands in its place): it fails, the third still trains, the
    task ends FAILED; the status shows each run's own state. Once the folder can be written, the
    same command submits that one run alone."""
    config = tiny_study(languages=2, epochs=1)
    args = ["finetuning-generator.py", config, "--model-type", "normal", "--runs-per-job", "3",
            "--no-report"]
    proc = run_script(*args, "--dry-run")
    assert "runs per job: 3 (3; 00:10:00 per run" in proc.stdout, proc.stdout
    blocked_id = planned_order(config)[0][1]   # the second run of the first job
    blocked = os.path.join(os.path.dirname(config), "results", "tiny", blocked_id)
    os.makedirs(os.path.dirname(blocked), exist_ok=True)
    with open(blocked, "w") as f:
        f.write("not a folder\n")

    proc = run_script(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 6 runs in 2 jobs as 1 array: " in proc.stdout and "(--array=0-1)" in proc.stdout
    entries = entries_of(config)
    assert len(entries) == 6 and {e["job_id"] for e in entries} == {f"{entries[0]['array_job_id']}_{i}" for i in (0, 1)}
    assert entries[1]["run_id"] == blocked_id and entries[1]["job_runs"] == [e["run_id"] for e in entries[:3]]
    states = wait_for_jobs(sorted({e["job_id"] for e in entries}), timeout=300)
    assert states == {entries[0]["job_id"]: "FAILED", entries[3]["job_id"]: "COMPLETED"}, states
    finished = [runs.is_finished(e["run_dir"]) for e in entries]
    assert finished == [True, False, True, True, True, True]
    log = open(entries[0]["log"]).read()
    assert f"===== run 2/3 {blocked_id}: failed: FileExistsError" in log and "1 of 3 runs failed" in log
    rows, page = status_rows(config)
    assert "6 runs in 2 jobs from 1 manifest(s): 5 finished, 0 running, 0 pending, 1 failed" in page
    assert rows[blocked_id][0] == "failed" and rows[blocked_id][1] == "FAILED"
    assert rows[blocked_id][6].startswith("failed: FileExistsError") and "(run 2 of 3 in its job)" in rows[blocked_id][6]
    assert f"Log of {entries[1]['job_name']} ({entries[1]['job_id']}, failed)" in page

    os.remove(blocked)
    proc = run_script(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 skipped: results.json exists" in proc.stdout and "submitted 1 job as 1 array: " in proc.stdout
    again = entries_of(config)[6:]
    assert [e["run_id"] for e in again] == [blocked_id] and "job_runs" not in again[0]
    assert again[0]["job_list"] != entries[0]["job_list"]   # packed anew: a list of that run alone
    assert wait_for_jobs([again[0]["job_id"]], timeout=300) == {again[0]["job_id"]: "COMPLETED"}
    assert runs.read_results(blocked)["run_id"] == blocked_id


def test_a_cancelled_packed_job_resumes_its_interrupted_run_and_skips_the_finished_one(tiny_study, tmp_path):
    """A grid of three tiny fine-tunes in one job: the first (1 epoch) finishes, the second (3
    epochs) stops itself after its first checkpoint (the pause hook, for that run only) and is
    cancelled in that state: Slurm's SIGTERM makes it save a checkpoint, the third never starts.
    The same command then submits the two runs without results as one job: the interrupted one
    resumes from its checkpoint, the third trains, the finished one is not run again."""
    config = tiny_study(languages=1, hyperparameters={"batch_size": 2})  # 20 steps per epoch
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"parameters": {"epochs": [1, 3, 2]},
                                "languages": {"train": "all", "eval": "all"}}))
    args = ["grid-search.py", config, "--grid-config", grid, "--model-type", "normal", "--no-report",
            "--timeout", "10"]
    proc = run_script(*args, "--dry-run")
    assert "runs per job: 24 (auto; 10 per run" in proc.stdout and "3 runs in 1 job in 1 array" in proc.stdout
    (order,) = planned_order(config)
    paused = tmp_path / "paused"
    proc = run_script(*args, env=pausing_env(os.environ, paused, run=order[1]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 3 runs in 1 job as 1 array: " in proc.stdout
    entries = entries_of(config)
    assert [e["run_id"] for e in entries] == order and [e["hyperparameters"]["epochs"] for e in entries] == [1, 3, 2]
    wait_for(lambda: stopped_pid(paused), 180, "the second run stopped after its first checkpoint")
    assert open(paused).read().split()[1] == "20" and runs.is_finished(entries[0]["run_dir"])
    subprocess.run(["scancel", entries[0]["job_id"]], check=True)
    assert wait_for_jobs([entries[0]["job_id"]], timeout=120)[entries[0]["job_id"]] == "CANCELLED"
    log = open(entries[0]["log"]).read()
    assert f"===== run 2/3 {order[1]}: interrupted at step" in log and "1 run(s) after it not started" in log
    assert not runs.is_finished(entries[1]["run_dir"]) and not os.path.exists(entries[2]["run_dir"])
    states = {j.run_id: j for j in job_statuses(entries)}
    assert [states[r].state for r in order] == ["finished", "failed", "failed"]
    assert states[order[1]].detail.startswith("interrupted at step") and "run 2 of 3" in states[order[1]].detail
    assert states[order[2]].detail == "not started: Slurm CANCELLED ended before it (run 3 of 3 in its job)"

    proc = run_script(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped: results.json exists" in proc.stdout and "submitted 2 runs in 1 job as 1 array" in proc.stdout
    again = entries_of(config)[3:]
    assert [e["run_id"] for e in again] == order[1:] and again[0]["job_runs"] == order[1:]
    assert wait_for_jobs([again[0]["job_id"]], timeout=300) == {again[0]["job_id"]: "COMPLETED"}
    assert "resuming from checkpoint" in open(os.path.join(entries[1]["run_dir"], "train.log")).read()
    assert all(runs.is_finished(e["run_dir"]) for e in entries)
    assert order[0] not in open(again[0]["log"]).read()   # the finished run is not in the new job
