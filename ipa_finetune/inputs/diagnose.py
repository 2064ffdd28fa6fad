"""What is wrong with a data file that failed to load, or loaded text that is not text: the file and
the line, found only on the error path (the happy path reads a file once, through `datasets`).

    first_bad_utf8("train.jsonl")     # (line, byte offset) of the first byte that is not UTF-8, or None
    first_bad_json("train.jsonl")     # (line, column, reason) of the first malformed line, or None
    bad_json(spec, split, path)       # ... as the DataError to raise
    load_error(spec, split, path, e)  # the DataError to raise for an exception of datasets.load_dataset
"""
import codecs
import json

from ..errors import DataError, one_line
from .splits import where

CHUNK = 1 << 20


def first_bad_utf8(path):
    """(line, byte offset) of the first byte sequence that is not UTF-8, or None when the file is
    UTF-8 throughout. Streams the file: memory stays flat however large it is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                start = max(e.start, 0)  # the error's offset within `chunk`, never before it
                return lines + chunk.count(b"\n", 0, start), offset + start
            offset += len(chunk)
            lines += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)  # a multi-byte character cut off at the end of the file
    except UnicodeDecodeError:
        return lines, offset
    return None


def first_bad_json(path):
    """(line, column, reason) of the first line of a JSON Lines file that is not a JSON object, or
    None. A file whose first line starts with `[` is one JSON document (a list of rows), parsed whole."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if line.lstrip().startswith("[") and number == 1:
                f.seek(0)
                try:
                    json.load(f)
                except json.JSONDecodeError as e:
                    return e.lineno, e.colno, e.msg
                return None
            try:
                value = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as e:
                return number, e.colno, e.msg
            if not isinstance(value, dict):
                return number, 1, f"a JSON {type(value).__name__}, not an object"
    return None


def bad_json(spec, split, path):
    """The DataError for the first malformed line of a JSON Lines file, or None."""
    found = first_bad_json(path)
    if found is None:
        return None
    line, column, reason = found
    return DataError(f"{where(spec, split)}: {path} line {line}, column {column}: not valid JSON "
                     f"({reason}); each line of a JSON Lines file must be one JSON object")


def not_utf8(spec, split, path, column=None):
    """The DataError for text that is not UTF-8, naming the file and the line when a file is known."""
    found = first_bad_utf8(path) if path else None
    at = f"{path} line {found[0]} (byte {found[1]})" if found else (path or "the data")
    return DataError(f"{where(spec, split, column)}: {at} holds bytes that are not UTF-8 text; "
                     "re-save the file as UTF-8 (e.g. iconv -f <its encoding> -t UTF-8)")


def _causes(error):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def load_error(spec, split, path, error, builder):
    """The one-line DataError for an exception of loading `path` (one split's file)."""
    if any(isinstance(e, UnicodeDecodeError) for e in _causes(error)):
        return not_utf8(spec, split, path)
    found = bad_json(spec, split, path) if builder == "json" else None
    if found is not None:
        return found
    detail = one_line(error)
    cause = next((e for e in _causes(error) if e is not error), None)
    if cause is not None:  # datasets' DatasetGenerationError says only "An error occurred ..."
        detail += f" ({type(cause).__name__}: {one_line(cause)})"
    return DataError(f"{where(spec, split)}: cannot load {path}: {type(error).__name__}: {detail}")
