"""Seq2seq studies (task_type "seq2seq") through the scripts: bad entries and settings refused in one
line with nothing written, a tiny G2P run through finetune-exp.py (killed after its first checkpoint
and resumed), its results.json and predictions, and the report with paired-bootstrap intervals."""
import collections
import json
import os
import subprocess
import sys

import pytest

from conftest import (EOS, SCRIPTS, killed_then_resumed, one_line_error, run_script, seq2seq_data,
                      write_tiny_study)
from ipa_finetune.config.study import load_study
from ipa_finetune.train import experiment

ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
LANGS = ["alpha", "beta"]
EPOCHS = 3
STEPS_PER_EPOCH = 10  # 2 languages x 40 train rows / batch 8
METRICS = {"chrf", "bleu", "exact_match", "error_rate"}


def finetune(config, model_type="normal", train=LANGS, evals=LANGS, *extra):
    return [sys.executable, SCRIPTS["finetune-exp.py"], config, "--model-type", model_type,
            "--train-langs", *train, "--eval-langs", *evals, "--cpus", "1", *extra]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ----------------------------------------------------------------------------- refused up front

BAD = [
    (dict(database_overrides={"alpha": {"eval_feature": ""}}),
     ['alpha.g2p.tiny-g2p-alpha.eval_feature = ""', "expected the target column's name"]),
    (dict(database_overrides={"alpha": {"classes": 3}}),
     ["alpha.g2p.tiny-g2p-alpha.classes is not allowed in a seq2seq entry"]),
    (dict(database_overrides={"beta": {"label_names": ["x", "y"]}}), ["label_names is not allowed"]),
    (dict(database_overrides={"alpha": {"eval_feature": {"normal": "ipa"}}}),
     ["tiny-g2p-alpha.eval_feature has no target column for model type(s) ipa"]),
    (dict(extra={"generation": {"max_new_tokens": 0}}), ["generation.max_new_tokens = 0", "an integer >= 1"]),
    (dict(extra={"generation": {"num_beams": 0}}), ["generation.num_beams = 0", ">= 1 and < 101"]),
    (dict(extra={"generation": {"separator": "sep"}}), ['generation.separator = "sep"', "one of eos, spare"]),
    (dict(extra={"generation": {"error_unit": "word"}}), ["generation.error_unit", "one of auto, char, phone"]),
    (dict(hyperparameters={"metric_for_best_model": "f1"}),
     ['metric_for_best_model = "f1" is not a seq2seq metric', "chrf, bleu, exact_match, error_rate, loss"]),
]


@pytest.mark.parametrize("kwargs,expected", BAD)
def test_bad_seq2seq_entries_and_settings_are_one_line_errors(tiny_study, tmp_path, kwargs, expected):
    extra = kwargs.pop("extra", None)
    config = tiny_study(seq2seq=True, **kwargs)
    if extra:  # a later config file changing some settings (the others keep their defaults)
        config = [config, str(tmp_path / "more.json")]
        (tmp_path / "more.json").write_text(json.dumps(extra))
    config = config if isinstance(config, list) else [config]
    line = one_line_error(run_script("finetune-exp.py", *config, "--model-type", "normal",
                                     "--train-langs", "alpha", "--eval-langs", "alpha"))
    for part in expected:
        assert part in line, line
    assert not (tmp_path / "results").exists()


def test_languages_of_one_study_share_their_task_type(tiny_study, tmp_path, tiny_assets):
    from conftest import database_entry
    config = tiny_study(seq2seq=True)
    db_path = tmp_path / "language-database.json"
    db = json.loads(db_path.read_text())
    db["beta"]["g2p"]["tiny-g2p-beta"] = database_entry(tiny_assets, "beta")
    db_path.write_text(json.dumps(db))
    line = one_line_error(run_script("finetuning-generator.py", config, "--dry-run"))
    assert "different task types (alpha: seq2seq, beta: classification)" in line
    assert not (tmp_path / "jobs").exists()


