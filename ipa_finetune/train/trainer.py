"""The Hugging Face Trainer set up for one run: arguments, per-language evaluation, best-epoch choice,
train.log lines, stopping on SIGTERM with a checkpoint, and finding the checkpoint to resume from."""
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import threading

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..config.schema import higher_is_better
from ..config.selection import epoch_score, keeps_best, selection_of
from .data import collator
from .epochs import SPEED, metric_items, restore
from .metrics import MEAN, classification_metrics

log = logging.getLogger("ipa_finetune")
# the file-only logger of train.log (the Trainer already prints its logs on the console)
file_log = logging.getLogger("ipa_finetune.file")


class MultiLanguageTrainer(Trainer):
    """Evaluates every language of the run after each epoch (eval_dataset = {language: Dataset}, each
    sorted by length: epochs.by_length) and adds the mean of each metric over the languages that
    choose the epoch (`choosing`, config/selection.py) as `eval__mean_<metric>`, which
    metric_for_best_model names: the Trainer's best-checkpoint logic then picks the epoch that is
    best on average, and it survives a resume (best_metric and best_global_step live in the
    checkpoint's trainer_state.json). It also predicts the eval languages' test splits (`test_sets`)
    and logs their metrics as `test_<lang>_<metric>`, and hands every language's outputs, in the
    split's order, to `recorder` (epochs.Recorder): what each protocol needs, from one run."""
    choosing = ()    # languages whose mean chooses the epoch
    test_sets = {}   # eval language -> its test split, sorted by length
    orders = {}      # (language, split) -> epochs.by_length order of the sets above
    recorder = None  # epochs.Recorder, or None (nothing written)

    def evaluation_loop(self, *args, **kwargs):
        self.last_output = super().evaluation_loop(*args, **kwargs)
        return self.last_output

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        if eval_dataset is not None or not isinstance(self.eval_dataset, dict):
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        metrics = {}
        for lang in self.eval_dataset:
            metrics.update(super().evaluate(lang, ignore_keys, f"{metric_key_prefix}_{lang}"))
            self._record(lang, "eval", self.last_output)
        extra = self._means(metrics, metric_key_prefix)
        for lang, ds in self.test_sets.items():
            out = self.predict(ds, ignore_keys, metric_key_prefix=f"test_{lang}")
            self._record(lang, "test", out)
            extra.update(metric_items(out.metrics, f"test_{lang}"))
        metrics.update(extra)
        self.log(extra)
        return metrics

    def _means(self, metrics, prefix):
        """`<prefix>__mean_<metric>` over the choosing languages (selection.epoch_score: the number
        the report's protocols recompute) for every metric they all have."""
        per_lang = {lang: {"eval": {k[len(f"{prefix}_{lang}_"):]: v for k, v in metrics.items()
                                    if k.startswith(f"{prefix}_{lang}_")}} for lang in self.choosing}
        names = set.intersection(*(set(m["eval"]) for m in per_lang.values())) if per_lang else set()
        return {f"{prefix}_{MEAN}_{m}": epoch_score(per_lang, self.choosing, m)
                for m in sorted(names) if m not in SPEED}

    def _record(self, lang, split, output):
        if self.recorder is None:
            return
        order = self.orders[(lang, split)]
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        self.recorder.record(self.state.epoch, lang, split, restore(output.label_ids, order),
                             restore(logits, order))

    def _get_eval_sampler(self, eval_dataset):
        """Rows in the set's own order (transformers 5 groups them by length when training does):
        the sets are sorted by length already, and predictions must map back to rows."""
        return torch.utils.data.SequentialSampler(eval_dataset)

    def get_decay_parameter_names(self, model):
        return decay_parameter_names(model)

    def _get_train_sampler(self, train_dataset=None):
        """The length-grouped sampler with its lengths as a list: datasets 5 hands the Trainer the
        `length` column as a lazy Column, which the sampler then indexes one row at a time, every
        epoch (5 s of a 15 s seq2seq demo run went there)."""
        sampler = super()._get_train_sampler(train_dataset)
        lengths = getattr(sampler, "lengths", None)
        if lengths is not None and not isinstance(lengths, list):
            sampler.lengths = list(lengths)
        return sampler


