"""prepare-data.py's steps, in order. Everything that can be wrong with the config, the entry, the
epitran code, the output folder, the inputs, their columns and labels is checked before the first
string is transcribed; nothing is written to the output folder before the last step.

    1. the entry and its layout (layout.py); the epitran code; the output folder; the cache
    2. read every --input (sources.py); its text and label columns; labels -> class ids (rows.py)
    3. drop dropped labels and empty texts; carve the validation split; count duplicates
    4. transcribe the unique texts (transcribe.py); drop rows whose text has an empty transcription
    5. write the split files and prepare.json (output.py)
"""
import datetime
import os
import shlex
import sys
import time

from .. import provenance
from ..config.database import dataset_spec, load_database
from ..config.reading import display_path
from ..config.schema import did_you_mean
from ..errors import UserError
from ..files import PROJECT_ROOT
from . import layout as layouts
from . import output, rows, sources
from .transcribe import Transcriber, check_code

DEFAULT_CACHE = os.path.join(PROJECT_ROOT, ".cache", "ipa-finetune", "ipa")
FORMAT_VERSION = 1  # of prepare.json


def say(message):
    print(message, flush=True)


def warn(message):
    print(f"{os.path.basename(sys.argv[0])}: warning: {message}", file=sys.stderr, flush=True)


def _entry(cfg, language, dataset):
    """(DatasetSpec, raw entry, "language.task.name in database") of --language and --dataset (default:
    the config's dataset for that language)."""
    db_file = cfg["paths"]["language_database"]
    db, task, db_name = load_database(db_file), cfg["task"], display_path(db_file)
    if dataset is None:
        if language not in cfg["languages"]:
            raise UserError(f"--language {language}: not one of the config's languages"
                            f"{did_you_mean(language, cfg['languages'])} ({', '.join(cfg['languages'])}); "
                            "name the database entry with --dataset to prepare another")
        dataset = cfg["languages"][language]
    elif language not in db:
        raise UserError(f"--language {language}: not in {db_name}{did_you_mean(language, db)} "
                        f"(its languages: {', '.join(sorted(db))})")
    elif dataset not in db[language].get(task, {}):
        names = db[language].get(task, {})
        raise UserError(f"--dataset {dataset}: no '{task}' dataset of that name for {language} in {db_name}"
                        f"{did_you_mean(dataset, names)} (it has: {', '.join(names) or 'none'})")
    where = f"{language}.{task}.{dataset} in {db_name}"
    entry = db[language][task][dataset]
    return dataset_spec(entry, language, task, dataset, db_name), entry, where


def _validation_carve(value, layout, inputs):
    """--validation-from SPLIT:FRACTION -> (split, fraction) or None; checked against the inputs."""
    given = {s.split for s in inputs}
    if value is None:
        missing = [s for s in layout.splits if s not in given]
        if missing:
            hint = (f" or --validation-from {layout.splits[0]}:0.1" if missing == [layout.eval_split] else "")
            raise UserError(f"{layout.where} has the splits {', '.join(layout.splits)}, but no --input gives "
                            f"{', '.join(missing)}: add --input {missing[0]}=FILE{hint}")
        return None
    split, _, text = value.partition(":")
    try:
        fraction = float(text)
    except ValueError:
        fraction = -1.0
    if split not in given or split == layout.eval_split or not 0 < fraction < 1:
        raise UserError(f"--validation-from {value}: expected SPLIT:FRACTION, a split given by --input (not "
                        f"'{layout.eval_split}', the one carved) and a fraction between 0 and 1, e.g. "
                        f"{layout.splits[0]}:0.1")
    if layout.eval_split in given:
        raise UserError(f"--validation-from {value}: --input already gives the '{layout.eval_split}' split; "
                        "give one or the other")
    missing = [s for s in layout.splits if s not in given and s != layout.eval_split]
    if missing:
        raise UserError(f"{layout.where} has the splits {', '.join(layout.splits)}, but no --input gives "
                        f"{', '.join(missing)}: add --input {missing[0]}=FILE")
    return split, fraction


# ----------------------------------------------------------------------------- steps

