"""What this process has loaded, kept for its next runs: train/runner.py trains the runs of a job one
after another in one process, and runs that read the same tokenizer or dataset load it once. Keys
hold the content hashes of the run's inputs (inputs.fingerprint, fixed when the run was planned), so a
run gets exactly what it would load alone, also when a file changed between two runs of a job.

    tokenizer = loaded.get(("tokenizer", plan.inputs["tokenizer"]["sha256"], repr(plan.model)),
                           lambda: load_tokenizer(plan.model))
"""
_KEPT = {}


def get(key, load):
    """The value kept under `key`, or load() kept under it (a failing load keeps nothing)."""
    if key not in _KEPT:
        _KEPT[key] = load()
    return _KEPT[key]


def forget():
    """Drop everything kept (tests; a long-lived process that moves on to other studies)."""
    _KEPT.clear()
