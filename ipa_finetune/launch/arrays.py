"""Job arrays, the default launch: which jobs go into which array, their job lists and the template
fields of an array script (pure), then writing them and submitting one sbatch per array (or running
the tasks here, --local).

A launch writes its jobs (packing.Pack: one or more runs each) into job lists of at most
MaxArraySize - 1 lines (Slurm's task indices start at 0 and stay below MaxArraySize). Line i + 1 of
a list is task i: shell-quoted words, six lists of the task's runs (each itself shell-quoted words:
run ids, run folders, model types, train and eval languages, grid configs), then finetune-exp.py's
arguments (each run's, separated by --then). Each list has an array script, rendered from the same
template as a single job; its `{array_task}` lines read the task's line and `eval` it back into
exactly those words (shlex.quote wrote them for a POSIX shell), so `{args}` becomes
`"${TASK_ARGS[@]}"` and python is still `exec`ed: Slurm's SIGTERM reaches it as in a single job. A
list is named by a hash of its content, so a list that queued tasks still read is never overwritten
by a different one.

A re-run resubmits the runs of task i of a list still holding its line, when every run of the line is
to run again, as one new array of just those indices of the same list (`--array=3,7,12`); other runs
are packed into new lists.

    chunks, size = plan_arrays(to_run, latest, setup)      # asks scontrol for MaxArraySize
    write_chunks(chunks, setup, fields_by_name)           # job lists, array scripts, grid configs
    ids = submit_chunks(chunks, setup.settings.output_dir, setup.options.array_limit)
"""
import dataclasses
import hashlib
import os
import shlex

from tqdm import tqdm

from ..errors import UserError
from ..files import write_text_atomic
from ..manifest import append_manifest, array_task_entry, log_path, manifest_path
from ..slurm import SubmitError, max_array_size, sbatch
from . import templates
from .jobs import write_grid_configs
from .packing import job_time, make_pack, pack

# Slurm's default MaxArraySize (indices 0..1000), assumed when `scontrol show config` cannot be read.
DEFAULT_MAX_ARRAY_SIZE = 1001
JOB_LIST_SUFFIX = ".jobs"
# The lists before finetune-exp.py's arguments on a job list line: template field, bash array.
TASK_LISTS = (("run_id", "TASK_RUN_IDS"), ("run_dir", "TASK_RUN_DIRS"), ("model_type", "TASK_MODEL_TYPES"),
              ("train_langs", "TASK_TRAIN_LANGS"), ("eval_langs", "TASK_EVAL_LANGS"),
              ("temp_config_name", "TASK_TEMP_CONFIGS"))
# Per-job template fields as the array script's bash, valid in its body (not in #SBATCH lines).
# Names and run ids are letters, digits, '_', '-' and '+' (config.schema.NAME_RE): no quotes needed,
# as in a single job's script; paths are quoted words, as a single job's are.
TASK_FIELDS = {"run_id": "${TASK_RUN_IDS[*]}", "run_dir": '"${TASK_RUN_DIRS[@]}"',
               "model_type": "${TASK_MODEL_TYPES[*]}", "train_langs": "${TASK_TRAIN_LANGS[*]}",
               "eval_langs": "${TASK_EVAL_LANGS[*]}", "args": '"${TASK_ARGS[@]}"'}


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One array: its script and job list, every line of the list, and the tasks to run now
    ((index, packing.Pack) pairs; all lines of a new list, some of a list that ran before)."""
    job_name: str       # the array's Slurm job name, <study>-<kind>
    script: str
    job_list: str
    lines: tuple
    tasks: tuple

    @property
    def indices(self):
        return [i for i, _ in self.tasks]


def max_tasks_per_array(max_array_size):
    """MaxArraySize - 1 tasks per array (see the module doc); arrays off (0 or 1) is an error."""
    if max_array_size is None:
        max_array_size = DEFAULT_MAX_ARRAY_SIZE
    if max_array_size < 2:
        raise UserError(f"this Slurm has job arrays turned off (MaxArraySize={max_array_size} in "
                        "`scontrol show config`): pass --no-array for one job script per job")
    return max_array_size - 1


def job_list_line(pack, runs_at_once=1):
    """A job's line of a job list (see the module doc)."""
    values = templates.run_values(pack)
    words = [shlex.join(values[field]) for field, _ in TASK_LISTS] + pack.args(runs_at_once)
    for word in words:
        if "\n" in word:
            raise UserError(f"job {pack.name}: {word!r} holds a line break, which a job list (one line "
                            "per job) cannot hold: rename it, or pass --no-array")
    return shlex.join(words)


def line_run_ids(line):
    """The run ids of a job list line (older lists: one run per line, its id the first word)."""
    try:
        return shlex.split(shlex.split(line)[0])
    except (ValueError, IndexError):
        return []


