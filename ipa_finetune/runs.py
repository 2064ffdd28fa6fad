"""Run identity and results files: the contract between the three pipelines (train writes a run's
results.json, launch plans and skips runs by id, report reads them back).

A run is one fine-tune: (study, model type, train languages, eval languages, inputs, hyperparameters
but `selection`: a run records what every selection protocol needs, config/selection.py).
Its id is deterministic, so a generator knows, before submitting, where a job's results will land
and whether they already exist; and a re-run of the same job finds its own checkpoints to resume
from. The inputs count by content (ipa_finetune.inputs): a re-pretrained checkpoint at the same path,
or a changed database entry, makes a new run beside the old one; a moved checkpoint does not.
"""
import hashlib
import json
import os
import re

from .inputs.fingerprint import changes, identity

RESULTS_FILE = "results.json"
REPORT_FOLDER, REPORT_FILE = "report", "report.md"  # collect-results.py's, beside the run folders
# Several runs in one job (launch/packing.py): finetune-exp.py takes their specs separated by this word,
# and heads each run's part of the job's log with section lines (section_line) that the job status
# reads back (run_section); with runs at once, each process's lines carry its `[p] ` prefix.
NEXT_RUN = "--then"
SECTION_RE = re.compile(r"^(\[\d+\] )?===== run (\d+)/(\d+) (\S+): (.*) =====$")
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)  # 1: before inputs and provenance were recorded
# Hyperparameters that do not make another run: every run records each selection protocol's epoch
NOT_IDENTITY_HYPERPARAMETERS = ("selection",)


def canonical(obj):
    """One JSON text per value (sorted keys, no spaces): what identities hash and compare."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def identity_hyperparameters(hyperparameters):
    """The hyperparameters that make a run what it is (all but NOT_IDENTITY_HYPERPARAMETERS)."""
    return {k: v for k, v in (hyperparameters or {}).items() if k not in NOT_IDENTITY_HYPERPARAMETERS}


def run_identity(cfg, model_type, train_langs, eval_langs, inputs):
    """Everything that makes two runs the same experiment, and nothing that doesn't (paths, names):
    `inputs` is inputs.fingerprint.run_inputs(...) of the run. A seq2seq run adds the config's
    `generation` settings (how it lays out and decodes), which classification runs never read."""
    ident = {
        "study": cfg.get("study"),
        "task": cfg.get("task"),
        "model_type": model_type,
        "train_langs": sorted(train_langs),
        "eval_langs": sorted(eval_langs),
        "inputs": identity(inputs),
        "hyperparameters": identity_hyperparameters(cfg.get("hyperparameters")),
    }
    if is_seq2seq(inputs):
        ident["generation"] = cfg.get("generation")
    return ident


def is_seq2seq(inputs):
    """Whether a run's inputs (run_inputs, results.json "inputs") are those of a seq2seq task."""
    datasets = (inputs or {}).get("datasets") or {}
    return any(isinstance(d, dict) and d.get("task_type") == "seq2seq" for d in datasets.values())


def run_prefix(model_type, train_langs, eval_langs):
    """`<model_type>__<train>__to__<eval>__`: the readable part of a run id."""
    return f"{model_type}__{'+'.join(sorted(train_langs))}__to__{'+'.join(sorted(eval_langs))}__"


def run_id(cfg, model_type, train_langs, eval_langs, inputs):
    """`<model_type>__<train>__to__<eval>__<hash10>`, languages sorted and joined by '+'."""
    ident = run_identity(cfg, model_type, train_langs, eval_langs, inputs)
    digest = hashlib.sha256(canonical(ident).encode("utf-8")).hexdigest()[:10]
    return run_prefix(model_type, train_langs, eval_langs) + digest


def study_results_dir(cfg):
    """results_dir/<study>: the study's run folders and its report (absolute in a loaded config)."""
    return os.path.join(cfg["paths"]["results_dir"], cfg["study"])


def run_dir(cfg, rid):
    """results_dir/<study>/<run_id>."""
    return os.path.join(study_results_dir(cfg), rid)


