"""finetune-exp.py end to end (real subprocesses on the tiny study), plus the pure parts: metrics,
history, run planning, checkpoint discovery."""
import collections
import datetime
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import CLASSES, killed_then_resumed, pausing_env, wait_until_stopped, write_tiny_study
from ipa_finetune.cpus import default_cpus
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import ConfigError, DataError
from ipa_finetune.train import experiment
from ipa_finetune.train import results as records
from ipa_finetune.train.metrics import classification_metrics, majority_baseline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "finetune-exp.py")
ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
LANGS = ["alpha", "beta"]
EPOCHS = 8
STEPS_PER_EPOCH = 10  # 2 languages x 40 train rows / batch 8


def cli(config, *extra):
    return [sys.executable, SCRIPT, config, "--model-type", "normal", "--train-langs", *LANGS,
            "--eval-langs", *LANGS, "--cpus", "1", *extra]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ----------------------------------------------------------------------------- pure parts

def test_metrics_on_a_hand_computed_case():
    labels = [0, 0, 1, 1, 2, 2]
    preds = [0, 1, 1, 1, 0, 2]
    # class 0: tp 1 fp 1 fn 1 -> p 1/2 r 1/2 f1 1/2; class 1: tp 2 fp 1 fn 0 -> p 2/3 r 1 f1 4/5;
    # class 2: tp 1 fp 0 fn 1 -> p 1 r 1/2 f1 2/3
    m = classification_metrics(labels, preds, 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert m["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert m["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert m["n"] == 6
    # a class that never occurs counts as 0 in the macro average (zero_division=0)
    assert classification_metrics(labels, preds, 4)["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 4)
    assert majority_baseline([0, 0, 1, 2]) == 0.5


def test_history_and_best_epoch_from_trainer_logs():
    log = [{"loss": 1.0, "epoch": 0.5, "step": 5}]
    for step, (a, b) in ((10, (0.5, 0.7)), (20, (0.9, 0.8))):
        log += [{"eval_alpha_f1": a, "eval_alpha_loss": 1 - a, "epoch": step / 10, "step": step},
                {"eval_beta_f1": b, "eval_beta_loss": 1 - b, "epoch": step / 10, "step": step},
                {"eval__mean_f1": (a + b) / 2, "epoch": step / 10, "step": step}]
    history = records.history(log, LANGS, "f1")
    assert [(r["epoch"], r["score"]) for r in history] == [(1, 0.6), (2, pytest.approx(0.85))]
    assert history[1]["metrics"] == {"alpha": {"f1": 0.9, "loss": pytest.approx(0.1)},
                                     "beta": {"f1": 0.8, "loss": pytest.approx(0.2)}}
    assert records.best_record(history, 20)["epoch"] == 2
    assert records.best_record(history, None) is None


def test_plan_run_identity(tiny_study, tmp_path):
    study = load_study([tiny_study()])
    a = experiment.plan_run(study, "normal", ["beta", "alpha"], ["alpha"])
    b = experiment.plan_run(study, "normal", ["alpha", "beta"], ["alpha"])
    assert a.run_id == b.run_id and a.run_id.startswith("normal__alpha+beta__to__alpha__")
    assert a.run_dir == os.path.join(study.cfg["paths"]["results_dir"], "tiny", a.run_id)
    assert a.checkpoint.endswith(os.path.join("normal", "ckpt.pt"))
    debug = experiment.plan_run(study, "normal", ["alpha"], ["alpha"], max_steps=3)
    assert debug.run_id != experiment.plan_run(study, "normal", ["alpha"], ["alpha"]).run_id
    moved = experiment.plan_run(study, "normal", ["alpha"], ["alpha"], output_dir=str(tmp_path / "elsewhere"))
    assert moved.run_dir == os.path.join(str(tmp_path / "elsewhere"), "tiny", moved.run_id)
    for langs, match in ((["alpha", "alpha"], "names a language twice"), (["klingon"], "klingon")):
        with pytest.raises(ConfigError, match=match):
            experiment.plan_run(study, "normal", langs, ["alpha"])
    with pytest.raises(ConfigError, match="model type 'ipx'"):
        experiment.plan_run(study, "ipx", ["alpha"], ["alpha"])


def test_last_complete_checkpoint(tmp_path):
    from ipa_finetune.train.trainer import last_complete_checkpoint

    assert last_complete_checkpoint(str(tmp_path / "none")) is None
    for step, complete in ((5, True), (10, True), (15, False)):
        os.makedirs(tmp_path / f"checkpoint-{step}")
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-10")
    assert not (tmp_path / "checkpoint-15").exists()  # killed while saving: removed


def test_stop_on_signal_saves_inside_an_epoch_and_lets_a_finished_epoch_evaluate():
    from transformers import TrainerControl, TrainerState, TrainingArguments
    from transformers.trainer_callback import DefaultFlowCallback

    from ipa_finetune.train.trainer import StopOnSignal

    args = TrainingArguments(output_dir="unused", eval_strategy="epoch", save_strategy="epoch", use_cpu=True)
    flow = DefaultFlowCallback()

    def step(stop, global_step, epoch, max_steps=100):
        """The Trainer's order: on_step_end of every callback, then on_epoch_end at the epoch's end."""
        state = TrainerState(global_step=global_step, epoch=epoch, max_steps=max_steps)
        control = TrainerControl()
        stop.on_step_end(args, state, flow.on_step_end(args, state, control))
        saved_at_step = control.should_save
        if control.should_training_stop or float(epoch).is_integer():
            stop.on_epoch_end(args, state, flow.on_epoch_end(args, state, control))
        return saved_at_step, control

    stop, before = StopOnSignal(), signal.getsignal(signal.SIGUSR1)
    assert step(stop, 7, 0.7) == (False, TrainerControl())  # no signal: nothing changes
    with stop.installed():
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)  # Python runs the handler between bytecodes
    assert (stop.signum, stop.signal_name) == (signal.SIGUSR1, "SIGUSR1")
    assert signal.getsignal(signal.SIGUSR1) == before  # restored after training
    saved, control = step(stop, 8, 0.8)
    assert saved and control.should_training_stop and not control.should_evaluate and not control.should_save
    assert stop.stopped_at == 8

    at_epoch_end = StopOnSignal()
    at_epoch_end.signum = signal.SIGTERM
    saved, control = step(at_epoch_end, 10, 1.0)  # the epoch is complete: evaluated and saved as usual
    assert not saved and control.should_training_stop and control.should_evaluate and control.should_save
    assert at_epoch_end.stopped_at == 10

    last = StopOnSignal()
    last.signum = signal.SIGTERM
    saved, control = step(last, 100, 9.5)  # max_steps reached inside an epoch: the normal end
    assert not saved and control.should_evaluate and control.should_save


def test_default_cpus_follows_slurm(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert default_cpus() == 3
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert default_cpus() == len(os.sched_getaffinity(0))


def test_unknown_language_is_a_one_line_error(tiny_study):
    proc = subprocess.run([sys.executable, SCRIPT, tiny_study(), "--model-type", "normal",
                           "--train-langs", "klingon", "--eval-langs", "alpha"],
                          capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("finetune-exp.py: error: ") and "klingon" in proc.stderr


def test_force_keeps_old_results_when_validation_fails(tiny_study):
    from ipa_finetune.train import pipeline as training

    config = tiny_study(database_overrides={"alpha": {"eval_feature": "sentiment"}})
    plan = experiment.plan_run(load_study([config]), "normal", ["alpha"], ["alpha"])
    os.makedirs(plan.run_dir)
    with open(plan.results_file, "w") as f:
        f.write('{"old": true}')
    with pytest.raises(DataError, match="column 'sentiment': no such column"):
        training.run(plan, cpus=1, fresh=True)
    assert json.load(open(plan.results_file)) == {"old": True}
    assert not os.path.exists(plan.checkpoints_dir)


# ----------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def finished(tiny_assets, tmp_path_factory):
    """A run killed right after its first epoch's checkpoint, then started again with the same
    arguments. The first run stops itself once that checkpoint is complete (the pause hook), and is
    killed in that state: nothing races the training."""
    folder = str(tmp_path_factory.mktemp("e2e"))
    config = write_tiny_study(folder, tiny_assets, epochs=EPOCHS, shared_cache=False)
    plan = experiment.plan_run(load_study([config]), "normal", LANGS, LANGS)
    second = killed_then_resumed(cli(config), folder, ENV, STEPS_PER_EPOCH, plan.results_file)
    with open(plan.results_file, encoding="utf-8") as f:
        results = json.load(f)
    return collections.namedtuple("Finished", "config folder plan second results")(
        config, folder, plan, second, results)


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(finished):
    log = open(finished.plan.log_file, encoding="utf-8").read()
    assert log.count("starting training") == 1
    assert "resuming from checkpoint " + os.path.join(finished.plan.checkpoints_dir, f"checkpoint-{STEPS_PER_EPOCH}") in log
    assert [h["epoch"] for h in finished.results["history"]] == list(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_results_json_schema(finished):
    r, plan = finished.results, finished.plan
    assert set(r) == {
        "schema_version", "run_id", "study", "task", "model_type", "train_langs", "eval_langs", "datasets",
        "hyperparameters", "seed", "metric_for_best_model", "best_epoch", "best_score", "selection",
        "selected_on", "metrics", "predictions", "history", "train_examples", "train_examples_per_second",
        "wall_time_seconds", "checkpoint", "best_model_dir", "config", "versions", "git_commit", "device",
        "finished_at", "inputs", "provenance", "epochs", "selection_epochs", "epoch_predictions"}
    assert (r["schema_version"], r["run_id"], r["study"], r["task"], r["model_type"]) == (
        2, plan.run_id, "tiny", "sentiment", "normal")
    assert r["inputs"] == plan.inputs and r["inputs"]["datasets"]["alpha"]["columns"] == ["text"]
    git = r["provenance"]["git"]
    assert git["commit"] == r["git_commit"] and len(git["commit"]) == 40 and isinstance(git["dirty"], bool)
    assert (git["diff_sha256"] is None) == (not git["dirty"])
    assert r["provenance"]["versions"] == r["versions"] and r["versions"]["tokenizers"]
    assert r["provenance"]["command"][1:] == cli(finished.config)[1:]
    assert r["train_langs"] == r["eval_langs"] == LANGS
    assert r["datasets"] == {"alpha": "tiny-alpha", "beta": "tiny-beta"}
    assert r["hyperparameters"] == plan.cfg["hyperparameters"] and r["config"] == plan.cfg
    assert r["seed"] == 1337 and r["metric_for_best_model"] == "f1"
    assert r["train_examples"] == 80 and r["train_examples_per_second"] > 0 and r["wall_time_seconds"] > 0
    assert r["checkpoint"] == plan.checkpoint and r["best_model_dir"] == "best_model"
    assert r["device"] == "cpu" and r["versions"]["torch"] and r["versions"]["transformers"]
    datetime.datetime.fromisoformat(r["finished_at"])
    scores = [h["score"] for h in r["history"]]
    assert r["best_epoch"] == scores.index(max(scores)) + 1 and r["best_score"] == max(scores)
    for lang in LANGS:
        assert set(r["metrics"][lang]) == {"eval", "test"}
        for split in ("eval", "test"):
            m = r["metrics"][lang][split]
            assert set(m) == {"accuracy", "precision", "recall", "f1", "n", "loss", "majority_baseline"}
            assert m["n"] == 16 and 0 <= m["f1"] <= 1 and m["loss"] > 0
    # the final evaluation of the kept model reproduces its score during training
    assert sum(r["metrics"][lang]["eval"]["f1"] for lang in LANGS) / 2 == pytest.approx(r["best_score"])


@pytest.mark.slow
def test_metrics_match_the_saved_best_model(finished, tiny_assets):
    import torch
    from sklearn.metrics import f1_score
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import hf_wrapper  # noqa: F401  registers "nanogpt" with the Auto classes

    path = os.path.join(finished.plan.run_dir, "best_model")
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    assert model.config.id2label == dict(enumerate(CLASSES))
    for lang in LANGS:
        rows = read_jsonl(os.path.join(tiny_assets.language_dir(lang), "validation.jsonl"))
        labels = [CLASSES.index(row["label"]) for row in rows]
        batch = tok([row["text"] for row in rows], padding=True, return_tensors="pt")
        with torch.no_grad():
            preds = model(**batch).logits.argmax(-1).tolist()
        got = finished.results["metrics"][lang]["eval"]
        assert got["accuracy"] == pytest.approx(sum(p == y for p, y in zip(preds, labels)) / len(labels))
        assert got["f1"] == pytest.approx(f1_score(labels, preds, average="macro", labels=[0, 1, 2],
                                                   zero_division=0))
        counts = collections.Counter(labels)
        assert got["majority_baseline"] == pytest.approx(max(counts.values()) / len(labels))


@pytest.mark.slow
def test_run_dir_layout_and_cache_reuse(finished):
    entries = sorted(os.listdir(finished.plan.run_dir))
    assert entries == ["best_model", "predictions", "results.json", "train.log"]  # checkpoints deleted
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(
        os.path.join(finished.plan.run_dir, "best_model")))
    # 2 languages x 3 splits tokenized once: the resumed process found the killed one's cache
    cached = glob.glob(os.path.join(finished.folder, "hf-cache", "ipa_finetune-tokenized", "*.arrow"))
    assert len(cached) == 6
    assert "best epoch" in finished.second.stdout and "baseline" in finished.second.stdout


@pytest.mark.slow
def test_finished_run_is_skipped(finished):
    stamp = os.stat(finished.plan.results_file).st_mtime_ns
    started = time.time()
    proc = subprocess.run(cli(finished.config), capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 0 and "already finished" in proc.stdout and "--force" in proc.stdout
    assert time.time() - started < 10  # no torch import, no training
    assert os.stat(finished.plan.results_file).st_mtime_ns == stamp


def test_languages_of_a_run_must_share_their_classes(tiny_study):
    from ipa_finetune.train import pipeline as training

    four = ["negative", "neutral", "positive", "mixed"]
    config = tiny_study(database_overrides={"beta": {"classes": 4, "label_names": four}})
    plan = experiment.plan_run(load_study([config]), "normal", LANGS, ["alpha"])
    with pytest.raises(ConfigError, match=r"alpha.sentiment.tiny-alpha.classes = 3, "
                                          r"beta.sentiment.tiny-beta.classes = 4"):
        training.prepare(plan)


@pytest.mark.slow
def test_sigterm_saves_a_mid_epoch_checkpoint_and_the_rerun_resumes_from_it(tiny_study):
    """What Slurm does before a time-limit or preemption kill: SIGTERM, then SIGKILL 30 s later."""
    config = tiny_study(hyperparameters={"batch_size": 2})  # 40 steps per epoch, 2 epochs
    plan = experiment.plan_run(load_study([config]), "normal", LANGS, LANGS)
    # stopped right after epoch 1's evaluation and checkpoint (step 40), so that the best-epoch
    # bookkeeping must survive too; SIGTERM arrives while it is stopped, SIGCONT lets it go on
    env = pausing_env(ENV, os.path.join(os.path.dirname(config), "paused"))
    first = subprocess.Popen(cli(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert wait_until_stopped(first, timeout=120), "the first run ended before it could be interrupted"
    first.send_signal(signal.SIGTERM)
    first.send_signal(signal.SIGCONT)
    signalled = time.time()
    out = first.communicate(timeout=60)[0]
    assert first.returncode == 143, out[-3000:]
    assert time.time() - signalled < 20  # well inside Slurm's KillWait
    assert not os.path.exists(plan.results_file)
    match = re.search(r"interrupted at step (\d+) by SIGTERM: checkpoint saved, re-run the same command "
                      r"to resume", out)
    assert match, out[-3000:]
    step = int(match.group(1))
    assert step == 41  # the first step of epoch 2
    assert sorted(os.listdir(plan.checkpoints_dir)) == sorted(["checkpoint-40", f"checkpoint-{step}"])
    with open(os.path.join(plan.checkpoints_dir, f"checkpoint-{step}", "trainer_state.json")) as f:
        state = json.load(f)
    assert state["global_step"] == step and state["best_global_step"] == 40
    assert {h["step"] for h in state["log_history"] if "eval__mean_f1" in h} == {40}  # no bogus epoch

    second = subprocess.run(cli(config), capture_output=True, text=True, env=ENV, timeout=120)
    assert second.returncode == 0, second.stderr[-3000:]
    log = open(plan.log_file, encoding="utf-8").read()
    assert "resuming from checkpoint " + os.path.join(plan.checkpoints_dir, f"checkpoint-{step}") in log
    with open(plan.results_file, encoding="utf-8") as f:
        results = json.load(f)
    assert [h["epoch"] for h in results["history"]] == [1, 2]
    scores = [h["score"] for h in results["history"]]
    assert results["best_epoch"] == scores.index(max(scores)) + 1 and results["best_score"] == max(scores)
