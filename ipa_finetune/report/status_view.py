"""`collect-results.py --status`: every job of a study's manifests (array tasks one by one) with its
state, Slurm's state, elapsed time, and the end of the log of each job that failed (pure: JobStatus
list in, Markdown out).

    print(render_status(job_statuses(entries, Lookup()), manifests, problems))
"""
from .markdown import table
from .status import STATES


def render_status(jobs, manifests, problems=()):
    """The status page: a count per state, one row per job, then the failed jobs' log tails."""
    counts = ", ".join(f"{sum(j.state == s for j in jobs)} {s}" for s in STATES)
    out = ["# Job status", "", f"{len(jobs)} jobs from {len(manifests)} manifest(s): {counts}.", ""]
    if jobs:
        rows = [[j.state, j.slurm_state or "–", j.elapsed or "–", j.job_id, j.job_name, j.run_id,
                 j.detail] for j in jobs]
        out += [table(["state", "Slurm state", "elapsed", "job id", "job name", "run id", "detail"],
                      rows, ["l", "l", "r", "l", "l", "l", "l"]), ""]
    for j in jobs:
        if j.log_tail:
            out += [f"Log of {j.job_name or j.run_id} ({j.job_id}, {j.state}): `{j.log}`", "", "```",
                    *j.log_tail, "```", ""]
    out += [f"- skipped manifest line {p.path}: {p.reason}" for p in problems]
    return "\n".join(out).rstrip() + "\n"
