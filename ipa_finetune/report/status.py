"""Job status for the report: each manifest entry's run (an array task is one entry, a job of several
runs one entry per run), finished (results.json) or what Slurm says, its elapsed time, with the end
of the log of a job that failed. Once Slurm has forgotten a job (MinJobAge), its log says how it
ended: Slurm's "CANCELLED AT ... DUE TO TIME LIMIT" line, finetune-exp.py's "interrupted at step N",
a traceback. In a job of several runs, each run's own part of the log (runs.run_section) says
whether it waits for its turn, runs, failed or never started, and its end is the tail shown.

    jobs = job_statuses(entries)               # entries: manifest.read_manifest's, latest per run
    jobs = job_statuses(entries, Lookup())     # squeue/sacct asked once for all jobs (ipa_finetune.slurm)
"""
import datetime
import functools
import os
import re
from dataclasses import dataclass

from ..slurm import FORGOTTEN, PENDING_STATES, RUNNING_STATES, hms, job_state
from ..runs import RESULTS_FILE, run_section
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
    slurm_state: str = None  # Slurm's JobState, "TIMEOUT (log)" when only the log tells, or None
    elapsed: str = None      # H:MM:SS from Slurm, results.json (wall_time_seconds) or the log


# How a job ended, from the end of its log, for jobs Slurm no longer knows: (pattern, state, detail).
LOG_ENDINGS = (
    ("DUE TO TIME LIMIT", "TIMEOUT", "the time limit ended it"),
    ("DUE TO PREEMPTION", "PREEMPTED", "preempted"),
    ("interrupted at step", "INTERRUPTED",
     "interrupted by a signal (time limit, preemption or scancel): checkpoint saved, a re-run resumes"),
    ("CANCELLED AT", "CANCELLED", "cancelled"),
    ("oom-kill", "OUT_OF_MEMORY", "out of memory"),
    ("Traceback (most recent call last)", "FAILED", "failed with a Python error"),
    (": error: ", "FAILED", "failed with an error"),
)
ISO_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:?\d\d|Z)?")


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
    shown = _log_end(path)
    return None if shown is None else tuple(shown[-lines:])


def _log_end(path, size=65536):
    """The lines of a log's last `size` bytes, \\r updates collapsed; None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    shown = [ln.rstrip("\r").rsplit("\r", 1)[-1] for ln in text.split("\n")]
    while shown and not shown[-1].strip():
        shown.pop()
    return shown


def log_ending(path):
    """(Slurm-like state, detail) of how a job ended, read from its log (LOG_ENDINGS), or None."""
    text = "\n".join(_log_end(path) or ())
    for pattern, state, detail in LOG_ENDINGS:
        if pattern in text:
            return state, detail
    return None


def log_elapsed(path):
    """From the first ISO-8601 time in a log's first lines (the shipped templates echo the start
    time) to the log's last change; None when the log has no such time."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
        match = ISO_TIME_RE.search(head)
        if not match:
            return None
        start = datetime.datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.astimezone()
        return hms(max(0.0, os.path.getmtime(path) - start.timestamp()))
    except (OSError, ValueError):
        return None


def job_statuses(entries, slurm=job_state, log_lines=15):
    """Status of each manifest entry: finished when its run dir holds a valid results.json;
    otherwise the Slurm state (via `slurm(job_id)`; a slurm.Lookup is asked for all jobs at
    once), or how its log says it ended when Slurm forgot it; with the log's tail for failed and
    unknown jobs, and the elapsed time where Slurm, results.json or the log tell it."""
    if hasattr(slurm, "prefetch"):
        slurm.prefetch([str(e.get("job_id")) for e in entries])
    known = getattr(slurm, "info", {})
    return sorted((_status(e, slurm, known.get(str(e.get("job_id"))), log_lines) for e in entries),
                  key=lambda j: (STATES.index(j.state), j.job_name, j.run_id))


