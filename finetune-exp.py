"""Fine-tune one nanoGPT checkpoint for classification and evaluate it: one run of a study per seed.

    python finetune-exp.py config/demo.json --model-type ipa --train-langs polish russian \
        --eval-langs russian
    python finetune-exp.py config/demo.json --model-type ipa --train-langs russian --eval-langs polish \
        --seed 2

Trains on the train splits of --train-langs together, evaluates every epoch on the eval splits that
hyperparameters.selection names (default "source": the train languages', so a cross-lingual run never
sees the target's labels before its final evaluation), keeps the epoch best on average (or the last),
evaluates it on each --eval-langs language's eval and test split, and writes
<results_dir>/<study>/<run_id>/results.json (plus predictions/, best_model/ and train.log). A finished run is skipped;
a killed one resumes from its last checkpoint when started again with the same arguments. SIGTERM or
SIGUSR1 (Slurm's warning before a time-limit or preemption kill) saves a checkpoint at the current step
and exits with 128 + the signal number (143 for SIGTERM) without writing results.json.

When hyperparameters.seed lists several seeds (replicates) and no --seed is given, each seed is its
own run (own run id and folder), trained one after the other in this process: finished ones are
skipped, a stop signal ends after saving the current run's checkpoint, and a run that fails does not
stop the next (the exit status is then 1). --seed S runs only seed S.
"""
import argparse
import sys

from ipa_finetune.cli import exit_on_user_error, positive_int
from ipa_finetune.config.loader import add_config_arguments
from ipa_finetune.config.study import study_from_args
from ipa_finetune.cpus import default_cpus
from ipa_finetune.inputs.fingerprint import shared_columns
from ipa_finetune.train import experiment, runner


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Fine-tune a nanoGPT checkpoint on the train splits of some languages and evaluate "
                    "it on others; writes results.json, the best model and train.log to the run folder.")
    add_config_arguments(parser)
    parser.add_argument("--model-type",
                        help="which pretrained model to fine-tune: a key of the config's model_types "
                             "(e.g. normal or ipa)")
    parser.add_argument("--train-langs", nargs="+", metavar="LANG",
                        help="languages whose train splits are concatenated for training")
    parser.add_argument("--eval-langs", nargs="+", metavar="LANG",
                        help="languages evaluated at the end (eval and test split, with predictions); "
                             "every epoch too under hyperparameters.selection target")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="results folder to use instead of the config's paths.results_dir; the run "
                             "goes to DIR/<study>/<run_id>/")
    parser.add_argument("--force", action="store_true",
                        help="run again even if results.json exists: once the inputs are validated, "
                             "deletes the run's results.json, best_model/ and checkpoints/ and trains "
                             "from scratch (train.log is appended to)")
    parser.add_argument("--cpus", type=positive_int, default=None, metavar="N",
                        help="CPU cores to use (torch threads; data loader workers on a GPU machine are "
                             "cpus-1, at most 8); default: $SLURM_CPUS_PER_TASK when set, else all "
                             "cores this process may use")
    parser.add_argument("--max-steps", type=positive_int, default=None, metavar="N",
                        help="stop after N optimizer steps (for debugging and smoke tests); recorded as "
                             "hyperparameter max_steps, so the run gets its own run id")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="run only this seed, replacing hyperparameters.seed (default: the config's "
                             "seed, or each seed of its list, one run after the other)")
    parser.add_argument("--no-save-model", dest="save_model", action="store_false",
                        help="do not write best_model/ (saves disk in big grids); metrics are unchanged")
    args = parser.parse_args(argv)
    if not args.print_config:  # --print-config needs only the config files
        missing = [flag for flag, value in (("--model-type", args.model_type),
                                            ("--train-langs", args.train_langs),
                                            ("--eval-langs", args.eval_langs)) if not value]
        if missing:
            parser.error(f"the following arguments are required: {', '.join(missing)}")
    return args


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    study = study_from_args(args)
    plans = experiment.plan_runs(study, args.model_type, args.train_langs, args.eval_langs, seed=args.seed,
                                 output_dir=args.output_dir, max_steps=args.max_steps)
    for line in shared_columns(study, args.train_langs + args.eval_langs):
        print(f"warning: {line}", file=sys.stderr)
    return runner.run_plans(plans, cpus=args.cpus or default_cpus(), save_model=args.save_model,
                            force=args.force)


if __name__ == "__main__":
    sys.exit(main())
