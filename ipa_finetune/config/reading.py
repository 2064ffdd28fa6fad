"""Reading config files: JSON5 parsed once per process, paths taken from the project root.

Relative paths in configs resolve against PROJECT_ROOT (not the working directory), so a Slurm job
finds the same files wherever it starts; `~` and `$VARS` are expanded.
"""
import copy
import os
import re

import json5

from ..errors import ConfigError
from ..files import PROJECT_ROOT, find_file
from .schema import show

DEFAULT_CONFIG = os.path.join(PROJECT_ROOT, "config", "default.json")


def display_path(path):
    """A file as shown in messages: relative to PROJECT_ROOT when inside it, else absolute."""
    path = os.path.abspath(path)
    rel = os.path.relpath(path, PROJECT_ROOT)
    return path if rel.startswith("..") else rel


_PARSED = {}  # (path, mtime, size) -> parsed content: json5 is pure Python and slow


def read_json5(path, what="config file"):
    """Parse one JSON5 file; a missing file or a syntax error is a one-line ConfigError."""
    if not os.path.isfile(path):
        raise ConfigError(f"{what} '{path}' not found")
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        _PARSED[key] = _parse(path)
    return copy.deepcopy(_PARSED[key])


def _parse(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return json5.loads(text, allow_duplicate_keys=False)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{display_path(path)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except ValueError as e:
        msg = str(e).replace("\n", "\\n")
        m = re.match(r"^<string>:(\d+) (.*) at column (\d+)$", msg)
        where = f"{display_path(path)}:{m.group(1)}:{m.group(3)}" if m else display_path(path)
        raise ConfigError(f"{where}: invalid JSON: {m.group(2) if m else msg}") from None


def find_config_file(path, what="config file"):
    """A config file argument: relative to the working directory, else to PROJECT_ROOT."""
    return find_file(path, what, error=ConfigError)


def resolve_path(p):
    """An absolute path: `~` and $VARS expanded, relative paths taken from PROJECT_ROOT."""
    expanded = os.path.expandvars(os.path.expanduser(p))
    unset = re.search(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expanded)
    if unset:
        raise ConfigError(f"path {show(p)}: environment variable {unset.group(1)} is not set")
    return os.path.normpath(os.path.join(PROJECT_ROOT, expanded))
