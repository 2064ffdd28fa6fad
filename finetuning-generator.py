"""Generates and submits jobs for a given config: the cross-lingual transfer matrix, for each model type.

With languages A and B: A+B->A, A+B->B, A->A, A->B, B->A, B->B (train -> eval). With more languages:
all languages together -> each language, then each language -> each language (n + n*n jobs).

Example (see the jobs first, then submit them; or run them here with --local):
    python finetuning-generator.py config/finetune-rus-pol-sentiment.json --timeout 04:00:00 --dry-run
"""
import argparse
import sys

from ipa_finetune import jobs, slurm
from ipa_finetune.cli import exit_on_user_error
from ipa_finetune.config_loader import add_config_arguments, config_from_args, find_config_file

TEMPLATE = "finetune-template.sh"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="jobs/templates/",
                        help=f"template directory (holding {TEMPLATE}), or a template file "
                             "(default: %(default)s)")
    slurm.add_output_argument(parser)
    slurm.add_launch_arguments(parser)
    add_config_arguments(parser)
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    options = slurm.options_from_args(args)
    model_types = slurm.model_types_from_args(args, cfg)
    template_path = jobs.find_template(args.template, TEMPLATE)
    template = jobs.load_template(template_path)
    settings = slurm.settings_from_args(args, cfg, args.output_dir or slurm.default_output_dir(cfg))
    config_files = [find_config_file(p) for p in args.config]
    planned = jobs.plan_transfer_jobs(cfg, config_files, model_types, force=args.force)
    print(f"transfer matrix of {', '.join(cfg['languages'])}: {len(planned) // len(model_types)} "
          f"configurations x {len(model_types)} model types ({', '.join(model_types)})")
    sys.exit(slurm.launch(planned, template, template_path, cfg, settings, options, what="jobs"))


if __name__ == "__main__":
    main()
