"""sha256 of files, streamed and hashed once per change.

    file_sha256("checkpoints/ipa/ckpt.pt", cache_dir, sidecar=True)   # {"path", "size", "sha256"}

A large checkpoint is read once per change, not once per job: the digest is kept with the file's
stat (size, mtime in ns, inode, ctime in ns) in memory for the process and on disk, in a small JSON
record. A checkpoint's record sits beside it (`ckpt.pt.sha256.json`, so every study and user reusing
the checkpoint shares it); other files' records, and a checkpoint's when its folder is read-only, go
to `<cache_dir>/ipa_finetune-fingerprints/`. A record whose stat no longer matches the file is
recomputed. Writing a record is best effort: a folder we cannot write to never fails a run.
"""
import hashlib
import json
import os

from ..files import write_json_atomic

SIDECAR_SUFFIX = ".sha256.json"
CACHE_FOLDER = "ipa_finetune-fingerprints"
RECORD_VERSION = 1

_memory = {}  # (real path, stat key) -> sha256 hex digest


def _stat_key(st):
    """What changes when a file is rewritten: in place (size, mtime) or replaced (inode, ctime)."""
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def _record_places(real, cache_dir, sidecar):
    central = os.path.join(cache_dir, CACHE_FOLDER,
                           hashlib.sha256(real.encode("utf-8")).hexdigest()[:32] + ".json")
    return ([real + SIDECAR_SUFFIX] if sidecar else []) + [central]


def _read_record(place, real, key):
    try:
        with open(place, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    if record.get("path") != real or record.get("stat") != key:
        return None
    digest = record.get("sha256")
    return digest if isinstance(digest, str) and len(digest) == 64 else None


def remember(places, record):
    """Write a JSON record to the first of `places` that takes it; where none does, the record is
    only missed (the work it saves is done again next time)."""
    for place in places:
        try:
            write_json_atomic(place, record)
            return
        except OSError:  # a read-only checkpoint folder: try the next place
            continue


def sha256_of(path):
    """The sha256 hex digest of a file's bytes, read in a stream (raises OSError)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_sha256(path, cache_dir, sidecar=False):
    """{"path": absolute path, "size": bytes, "sha256": hex} of a file. sidecar: keep the record
    beside the file (checkpoints). Raises OSError when the file cannot be read."""
    real = os.path.realpath(path)
    key = _stat_key(os.stat(real))
    digest = _memory.get((real, tuple(key)))
    if digest is None:
        places = _record_places(real, cache_dir, sidecar)
        digest = next(filter(None, (_read_record(p, real, key) for p in places)), None)
        if digest is None:
            digest = sha256_of(real)
            remember(places, {"version": RECORD_VERSION, "path": real, "stat": key,
                                   "sha256": digest})
        _memory[(real, tuple(key))] = digest
    return {"path": os.path.abspath(path), "size": key[0], "sha256": digest}


def files_sha256(named, cache_dir, where):
    """One fingerprint for several files (a saved dataset, a tokenizer's vocab + merges): sha256 over
    each file's label and sha256, in order. named: [(label, path)]; labels, not paths, so that the
    same files elsewhere or under another name give the same digest. where: the recorded path."""
    records = [file_sha256(path, cache_dir) for _, path in named]
    listing = [[label, r["sha256"]] for (label, _), r in zip(named, records)]
    digest = hashlib.sha256(json.dumps(listing).encode("utf-8")).hexdigest()
    return {"path": where, "size": sum(r["size"] for r in records), "sha256": digest}
