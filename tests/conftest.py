"""Shared fixtures: a tiny, self-contained study that finetune-exp.py can run in seconds on a CPU.

    def test_something(tiny_study):
        config = tiny_study(languages=2, epochs=2)      # path of a config JSON in tmp_path
        subprocess.run([sys.executable, "finetune-exp.py", config, "--model-type", "normal",
                        "--train-langs", "alpha", "--eval-langs", "alpha", "beta", "--cpus", "1"])

What a study holds (the session-wide parts are built once, in `tiny_assets`):
- tokenizers `normal` and `ipa`: byte-level BPEs trained on the fly on the fake languages' text / IPA
  columns, saved as `<name>-vocab.json` + `<name>-merges.txt`, end-of-document token `<|endoftext|>`;
- checkpoints `normal/ckpt.pt` and `ipa/ckpt.pt`: random tiny GPTs (n_layer=2, n_head=2, n_embd=32,
  block_size=64, vocab_size=320) in nanoGPT's format (ipa_finetune.checkpoint.save_checkpoint);
- per language, `<data>/<language>/{train,validation,test}.jsonl` with `text`, `ipa` and `label`
  ("negative" | "neutral" | "positive"); the label is given away by the sentence's last word, so even
  a tiny model can learn it, except for 15% of rows whose label is random (scores stay below 1.0).
  Languages are fake: alpha, beta, gamma, delta, ... (any count);
- per study (in the test's tmp_path): its own language database (paths.language_database; task
  `sentiment`, dataset `tiny-<language>`, label_names as above, splits train/validation/test), results,
  jobs, temp-config and HF-cache folders, and the config file itself, setting every hyperparameter, so
  tests never depend on the shipped configs.
"""
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import time

import pytest

from ipa_finetune.files import PROJECT_ROOT

# Tests never reach a hub: set before any test imports datasets or transformers (subprocesses inherit it).
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The top-level scripts, as a user runs them.
SCRIPTS = {name: os.path.join(PROJECT_ROOT, name) for name in (
    "prepare-data.py", "finetune-exp.py", "grid-search.py", "finetuning-generator.py", "collect-results.py")}

LANGUAGE_NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")
CLASSES = ("negative", "neutral", "positive")
EOS = "<|endoftext|>"
GPT_ARGS = dict(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=320, dropout=0.0, bias=True)
SPLIT_SIZES = {"train": 40, "validation": 16, "test": 16}
LABEL_NOISE = 0.15  # share of rows whose label is redrawn at random
# letters -> "IPA": a fixed, reversible-looking transcription, enough to make the two columns differ
IPA_MAP = str.maketrans({"a": "ɑ", "e": "ə", "i": "ɪ", "o": "ɔ", "u": "ʊ", "s": "ʃ", "t": "θ",
                         "r": "ɾ", "n": "ŋ", "k": "q"})
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "go", "zu", "fi", "be", "ho")


def language_data(language, sizes=None):
    """{split: [rows]} for one fake language; deterministic for a given name."""
    rng = random.Random(f"tiny-{language}")
    word = lambda: "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))  # noqa: E731
    fillers = [word() for _ in range(20)]
    keywords = {label: [word() + "x" * (i + 1) for _ in range(2)] for i, label in enumerate(CLASSES)}
    splits = {}
    for split, n in (sizes or SPLIT_SIZES).items():
        rows = []
        for k in range(n):
            label = CLASSES[k % len(CLASSES)] if split != "train" else rng.choice(CLASSES)
            words = [rng.choice(fillers) for _ in range(rng.randint(2, 6))] + [rng.choice(keywords[label])]
            text = " ".join(words)
            if rng.random() < LABEL_NOISE:  # so that scores are not all 1.0
                label = rng.choice(CLASSES)
            rows.append({"text": text, "ipa": text.translate(IPA_MAP), "label": label})
        splits[split] = rows
    return splits


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def seq2seq_data(language, sizes=None):
    """{split: [rows]} of a fake grapheme-to-phoneme task in `language`: distinct words of 1-3 of its
    syllables, {"id", "text", "ipa"} with the "IPA" of IPA_MAP; deterministic for a given name."""
    rng = random.Random(f"tiny-g2p-{language}")
    sizes = sizes or SPLIT_SIZES
    words = set()
    while len(words) < sum(sizes.values()):
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))))
    words = sorted(words)
    rng.shuffle(words)
    splits, start = {}, 0
    for split, n in sizes.items():
        splits[split] = [{"id": f"{language[:2]}-{start + k:03d}", "text": w, "ipa": w.translate(IPA_MAP)}
                         for k, w in enumerate(words[start:start + n])]
        start += n
    return splits


