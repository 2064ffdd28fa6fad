"""Every input is checked before anything is queued or trained (issue 10: trustworthy runs), the rule
that vocab and merges follow, and bad CSV bytes. Real files, real
subprocess runs of the scripts (bad inputs beside a finished run: test_trust.py)."""
import json
import os
import shutil

import pytest

from conftest import EOS, run_script, write_tiny_study
from ipa_finetune import runs
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import ConfigError, DataError
from ipa_finetune.launch import jobs
from ipa_finetune.train import data
from ipa_finetune.inputs.tokenizer import BYTE_SYMBOLS, check_bpe_files
from test_trust import own_inputs, repretrain, replace_line, with_paths

GRID = os.path.join(PROJECT_ROOT, "config", "grid-search.json")  # the spec's grid: 27 points
SBATCH = '#!/bin/bash\necho "$@" >> "$(dirname "$0")/called"\necho 9000001\n'


@pytest.fixture
def sbatch(tmp_path):
    """An sbatch on PATH that records every call in <bin>/called."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "sbatch").write_text(SBATCH)
    (folder / "sbatch").chmod(0o755)
    return folder, dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}")


def problem_lines(proc):
    """The `  - problem` lines after the one `error: N problems; ...` line of a launcher."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "problems; nothing was written or submitted:" in errors[0], proc.stderr
    return [line[4:] for line in proc.stderr.splitlines() if line.startswith("  - ")]


# ----------------------------------------------------------------------------- check before launch

@pytest.mark.parametrize("script", ["grid-search.py", "finetuning-generator.py"])
def test_launchers_list_every_missing_input_write_nothing_and_call_no_sbatch(script, tmp_path,
                                                                             tiny_assets, sbatch):
    ckpts, toks = own_inputs(tmp_path, tiny_assets)
    os.remove(ckpts / "ipa" / "ckpt.pt")
    for part in ("vocab.json", "merges.txt"):
        os.remove(toks / f"normal-{part}")
    alpha = tmp_path / "alpha"
    shutil.copytree(tiny_assets.language_dir("alpha"), alpha)
    os.remove(alpha / "test.jsonl")
    replace_line(alpha / "validation.jsonl", 3, b'{"text": "ka", "label": ')
    config = with_paths(write_tiny_study(str(tmp_path), tiny_assets, database_overrides={
        "alpha": {"dataset": str(alpha), "train_features": {"normal": ["text"], "ipa": ["phonemes"]}},
        "beta": {"dataset": str(tmp_path / "no-such-folder")}}), checkpoint_prefix=ckpts,
        tokenizer_prefix=toks)
    args = [config] + (["--grid-config", GRID] if script == "grid-search.py" else [])  # the spec's command
    folder, env = sbatch
    for extra in ([], ["--dry-run"]):  # a dry run reports the same problems
        lines = problem_lines(run_script(script, *args, *extra, "--yes", env=env))
        expected = [
            f"checkpoint of model type 'ipa' not found: {ckpts / 'ipa' / 'ckpt.pt'}",
            "tokenizer 'normal' of model type 'normal' not found",
            "split 'test': no such split; the dataset has ['train', 'validation']",
            "split 'train', column 'phonemes': no such column; the split has ['text', 'ipa', 'label']",
            f"split 'validation': {alpha / 'validation.jsonl'} line 3, column 25: not valid JSON",
            f"dataset 'tiny-beta' of language 'beta' ({tmp_path / 'no-such-folder'}): local path",
        ]
        for part in expected:
            assert sum(part in line for line in lines) == 1, (part, lines)
        assert len(lines) == len(expected), lines  # each distinct input once, however many jobs
    assert not (folder / "called").exists()
    assert sorted(os.listdir(tmp_path)) == ["alpha", "bin", "checkpoints", "language-database.json",
                                            "tiny.json", "tokenizers"]  # no jobs, temp configs, results


