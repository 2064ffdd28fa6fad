"""The manifest: one JSON line per submitted job in <output dir>/manifest.jsonl, appended as each job
is accepted. The launchers read it to submit no duplicate; collect-results.py to show job status.

    append_manifest(out, manifest_entry(job, "123", script, out))
    entries, problems = read_manifest(manifest_path(out))   # problems: [(file:line, reason)]
    latest = latest_per_run(entries)                          # {run id: its latest submission}

A job that ran as task i of Slurm array A has `job_id` "A_i", plus `array_job_id` "A", `array_index`
i and `job_list` (array_task_entry). A job of several runs (launch/packing.py) has one line per run,
each with the job's id, name, script and log and `job_runs`, the run ids of the job in the order it
trains them. The report job of a launch is a line with `"kind": "report"` (report_entry);
read_manifest returns the runs' lines unless asked for that kind.
"""
import datetime
import json
import os

MANIFEST = "manifest.jsonl"


def study_jobs_dir(cfg):
    """Where a study's job scripts, logs and manifest go without --output-dir: jobs_dir/<study>."""
    return os.path.join(cfg["paths"]["jobs_dir"], cfg["study"])


def manifest_path(output_dir):
    return os.path.join(output_dir, MANIFEST)


def log_path(output_dir, name, job_id="%j"):
    """A job's log; `%j` is Slurm's job id (replaced by the real id in the manifest)."""
    return os.path.join(output_dir, "logs", f"{name}-{job_id}.out")


def manifest_entry(job, job_id, script, output_dir, pack=None):
    """docs/slurm.md's manifest line of run `job` (a launch.jobs.Job), plus its model type, languages
    and (grid) the hyperparameter override and its config file; `pack`: the Slurm job it runs in
    (launch.packing.Pack, with its name and runs), when that is not the run alone."""
    name = pack.name if pack is not None else job.name
    entry = {"job_id": job_id, "job_name": name, "script": script, "run_id": job.run_id,
             "run_dir": job.run_dir, "log": log_path(output_dir, name, job_id),
             "args": list(job.args), "model_type": job.model_type,
             "train_langs": list(job.train_langs), "eval_langs": list(job.eval_langs)}
    if job.hyperparameters is not None:
        entry.update(hyperparameters=job.hyperparameters, temp_config=job.temp_config)
    if pack is not None and len(pack.runs) > 1:
        entry["job_runs"] = [run.run_id for run in pack.runs]
    entry["submitted_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return entry


def array_task_entry(job, array_job_id, index, script, job_list, log, pack=None):
    """The manifest line of run `job` that runs in task `index` of Slurm array `array_job_id`."""
    entry = manifest_entry(job, f"{array_job_id}_{index}", script, os.path.dirname(script), pack)
    submitted_at = entry.pop("submitted_at")
    entry.update(log=log, array_job_id=str(array_job_id), array_index=index, job_list=job_list,
                 submitted_at=submitted_at)
    return entry


def report_entry(job_id, job_name, script, log, depends_on, report):
    """The manifest line of a launch's report job (not a run: status and re-runs skip it)."""
    return {"kind": "report", "job_id": str(job_id), "job_name": job_name, "script": script,
            "log": log, "depends_on": list(depends_on), "report": report,
            "submitted_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def append_manifest(output_dir, *entries):
    """One JSON line per entry, flushed to disk (once) before the next sbatch."""
    with open(manifest_path(output_dir), "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries))
        f.flush()
        os.fsync(f.fileno())


def read_manifest(path, kind="run"):
    """(entries of `kind` in file order, problems). A run's line must be a JSON object with
    `job_id` and `run_dir`; a line that is not (e.g. cut short by an interrupted write) is a problem
    `(path:line, reason)`, skipped. kind="report": the report jobs' lines. A missing file has no
    entries."""
    entries, problems = [], []
    if not os.path.isfile(path):
        return entries, problems
    with open(path, encoding="utf-8", errors="replace") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append((f"{path}:{no}", f"not valid JSON ({err.msg})"))
                continue
            if isinstance(entry, dict) and entry.get("kind", "run") != "run":
                if entry["kind"] == kind:
                    entries.append(entry)
                continue
            if not isinstance(entry, dict) or not entry.get("run_dir") or entry.get("job_id") in (None, ""):
                problems.append((f"{path}:{no}", "expected an object with 'job_id' and 'run_dir'"))
                continue
            if kind == "run":
                entries.append(entry)
    return entries, problems


def latest_per_run(entries):
    """{run id (or run dir): its latest entry}, by submitted_at; a tie goes to the later line."""
    latest = {}
    for entry in entries:
        key = entry.get("run_id") or os.path.realpath(entry["run_dir"])
        if key not in latest or str(entry.get("submitted_at") or "") >= str(
                latest[key].get("submitted_at") or ""):
            latest[key] = entry
    return latest
