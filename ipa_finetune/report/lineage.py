"""Which inputs a report's numbers come from: runs grouped into input sets, so that runs on different
inputs are never averaged into one cell.

    view = select_inputs(runs)                   # the newest input set of each model type
    view.runs, view.superseded, view.provenance
    select_inputs(runs, all_inputs=True)         # every set, older ones as their own blocks

A run's inputs (results.json "inputs", see ipa_finetune.inputs) are components: the checkpoint, the
tokenizer, per language the dataset entry as the model type reads it, and per language and split
the data. Per (study, task, model type), runs are taken newest first (finished_at): a run joins the
current input set when it agrees with it on every component both have (a polish-only run and a
russian-only run share the checkpoint and tokenizer only); a run that disagrees is superseded, and
the superseded runs form the older sets the same way. A results.json without inputs (schema 1)
agrees only with others without inputs.
"""
from collections import defaultdict
from dataclasses import dataclass, field, replace

from ..inputs.fingerprint import changes, identity, short
from ..runs import canonical
from .tables import model_type_order


@dataclass
class InputSet:
    study: str
    task: str
    model_type: str           # as shown: `ipa`, or `ipa (superseded 1)` with all_inputs
    runs: list
    components: dict          # component -> canonical JSON of its identity


@dataclass
class Superseded:
    run: object               # collect.Run
    differs: list             # what differs from the current set, one phrase each


@dataclass
class View:
    runs: list                               # the runs the tables use
    superseded: list = field(default_factory=list)   # Superseded, when not shown (default)
    sets: list = field(default_factory=list)         # InputSet, shown ones, for the provenance section


def components(run):
    """{component: canonical identity} of one run's inputs."""
    found = run.data.get("inputs")
    if not isinstance(found, dict):
        return {("recorded",): False}
    ident = identity(found)
    out = {("recorded",): True, ("checkpoint",): canonical(ident.get("checkpoint")),
           ("tokenizer",): canonical(ident.get("tokenizer"))}
    for lang, entry in (ident.get("datasets") or {}).items():
        out[("entry", lang)] = canonical({k: v for k, v in entry.items() if k != "data"})
        for split, data in (entry.get("data") or {}).items():
            out[("data", lang, split)] = canonical(data)
    return out


def _split_sets(runs):
    """[[runs of the newest set], [runs of the next], ...], each newest first."""
    remaining = sorted(runs, key=lambda r: str(r.data.get("finished_at") or ""), reverse=True)
    sets = []
    while remaining:
        current, taken, rest = {}, [], []
        for run in remaining:
            mine = components(run)
            if all(current.get(k, v) == v for k, v in mine.items()):
                current.update(mine)
                taken.append(run)
            else:
                rest.append(run)
        sets.append((taken, current))
        remaining = rest
    return sets


def _merged_inputs(runs):
    """One inputs dict from the compatible inputs of a set's runs (for `changes`)."""
    out = {"datasets": {}}
    for run in runs:
        found = run.data.get("inputs") or {}
        out.setdefault("checkpoint", found.get("checkpoint"))
        out.setdefault("tokenizer", found.get("tokenizer"))
        for lang, entry in (found.get("datasets") or {}).items():
            mine = out["datasets"].setdefault(lang, dict(entry, data={}))
            mine["data"].update(entry.get("data") or {})
    return out


def _differs(run, current):
    """What in `run`'s inputs differs from the current set's, among what both record."""
    found = run.data.get("inputs")
    if not isinstance(found, dict):
        return ["inputs not recorded (a results.json from before schema 2)"]
    return changes(found, current, shared_only=True) or ["the newer runs' inputs are not recorded"]


def select_inputs(runs, all_inputs=False):
    """The View of `runs`: by default each (study, task, model type)'s newest input set, the rest
    listed as superseded; with all_inputs every set, the older ones under the model type
    `<type> (superseded k)`, so that no cell mixes two input sets."""
    by_type = defaultdict(list)
    for run in runs:
        by_type[(run.study, run.task, run.model_type)].append(run)
    view = View(runs=[])
    order = sorted(by_type, key=lambda key: (key[:2], model_type_order(key[2])))  # normal, ipa, ...
    for study, task, mt in order:
        rs = by_type[(study, task, mt)]
        sets = _split_sets(rs)
        newest = _merged_inputs(sets[0][0])
        for k, (members, comps) in enumerate(sets):
            label = mt if k == 0 else f"{mt} (superseded {k})"
            if k == 0 or all_inputs:
                shown = [r if k == 0 else replace(r, model_type=label) for r in members]
                view.runs += shown
                view.sets.append(InputSet(study, task, label, shown, comps))
            else:
                view.superseded += [Superseded(r, _differs(r, newest)) for r in members]
    view.runs.sort(key=lambda r: r.path)
    return view


def _read(entry):
    """The columns a run read in one language: `text`, or `text → ipa` (seq2seq: source → target)."""
    read = "+".join(entry.get("columns") or [])
    return f"{read} → {entry.get('label_column')}" if entry.get("task_type") == "seq2seq" else read


def provenance_rows(view):
    """[(study, task, model type, checkpoint hash, tokenizer name, tokenizer hash, columns, runs)] per
    shown input set (short hashes; "not recorded" for results.json without inputs)."""
    rows = []
    for s in view.sets:
        merged = _merged_inputs(s.runs)
        ckpt, tok = merged.get("checkpoint"), merged.get("tokenizer")
        if not isinstance(ckpt, dict):
            rows.append((s.study, s.task, s.model_type) + ("not recorded",) * 4 + (len(s.runs),))
            continue
        columns = "; ".join(f"{lang}: {_read(e)}" for lang, e in sorted(merged["datasets"].items()))
        rows.append((s.study, s.task, s.model_type, short(ckpt.get("sha256")), tok.get("name"),
                     short(tok.get("sha256")), columns, len(s.runs)))
    return rows