def test_the_spec_grid_on_inputs_that_exist_is_submitted(tmp_path, tiny_assets, sbatch):
    """The spec's grid (54 runs) on inputs that exist: checked, written and submitted (one array of
    3 jobs of 18 runs: 10-minute runs, runs_per_job "auto"; then the report job)."""
    folder, env = sbatch
    config = write_tiny_study(str(tmp_path), tiny_assets)
    proc = run_script("grid-search.py", config, "--grid-config", GRID, "--yes", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "submitted 54 runs in 3 jobs" in proc.stdout
    array, report = (folder / "called").read_text().splitlines()
    assert array.startswith("--parsable --array=0-2 ") and "tiny-report" in report


def test_launchers_say_which_input_changed_and_warn_about_shared_columns(tmp_path, tiny_assets):
    ckpts, toks = own_inputs(tmp_path, tiny_assets)
    config = with_paths(write_tiny_study(str(tmp_path), tiny_assets, languages=1, database_overrides={
        "alpha": {"train_features": ["text"]}}), checkpoint_prefix=ckpts, tokenizer_prefix=toks)
    study = load_study([config])
    planned = jobs.plan_transfer_jobs(study, [config], ["normal", "ipa"])
    for job in planned:  # what finished runs record (results.json of schema 2, the fields compared)
        runs_dir = job.run_dir
        os.makedirs(runs_dir)
        with open(runs.results_path(runs_dir), "w", encoding="utf-8") as f:
            json.dump({"run_id": job.run_id, "task": "sentiment", "hyperparameters": study.hyperparameters,
                       "inputs": job.inputs, "finished_at": "2026-01-01T00:00:00+00:00"}, f)
    proc = run_script("finetuning-generator.py", config, "--dry-run")
    assert "2 runs planned; 2 skipped: results.json exists" in proc.stdout
    old = planned[1].inputs["checkpoint"]["sha256"]
    repretrain(ckpts / "ipa" / "ckpt.pt", seed=11)
    proc = run_script("finetuning-generator.py", config, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    new = load_study([config])  # (a fresh process hashes the new bytes)
    new_sha = jobs.plan_transfer_jobs(new, [config], ["ipa"])[0].inputs["checkpoint"]["sha256"]
    assert "2 runs planned; 1 skipped: results.json exists" in proc.stdout
    assert "inputs changed since 1 finished run(s) with the same settings" in proc.stdout
    assert f"  checkpoint sha256 {old[:12]} → {new_sha[:12]}: 1 ipa job(s)" in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "model types normal and ipa read the same column(s) text" in warnings[0]


def test_launchers_say_which_input_changed_for_every_seed(tmp_path, tiny_assets):
    """With a seed list each finished run recorded its own seed: a re-pretrained checkpoint is
    reported for every seed's job, not hidden by the config's list."""
    ckpts, toks = own_inputs(tmp_path, tiny_assets)
    config = with_paths(write_tiny_study(str(tmp_path), tiny_assets, languages=1,
                                         hyperparameters={"seed": [1, 2]}),
                        checkpoint_prefix=ckpts, tokenizer_prefix=toks)
    study = load_study([config])
    for job in jobs.plan_transfer_jobs(study, [config], ["ipa"]):
        os.makedirs(job.run_dir)
        with open(runs.results_path(job.run_dir), "w", encoding="utf-8") as f:
            json.dump({"run_id": job.run_id, "task": "sentiment", "inputs": job.inputs,
                       "hyperparameters": dict(study.hyperparameters, seed=job.seed),
                       "finished_at": "2026-01-01T00:00:00+00:00"}, f)
    repretrain(ckpts / "ipa" / "ckpt.pt", seed=11)
    proc = run_script("finetuning-generator.py", config, "--model-type", "ipa", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "inputs changed since 2 finished run(s) with the same settings" in proc.stdout
    assert ": 2 ipa job(s)" in proc.stdout


# ----------------------------------------------------------------------------- bad data and tokenizers

def test_non_utf8_csv_names_the_file_and_line(tmp_path):
    from test_data import make_spec

    folder = tmp_path / "csv"
    folder.mkdir()
    rows = b"text,ipa,label\n" + b"".join(b"ka %d,qa,0\n" % i for i in range(30)) + b"caf\xe9,qa,1\n"
    (folder / "train.csv").write_bytes(rows)
    spec = make_spec(folder, label_names=None, test_split=None)
    with pytest.raises(DataError) as err:
        data.load_language(spec, "normal", ["train"], str(tmp_path / "cache"))
    assert f"{folder / 'train.csv'} line 32 (byte " in str(err.value) and "not UTF-8" in str(err.value)


def test_merges_rule_holds_for_the_shipped_and_test_tokenizers(tiny_assets):
    """N tokens = 256 byte symbols + S special tokens + one per merge (README states the rule)."""
    for prefix in (os.path.join(PROJECT_ROOT, "demo", "tokenizers"), tiny_assets.tokenizer_prefix):
        for name in ("normal", "ipa"):
            vocab, merges = (os.path.join(prefix, f"{name}-{p}") for p in ("vocab.json", "merges.txt"))
            check_bpe_files(vocab, merges, EOS)
            with open(vocab, encoding="utf-8") as f:
                n = len(json.load(f))
            with open(merges, encoding="utf-8") as f:
                count = sum(1 for line in f if line.strip() and not line.startswith("#version"))
            assert count == n - BYTE_SYMBOLS - 1  # one special token: <|endoftext|>


def test_a_merge_that_is_not_two_tokens(tmp_path, tiny_assets):
    shutil.copytree(tiny_assets.tokenizer_prefix, tmp_path / "t")
    merges = tmp_path / "t" / "ipa-merges.txt"
    replace_line(merges, 3, b"abc")
    with pytest.raises(ConfigError, match=r"ipa-merges.txt line 3: 'abc' is not a merge"):
        check_bpe_files(str(tmp_path / "t" / "ipa-vocab.json"), str(merges), EOS)
