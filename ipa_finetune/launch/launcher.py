"""Launching planned jobs: write the scripts, then submit them with sbatch, run them here (--local), or
only show them (--dry-run); keep a manifest of what was submitted. The side effects of
grid-search.py and finetuning-generator.py live here; what to run is jobs.py, how a script looks
templates.py, what Slurm says slurm.py, what was submitted manifest.py. By default the jobs go out
as job arrays (arrays.py plans, writes and submits them; --no-array: one script and one sbatch
per job), followed by the report job (report_job.py; --no-report skips it).

Each job runs one or more runs (packing.py: slurm.runs_per_job, --runs-per-job); the rules below
are per run, and the runs left to do are packed into jobs anew.

Re-run rules (a launcher can be run again after any failure, and submits no duplicate):
- a run whose run dir has results.json is skipped (unless --force);
- a run whose run id is in <output dir>/manifest.jsonl with a Slurm job that squeue still reports
  as not finished (pending, running, ...) is skipped, even with --force (scancel it first);
- a run whose latest Slurm job ended (any final state, or so long ago Slurm forgot it) without
  results.json is submitted again;
- when squeue cannot tell (not installed, controller down), manifest runs are not resubmitted;
- the runs of task i of an array whose job list still holds their line, when all of them are
  submitted again, run as task i of that list again: one new array of just those indices
  (`--array=3,7,12`).

    setup = setup_from_args(args, "finetune-template.sh")
    planned = jobs.plan_transfer_jobs(setup.study, setup.config_files, setup.model_types)
    exit_code = launch(planned, setup)
"""
import dataclasses
import os
import shutil
import subprocess
import sys

from tqdm import tqdm

from ..cli import int_at_least, positive_int
from ..config.reading import find_config_file
from ..config.schema import SLURM_TIME
from ..config.seeds import check_seeds, replicate_seeds
from ..config.selection import selection_of
from ..config.study import study_from_args
from .. import runs as runs_mod
from ..cpus import usable_cpus
from ..errors import UserError
from ..files import PROJECT_ROOT, write_text_atomic
from ..inputs import preflight
from ..inputs.fingerprint import shared_columns
from ..manifest import (append_manifest, latest_per_run, manifest_entry, manifest_path, read_manifest,
                       study_jobs_dir)
from ..slurm import FINAL_STATES, SubmitError, queue_states, sbatch
from . import arrays, packing, templates
from . import jobs as jobs_mod
from .report_job import submit_report, write_report_script

DEFAULT_MAX_JOBS = 100


@dataclasses.dataclass
class Options:
    dry_run: bool = False
    local: bool = False
    yes: bool = False
    force: bool = False
    max_jobs: int = DEFAULT_MAX_JOBS
    array: bool = True          # job arrays; False: one script and one sbatch per job
    array_limit: int = None     # at most this many tasks of an array at once (%K), None: no limit
    report: bool = True         # submit the report job after the jobs


# ----------------------------------------------------------------------------- command line

def add_output_argument(parser):
    parser.add_argument("--output-dir", help="Path to the output directory for the generated jobs: "
                        "scripts, logs/ and manifest.jsonl (default: <paths.jobs_dir>/<study>)")


