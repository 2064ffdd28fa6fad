"""Job status for the report: each manifest entry's run, finished (results.json) or what Slurm says,
with the end of the log of a job that failed.

    jobs = job_statuses(entries)     # entries: launch.manifest.read_manifest's, latest per run
"""
import os
from dataclasses import dataclass

from ..launch.slurm import FORGOTTEN, PENDING_STATES, RUNNING_STATES, job_state
from ..runs import RESULTS_FILE
from .collect import ResultError, load_run

STATES = ("finished", "running", "pending", "failed", "unknown")  # report order


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    job_name: str
    run_id: str
    run_dir: str
    script: str
    log: str                 # with %j / %x filled in
    state: str               # one of STATES
    detail: str              # e.g. "Slurm TIMEOUT", "no results (state unknown)"
    log_tail: tuple = ()     # last lines of the log, for failed and unknown jobs


def classify_slurm(state):
    """(status, detail) for a job without results, from its Slurm JobState (or None)."""
    if state is None:
        return "unknown", "no results (state unknown)"
    if state in PENDING_STATES:
        return "pending", f"Slurm {state}"
    if state in RUNNING_STATES:
        return "running", f"Slurm {state}"
    if state == FORGOTTEN:
        return "unknown", "no results; job not known to Slurm (finished long ago?)"
    if state == "COMPLETED":
        return "failed", "Slurm COMPLETED but no results.json"
    return "failed", f"Slurm {state}"


def log_tail(path, lines=15):
    """The last lines of a log as a terminal shows them (tqdm's \\r updates collapsed); None if the
    log cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    shown = [ln.rstrip("\r").rsplit("\r", 1)[-1] for ln in text.split("\n")]
    while shown and not shown[-1].strip():
        shown.pop()
    return tuple(shown[-lines:])


def job_statuses(entries, slurm=job_state, log_lines=15):
    """Status of each manifest entry: finished when its run dir holds a valid results.json;
    otherwise the Slurm state (via `slurm(job_id)`), with the log's tail for failed/unknown jobs."""
    out = []
    for e in entries:
        job_id, name = str(e.get("job_id")), str(e.get("job_name") or "")
        log = str(e.get("log") or "")
        if job_id != "local":
            log = log.replace("%j", job_id)
        log = log.replace("%x", name)
        results = os.path.join(e["run_dir"], RESULTS_FILE)
        tail = ()
        if os.path.isfile(results):
            try:
                load_run(results)
                state, detail = "finished", "results.json"
            except ResultError as err:
                state, detail = "failed", f"bad results.json: {err}"
        elif job_id == "local":
            state, detail = "unknown", "no results (local run)"
        else:
            state, detail = classify_slurm(slurm(job_id))
        if state in ("failed", "unknown") and log:
            tail = log_tail(log, log_lines)
            if tail is None:
                detail, tail = f"{detail}; log not found", ()
        out.append(JobStatus(job_id, name, str(e.get("run_id") or ""), e["run_dir"],
                             str(e.get("script") or ""), log, state, detail, tail))
    return sorted(out, key=lambda j: (STATES.index(j.state), j.job_name, j.run_id))
