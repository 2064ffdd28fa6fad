"""`collect-results.py --status`: every job of a study's manifests (array tasks one by one) with its
state, Slurm's state, elapsed time, and the end of the log of each job that failed (pure: JobStatus
list in, Markdown out).

    print(render_status(job_statuses(entries, Lookup()), manifests, problems))
"""
from .markdown import job_counts, log_tails, table


def render_status(jobs, manifests, problems=()):
    """The status page: a count per state, one row per job, then the failed jobs' log tails."""
    out = ["# Job status", "", job_counts(jobs, len(manifests)), ""]
    if jobs:
        rows = [[j.state, j.slurm_state or "–", j.elapsed or "–", j.job_id, j.job_name, j.run_id,
                 j.detail] for j in jobs]
        out += [table(["state", "Slurm state", "elapsed", "job id", "job name", "run id", "detail"],
                      rows, ["l", "l", "r", "l", "l", "l", "l"]), ""]
    out += log_tails(jobs, problems)
    return "\n".join(out).rstrip() + "\n"
