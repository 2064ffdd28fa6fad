"""What one finetune-exp.py run is, decided before anything heavy is imported.

plan_run() checks the command line against the config (model type, languages, checkpoint file) and
fixes the run id and run directory, so that a finished run is recognised and skipped in a fraction of
a second, without importing torch.
"""
import copy
import dataclasses
import os
import shutil

from . import runs
from .config_loader import resolve_path, validate_languages, validate_model_type
from .errors import CheckpointError, ConfigError

CHECKPOINTS_DIR = "checkpoints"   # Trainer checkpoints, one per epoch, deleted once results are written
BEST_MODEL_DIR = "best_model"     # the best epoch's model + tokenizer, in HF format
LOG_FILE = "train.log"


@dataclasses.dataclass
class RunPlan:
    cfg: dict               # resolved config (with --output-dir / --max-steps applied)
    model_type: str
    train_langs: list
    eval_langs: list
    run_id: str
    run_dir: str
    checkpoint: str         # absolute path of the nanoGPT ckpt.pt

    @property
    def checkpoints_dir(self):
        return os.path.join(self.run_dir, CHECKPOINTS_DIR)

    @property
    def log_file(self):
        return os.path.join(self.run_dir, LOG_FILE)

    @property
    def results_file(self):
        return runs.results_path(self.run_dir)


def checkpoint_path(cfg, model_type, must_exist=True):
    """checkpoint_prefix/<model_prefix>/ckpt.pt (nanoGPT's layout); CheckpointError if missing."""
    prefix = cfg["model_types"][model_type]["model_prefix"]
    path = os.path.join(resolve_path(cfg["paths"]["checkpoint_prefix"]), prefix, "ckpt.pt")
    if must_exist and not os.path.isfile(path):
        raise CheckpointError(
            f"checkpoint of model type '{model_type}' not found: {path} (from paths.checkpoint_prefix "
            f"and model_types.{model_type}.model_prefix = '{prefix}')")
    return path


def _languages(cfg, langs, flag):
    if len(set(langs)) != len(langs):
        raise ConfigError(f"{flag} names a language twice: {' '.join(langs)}")
    validate_languages(cfg, langs)
    return sorted(langs)


def plan_run(cfg, model_type, train_langs, eval_langs, output_dir=None, max_steps=None):
    """Validate the run's identity and fix its id and folder. --max-steps is recorded as the
    hyperparameter `max_steps`, so a shortened debug run never takes the place of the real one."""
    cfg = copy.deepcopy(cfg)
    validate_model_type(cfg, model_type)
    train = _languages(cfg, train_langs, "--train-langs")
    evals = _languages(cfg, eval_langs, "--eval-langs")
    if max_steps is not None:
        if max_steps < 1:
            raise ConfigError(f"--max-steps {max_steps}: expected a number of steps >= 1")
        cfg["hyperparameters"]["max_steps"] = max_steps
    if output_dir is not None:
        cfg["paths"]["results_dir"] = os.path.abspath(output_dir)
    rid = runs.run_id(cfg, model_type, train, evals)
    return RunPlan(cfg=cfg, model_type=model_type, train_langs=train, eval_langs=evals, run_id=rid,
                   run_dir=runs.run_dir(cfg, rid),
                   checkpoint=checkpoint_path(cfg, model_type, must_exist=False))


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
    """--force: remove the run's previous results, best model and checkpoints (the log stays)."""
    if os.path.isfile(plan.results_file):
        os.remove(plan.results_file)
    for sub in (BEST_MODEL_DIR, CHECKPOINTS_DIR):
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
