"""The raw inputs: `--input SPLIT=SOURCE`, read with datasets, and the columns prepare-data.py needs.

SOURCE is a local file or a hub dataset already in the HF cache:
- `.csv`: comma-separated with a header row, fields quoted as Python's csv module and pandas write them;
- `.tsv`: tab-separated with a header row and no quoting at all (a `"` is text), as KLEJ ships its data;
  a field cannot hold a tab or a line break;
- `.jsonl` / `.json`: JSON Lines, one object per line;
- `.parquet`;
- `hub:NAME`, `hub:NAME:SPLIT` or `hub:NAME:SUBSET:SPLIT`: a hub dataset read offline from the config's
  `paths.hf_cache` (SPLIT defaults to the output split's name).
CSV and TSV columns are read as text, every value as written: an empty field is an empty string, and
"NA" or "null" stay words (pandas would turn them into missing values). The same SPLIT may be given
several times: its sources are concatenated in order (RuSentiment's two training files).
"""
import csv
import dataclasses
import os

from ..config.schema import did_you_mean, show
from ..errors import DataError, UserError, one_line
from ..inputs.hashing import sha256_of

KINDS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
TEXT_TYPES = ("string", "large_string", "null")  # null: a JSON column that is empty in every row


@dataclasses.dataclass
class Source:
    split: str                 # the output split this source feeds
    written: str               # SOURCE as given on the command line
    path: str | None = None    # a local file, absolute
    kind: str | None = None    # csv, tsv, json, parquet
    hub: str | None = None     # a hub dataset name
    subset: str | None = None
    hub_split: str | None = None

    def describe(self):
        if self.hub:
            subset = f", subset '{self.subset}'" if self.subset else ""
            return f"hub dataset '{self.hub}' ({self.hub_split} split{subset})"
        return self.written


def parse_inputs(values, splits):
    """--input values -> [Source], checked: known split names, existing files, known formats."""
    if not values:
        raise UserError("no --input given: name each raw file with its split, e.g. "
                        "--input train=raw/train.csv --input test=raw/test.csv")
    return [_parse_input(value, splits) for value in values]


def _parse_input(value, splits):
    split, sep, written = value.partition("=")
    if not sep or not split or not written:
        raise UserError(f"--input {show(value)}: expected SPLIT=FILE (e.g. train=raw/train.csv) or "
                        "SPLIT=hub:NAME[:SUBSET][:SPLIT]")
    if split not in splits:
        raise UserError(f"--input {show(value)}: '{split}' is not a split of the database entry"
                        f"{did_you_mean(split, splits)} (its splits: {', '.join(splits)})")
    if written.startswith("hub:"):
        parts = written[4:].split(":")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise UserError(f"--input {show(value)}: expected hub:NAME, hub:NAME:SPLIT or "
                            "hub:NAME:SUBSET:SPLIT")
        name, subset, hub_split = parts[0], (parts[1] if len(parts) == 3 else None), parts[-1]
        return Source(split, written, hub=name, subset=subset,
                      hub_split=hub_split if len(parts) > 1 else split)
    path = os.path.abspath(os.path.expanduser(written))
    if not os.path.isfile(path):
        raise UserError(f"--input {show(value)}: no such file {path}")
    kind = KINDS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise UserError(f"--input {show(value)}: cannot tell the format of {written}; name the file "
                        f"with one of {', '.join(KINDS)} (or give hub:NAME)")
    return Source(split, written, path=path, kind=kind)


# ----------------------------------------------------------------------------- reading

def _header(source):
    """The column names of a CSV/TSV file, from its first row."""
    with open(source.path, encoding="utf-8-sig", newline="") as f:
        if source.kind == "tsv":
            names = f.readline().rstrip("\r\n").split("\t")
        else:
            names = next(csv.reader(f), [])
    dupes = sorted({n for n in names if names.count(n) > 1})
    if not names or not any(names) or dupes:
        problem = f"repeats {dupes}" if dupes else "is empty"
        raise DataError(f"{source.written}: the header row {problem}; the first line must name each "
                        "column once")
    return names


def _load(source, cache_dir):
    import datasets

    if source.hub:
        return datasets.load_dataset(source.hub, source.subset, split=source.hub_split, cache_dir=cache_dir)
    if source.kind not in ("csv", "tsv"):
        return datasets.load_dataset(source.kind, data_files=source.path, split="train", cache_dir=cache_dir)
    features = datasets.Features({name: datasets.Value("string") for name in _header(source)})
    quoting = {"sep": "\t", "quoting": csv.QUOTE_NONE} if source.kind == "tsv" else {}
    return datasets.load_dataset("csv", data_files=source.path, split="train", cache_dir=cache_dir,
                                 features=features, keep_default_na=False, encoding="utf-8", **quoting)


def read(source, cache_dir):
    """-> (datasets.Dataset, record for prepare.json). DataError when the source cannot be read."""
    try:
        ds = _load(source, cache_dir)
    except UserError:
        raise
    except Exception as e:  # a parse error, a hub name not in the cache, an unknown split, ...
        hint = ""
        if source.hub:
            hint = (f" (prepare-data.py reads the hub offline, from the HF cache {cache_dir}: fill it once "
                    "on a machine with internet, e.g. HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -c "
                    f"\"import datasets; datasets.load_dataset('{source.hub}'"
                    f"{', ' + repr(source.subset) if source.subset else ''}, cache_dir='{cache_dir}')\"; "
                    "or give local files)")
        raise DataError(f"--input {source.split}={source.written}: cannot read {source.describe()}: "
                        f"{type(e).__name__}: {one_line(e)}{hint}") from None
    if source.hub:
        record = {"split": source.split, "hub": source.hub, "subset": source.subset,
                  "hub_split": source.hub_split, "fingerprint": ds._fingerprint}
    else:
        record = {"split": source.split, "file": source.written, "format": source.kind,
                  "bytes": os.path.getsize(source.path), "sha256": sha256_of(source.path)}
    record["rows"] = len(ds)
    return ds, record


# ----------------------------------------------------------------------------- columns

def _require(ds, source, name, flag):
    if name not in ds.column_names:
        hint = ("; a file without labels, such as KLEJ's test_features.tsv, cannot be a split"
                if flag == "--label-column" else "")
        columns = ", ".join(ds.column_names)
        raise DataError(f"{source.describe()}: no column '{name}' ({flag})"
                        f"{did_you_mean(name, ds.column_names)} (its columns: {columns}){hint}")


def text_column(ds, source, name, flag):
    """The column's values as str, None for a missing value."""
    _require(ds, source, name, flag)
    dtype = getattr(ds.features[name], "dtype", None)
    if dtype not in TEXT_TYPES:
        raise DataError(f"{source.describe()}: column '{name}' ({flag}) holds {ds.features[name]}, not "
                        "text; name the text column with --text-column")
    return ds.data.column(name).to_pylist()


def label_column(ds, source, name, flag, names):
    """The column's values: strings, ints or None. A ClassLabel gives its names when `names` (the
    entry has label_names to match them against), else its ids."""
    from datasets import ClassLabel

    _require(ds, source, name, flag)
    feature = ds.features[name]
    values = ds.data.column(name).to_pylist()
    if isinstance(feature, ClassLabel):  # -1 means "no label" in datasets
        return [None if v is None or v < 0 else feature.int2str(v) if names else v for v in values]
    dtype = getattr(feature, "dtype", "")
    if dtype in ("string", "large_string", "null") or "int" in dtype:
        return values
    raise DataError(f"{source.describe()}: column '{name}' ({flag}) holds {feature}; labels must be "
                    "strings or whole numbers")
