"""What finetune-exp.py's runs are, decided before anything heavy is imported.

plan_run() checks the command line against the study (model type, languages), fingerprints the
run's inputs (checkpoint, tokenizer, datasets: hashed once per change, see ipa_finetune.inputs) and
fixes the run id and run directory, so that a finished run is recognised and skipped in a fraction
of a second, without importing torch.

    plans = plan_runs(study, "ipa", ["russian"], ["polish"])   # one per seed of the config
"""
import dataclasses
import os
import shutil

from .. import predictions, runs
from ..config.seeds import check_seeds, replicate_seeds, with_seed
from ..errors import ConfigError
from ..inputs.fingerprint import run_inputs, short
from ..inputs import preflight

CHECKPOINTS_DIR = "checkpoints"   # Trainer checkpoints, one per epoch, deleted once results are written
BEST_MODEL_DIR = "best_model"     # the best epoch's model + tokenizer, in HF format
LOG_FILE = "train.log"


@dataclasses.dataclass(frozen=True)
class RunPlan:
    study: object           # config.study.Study, with --output-dir / --max-steps applied
    model_type: str
    train_langs: list
    eval_langs: list
    run_id: str
    run_dir: str
    inputs: dict            # inputs.fingerprint.run_inputs: what the run reads, by content

    @property
    def cfg(self):
        return self.study.cfg

    @property
    def model(self):
        """The model type's ModelSpec: checkpoint and tokenizer."""
        return self.study.model(self.model_type)

    @property
    def seed(self):
        return self.cfg["hyperparameters"]["seed"]

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


def plan_run(study, model_type, train_langs, eval_langs, seed=None, output_dir=None, max_steps=None):
    """Validate the run's identity and fix its id and folder. seed: the run's seed, replacing
    hyperparameters.seed (None: the config's own, one seed). --max-steps is recorded as the
    hyperparameter `max_steps`, so a shortened debug run never takes the place of the real one."""
    study.model(model_type)  # a known model type
    train = _languages(study, train_langs, "--train-langs")
    evals = _languages(study, eval_langs, "--eval-langs")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps {max_steps}: expected a number of steps >= 1")
    overrides = with_seed({} if max_steps is None else {"max_steps": max_steps}, seed)
    study = study.with_overrides(hyperparameters=overrides, results_dir=output_dir)
    found = run_inputs(study, model_type, train, evals)
    rid = runs.run_id(study.cfg, model_type, train, evals, found)
    return RunPlan(study=study, model_type=model_type, train_langs=train, eval_langs=evals, run_id=rid,
                   run_dir=runs.run_dir(study.cfg, rid), inputs=found)


def plan_runs(study, model_type, train_langs, eval_langs, seed=None, output_dir=None, max_steps=None):
    """finetune-exp.py's runs: one per seed of hyperparameters.seed, or the one of --seed `seed`."""
    given = None if seed is None else check_seeds([seed], "--seed")
    return [plan_run(study, model_type, train_langs, eval_langs, s, output_dir, max_steps)
            for s in replicate_seeds(study.hyperparameters, given) or [None]]


def finished(plan):
    """None while the run has work to do. For a finished run: removes the checkpoints a run killed
    between writing results.json and deleting them left behind, and returns the line saying so."""
    if not runs.is_finished(plan.run_dir):
        return None
    shutil.rmtree(plan.checkpoints_dir, ignore_errors=True)
    return (f"run {plan.run_id} is already finished: {plan.results_file} exists; nothing to do "
            "(use --force to run it again)")


def check_inputs(plans):
    """The launchers' pre-flight check for these runs (every problem at once, before a run folder is
    made or torch imported); the full checks follow when the data is loaded."""
    by_inputs = {}  # the runs of one study's inputs (they differ in hyperparameters only) checked at once
    for p in plans:
        key = runs.canonical({k: v for k, v in p.cfg.items() if k != "hyperparameters"})
        by_inputs.setdefault(key, []).append(p)
    problems = [problem for group in by_inputs.values() for problem in preflight.check_runs(group[0].study, [
        (p.model_type, p.train_langs, p.eval_langs) for p in group])]
    preflight.raise_problems(problems, "nothing was trained")


def changed_inputs_message(plan):
    """None, or the line saying that a finished run with the same settings read other inputs (its
    folder is kept; this run trains anew under its own id)."""
    changed = runs.changed_since(plan.run_dir, plan.cfg["task"], plan.cfg["hyperparameters"], plan.inputs)
    if changed is None:
        return None
    old, what = changed
    return f"inputs changed since run {old}: {'; '.join(what)}; training a new run (the old one is kept)"


def header_lines(plan):
    """What the run reads, for the start of its log: checkpoint and tokenizer with short hashes, and
    the columns of each language (`reads: ipa`)."""
    ckpt, tok = plan.inputs["checkpoint"], plan.inputs["tokenizer"]
    columns = {lang: "+".join(d["columns"]) for lang, d in plan.inputs["datasets"].items()}
    reads = (next(iter(columns.values())) if len(set(columns.values())) == 1
             else ", ".join(f"{lang}: {c}" for lang, c in columns.items()))
    what = "target column" if plan.study.seq2seq else "label column"
    return [f"checkpoint {ckpt['path']} (sha256 {short(ckpt['sha256'])})",
            f"tokenizer {tok['name']}: {' + '.join(tok['path'])} (sha256 {short(tok['sha256'])})",
            f"reads: {reads} ({what}: "
            f"{', '.join(sorted({d['label_column'] for d in plan.inputs['datasets'].values()}))})"]


def start_fresh(plan):
    """--force: remove the run's previous results, best model, predictions and checkpoints (the log
    stays)."""
    if os.path.isfile(plan.results_file):
        os.remove(plan.results_file)
    for sub in (BEST_MODEL_DIR, CHECKPOINTS_DIR, predictions.FOLDER):
        shutil.rmtree(os.path.join(plan.run_dir, sub), ignore_errors=True)