def report_dir(study_folder):
    """Where a study's report goes by default: <study_folder>/report (collect-results.py --out)."""
    return os.path.join(study_folder, REPORT_FOLDER)


def results_path(rdir):
    return os.path.join(rdir, RESULTS_FILE)


def is_finished(rdir):
    """A run is finished when its results.json exists (it is written atomically, last)."""
    return os.path.isfile(results_path(rdir))


def read_results(rdir):
    """The parsed results.json of a run folder (OSError, ValueError as json raises them)."""
    with open(results_path(rdir), encoding="utf-8") as f:
        return json.load(f)


def readable_prefix(rid):
    """`<model_type>__<train>__to__<eval>__` of a run id: what runs of other inputs share."""
    return rid[:rid.rindex("__") + 2]


class FinishedRuns:
    """The finished runs of one results folder, for changed_since: the folder is listed once and each
    results.json of a prefix asked about is read once (a grid plans hundreds of runs of one prefix)."""

    def __init__(self, folder):
        self.folder = folder
        try:
            names = os.listdir(folder)
        except OSError:
            names = []
        self.names = {}   # readable prefix -> run folder names
        for name in names:
            if "__" in name:
                self.names.setdefault(readable_prefix(name), []).append(name)
        # (prefix, task, canonical hyperparameters) -> [(finished_at, name, data)], newest first
        self.groups = {}

    def _read(self, prefix):
        for name in self.names.pop(prefix, []):
            try:
                data = read_results(os.path.join(self.folder, name))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                hp = canonical(identity_hyperparameters(data.get("hyperparameters")))
                key = (prefix, data.get("task"), hp)
                self.groups.setdefault(key, []).append((str(data.get("finished_at") or ""), name, data))
        for runs in self.groups.values():
            runs.sort(reverse=True)

    def newest(self, rid, task, hyperparameters):
        """(name, data) of the newest finished run with rid's prefix, task and hyperparameters, other
        than rid itself; None when there is none."""
        prefix = readable_prefix(rid)
        self._read(prefix)
        key = (prefix, task, canonical(identity_hyperparameters(hyperparameters)))
        for _, name, data in self.groups.get(key, []):
            if name != rid:
                return name, data
        return None


def changed_since(rdir, task, hyperparameters, inputs, finished=None):
    """(old run id, [what changed]) for the newest finished run beside the run folder `rdir` with
    the same model type and languages (the readable part of the id), task and hyperparameters, but
    other inputs; None when there is none. The old run's folder is not touched. finished: the
    FinishedRuns of rdir's folder, when many runs are asked about."""
    folder, rid = os.path.split(rdir)
    found = (finished or FinishedRuns(folder)).newest(rid, task, hyperparameters)
    if found is None:
        return None
    name, data = found
    return name, changes(data.get("inputs"), inputs) or ["inputs identical, other run id"]


def split_run_specs(words):
    """[[words of run 1], [words of run 2], ...]: `words` cut at each NEXT_RUN."""
    specs = [[]]
    for word in words:
        if word == NEXT_RUN:
            specs.append([])
        else:
            specs[-1].append(word)
    return specs


def section_line(index, count, rid, what):
    """`===== run 2/12 <run id>: <what> =====`: the line that starts ("started at <time>") or ends
    ("finished in ...", "failed: ...", "interrupted ...", "skipped: ...") a run's part of a job log."""
    return f"===== run {index}/{count} {rid}: {what} ====="


def run_section(lines, rid):
    """(the lines of run `rid`'s part of a job log, how it ended: the text after the run id on its
    last section line, "started at ..." while it runs), or None when the log has no part of it."""
    found, prefix, inside, out = None, "", False, []
    for line in lines:
        match = SECTION_RE.match(line)
        if match and match.group(4) == rid:
            prefix, found = match.group(1) or "", match.group(5)
            inside = found.startswith("started")
            out.append(line[len(prefix):])
        elif inside and line.startswith(prefix):
            if match and (match.group(1) or "") == prefix:  # the same process's next run: this
                break                                        # one ended without its last line
            out.append(line[len(prefix):])
    return None if found is None else (out, found)