def decay_parameter_names(model):
    """nanoGPT's rule (upstream GPT.configure_optimizers): every parameter of 2 or more dimensions
    decays (the matmul weights, the wte and wpe embeddings, the classifier's score.weight); biases
    and LayerNorm weights (1-D) do not. The Trainer's default rule goes by nn.LayerNorm and by name,
    and so would decay every ln_*.weight of model.py's own LayerNorm."""
    return [name for name, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]


class TrainLogCallback(TrainerCallback):
    """Every Trainer log (losses, learning rate, evaluations) as a JSON line in train.log."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            file_log.info("step %d epoch %.3f %s", state.global_step, state.epoch or 0.0,
                          json.dumps(logs, sort_keys=True))

    def on_save(self, args, state, control, **kwargs):
        file_log.info("checkpoint saved at step %d (epoch %.3f)", state.global_step, state.epoch or 0.0)


# Slurm sends SIGTERM before it kills a job (at the time limit, with --signal=B:TERM@120 two minutes
# early; on preemption; on scancel) and SIGKILL KillWait seconds (often 30) later. SIGUSR1 is the
# signal clusters customarily use for "checkpoint now".
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopOnSignal(TrainerCallback):
    """On SIGTERM or SIGUSR1, write a checkpoint at the end of the current optimizer step and stop.

    Inside an epoch the checkpoint is saved without evaluating: the resumed run evaluates the epoch
    when it completes it, so the history keeps one evaluation per whole epoch. On an epoch's last step
    the epoch's own evaluation and checkpoint happen as usual, then training stops. The best-epoch
    bookkeeping (best_metric, best_global_step) is in every checkpoint's trainer_state.json, and the
    checkpoint rotation always keeps the best checkpoint, so nothing of it is lost by stopping."""

    def __init__(self):
        self.signum = None  # the signal received, None while none came
        self.stopped_at = None  # global step of the checkpoint the stop wrote

    @contextlib.contextmanager
    def installed(self):
        """Catch the stop signals while the block runs (only there: before training nothing would be
        saved, after it the default action, terminating, is right). Python allows signal handlers
        only in the main thread: elsewhere (a notebook's worker thread) signals keep their default."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _handle(self, signum, frame):
        self.signum = signum  # only a flag: the training loop acts on it between steps

    @property
    def signal_name(self):
        return signal.Signals(self.signum).name if self.signum else None

    def on_step_end(self, args, state, control, **kwargs):
        if self.signum is None or self.stopped_at is not None or state.global_step >= state.max_steps:
            return control  # on the last step training ends (and is evaluated) anyway
        log.warning("%s received: saving a checkpoint at step %d and stopping", self.signal_name,
                    state.global_step)
        control.should_training_stop = True
        if not float(state.epoch).is_integer():  # inside an epoch: save now, evaluate nothing
            control.should_save = True
            self.stopped_at = state.global_step
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stopped_at is not None:
            # the loop left the epoch early: its end-of-epoch evaluation and save would be a bogus
            # epoch record (the checkpoint is already written)
            control.should_evaluate = control.should_save = False
        elif self.signum is not None and control.should_training_stop:
            self.stopped_at = state.global_step  # a whole epoch: evaluated and saved as usual
        return control


def _compute_metrics(num_labels):
    def compute(eval_pred):
        logits = eval_pred.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        m = classification_metrics(eval_pred.label_ids, np.argmax(logits, axis=-1), num_labels)
        m.pop("n")
        return m
    return compute


class LengthDroppingCollator:
    """Dynamic padding; drops the `length` column, which only the length-grouped sampler reads.
    A class, not a closure, so that data loader workers can pickle it under any start method."""

    def __init__(self, tokenizer):
        self.pad = collator(tokenizer)

    def __call__(self, features):
        return self.pad([{k: v for k, v in f.items() if k != "length"} for f in features])


def _report_to(wandb):
    """The Trainer's report_to: Weights & Biases (its project and entity set) or nothing."""
    if not wandb["enabled"]:
        return "none"
    os.environ.setdefault("WANDB_PROJECT", wandb["project"])
    if wandb.get("entity"):
        os.environ.setdefault("WANDB_ENTITY", wandb["entity"])
    return ["wandb"]


def _device_arguments(cpus):
    """bf16 and data loader workers on a GPU, float32 on the CPU."""
    cuda = torch.cuda.is_available()
    # workers prepare batches while the GPU computes; on the CPU they would steal torch's cores
    return dict(bf16=cuda and torch.cuda.is_bf16_supported(), use_cpu=not cuda,
                dataloader_num_workers=max(0, min(cpus - 1, 8)) if cuda else 0, dataloader_pin_memory=cuda)


def training_arguments(plan, prep, cpus):
    hp = plan.cfg["hyperparameters"]
    metric = hp["metric_for_best_model"]
    steps_per_epoch = math.ceil(len(prep.train) / (hp["batch_size"] * hp["gradient_accumulation_steps"]))
    return TrainingArguments(
        output_dir=plan.checkpoints_dir,
        learning_rate=hp["learning_rate"],
        per_device_train_batch_size=hp["batch_size"],
        per_device_eval_batch_size=hp["eval_batch_size"],
        gradient_accumulation_steps=hp["gradient_accumulation_steps"],
        num_train_epochs=hp["epochs"],
        max_steps=hp.get("max_steps") or -1,
        warmup_steps=hp["warmup_ratio"],  # a float < 1 is a fraction of all steps in transformers 5
        weight_decay=hp["weight_decay"],
        lr_scheduler_type=hp["lr_scheduler_type"],
        seed=hp["seed"],
        eval_strategy="epoch",
        save_strategy="epoch",
        # keeps the best checkpoint and the last (limit 1 would delete the last one when training
        # ends, and a run killed before writing results would then redo the epochs after the best)
        save_total_limit=2,
        # selection "last" keeps the final epoch; the best is still tracked (and its checkpoint kept)
        load_best_model_at_end=keeps_best(selection_of(hp)),
        metric_for_best_model=f"{MEAN}_{metric}",
        greater_is_better=higher_is_better(metric),
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 5),  # about five loss lines per epoch
        train_sampling_strategy="group_by_length",  # less padding: similar lengths share a batch
        length_column_name="length",
        remove_unused_columns=False,  # keep `length` for the sampler; the collator drops it
        report_to=_report_to(plan.cfg["wandb"]),
        run_name=plan.run_id,
        disable_tqdm=False,
        **_device_arguments(cpus),
    )


