"""Job templates: str.format Slurm scripts from jobs/templates/ (pure: text in, text out).

    template = load_template(find_template("jobs/templates/", "finetune-template.sh"))
    fields = [job_fields(job, cfg, settings) for job in planned]
    check_fields(template, "finetune-template.sh", fields)      # one error naming every missing field
    script = render(template, fields[0])

A bash `${VAR}` must be written `${{VAR}}` in a template (str.format doubles literal braces);
template_fields() says so when a template forgets.
"""
import os
import shlex
import string

from ..config.schema import GRID_ONLY_TEMPLATE_FIELDS, JOB_TEMPLATE_FIELDS
from ..errors import UserError
from ..files import find_file
from .manifest import log_path


class TemplateError(UserError):
    """A job template is missing, malformed, or uses fields nobody sets."""


def find_template(path, file_name):
    """A template argument: a file, or a directory holding `file_name`; relative to the working
    directory, else to the project root (like config files)."""
    return find_file(path, "template", inside=file_name, error=TemplateError)


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


def check_fields(template, path, fields_per_job):
    """Before anything is written or submitted: every field of the template has a value for every
    job, else ONE error listing the missing fields and where to set them. Unused values are fine."""
    used = template_fields(template, path)
    missing = [name for name in used if any(name not in fields for fields in fields_per_job)]
    if not missing:
        return
    settable = [n for n in missing if n not in JOB_TEMPLATE_FIELDS]
    hints = []
    if settable:
        example = ", ".join(f'"{n}": ...' for n in settable)
        hints.append(f"set {', '.join(settable)} in a config file: \"slurm\": {{\"fields\": {{{example}}}}}")
    hints += [f"{n} is only set by grid-search.py" for n in missing if n in GRID_ONLY_TEMPLATE_FIELDS]
    have = ", ".join(sorted(fields_per_job[0])) if fields_per_job else "(no jobs)"
    raise TemplateError(f"template {path} uses fields with no value: {', '.join(missing)}; "
                        f"{'; '.join(hints)} (fields with a value: {have})")


def render(template, fields):
    """The job script: the template with its fields filled in (str.format)."""
    return template.format(**fields)


def unused_config_fields(template, cfg, path="template"):
    """slurm.fields the template never uses (worth a warning: a partition that is silently dropped)."""
    used = set(template_fields(template, path))
    return sorted(set(cfg["slurm"].get("fields") or {}) - used)
