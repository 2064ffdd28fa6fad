"""The config's `slurm.options` as sbatch options (pure: the config's map in, text or words out).

    sbatch_lines({"partition": "gpu", "exclusive": True, "mem": "32G"})
    # '#SBATCH --partition=gpu\\n#SBATCH --exclusive\\n#SBATCH --mem=32G'
    report_job_options({"partition": "gpu", "account": "lab", "mem": "32G"})
    # ['--partition=gpu', '--account=lab']: where the report job may run, not what it needs

config/schema.py validated the map when the config was loaded: long option names, values without
whitespace or quotes (sbatch splits `#SBATCH` lines at whitespace and has no quoting), none of the
options the templates set themselves. `true` is a bare flag, `false` leaves the option out.
"""

# The options that say where a job may run (who pays, which queue), which a small CPU-only job such
# as the report job needs as much as the fine-tunes; resource options (mem, gres, constraint,
# exclusive, ...) describe a fine-tune and are not passed on.
PLACEMENT_OPTIONS = ("account", "partition", "qos", "reservation", "clusters", "wckey")


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
