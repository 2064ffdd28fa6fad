"""Launching as job arrays (the default): write each array's job list and script, then submit one
sbatch per array, run its tasks here (--local), or only show them (--dry-run). arrays.py decides
what goes where; this module does the writing and the sbatch calls.

    chunks = plan(to_run, latest, setup)                  # asks scontrol for MaxArraySize
    write_chunks(chunks, setup, fields_by_name)
    ids = submit_chunks(chunks, setup.settings.output_dir, setup.options.array_limit)
"""
import os

from tqdm import tqdm

from ..errors import UserError
from ..files import write_json_atomic, write_text_atomic
from . import arrays, templates
from .arrays import array_spec
from .jobs import hyperparameter_config
from ..manifest import append_manifest, array_task_entry, manifest_path
from ..slurm import SubmitError, max_array_size, sbatch


def plan(to_run, latest, setup):
    """The arrays for `to_run`, at most MaxArraySize - 1 tasks each (arrays.DEFAULT_MAX_ARRAY_SIZE
    when scontrol cannot say). Returns (chunks, where the size came from)."""
    size = max_array_size()
    source = "from scontrol" if size is not None else "Slurm's default: scontrol did not answer"
    max_tasks = arrays.max_tasks_per_array(size)
    chunks = arrays.plan_chunks(to_run, latest, setup.settings.output_dir, setup.cfg["study"], max_tasks)
    return chunks, f"at most {max_tasks} tasks per array: MaxArraySize {max_tasks + 1}, {source}"


def render_chunks(chunks, setup, fields_by_name):
    """Each array's script text (pure)."""
    out, limit = setup.settings.output_dir, setup.options.array_limit
    return [templates.render(setup.template, arrays.array_fields(
        fields_by_name[chunk.tasks[0][1].name], chunk, out, limit)) for chunk in chunks]


def write_grid_configs(jobs):
    """The hyperparameter config each grid job reads (its last config file)."""
    for job in jobs:
        if job.temp_config:
            write_json_atomic(job.temp_config, hyperparameter_config(job.hyperparameters))


def write_chunks(chunks, setup, fields_by_name):
    """Every array's script, its job list when it is new, and the grid configs its jobs read. A job
    list already on disk is never rewritten: queued tasks may be reading it."""
    scripts = render_chunks(chunks, setup, fields_by_name)
    for chunk in chunks:  # before anything is written
        if os.path.exists(chunk.job_list) and arrays.read_job_list(chunk.job_list) != list(chunk.lines):
            raise UserError(f"job list {chunk.job_list} exists with other lines; move it away (its "
                            "tasks must have ended) and run the same command again")
    os.makedirs(os.path.join(setup.settings.output_dir, "logs"), exist_ok=True)
    for chunk, script in zip(chunks, scripts):
        write_grid_configs(job for _, job in chunk.tasks)
        if not os.path.exists(chunk.job_list):
            write_text_atomic(chunk.job_list, arrays.job_list_text(chunk))
        write_text_atomic(chunk.script, script, mode=0o755)


def submit_chunks(chunks, output_dir, limit=None):
    """One sbatch per array, naming the indices to run (`--array=0-999%2`, `--array=3,7,12`);
    each task goes into the manifest as soon as its array is accepted. A refusal stops here with
    sbatch's message, what was submitted, and how to submit the rest. Returns the array job ids."""
    submitted, jobs_done = [], 0
    total = sum(len(chunk.tasks) for chunk in chunks)
    for k, chunk in enumerate(tqdm(chunks, desc="sbatch", unit="array", leave=False), 1):
        spec = array_spec(chunk.indices, limit)
        try:
            array_id = sbatch(chunk.script, f"--array={spec}")
        except SubmitError as e:
            before = (f"{len(submitted)} array(s) with {jobs_done} jobs submitted before it (ids "
                      f"{', '.join(submitted)}, recorded in {manifest_path(output_dir)})"
                      if submitted else "none submitted")
            raise SubmitError(f"sbatch refused array {k} of {len(chunks)} ({chunk.script}, "
                              f"--array={spec}): {e} -- {before}; fix the cause and run the same "
                              f"command again to submit the {total - jobs_done} jobs left") from None
        append_manifest(output_dir, *(
            array_task_entry(job, array_id, index, chunk.script, chunk.job_list,
                             arrays.task_log(output_dir, chunk, array_id, index))
            for index, job in chunk.tasks))
        submitted.append(array_id)
        jobs_done += len(chunk.tasks)
    return submitted


def local_runs(chunks):
    """(jobs, scripts, environments) to run each task here, one after another: the array script
    with SLURM_ARRAY_TASK_ID set, as Slurm would run it."""
    jobs, scripts, envs = [], [], []
    for chunk in chunks:
        for index, job in chunk.tasks:
            jobs.append(job)
            scripts.append(chunk.script)
            envs.append({"SLURM_ARRAY_TASK_ID": str(index), "SLURM_ARRAY_JOB_ID": "local"})
    return jobs, scripts, envs


def describe(chunks, limit=None):
    """`2 arrays: x-grid-1a2b3c4d5e.sh (--array=0-999%2), ...` for messages."""
    shown = ", ".join(f"{os.path.basename(c.script)} (--array={array_spec(c.indices, limit)})"
                      for c in chunks[:3])
    more = f", ... ({len(chunks) - 3} more)" if len(chunks) > 3 else ""
    return f"{len(chunks)} array{'s' if len(chunks) != 1 else ''}: {shown}{more}"
