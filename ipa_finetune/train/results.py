"""results.json and the end-of-run table: pure functions of what training produced.

The schema is docs/architecture.md's (runs.SCHEMA_VERSION).
"""
import datetime

from .. import runs
from ..provenance import provenance
from ..config.schema import METRICS
from ..config.selection import selection_of
from .epochs import epoch_number
from .metrics import MEAN


def history(log_history, eval_langs, metric):
    """One record per evaluation during training, from the Trainer's log history (which checkpoints
    carry across a resume): {"epoch", "score" (mean `metric` over the languages evaluated while
    training, `eval_langs` here: the monitored ones), "languages", "metrics": {lang: ...}}."""
    mean_key = f"eval_{MEAN}_{metric}"
    by_step = {}
    for entry in log_history:
        for lang in eval_langs:
            got = {m: entry[f"eval_{lang}_{m}"] for m in METRICS if f"eval_{lang}_{m}" in entry}
            if got:
                by_step.setdefault(entry["step"], {})[lang] = got
    records = []
    for entry in log_history:
        if mean_key in entry:
            records.append({"epoch": epoch_number(entry["epoch"]), "step": entry["step"],
                            "score": entry[mean_key], "languages": sorted(eval_langs),
                            "metrics": by_step.get(entry["step"], {})})
    return records


def best_record(records, best_step):
    """The history record of the step the Trainer kept as best (None when it never evaluated)."""
    for record in records:
        if record["step"] == best_step:
            return record
    return None


def build_results(plan, *, metrics, records, best, train_examples, train_speed, wall_time, device,
                  best_model_dir, finished_at=None, predictions=None, selected_on=None, per_epoch=None,
                  extra=None):
    """The results.json record. best: the kept epoch's history record; predictions: {lang: {split:
    file relative to the run dir}}; selected_on: {lang: split} that chose the epoch (None: none did);
    per_epoch: "epochs", "selection_epochs" and "epoch_predictions" (epochs.py); extra: the task
    type's own keys (seq2seq.record)."""
    cfg = plan.cfg
    hp = cfg["hyperparameters"]
    used = sorted(set(plan.train_langs) | set(plan.eval_langs))
    return {
        "schema_version": runs.SCHEMA_VERSION,
        "run_id": plan.run_id,
        "study": cfg.get("study"),
        "task": cfg.get("task"),
        "model_type": plan.model_type,
        "train_langs": list(plan.train_langs),
        "eval_langs": list(plan.eval_langs),
        "datasets": {lang: cfg["languages"][lang] for lang in used},
        "hyperparameters": hp,
        "seed": hp["seed"],
        "metric_for_best_model": hp["metric_for_best_model"],
        "best_epoch": best["epoch"] if best else None,
        "best_score": best["score"] if best else None,
        "selection": selection_of(hp),
        "selected_on": selected_on,
        "metrics": metrics,
        "predictions": predictions or {},
        "history": [{k: r[k] for k in ("epoch", "score", "languages", "metrics")} for r in records],
        **(per_epoch or {}),
        "train_examples": train_examples,
        "train_examples_per_second": train_speed,
        "wall_time_seconds": round(wall_time, 2),
        "checkpoint": plan.checkpoint,
        "best_model_dir": best_model_dir,
        **(extra or {}),
        **_origin(plan, device, finished_at),
    }


def _origin(plan, device, finished_at):
    """Where the numbers came from: the resolved config, inputs, code, packages, device and time."""
    origin = provenance()
    return {"config": plan.cfg, "versions": origin["versions"], "git_commit": origin["git"]["commit"],
            "inputs": plan.inputs, "provenance": origin, "device": device,
            "finished_at": finished_at or datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}


# the end-of-run table's columns per task type, and their shorter heads
TABLE_COLUMNS = {"classification": ("accuracy", "precision", "recall", "f1", "majority_baseline", "n"),
                 "seq2seq": ("chrf", "bleu", "exact_match", "error_rate", "copy_source_chrf",
                             "most_frequent_target_chrf", "n")}
HEADS = {"majority_baseline": "baseline", "copy_source_chrf": "copy chrf",
         "most_frequent_target_chrf": "frequent chrf"}


def format_table(results):
    """The short end-of-run table: one row per language and split."""
    cols = TABLE_COLUMNS["seq2seq" if "seq2seq" in results else "classification"]
    head = ["language", "split"] + [HEADS.get(c, c) for c in cols]
    rows = []
    for lang, splits in results["metrics"].items():
        for split, m in splits.items():
            rows.append([lang, split] + [str(m[c]) if c == "n" else f"{m[c]:.4f}" for c in cols])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    best, protocol = results["best_score"], results.get("selection")
    kept = "last epoch" if protocol == "last" else "best epoch"
    langs = ", ".join(results["history"][-1].get("languages", [])) if results["history"] else ""
    title = (f"{results['run_id']}: {kept} {results['best_epoch']} (selection {protocol}), mean "
             f"validation {results['metric_for_best_model']} {best:.4f} on {langs}"
             if best is not None else results["run_id"])
    return "\n".join([title, line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