def array_spec(indices, limit=None):
    """Slurm's --array value: runs of consecutive indices as ranges, e.g. [0, 1, 2, 5] -> "0-2,5",
    then `%limit` (at most that many tasks at once)."""
    parts, run = [], []
    for i in sorted(indices):
        if run and i != run[-1] + 1:
            parts.append(_range(run))
            run = []
        run.append(i)
    if run:
        parts.append(_range(run))
    return ",".join(parts) + (f"%{limit}" if limit else "")


def _range(run):
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def read_job_list(path):
    """The lines of a job list, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def job_kind(jobs):
    """"grid" for grid-search.py's runs (they have a grid config), else "transfer"."""
    return "grid" if any(job.temp_config for job in jobs) else "transfer"


def reusable_tasks(to_run, latest, settings, read_list=read_job_list):
    """({job list: [(index, Pack)]}, {job list: its lines}) of the lines that earlier Slurm arrays
    ran, still in their list, whose runs are all in `to_run` (re-planned as that line again).
    `latest`: {run id: latest manifest entry}."""
    todo, reused, lists, taken = {run.run_id: run for run in to_run}, {}, {}, set()
    for run in to_run:
        entry = latest.get(run.run_id) or {}
        path, index = entry.get("job_list"), entry.get("array_index")
        if run.run_id in taken or not (entry.get("array_job_id") and path and isinstance(index, int)):
            continue
        if path not in lists:
            lists[path] = read_list(path)
        lines = lists[path]
        ids = line_run_ids(lines[index]) if lines is not None and 0 <= index < len(lines) else []
        if not ids or any(rid not in todo or rid in taken for rid in ids):
            continue
        again = make_pack([todo[rid] for rid in ids])
        if lines[index] == job_list_line(again, settings.runs_at_once):
            reused.setdefault(path, []).append((index, again))
            taken.update(ids)
    return reused, lists


def plan_chunks(to_run, latest, output_dir, study, max_tasks, settings, read_list=read_job_list):
    """The arrays that run `to_run`: first, per job list that earlier Slurm arrays ran, one array of
    the indices whose runs all run again (reusable_tasks); then the other runs, packed by
    settings.runs_per_job (packing.pack), in new lists of at most `max_tasks` lines."""
    reused, lists = reusable_tasks(to_run, latest, settings, read_list)
    taken = {run.run_id for tasks in reused.values() for _, p in tasks for run in p.runs}
    fresh = pack([run for run in to_run if run.run_id not in taken], settings.runs_per_job)
    kind = job_kind(to_run)
    chunks = [Chunk(f"{study}-{kind}", _script_of(path), path, tuple(lists[path]),
                    tuple(sorted(tasks, key=lambda task: task[0]))) for path, tasks in reused.items()]
    for start in range(0, len(fresh), max_tasks):
        part = fresh[start:start + max_tasks]
        lines = tuple(job_list_line(p, settings.runs_at_once) for p in part)
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:10]
        path = os.path.join(output_dir, f"{study}-{kind}-{digest}{JOB_LIST_SUFFIX}")
        chunks.append(Chunk(f"{study}-{kind}", _script_of(path), path, lines, tuple(enumerate(part))))
    return chunks


def _script_of(job_list):
    """A job list's array script: the same path with .sh for .jobs."""
    base = job_list[: -len(JOB_LIST_SUFFIX)] if job_list.endswith(JOB_LIST_SUFFIX) else job_list
    return base + ".sh"


def job_list_text(chunk):
    return "".join(line + "\n" for line in chunk.lines)


def task_block(job_list):
    """The `{array_task}` lines: the task's words from its line of the job list, as bash arrays."""
    lists = [f"{name}=(${{TASK[{i}]}})" for i, (_, name) in enumerate(TASK_LISTS)]
    return "\n".join([
        "# Array task: its job is line SLURM_ARRAY_TASK_ID + 1 of the job list, shell-quoted words",
        "# written by the launcher (lists of the job's run ids, run folders, model types, train and eval",
        "# languages and grid configs, then finetune-exp.py's arguments, the runs' separated by --then);",
        "# eval turns them back into those words.",
        f"JOB_LIST={shlex.quote(job_list)}",
        'TASK_ID="${SLURM_ARRAY_TASK_ID:?is not set: submit this script with sbatch}"',
        'TASK_LINE=$(sed -n "$((TASK_ID + 1))p" "$JOB_LIST")',
        '[ -n "$TASK_LINE" ] || {',
        '  echo "array task $TASK_ID: no line $((TASK_ID + 1)) in $JOB_LIST" >&2; exit 2; }',
        'eval "TASK=($TASK_LINE)"',
        f'eval "{" ".join(lists[:3])}"',
        f'eval "{" ".join(lists[3:])}"',
        f'TASK_ARGS=("${{TASK[@]:{len(TASK_LISTS)}}}")',
        'echo "array task ${SLURM_ARRAY_JOB_ID:-local}_${TASK_ID}: line $((TASK_ID + 1)) of $JOB_LIST"',
    ])