def test_checkpoint_that_cannot_hold_the_block_or_separator_is_refused_before_anything(tiny_study,
                                                                                     tmp_path, tiny_assets):
    import torch
    from tokenizers import ByteLevelBPETokenizer

    from ipa_finetune.checkpoint import save_checkpoint
    from model import GPT, GPTConfig

    more = tmp_path / "more.json"
    more.write_text(json.dumps({"generation": {"max_new_tokens": 63}}))  # block_size 64
    line = one_line_error(run_script("finetuning-generator.py", tiny_study(seq2seq=True), more, "--dry-run",
                                     "--model-type", "normal"))
    assert "generation.max_new_tokens = 63 does not fit the block_size 64" in line and "at most 62" in line
    assert not (tmp_path / "jobs").exists()
    # "spare" needs an embedding row past the tokenizer's: a checkpoint with exactly its vocabulary
    size = ByteLevelBPETokenizer(os.path.join(tiny_assets.tokenizer_prefix, "normal-vocab.json"),
                                 os.path.join(tiny_assets.tokenizer_prefix, "normal-merges.txt")).get_vocab_size()
    torch.manual_seed(0)
    save_checkpoint(GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64, vocab_size=size)),
                    str(tmp_path / "full" / "normal" / "ckpt.pt"))
    more.write_text(json.dumps({"generation": {"separator": "spare"},
                                "paths": {"checkpoint_prefix": str(tmp_path / "full")},
                                "model_types": {"ipa": None}}))
    line = one_line_error(run_script("finetune-exp.py", tiny_study(seq2seq=True), more, "--model-type",
                                     "normal", "--train-langs", "alpha", "--eval-langs", "alpha"))
    assert f"has vocab_size {size}, all of it used by the tokenizer's {size} tokens" in line
    assert "no spare embedding row for the seq2seq separator" in line
    assert not (tmp_path / "results").exists()


def test_an_empty_target_is_one_line_and_no_results(tiny_study, tmp_path, tiny_assets):
    folder = tmp_path / "data"
    for split, rows in seq2seq_data("alpha").items():
        if split == "validation":
            rows[3]["ipa"] = " "
        folder.mkdir(exist_ok=True)
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tiny_study(seq2seq=True, database_overrides={"alpha": {"dataset": str(folder)}})
    proc = run_script("finetune-exp.py", config, "--model-type", "normal", "--train-langs", "alpha",
                      "--eval-langs", "alpha", "--cpus", "1")
    line = one_line_error(proc)
    assert "split 'validation'" in line and "example 'al-043' has an empty target (' ')" in line
    assert not list((tmp_path / "results").rglob("results.json"))


# ----------------------------------------------------------------------------- a run, killed and resumed

@pytest.fixture(scope="module")
def finished(tiny_assets, tmp_path_factory):
    """A joint alpha+beta -> alpha, beta run stopped right after its first epoch's checkpoint (the
    pause hook), killed, then started again with the same arguments."""
    folder = str(tmp_path_factory.mktemp("s2s"))
    config = write_tiny_study(folder, tiny_assets, epochs=EPOCHS, seq2seq=True)
    plan = experiment.plan_run(load_study([config]), "normal", LANGS, LANGS)
    second = killed_then_resumed(finetune(config), folder, ENV, STEPS_PER_EPOCH, plan.results_file)
    with open(plan.results_file, encoding="utf-8") as f:
        results = json.load(f)
    return collections.namedtuple("Finished", "config folder plan second results")(
        config, folder, plan, second, results)


@pytest.mark.slow
def test_killed_run_resumes_and_records_every_epoch(finished):
    log = open(finished.plan.log_file, encoding="utf-8").read()
    assert log.count("starting training") == 1 and "reads: text (target column: ipa)" in log
    checkpoint = os.path.join(finished.plan.checkpoints_dir, f"checkpoint-{STEPS_PER_EPOCH}")
    assert "resuming from checkpoint " + checkpoint in log
    history = finished.results["history"]
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    for h in history:
        assert set(h["metrics"]) == set(LANGS) and METRICS | {"loss"} <= set(h["metrics"]["alpha"])
        assert h["score"] == pytest.approx(sum(h["metrics"][lang]["chrf"] for lang in LANGS) / 2)


