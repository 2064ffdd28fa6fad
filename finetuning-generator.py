"""Generates and submits jobs for a given config: the cross-lingual transfer matrix, for each model type.

With languages A and B: A+B->A, A+B->B, A->A, A->B, B->A, B->B (train -> eval). With more languages:
all languages together -> each language, then each language -> each language (n + n*n jobs).

Example (see the jobs first, then submit them; or run them here with --local):
    python finetuning-generator.py config/finetune-rus-pol-sentiment.json --timeout 04:00:00 --dry-run
"""
import argparse
import sys

from ipa_finetune.launch import jobs, launcher
from ipa_finetune.cli import exit_on_user_error
from ipa_finetune.config.loader import add_config_arguments

TEMPLATE = "finetune-template.sh"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="jobs/templates/",
                        help=f"template directory (holding {TEMPLATE}), or a template file "
                             "(default: %(default)s)")
    launcher.add_output_argument(parser)
    launcher.add_launch_arguments(parser)
    add_config_arguments(parser)
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    setup = launcher.setup_from_args(parse_args(argv), TEMPLATE)
    planned = jobs.plan_transfer_jobs(setup.study, setup.config_files, setup.model_types,
                                      force=setup.options.force, seeds=setup.seeds)
    seeds = len({job.seed for job in planned})
    configurations = len(planned) // len(setup.model_types) // seeds
    print(launcher.plan_line(f"transfer matrix of {', '.join(setup.cfg['languages'])}: "
                             f"{configurations} configurations", setup)
          + (f" x {seeds} seeds" if seeds > 1 else ""))
    sys.exit(launcher.launch(planned, setup, what="runs"))


if __name__ == "__main__":
    main()
