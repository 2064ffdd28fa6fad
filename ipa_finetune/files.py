"""Files every pipeline writes or looks up: one atomic writer, one lookup rule, the project root.

    write_text_atomic("results/x/results.json", text)         # readers see old or new, never half
    write_atomic("fig.png", lambda tmp: fig.savefig(tmp, format="png"))
    find_file("config/demo.json", "config file")              # cwd first, then the project root
    find_all(["results/demo"], "results.json")                # every one below, sorted
"""
import json
import os
import tempfile

from .errors import UserError

# The project root: the folder holding the scripts. Relative paths in configs resolve against it.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MODE = 0o666  # results and reports are meant to be shared (masked by the umask)


def current_umask():
    """The process umask (read by setting it, then put back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, write, mode=SHARED_MODE):
    """Call `write(tmp)` on a temp file beside `path`, fsync it, then rename it over `path`: readers
    see the old file or the new one, never half of one (a Slurm timeout can kill us at any
    instruction). mode: permission bits before the umask (0o777 for an executable script)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    os.close(fd)
    try:
        os.chmod(tmp, mode & ~current_umask())  # mkstemp makes 0600 files
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path, text, mode=SHARED_MODE):
    """UTF-8 text through write_atomic."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    write_atomic(path, write, mode)


def write_json_atomic(path, obj):
    """JSON (indented, UTF-8) through write_atomic."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def find_file(path, what, inside=None, error=UserError):
    """A file named on the command line: relative to the working directory, else to PROJECT_ROOT.
    inside: a folder argument may hold this file name (a template directory). Raises `error` (a
    UserError) naming every place looked at."""
    candidates = [os.path.abspath(os.path.expanduser(path))]
    if not os.path.isabs(path):
        candidates.append(os.path.join(PROJECT_ROOT, path))
    for candidate in candidates:
        if inside and os.path.isdir(candidate):
            candidate = os.path.join(candidate, inside)
        if os.path.isfile(candidate):
            return candidate
    tried = " or ".join(dict.fromkeys(candidates))
    folder = f"; a directory must hold {inside}" if inside else ""
    raise error(f"{what} '{path}' not found (looked for {tried}{folder})")


def find_all(folders, name):
    """Every file called `name` below the folders (recursively), each file once, sorted."""
    found = {}
    for folder in folders:
        for root, _, files in os.walk(folder):
            if name in files:
                found.setdefault(os.path.realpath(os.path.join(root, name)), os.path.join(root, name))
    return sorted(found.values())
