"""Job planning and template rendering for grid-search.py and finetuning-generator.py (pure: no
submission, no writing; ipa_finetune.slurm does the side effects).

A Job is one run of finetune-exp.py: (model type, train languages, eval languages, hyperparameter
override). Its run id (ipa_finetune.runs) is known before it is submitted, so a generator can skip
runs that already have results. Example:

    jobs = plan_transfer_jobs(cfg, ["config/demo.json"], ["normal", "ipa"])   # 12 jobs
    template = load_template("jobs/templates/finetune-template.sh")
    fields = [job_fields(j, cfg, settings) for j in jobs]
    check_fields(template, "finetune-template.sh", fields)                     # one error, or None
    script = render(template, fields[0])
"""
import copy
import dataclasses
import hashlib
import itertools
import json
import os
import shlex
import string

from . import runs
from .cli import PROJECT_ROOT
from .errors import ConfigError, UserError

# Every job template needs these (the spec's "Job Templates").
REQUIRED_FIELDS = ("job_name", "cpus", "gpus", "timeout", "args")
# Per-job values the generators compute; config slurm.fields may not set them.
JOB_FIELDS = REQUIRED_FIELDS + ("log", "run_id", "run_dir", "study", "model_type", "train_langs",
                                "eval_langs", "output_dir", "temp_config_name")
# Values about this installation; config slurm.fields may override them (e.g. another python on the
# compute nodes).
ENV_FIELDS = ("python", "project_dir")
GRID_ONLY_FIELDS = ("temp_config_name",)


class TemplateError(UserError):
    """A job template is missing, malformed, or uses fields nobody sets."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One finetune-exp.py run. `args` are its arguments (after the script name)."""
    name: str
    model_type: str
    train_langs: tuple
    eval_langs: tuple
    run_id: str
    run_dir: str
    args: tuple
    hyperparameters: dict | None = None   # the grid's override (None: the config's own)
    temp_config: str | None = None        # where that override is written (grid only)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every job of one launch shares: resources and locations."""
    cpus: int
    gpus: int
    timeout: str
    output_dir: str
    python: str
    project_dir: str


# ----------------------------------------------------------------------------- what to run

def transfer_matrix(languages):
    """The transfer configurations as (train, eval) tuples: with languages A and B exactly the spec's
    A+B->A, A+B->B, A->A, A->B, B->A, B->B. In general: all languages together -> each language,
    then each language -> each language (n + n*n runs; with one language just A->A)."""
    langs = tuple(languages)
    pairs = [(langs, (e,)) for e in langs] if len(langs) > 1 else []
    pairs += [((t,), (e,)) for t in langs for e in langs]
    return pairs


