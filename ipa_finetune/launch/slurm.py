"""Talking to Slurm: the one call to sbatch, job states from squeue and scontrol, and one table of
what those states mean.

    job_id = sbatch("jobs/generated/demo/x.sh")
    queue_states(["12", "13"])   # {"12": "RUNNING"}: ids squeue still knows; None if it cannot tell
    job_state("12")              # "COMPLETED", "UNKNOWN" (forgotten), or None (no Slurm here)
"""
import os
import shutil
import subprocess

from ..errors import UserError

# Slurm job states, grouped by what a user does next (squeue's %T and scontrol's JobState agree).
PENDING_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                            "RESV_DEL_HOLD"})
RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
                            "RESIZING"})
# states after which a job no longer runs (any other state a listing shows counts as still active)
FINAL_STATES = frozenset({"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
                          "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"})
FORGOTTEN = "UNKNOWN"  # the controller no longer knows the job (MinJobAge passed)
SQUEUE_CHUNK = 200     # job ids per squeue call: keeps the command line short


class SubmitError(UserError):
    """sbatch is missing or refused a job."""


def is_slurm_id(job_id):
    return str(job_id).replace("_", "").isdigit()


def sbatch(script):
    """Submit one script from its own folder; returns the job id. The only call to sbatch."""
    proc = subprocess.run(["sbatch", "--parsable", script], capture_output=True, text=True,
                          cwd=os.path.dirname(script))
    job_id = proc.stdout.strip().split(";")[0]
    if proc.returncode != 0 or not job_id.isdigit():
        message = " ".join((proc.stderr.strip() or proc.stdout.strip() or
                            f"exit status {proc.returncode}").split())
        raise SubmitError(message)
    return job_id


def parse_squeue(stdout):
    """`squeue -h -o %i|%T` output -> {job id: state}."""
    states = {}
    for line in stdout.splitlines():
        if "|" in line:
            job_id, state = line.strip().split("|", 1)
            states[job_id] = state.split()[0] if state.strip() else FORGOTTEN
    return states


def queue_states(job_ids):
    """{job id: state} for the ids squeue still knows (forgotten ids are absent); None when squeue
    cannot tell (not installed, controller unreachable)."""
    if not job_ids:
        return {}
    if shutil.which("squeue") is None:
        return None
    ids = sorted(set(job_ids), key=lambda i: (len(i), i))
    states = {}
    for start in range(0, len(ids), SQUEUE_CHUNK):
        chunk = ids[start:start + SQUEUE_CHUNK]
        proc = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T", "-j", ",".join(chunk)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:  # every id of the chunk is forgotten
                continue
            return None
        states.update(parse_squeue(proc.stdout))
    return states


def job_state(job_id, timeout=20):
    """JobState of one Slurm job from `scontrol show job ID -o`; None when scontrol is not on PATH
    or the id is not a Slurm id (e.g. "local"); FORGOTTEN when Slurm no longer knows the job."""
    job_id = str(job_id)
    if not is_slurm_id(job_id) or shutil.which("scontrol") is None:
        return None
    try:
        p = subprocess.run(["scontrol", "show", "job", job_id, "-o"], capture_output=True,
                           text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in p.stdout.split():
        if token.startswith("JobState="):
            return token.split("=", 1)[1].rstrip("+")
    # "Invalid job id specified": the controller forgot the job (MinJobAge); anything else (the
    # controller is down) says nothing about the job.
    return FORGOTTEN if "invalid job id" in p.stderr.lower() else None
