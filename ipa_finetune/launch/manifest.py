"""The manifest: one JSON line per submitted job in <output dir>/manifest.jsonl, appended as each job
is accepted. The launchers read it to submit no duplicate; collect-results.py to show job status.

    append_manifest(out, manifest_entry(job, "123", script, out))
    entries, problems = read_manifest(manifest_path(out))   # problems: [(file:line, reason)]
    latest = latest_per_run(entries)                          # {run id: its latest submission}
"""
import datetime
import json
import os

MANIFEST = "manifest.jsonl"


def manifest_path(output_dir):
    return os.path.join(output_dir, MANIFEST)


def log_path(output_dir, name, job_id="%j"):
    """A job's log; `%j` is Slurm's job id (replaced by the real id in the manifest)."""
    return os.path.join(output_dir, "logs", f"{name}-{job_id}.out")


def manifest_entry(job, job_id, script, output_dir):
    """docs/architecture.md's manifest line, plus the run's model type, languages and (grid) the
    hyperparameter override and its config file."""
    entry = {"job_id": job_id, "job_name": job.name, "script": script, "run_id": job.run_id,
             "run_dir": job.run_dir, "log": log_path(output_dir, job.name, job_id),
             "args": list(job.args), "model_type": job.model_type,
             "train_langs": list(job.train_langs), "eval_langs": list(job.eval_langs)}
    if job.hyperparameters is not None:
        entry.update(hyperparameters=job.hyperparameters, temp_config=job.temp_config)
    entry["submitted_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return entry


def append_manifest(output_dir, entry):
    """One JSON line, flushed to disk before the next job is submitted."""
    with open(manifest_path(output_dir), "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_manifest(path):
    """(entries in file order, problems). A line that is not a JSON object with `job_id` and
    `run_dir` (e.g. cut short by an interrupted write) is a problem `(path:line, reason)`, skipped.
    A missing file has no entries."""
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
            if not isinstance(entry, dict) or not entry.get("run_dir") or entry.get("job_id") in (None, ""):
                problems.append((f"{path}:{no}", "expected an object with 'job_id' and 'run_dir'"))
                continue
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


def find_manifests(folder):
    """Every manifest.jsonl under a jobs folder (recursively), sorted."""
    found = []
    for root, subdirs, files in os.walk(folder):
        subdirs.sort()
        if MANIFEST in files:
            found.append(os.path.join(root, MANIFEST))
    return found