def _status(e, slurm, info, log_lines):
    job_id, name = str(e.get("job_id")), str(e.get("job_name") or "")
    log = str(e.get("log") or "")
    if job_id != "local":
        log = log.replace("%j", job_id)
    log = log.replace("%x", name)
    results = os.path.join(e["run_dir"], RESULTS_FILE)
    slurm_state, elapsed, tail = info and info.state, info and info.elapsed, ()
    if os.path.isfile(results):
        try:
            data = load_run(results).data
            state, detail = "finished", "results.json"
            seconds = data.get("wall_time_seconds")
            if elapsed is None and isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                elapsed = hms(seconds)
        except ResultError as err:
            state, detail = "failed", f"bad results.json: {err}"
    elif e.get("job_runs"):
        state, detail, slurm_state, elapsed, tail = _packed_status(e, job_id, slurm, slurm_state, log, log_lines)
    elif job_id == "local":
        state, detail = "unknown", "no results (local run)"
    else:
        slurm_state = slurm(job_id)
        state, detail = classify_slurm(slurm_state)
        ending = log_ending(log) if state == "unknown" and log else None
        if ending:
            state, slurm_state = "failed", f"{ending[0]} (log)"
            detail = f"no results; Slurm no longer knows the job, its log says: {ending[1]}"
    if state in ("failed", "unknown") and log and not tail:  # the job's log (a run's own part: above)
        tail = log_tail(log, log_lines)
        if tail is None:
            detail, tail = f"{detail}; log not found", ()
    if state == "pending":
        elapsed = None  # not started: squeue's 0:00 says nothing
    elif elapsed is None and log and not e.get("job_runs"):
        elapsed = log_elapsed(log)  # the job's; a run of several has its own or none
    return JobStatus(job_id, name, str(e.get("run_id") or ""), e["run_dir"], str(e.get("script") or ""),
                     log, state, detail, tail, None if slurm_state == FORGOTTEN else slurm_state, elapsed)


def _packed_status(e, job_id, slurm, slurm_state, log, log_lines):
    """(state, detail, Slurm state, elapsed, log tail) of a run without results in a job of several
    runs, from its job's state and its own part of the job's log."""
    rid, order = str(e.get("run_id")), [str(r) for r in e["job_runs"]]
    where = f"run {order.index(rid) + 1} of {len(order)} in its job" if rid in order else "in its job"
    if job_id != "local" and slurm_state is None:
        slurm_state = slurm(job_id)
    said = f"Slurm {slurm_state}" if slurm_state not in (None, FORGOTTEN) else "its job"
    if slurm_state in PENDING_STATES:
        return "pending", f"{said} ({where})", slurm_state, None, ()
    running = slurm_state in RUNNING_STATES
    lines, ending = run_section(_log_lines(log), rid) or ((), None)
    if ending is None:
        if running:
            return "pending", f"{said}: waiting for its turn ({where})", slurm_state, None, ()
        state = "unknown" if slurm_state is None or job_id == "local" else "failed"
        return state, f"not started: {said} ended before it ({where})", slurm_state, None, ()
    if not ending.startswith("started"):  # the run's own last line: failed, interrupted, ...
        return "failed", f"{ending} ({where})", slurm_state, None, tuple(lines[-log_lines:])
    if running:
        started = ISO_TIME_RE.search(lines[0])
        return "running", f"{said}: training ({where})", slurm_state, started and _since(started.group(0)), ()
    how = next(((st, what) for pattern, st, what in LOG_ENDINGS if pattern in "\n".join(lines)), None)
    if how and slurm_state in (None, FORGOTTEN):
        slurm_state = f"{how[0]} (log)"
    detail = f"{said} ended during it" + (f": {how[1]}" if how else "")
    return "failed", f"{detail} ({where})", slurm_state, None, tuple(lines[-log_lines:])


@functools.lru_cache(maxsize=4)
def _read_lines(path, _stamp):
    return tuple(_log_end(path, size=64 << 20) or ())


def _log_lines(path):
    """Every line of a job log (its last 64 MiB, \\r updates collapsed), read once per change."""
    try:
        stat = os.stat(path)
    except (OSError, TypeError, ValueError):
        return ()
    return _read_lines(path, (stat.st_mtime_ns, stat.st_size))


def _since(iso):
    """H:MM:SS from an ISO-8601 time to now."""
    start = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return hms(max(0.0, datetime.datetime.now(datetime.timezone.utc).timestamp() - start.timestamp()))
