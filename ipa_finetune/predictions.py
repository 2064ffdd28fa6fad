"""The kept model's predictions, one file per evaluated language and split: what significance tests
and error analysis need (train writes them; the report's paired bootstrap reads them back).

    <run_dir>/predictions/<lang>.<split>.jsonl      (.jsonl.gz above GZIP_ABOVE bytes)
    <run_dir>/predictions/epoch-<E>/<lang>.<split>.jsonl.gz   (each epoch a selection protocol
                                                              picks: config/selection.py)

One JSON object per example, in the order of the split as loaded:
    {"index": 0, "label": 2, "pred": 1, "probs": [0.05, 0.41, 0.54]}
index: position in the split; label: gold class id; pred: predicted class id (the argmax of the
logits); probs: the softmax over the classes, rounded to PROB_DIGITS decimals.

A seq2seq run (task_type "seq2seq") writes generated text instead:
    {"index": 0, "id": "ru-0042", "source": "ужин", "reference": "uʒɨn", "hypothesis": "uʒin"}
id: the example's `id` column (its position when the split has none), what the report pairs runs
by; source: its source text (several source columns joined by " | "); reference: its target text;
hypothesis: the text the model generated (its end token and anything after it left out).
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
    """Write one split's predictions atomically; returns the file's path relative to run_dir."""
    return _write(run_dir, lang, split, prediction_lines(labels, logits), epoch)


TEXT_FIELDS = ("id", "source", "reference", "hypothesis")


def write_text_predictions(run_dir, lang, split, ids, sources, references, hypotheses, epoch=None):
    """Write one split's generated text (seq2seq) atomically; returns the path relative to run_dir."""
    rows = ({"index": i, "id": str(e), "source": s, "reference": r, "hypothesis": h}
            for i, (e, s, r, h) in enumerate(zip(ids, sources, references, hypotheses)))
    return _write(run_dir, lang, split,
                  "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows),
                  epoch)


def _write(run_dir, lang, split, text, epoch=None):
    """<run_dir>/predictions/<lang>.<split>.jsonl, gzipped above GZIP_ABOVE bytes; a plain file of
    the other kind (left by an earlier --force'd run) is removed. With `epoch`, into
    epoch_folder(epoch), always gzipped: only programs read those (the report's protocols)."""
    data = text.encode("utf-8")
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


def _rows(path):
    """(line number, parsed row) of a predictions file, checking that index counts from 0."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                if row["index"] != number - 1:
                    raise ValueError(f"index {row['index']}, expected {number - 1}")
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number}: not a prediction row ({e})") from None
            yield number, row


def read_text_predictions(path):
    """{"id", "source", "reference", "hypothesis"}: lists of strings of a seq2seq predictions file,
    rows in index order. Raises ValueError naming the file and line when a row is malformed."""
    out = {k: [] for k in TEXT_FIELDS}
    for number, row in _rows(path):
        if not all(isinstance(row.get(k), str) for k in TEXT_FIELDS):
            raise ValueError(f"{path}:{number}: not a seq2seq prediction row (expected strings "
                             f"{', '.join(TEXT_FIELDS)})")
        for k in TEXT_FIELDS:
            out[k].append(row[k])
    return out


def read_predictions(path):
    """(labels, preds, probs) arrays of a predictions file (.jsonl or .jsonl.gz), rows in index
    order. Raises ValueError naming the file and line when a row is malformed."""
    labels, preds, probs = [], [], []
    for number, row in _rows(path):
        try:
            labels.append(int(row["label"]))
            preds.append(int(row["pred"]))
            probs.append(row["probs"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{number}: not a prediction row ({e})") from None
    return np.array(labels, dtype=np.int64), np.array(preds, dtype=np.int64), np.array(probs, dtype=float)
