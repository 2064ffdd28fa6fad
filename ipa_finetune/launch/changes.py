"""What a launcher says about the inputs of the jobs it plans: runs that will train anew because an
input changed since a finished run with the same settings, and dataset entries that two model types
read the same columns of.

    for line in input_changes(study, to_run): print(line)
    # inputs changed since 27 finished runs (new runs are trained, the old folders kept):
    #   checkpoint sha256 1a2b3c4d5e6f → 9f8e7d6c5b4a: 27 ipa jobs
"""
import os
import sys
from collections import Counter

from .. import runs
from ..inputs.fingerprint import shared_columns
from .jobs import job_hyperparameters


def input_changes(study, job_list):
    """Lines summarising, per changed input, how many jobs of which model type it makes new runs."""
    counts, changed, folders = Counter(), 0, {}
    for job in job_list:
        folder = os.path.dirname(job.run_dir)
        finished = folders.setdefault(folder, runs.FinishedRuns(folder))
        found = runs.changed_since(job.run_dir, study.cfg["task"], job_hyperparameters(study, job),
                                   job.inputs, finished)
        if found:
            changed += 1
            counts.update((what, job.model_type) for what in found[1])
    if not changed:
        return []
    lines = [f"inputs changed since {changed} finished run(s) with the same settings (new runs are "
             "trained, the old folders kept):"]
    return lines + [f"  {what}: {n} {mt} job(s)" for (what, mt), n in sorted(counts.items())]


def shared_column_warnings(study, job_list):
    """Print one warning per dataset entry of these jobs that two model types read the same columns of."""
    langs = {lang for job in job_list for lang in job.train_langs + job.eval_langs}
    for line in shared_columns(study, langs):
        print(f"warning: {line}", file=sys.stderr)
