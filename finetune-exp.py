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

Several runs, each with its own arguments, separated by --then, run one after another in this process
(what a packed Slurm job runs: docs/slurm.md, "Several runs per job"); --runs-at-once N shares them
among N processes running at the same time (on one GPU):

    python finetune-exp.py config/demo.json --model-type ipa --train-langs russian --eval-langs polish \
        --seed 1 --then config/demo.json --model-type normal --train-langs russian --eval-langs polish --seed 1
"""
import argparse
import os
import sys

from ipa_finetune.cli import exit_on_user_error, positive_int
from ipa_finetune.config.loader import add_config_arguments
from ipa_finetune.config.study import study_from_args
from ipa_finetune.cpus import default_cpus
from ipa_finetune.inputs.fingerprint import shared_columns
from ipa_finetune.runs import NEXT_RUN, is_finished, split_run_specs
from ipa_finetune.train import experiment, runner

PROCESS_OPTIONS = ("--cpus", "--runs-at-once")  # options of the process, not of one run


def build_parser():
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
    parser.add_argument(NEXT_RUN, action="store_true",
                        help="starts the arguments of the next run (config files and all): the runs "
                             "train one after another in this process, loading what they share once")
    parser.add_argument("--runs-at-once", type=positive_int, default=None, metavar="N",
                        help="train the runs in N processes at the same time (sharing a GPU), each "
                             "with --cpus / N CPUs (default 1: one after another)")
    return parser


def parse_args(argv=None):
    """One namespace per run (their arguments separated by --then); --cpus and --runs-at-once belong
    to the process: given in several runs' arguments, they must agree."""
    parser = build_parser()
    specs = split_run_specs(sys.argv[1:] if argv is None else list(argv))
    parsed = [parser.parse_args(spec) for spec in specs]
    for args in parsed:
        if args.print_config and len(parsed) > 1:
            parser.error(f"--print-config shows one config: not with {NEXT_RUN}")
        missing = [flag for flag, value in (("--model-type", args.model_type),
                                            ("--train-langs", args.train_langs),
                                            ("--eval-langs", args.eval_langs)) if not value]
        if missing and not args.print_config:  # --print-config needs only the config files
            parser.error(f"the following arguments are required: {', '.join(missing)}")
    for flag in PROCESS_OPTIONS:
        name = flag[2:].replace("-", "_")
        values = {getattr(a, name) for a in parsed} - {None}
        if len(values) > 1:
            parser.error(f"{flag} is one value for all runs, got {' and '.join(map(str, sorted(values)))}")
        value = values.pop() if values else None
        for args in parsed:
            setattr(args, name, value)
    for args, spec in zip(parsed, specs):
        args.words = run_words(spec)
    return parsed


def run_words(words):
    """A run's arguments without the process's options (what a process of --runs-at-once gets)."""
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in PROCESS_OPTIONS:
            skip = True
        elif not word.startswith(tuple(f"{flag}=" for flag in PROCESS_OPTIONS)):
            out.append(word)
    return out


def plan(args):
    """The runs of one run's arguments: [(runner.Queued, its own arguments)], one per seed."""
    study = study_from_args(args)
    plans = experiment.plan_runs(study, args.model_type, args.train_langs, args.eval_langs, seed=args.seed,
                                 output_dir=args.output_dir, max_steps=args.max_steps)
    for line in shared_columns(study, args.train_langs + args.eval_langs):
        print(f"warning: {line}", file=sys.stderr)
    seeded = len(plans) > 1  # a seed list: each process of --runs-at-once gets its seed's run
    return [(runner.Queued(p, args.force, args.save_model), args.words + (["--seed", str(p.seed)] if seeded else []))
            for p in plans]


@exit_on_user_error
def main(argv=None):
    parsed = parse_args(argv)
    queue = [item for args in parsed for item in plan(args)]  # every run planned before any trains
    cpus, at_once = parsed[0].cpus or default_cpus(), parsed[0].runs_at_once or 1
    todo = [words for q, words in queue if q.force or not is_finished(q.plan.run_dir)]
    if at_once > 1 and len(todo) > 1:
        for q, _ in queue:
            done = not q.force and experiment.finished(q.plan)
            if done:
                print(done)
        return runner.run_at_once(os.path.abspath(__file__), todo, cpus, at_once)
    return runner.run_queue([q for q, _ in queue], cpus)


if __name__ == "__main__":
    sys.exit(main())
