"""Check a set of runs' inputs before anything is queued or trained, listing every problem at once.

    problems = check_runs(study, [("ipa", ("polish", "russian"), ("russian",), "source"), ...])  # [UserError]
    raise_problems(problems, "nothing was written or submitted")    # the one, or InputProblems

What finetune-exp.py needs before its first step, read as cheaply as possible, each distinct input
once however many runs share it:
- each checkpoint: readable without running code, `model_args` and every weight's shape (torch.load
  with weights_only and mmap: the weights themselves are not read). A checkpoint that passed is
  remembered by its sha256 (ipa_finetune.inputs), so an unchanged one is not read (nor torch
  imported) again;
- each tokenizer: its files load and belong together, the end-of-document token is in it, and its
  vocabulary fits the checkpoint's vocab_size;
- each dataset split a run reads: the local folder and the split's file exist, with the columns the
  runs read (the first line of JSON Lines, the header of CSV/TSV, the schema of parquet, the features
  of a save_to_disk split, the columns of hub data in the HF cache). A text file (JSON Lines, CSV) is
  read through once per content (the pass is remembered by sha256, as for checkpoints): UTF-8
  throughout, and for JSON Lines one object per line, so that no queued job finds it out;
- the languages of one run share their number of classes (classification);
- seq2seq: each checkpoint holds the separator and end token (seq2seq_layout.special_tokens), and its
  block_size leaves room for a source beside generation.max_new_tokens.
"""
import csv
import dataclasses
import json
import os

from ..errors import CheckpointError, ConfigError, DataError, InputProblems, UserError
from ..seq2seq_layout import check_budget, special_tokens
from .diagnose import bad_json, first_bad_utf8, not_utf8
from .fingerprint import hub_split
from .hashing import CACHE_FOLDER, file_sha256, remember
from .splits import builder_of, local_split, roles_of, split_names, where
from .tokenizer import coverage_problem, tokenizer_backend

# A passed check of a file is remembered by its sha256 (<hf_cache>/ipa_finetune-fingerprints/checked-*):
# bump this when a check gets stricter, so that older passes no longer count.
CHECKED_VERSION = 1


def _attempt(problems, compute):
    """compute(), or None with its UserError appended to `problems`."""
    try:
        return compute()
    except UserError as e:
        problems.append(e)
    except OSError as e:
        problems.append(UserError(f"cannot read {e.filename}: {e.strerror}"))
    return None


def _check_text(spec, split, path, builder, cache_dir):
    """A JSON Lines or CSV file must be UTF-8 throughout, and JSON Lines one object per line."""
    if builder not in ("json", "csv"):
        return
    digest = file_sha256(path, cache_dir)["sha256"]
    passed = os.path.join(cache_dir, CACHE_FOLDER, f"checked-{digest}-{builder}-v{CHECKED_VERSION}.json")
    if os.path.isfile(passed):
        return
    if first_bad_utf8(path):
        raise not_utf8(spec, split, path)
    error = bad_json(spec, split, path) if builder == "json" else None
    if error is not None:
        raise error
    remember([passed], {"sha256": digest, "checked": builder})


def _file_columns(spec, split, path, cache_dir):
    """The columns of one data file, from its first line or schema (None when they cannot be told
    cheaply: the full load will say)."""
    builder = builder_of(spec, split, path)
    if os.path.getsize(path) == 0:
        raise UserError(f"{where(spec, split)}: the split is empty ({path} has no rows)")
    _check_text(spec, split, path, builder, cache_dir)
    if builder == "parquet":
        import pyarrow.parquet as pq
        return pq.read_schema(path).names
    with open(path, encoding="utf-8", newline="") as f:
        if builder == "csv":
            return next(csv.reader(f, delimiter="\t" if path.lower().endswith(".tsv") else ","), None)
        first = next((line for line in f if line.strip()), "")
        if first.lstrip().startswith("["):  # one JSON document: a list of rows
            f.seek(0)
            rows = json.load(f)
            first = json.dumps(rows[0] if isinstance(rows, list) and rows else None)
    row = json.loads(first) if builder == "json" else None
    return list(row) if isinstance(row, dict) else None


