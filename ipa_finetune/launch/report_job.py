"""The report job: one small Slurm job, submitted after a launch's jobs, that runs collect-results.py
for the study once every one of them has ended (`--dependency=afterany:...`: also after failures,
which the report's job status then shows).

    text = report_script(fields, config_files, out_dir, manifest=None)     # pure
    words = report_sbatch_options(cfg, name, log, ["22", "23"])             # pure
    submit_report(setup, fields, ["22", "23"])                             # writes, sbatch, manifest

Resources: 1 CPU, REPORT_TIME and REPORT_MEM (reading results.json files and drawing a few heatmaps
takes seconds and a few hundred MB), and the placement options of slurm.options (account, partition,
qos, ...: templates.PLACEMENT_OPTIONS), since many clusters refuse a job without an account.
"""
import os
import shlex

from ..files import write_text_atomic
from ..manifest import append_manifest, log_path, manifest_path, report_entry, study_jobs_dir
from ..runs import REPORT_FILE, report_dir, study_results_dir
from ..slurm import SubmitError, sbatch
from .templates import report_job_options

REPORT_TIME = "00:15:00"   # minutes of work at most, also for thousands of runs
REPORT_MEM = "2G"          # python + matplotlib peak well under 1 GB; some clusters default to less


def report_script(fields, config_files, out_dir, manifest=None):
    """The report job's script: collect-results.py over the study's configs, with the python and
    project folder of the jobs (`fields`: a job's template fields, already shell-quoted)."""
    command = ["collect-results.py", "--config", *config_files, "--out", out_dir]
    if manifest:  # the launch wrote its manifest outside the config's jobs_dir
        command += ["--manifest", manifest]
    return "\n".join([
        "#!/bin/bash",
        "# The study's report (tables, plots, job status), written by the job generators: it runs",
        "# when every job it depends on has ended, whatever their state (afterany).",
        "set -euo pipefail",
        f"cd {fields['project_dir']}",
        f"exec {fields['python']} {shlex.join(command)}",
        ""])


def report_sbatch_options(cfg, job_name, log, depends_on):
    """sbatch's command-line options for the report job."""
    return [f"--job-name={job_name}", f"--dependency=afterany:{':'.join(depends_on)}",
            "--ntasks=1", "--cpus-per-task=1", f"--time={REPORT_TIME}", f"--mem={REPORT_MEM}",
            f"--output={log}", *report_job_options(cfg["slurm"].get("options") or {})]


def write_report_script(setup, fields):
    """The report job's script in the output folder; returns (path, report.md path)."""
    cfg, output_dir = setup.cfg, setup.settings.output_dir
    manifest = None
    if os.path.realpath(output_dir) != os.path.realpath(study_jobs_dir(cfg)):
        manifest = manifest_path(output_dir)
    script = os.path.join(output_dir, f"{cfg['study']}-report.sh")
    out_dir = report_dir(study_results_dir(cfg))
    write_text_atomic(script, report_script(fields, setup.config_files, out_dir, manifest), mode=0o755)
    return script, os.path.join(out_dir, REPORT_FILE)


def submit_report(setup, fields, depends_on):
    """Write and submit the report job after `depends_on` (Slurm job ids); record it in the
    manifest and say where the report will appear. Returns its job id."""
    cfg, output_dir = setup.cfg, setup.settings.output_dir
    script, report = write_report_script(setup, fields)
    name = f"{cfg['study']}-report"
    log = log_path(output_dir, name)
    words = report_sbatch_options(cfg, name, log, depends_on)
    try:
        job_id = sbatch(script, *words)
    except SubmitError as e:
        raise SubmitError(f"the jobs are submitted (see {manifest_path(output_dir)}), but sbatch "
                          f"refused the report job: {e} -- once they have ended, make the report with "
                          f"`bash {script}`, or fix the cause and submit it: sbatch "
                          f"{' '.join(words[:2])} ... {script}") from None
    resolved = log_path(output_dir, name, job_id)
    append_manifest(output_dir, report_entry(job_id, name, script, resolved, depends_on, report))
    print(f"the report will be written to {report} when the jobs end (report job {job_id}; "
          f"log {resolved}; --no-report skips it)")
    return job_id