def grid_permutations(parameters):
    """Every combination of the grid's values ({key: [values]}, a scalar counts as one value), in
    file order with the last key varying fastest."""
    keys = list(parameters)
    values = [v if isinstance(v, list) else [v] for v in parameters.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def finetune_args(config_files, model_type, train_langs, eval_langs, force=False):
    """finetune-exp.py's arguments for one run (config files absolute: jobs start elsewhere)."""
    args = [*config_files, "--model-type", model_type,
            "--train-langs", *train_langs, "--eval-langs", *eval_langs]
    return args + ["--force"] if force else args


def job_name(cfg, model_type, train_langs, eval_langs, index=None):
    """`<study>-<model type>-<train>-to-<eval>[-<index>]`, languages sorted and joined by '+' (as in
    run ids). Names in a config
    are letters, digits, '_' and '-' (config_schema.NAME_RE), so the result is shell- and file-safe."""
    name = f"{cfg['study']}-{model_type}-{'+'.join(sorted(train_langs))}-to-{'+'.join(sorted(eval_langs))}"
    return name if index is None else f"{name}-{index:03d}"


def _job(cfg, config_files, model_type, train, evals, force, index=None, hp=None, temp_config=None):
    cfg_run = with_hyperparameters(cfg, hp) if hp else cfg
    rid = runs.run_id(cfg_run, model_type, train, evals)
    files = list(config_files) + ([temp_config] if temp_config else [])
    return Job(name=job_name(cfg, model_type, train, evals, index), model_type=model_type,
               train_langs=tuple(train), eval_langs=tuple(evals), run_id=rid,
               run_dir=runs.run_dir(cfg_run, rid),
               args=tuple(finetune_args(files, model_type, train, evals, force)),
               hyperparameters=hp, temp_config=temp_config)


def plan_transfer_jobs(cfg, config_files, model_types, force=False):
    """finetuning-generator.py: the transfer matrix of the config's languages, per model type."""
    return [_job(cfg, config_files, mt, train, evals, force)
            for mt in model_types for train, evals in transfer_matrix(cfg["languages"])]


def plan_grid_jobs(cfg, config_files, grid, model_types, temp_config_dir, force=False):
    """grid-search.py: one job per (model type, permutation of grid["parameters"]), each training on
    grid["languages"]["train"] together and evaluating on grid["languages"]["eval"]. The
    permutation's hyperparameters go to a config in `temp_config_dir`, passed last to finetune-exp.py."""
    train, evals = grid["languages"]["train"], grid["languages"]["eval"]
    jobs = []
    for model_type in model_types:
        for index, hp in enumerate(grid_permutations(grid["parameters"]), start=1):
            temp = temp_config_path(temp_config_dir, cfg["study"], index, hp)
            jobs.append(_job(cfg, config_files, model_type, train, evals, force, index, hp, temp))
    return jobs


def with_hyperparameters(cfg, hp):
    """The config finetune-exp.py will see with the grid's override as its last config file
    (objects merge key by key, so only these hyperparameters change)."""
    out = copy.deepcopy(cfg)
    out["hyperparameters"].update(hp)
    return out


def hyperparameter_config(hp):
    """The content of a grid permutation's config file."""
    return {"hyperparameters": hp}


def temp_config_path(folder, study, index, hp):
    """`<folder>/<study>-grid-<index>-<hash8>.json`: the content hash keeps a newer grid from
    overwriting a file that a still-queued job of an older grid will read."""
    digest = hashlib.sha256(json.dumps(hp, sort_keys=True).encode()).hexdigest()[:8]
    return os.path.join(folder, f"{study}-grid-{index:03d}-{digest}.json")


def split_finished(jobs, force=False):
    """(to_run, finished): a job is finished when its run dir holds results.json; --force runs all."""
    if force:
        return list(jobs), []
    finished = [j for j in jobs if runs.is_finished(j.run_dir)]
    done = {j.name for j in finished}
    return [j for j in jobs if j.name not in done], finished


# ----------------------------------------------------------------------------- templates

def find_template(path, file_name):
    """A template argument: a file, or a directory holding `file_name`; relative to the working
    directory, else to the project root (like config files)."""
    candidates = [os.path.abspath(os.path.expanduser(path))]
    if not os.path.isabs(path):
        candidates.append(os.path.join(PROJECT_ROOT, path))
    for candidate in candidates:
        if os.path.isdir(candidate):
            candidate = os.path.join(candidate, file_name)
        if os.path.isfile(candidate):
            return candidate
    raise TemplateError(f"template '{path}' not found (looked for {' or '.join(dict.fromkeys(candidates))}"
                        f"; a directory must hold {file_name})")


def load_template(path):
    """A template's text; a missing file is a one-line error."""
    if os.path.isdir(path):
        raise TemplateError(f"template '{path}' is a directory; expected a template file")
    if not os.path.isfile(path):
        raise TemplateError(f"template '{path}' not found")
    with open(path, encoding="utf-8") as f:
        return f.read()


def template_fields(template, path="template"):
    """The names of the {fields} a str.format template uses (in order of first use)."""
    names = []
    try:
        for literal, field, _spec, _conv in string.Formatter().parse(template):
            if field is None:
                continue
            if literal.endswith("$"):
                raise TemplateError(f"{path}: ${{{field}}} is a shell variable to str.format; write "
                                    f"${{{{{field}}}}} (literal braces are doubled)")
            name = field.split(".")[0].split("[")[0]
            if not name.isidentifier():
                raise TemplateError(f"{path}: field {{{field}}} is not a name; use named fields like "
                                    "{job_name} (write {{ and }} for literal braces, e.g. ${{VAR}})")
            if name not in names:
                names.append(name)
    except ValueError as e:
        raise TemplateError(f"{path}: not a valid str.format template ({e}); write {{{{ and }}}} for "
                            "literal braces, e.g. ${{SLURM_CPUS_PER_TASK}}") from None
    return names


def job_fields(job, cfg, settings):
    """Every value a template may use for `job`: the required fields, paths, names, and the config's
    slurm.fields. Shell-facing strings are quoted (shlex), so paths with spaces survive."""
    q = shlex.quote
    fields = {"python": q(settings.python), "project_dir": q(settings.project_dir)}
    fields.update(cfg["slurm"].get("fields") or {})
    fields.update({
        "job_name": job.name,
        "cpus": settings.cpus,
        "gpus": settings.gpus,
        "timeout": settings.timeout,
        "args": shlex.join(job.args),
        "log": q(log_path(settings.output_dir, job.name)),
        "run_id": job.run_id,
        "run_dir": q(job.run_dir),
        "study": cfg["study"],
        "model_type": job.model_type,
        "train_langs": "+".join(sorted(job.train_langs)),
        "eval_langs": "+".join(sorted(job.eval_langs)),
        "output_dir": q(settings.output_dir),
    })
    if job.temp_config:
        fields["temp_config_name"] = q(job.temp_config)
    return fields


def log_path(output_dir, name, job_id="%j"):
    """The job's log; `%j` is Slurm's job id (replaced by the real id in the manifest)."""
    return os.path.join(output_dir, "logs", f"{name}-{job_id}.out")


def check_fields(template, path, fields_per_job):
    """Before anything is written or submitted: every field of the template has a value for every
    job, else ONE error listing the missing fields and where to set them. Unused values are fine."""
    used = template_fields(template, path)
    missing = [name for name in used if any(name not in fields for fields in fields_per_job)]
    if not missing:
        return
    settable = [n for n in missing if n not in JOB_FIELDS]
    hints = []
    if settable:
        example = ", ".join(f'"{n}": ...' for n in settable)
        hints.append(f"set {', '.join(settable)} in a config file: \"slurm\": {{\"fields\": {{{example}}}}}")
    hints += [f"{n} is only set by grid-search.py" for n in missing if n in GRID_ONLY_FIELDS]
    have = ", ".join(sorted(fields_per_job[0])) if fields_per_job else "(no jobs)"
    raise TemplateError(f"template {path} uses fields with no value: {', '.join(missing)}; "
                        f"{'; '.join(hints)} (fields with a value: {have})")


def check_slurm_fields(cfg):
    """slurm.fields must not set a per-job field (it would be silently replaced)."""
    clash = sorted(set(cfg["slurm"].get("fields") or {}) & set(JOB_FIELDS))
    if clash:
        raise ConfigError(f"slurm.fields.{clash[0]} is not allowed: the job generators set "
                          f"'{clash[0]}' for each job (per-job fields: {', '.join(JOB_FIELDS)})")


def render(template, fields):
    """The job script: the template with its fields filled in (str.format)."""
    return template.format(**fields)


def unused_config_fields(template, cfg, path="template"):
    """slurm.fields the template never uses (worth a warning: a partition that is silently dropped)."""
    used = set(template_fields(template, path))
    return sorted(set(cfg["slurm"].get("fields") or {}) - used)