def array_fields(fields, chunk, output_dir, settings, limit=None):
    """The template fields of `chunk`'s array script, from one of its jobs' single-job fields: the
    array's name, log (`%A_%a`: array job id, task index), time (its longest task's), #SBATCH
    --array line (every line of the list; a resubmission names its indices on sbatch's command line)
    and task block; per-job fields become the task's variables."""
    out = dict(fields, **TASK_FIELDS)
    out.update(job_name=chunk.job_name,
               log=shlex.quote(log_path(output_dir, chunk.job_name, "%A_%a")),
               timeout=job_time(max(len(p.runs) for _, p in chunk.tasks), settings),
               array=f"#SBATCH --array={array_spec(range(len(chunk.lines)), limit)}",
               array_task=task_block(chunk.job_list))
    if "temp_config_name" in fields:
        out["temp_config_name"] = '"${TASK_TEMP_CONFIGS[@]}"'
    return out


def task_log(output_dir, chunk, array_job_id, index):
    """The log of one task, as Slurm names it."""
    return log_path(output_dir, chunk.job_name, f"{array_job_id}_{index}")


# ----------------------------------------------------------------------------- writing, submitting

def plan_arrays(to_run, latest, setup):
    """The arrays for `to_run`, at most MaxArraySize - 1 tasks each (DEFAULT_MAX_ARRAY_SIZE
    when scontrol cannot say). Returns (chunks, where the size came from)."""
    size = max_array_size()
    source = "from scontrol" if size is not None else "Slurm's default: scontrol did not answer"
    max_tasks = max_tasks_per_array(size)
    chunks = plan_chunks(to_run, latest, setup.settings.output_dir, setup.cfg["study"], max_tasks,
                         setup.settings)
    return chunks, f"at most {max_tasks} tasks per array: MaxArraySize {max_tasks + 1}, {source}"


def render_chunks(chunks, setup):
    """Each array's script text (pure)."""
    settings, limit = setup.settings, setup.options.array_limit
    return [templates.render(setup.template, array_fields(
        templates.job_fields(chunk.tasks[0][1], setup.cfg, settings), chunk, settings.output_dir,
        settings, limit)) for chunk in chunks]


def write_chunks(chunks, setup):
    """Every array's script, its job list when it is new, and the grid configs its runs read. A job
    list already on disk is never rewritten: queued tasks may be reading it."""
    scripts = render_chunks(chunks, setup)
    for chunk in chunks:  # before anything is written
        if os.path.exists(chunk.job_list) and read_job_list(chunk.job_list) != list(chunk.lines):
            raise UserError(f"job list {chunk.job_list} exists with other lines; move it away (its "
                            "tasks must have ended) and run the same command again")
    os.makedirs(os.path.join(setup.settings.output_dir, "logs"), exist_ok=True)
    for chunk, script in zip(chunks, scripts):
        write_grid_configs(run for _, p in chunk.tasks for run in p.runs)
        if not os.path.exists(chunk.job_list):
            write_text_atomic(chunk.job_list, job_list_text(chunk))
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
            array_task_entry(run, array_id, index, chunk.script, chunk.job_list,
                             task_log(output_dir, chunk, array_id, index), p)
            for index, p in chunk.tasks for run in p.runs))
        submitted.append(array_id)
        jobs_done += len(chunk.tasks)
    return submitted


def local_runs(chunks):
    """(packs, scripts, environments) to run each task here, one after another: the array script
    with SLURM_ARRAY_TASK_ID set, as Slurm would run it."""
    jobs, scripts, envs = [], [], []
    for chunk in chunks:
        for index, p in chunk.tasks:
            jobs.append(p)
            scripts.append(chunk.script)
            envs.append({"SLURM_ARRAY_TASK_ID": str(index), "SLURM_ARRAY_JOB_ID": "local"})
    return jobs, scripts, envs


def describe(chunks, limit=None):
    """`2 arrays: x-grid-1a2b3c4d5e.sh (--array=0-999%2), ...` for messages."""
    shown = ", ".join(f"{os.path.basename(c.script)} (--array={array_spec(c.indices, limit)})"
                      for c in chunks[:3])
    more = f", ... ({len(chunks) - 3} more)" if len(chunks) > 3 else ""
    return f"{len(chunks)} array{'s' if len(chunks) != 1 else ''}: {shown}{more}"