def add_launch_arguments(parser):
    """The flags grid-search.py and finetuning-generator.py share after --output-dir (and the grid's
    --temp-config-dir), in the spec's order, then this toolkit's own."""
    parser.add_argument("--model-type", nargs="+", metavar="MODEL_TYPE",
                        help="Type of model to use: one or more of the config's model_types, e.g. "
                             "normal ipa (default: all of them)")
    parser.add_argument("--timeout", help="Timeout in for the slurm jobs: the time limit of one run (a job "
                        'of K runs asks for K times it), a Slurm time such as "04:00:00", "90" (minutes) '
                        'or "1-12:00:00" (default: the config\'s slurm.timeout)')
    parser.add_argument("--cpus", type=positive_int, help="CPUs per job (default: the config's slurm.cpus)")
    parser.add_argument("--gpus", type=int_at_least(0),
                        help="GPUs per job, 0 for none (default: the config's slurm.gpus)")
    parser.add_argument("--runs-per-job", type=packing.parse_runs_per_job, metavar="K",
                        help='runs per job, trained one after another in one process: a count, or "auto" '
                             "(as many as fit in 4 hours of --timeout); default: the config's "
                             "slurm.runs_per_job")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="write every job script, print how many and where; submit nothing")
    mode.add_argument("--local", action="store_true",
                      help="run the jobs on this machine one after another (no Slurm needed), with "
                           "progress; logs in <output dir>/logs/")
    parser.add_argument("--force", action="store_true",
                        help="also run jobs whose results.json exists (finetune-exp.py gets --force)")
    parser.add_argument("--yes", action="store_true",
                        help="submit or run even when there are more than --max-jobs jobs")
    parser.add_argument("--max-jobs", type=int_at_least(0), default=DEFAULT_MAX_JOBS,
                        help="refuse to submit or run more jobs than this without --yes "
                             "(default: %(default)s)")
    parser.add_argument("--no-array", dest="array", action="store_false",
                        help="one job script and one sbatch per job instead of job arrays (one job "
                             "list + array script per MaxArraySize - 1 jobs, one sbatch each)")
    parser.add_argument("--array-limit", type=positive_int, metavar="K",
                        help="run at most K tasks of each job array at once (sbatch --array=...%%K; "
                             "default: no limit)")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="do not submit the report job (collect-results.py for the study, run by "
                             "Slurm when every submitted job has ended)")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="S",
                        help="one run per seed (replicates, each with its own run id), replacing "
                             "hyperparameters.seed (default: the config's seed, or its list of seeds)")


def options_from_args(args):
    if args.array_limit is not None and not args.array:
        raise UserError(f"--array-limit {args.array_limit} limits the tasks of job arrays: not with "
                        "--no-array")
    return Options(dry_run=args.dry_run, local=args.local, yes=args.yes, force=args.force,
                   max_jobs=args.max_jobs, array=args.array, array_limit=args.array_limit,
                   report=args.report)


def settings_from_args(args, cfg, output_dir, python=sys.executable, project_dir=None):
    """Resources (CLI over the config's slurm section) and locations shared by every job."""
    slurm = cfg["slurm"]
    timeout = args.timeout if args.timeout is not None else slurm["timeout"]
    if not SLURM_TIME.ok(timeout):
        raise UserError(f"--timeout {timeout!r} is not valid; expected {SLURM_TIME.expected}")
    cpus = args.cpus if args.cpus is not None else slurm["cpus"]
    gpus = args.gpus if args.gpus is not None else slurm["gpus"]
    k = args.runs_per_job if args.runs_per_job is not None else slurm["runs_per_job"]
    return jobs_mod.Settings(cpus=cpus, gpus=gpus, timeout=str(timeout),
                             output_dir=os.path.abspath(output_dir), python=python,
                             project_dir=project_dir or PROJECT_ROOT, runs_per_job=k,
                             runs_at_once=slurm["runs_at_once"])


def model_types_from_args(args, study):
    types = args.model_type or list(study.models)
    for t in types:
        study.model(t)  # a known model type
    return list(dict.fromkeys(types))


@dataclasses.dataclass(frozen=True)
class LaunchSetup:
    """What both launchers resolve from their arguments before planning jobs."""
    study: object           # config.study.Study
    options: Options
    model_types: list
    template_path: str
    template: str
    settings: jobs_mod.Settings
    config_files: list      # absolute: jobs start elsewhere
    seeds: list | None = None  # --seeds (None: the config's seed or seed list)

    @property
    def cfg(self):
        return self.study.cfg


def setup_from_args(args, template_name):
    """Study, options, model types, template and settings from a launcher's parsed arguments."""
    study = study_from_args(args)
    options = options_from_args(args)
    model_types = model_types_from_args(args, study)
    template_path = templates.find_template(args.template, template_name)
    template = templates.load_template(template_path)
    settings = settings_from_args(args, study.cfg, args.output_dir or study_jobs_dir(study.cfg))
    return LaunchSetup(study, options, model_types, template_path, template, settings,
                       [find_config_file(p) for p in args.config],
                       check_seeds(args.seeds, "--seeds") if args.seeds else None)