@pytest.mark.slow
def test_results_have_every_text_metric_per_language_and_split(finished):
    r = finished.results
    assert r["metric_for_best_model"] == "chrf" and r["hyperparameters"]["metric_for_best_model"] == "chrf"
    scores = [h["score"] for h in r["history"]]
    assert r["best_score"] == max(scores) and r["best_epoch"] == scores.index(max(scores)) + 1
    for lang in LANGS:
        for split in ("eval", "test"):
            m = r["metrics"][lang][split]
            assert METRICS | {"loss", "n"} <= set(m) and m["n"] == 16
            assert 0 <= m["chrf"] <= 100 and 0 <= m["exact_match"] <= 1 and m["error_rate"] >= 0
            for baseline in ("copy_source", "most_frequent_target"):
                assert {f"{baseline}_{k}" for k in METRICS} <= set(m)
            assert m["most_frequent_target_exact_match"] <= 1 / 16  # distinct words: one at most
    assert sum(r["metrics"][lang]["eval"]["chrf"] for lang in LANGS) / 2 == pytest.approx(r["best_score"])
    s2s = r["seq2seq"]
    assert s2s["generation"] == finished.plan.cfg["generation"]
    assert s2s["tokens"] == {"separator": 0, "end": 0, "kind": "eos"}
    assert s2s["targets"]["alpha"] == {"source_columns": ["text"], "target_column": "ipa",
                                       "error_unit": "phone", "error_rate": "phone error rate (PER)"}
    assert s2s["layout"]["train"]["alpha"] == {"examples": 40, "dropped": 0, "truncated": 0,
                                               "target_over_budget": 0}
    assert s2s["layout"]["test"]["beta"]["examples"] == 16
    assert r["inputs"]["datasets"]["alpha"]["label_column"] == "ipa"
    assert r["inputs"]["datasets"]["alpha"]["task_type"] == "seq2seq"
    assert "chrf" in finished.second.stdout and "copy chrf" in finished.second.stdout


@pytest.mark.slow
def test_predictions_are_what_the_saved_model_generates(finished, tiny_assets):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import hf_wrapper  # noqa: F401  registers "nanogpt" with the Auto classes

    r, run_dir = finished.results, finished.plan.run_dir
    assert r["predictions"]["alpha"] == {"eval": "predictions/alpha.eval.jsonl",
                                         "test": "predictions/alpha.test.jsonl"}
    rows = read_jsonl(os.path.join(run_dir, r["predictions"]["alpha"]["eval"]))
    data = seq2seq_data("alpha")["validation"]
    assert [(p["index"], p["id"], p["source"], p["reference"]) for p in rows] == [
        (i, d["id"], d["text"], d["ipa"]) for i, d in enumerate(data)]
    model = AutoModelForCausalLM.from_pretrained(os.path.join(run_dir, "best_model"))
    tok = AutoTokenizer.from_pretrained(os.path.join(run_dir, "best_model"))
    eos = tok.convert_tokens_to_ids(EOS)
    prompts = [tok(d["text"], add_special_tokens=False)["input_ids"] + [eos] for d in data]
    out = model.complete(prompts, finished.plan.cfg["generation"]["max_new_tokens"])
    assert [tok.decode(ids, skip_special_tokens=True) for ids in out] == [p["hypothesis"] for p in rows]
    from ipa_finetune.text_metrics import example_statistics
    got = example_statistics([p["hypothesis"] for p in rows], [p["reference"] for p in rows], "phone").scores()
    assert got["chrf"] == pytest.approx(r["metrics"]["alpha"]["eval"]["chrf"])


@pytest.mark.slow
def test_a_finished_seq2seq_run_is_skipped(finished):
    proc = subprocess.run(finetune(finished.config), capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 0 and "already finished" in proc.stdout


def test_grid_of_a_seq2seq_study_checks_its_metrics(tiny_study, tmp_path):
    config = tiny_study(seq2seq=True)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"parameters": {"learning_rate": [1e-3, 3e-3],
                                               "metric_for_best_model": ["chrf", "error_rate"]},
                                "languages": {"train": "alpha", "eval": "all"}}))
    proc = run_script("grid-search.py", config, "--grid-config", grid, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 permutations" in proc.stdout and "8 runs" in proc.stdout, proc.stdout
    grid.write_text(json.dumps({"parameters": {"metric_for_best_model": ["chrf", "f1"]}}))
    line = one_line_error(run_script("grid-search.py", config, "--grid-config", grid, "--dry-run"))
    assert 'grid.json: parameters.metric_for_best_model = "f1" is not a seq2seq metric' in line
