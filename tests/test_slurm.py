"""grid-search.py and finetuning-generator.py as a user runs them: dry runs, checks, the guard, skipping,
submission with a failing sbatch stand-in, --local end to end, and a real local Slurm."""
import json
import os
import subprocess
import time

import pytest

from conftest import CLASSES, one_line_error, require_slurm, run_script, write_overlay, write_study_inputs
from ipa_finetune import runs
from ipa_finetune.cli import PROJECT_ROOT
from ipa_finetune.config.study import load_study
from ipa_finetune.files import write_json_atomic
from ipa_finetune.launch import jobs, launcher, slurm
from ipa_finetune.launch.manifest import manifest_path, read_manifest

STUDY = os.path.join(PROJECT_ROOT, "config", "finetune-rus-pol-sentiment.json")
GRID = os.path.join(PROJECT_ROOT, "config", "grid-search.json")
GEN = os.path.join(PROJECT_ROOT, "finetuning-generator.py")
GRID_SEARCH = os.path.join(PROJECT_ROOT, "grid-search.py")


@pytest.fixture
def study(tmp_path, tiny_assets):
    """The shipped study's config files, with the tiny assets standing in for its inputs."""
    return [STUDY, write_overlay(tmp_path), write_study_inputs(tmp_path, tiny_assets)]


def scripts_in(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(".sh")) if os.path.isdir(folder) else []


