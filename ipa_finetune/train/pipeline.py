"""The pipeline behind finetune-exp.py: validate, tokenize, train with the HF Trainer, evaluate, write.

    plan = experiment.plan_run(study, "ipa", ["polish", "russian"], ["russian"])
    results = pipeline.run(plan, cpus=4)

Order of work, so that bad input fails before the first step and killed work is never lost:
1. check the checkpoint file, tokenizer, every dataset split, column and label, and the model itself;
2. tokenize (a cached `map`: jobs of a grid and resumed jobs reuse it);
3. train, evaluating the validation split of every train and eval language and predicting the eval
   languages' test splits every epoch (what each selection protocol needs: epochs.py; the run's own
   protocol, selection.py, chooses the epoch it keeps) and saving a checkpoint in <run_dir>/checkpoints; SIGTERM or SIGUSR1 (Slurm's warning before a
   kill) saves a checkpoint at the current step and raises Interrupted; a re-run with the same
   arguments resumes from the last complete checkpoint;
4. with the kept model (the best epoch by the mean of metric_for_best_model over the protocol's
   languages, or the last epoch): evaluate each eval language's eval and test splits, write their
   predictions, save the model to <run_dir>/best_model, keep the per-epoch predictions of the epochs
   some protocol picks, write results.json (atomically, the done marker), delete the checkpoints.
"""
import logging
import os
import shlex
import shutil
import sys
import time
import types

from ..checkpoint import load_classifier
from ..config import selection
from ..errors import ConfigError
from ..files import write_json_atomic
from ..inputs.splits import roles_of
from ..inputs.tokenizer import check_vocab_coverage, tokenizer_fingerprint
from ..predictions import write_predictions
from . import data, epochs, experiment, loaded, seq2seq
from . import results as records
from .labels import class_names
from .metrics import classification_metrics, majority_baseline

