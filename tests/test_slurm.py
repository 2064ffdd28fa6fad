"""grid-search.py and finetuning-generator.py as a user runs them: dry runs, checks, the guard, skipping,
submission with a failing sbatch stand-in, --local end to end, and a real local Slurm."""
import json
import os

import pytest

from conftest import (CLASSES, one_line_error, require_slurm, run_script, slurm_job, wait_for_jobs,
                      write_overlay, write_study_inputs)
from ipa_finetune import runs
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.config.study import load_study
from ipa_finetune.files import write_json_atomic
from ipa_finetune import slurm
from ipa_finetune.launch import jobs, launcher
from ipa_finetune.manifest import manifest_path, read_manifest

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


def test_grid_dry_run_writes_one_array_and_submits_nothing(study, tmp_path):
    out = tmp_path / "out"
    args = [GRID_SEARCH, *study, "--grid-config", GRID, "--output-dir", out, "--dry-run"]
    proc = run_script(*args, "--array-limit", "5")
    assert proc.returncode == 0, proc.stderr
    assert "27 permutations x 2 model types" in proc.stdout
    assert "dry run: 54 jobs in 1 array: rus-pol-sentiment-grid-" in proc.stdout
    assert f"(--array=0-53%5), each with its .jobs list, written to {out}" in proc.stdout
    scripts = scripts_in(out)
    assert len(scripts) == 2 and "rus-pol-sentiment-report.sh" in scripts and not (out / "manifest.jsonl").exists()
    (job_list,) = [p for p in os.listdir(out) if p.endswith(".jobs")]
    assert len((out / job_list).read_text().splitlines()) == 54
    array_script = (out / job_list.replace(".jobs", ".sh")).read_text()
    # the shipped study's slurm.options become #SBATCH lines of the shipped template
    assert "#SBATCH --partition=gpu\n#SBATCH --account=ipa-gpt\n#SBATCH --mem=32G\n" in array_script
    temp = sorted(os.listdir(tmp_path / "temp configs"))
    assert len(temp) == 27
    assert json.loads((tmp_path / "temp configs" / temp[0]).read_text())["hyperparameters"]["epochs"] == 3
    proc = run_script(*args[:-2], tmp_path / "single", "--dry-run", "--no-array", "--no-report")
    assert f"dry run: 54 job scripts written to {tmp_path / 'single'}" in proc.stdout
    assert len(scripts_in(tmp_path / "single")) == 54


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
    assert "54 runs to train here, more than --max-jobs 50; add --yes" in line
    assert not (tmp_path / "jobs").exists() and not (tmp_path / "temp configs").exists()


def test_runs_per_job_below_one_is_one_line_and_nothing_is_written(study, tmp_path):
    zero = write_overlay(tmp_path, "zero.json", slurm={"runs_per_job": 0})
    line = one_line_error(run_script(GEN, *study, zero, "--dry-run"))
    assert line.endswith('zero.json: slurm.runs_per_job = 0 is not valid; expected "auto" or an integer >= 1'), line
    line = one_line_error(run_script(GEN, *study, "--runs-per-job", "-2", "--dry-run"))
    assert "argument --runs-per-job: expected \"auto\" or a whole number >= 1, got '-2'" in line
    assert not (tmp_path / "jobs").exists()


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
    assert "6 runs planned; 2 skipped: results.json exists" in proc.stdout
    assert [line.split()[0] for line in job_lists(out)[0]] == [j.run_id for j in planned[2:]]
    proc = run_script(GEN, *files, "--model-type", "ipa", "--output-dir", out, "--dry-run", "--force")
    assert "skipped:" not in proc.stdout
    forced = [lines for lines in job_lists(out) if len(lines) == 6]
    assert len(forced) == 1 and all(line.endswith(" --force") for line in forced[0])
    proc = run_script(GEN, *files, "--model-type", "ipa", "--output-dir", out / "single", "--dry-run",
                      "--no-array", "--no-report")
    assert scripts_in(out / "single") == sorted(f"{j.name}.sh" for j in planned[2:])