def plan_line(what, setup):
    """`<what> x <n> model types (<names>)`: the line a launcher starts with."""
    types = setup.model_types
    return f"{what} x {len(types)} model types ({', '.join(types)})"


# ----------------------------------------------------------------------------- manifest

def classify_submitted(jobs, entries, states):
    """(to_submit, active, unknown): `active` are jobs whose latest Slurm job in the manifest is still
    queued or running; `unknown` those whose state could not be read (states is None)."""
    latest = {run: str(e["job_id"]) for run, e in
              latest_per_run([e for e in entries if e.get("job_id") != "local"]).items()}
    to_submit, active, unknown = [], [], []
    for job in jobs:
        job_id = latest.get(job.run_id)
        if job_id is None:
            to_submit.append(job)
        elif states is None:
            unknown.append(job)
        elif job_id in states and states[job_id] not in FINAL_STATES:
            active.append(job)
        else:
            to_submit.append(job)
    return to_submit, active, unknown


# ----------------------------------------------------------------------------- the outside world

def submit_all(job_list, paths, output_dir):
    """sbatch each job's script in order (packing.Pack), recording its runs in the manifest as soon
    as it is accepted. A refusal stops here: sbatch's own message, what was submitted, and how to
    submit the rest."""
    submitted = []
    for k, (job, script) in enumerate(tqdm(list(zip(job_list, paths)), desc="sbatch", unit="job",
                                           leave=False), 1):
        try:
            job_id = sbatch(script)
        except SubmitError as e:
            before = (f"{len(submitted)} submitted before it (ids {submitted[0]}-{submitted[-1]}, "
                      f"recorded in {manifest_path(output_dir)})") if submitted else "none submitted"
            raise SubmitError(f"sbatch refused job {k} of {len(job_list)} ({script}): {e} -- "
                              f"{before}; fix the cause and run the same command again to submit "
                              f"the {len(job_list) - len(submitted)} left") from None
        append_manifest(output_dir, *(manifest_entry(run, job_id, script, output_dir, job) for run in job.runs))
        submitted.append(job_id)
    return submitted


# ----------------------------------------------------------------------------- the whole launch

def resolve_packing(setup):
    """The setup with settings.runs_per_job resolved to a count (packing.runs_per_job, within the
    partition's MaxTime: asked of scontrol unless --local), and the line that says so."""
    settings, local = setup.settings, setup.options.local
    limit = None if local else packing.job_limit(setup.cfg)
    seeds = len(replicate_seeds(setup.cfg["hyperparameters"], setup.seeds) or [None])
    k = packing.runs_per_job(settings.runs_per_job, settings.timeout, settings.runs_at_once, limit, seeds)
    where = "--local: no time limit" if local else str(limit) if limit else "MaxTime unknown: scontrol did not answer"
    line = (f"runs per job: {k} ({settings.runs_per_job}; {settings.timeout} per run, "
            f"{settings.runs_at_once} at once; {where})")
    return dataclasses.replace(setup, settings=dataclasses.replace(settings, runs_per_job=k)), line


