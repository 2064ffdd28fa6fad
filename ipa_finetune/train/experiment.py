"""What one finetune-exp.py run is, decided before anything heavy is imported.

plan_run() checks the command line against the study (model type, languages) and fixes the run id
and run directory, so that a finished run is recognised and skipped in a fraction of a second,
without importing torch.
"""
import dataclasses
import json
import os
import shutil

from .. import runs
from ..config.schema import SEED
from ..errors import ConfigError

CHECKPOINTS_DIR = "checkpoints"   # Trainer checkpoints, one per epoch, deleted once results are written
BEST_MODEL_DIR = "best_model"     # the best epoch's model + tokenizer, in HF format
PREDICTIONS_DIR = "predictions"   # the kept model's predictions per eval language and split
LOG_FILE = "train.log"


@dataclasses.dataclass(frozen=True)
class RunPlan:
    study: object           # config.study.Study, with --output-dir / --max-steps applied
    model_type: str
    train_langs: list
    eval_langs: list
    run_id: str
    run_dir: str

    @property
    def cfg(self):
        return self.study.cfg

    @property
    def model(self):
        """The model type's ModelSpec: checkpoint and tokenizer."""
        return self.study.model(self.model_type)

    @property
    def checkpoint(self):
        return self.model.checkpoint

    @property
    def checkpoints_dir(self):
        return os.path.join(self.run_dir, CHECKPOINTS_DIR)

    @property
    def log_file(self):
        return os.path.join(self.run_dir, LOG_FILE)

    @property
    def results_file(self):
        return runs.results_path(self.run_dir)


def _languages(study, langs, flag):
    if len(set(langs)) != len(langs):
        raise ConfigError(f"{flag} names a language twice: {' '.join(langs)}")
    study.check_languages(langs)
    return sorted(langs)


def run_seed(study, seed=None, config_names=()):
    """The run's one seed: --seed when given, else the config's. A config may list several seeds for
    the launchers (one run per seed), but one run has one: a list without --seed is a ConfigError."""
    value = study.hyperparameters["seed"]
    if seed is not None:
        if not SEED.ok(seed):
            raise ConfigError(f"--seed {seed} is not valid; expected {SEED.expected}")
        return seed
    if isinstance(value, list):
        where = f" (from {', '.join(config_names)})" if config_names else ""
        raise ConfigError(
            f"hyperparameters.seed = {json.dumps(value)}{where} is a list of seeds, but one run has one "
            f"seed: add --seed S (e.g. --seed {value[0]}), or start one run per seed with "
            "finetuning-generator.py or grid-search.py")
    return value


def plan_run(study, model_type, train_langs, eval_langs, output_dir=None, max_steps=None, seed=None,
             config_names=()):
    """Validate the run's identity and fix its id and folder. --max-steps is recorded as the
    hyperparameter `max_steps`, so a shortened debug run never takes the place of the real one;
    --seed replaces hyperparameters.seed (which may be a list: run_seed)."""
    study.model(model_type)  # a known model type
    train = _languages(study, train_langs, "--train-langs")
    evals = _languages(study, eval_langs, "--eval-langs")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps {max_steps}: expected a number of steps >= 1")
    overrides = {"seed": run_seed(study, seed, config_names)}
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    study = study.with_overrides(hyperparameters=overrides, results_dir=output_dir)
    rid = runs.run_id(study.cfg, model_type, train, evals)
    return RunPlan(study=study, model_type=model_type, train_langs=train, eval_langs=evals, run_id=rid,
                   run_dir=runs.run_dir(study.cfg, rid))


def finished_message(plan):
    """None when the run still has work to do; else the line saying it is done."""
    if not runs.is_finished(plan.run_dir):
        return None
    return (f"run {plan.run_id} is already finished: {plan.results_file} exists; nothing to do "
            "(use --force to run it again)")


def clear_leftover_checkpoints(plan):
    """A run killed between writing results.json and deleting its checkpoints leaves them behind."""
    if runs.is_finished(plan.run_dir) and os.path.isdir(plan.checkpoints_dir):
        shutil.rmtree(plan.checkpoints_dir, ignore_errors=True)


def start_fresh(plan):
    """--force: remove the run's previous results, best model, predictions and checkpoints (the log
    stays)."""
    if os.path.isfile(plan.results_file):
        os.remove(plan.results_file)
    for sub in (BEST_MODEL_DIR, CHECKPOINTS_DIR, PREDICTIONS_DIR):
        shutil.rmtree(os.path.join(plan.run_dir, sub), ignore_errors=True)


def default_cpus():
    """CPUs this process may use: Slurm's allocation when inside a job (torch would otherwise use
    every core of the node), else the cores this process is allowed to run on."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