def job_lists(folder):
    """The lines of each job list in a folder."""
    return [(folder / p).read_text().splitlines() for p in sorted(os.listdir(folder)) if p.endswith(".jobs")]


# ----------------------------------------------------------------------------- sbatch stand-in

STANDIN_SBATCH = """#!/bin/bash
# sbatch stand-in: job ids 9000001...; call number $FAIL_AT fails like a real sbatch refusal. Each call's
# arguments go to $STANDIN/submitted (one line); each job, or each task of --array=SPEC, is queued as
# PENDING in $STANDIN/states ("ID STATE" lines; a later line for an id wins).
n=$(( $(cat "$STANDIN/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$STANDIN/count"
if [ "$n" = "${FAIL_AT:-0}" ]; then
  echo "sbatch: error: Batch job submission failed: Requested node configuration is not available" >&2
  exit 1
fi
[ "$1" = "--parsable" ] || exit 9
echo "${@:2}" >> "$STANDIN/submitted"
id=$((9000000 + n)) spec=""
for a in "$@"; do case "$a" in --array=*) spec="${a#--array=}"; spec="${spec%%%*}" ;; esac; done
if [ -z "$spec" ]; then echo "$id PENDING" >> "$STANDIN/states"; fi
IFS=, read -ra parts <<< "$spec"
for p in "${parts[@]}"; do
  for ((i = ${p%-*}; i <= ${p#*-}; i++)); do echo "${id}_$i PENDING" >> "$STANDIN/states"; done
done
echo "$id"
"""
STANDIN_SQUEUE = """#!/bin/bash
# squeue -r stand-in: every job and array task of the asked ids, with its latest state in $STANDIN/states
while [ $# -gt 0 ]; do [ "$1" = "-j" ] && ids="$2"; shift; done
awk -v ids="$ids" 'BEGIN {n = split(ids, a, ","); for (k = 1; k <= n; k++) asked[a[k]] = 1}
  {split($1, b, "_"); if (b[1] in asked) {if (!($1 in state)) order[++m] = $1; state[$1] = $2}}
  END {for (k = 1; k <= m; k++) print order[k] "|" state[order[k]] "|0:00"}' "$STANDIN/states" 2>/dev/null
exit 0
"""
STANDIN_SCONTROL = """#!/bin/bash
# scontrol stand-in: `scontrol show config` says MaxArraySize=$MAX_ARRAY_SIZE (default 1001)
[ "$1 $2" = "show config" ] && echo "MaxArraySize            = ${MAX_ARRAY_SIZE:-1001}" && exit 0
exit 1
"""