log = logging.getLogger("ipa_finetune")


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; no results were written. exit_code is
    128 + the signal number (143 for SIGTERM, 138 for SIGUSR1), what a shell reports for a process
    the signal killed, so launchers see the job as terminated, not finished."""

    def __init__(self, step, signal_name, signum):
        super().__init__(f"interrupted at step {step} by {signal_name}: checkpoint saved, re-run the "
                         "same command to resume")
        self.step, self.exit_code = step, 128 + signum


def setup_logging(log_file):
    """Our messages go to the console and train.log (appended: a resumed run adds to it); the
    Trainer's logs and transformers' info messages to train.log only (the console has the progress
    bars and the Trainer's own loss lines), transformers' warnings to both."""
    import transformers

    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler, console]
    log.setLevel(logging.INFO)
    log.propagate = False
    file_log = logging.getLogger("ipa_finetune.file")
    file_log.handlers[:] = [handler]
    file_log.setLevel(logging.INFO)
    file_log.propagate = False
    warnings = logging.StreamHandler()
    warnings.setLevel(logging.WARNING)
    tf_logging = transformers.utils.logging
    verbosity = tf_logging.get_verbosity()
    tf_logging.set_verbosity_info()
    tf_logging.disable_default_handler()
    tf_logging.add_handler(handler)
    tf_logging.add_handler(warnings)

    def teardown():
        """Undo all of it (run() may be called more than once in one process, as tests do)."""
        tf_logging.remove_handler(handler)
        tf_logging.remove_handler(warnings)
        tf_logging.enable_default_handler()
        tf_logging.set_verbosity(verbosity)
        log.handlers[:] = []
        file_log.handlers[:] = []
        handler.close()
    return teardown


def set_threads(cpus):
    """torch uses `cpus` threads: more than the CPUs allotted makes training many times slower."""
    import torch

    torch.set_num_threads(cpus)
    # the Rust tokenizers' thread pool (rayon) would otherwise start one thread per core of the node
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true" if cpus > 1 else "false")
    os.environ.setdefault("RAYON_NUM_THREADS", str(cpus))
    os.environ.setdefault("RAYON_RS_NUM_CPUS", str(cpus))


def device_name():
    import torch

    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return "cpu"


def _monitored(plan):
    """The languages whose validation splits choose the kept epoch (config/selection.py)."""
    hp = plan.cfg["hyperparameters"]
    return selection.monitored_languages(selection.selection_of(hp), plan.train_langs, plan.eval_langs)


def _shared_classes(study, specs):
    """One classifier for all the run's languages: the same number of classes (the Study checks);
    differing label_names are only warned about, since they may be the same classes named in
    different languages."""
    num_labels = study.shared_classes(specs)
    names = {tuple(s.label_names) for s in specs.values() if s.label_names}
    if len(names) > 1:
        log.warning("the languages' label_names differ (%s): class id i is assumed to mean the same "
                    "class in every language", "; ".join(f"{s.language}: {s.label_names}"
                                                        for s in specs.values()))
    return num_labels


def _check_wandb(cfg):
    if cfg["wandb"]["enabled"]:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("wandb.enabled is true but the wandb package is not installed "
                              "(pip install wandb, or set wandb.enabled to false)") from None


def _classifier(plan, checkpoint, tokenizer, names, num_labels):
    """The classifier of the run's model type, checked against the tokenizer (names: of the classes,
    or None)."""
    hp = plan.cfg["hyperparameters"]
    names = names or [f"LABEL_{i}" for i in range(num_labels)]
    model = load_classifier(checkpoint, num_labels, seed=hp["seed"], dropout=hp.get("dropout"),
                            id2label=dict(enumerate(names)), pretrained=plan.model.pretrained)
    if not plan.model.pretrained:
        log.info("model type %s: init random, the architecture of %s without its weights",
                 plan.model_type, checkpoint)
    check_vocab_coverage(tokenizer, model.config.vocab_size, checkpoint)
    model.config.pad_token_id = model.config.eos_token_id = tokenizer.eos_token_id
    return model


def prepare(plan):
    """Load and validate tokenizer, data and model; tokenize. Raises UserError on any bad input."""
    study, hp = plan.study, plan.study.hyperparameters
    checkpoint = plan.model.existing_checkpoint()
    tokenizer = loaded.tokenizer(plan)
    langs = sorted(set(plan.train_langs) | set(plan.eval_langs))
    specs = {lang: study.dataset(lang) for lang in langs}
    num_labels = _shared_classes(study, specs)
    cache_dir = study.cfg["paths"]["hf_cache"]
    _check_wandb(study.cfg)
    columns = plan.model.features_key  # whose train_features the model reads (model type or features_of)
    raw = {lang: loaded.language_splits(plan, specs[lang], columns,
                                        roles_of(lang, plan.train_langs, plan.eval_langs))
           for lang in langs}
    first = plan.train_langs[0]
    names = class_names(raw[first]["train"][1], specs[first])
    model = _classifier(plan, checkpoint, tokenizer, names, num_labels)
    max_length = min(model.config.block_size, hp["max_length"])
    tok_fp = tokenizer_fingerprint(tokenizer)
    encoded = {lang: {role: loaded.get(
        ("tokens", id(ds), tok_fp, max_length),  # ds: kept by language_splits as long as this key
        lambda ds=ds, lang=lang, split=split: data.encode(ds, specs[lang], split, columns, tokenizer, tok_fp,
                                                          max_length, cache_dir))
        for role, (split, ds) in raw[lang].items()} for lang in langs}
    train = data.train_set([encoded[lang]["train"] for lang in plan.train_langs], hp.get("train_samples"),
                           hp["seed"])
    # everything training needs, built and checked before the first step
    return types.SimpleNamespace(
        tokenizer=tokenizer, model=model, num_labels=num_labels, max_length=max_length, train=train,
        eval={lang: encoded[lang]["eval"] for lang in plan.eval_langs},
        test={lang: encoded[lang]["test"] for lang in plan.eval_langs if "test" in encoded[lang]},
        monitor={lang: epochs.by_length(encoded[lang]["eval"]) for lang in langs},
        monitor_test={lang: epochs.by_length(encoded[lang]["test"]) for lang in plan.eval_langs
                      if "test" in encoded[lang]},
        choosing=_monitored(plan),
        eval_split_names={lang: raw[lang]["eval"][0] for lang in langs if "eval" in raw[lang]})


def run(plan, cpus, save_model=True, fresh=False):
    """Train and evaluate one run; returns the results dict (also written to results.json).
    fresh (--force): once everything is validated, drop earlier results and checkpoints.
    Raises Interrupted (nothing written but the checkpoint) when a stop signal ended training early."""
    from .trainer import build_trainer, last_complete_checkpoint

    started = time.time()
    os.makedirs(plan.run_dir, exist_ok=True)
    teardown = setup_logging(plan.log_file)
    try:
        set_threads(cpus)
        log.info("command: %s", shlex.join([sys.executable] + sys.argv))
        log.info("run %s -> %s (model type %s, train %s, eval %s, %d cpu(s), device %s)", plan.run_id,
                 plan.run_dir, plan.model_type, "+".join(plan.train_langs), "+".join(plan.eval_langs),
                 cpus, device_name())
        for line in experiment.header_lines(plan) + [experiment.changed_inputs_message(plan)]:
            if line:
                log.info("%s", line)
        s2s = plan.study.seq2seq  # the task type's own data, model, trainer and metrics (seq2seq.py)
        prep = seq2seq.prepare(plan) if s2s else prepare(plan)
        if fresh:
            log.info("--force: removing earlier results, best model and checkpoints of this run")
            experiment.start_fresh(plan)
        trainer = (seq2seq.build_trainer if s2s else build_trainer)(
            plan, prep, cpus, epochs.Recorder(plan.run_dir, plan.eval_langs,
                                              seq2seq.write_predictions if s2s else write_predictions))
        resume = last_complete_checkpoint(plan.checkpoints_dir)
        if resume:
            log.info("resuming from checkpoint %s", resume)
        else:
            log.info("starting training: %d train examples, %d epoch(s)", len(prep.train),
                     plan.cfg["hyperparameters"]["epochs"])
        with trainer.stop.installed():
            output = trainer.train(resume_from_checkpoint=resume)
        stop = trainer.stop
        if stop.stopped_at is not None and trainer.state.global_step < trainer.state.max_steps:
            interrupted = Interrupted(stop.stopped_at, stop.signal_name, stop.signum)
            log.warning("%s", interrupted)
            raise interrupted
        results = finish(plan, trainer, prep, output, started, save_model)
    finally:
        teardown()
    return results


def _final_metrics(trainer, prep, plan):
    """Metrics of the kept model on each eval language's eval split and test split, and the
    predictions behind them: ({lang: {split: metrics}}, {lang: {split: predictions file}})."""
    import numpy as np

    out, files = {}, {}
    for lang in plan.eval_langs:
        splits = {"eval": prep.eval[lang]}
        if lang in prep.test:
            splits["test"] = prep.test[lang]
        out[lang], files[lang] = {}, {}
        for role, ds in splits.items():
            pred = trainer.predict(ds, metric_key_prefix="final")
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            labels = pred.label_ids
            if not np.array_equal(labels, np.asarray(ds["labels"])):  # rows must keep their order
                raise RuntimeError(f"predictions of {lang} {role} are not in the split's order")
            m = classification_metrics(labels, np.argmax(logits, axis=-1), prep.num_labels)
            m["loss"] = float(pred.metrics["final_loss"])
            m["majority_baseline"] = majority_baseline(labels)
            out[lang][role] = m
            files[lang][role] = write_predictions(plan.run_dir, lang, role, labels, logits)
    return out, files


def _kept_record(plan, history, trainer):
    """The history record of the model that is kept: the best epoch, or the last under "last"."""
    if selection.keeps_best(selection.selection_of(plan.cfg["hyperparameters"])):
        return records.best_record(history, trainer.state.best_global_step)
    return history[-1] if history else None


def _per_epoch(plan, trainer, metric, kept):
    """results.json's "epochs", "selection_epochs" and "epoch_predictions" (epochs.py): every
    protocol's epoch, from this one run; the predictions of epochs that none picks are removed."""
    found = epochs.epoch_records(trainer.state.log_history,
                                 selection.evaluated_languages(plan.train_langs, plan.eval_langs))
    picks = selection.pick_epochs(found, plan.train_langs, plan.eval_langs, metric)
    for pick in picks.values():
        pick["epoch"] = epochs.epoch_number(float(pick["epoch"]))
    own = picks.get(selection.selection_of(plan.cfg["hyperparameters"]))
    if kept and own and own["epoch"] != kept["epoch"]:  # the Trainer and selection.py disagree
        log.warning("the Trainer kept epoch %s, the protocol's records pick %s", kept["epoch"], own["epoch"])
    return {"epochs": found, "selection_epochs": picks,
            "epoch_predictions": epochs.keep_picked(plan.run_dir, picks)}


