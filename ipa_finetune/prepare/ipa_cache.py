"""The on-disk IPA cache: a re-run, or a second dataset of the same language, transcribes only new text.

One SQLite file per epitran version and code, `<cache dir>/epitran-<version>/<code>.sqlite`, with one row
per unique string: sha256 of its UTF-8 bytes -> its IPA. The version is in the path, so an upgrade of
epitran never serves a transcription an older version made. Only the parent process writes (the
workers return their results to it), one short transaction per chunk, so a run that is killed keeps
what it transcribed, and two runs sharing a cache on a local disk wait for each other's lock.
"""
import hashlib
import os
import sqlite3

from ..errors import UserError

BATCH = 500  # keys per SELECT: well below SQLite's limit on bound parameters (999 in old builds)
LOCK_TIMEOUT_S = 300  # another run writing the same file holds its lock for one chunk, far less


def _key(text):
    return hashlib.sha256(text.encode("utf-8")).digest()


class IPACache:
    """get_many(texts) -> {text: ipa} for the cached ones; put_many([(text, ipa), ...])."""

    def __init__(self, folder, code, version):
        self.path = os.path.join(os.path.abspath(folder), f"epitran-{version}", f"{code}.sqlite")
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_S)
            with self.db:
                self.db.execute("CREATE TABLE IF NOT EXISTS ipa "
                                "(key BLOB PRIMARY KEY, ipa TEXT NOT NULL) WITHOUT ROWID")
        except (OSError, sqlite3.Error) as e:
            raise self._error(e) from None

    def _error(self, e):
        return UserError(f"IPA cache {self.path}: {type(e).__name__}: {e}; choose a writable folder "
                         "with --cache-dir")

    def get_many(self, texts):
        found = {}
        texts = list(texts)
        try:
            for start in range(0, len(texts), BATCH):
                batch = {_key(t): t for t in texts[start:start + BATCH]}
                marks = ",".join("?" * len(batch))
                rows = self.db.execute(f"SELECT key, ipa FROM ipa WHERE key IN ({marks})", list(batch))
                found.update((batch[key], ipa) for key, ipa in rows)
        except sqlite3.Error as e:
            raise self._error(e) from None
        return found

    def put_many(self, pairs):
        try:
            with self.db:  # one transaction, committed on leaving the block
                self.db.executemany("INSERT OR REPLACE INTO ipa (key, ipa) VALUES (?, ?)",
                                    [(_key(text), ipa) for text, ipa in pairs])
        except sqlite3.Error as e:
            raise self._error(e) from None

    def __len__(self):
        return self.db.execute("SELECT COUNT(*) FROM ipa").fetchone()[0]

    def close(self):
        self.db.close()