@pytest.fixture
def standin(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, text in (("sbatch", STANDIN_SBATCH), ("squeue", STANDIN_SQUEUE),
                       ("scontrol", STANDIN_SCONTROL)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}", STANDIN=str(folder))


def manifest(out):
    return read_manifest(manifest_path(str(out)))[0]


def test_sbatch_failing_part_way_then_rerun_submits_only_the_rest(study, tmp_path, standin):
    """--no-array: one sbatch per job (the report job is tested with arrays below)."""
    out = tmp_path / "out"
    args = [GEN, *study, "--model-type", "ipa", "--output-dir", out, "--no-array",
            "--no-report"]
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
    with open(tmp_path / "bin" / "states", "a") as f:
        f.write("9000001 FAILED\n9000002 COMPLETED\n")
    proc = run_script(*args, env=standin)
    assert proc.returncode == 0, proc.stderr
    assert "1 skipped: results.json exists" in proc.stdout and "submitted 1 job " in proc.stdout
    assert manifest(out)[-1]["run_id"] == manifest(out)[0]["run_id"]


def test_arrays_split_fail_part_way_and_a_rerun_resubmits_only_the_lost_tasks(study, tmp_path, standin):
    """MaxArraySize 5 (the stand-in scontrol): 12 jobs go out as arrays of 4; sbatch refusing the
    second stops with what was submitted; a re-run submits the rest and the report job; a task that
    failed or was cancelled goes out again as its index of the same job list."""
    out = tmp_path / "out"
    args = [GEN, *study, "--output-dir", out, "--array-limit", "3"]
    env = dict(standin, MAX_ARRAY_SIZE="5")
    line = one_line_error(run_script(*args, env=dict(env, FAIL_AT="2")))
    assert "sbatch refused array 2 of 3" in line and "Requested node configuration" in line
    assert "1 array(s) with 4 jobs submitted before it (ids 9000001" in line and "the 8 jobs left" in line
    first = manifest(out)
    assert [e["job_id"] for e in first] == [f"9000001_{i}" for i in range(4)]
    assert {e["array_job_id"] for e in first} == {"9000001"} and [e["array_index"] for e in first] == [0, 1, 2, 3]
    assert first[0]["log"] == str(out / "logs" / "rus-pol-sentiment-transfer-9000001_0.out")
    job_list = first[0]["job_list"]
    assert job_list.endswith(".jobs") and first[0]["script"] == job_list[:-len(".jobs")] + ".sh"
    calls = (tmp_path / "bin" / "submitted").read_text().splitlines()
    assert calls == [f"--array=0-3%3 {first[0]['script']}"]

    proc = run_script(*args, env=env)  # the first array's 4 tasks are queued: the other 8 go out
    assert proc.returncode == 0, proc.stderr
    assert "4 skipped: already queued or running" in proc.stdout
    assert "submitted 8 jobs as 2 arrays: " in proc.stdout and "(array job ids 9000003, 9000004)" in proc.stdout
    assert f"the report will be written to {tmp_path / 'results' / 'rus-pol-sentiment' / 'report' / 'report.md'}" \
        in proc.stdout
    calls = (tmp_path / "bin" / "submitted").read_text().splitlines()
    assert calls[-1].startswith("--job-name=rus-pol-sentiment-report --dependency=afterany:9000003:9000004:"
                                "9000001_0:9000001_1:9000001_2:9000001_3 --ntasks=1 --cpus-per-task=1 ")
    assert "--partition=gpu --account=ipa-gpt" in calls[-1] and "--mem=32G" not in calls[-1]
    (report,) = read_manifest(manifest_path(str(out)), kind="report")[0]
    assert report["job_id"] == "9000005" and report["log"].endswith("rus-pol-sentiment-report-9000005.out")
    assert len(manifest(out)) == 12  # the report job is no run

    # task 0 finished, task 1 failed, task 3 was cancelled, task 2 still runs: indices 1 and 3 of the
    # same job list go out again as one array
    write_json_atomic(runs.results_path(first[0]["run_dir"]), {"run_id": first[0]["run_id"]})
    with open(tmp_path / "bin" / "states", "a") as f:
        f.write("9000001_0 COMPLETED\n9000001_1 FAILED\n9000001_2 RUNNING\n9000001_3 CANCELLED\n")
    proc = run_script(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "1 skipped: results.json exists" in proc.stdout and "9 skipped: already queued" in proc.stdout
    assert f"submitted 2 jobs as 1 array: {os.path.basename(first[0]['script'])} (--array=1,3%3)" in proc.stdout
    calls = (tmp_path / "bin" / "submitted").read_text().splitlines()
    assert calls[-2] == f"--array=1,3%3 {first[0]['script']}"
    again = manifest(out)[-2:]
    assert [(e["job_id"], e["job_list"], e["run_id"]) for e in again] == [
        ("9000006_1", job_list, first[1]["run_id"]), ("9000006_3", job_list, first[3]["run_id"])]
    assert (out / os.path.basename(job_list)).read_text().count("\n") == 4  # the list is unchanged


def test_guard_with_yes_submits_all(study, tmp_path, standin):
    out = tmp_path / "out"
    proc = run_script(GRID_SEARCH, *study, "--grid-config", GRID, "--output-dir", out,
               "--max-jobs", "10", "--yes", "--no-array", "--no-report", env=standin)
    assert proc.returncode == 0, proc.stderr
    assert "submitted 54 jobs (ids 9000001-9000054)" in proc.stdout
    assert len(manifest(out)) == 54


def test_classify_submitted_rules():
    job = lambda rid: jobs.Job(rid, "ipa", ("a",), ("a",), rid, "/r/" + rid, ())  # noqa: E731
    a, b, c, d = job("a"), job("b"), job("c"), job("d")
    entries = [{"job_id": "1", "run_id": "a"}, {"job_id": "2", "run_id": "b"},
               {"job_id": "3", "run_id": "b"}, {"job_id": "local", "run_id": "c"}]
    states = {k: v.state for k, v in slurm.parse_squeue("1|RUNNING|0:03\n3|TIMEOUT\n").items()}
    assert states == {"1": "RUNNING", "3": "TIMEOUT"}
    # a: running -> skip; b: its latest job timed out -> resubmit; c: local runs never block; d: new
    assert launcher.classify_submitted([a, b, c, d], entries, states) == ([b, c, d], [a], [])
    # a job Slurm forgot (absent) ended long ago -> resubmit; squeue unavailable -> do not resubmit
    assert launcher.classify_submitted([a], entries, {}) == ([a], [], [])
    assert launcher.classify_submitted([a, d], entries, None) == ([d], [], [a])


# ----------------------------------------------------------------------------- running jobs for real

def test_local_runs_every_job_reports_failures_and_continues(study, tmp_path):
    """--local with a stand-in array template (no training): every job runs as its array task, with
    SLURM_CPUS_PER_TASK set from --cpus (capped at this machine's cores); a failing job is reported
    with its log and the others still run."""
    template = tmp_path / "t.sh"
    template.write_text("#!/bin/bash\n#SBATCH -J {job_name} -c {cpus} --gpus={gpus} -t {timeout}\n"
                        "{sbatch_options}\n{array}\n{array_task}\n"
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
        lines = f.read().splitlines()
    assert lines[0].startswith("array task local_0: line 1 of ") and lines[1].startswith("cpus=1 ")
    assert lines[1].endswith(" --eval-langs russian")  # the task's own arguments
    # the study asks for 8 CPUs per job; here a job gets at most the machine's cores
    proc = run_script(GEN, *study, "--template", template, "--output-dir", tmp_path / "o2",
               "--local", "--model-type", "normal")
    cores = min(8, len(os.sched_getaffinity(0)))
    with open(manifest(tmp_path / "o2")[0]["log"]) as f:
        assert proc.returncode == 0 and f"\ncpus={cores} " in f.read()


def test_templates_of_the_old_contract_run_with_no_array(study, tmp_path):
    """A template without the new fields: one clear error for arrays, or for slurm.options it would
    drop; with --no-array and no options it runs as before."""
    template = tmp_path / "old.sh"
    template.write_text("#!/bin/bash\n#SBATCH -J {job_name} -c {cpus} --gpus={gpus} -t {timeout}\n"
                        'echo {args}\n')
    no_options = write_overlay(tmp_path, "no-options.json",
                               slurm={"options": {"partition": None, "account": None, "mem": None}})
    args = [GEN, *study, no_options, "--template", template, "--output-dir", tmp_path / "out", "--local"]
    line = one_line_error(run_script(*args))
    assert "cannot run as a job array: it lacks {array} and {array_task}" in line and "--no-array" in line
    line = one_line_error(run_script(*[a for a in args if a != no_options], "--no-array"))
    assert "has no {sbatch_options} field, so the config's slurm.options (partition, account, mem)" in line
    with_field = write_overlay(tmp_path, "field.json", slurm={"fields": {"qos": "high"}})
    line = one_line_error(run_script(*args[:5], with_field, *args[5:], "--no-array"))
    assert f"the template {template} does not use slurm.fields qos: use slurm.options" in line
    assert not (tmp_path / "out").exists()
    proc = run_script(*args, "--no-array", "--model-type", "ipa")
    assert proc.returncode == 0 and "6 of 6 local jobs succeeded" in proc.stdout, proc.stderr


@pytest.mark.slow
def test_local_grid_end_to_end(tiny_study, tmp_path):
    """Two real tiny fine-tunes of a grid, run here in one job (10-minute runs: runs_per_job "auto"
    packs them): results land where the planner said."""
    config = tiny_study(languages=2, epochs=1)
    grid = tmp_path / "grid.json"
    grid.write_text('{"parameters": {"learning_rate": [3e-3, 1e-3], "epochs": 1}, '
                    '"languages": {"train": "alpha", "eval": "all"}}')
    args = [GRID_SEARCH, config, "--grid-config", grid, "--model-type", "normal", "--local"]
    proc = run_script(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "1 of 1 local jobs succeeded; 2 of their 2 runs have results" in proc.stdout
    entries = manifest(tmp_path / "jobs" / "tiny")
    assert len(entries) == 2 and entries[0]["log"] == entries[1]["log"]
    for entry, lr in zip(entries, (3e-3, 1e-3)):
        result = runs.read_results(entry["run_dir"])
        assert result["run_id"] == entry["run_id"]
        assert result["hyperparameters"]["learning_rate"] == lr == entry["hyperparameters"]["learning_rate"]
        assert result["train_langs"] == ["alpha"] and result["eval_langs"] == ["alpha", "beta"]
        assert os.path.getsize(entry["log"]) > 0
    proc = run_script(*args)  # again: both finished, nothing runs
    assert "2 skipped: results.json exists" in proc.stdout and "nothing to do" in proc.stdout


@pytest.mark.slow
@pytest.mark.slurm
def test_real_slurm_runs_a_generated_study(tiny_study):
    """A generated tiny study through the real sbatch of a local Slurm: a one-language transfer matrix
    (A->A) for both model types, packed into one job (10-minute runs, runs_per_job "auto") of a job
    array; it must end COMPLETED with both results.json; then the report job, which Slurm starts only
    after it, writes the report. (The six-job matrix of two languages is checked without training
    above; packed jobs that fail or are cancelled: test_slurm_packing.py.)"""
    require_slurm()
    config = tiny_study(languages=1, epochs=1)
    folder = os.path.dirname(config)
    out = os.path.join(folder, "jobs", "tiny")
    proc = run_script(GEN, config, "--timeout", "10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 2 runs in 1 job as 1 array: tiny-transfer-" in proc.stdout
    report_md = os.path.join(folder, "results", "tiny", "report", "report.md")
    assert f"the report will be written to {report_md} when the jobs end (report job " in proc.stdout
    entries = manifest(out)
    assert [e["model_type"] for e in entries] == ["normal", "ipa"]
    (report,) = read_manifest(manifest_path(out), kind="report")[0]
    states = wait_for_jobs([e["job_id"] for e in entries] + [report["job_id"]], timeout=300)
    for entry in entries:
        log = open(entry["log"]).read() if os.path.isfile(entry["log"]) else "(no log)"
        assert states[entry["job_id"]] == "COMPLETED", f"{entry['job_name']}: {states}\n{log[-3000:]}"
        assert runs.read_results(entry["run_dir"])["run_id"] == entry["run_id"], log[-3000:]
        assert log.startswith(f"array task {entry['job_id']}: line {entry['array_index'] + 1} of ")
    report_log = open(report["log"]).read() if os.path.isfile(report["log"]) else "(no log)"
    assert states[report["job_id"]] == "COMPLETED", report_log[-3000:]
    started = slurm_job(report["job_id"])["StartTime"]
    assert all(slurm_job(e["job_id"])["EndTime"] <= started for e in entries)  # ISO times sort
    text = open(report_md).read()
    assert "2 runs in 1 job from 1 manifest(s): 2 finished, 0 running" in text and "### normal" in text
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
