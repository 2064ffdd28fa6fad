"""The prepared folder: `<split>.jsonl` or `<split>.parquet` per split, and prepare.json beside them.

Everything is written into a temp folder next to the target (`.<name>.tmp-*`, same file system), then
renamed into place: readers see the old folder or the new one, never part of one. An existing folder is
replaced only with --force, and only after the new one is complete; it is checked before any work and
again at the rename.
"""
import json
import os
import shutil
import tempfile

from ..errors import UserError
from ..files import current_umask, write_json_atomic

PREPARE_FILE = "prepare.json"


def check_target(folder, force):
    """Raise UserError when `folder` holds something and --force was not given."""
    if os.path.isfile(folder):
        raise UserError(f"output {folder} is a file; the database entry's dataset must name a folder")
    if os.path.isdir(folder) and os.listdir(folder) and not force:
        raise UserError(f"output folder {folder} already exists; add --force to replace it (it is replaced "
                        "only once the new data is complete)")


def _write_jsonl(path, columns):
    names = list(columns)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for values in zip(*columns.values()):
            f.write(json.dumps(dict(zip(names, values)), ensure_ascii=False) + "\n")


def _write_parquet(path, columns, label_column):
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(name, pa.int64() if name == label_column else pa.string()) for name in columns]
    arrays = [pa.array(values, type=field.type) for values, field in zip(columns.values(), fields)]
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), path)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(tmp, folder, force):
    """Rename tmp to folder; an existing folder (with force) is moved aside first, deleted after."""
    if os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)  # an empty folder holds nothing to lose
    if not os.path.exists(folder):
        os.rename(tmp, folder)
        return
    check_target(folder, force)  # it appeared while we worked
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.old-", dir=os.path.dirname(folder))
    os.rename(folder, os.path.join(old, "data"))
    try:
        os.rename(tmp, folder)
    except BaseException:
        os.rename(os.path.join(old, "data"), folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_folder(folder, file_format, splits, label_column, record, force):
    """splits: {split: {column: values}} (label column: ints). Writes the split files and prepare.json
    (`record`), then moves them into `folder` in one rename."""
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.tmp-", dir=parent)
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it private; the data is meant to be shared
        for split, columns in splits.items():
            path = os.path.join(tmp, f"{split}.{file_format}")
            if file_format == "parquet":
                _write_parquet(path, columns, label_column)
            else:
                _write_jsonl(path, columns)
            _fsync(path)
        write_json_atomic(os.path.join(tmp, PREPARE_FILE), record)
        _swap(tmp, folder, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a successful rename