@dataclasses.dataclass
class TinyAssets:
    root: str
    tokenizer_prefix: str   # holds normal-vocab.json, normal-merges.txt, ipa-vocab.json, ipa-merges.txt
    checkpoint_prefix: str  # holds normal/ckpt.pt, ipa/ckpt.pt
    data_dir: str           # holds <language>/{train,validation,test}.jsonl
    hf_cache: str           # a session-wide datasets cache (tokenized splits are reused across tests)

    def language_dir(self, language):
        """The data folder of `language`, written on first use."""
        folder = os.path.join(self.data_dir, language)
        if not os.path.isdir(folder):
            for split, rows in language_data(language).items():
                write_jsonl(os.path.join(folder, f"{split}.jsonl"), rows)
        return folder

    def seq2seq_dir(self, language):
        """The fake G2P data folder of `language` (seq2seq_data), written on first use."""
        folder = os.path.join(self.data_dir, "g2p", language)
        if not os.path.isdir(folder):
            for split, rows in seq2seq_data(language).items():
                write_jsonl(os.path.join(folder, f"{split}.jsonl"), rows)
        return folder


def build_tiny_assets(root):
    """Tokenizers and checkpoints (the slow part, ~1 s) plus the data of alpha and beta."""
    import torch
    from tokenizers import ByteLevelBPETokenizer

    from ipa_finetune.checkpoint import save_checkpoint
    from model import GPT, GPTConfig

    assets = TinyAssets(root=root, tokenizer_prefix=os.path.join(root, "tokenizers"),
                        checkpoint_prefix=os.path.join(root, "checkpoints"),
                        data_dir=os.path.join(root, "data"), hf_cache=os.path.join(root, "hf-cache"))
    os.makedirs(assets.tokenizer_prefix)
    corpus = [row for lang in LANGUAGE_NAMES[:2] for row in language_data(lang)["train"][:25]]
    for name, column in (("normal", "text"), ("ipa", "ipa")):
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator([row[column] for row in corpus], vocab_size=300, min_frequency=2,
                                special_tokens=[EOS], show_progress=False)
        bpe.save_model(assets.tokenizer_prefix, name)
    for seed, name in enumerate(("normal", "ipa")):
        torch.manual_seed(seed)
        save_checkpoint(GPT(GPTConfig(**GPT_ARGS)), os.path.join(assets.checkpoint_prefix, name, "ckpt.pt"))
    for lang in LANGUAGE_NAMES[:2]:
        assets.language_dir(lang)
    return assets


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory):
    return build_tiny_assets(str(tmp_path_factory.mktemp("tiny-assets")))


HYPERPARAMETERS = {
    "learning_rate": 3e-3, "batch_size": 8, "eval_batch_size": 16, "epochs": 2, "warmup_ratio": 0.0,
    "weight_decay": 0.0, "lr_scheduler_type": "linear", "gradient_accumulation_steps": 1,
    "max_length": 64, "seed": 1337, "train_samples": None, "metric_for_best_model": "f1", "dropout": 0.0,
}


def database_entry(assets, language, **overrides):
    entry = {"dataset": assets.language_dir(language),
             "train_features": {"normal": ["text"], "ipa": ["ipa"]}, "eval_feature": "label",
             "splits": ["train", "validation", "test"], "task_type": "classification",
             "classes": len(CLASSES), "label_names": list(CLASSES)}
    entry.update(overrides)
    return entry


def seq2seq_entry(assets, language, **overrides):
    """A seq2seq database entry of the fake G2P data: source text, target ipa (an IPA column)."""
    entry = {"dataset": assets.seq2seq_dir(language), "train_features": ["text"], "eval_feature": "ipa",
             "splits": ["train", "validation", "test"], "task_type": "seq2seq",
             "ipa": {"epitran": "xxx-Latn", "columns": {"ipa": "text"}}}
    entry.update(overrides)
    return entry


# a seq2seq study's settings (write_tiny_study(seq2seq=True)): the task type's default metric (chrf)
SEQ2SEQ = {"task": "g2p", "generation": {"max_new_tokens": 12, "num_beams": 1, "separator": "eos",
                                         "error_unit": "auto"}}


