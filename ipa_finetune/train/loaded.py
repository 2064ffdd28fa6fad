"""What this process has loaded, kept for its next runs: train/runner.py trains the runs of a job one
after another in one process, and runs that read the same tokenizer or dataset load it once. Keys
hold the content hashes of the run's inputs (inputs.fingerprint, fixed when the run was planned), so a
run gets exactly what it would load alone, also when a file changed between two runs of a job.

    tokenizer = loaded.tokenizer(plan)                  # both task types' runs (train/seq2seq.py) read
    raw = loaded.language_splits(plan, spec, columns, roles)  # their tokenizer and splits this way
    encoded = loaded.get(("tokens", id(ds), ...), lambda: data.encode(...))
"""
_KEPT = {}


def get(key, load):
    """The value kept under `key`, or load() kept under it (a failing load keeps nothing)."""
    if key not in _KEPT:
        _KEPT[key] = load()
    return _KEPT[key]


def tokenizer(plan):
    """load_tokenizer of the run's model type, once per process for the same tokenizer files."""
    from ..inputs.tokenizer import load_tokenizer

    return get(("tokenizer", plan.inputs["tokenizer"]["sha256"], repr(plan.model)),
               lambda: load_tokenizer(plan.model))


def language_splits(plan, spec, columns, roles):
    """data.load_language, once per process for the same dataset files, columns and splits."""
    from ..runs import canonical
    from .data import load_language

    cache_dir = plan.cfg["paths"]["hf_cache"]
    key = ("splits", canonical(plan.inputs["datasets"][spec.language]), repr(spec), columns,
           tuple(roles), cache_dir)
    return get(key, lambda: load_language(spec, columns, roles, cache_dir))
