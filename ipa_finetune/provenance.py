"""Where a run's numbers came from, for results.json's "provenance": the code (git commit, whether
the tracked files differed from it, and a hash of that difference), package versions, the command.
prepare.json records the versions of the packages that prepare data.

    provenance()   # {"git": {"commit", "dirty", "diff_sha256"}, "versions": {...}, "command": [...], "cwd"}
    versions(("epitran", "datasets"))   # {"python": "3.12.3", "epitran": "1.35", "datasets": "5.2.0"}
"""
import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys

from .files import PROJECT_ROOT

PACKAGES = ("torch", "transformers", "datasets", "tokenizers", "accelerate", "scikit-learn", "numpy",
            "pyarrow")


def versions(packages=PACKAGES):
    """{"python": version, package: version or None (not installed)}."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args):
    """git's stdout (bytes) in the project folder, or None (no git, not a checkout: a copied tree)."""
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state():
    """{"commit", "dirty", "diff_sha256"}: dirty when the tracked files differ from the commit
    (`git diff HEAD`; untracked files are not code the run imported unless added), with the sha256
    of that diff, so two runs on the same uncommitted code can be told from runs on other edits.
    All None outside a git checkout."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "diff_sha256": None}
    diff = _git("diff", "HEAD", "--binary") or b""
    return {"commit": commit.decode().strip(), "dirty": bool(diff),
            "diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None}


def provenance():
    return {"git": git_state(), "versions": versions(), "command": [sys.executable] + sys.argv,
            "cwd": os.getcwd()}
