"""Trustworthy runs (issue 10): runs are identified by the content of their inputs, results.json says
where the numbers came from, a report never averages runs of different inputs, and bad data,
tokenizers and checkpoints get one line naming the file, leaving finished runs alone. Real files, real
subprocess runs of the scripts."""
import collections
import dataclasses
import csv
import json
import os
import shutil

import pytest
import torch

from conftest import write_tiny_study
from ipa_finetune import runs
from ipa_finetune.config.study import load_study
from ipa_finetune.inputs import hashing
from ipa_finetune.inputs.fingerprint import changes, run_inputs, short
from ipa_finetune.report import collect
from ipa_finetune.report.lineage import provenance_rows, select_inputs
from ipa_finetune.train import experiment

RUN = ["--model-type", "ipa", "--train-langs", "alpha", "--eval-langs", "alpha", "--cpus", "1",
       "--max-steps", "1", "--no-save-model"]


def with_paths(config, **paths):
    """Change some `paths` of a config file written by write_tiny_study; returns it."""
    with open(config, encoding="utf-8") as f:
        data = json.load(f)
    data["paths"].update({k: str(v) for k, v in paths.items()})
    with open(config, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return config


def own_inputs(folder, assets):
    """Copies of the tiny checkpoints and tokenizers that a test may change: (ckpts, tokenizers)."""
    ckpts, toks = folder / "checkpoints", folder / "tokenizers"
    shutil.copytree(assets.checkpoint_prefix, ckpts)
    shutil.copytree(assets.tokenizer_prefix, toks)
    return ckpts, toks


def repretrain(path, seed):
    """Another pretraining of the same architecture, saved at the same path (new bytes, same size)."""
    import torch

    from conftest import GPT_ARGS
    from ipa_finetune.checkpoint import save_checkpoint
    from model import GPT, GPTConfig

    torch.manual_seed(seed)
    save_checkpoint(GPT(GPTConfig(**GPT_ARGS)), str(path))


def results_of(folder):
    """{run id: results.json bytes} of every finished run under `folder`."""
    found = {}
    for root, _, files in os.walk(folder):
        if runs.RESULTS_FILE in files:
            with open(os.path.join(root, runs.RESULTS_FILE), "rb") as f:
                found[os.path.basename(root)] = f.read()
    return found


# ----------------------------------------------------------------------------- fingerprints

def test_checkpoint_hash_is_kept_beside_it_and_used_until_the_file_changes(tmp_path):
    ckpt, cache = tmp_path / "ipa" / "ckpt.pt", str(tmp_path / "cache")
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights v1")
    first = hashing.file_sha256(str(ckpt), cache, sidecar=True)
    sidecar = tmp_path / "ipa" / ("ckpt.pt" + hashing.SIDECAR_SUFFIX)
    record = json.loads(sidecar.read_text())
    assert record["sha256"] == first["sha256"] and first["size"] == 10
    # a fresh process (empty memory) trusts the record while the file's stat is unchanged ...
    record["sha256"] = "f" * 64
    sidecar.write_text(json.dumps(record))
    hashing._memory.clear()
    assert hashing.file_sha256(str(ckpt), cache, sidecar=True)["sha256"] == "f" * 64
    # ... and hashes again once the file is rewritten (same size, new bytes)
    ckpt.write_bytes(b"weights v2")
    hashing._memory.clear()
    again = hashing.file_sha256(str(ckpt), cache, sidecar=True)
    assert again["sha256"] not in (first["sha256"], "f" * 64)
    assert json.loads(sidecar.read_text())["sha256"] == again["sha256"]


def test_a_sidecar_that_cannot_be_written_falls_back_to_the_cache(tmp_path):
    ckpt, cache = tmp_path / "ckpt.pt", tmp_path / "cache"
    ckpt.write_bytes(b"weights")
    (tmp_path / ("ckpt.pt" + hashing.SIDECAR_SUFFIX)).mkdir()  # in the way: writing it fails
    got = hashing.file_sha256(str(ckpt), str(cache), sidecar=True)
    (record,) = os.listdir(cache / hashing.CACHE_FOLDER)
    assert json.loads((cache / hashing.CACHE_FOLDER / record).read_text())["sha256"] == got["sha256"]


def test_identity_is_content_not_place(tmp_path, tiny_assets):
    """Same bytes elsewhere, under other names: the same run. Changed bytes or entry: another."""
    ckpts, toks = own_inputs(tmp_path, tiny_assets)
    config = with_paths(write_tiny_study(str(tmp_path), tiny_assets), checkpoint_prefix=ckpts,
                        tokenizer_prefix=toks)
    plan = experiment.plan_run(load_study([config]), "ipa", ["alpha"], ["alpha", "beta"])
    # the tokenizer saved under another name in another folder, the checkpoint in another folder
    moved = tmp_path / "moved"
    (moved / "toks").mkdir(parents=True)
    for part in ("vocab.json", "merges.txt"):
        shutil.copy(toks / f"ipa-{part}", moved / "toks" / f"phon-{part}")
    shutil.copytree(ckpts / "ipa", moved / "ckpts" / "phonetic")
    other = write_tiny_study(str(moved), tiny_assets, extra={"model_types": {
        "normal": {"model_prefix": "normal", "tokenizer": "normal"},
        "ipa": {"model_prefix": "phonetic", "tokenizer": "phon"}}})
    with_paths(other, checkpoint_prefix=moved / "ckpts", tokenizer_prefix=moved / "toks",
               results_dir=tmp_path / "results")
    same = experiment.plan_run(load_study([other]), "ipa", ["alpha"], ["alpha", "beta"])
    assert (same.run_id, same.run_dir) == (plan.run_id, plan.run_dir)
    assert same.inputs["tokenizer"]["name"] == "phon" and same.inputs != plan.inputs  # paths differ

    def rid(config):
        return experiment.plan_run(load_study([config]), "ipa", ["alpha"], ["alpha", "beta"]).run_id

    labels = write_tiny_study(str(tmp_path / "l"), tiny_assets, database_overrides={
        "beta": {"label_names": ["negative", "positive", "neutral"]}})
    assert rid(with_paths(labels, checkpoint_prefix=ckpts, tokenizer_prefix=toks)) != plan.run_id
    (toks / "ipa-merges.txt").write_text((toks / "ipa-merges.txt").read_text() + "\n")
    assert rid(config) != plan.run_id  # any byte of the tokenizer files counts


def test_the_data_of_the_splits_a_run_reads(tmp_path, tiny_assets):
    data = tmp_path / "data"
    shutil.copytree(tiny_assets.language_dir("beta"), data)
    config = write_tiny_study(str(tmp_path), tiny_assets, database_overrides={"beta": {"dataset": str(data)}})
    study = load_study([config])
    found = run_inputs(study, "normal", ["alpha"], ["beta"])
    beta_train = run_inputs(study, "normal", ["beta"], ["beta"])["datasets"]["beta"]["data"]["train"]
    # alpha trains and its validation split is evaluated each epoch (it chooses under "source"); beta is
    # evaluated, its test split predicted
    assert sorted(found["datasets"]["alpha"]["data"]) == ["train", "validation"]
    assert sorted(found["datasets"]["beta"]["data"]) == ["test", "validation"]
    on_target = run_inputs(study.with_overrides(hyperparameters={"selection": "target"}), "normal", ["alpha"],
                           ["beta"])
    assert on_target == found   # every epoch records every protocol's splits: the protocol reads nothing else
    assert found["datasets"]["beta"]["columns"] == ["text"] and found["datasets"]["beta"]["path"] == str(data)
    with open(data / "test.jsonl", "a", encoding="utf-8") as f:
        f.write('{"text": "one more", "ipa": "ɔŋə", "label": "neutral"}\n')
    after = run_inputs(study, "normal", ["alpha"], ["beta"])
    assert changes(found, after) == [
        f"beta data test sha256 {short(found['datasets']['beta']['data']['test']['sha256'])} → "
        f"{short(after['datasets']['beta']['data']['test']['sha256'])}"]
    assert run_inputs(study, "normal", ["beta"], ["alpha"])["datasets"]["beta"]["data"]["train"] == beta_train


def test_save_to_disk_data_is_fingerprinted_by_its_listed_files(tmp_path, tiny_assets):
    import datasets

    rows = [{"text": "ka lo", "ipa": "qɑ lɔ", "label": "neutral"}] * 4
    saved = tmp_path / "saved"
    datasets.DatasetDict({s: datasets.Dataset.from_list(rows) for s in ("train", "validation", "test")}
                         ).save_to_disk(str(saved))
    config = write_tiny_study(str(tmp_path), tiny_assets, languages=["alpha"],
                              database_overrides={"alpha": {"dataset": str(saved)}})
    study = load_study([config])
    before = run_inputs(study, "ipa", ["alpha"], ["alpha"])
    (saved / "train" / "cache-leftover.arrow").write_bytes(b"x")  # a later map's cache: not data
    assert run_inputs(study, "ipa", ["alpha"], ["alpha"]) == before
    with pytest.raises(Exception, match="split 'dev': no such split; the dataset has"):
        run_inputs(load_study([write_tiny_study(str(tmp_path / "d"), tiny_assets, languages=["alpha"],
                                                database_overrides={"alpha": {
                                                    "dataset": str(saved),
                                                    "splits": ["train", "dev"]}})]),
                   "ipa", ["alpha"], ["alpha"])


# ----------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def history(tiny_assets, tmp_path_factory):
    """One study's life: a finished ipa run; the checkpoint re-pretrained in place (a new run); the
    same bytes moved elsewhere (already finished); train_features as one list (a new run)."""
    from conftest import run_script

    folder = tmp_path_factory.mktemp("history")
    ckpts, toks = own_inputs(folder, tiny_assets)
    first = with_paths(write_tiny_study(str(folder), tiny_assets, languages=1),
                       checkpoint_prefix=ckpts, tokenizer_prefix=toks)
    procs = {"first": run_script("finetune-exp.py", first, *RUN)}
    before = results_of(folder / "results")
    repretrain(ckpts / "ipa" / "ckpt.pt", seed=7)
    procs["repretrained"] = run_script("finetune-exp.py", first, *RUN)
    shutil.copytree(ckpts, folder / "elsewhere")
    moved = with_paths(write_tiny_study(str(folder), tiny_assets, languages=1, name="moved.json"),
                       checkpoint_prefix=folder / "elsewhere", tokenizer_prefix=toks)
    procs["moved"] = run_script("finetune-exp.py", moved, *RUN)
    listed = with_paths(write_tiny_study(str(folder / "listed"), tiny_assets, languages=1,
                                         database_overrides={"alpha": {"train_features": ["text"]}}),
                        checkpoint_prefix=folder / "elsewhere", tokenizer_prefix=toks,
                        results_dir=folder / "results")
    procs["listed"] = run_script("finetune-exp.py", listed, *RUN)
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return collections.namedtuple("History", "folder procs before")(folder, procs, before)


@pytest.mark.slow
def test_repretrained_checkpoint_at_the_same_path_is_a_new_run(history):
    (old,) = history.before
    out = history.procs["repretrained"].stdout + history.procs["repretrained"].stderr
    assert f"inputs changed since run {old}: checkpoint sha256 " in out
    assert "training a new run (the old one is kept)" in out and "reads: ipa" in out
    after = results_of(history.folder / "results")
    assert after[old] == history.before[old]  # the old run's results, byte for byte
    assert len(after) == 3


@pytest.mark.slow
def test_the_same_bytes_at_a_new_path_are_already_finished(history):
    proc = history.procs["moved"]
    assert "is already finished" in proc.stdout and "starting training" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_list_form_train_features_is_a_new_run_that_names_its_columns(history):
    proc = history.procs["listed"]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "alpha.sentiment.tiny-alpha: model types normal and ipa read the " \
                                  "same column(s) text" in warnings[0]
    assert "reads: text" in proc.stdout + proc.stderr
    assert "alpha columns ipa → text" in proc.stdout + proc.stderr
    records = [json.loads(b) for b in results_of(history.folder / "results").values()]
    newest = max(records, key=lambda r: r["finished_at"])
    assert newest["inputs"]["datasets"]["alpha"]["columns"] == ["text"]
    assert sorted(r["inputs"]["datasets"]["alpha"]["columns"][0] for r in records) == ["ipa", "ipa", "text"]
    assert newest["provenance"]["command"][-len(RUN):] == RUN


@pytest.mark.slow
def test_report_shows_the_newest_inputs_and_lists_superseded_runs(history, tmp_path):
    from conftest import run_script

    results = history.folder / "results"
    records = sorted((json.loads(b) for b in results_of(results).values()), key=lambda r: r["finished_at"])
    proc = run_script("collect-results.py", results, "--no-plots", "--no-slurm", "--out", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    newest = records[-1]
    f1 = newest["metrics"]["alpha"]["test"]["f1"]   # the headline: the test split
    assert f"| alpha | {f1:.3f} (n=1) |" in md  # one run: nothing averaged with the older inputs
    assert "## Superseded runs" in md and "2 finished run(s) read older inputs" in md
    ckpt = newest["inputs"]["checkpoint"]["sha256"]
    assert f"checkpoint sha256 {short(records[0]['inputs']['checkpoint']['sha256'])} → {short(ckpt)}" in md
    assert "alpha columns ipa → text" in md
    tok = newest["inputs"]["tokenizer"]["sha256"]
    assert f"| tiny | sentiment | ipa | `{short(ckpt)}` | ipa `{short(tok)}` | alpha: text | 1 |" in md
    with open(tmp_path / "r" / "runs.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["superseded"] for r in rows if r["split"] == "eval") == ["False", "True", "True"]

    proc = run_script("collect-results.py", results, "--no-plots", "--no-slurm", "--all-inputs",
                      "--out", tmp_path / "all")
    assert "### ipa (superseded 1)" in proc.stdout and "### ipa (superseded 2)" in proc.stdout
    assert "## Superseded runs" not in proc.stdout
    for record in records:
        assert f"| alpha | {record['metrics']['alpha']['test']['f1']:.3f} (n=1) |" in proc.stdout


def test_runs_of_other_languages_share_an_input_set(tmp_path):
    """A polish-only and a russian-only run of one checkpoint are one input set; a schema-1 file
    without inputs is its own."""
    def run(rid, langs, ckpt, finished, inputs=True):
        data = {"schema_version": 2 if inputs else 1, "run_id": rid, "study": "s", "task": "t",
                "model_type": "ipa", "train_langs": langs, "eval_langs": langs,
                "metrics": {lang: {"eval": {"f1": 0.5}} for lang in langs}, "hyperparameters": {},
                "finished_at": finished}
        if inputs:
            data["inputs"] = {"checkpoint": {"sha256": ckpt * 64, "path": f"/{rid}"},
                              "tokenizer": {"sha256": "c" * 64, "name": "ipa"},
                              "datasets": {lang: {"columns": ["ipa"], "data": {"train": {"sha256": lang}}}
                                           for lang in langs}}
        return collect.parse_run(data, f"/r/{rid}/results.json")

    rs = [run("a", ["polish"], "a", "2026-03"), run("b", ["russian"], "a", "2026-02"),
          run("c", ["polish"], "b", "2026-01"), run("d", ["polish"], None, "2026-04", inputs=False)]
    view = select_inputs(rs)
    assert [r.run_id for r in view.runs] == ["d"]  # the newest run has no recorded inputs
    view = select_inputs(rs[:3])
    assert sorted(r.run_id for r in view.runs) == ["a", "b"]
    (old,) = view.superseded
    assert old.run.run_id == "c" and old.differs == [f"checkpoint sha256 {'b' * 12} → {'a' * 12}"]
    assert provenance_rows(view) == [("s", "t", "ipa", "a" * 12, "ipa", "c" * 12,
                                      "polish: ipa; russian: ipa", 2)]
    labels = sorted({r.model_type for r in select_inputs(rs, all_inputs=True).runs})
    assert labels == ["ipa", "ipa (superseded 1)", "ipa (superseded 2)"]


# ----------------------------------------------------------------------------- bad inputs

def replace_line(path, number, text):
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = text
    path.write_bytes(b"\n".join(lines))


def bad_data(folder, split, number, text):
    def make(case, assets):
        dest = case / "data"
        shutil.copytree(assets.language_dir("alpha"), dest)
        replace_line(dest / f"{split}.jsonl", number, text)
        return {"database_overrides": {"alpha": {"dataset": str(dest)}}}, str(dest / f"{split}.jsonl")
    return make


def bad_tokenizer(change):
    def make(case, assets):
        toks = case / "tokenizers"
        shutil.copytree(assets.tokenizer_prefix, toks)
        change(toks)
        return {"paths": {"tokenizer_prefix": toks}}, str(toks / "ipa-merges.txt")
    return make


def first_merges(count):
    def change(toks):
        lines = (toks / "ipa-merges.txt").read_text(encoding="utf-8").split("\n")
        (toks / "ipa-merges.txt").write_text("\n".join(lines[:count + 1]) + "\n", encoding="utf-8")
    return change


@dataclasses.dataclass
class TrainConfig:  # a training script's settings object, pickled into a checkpoint
    n_layer: int = 2


def python_objects(case, assets):
    ckpt = torch.load(os.path.join(assets.checkpoint_prefix, "ipa", "ckpt.pt"), weights_only=True)
    ckpt["config"] = TrainConfig()
    os.makedirs(case / "checkpoints" / "ipa")
    torch.save(ckpt, case / "checkpoints" / "ipa" / "ckpt.pt")
    return {"paths": {"checkpoint_prefix": case / "checkpoints"}}, str(case / "checkpoints" / "ipa" / "ckpt.pt")


BAD = {
    "not UTF-8": (bad_data("d", "train", 5, b'{"text": "caf\xe9", "ipa": "caf\xe9", "label": "neutral"}'),
                  ["line 5 (byte ", "holds bytes that are not UTF-8 text"]),
    "malformed JSON Lines": (bad_data("d", "validation", 7, b'{"text": "ka", "ipa": "qa", "label": '),
                             ["validation.jsonl line 7, column ", ": not valid JSON", "JSON Lines"]),
    "empty merges": (bad_tokenizer(lambda toks: (toks / "ipa-merges.txt").write_text("")),
                     ["is empty, but the byte-level BPE vocabulary", "needs 300 - 256 - 1 = 43 merges"]),
    "truncated merges": (bad_tokenizer(first_merges(20)),
                         ["has 20 merges, but", "43 merges", "truncated or belongs to another vocabulary"]),
    "merges of another vocabulary": (
        bad_tokenizer(lambda toks: shutil.copy(toks / "normal-merges.txt", toks / "ipa-merges.txt")),
        ["tokenizer files do not match", "ipa-merges.txt line ", "saved together"]),
    "checkpoint with Python objects": (python_objects, [
        "holds Python objects (test_trust.TrainConfig)", "refused for safety", "Re-save it as plain values"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_naming_the_file_and_leaves_finished_runs_alone(case, history, tiny_assets):
    """Exit 2, one error line, no traceback (run_script), before anything is trained or written."""
    from conftest import one_line_error, run_script

    folder, before = history.folder, results_of(history.folder / "results")
    make, expected = BAD[case]
    where = folder / case.replace(" ", "-")
    where.mkdir()
    changes, path = make(where, tiny_assets)
    config = write_tiny_study(str(where), tiny_assets, languages=1,
                              database_overrides=changes.get("database_overrides"))
    with_paths(config, results_dir=folder / "results", **changes.get("paths", {}))
    line = one_line_error(run_script("finetune-exp.py", config, *RUN))
    assert line.startswith("finetune-exp.py: error: ") and path in line, line
    for part in expected:
        assert part in line, line
    assert "weights_only" not in line
    assert results_of(folder / "results") == before