def finish(plan, trainer, prep, output, started, save_model):
    hp = plan.cfg["hyperparameters"]
    metric = hp["metric_for_best_model"]
    monitored = _monitored(plan)
    history = records.history(trainer.state.log_history, monitored, metric)
    best = _kept_record(plan, history, trainer)
    protocol = selection.selection_of(hp)
    log.info("selection %s: keeping epoch %s (%s); final evaluation on %s", protocol,
             best and best["epoch"], "the last" if protocol == "last" else
             "best on the validation splits of " + ", ".join(monitored), ", ".join(plan.eval_langs))
    s2s = plan.study.seq2seq
    metrics, predictions = (seq2seq.final_metrics if s2s else _final_metrics)(trainer, prep, plan)
    best_dir = None
    if save_model:
        path = os.path.join(plan.run_dir, experiment.BEST_MODEL_DIR)
        trainer.save_model(path)  # weights, config.json and (as processing_class) the tokenizer
        best_dir = experiment.BEST_MODEL_DIR
    results = records.build_results(
        plan, metrics=metrics, records=history, best=best, train_examples=len(prep.train),
        train_speed=output.metrics.get("train_samples_per_second"), wall_time=time.time() - started,
        device=device_name(), best_model_dir=best_dir, predictions=predictions,
        selected_on=selection.selected_on(protocol, {lang: prep.eval_split_names[lang]
                                                     for lang in monitored}),
        per_epoch=_per_epoch(plan, trainer, metric, best), extra=seq2seq.record(plan, prep) if s2s else None)
    write_json_atomic(plan.results_file, results)
    shutil.rmtree(plan.checkpoints_dir, ignore_errors=True)
    log.info("results written to %s", plan.results_file)
    print(records.format_table(results))
    return results