def test_grid_dry_run_writes_54_scripts_and_submits_nothing(study, tmp_path):
    out = tmp_path / "out"
    proc = run_script(GRID_SEARCH, *study, "--grid-config", GRID, "--output-dir", out,
               "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "27 permutations x 2 model types" in proc.stdout
    assert f"dry run: 54 job scripts written to {out}" in proc.stdout
    assert len(scripts_in(out)) == 54 and not (out / "manifest.jsonl").exists()
    temp = sorted(os.listdir(tmp_path / "temp configs"))
    assert len(temp) == 27
    assert json.loads((tmp_path / "temp configs" / temp[0]).read_text())["hyperparameters"]["epochs"] == 3
    # the shipped study sets partition/account/mem that the portable template does not use: say so
    assert "does not use slurm.fields account, mem, partition" in proc.stderr


def test_unknown_model_type_is_one_line_error(study, tmp_path):
    proc = run_script(GEN, *study, "--model-type", "ipa", "phonetic", "--dry-run")
    line = one_line_error(proc)
    assert "model type 'phonetic'" in line and "ipa, normal" in line
    assert not (tmp_path / "jobs").exists()


def test_missing_template_fields_listed_before_anything_is_written(study, tmp_path):
    template = tmp_path / "t.sh"
    template.write_text("#!/bin/bash\n#SBATCH -J {job_name} -c {cpus} --gpus={gpus} -t {timeout}\n"
                        "#SBATCH --qos={qos} --reservation={reservation}\n{python} finetune-exp.py {args}\n")
    proc = run_script(GEN, *study, "--template", template, "--dry-run")
    line = one_line_error(proc)
    assert "uses fields with no value: qos, reservation" in line and '"qos": ...' in line
    assert not (tmp_path / "jobs").exists()
    # the grid's own field in the transfer generator
    grid_template = os.path.join(PROJECT_ROOT, "jobs", "templates", "grid-search-fine-tune-template.sh")
    line = one_line_error(run_script(GEN, *study, "--template", grid_template, "--dry-run"))
    assert "temp_config_name is only set by grid-search.py" in line


def test_bad_timeout_and_missing_grid(study, tmp_path):
    line = one_line_error(run_script(GEN, *study, "--timeout", "4h", "--dry-run"))
    assert "--timeout '4h' is not valid" in line
    line = one_line_error(run_script(GRID_SEARCH, *study, "--grid-config", tmp_path / "no.json"))
    assert "no.json" in line and "not found" in line


def test_guard_refuses_many_jobs_without_yes(study, tmp_path):
    proc = run_script(GRID_SEARCH, *study, "--grid-config", GRID, "--local", "--max-jobs", "50")
    line = one_line_error(proc)
    assert "54 jobs to run, more than --max-jobs 50; add --yes" in line
    assert not (tmp_path / "jobs").exists() and not (tmp_path / "temp configs").exists()


def test_no_sbatch_on_path_suggests_local_or_dry_run(study, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # an empty folder: no sbatch
    line = one_line_error(run_script(GEN, *study, env=env))
    assert "sbatch not found on PATH" in line and "--local" in line and "--dry-run" in line
    assert not (tmp_path / "jobs").exists()


def test_finished_runs_are_skipped_unless_force(study, tmp_path):
    files = study
    planned = jobs.plan_transfer_jobs(load_study(files), files, ["ipa"])
    for job in planned[:2]:
        write_json_atomic(runs.results_path(job.run_dir), {"run_id": job.run_id})
    out = tmp_path / "out"
    proc = run_script(GEN, *files, "--model-type", "ipa", "--output-dir", out, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "6 jobs planned; 2 skipped: results.json exists" in proc.stdout
    assert scripts_in(out) == sorted(f"{j.name}.sh" for j in planned[2:])
    proc = run_script(GEN, *files, "--model-type", "ipa", "--output-dir", out, "--dry-run", "--force")
    assert "skipped:" not in proc.stdout and len(scripts_in(out)) == 6
    assert (out / f"{planned[0].name}.sh").read_text().count(" --force ") == 1


# ----------------------------------------------------------------------------- sbatch stand-in

STANDIN_SBATCH = """#!/bin/bash
# sbatch stand-in: job ids 9000001...; call number $FAIL_AT fails like a real sbatch refusal
n=$(( $(cat "$STANDIN/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$STANDIN/count"
if [ "$n" = "${FAIL_AT:-0}" ]; then
  echo "sbatch: error: Batch job submission failed: Requested node configuration is not available" >&2
  exit 1
fi
[ "$1" = "--parsable" ] || exit 9
echo "$2" >> "$STANDIN/submitted"
echo $((9000000 + n))
"""
STANDIN_SQUEUE = """#!/bin/bash
# squeue stand-in: every asked id is PENDING unless $STANDIN/states says otherwise ("ID STATE" lines)
while [ $# -gt 0 ]; do [ "$1" = "-j" ] && ids="$2"; shift; done
IFS=, read -ra arr <<< "$ids"
for i in "${arr[@]}"; do
  s=$(awk -v id="$i" '$1 == id {print $2}' "$STANDIN/states" 2>/dev/null)
  echo "$i|${s:-PENDING}"
done
"""


@pytest.fixture
def standin(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, text in (("sbatch", STANDIN_SBATCH), ("squeue", STANDIN_SQUEUE)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}", STANDIN=str(folder))


def manifest(out):
    return read_manifest(manifest_path(str(out)))[0]


def test_sbatch_failing_part_way_then_rerun_submits_only_the_rest(study, tmp_path, standin):
    out = tmp_path / "out"
    args = [GEN, *study, "--model-type", "ipa", "--output-dir", out]
    line = one_line_error(run_script(*args, env=dict(standin, FAIL_AT="3")))
    assert "sbatch refused job 3 of 6" in line
    assert "Requested node configuration is not available" in line  # sbatch's own message
    assert "2 submitted before it (ids 9000001-9000002" in line and "the 4 left" in line
    first = manifest(out)
    assert [e["job_id"] for e in first] == ["9000001", "9000002"]
    entry = first[0]
    assert set(entry) >= {"job_id", "job_name", "script", "run_id", "run_dir", "log", "args", "submitted_at"}
    assert entry["log"] == str(out / "logs" / f"{entry['job_name']}-9000001.out")
    assert os.path.isfile(entry["script"]) and entry["args"][-1] == "russian"

    proc = run_script(*args, env=standin)  # sbatch works again; the first two are still PENDING
    assert proc.returncode == 0, proc.stderr
    assert "2 skipped: already queued or running" in proc.stdout and "submitted 4 jobs" in proc.stdout
    names = [e["job_name"] for e in manifest(out)]
    assert len(names) == 6 == len(set(names))

    proc = run_script(*args, env=standin)  # all six queued: nothing to do
    assert "6 skipped: already queued or running" in proc.stdout and "nothing to do" in proc.stdout
    assert len(manifest(out)) == 6

    # a job that FAILED without results.json is submitted again; a COMPLETED one with results is not
    done = manifest(out)[1]
    write_json_atomic(runs.results_path(done["run_dir"]), {"run_id": done["run_id"]})
    (tmp_path / "bin" / "states").write_text("9000001 FAILED\n9000002 COMPLETED\n")
    proc = run_script(*args, env=standin)
    assert proc.returncode == 0, proc.stderr
    assert "1 skipped: results.json exists" in proc.stdout and "submitted 1 jobs" in proc.stdout
    assert manifest(out)[-1]["run_id"] == manifest(out)[0]["run_id"]


def test_guard_with_yes_submits_all(study, tmp_path, standin):
    out = tmp_path / "out"
    proc = run_script(GRID_SEARCH, *study, "--grid-config", GRID, "--output-dir", out,
               "--max-jobs", "10", "--yes", env=standin)
    assert proc.returncode == 0, proc.stderr
    assert "submitted 54 jobs (ids 9000001-9000054)" in proc.stdout
    assert len(manifest(out)) == 54


def test_classify_submitted_rules():
    job = lambda rid: jobs.Job(rid, "ipa", ("a",), ("a",), rid, "/r/" + rid, ())  # noqa: E731
    a, b, c, d = job("a"), job("b"), job("c"), job("d")
    entries = [{"job_id": "1", "run_id": "a"}, {"job_id": "2", "run_id": "b"},
               {"job_id": "3", "run_id": "b"}, {"job_id": "local", "run_id": "c"}]
    states = slurm.parse_squeue("1|RUNNING\n3|TIMEOUT\n")
    assert states == {"1": "RUNNING", "3": "TIMEOUT"}
    # a: running -> skip; b: its latest job timed out -> resubmit; c: local runs never block; d: new
    assert launcher.classify_submitted([a, b, c, d], entries, states) == ([b, c, d], [a], [])
    # a job Slurm forgot (absent) ended long ago -> resubmit; squeue unavailable -> do not resubmit
    assert launcher.classify_submitted([a], entries, {}) == ([a], [], [])
    assert launcher.classify_submitted([a, d], entries, None) == ([d], [], [a])


# ----------------------------------------------------------------------------- running jobs for real

def test_local_runs_every_job_reports_failures_and_continues(study, tmp_path):
    """--local with a stand-in template (no training): every job runs, with SLURM_CPUS_PER_TASK set
    from --cpus (capped at this machine's cores); a failing job is reported with its log and the others still run."""
    template = tmp_path / "t.sh"
    template.write_text("#!/bin/bash\n#SBATCH -J {job_name} -c {cpus} --gpus={gpus} -t {timeout}\n"
                        'echo "cpus=$SLURM_CPUS_PER_TASK" {args}\n[ {model_type} = ipa ] && exit 3\nexit 0\n')
    out = tmp_path / "out"
    proc = run_script(GEN, *study, "--template", template, "--output-dir", out, "--local",
               "--cpus", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "6 of 12 local jobs succeeded" in proc.stdout
    failed = [line for line in proc.stderr.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 6 and all("-ipa-" in line and "(exit 3)" in line for line in failed)
    entries = manifest(out)
    assert len(entries) == 12 and {e["job_id"] for e in entries} == {"local"}
    log = entries[0]["log"]
    assert log.endswith("-local.out") and failed[0].endswith(manifest(out)[6]["log"])
    with open(log) as f:
        assert f.read().startswith("cpus=1 ")
    # the study asks for 8 CPUs per job; here a job gets at most the machine's cores
    proc = run_script(GEN, *study, "--template", template, "--output-dir", tmp_path / "o2",
               "--local", "--model-type", "normal")
    cores = min(8, len(os.sched_getaffinity(0)))
    with open(manifest(tmp_path / "o2")[0]["log"]) as f:
        assert proc.returncode == 0 and f.read().startswith(f"cpus={cores} ")


def test_local_grid_end_to_end(tiny_study, tmp_path):
    """Two real tiny fine-tunes of a grid, run here: results land where the planner said."""
    config = tiny_study(languages=2, epochs=1)
    grid = tmp_path / "grid.json"
    grid.write_text('{"parameters": {"learning_rate": [3e-3, 1e-3], "epochs": 1}, '
                    '"languages": {"train": "alpha", "eval": "all"}}')
    args = [GRID_SEARCH, config, "--grid-config", grid, "--model-type", "normal", "--local"]
    proc = run_script(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "2 of 2 local jobs succeeded" in proc.stdout
    entries = manifest(tmp_path / "jobs" / "tiny")
    assert len(entries) == 2
    for entry, lr in zip(entries, (3e-3, 1e-3)):
        result = runs.read_results(entry["run_dir"])
        assert result["run_id"] == entry["run_id"]
        assert result["hyperparameters"]["learning_rate"] == lr == entry["hyperparameters"]["learning_rate"]
        assert result["train_langs"] == ["alpha"] and result["eval_langs"] == ["alpha", "beta"]
        assert os.path.getsize(entry["log"]) > 0
    proc = run_script(*args)  # again: both finished, nothing runs
    assert "2 skipped: results.json exists" in proc.stdout and "nothing to do" in proc.stdout


def test_real_slurm_runs_a_generated_study(tiny_study):
    """A generated tiny study through the real sbatch of a local Slurm: a one-language transfer matrix
    (A->A) for both model types, 2 jobs side by side; each must end COMPLETED with its results.json.
    (The six-job matrix of two languages is checked without training above.)"""
    require_slurm()
    config = tiny_study(languages=1, epochs=1)
    out = os.path.join(os.path.dirname(config), "jobs", "tiny")
    proc = run_script(GEN, config, "--timeout", "10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 2 jobs" in proc.stdout
    entries = manifest(out)
    assert [e["model_type"] for e in entries] == ["normal", "ipa"]
    deadline = time.time() + 300
    states = {}
    try:
        while time.time() < deadline:
            states = {e["job_id"]: slurm.job_state(e["job_id"]) for e in entries}
            if all(s not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING") for s in states.values()):
                break
            time.sleep(0.5)
    finally:  # never leave this test's jobs behind
        subprocess.run(["scancel", *(e["job_id"] for e in entries)], capture_output=True)
    for entry in entries:
        log = open(entry["log"]).read() if os.path.isfile(entry["log"]) else "(no log)"
        assert states[entry["job_id"]] == "COMPLETED", f"{entry['job_name']}: {states}\n{log[-3000:]}"
        assert runs.read_results(entry["run_dir"])["run_id"] == entry["run_id"], log[-3000:]
        assert log.startswith(f"job {entry['job_id']} ({entry['job_name']})")
    # a re-run submits nothing: every run has its results
    proc = run_script(GEN, config)
    assert "2 skipped: results.json exists" in proc.stdout and "nothing to do" in proc.stdout


def test_cross_lingual_jobs_with_different_class_counts_fail_before_anything_is_written(tmp_path,
                                                                                      tiny_assets):
    four = {"classes": 4, "label_names": list(CLASSES) + ["mixed"]}
    files = [STUDY, write_overlay(tmp_path), write_study_inputs(tmp_path, tiny_assets, polemo2=four)]
    line = one_line_error(run_script(GEN, *files, "--dry-run"))  # 4 joint jobs, one problem
    assert "share one classifier" in line
    assert "polish.sentiment.polemo2.classes = 4" in line and "russian.sentiment.rusentiment.classes = 3" in line
    assert not (tmp_path / "jobs").exists()
