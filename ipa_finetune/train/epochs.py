"""Per-epoch records: what every selection protocol needs, recorded by one run (config/selection.py).

After each epoch the Trainer (trainer.MultiLanguageTrainer) evaluates the validation split of every
train and eval language and predicts the eval languages' test splits. This module keeps what that
produces, task-agnostically (any metric names, any predictions writer):

    results.json "epochs":            {epoch: {lang: {split: metrics}}}      every epoch
    results.json "selection_epochs":  {protocol: {"epoch", "score", "languages"}}
    results.json "epoch_predictions": {epoch: {lang: {split: file}}}         the picked epochs only
    <run_dir>/predictions/epoch-<E>/<lang>.<split>.jsonl.gz

The metrics come from the Trainer's log history (which a checkpoint carries across a resume); the
files of epochs that no protocol picks are removed when the run finishes, so a run keeps at most three
epochs' predictions.
"""
import os
import shutil

import numpy as np

from .. import predictions

SPLITS = ("eval", "test")
# Trainer log keys that are timings, not metrics
SPEED = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")


def epoch_number(value):
    """Trainer epochs are floats (1.0, 2.0, or 0.4 when --max-steps stops mid-epoch)."""
    return int(round(value)) if abs(value - round(value)) < 1e-6 else round(value, 3)


def by_length(ds):
    """(ds sorted by its `length` column, order): evaluating sorted rows pads little; row k of the
    sorted set is row order[k] of the split (restore() puts outputs back in the split's order)."""
    order = np.argsort(np.asarray(ds["length"]), kind="stable")
    return ds.select(order), order


def restore(rows, order):
    """Rows computed on a by_length() set, in the split's own order."""
    out = np.empty_like(rows)
    out[order] = rows
    return out


def metric_items(metrics, prefix):
    """{`<prefix>_<name>`: value} of a Trainer metrics dict, without the timings."""
    return {k: v for k, v in metrics.items()
            if k.startswith(prefix + "_") and k[len(prefix) + 1:] not in SPEED}


def _split_metrics(entry, lang, langs):
    """{split: {metric: value}} of one language in one log entry. Keys are `<split>_<lang>_<metric>`;
    a language whose name extends another's (pt, pt_br) is matched by the longest name."""
    out = {}
    for key, value in entry.items():
        for split in SPLITS:
            head = f"{split}_{lang}_"
            if not key.startswith(head) or key[len(head):] in SPEED:
                continue
            longer = [o for o in langs if len(o) > len(lang) and key.startswith(f"{split}_{o}_")]
            if not longer:
                out.setdefault(split, {})[key[len(head):]] = value
    return out


def epoch_records(log_history, langs):
    """{epoch (str): {lang: {split: metrics}}} from the Trainer's log history, epochs in order."""
    records = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        for lang in langs:
            found = _split_metrics(entry, lang, langs)
            if found:
                per_lang = records.setdefault(str(epoch_number(entry["epoch"])), {}).setdefault(lang, {})
                for split, metrics in found.items():
                    per_lang.setdefault(split, {}).update(metrics)
    return records


class Recorder:
    """Writes each evaluated eval language's predictions after every epoch (`write(labels, outputs)`
    of the task: predictions.write_predictions for classification logits)."""

    def __init__(self, run_dir, eval_langs, write=predictions.write_predictions):
        self.run_dir, self.eval_langs, self._write = run_dir, set(eval_langs), write

    def record(self, epoch, lang, split, labels, outputs):
        if lang in self.eval_langs:
            self._write(self.run_dir, lang, split, labels, outputs, epoch=epoch_number(epoch))


def keep_picked(run_dir, picks):
    """{epoch: {lang: {split: file}}} of the epochs some protocol picked (picks: selection.pick_epochs);
    the predictions of every other epoch are removed."""
    kept = {str(p["epoch"]) for p in picks.values()}
    top = os.path.join(run_dir, predictions.FOLDER)
    found = {}
    for name in sorted(os.listdir(top)) if os.path.isdir(top) else []:
        epoch = name[len("epoch-"):]
        folder = os.path.join(top, name)
        if not name.startswith("epoch-") or not os.path.isdir(folder):
            continue
        if epoch not in kept:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        for file in sorted(os.listdir(folder)):
            lang, split = file.split(".")[:2]
            rel = os.path.join(predictions.epoch_folder(epoch), file)
            found.setdefault(epoch, {}).setdefault(lang, {})[split] = rel
    return found
