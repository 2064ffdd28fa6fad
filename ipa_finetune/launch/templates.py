"""Job templates: str.format Slurm scripts from jobs/templates/, and the config's sbatch options
(pure: text in, text out).

    template = load_template(find_template("jobs/templates/", "finetune-template.sh"))
    fields = [job_fields(job, cfg, settings) for job in planned]
    check_fields(template, "finetune-template.sh", fields)      # one error naming every missing field
    script = render(template, fields[0])
    sbatch_lines({"partition": "gpu", "exclusive": True})     # '#SBATCH --partition=gpu\n#SBATCH --exclusive'
    report_job_options({"partition": "gpu", "mem": "32G"})    # ['--partition=gpu']: where, not what

A bash `${VAR}` must be written `${{VAR}}` in a template (str.format doubles literal braces);
template_fields() says so when a template forgets. A line holding nothing but a field that is empty
for this script (`{array}` of a single job, `{sbatch_options}` without slurm.options) is left out.
config/schema.py validated slurm.options when the config was loaded: long option names, values
without whitespace or quotes (sbatch splits `#SBATCH` lines at whitespace and has no quoting), none of
the options the templates set themselves. `true` is a bare flag, `false` leaves the option out.
"""
import os
import re
import shlex
import string

from ..config.schema import GRID_ONLY_TEMPLATE_FIELDS, JOB_TEMPLATE_FIELDS
from ..errors import UserError
from ..files import find_file
from ..manifest import log_path
from .packing import job_time

# The options that say where a job may run (who pays, which queue), which a small CPU-only job such
# as the report job needs as much as the fine-tunes; resource options (mem, gres, constraint,
# exclusive, ...) describe a fine-tune and are not passed on.
PLACEMENT_OPTIONS = ("account", "partition", "qos", "reservation", "clusters", "wckey")

ARRAY_FIELDS = ("array", "array_task")  # what a template needs to run as a job array
FIELD_LINE_RE = re.compile(r"^\s*\{([A-Za-z_][A-Za-z0-9_]*)\}\s*$")
SHIPPED = "jobs/templates/finetune-template.sh"  # the example to copy from, in messages


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


def option_words(options):
    """`--name=value` (or a bare `--name` for true) per option, in the config's order."""
    words = []
    for name, value in options.items():
        if value is True:
            words.append(f"--{name}")
        elif value is not False and value is not None:
            words.append(f"--{name}={value}")
    return words


def sbatch_lines(options):
    """The template field `sbatch_options`: one `#SBATCH` line per option, or "" for none."""
    return "\n".join(f"#SBATCH {word}" for word in option_words(options))


def report_job_options(options):
    """The placement options (PLACEMENT_OPTIONS) of `options`, as sbatch command-line words."""
    return option_words({k: v for k, v in options.items() if k in PLACEMENT_OPTIONS})


def run_values(pack):
    """The per-run fields of a job's runs as lists of words: one run id, run folder and grid config
    per run; its runs' distinct model types and train and eval languages (`+`-joined)."""
    runs = pack.runs
    distinct = lambda values: list(dict.fromkeys(values))  # noqa: E731
    return {"run_id": [r.run_id for r in runs], "run_dir": [r.run_dir for r in runs],
            "model_type": distinct(r.model_type for r in runs),
            "train_langs": distinct("+".join(sorted(r.train_langs)) for r in runs),
            "eval_langs": distinct("+".join(sorted(r.eval_langs)) for r in runs),
            "temp_config_name": [r.temp_config for r in runs if r.temp_config]}


def job_fields(pack, cfg, settings):
    """Every value a template may use for a job (a packing.Pack of one or more runs): the required
    fields, paths, names, and the config's slurm.fields. Shell-facing strings are quoted (shlex), so
    paths with spaces survive; a per-run field holds one word per run (run_values)."""
    q = shlex.quote
    fields = {"python": q(settings.python), "project_dir": q(settings.project_dir)}
    fields.update(cfg["slurm"].get("fields") or {})
    values = run_values(pack)
    fields.update({
        "sbatch_options": sbatch_lines(cfg["slurm"].get("options") or {}),
        "array": "",        # a single job; arrays.array_fields fills these for an array script
        "array_task": "",
        "job_name": pack.name,
        "cpus": settings.cpus,
        "gpus": settings.gpus,
        "timeout": job_time(pack, settings),
        "args": shlex.join(pack.args(settings.runs_at_once)),
        "log": q(log_path(settings.output_dir, pack.name)),
        "run_id": " ".join(values["run_id"]),
        "run_dir": shlex.join(values["run_dir"]),
        "study": cfg["study"],
        "model_type": " ".join(values["model_type"]),
        "train_langs": " ".join(values["train_langs"]),
        "eval_langs": " ".join(values["eval_langs"]),
        "output_dir": q(settings.output_dir),
    })
    if values["temp_config_name"]:
        fields["temp_config_name"] = shlex.join(values["temp_config_name"])
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
    """The job script: the template with its fields filled in (str.format); a line that is only a
    field whose value is empty is left out, so a single job's script has no blank `{array}` line."""
    def kept(line):
        match = FIELD_LINE_RE.match(line)
        return not (match and fields.get(match.group(1)) == "")
    return "".join(filter(kept, template.splitlines(keepends=True))).format(**fields)


def unused_config_fields(template, cfg, path="template"):
    """slurm.fields the template never uses (a partition that would be silently dropped)."""
    used = set(template_fields(template, path))
    return sorted(set(cfg["slurm"].get("fields") or {}) - used)


def check_template_uses(template, path, cfg, array):
    """Before anything is written: nothing the config sets is silently dropped, and an array launch
    has a template that can run one. Each problem is one error naming the field and the fix."""
    used = set(template_fields(template, path))
    unused = unused_config_fields(template, cfg, path)
    if unused:
        name = unused[0]
        raise TemplateError(f"the template {path} does not use slurm.fields {', '.join(unused)}: use "
                            f"slurm.options for #SBATCH options (e.g. \"options\": {{\"{name}\": ...}}), "
                            f"or add {{{name}}} to your template")
    if cfg["slurm"].get("options") and "sbatch_options" not in used:
        raise TemplateError(f"the template {path} has no {{sbatch_options}} field, so the config's "
                            f"slurm.options ({', '.join(cfg['slurm']['options'])}) would be dropped: add "
                            f"a line {{sbatch_options}} below its #SBATCH lines, as in {SHIPPED}")
    missing = [f"{{{name}}}" for name in ARRAY_FIELDS if name not in used]
    if array and missing:
        raise TemplateError(f"the template {path} cannot run as a job array: it lacks "
                            f"{' and '.join(missing)} ({{array}}: the #SBATCH --array line; {{array_task}}: "
                            f"the lines that read the task's line of the job list); add them as in "
                            f"{SHIPPED}, or pass --no-array for one script per job")
