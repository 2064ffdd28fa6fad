"""The kept model's predictions, one file per evaluated language and split: what significance tests
and error analysis need (train writes them; the report's paired bootstrap reads them back).

    <run_dir>/predictions/<lang>.<split>.jsonl      (.jsonl.gz above GZIP_ABOVE bytes)
    <run_dir>/predictions/epoch-<E>/<lang>.<split>.jsonl.gz   (each epoch a selection protocol
                                                              picks: config/selection.py)

One JSON object per example, in the order of the split as loaded:
    {"index": 0, "label": 2, "pred": 1, "probs": [0.05, 0.41, 0.54]}
index: position in the split; label: gold class id; pred: predicted class id (the argmax of the
logits); probs: the softmax over the classes, rounded to PROB_DIGITS decimals.
"""
import gzip
import json
import os

import numpy as np

from .files import write_atomic

FOLDER = "predictions"     # in the run folder
PROB_DIGITS = 6            # enough for a log-loss to 1e-6; more only makes the files bigger
GZIP_ABOVE = 1 << 20       # bytes: files up to 1 MiB (about 15,000 rows of 3 classes) stay plain
                           # text for grep and head; bigger ones are gzipped (about 4x smaller)


def softmax(logits):
    """Row-wise softmax in float64 (stable: the row maximum is subtracted first)."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def prediction_lines(labels, logits):
    """The JSONL text of one split's predictions."""
    probs = np.round(softmax(logits), PROB_DIGITS)
    preds = np.argmax(np.asarray(logits), axis=-1)
    rows = ({"index": i, "label": int(y), "pred": int(p), "probs": [float(x) for x in pr]}
            for i, (y, p, pr) in enumerate(zip(labels, preds, probs)))
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)


def epoch_folder(epoch):
    """predictions/epoch-<E>, relative to the run folder: the predictions made after epoch E."""
    return os.path.join(FOLDER, f"epoch-{epoch}")


def write_predictions(run_dir, lang, split, labels, logits, epoch=None):
    """Write one split's predictions atomically; returns the file's path relative to run_dir.
    A plain file of the other kind (left by an earlier --force'd run) is removed. With `epoch`, into
    epoch_folder(epoch), always gzipped: only programs read those (the report's protocols)."""
    data = prediction_lines(labels, logits).encode("utf-8")
    name = f"{lang}.{split}.jsonl"
    folder = FOLDER if epoch is None else epoch_folder(epoch)
    plain, packed = os.path.join(folder, name), os.path.join(folder, name + ".gz")
    big = len(data) > GZIP_ABOVE or epoch is not None
    rel, stale = (packed, plain) if big else (plain, packed)
    if rel == packed:
        data = gzip.compress(data, mtime=0)  # mtime 0: the same predictions give the same bytes

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    write_atomic(os.path.join(run_dir, rel), write)
    if os.path.exists(os.path.join(run_dir, stale)):
        os.remove(os.path.join(run_dir, stale))
    return rel


def read_predictions(path):
    """(labels, preds, probs) arrays of a predictions file (.jsonl or .jsonl.gz), rows in index
    order. Raises ValueError naming the file and line when a row is malformed."""
    opener = gzip.open if path.endswith(".gz") else open
    labels, preds, probs = [], [], []
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                if row["index"] != number - 1:
                    raise ValueError(f"index {row['index']}, expected {number - 1}")
                labels.append(int(row["label"]))
                preds.append(int(row["pred"]))
                probs.append(row["probs"])
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number}: not a prediction row ({e})") from None
    return np.array(labels, dtype=np.int64), np.array(preds, dtype=np.int64), np.array(probs, dtype=float)