def check_before_launch(job_list, setup):
    """Everything that can be wrong, before the first side effect: every job's inputs as
    finetune-exp.py checks them before training (each distinct input once), the runs per job
    against the partition's time limit, and the template's fields; all problems in one error
    (exit 2). Returns the setup with the runs per job resolved (resolve_packing) and its line."""
    setup, packing_line = resolve_packing(setup)
    template, template_path, cfg, settings, options = (
        setup.template, setup.template_path, setup.cfg, setup.settings, setup.options)
    study = setup.study
    problems = preflight.check_runs(study, [
        (j.model_type, j.train_langs, j.eval_langs, selection_of(jobs_mod.job_hyperparameters(study, j)))
        for j in job_list])
    fields = [templates.job_fields(p, cfg, settings) for p in packing.pack(job_list, settings.runs_per_job)]
    try:  # the template's problems join the inputs' in one list
        templates.check_fields(template, template_path, fields)
        templates.check_template_uses(template, template_path, cfg, array=options.array)
    except templates.TemplateError as e:
        problems.append(e)
    preflight.raise_problems(problems, "nothing was written or submitted")
    for line in shared_columns(study, {lang for j in job_list for lang in j.train_langs + j.eval_langs}):
        print(f"warning: {line}", file=sys.stderr)
    if not options.dry_run and not options.local and shutil.which("sbatch") is None:
        raise SubmitError("sbatch not found on PATH (no Slurm here): use --local to run the jobs on this "
                          "machine, or --dry-run to only write the job scripts")
    return setup, packing_line


def jobs_left(job_list, output_dir, force, what, study):
    """The jobs still to run, saying how many were skipped and why (the re-run rules above).
    Returns (to_run, {run id: latest manifest entry}, Slurm ids of the jobs still queued or running)."""
    to_run, finished = jobs_mod.split_finished(job_list, force)
    print(f"{len(job_list)} {what} planned", end="")
    print(f"; {len(finished)} skipped: results.json exists (--force re-runs them)" if finished else "")
    for line in jobs_mod.input_changes(study, to_run):
        print(line)
    run_ids = {job.run_id for job in to_run}
    entries, problems = read_manifest(manifest_path(output_dir))
    for where, reason in problems:
        print(f"warning: {where} is {reason}; ignored", file=sys.stderr)
    entries = [e for e in entries if e.get("run_id") in run_ids]
    states = queue_states([str(e["job_id"]) for e in entries if e.get("job_id") not in (None, "local")])
    to_run, active, unknown = classify_submitted(to_run, entries, states)
    if active:
        print(f"{len(active)} skipped: already queued or running in Slurm (see "
              f"{manifest_path(output_dir)}; scancel them to resubmit)")
    if unknown:
        print(f"{len(unknown)} skipped: in {manifest_path(output_dir)} but squeue cannot tell whether "
              "they still run; delete their lines from the manifest to resubmit")
    latest = latest_per_run(entries)
    return to_run, latest, [str(latest[job.run_id]["job_id"]) for job in active]


def launch(job_list, setup, what="runs"):
    """Check, then write, then submit / run / show the runs of `job_list` (jobs.Job, one per run),
    packed into jobs. Returns the process exit code."""
    setup, packing_line = check_before_launch(job_list, setup)
    settings, options = setup.settings, setup.options
    to_run, latest, active_ids = jobs_left(job_list, settings.output_dir, options.force, what, setup.study)
    if not to_run:
        print("nothing to do")
        return 0
    if len(to_run) > options.max_jobs and not options.yes and not options.dry_run:
        raise UserError(f"{len(to_run)} runs to {'train here' if options.local else 'submit'}, more than "
                        f"--max-jobs {options.max_jobs}; add --yes to go ahead (or --dry-run to see them)")

    print(packing_line)
    written = (write_arrays if options.array else write_scripts)(to_run, latest, setup)
    fields = templates.job_fields(written.jobs[0], setup.cfg, settings)  # python, project_dir
    if options.dry_run:
        print(f"dry run: {written.summary}; nothing submitted")
        if options.report:
            print(f"the report job would run {write_report_script(setup, fields)[0]}")
        return 0
    if options.local:
        return run_here(written, settings)
    if written.chunks is not None:
        submitted = arrays.submit_chunks(written.chunks, settings.output_dir, options.array_limit)
        described = arrays.describe(written.chunks, options.array_limit)
        print(f"submitted {count_jobs(written.jobs)} as {described} (array job ids {', '.join(submitted)}); "
              f"manifest: {manifest_path(settings.output_dir)}")
    else:
        submitted = submit_all(written.jobs, written.paths, settings.output_dir)
        print(f"submitted {count_jobs(written.jobs)} (ids {submitted[0]}-{submitted[-1]}); manifest: "
              f"{manifest_path(settings.output_dir)}")
    if options.report:
        submit_report(setup, fields, submitted + active_ids)
    return 0


