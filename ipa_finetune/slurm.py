"""Launching planned jobs: write the scripts, then submit them with sbatch, run them here (--local), or
only show them (--dry-run); keep a manifest of what was submitted. The side effects of
grid-search.py and finetuning-generator.py live here; what to run is ipa_finetune.jobs.

Re-run rules (a launcher can be run again after any failure, and submits no duplicate):
- a job whose run dir has results.json is skipped (unless --force);
- a job whose run id is in <output dir>/manifest.jsonl with a Slurm job that squeue still reports
  as not finished (pending, running, ...) is skipped, even with --force (scancel it first);
- a job whose latest Slurm job ended (any final state, or so long ago Slurm forgot it) without
  results.json is submitted again;
- when squeue cannot tell (not installed, controller down), manifest jobs are not resubmitted.

    exit_code = launch(planned, template, template_path, cfg, settings, Options(dry_run=True))
"""
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys

from tqdm import tqdm

from . import jobs as jobs_mod
from . import runs
from .cli import PROJECT_ROOT
from .config_loader import config_from_args, find_config_file, shared_classes, validate_model_type
from .config_schema import SLURM_TIME
from .errors import UserError

MANIFEST = "manifest.jsonl"
DEFAULT_MAX_JOBS = 100
# squeue states after which a job no longer runs (anything else listed counts as still active).
FINAL_STATES = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
                "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"}


class SubmitError(UserError):
    """sbatch is missing or refused a job."""


@dataclasses.dataclass
class Options:
    dry_run: bool = False
    local: bool = False
    yes: bool = False
    force: bool = False
    max_jobs: int = DEFAULT_MAX_JOBS


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
    parser.add_argument("--timeout", help="Timeout in for the slurm jobs: a Slurm time such as "
                        '"04:00:00", "90" (minutes) or "1-12:00:00" (default: the config\'s slurm.timeout)')
    parser.add_argument("--cpus", type=int, help="CPUs per job (default: the config's slurm.cpus)")
    parser.add_argument("--gpus", type=int, help="GPUs per job, 0 for none (default: the config's slurm.gpus)")
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
    parser.add_argument("--max-jobs", type=int, default=DEFAULT_MAX_JOBS,
                        help="refuse to submit or run more jobs than this without --yes "
                             "(default: %(default)s)")


def options_from_args(args):
    if args.max_jobs < 0:
        raise UserError(f"--max-jobs {args.max_jobs}: expected a number of jobs >= 0")
    return Options(dry_run=args.dry_run, local=args.local, yes=args.yes, force=args.force,
                   max_jobs=args.max_jobs)


def settings_from_args(args, cfg, output_dir, python=sys.executable, project_dir=None):
    """Resources (CLI over the config's slurm section) and locations shared by every job."""
    slurm = cfg["slurm"]
    timeout = args.timeout if args.timeout is not None else slurm["timeout"]
    if not SLURM_TIME.ok(timeout):
        raise UserError(f"--timeout {timeout!r} is not valid; expected {SLURM_TIME.expected}")
    cpus = args.cpus if args.cpus is not None else slurm["cpus"]
    gpus = args.gpus if args.gpus is not None else slurm["gpus"]
    if cpus < 1:
        raise UserError(f"--cpus {cpus}: expected an integer >= 1")
    if gpus < 0:
        raise UserError(f"--gpus {gpus}: expected an integer >= 0")
    return jobs_mod.Settings(cpus=cpus, gpus=gpus, timeout=str(timeout),
                             output_dir=os.path.abspath(output_dir), python=python,
                             project_dir=project_dir or PROJECT_ROOT)


def model_types_from_args(args, cfg):
    types = args.model_type or list(cfg["model_types"])
    for t in types:
        validate_model_type(cfg, t)
    return list(dict.fromkeys(types))


@dataclasses.dataclass
class LaunchSetup:
    """What both launchers resolve from their arguments before planning jobs."""
    cfg: dict
    options: object
    model_types: list
    template_path: str
    template: str
    settings: object
    config_files: list


def setup_from_args(args, template_name):
    """Config, options, model types, template and settings from a launcher's parsed arguments."""
    cfg = config_from_args(args)
    options = options_from_args(args)
    model_types = model_types_from_args(args, cfg)
    template_path = jobs_mod.find_template(args.template, template_name)
    template = jobs_mod.load_template(template_path)
    settings = settings_from_args(args, cfg, args.output_dir or default_output_dir(cfg))
    return LaunchSetup(cfg, options, model_types, template_path, template, settings,
                       [find_config_file(p) for p in args.config])