def write_tiny_study(folder, assets, *, languages=2, epochs=2, hyperparameters=None, study="tiny",
                     database_overrides=None, shared_cache=True, extra=None, name="tiny.json",
                     seq2seq=False):
    """Write a study config (and its language database) into `folder`; return the config path.

    languages: a count (the first n of alpha, beta, gamma, ...) or a list of names.
    hyperparameters: overrides of HYPERPARAMETERS (epochs is a shortcut for {"epochs": n}).
    database_overrides: {language: {key: value}} replacing keys of that language's db entry.
    shared_cache: use the session-wide HF cache (fast) instead of one in `folder`.
    extra: top-level config keys to add or replace (e.g. {"slurm": {...}}).
    seq2seq: a G2P study instead (task g2p, datasets tiny-g2p-<language>: seq2seq_entry, SEQ2SEQ).
    """
    langs = list(LANGUAGE_NAMES[:languages]) if isinstance(languages, int) else list(languages)
    overrides = database_overrides or {}
    task, make, prefix = ("g2p", seq2seq_entry, "tiny-g2p") if seq2seq else ("sentiment", database_entry, "tiny")
    db = {lang: {task: {f"{prefix}-{lang}": make(assets, lang, **overrides.get(lang, {}))}} for lang in langs}
    db_path = os.path.join(folder, "language-database.json")
    os.makedirs(folder, exist_ok=True)
    with open(db_path, "w", encoding="utf-8") as f:
        json.dump(db, f, indent=2)
    cfg = {
        "study": study,
        "paths": {
            "checkpoint_prefix": assets.checkpoint_prefix,
            "tokenizer_prefix": assets.tokenizer_prefix,
            "hf_cache": assets.hf_cache if shared_cache else os.path.join(folder, "hf-cache"),
            "results_dir": os.path.join(folder, "results"),
            "jobs_dir": os.path.join(folder, "jobs"),
            "temp_config_dir": os.path.join(folder, "temp-configs"),
            "language_database": db_path,
        },
        "task": task,
        "languages": {lang: f"{prefix}-{lang}" for lang in langs},
        "model_types": {"normal": {"model_prefix": "normal", "tokenizer": "normal"},
                        "ipa": {"model_prefix": "ipa", "tokenizer": "ipa"}},
        "tokenizer": {"eos_token": EOS},
        "hyperparameters": {**HYPERPARAMETERS, "epochs": epochs,
                            **({"metric_for_best_model": None} if seq2seq else {}), **(hyperparameters or {})},
        "slurm": {"cpus": 1, "gpus": 0, "timeout": "00:10:00", "fields": {}},
        "wandb": {"enabled": False, "project": "ipa-finetune", "entity": None},
    }
    if seq2seq:
        cfg["generation"] = dict(SEQ2SEQ["generation"])
    cfg.update(extra or {})
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
    return path


@pytest.fixture
def tiny_study(tmp_path, tiny_assets):
    """Factory: tiny_study(**kwargs) -> config path; kwargs as write_tiny_study (folder: tmp_path,
    or tmp_path/<subfolder> when subfolder= is given, for several studies in one test)."""
    def make(subfolder=None, **kwargs):
        folder = os.path.join(str(tmp_path), subfolder) if subfolder else str(tmp_path)
        return write_tiny_study(folder, tiny_assets, **kwargs)
    return make


# ----------------------------------------------------------------------------- shared helpers