def count_jobs(packs):
    """`12 jobs`, or `24 runs in 2 jobs` when jobs hold several runs."""
    runs = sum(len(p.runs) for p in packs)
    jobs = f"{len(packs)} job{'s' if len(packs) != 1 else ''}"
    return jobs if runs == len(packs) else f"{runs} runs in {jobs}"


@dataclasses.dataclass(frozen=True)
class Written:
    """What a launch wrote: the jobs (packing.Pack), in the order they run, with the script (and
    extra environment) each one runs, the arrays (None with --no-array) and a line saying where."""
    jobs: list
    paths: list
    envs: list
    chunks: list
    summary: str


def write_arrays(to_run, latest, setup):
    """Job lists and array scripts (arrays.py)."""
    chunks, size = arrays.plan_arrays(to_run, latest, setup)
    arrays.write_chunks(chunks, setup)
    jobs, paths, envs = arrays.local_runs(chunks)
    return Written(jobs, paths, envs, chunks,
                   f"{count_jobs(jobs)} in {arrays.describe(chunks, setup.options.array_limit)}, each "
                   f"with its .jobs list, written to {setup.settings.output_dir} ({size})")


def write_scripts(to_run, latest, setup):
    """--no-array: one script per job (and its runs' grid hyperparameter configs)."""
    out, settings = setup.settings.output_dir, setup.settings
    packs = packing.pack(to_run, settings.runs_per_job)
    scripts = [templates.render(setup.template, templates.job_fields(p, setup.cfg, settings)) for p in packs]
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    jobs_mod.write_grid_configs(to_run)
    paths = [os.path.join(out, f"{p.name}.sh") for p in packs]
    for path, text in zip(paths, scripts):
        write_text_atomic(path, text, mode=0o755)
    runs = "" if len(to_run) == len(packs) else f" for {len(to_run)} runs"
    return Written(packs, paths, [{}] * len(paths), None,
                   f"{len(paths)} job scripts{runs} written to {out} (e.g. {os.path.basename(paths[0])})")


def run_here(written, settings):
    """--local: each script here with bash, one after another (with the job's extra environment: an
    array task's SLURM_ARRAY_TASK_ID); a failing job does not stop the others, the failures are
    listed at the end (exit 1)."""
    cpus = min(settings.cpus, usable_cpus())  # one job at a time: at most all cores
    if cpus < settings.cpus:
        print(f"note: --local runs each job with {cpus} CPUs (all this machine has), not {settings.cpus}")
    env, out, failures = dict(os.environ, SLURM_CPUS_PER_TASK=str(cpus)), settings.output_dir, []
    bar = tqdm(list(zip(written.jobs, written.paths, written.envs)), desc="local jobs", unit="job")
    for job, script, extra in bar:
        bar.set_postfix_str(job.name)
        entries = [manifest_entry(run, "local", script, out, job) for run in job.runs]
        append_manifest(out, *entries)
        entry = entries[0]
        with open(entry["log"], "w", encoding="utf-8") as log:
            code = subprocess.run(["bash", script], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  cwd=settings.project_dir, env=dict(env, **extra)).returncode
        if code != 0:
            failures.append((job, code, entry["log"]))
            tqdm.write(f"job {job.name} failed (exit {code}); log: {entry['log']}")
    jobs = written.jobs
    runs = [run for job in jobs for run in job.runs]
    done = "" if len(runs) == len(jobs) else \
        f"; {sum(runs_mod.is_finished(r.run_dir) for r in runs)} of their {len(runs)} runs have results"
    print(f"{len(jobs) - len(failures)} of {len(jobs)} local jobs succeeded{done}")
    for job, code, log in failures:
        print(f"FAILED {job.name} (exit {code}); log: {log}", file=sys.stderr)
    return 1 if failures else 0