def default_output_dir(cfg):
    return os.path.join(cfg["paths"]["jobs_dir"], cfg["study"])


# ----------------------------------------------------------------------------- manifest

def manifest_path(output_dir):
    return os.path.join(output_dir, MANIFEST)


def read_manifest(output_dir):
    """The manifest's entries in order; a line that is not JSON (an interrupted write) is skipped."""
    path = manifest_path(output_dir)
    if not os.path.isfile(path):
        return []
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"warning: {path}:{n} is not a JSON line; ignored", file=sys.stderr)
    return entries


def append_manifest(output_dir, entry):
    """One JSON line, flushed to disk before the next job is submitted."""
    with open(manifest_path(output_dir), "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def manifest_entry(job, job_id, script, output_dir):
    """docs/architecture.md's manifest line, plus the run's model type, languages and (grid) the
    hyperparameter override and its config file."""
    entry = {"job_id": job_id, "job_name": job.name, "script": script, "run_id": job.run_id,
             "run_dir": job.run_dir, "log": jobs_mod.log_path(output_dir, job.name, job_id),
             "args": list(job.args), "model_type": job.model_type,
             "train_langs": list(job.train_langs), "eval_langs": list(job.eval_langs)}
    if job.hyperparameters is not None:
        entry.update(hyperparameters=job.hyperparameters, temp_config=job.temp_config)
    entry["submitted_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return entry


def parse_squeue(stdout):
    """`squeue -h -o %i|%T` output -> {job id: state}."""
    states = {}
    for line in stdout.splitlines():
        if "|" in line:
            job_id, state = line.strip().split("|", 1)
            states[job_id] = state.split()[0] if state.strip() else "UNKNOWN"
    return states


def slurm_states(job_ids):
    """{job id: state} for the ids squeue still knows (forgotten ids are absent); None when squeue
    cannot tell (not installed, controller unreachable)."""
    if not job_ids:
        return {}
    if shutil.which("squeue") is None:
        return None
    ids = sorted(set(job_ids), key=lambda i: (len(i), i))
    states = {}
    for start in range(0, len(ids), 200):  # keep the command line short
        chunk = ids[start:start + 200]
        proc = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T", "-j", ",".join(chunk)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:  # every id of the chunk is forgotten
                continue
            return None
        states.update(parse_squeue(proc.stdout))
    return states


def classify_submitted(jobs, entries, states):
    """(to_submit, active, unknown): `active` are jobs whose latest Slurm job in the manifest is still
    queued or running; `unknown` those whose state could not be read (states is None)."""
    latest = {}
    for entry in entries:
        if entry.get("job_id") not in (None, "local"):
            latest[entry.get("run_id")] = str(entry["job_id"])
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

def write_file(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_job_files(job_list, scripts, output_dir):
    """Each job's script (and its grid hyperparameter config); returns the script paths."""
    os.makedirs(os.path.join(output_dir, "logs"), exist_ok=True)
    paths = []
    for job, text in zip(job_list, scripts):
        if job.temp_config:
            runs.write_json_atomic(job.temp_config, jobs_mod.hyperparameter_config(job.hyperparameters))
        path = os.path.join(output_dir, f"{job.name}.sh")
        write_file(path, text, 0o755)
        paths.append(path)
    return paths


def sbatch(script):
    """Submit one script; returns the job id. The only call to sbatch."""
    proc = subprocess.run(["sbatch", "--parsable", script], capture_output=True, text=True,
                          cwd=os.path.dirname(script))
    job_id = proc.stdout.strip().split(";")[0]
    if proc.returncode != 0 or not job_id.isdigit():
        message = " ".join((proc.stderr.strip() or proc.stdout.strip() or
                            f"exit status {proc.returncode}").split())
        raise SubmitError(message)
    return job_id


def submit_all(job_list, paths, output_dir):
    """sbatch each script in order, recording each in the manifest as soon as it is accepted. A
    refusal stops here: sbatch's own message, what was submitted, and how to submit the rest."""
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
        append_manifest(output_dir, manifest_entry(job, job_id, script, output_dir))
        submitted.append(job_id)
    return submitted


def run_local(job_list, paths, output_dir, cpus, project_dir):
    """Run each script here with bash, one after another; a failing job does not stop the others.
    Returns [(job, exit code, log)] of the failures."""
    failures = []
    env = dict(os.environ, SLURM_CPUS_PER_TASK=str(cpus))
    bar = tqdm(list(zip(job_list, paths)), desc="local jobs", unit="job")
    for job, script in bar:
        bar.set_postfix_str(job.name)
        entry = manifest_entry(job, "local", script, output_dir)
        append_manifest(output_dir, entry)
        with open(entry["log"], "w", encoding="utf-8") as log:
            code = subprocess.run(["bash", script], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=project_dir, env=env).returncode
        if code != 0:
            failures.append((job, code, entry["log"]))
            tqdm.write(f"job {job.name} failed (exit {code}); log: {entry['log']}")
    return failures


# ----------------------------------------------------------------------------- the whole launch

def check_before_launch(job_list, template, template_path, cfg, settings, options):
    """Everything that can be wrong, before the first side effect. Returns each job's fields."""
    jobs_mod.check_slurm_fields(cfg)
    for job in job_list:  # cross-lingual jobs need one label set; fail here, not in the 40th job
        shared_classes(cfg, job.train_langs + job.eval_langs)
    fields = [jobs_mod.job_fields(job, cfg, settings) for job in job_list]
    jobs_mod.check_fields(template, template_path, fields)
    unused = jobs_mod.unused_config_fields(template, cfg, template_path)
    if unused:
        print(f"note: the template {template_path} does not use slurm.fields {', '.join(unused)}; to "
              f"use them, copy it, add lines such as `#SBATCH --{unused[0]}={{{unused[0]}}}` and pass "
              "the copy with --template", file=sys.stderr)
    if not options.dry_run and not options.local and shutil.which("sbatch") is None:
        raise SubmitError("sbatch not found on PATH (no Slurm here): use --local to run the jobs on this "
                          "machine, or --dry-run to only write the job scripts")
    return fields


def jobs_left(job_list, output_dir, force, what):
    """The jobs still to run, saying how many were skipped and why (the re-run rules above)."""
    to_run, finished = jobs_mod.split_finished(job_list, force)
    print(f"{len(job_list)} {what} planned", end="")
    print(f"; {len(finished)} skipped: results.json exists (--force re-runs them)" if finished else "")
    run_ids = {job.run_id for job in to_run}
    entries = [e for e in read_manifest(output_dir) if e.get("run_id") in run_ids]
    states = slurm_states([str(e["job_id"]) for e in entries if e.get("job_id") not in (None, "local")])
    to_run, active, unknown = classify_submitted(to_run, entries, states)
    if active:
        print(f"{len(active)} skipped: already queued or running in Slurm (see "
              f"{manifest_path(output_dir)}; scancel them to resubmit)")
    if unknown:
        print(f"{len(unknown)} skipped: in {manifest_path(output_dir)} but squeue cannot tell whether "
              "they still run; delete their lines from the manifest to resubmit")
    return to_run


def launch(job_list, template, template_path, cfg, settings, options, what="jobs"):
    """Check, then write, then submit / run / show `job_list`. Returns the process exit code."""
    fields = check_before_launch(job_list, template, template_path, cfg, settings, options)
    by_name = dict(zip((j.name for j in job_list), fields))
    to_run = jobs_left(job_list, settings.output_dir, options.force, what)
    if not to_run:
        print("nothing to do")
        return 0
    if len(to_run) > options.max_jobs and not options.yes and not options.dry_run:
        raise UserError(f"{len(to_run)} jobs to {'run' if options.local else 'submit'}, more than "
                        f"--max-jobs {options.max_jobs}; add --yes to go ahead (or --dry-run to see them)")

    scripts = [jobs_mod.render(template, by_name[job.name]) for job in to_run]
    paths = write_job_files(to_run, scripts, settings.output_dir)
    if options.dry_run:
        print(f"dry run: {len(paths)} job scripts written to {settings.output_dir} "
              f"(e.g. {os.path.basename(paths[0])}); nothing submitted")
        return 0
    if options.local:
        cpus = min(settings.cpus, len(os.sched_getaffinity(0)))  # one job at a time: at most all cores
        if cpus < settings.cpus:
            print(f"note: --local runs each job with {cpus} CPUs (all this machine has), not {settings.cpus}")
        failures = run_local(to_run, paths, settings.output_dir, cpus, settings.project_dir)
        print(f"{len(to_run) - len(failures)} of {len(to_run)} local jobs succeeded")
        for job, code, log in failures:
            print(f"FAILED {job.name} (exit {code}); log: {log}", file=sys.stderr)
        return 1 if failures else 0
    submitted = submit_all(to_run, paths, settings.output_dir)
    print(f"submitted {len(submitted)} jobs (ids {submitted[0]}-{submitted[-1]}); manifest: "
          f"{manifest_path(settings.output_dir)}")
    return 0
