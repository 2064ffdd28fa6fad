"""Grid search: one finetune-exp.py job per permutation of the grid config's hyperparameters, for each
model type, written from a Slurm template and submitted with sbatch (or run here with --local).

Example (see the jobs first, then submit them):
    python grid-search.py config/finetune-rus-pol-sentiment.json --grid-config config/grid-search.json \\
        --model-type normal ipa --timeout 02:00:00 --dry-run
"""
import argparse
import os
import sys

from ipa_finetune.launch import jobs, launcher
from ipa_finetune.cli import exit_on_user_error
from ipa_finetune.config.loader import add_config_arguments, load_grid_config

TEMPLATE = "grid-search-fine-tune-template.sh"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid-config", default="config/grid-search.json",
                        help="Path to the configuration file for the grid search ranges "
                             "(default: %(default)s)")
    parser.add_argument("-t", "--template", default=f"jobs/templates/{TEMPLATE}",
                        help="Path to the template file, or a directory holding "
                             f"{TEMPLATE} (default: %(default)s)")
    launcher.add_output_argument(parser)
    parser.add_argument("--temp-config-dir",
                        help="Path to the temporary configuration directory for generate config files: "
                             "one hyperparameter config per permutation, passed to finetune-exp.py as "
                             "its last config (default: the config's paths.temp_config_dir)")
    launcher.add_launch_arguments(parser)
    add_config_arguments(parser)
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    setup = launcher.setup_from_args(args, TEMPLATE)
    cfg, model_types = setup.cfg, setup.model_types
    grid = load_grid_config(args.grid_config, cfg, setup.study.task_type)
    temp_dir = os.path.abspath(args.temp_config_dir or cfg["paths"]["temp_config_dir"])
    planned = jobs.plan_grid_jobs(setup.study, setup.config_files, grid, model_types, temp_dir,
                                  force=args.force, seeds=setup.seeds)
    permutations = len(planned) // len(model_types)
    seeds = len({job.hyperparameters.get("seed") for job in planned})
    settings = f" ({permutations // seeds} settings x {seeds} seeds)" if seeds > 1 else ""
    print(launcher.plan_line(f"grid {grid['file']}: {permutations} permutations{settings}", setup)
          + f"; train on {'+'.join(grid['languages']['train'])}, evaluate on "
          f"{'+'.join(grid['languages']['eval'])}")
    sys.exit(launcher.launch(planned, setup, what="grid runs"))


if __name__ == "__main__":
    main()