def build_trainer(plan, prep, cpus, recorder=None, trainer_class=None, collator=None, compute_metrics=None):
    """The trainer; its StopOnSignal callback is `trainer.stop` (install it around train()).
    prep.monitor / prep.monitor_test: {lang: (length-sorted set, order)} of the validation splits
    evaluated each epoch and of the test splits predicted each epoch; prep.choosing: the languages
    that choose the epoch. The classification trainer by default; a task type gives its own class,
    collator and metrics (train/seq2seq.py)."""
    stop = StopOnSignal()
    trainer = (trainer_class or MultiLanguageTrainer)(
        model=prep.model,
        args=training_arguments(plan, prep, cpus),
        train_dataset=prep.train,
        eval_dataset={lang: ds for lang, (ds, _) in prep.monitor.items()},
        processing_class=prep.tokenizer,
        data_collator=collator or LengthDroppingCollator(prep.tokenizer),
        compute_metrics=compute_metrics if trainer_class else _compute_metrics(prep.num_labels),
        callbacks=[TrainLogCallback(), stop],
    )
    trainer.choosing, trainer.recorder = prep.choosing, recorder
    trainer.test_sets = {lang: ds for lang, (ds, _) in prep.monitor_test.items()}
    trainer.orders = {**{(lang, "eval"): order for lang, (_, order) in prep.monitor.items()},
                      **{(lang, "test"): order for lang, (_, order) in prep.monitor_test.items()}}
    trainer.stop = stop
    return trainer


def last_complete_checkpoint(folder):
    """The newest checkpoint-<step> under `folder` that was completely written (the Trainer writes
    trainer_state.json last), or None. Incomplete ones (killed while saving) are removed."""
    if not os.path.isdir(folder):
        return None
    found = []
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        step = name[len(PREFIX_CHECKPOINT_DIR) + 1:]
        if name.startswith(PREFIX_CHECKPOINT_DIR + "-") and step.isdigit() and os.path.isdir(path):
            found.append((int(step), path))
    for step, path in sorted(found, reverse=True):
        if os.path.isfile(os.path.join(path, "trainer_state.json")):
            return path
        log.warning("removing incomplete checkpoint %s", path)
        shutil.rmtree(path, ignore_errors=True)
    return None