def _split_columns(spec, split, cache_dir):
    """The columns of one split of a dataset; UserError when the dataset or the split is missing."""
    if not spec.is_local:
        return hub_split(spec, split, cache_dir).column_names
    source = local_split(spec, split)
    if source.saved_files is not None:
        with open(os.path.join(source.path, "dataset_info.json"), encoding="utf-8") as f:
            return list((json.load(f).get("features") or {}))
    return _file_columns(spec, split, source.path, cache_dir)


def _checkpoint_args(model, cache_dir):
    """The model_args of a model type's checkpoint, once read_checkpoint has accepted its bytes."""
    path = model.existing_checkpoint()
    digest = file_sha256(path, cache_dir, sidecar=True)["sha256"]
    passed = os.path.join(cache_dir, CACHE_FOLDER, f"checked-{digest}-v{CHECKED_VERSION}.json")
    try:
        with open(passed, encoding="utf-8") as f:
            args = json.load(f)["model_args"]
        if isinstance(args["vocab_size"], int) and isinstance(args["block_size"], int):
            return args
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from ..checkpoint import read_checkpoint  # torch: only for a checkpoint not checked before

    args = dataclasses.asdict(read_checkpoint(path)[0])
    remember([passed], {"sha256": digest, "model_args": args})
    return args


def _check_generation(study, model, backend, args):
    """A seq2seq checkpoint must hold the separator and end token, and leave room for a source beside
    generation.max_new_tokens in its block (seq2seq_layout)."""
    generation = study.cfg["generation"]
    special_tokens(backend.get_vocab_size(with_added_tokens=True), backend.token_to_id(model.eos_token),
                   args["vocab_size"], generation["separator"], model.checkpoint)
    block = min(args["block_size"], study.hyperparameters["max_length"])
    try:
        check_budget(block, generation["max_new_tokens"])
    except ConfigError as e:
        limit = ("" if block == args["block_size"] else
                 f", cut to hyperparameters.max_length {study.hyperparameters['max_length']}")
        raise ConfigError(f"generation.max_new_tokens = {generation['max_new_tokens']} does not fit the "
                          f"block_size {args['block_size']}{limit} of the checkpoint of model type "
                          f"'{model.name}' ({model.checkpoint}): {e}") from None


def _check_models(study, model_types, problems):
    cache_dir = study.cfg["paths"]["hf_cache"]
    checked = {}
    for mt in model_types:
        model = study.model(mt)
        if model.checkpoint not in checked:
            checked[model.checkpoint] = _attempt(problems, lambda: _checkpoint_args(model, cache_dir))
        args = checked[model.checkpoint]
        tokenizer = _attempt(problems, lambda: tokenizer_backend(model))
        if args is not None and tokenizer is not None:
            backend, files = tokenizer
            problem = coverage_problem(backend.get_vocab_size(with_added_tokens=True), files,
                                       args["vocab_size"], model.checkpoint)
            problems += [CheckpointError(problem)] if problem else []
            if study.seq2seq and not problem:
                _attempt(problems, lambda: _check_generation(study, model, backend, args))


def check_runs(study, runs):
    """Every problem of the inputs of `runs` ([(model type, train langs, eval langs, ...)]: fields
    after the third are ignored) as UserErrors of one line each, in a stable order; [] when all of
    them can run."""
    problems = []
    _check_models(study, dict.fromkeys(mt for mt, *_ in runs), problems)
    needs = {}  # (language, split) -> columns some run reads there (sources and label or target)
    for mt, train, evals, *_ in runs:
        if not study.seq2seq:
            _attempt(problems, lambda: study.shared_classes(list(train) + list(evals)))
        for lang in sorted(set(train) | set(evals)):
            spec = study.dataset(lang)
            columns = study.columns(lang, mt) + [study.target(lang, mt)]
            for split in split_names(spec, roles_of(lang, train, evals)).values():
                needs.setdefault((lang, split), {}).update(dict.fromkeys(columns))
    cache_dir = study.cfg["paths"]["hf_cache"]
    for (lang, split), columns in needs.items():
        spec = study.dataset(lang)
        found = _attempt(problems, lambda: _split_columns(spec, split, cache_dir))
        for col in columns if found is not None else []:
            if col not in found:
                problems.append(DataError(f"{where(spec, split, col)}: no such column; the split has "
                                          f"{found}"))
    return list({str(p): p for p in problems}.values())


def raise_problems(problems, consequence):
    """Raise the one problem as it is, or all of them as InputProblems (one line each)."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputProblems([str(p) for p in problems], consequence)
