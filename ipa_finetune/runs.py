"""Run identity and results files: the contract between the three pipelines (train writes a run's
results.json, launch plans and skips runs by id, report reads them back).

A run is one fine-tune: (study, model type, train languages, eval languages, hyperparameters). Its id is
deterministic, so a generator knows, before submitting, where a job's results will land and whether
they already exist; and a re-run of the same job finds its own checkpoints to resume from.
"""
import hashlib
import json
import os

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def run_identity(cfg, model_type, train_langs, eval_langs):
    """Everything that makes two runs the same experiment (and nothing that doesn't, such as paths)."""
    languages = cfg.get("languages") or {}
    used = sorted(set(train_langs) | set(eval_langs))
    return {
        "study": cfg.get("study"),
        "task": cfg.get("task"),
        "model_type": model_type,
        "model": (cfg.get("model_types") or {}).get(model_type),
        "train_langs": sorted(train_langs),
        "eval_langs": sorted(eval_langs),
        "datasets": {lang: languages.get(lang) for lang in used},
        "hyperparameters": cfg.get("hyperparameters"),
    }


def run_id(cfg, model_type, train_langs, eval_langs):
    """`<model_type>__<train>__to__<eval>__<hash10>`, languages sorted and joined by '+'."""
    ident = run_identity(cfg, model_type, train_langs, eval_langs)
    digest = hashlib.sha256(_canonical(ident).encode("utf-8")).hexdigest()[:10]
    train = "+".join(ident["train_langs"])
    evals = "+".join(ident["eval_langs"])
    return f"{model_type}__{train}__to__{evals}__{digest}"


def run_dir(cfg, rid):
    """results_dir/<study>/<run_id> (results_dir is already absolute in a loaded config)."""
    return os.path.join(cfg["paths"]["results_dir"], cfg.get("study") or "default", rid)


def results_path(rdir):
    return os.path.join(rdir, RESULTS_FILE)


def is_finished(rdir):
    """A run is finished when its results.json exists (it is written atomically, last)."""
    return os.path.isfile(results_path(rdir))


def read_results(rdir):
    with open(results_path(rdir), encoding="utf-8") as f:
        return json.load(f)