def _read_inputs(inputs, layout, raw_text, raw_label, cfg):
    """-> (records, [(source, texts, raw labels)]): every input read and its columns checked."""
    import datasets

    datasets.disable_progress_bars()  # local files load in seconds; our own bar is the one that counts
    records, columns = [], []
    for source in inputs:
        ds, record = sources.read(source, cfg["paths"]["hf_cache"])
        texts = [sources.text_column(ds, source, c, "--text-column") for c in raw_text]
        labels = sources.label_column(ds, source, raw_label, "--label-column", layout.label_names is not None)
        records.append(record)
        columns.append((source, [tuple(t or "" for t in row) for row in zip(*texts)], labels))
        say(f"read {source.split} <- {source.describe()}: {len(ds)} rows")
    return records, columns


def _splits(columns, layout, drop):
    """Labels -> ids, dropped labels and empty texts removed; -> ({split: Rows}, report of the drops,
    each keyed by every split of the entry)."""
    named = [(f"{s.split}={s.written}", labels) for s, _, labels in columns]
    ids, dropped = rows.class_ids(named, layout.label_names, layout.classes, drop, layout.where)
    splits = {}
    report = {"labels": {s: {} for s in layout.splits}, "empty_text": dict.fromkeys(layout.splits, 0)}
    for (source, texts, _), cids, (name, _) in zip(columns, ids, named):
        part = rows.Rows(texts, cids).keep([c is not None for c in cids])
        splits[source.split] = splits[source.split] + part if source.split in splits else part
        for value, n in dropped[name].items():
            by_value = report["labels"][source.split]
            by_value[value] = by_value.get(value, 0) + n
    for split in list(splits):
        splits[split], report["empty_text"][split] = rows.drop_empty(splits[split])
    unused = [v for v in drop if not any(v in d for d in report["labels"].values())]
    if unused:
        warn(f"--drop-labels {' '.join(unused)}: no row has such a label")
    return splits, report


def _carve(splits, carve, layout, seed):
    if carve is None:
        return None
    source, fraction = carve
    splits[source], splits[layout.eval_split] = rows.carve(splits[source], fraction, seed, layout.classes)
    say(f"carved {layout.eval_split} from {source}: {len(splits[layout.eval_split])} rows ({fraction:g}), "
        f"stratified by label, seed {seed}")
    return {"split": layout.eval_split, "from": source, "fraction": fraction, "stratified_by": "label",
            "seed": seed, "rows": len(splits[layout.eval_split])}


def _duplicates(splits, layout, dedup):
    ranked = layout.splits[::-1]  # test, eval, train: a text stays in the highest-ranked split
    within = {s: rows.within_duplicates(splits[s]) for s in layout.splits}
    splits, across = rows.cross_duplicates(splits, ranked, dedup)
    for low, highs in across.items():
        for high, n in highs.items():
            if n:
                action = "removed from" if dedup else "kept in"
                fix = "" if dedup else " (--dedup-across-splits removes them)"
                warn(f"{n} row(s) of {low} have a text that is also in {high}: {action} {low}{fix}")
    return splits, {"across_splits": across, "removed": dedup, "within_split": within}


def _transcribe(splits, layout, args):
    """-> ({text: IPA}, cache/timing report)."""
    texts = {t for r in splits.values() for row in r.texts for t in row if not rows.is_blank(t)}
    transcriber = Transcriber(layout.code, args.cache_dir or DEFAULT_CACHE)
    start = time.time()
    try:
        ipa, todo = transcriber.lookup(texts)
        say(f"transcribing {len(texts)} unique texts with epitran {transcriber.version} {layout.code}: "
            f"{len(ipa)} from the cache {transcriber.cache.path}, {len(todo)} new")
        ipa.update(transcriber.transcribe(todo, workers=args.workers))
    finally:
        transcriber.close()
    seconds = time.time() - start
    return ipa, {"cache_file": transcriber.cache.path, "unique_texts": len(texts), "hits": transcriber.hits,
                 "epitran_calls": transcriber.calls, "workers": transcriber.workers_used,
                 "seconds": round(seconds, 2), "epitran_cpu_seconds": round(transcriber.cpu_seconds, 2),
                 "new_per_second": round(transcriber.calls / seconds, 1) if transcriber.calls else None}