@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models in this process: extra threads only cost (on 2 busy cores, 20x slower than one)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_script(script, *args, env=None, cwd=None, timeout=600):
    """A top-level script (a path, or a name in SCRIPTS) run as a user runs it; never a traceback."""
    path = SCRIPTS.get(script, script)
    proc = subprocess.run([sys.executable, path, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd or PROJECT_ROOT, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def one_line_error(proc):
    """The single `<script>: error: ...` line of a run that failed with exit 2."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def write_overlay(folder, name="overlay.json", **extra):
    """A config file putting results, jobs and temp configs (a folder name with a space: paths must
    survive quoting) under `folder` (a pathlib.Path), plus `extra` top-level keys. It pins one seed
    (the shipped study config lists three), so that a test counts one job per run unless it asks
    for replicates (extra hyperparameters replace the pin)."""
    data = {"paths": {"results_dir": str(folder / "results"), "jobs_dir": str(folder / "jobs"),
                      "temp_config_dir": str(folder / "temp configs")},
            "hyperparameters": {"seed": 1337}}
    data.update(extra)
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


SHIPPED_STUDY = os.path.join(PROJECT_ROOT, "config", "finetune-rus-pol-sentiment.json")


def write_study_inputs(folder, assets, **entry_overrides):
    """A config file giving the shipped study (SHIPPED_STUDY) inputs that exist: the tiny assets under
    its names (checkpoints rus-pol-<type>/ckpt.pt, tokenizers rus-pol-<type>, and a language database
    whose rusentiment and polemo2 are the tiny alpha and beta data). `folder`: a pathlib.Path.
    entry_overrides: {dataset name: {key: value}} for the database entries."""
    ckpts, toks = folder / "inputs" / "checkpoints", folder / "inputs" / "tokenizers"
    toks.mkdir(parents=True, exist_ok=True)
    for mt in ("normal", "ipa"):
        (ckpts / f"rus-pol-{mt}").mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(assets.checkpoint_prefix, mt, "ckpt.pt"), ckpts / f"rus-pol-{mt}" / "ckpt.pt")
        for part in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(assets.tokenizer_prefix, f"{mt}-{part}"), toks / f"rus-pol-{mt}-{part}")
    db = {lang: {"sentiment": {name: database_entry(assets, tiny, **entry_overrides.get(name, {}))}}
          for lang, name, tiny in (("russian", "rusentiment", "alpha"), ("polish", "polemo2", "beta"))}
    (folder / "inputs" / "db.json").write_text(json.dumps(db), encoding="utf-8")
    path = folder / "inputs.json"
    path.write_text(json.dumps({"paths": {"checkpoint_prefix": str(ckpts), "tokenizer_prefix": str(toks),
                                          "language_database": str(folder / "inputs" / "db.json")}}),
                    encoding="utf-8")
    return str(path)


# A start-up hook (tests/pause_hook/sitecustomize.py) that makes finetune-exp.py stop itself right after
# its first complete checkpoint: a test that interrupts a run acts on a run frozen at a known state
# (a checkpoint exists, training has not finished) and waits for that state, never for a time.
PAUSE_HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pause_hook")


def pausing_env(env, flag, task=None, run=None):
    """`env` for a finetune-exp.py run, or for a launcher whose Slurm jobs inherit it, that stops
    itself once, after its first checkpoint, writing "<pid> <step>" to `flag`; `task`: only that
    Slurm array task; `run`: only at a checkpoint of that run id."""
    env = dict(env, IPA_TEST_PAUSE_FILE=str(flag))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PAUSE_HOOK_DIR, env.get("PYTHONPATH")) if p)
    if task is not None:
        env["IPA_TEST_PAUSE_TASK"] = str(task)
    if run is not None:
        env["IPA_TEST_PAUSE_RUN"] = str(run)
    return env


def wait_until_stopped(proc, timeout):
    """Block until the child `proc` stops itself (True) or exits (False): waitpid reports the state
    change, no polling. A child still running after `timeout` s is killed (then False)."""
    import threading

    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
    finally:
        watchdog.cancel()
    if os.WIFSTOPPED(status):
        return True
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return False


def killed_then_resumed(cmd, folder, env, steps, results_file):
    """Run `cmd` (a finetune-exp.py command line) until it stops itself after its first checkpoint
    (the pause hook), kill it in that state (nothing races the training), check that it checkpointed
    at step `steps` without results, then run it again to the end: the second CompletedProcess."""
    with open(os.path.join(folder, "first.out"), "w") as out:
        first = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                 env=pausing_env(env, os.path.join(folder, "paused")))
        stopped = wait_until_stopped(first, timeout=180)
        first.kill()
        first.wait()
    assert stopped, "the first run ended before its first checkpoint: " + open(out.name).read()[-3000:]
    assert open(os.path.join(folder, "paused")).read().split()[1] == str(steps)
    assert not os.path.exists(results_file)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    return second


def wait_for(condition, timeout, what, interval=0.05):
    """condition()'s first true value, asked every `interval` s (for states another process or Slurm
    holds, which no system call reports); AssertionError naming `what` after `timeout` s."""
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.time() < deadline, f"{what}: not after {timeout} s"
        time.sleep(interval)


def stopped_pid(flag):
    """The pid the pause hook wrote to `flag`, once that process is stopped; else None."""
    try:
        pid = int(open(flag).read().split()[0])
        with open(f"/proc/{pid}/status") as f:
            state = next(line for line in f if line.startswith("State:"))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return pid if state.split()[1] in ("T", "t") else None


# ----------------------------------------------------------------------------- real Slurm or not
# Tests that submit to a real Slurm carry the `slurm` marker (and call require_slurm). Without a Slurm
# that answers they are skipped, in one summary line saying how to start one; under .ci/run
# (IPA_FINETUNE_REQUIRE_SLURM=1) they fail instead, and a session in which none of them ran fails.
REQUIRE_SLURM = "IPA_FINETUNE_REQUIRE_SLURM"
_slurm = {"problem": None, "asked": False, "tests_run": 0}
# A cluster that does not exist, answering at once: where no Slurm answers, the session's Slurm
# commands are pointed at it, so that each fails in milliseconds, as a down controller makes it fail,
# instead of after ~10 s of retries (a missing slurm.conf: 60 s). The tests of other things then take
# as long as with a running Slurm.
NO_CLUSTER_CONF = "ClusterName=no-cluster\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={port}\nMessageTimeout=1\n"


def slurm_problem():
    """Why no Slurm answers here (one line), or None when `sinfo` lists a node; asked once."""
    if not _slurm["asked"]:
        _slurm["asked"] = True
        conf = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
        if shutil.which("sinfo") is None:
            _slurm["problem"] = "sinfo is not on PATH"
        elif not os.path.exists(conf):
            _slurm["problem"] = f"no {conf}"
        else:
            try:
                proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
                errors = proc.stderr.strip().splitlines()
                if proc.returncode != 0 or not proc.stdout.strip():
                    _slurm["problem"] = f"sinfo: {errors[-1] if errors else 'no node'}"
            except subprocess.TimeoutExpired:
                _slurm["problem"] = "sinfo did not answer within 30 s"
    return _slurm["problem"]


def pytest_sessionstart(session):
    if slurm_problem() and shutil.which("sinfo"):
        import socket
        import tempfile

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        folder = tempfile.mkdtemp(prefix="no-slurm-")
        with open(os.path.join(folder, "slurm.conf"), "w") as f:
            f.write(NO_CLUSTER_CONF.format(port=port))
        os.environ["SLURM_CONF"] = os.path.join(folder, "slurm.conf")


def require_slurm():
    """Call first in a test that needs a real Slurm (the `slurm` marker calls it before the test's
    fixtures): skip, or under IPA_FINETUNE_REQUIRE_SLURM=1 fail, when no Slurm answers."""
    problem = slurm_problem()
    if problem is None:
        _slurm["tests_run"] += 1
        return
    why = (f"no Slurm answers here ({problem}); `scripts/local-slurm.sh start` starts a local one, "
           "then `make test` runs these too")
    if os.environ.get(REQUIRE_SLURM) == "1":
        pytest.fail(f"{REQUIRE_SLURM}=1 (.ci/run) requires the real-Slurm tests, but {why}", pytrace=False)
    pytest.skip(why)


def pytest_runtest_setup(item):
    if item.get_closest_marker("slurm"):
        require_slurm()


def pytest_sessionfinish(session, exitstatus):
    """Under IPA_FINETUNE_REQUIRE_SLURM=1 a session in which no real-Slurm test ran fails: CI must
    not lose them silently (deleted, renamed, or no longer marked)."""
    if os.environ.get(REQUIRE_SLURM) == "1" and _slurm["tests_run"] == 0 and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if os.environ.get(REQUIRE_SLURM) == "1" and _slurm["tests_run"] == 0:
        terminalreporter.write_line(f"FAILED: {REQUIRE_SLURM}=1 (.ci/run) but no real-Slurm test ran (the tests "
                                    "marked slurm: tests/test_slurm.py, tests/test_slurm_arrays.py, ...)", red=True)


def slurm_job(job_id, env=None):
    """{key: value} of `scontrol show job ID -o` (an array task "A_i" too); {} when unknown."""
    proc = subprocess.run(["scontrol", "show", "job", str(job_id), "-o"], capture_output=True, text=True,
                          env=env, timeout=30)
    return dict(token.split("=", 1) for token in proc.stdout.split() if "=" in token)


def wait_for_jobs(job_ids, timeout=300, env=None):
    """{job id: final JobState} once every job (plain or array task "A_i") has ended, polling
    scontrol (of the cluster `env`'s SLURM_CONF names); cancels whatever still runs after `timeout`
    s, so that a test never leaves jobs behind."""
    from ipa_finetune.slurm import PENDING_STATES, RUNNING_STATES

    deadline, states = time.time() + timeout, {}
    while time.time() < deadline:
        states = {i: slurm_job(i, env).get("JobState") for i in job_ids}
        if all(s and s not in PENDING_STATES | RUNNING_STATES for s in states.values()):
            return states
        time.sleep(0.5)
    subprocess.run(["scancel", *job_ids], capture_output=True, env=env)
    raise AssertionError(f"Slurm jobs still not done after {timeout} s: {states}")