def _columns(split_rows, ipa, layout):
    """{column: values} of one split in the entry's names."""
    out = {name: [row[i] for row in split_rows.texts] for i, name in enumerate(layout.text_columns)}
    for ipa_column, text_column in layout.ipa_columns.items():
        out[ipa_column] = ["" if rows.is_blank(t) else ipa[t] for t in out[text_column]]
    out[layout.label_column] = list(split_rows.labels)
    return out


def _check(args, cfg):
    """Step 1: everything checkable without reading the data. -> (spec, entry, layout, inputs, carve)."""
    spec, entry, where = _entry(cfg, args.language, args.dataset)
    layout = layouts.layout_of(spec, entry, where)
    check_code(layout.code, f"{where}: ipa.epitran")
    output.check_target(layout.folder, args.force)
    rows.check_drop_labels(args.drop_labels, layout.label_names, where)
    inputs = sources.parse_inputs(args.input, layout.splits)
    return spec, entry, layout, inputs, _validation_carve(args.validation_from, layout, inputs)


def _drop_empty_ipa(splits, ipa, layout, dropped):
    pairs_at = [(layout.text_columns.index(t), c) for c, t in layout.ipa_columns.items()]
    splits, counts, examples = rows.drop_empty_ipa(splits, ipa, pairs_at)
    if any(counts.values()):
        per_split = ", ".join(f"{s} {n}" for s, n in counts.items() if n)
        warn(f"{sum(counts.values())} row(s) dropped whose text epitran transcribes as nothing "
             f"({per_split}), e.g. {', '.join(repr(e) for e in examples)}")
    dropped["empty_ipa"], dropped["empty_ipa_examples"] = counts, examples
    return splits


def _counts(splits, layout, names):
    counts = {s: {"rows": len(splits[s]), "classes": rows.class_counts(splits[s], names)}
              for s in layout.splits}
    empty = [s for s, c in counts.items() if c["rows"] == 0]
    if empty:
        raise UserError(f"split {empty[0]} has no rows left after dropping; nothing was written")
    return counts


def _report(counts, layout):
    for split, c in counts.items():
        classes = ", ".join(f"{k} {v}" for k, v in c["classes"].items())
        say(f"{split}: {c['rows']} rows ({classes})")
    files = ", ".join(f"{s}.{layout.file_format}" for s in layout.splits)
    say(f"wrote {display_path(layout.folder)}/ ({files}, {output.PREPARE_FILE})")


def run(args, cfg, argv):
    """Prepare the dataset that --language (and --dataset) name in `cfg`; see prepare-data.py."""
    spec, entry, layout, inputs, carve = _check(args, cfg)
    raw_text, raw_label = layouts.raw_columns(layout, args.text_column, args.label_column)
    records, columns = _read_inputs(inputs, layout, raw_text, raw_label, cfg)
    splits, dropped = _splits(columns, layout, args.drop_labels)
    validation = _carve(splits, carve, layout, args.seed)
    splits, duplicates = _duplicates(splits, layout, args.dedup_across_splits)
    ipa, cache = _transcribe(splits, layout, args)
    splits = _drop_empty_ipa(splits, ipa, layout, dropped)
    names = layout.label_names or [str(c) for c in range(layout.classes)]
    counts = _counts(splits, layout, names)
    versions = provenance.versions(("epitran", "panphon", "datasets", "pyarrow"))
    record = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([os.path.basename(sys.argv[0])] + list(argv)),
        "language": spec.language, "task": spec.task, "dataset": spec.name, "database": spec.database,
        "entry": entry,
        "inputs": records,
        "columns": {"text": dict(zip(layout.text_columns, raw_text)), "ipa": layout.ipa_columns,
                    "label": {layout.label_column: raw_label}},
        "transcriber": {"name": "epitran", "version": versions["epitran"], "code": layout.code,
                        "call": "transliterate(text)"},
        "seed": args.seed,
        "validation": validation,
        "labels": {"names": names, "dropped_values": args.drop_labels},
        "dropped": dropped,
        "duplicates": duplicates,
        "counts": counts,
        "cache": cache,
        "versions": versions,
    }
    output.write_folder(layout.folder, layout.file_format,
                        {s: _columns(splits[s], ipa, layout) for s in layout.splits},
                        layout.label_column, record, args.force)
    _report(counts, layout)
    return record
