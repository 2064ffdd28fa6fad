"""Cascading configs, provenance, the language database, the grid config and every bad-input message."""
import copy
import itertools
import json
import os
import subprocess
import sys

import json5
import pytest

from ipa_finetune.config import loader as cl
from ipa_finetune.config.database import load_database, resolve_dataset
from ipa_finetune.config.reading import DEFAULT_CONFIG
from ipa_finetune.config.study import load_study
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.errors import ConfigError


def good_db():
    return {
        "russian": {"sentiment": {
            "ru1": {"dataset": "org/ru-sentiment", "train_features": ["text"], "eval_feature": "label",
                    "splits": ["train", "dev"], "task_type": "classification", "classes": 3},
            "ru2": {"dataset": "./data/ru2", "train_features": ["text"], "eval_feature": "label",
                    "splits": ["train", "dev", "test"], "task_type": "classification", "classes": 2}}},
        "polish": {"sentiment": {
            "pl1": {"dataset": "org/pl", "subset": "all_text",
                    "train_features": {"normal": ["text"], "ipa": ["ipa", "ipa2"]},
                    "eval_feature": "label", "splits": ["train", "validation", "test"],
                    "task_type": "classification", "classes": 3,
                    "label_names": ["neg", "neu", "pos"], "data_format": "json"}}},
        "czech": {"sentiment": {
            "cs1": {"dataset": "org/cs", "train_features": ["text"], "eval_feature": "label",
                    "splits": ["train", "dev"], "task_type": "classification", "classes": 2}}},
        "german": {"topic": {
            "de1": {"dataset": "org/de", "train_features": ["text"], "eval_feature": "label",
                    "splits": ["train", "dev"], "task_type": "classification", "classes": 5}}},
    }


def write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


@pytest.fixture
def base(tmp_path):
    """A study config pointing at a tmp language database; returns its path."""
    db = write(tmp_path / "db.json", good_db())
    return write(tmp_path / "base.json", {"study": "t", "task": "sentiment",
                                          "paths": {"language_database": db},
                                          "languages": {"polish": "pl1"}})


def error_of(*paths):
    with pytest.raises(ConfigError) as info:
        cl.load_config(list(paths))
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# ----------------------------------------------------------------------------- cascade

def test_cascade_order_deep_merge_and_provenance(tmp_path, base):
    a = write(tmp_path / "a.json", {"hyperparameters": {"learning_rate": 1e-3, "batch_size": 16},
                                    "slurm": {"fields": {"partition": "gpu"}}})
    b = write(tmp_path / "b.json", '{"hyperparameters": {"learning_rate": 2e-4}, // later wins\n'
                                   ' "slurm": {"fields": {"account": "lab"}}}')
    cfg, prov, _ = cl.load([base, a, b])
    hp = cfg["hyperparameters"]
    assert hp["learning_rate"] == 2e-4 and hp["batch_size"] == 16 and hp["epochs"] == 3
    assert cfg["slurm"]["fields"] == {"partition": "gpu", "account": "lab"}
    assert cfg["model_types"]["ipa"] == {"model_prefix": "ipa", "tokenizer": "ipa"}
    assert prov["hyperparameters.learning_rate"] == b
    assert prov["hyperparameters.batch_size"] == a
    assert prov["hyperparameters.epochs"] == "config/default.json"
    assert prov["slurm.fields.partition"] == a and prov["slurm.fields.account"] == b
    assert prov["languages.polish"] == base and "languages" not in prov
    # the reverse order gives the other value: order matters, not file names
    assert cl.load_config([base, b, a])["hyperparameters"]["learning_rate"] == 1e-3


def test_slurm_options_cascade_null_removes_false_stays(tmp_path, base):
    a = write(tmp_path / "a.json", {"slurm": {"options": {"partition": "gpu", "exclusive": True,
                                                          "mem": "32G", "nodes": 1}}})
    b = write(tmp_path / "b.json", {"slurm": {"options": {"mem": None, "exclusive": False,
                                                          "constraint": "a100|h100"}}})
    cfg, prov, _ = cl.load([base, a, b])
    assert cfg["slurm"]["options"] == {"partition": "gpu", "exclusive": False, "nodes": 1,
                                       "constraint": "a100|h100"}
    assert prov["slurm.options.partition"] == a and prov["slurm.options.constraint"] == b


def test_lists_replace_and_null_removes_from_free_maps(tmp_path, base):
    a = write(tmp_path / "a.json", {"languages": ["polish", "czech"]})
    b = write(tmp_path / "b.json", {"languages": ["czech"]})
    cfg, prov, _ = cl.load([base, a, b])
    assert cfg["languages"] == {"czech": "cs1"}  # the list replaced, and became language -> dataset
    assert prov["languages.czech"] == b
    c = write(tmp_path / "c.json", {"languages": {"czech": "cs1"}})
    d = write(tmp_path / "d.json", {"languages": {"polish": None}, "model_types": {"ipa": None}})
    cfg = cl.load_config([base, c, d])
    assert cfg["languages"] == {"czech": "cs1"} and list(cfg["model_types"]) == ["normal"]


def test_default_json_and_config_args_found_whatever_the_cwd(tmp_path, monkeypatch, base):
    monkeypatch.chdir(tmp_path)
    cfg = cl.load_config(["base.json"])  # relative to the working directory
    assert cfg["hyperparameters"]["seed"] == 1337  # from PROJECT_ROOT/config/default.json
    cfg = cl.load_config(["config/finetune-rus-pol-sentiment.json"])  # falls back to PROJECT_ROOT
    assert cfg["study"] == "rus-pol-sentiment"


def test_paths_resolve_against_project_root(tmp_path, base, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCRATCH_T", "/scratch/me")
    p = write(tmp_path / "p.json", {"paths": {"checkpoint_prefix": "ckpts/x", "results_dir": "/abs/results",
                                              "hf_cache": "$SCRATCH_T/hf", "jobs_dir": "~/jobs"}})
    paths = cl.load_config([base, p])["paths"]
    assert paths["checkpoint_prefix"] == os.path.join(PROJECT_ROOT, "ckpts", "x")
    assert paths["results_dir"] == "/abs/results"
    assert paths["hf_cache"] == "/scratch/me/hf"
    assert paths["jobs_dir"] == os.path.join(os.path.expanduser("~"), "jobs")
    assert paths["temp_config_dir"] == os.path.join(PROJECT_ROOT, "jobs", "temp-configs")
    assert all(os.path.isabs(v) for v in paths.values())


PRINT_PROGRAM = """
import argparse, sys
from ipa_finetune.cli import exit_on_user_error
from ipa_finetune.config.loader import add_config_arguments
from ipa_finetune.config.study import study_from_args

@exit_on_user_error
def main():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    study = study_from_args(parser.parse_args())
    print("LOADED", study.hyperparameters["learning_rate"])

main()
"""


def run_program(*args, cwd):
    """A tiny real script using the config arguments, run in its own process."""
    script = write(cwd / "tiny.py", PRINT_PROGRAM)
    env = dict(os.environ, PYTHONPATH=PROJECT_ROOT)
    return subprocess.run([sys.executable, script, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_print_config_shows_each_values_file_and_exits_0(tmp_path, base):
    a = write(tmp_path / "a.json", {"hyperparameters": {"learning_rate": 0.002}})
    proc = run_program(base, a, "--print-config", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "LOADED" not in out
    assert f'"learning_rate": 0.002,  // {a}' in out
    assert '"epochs": 3,  // config/default.json' in out
    assert f'"polish": "pl1"  // {base}' in out
    # the printout is itself a valid config holding the resolved values
    assert json5.loads(out) == cl.load_config([base, a])
    proc = run_program(base, a, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "LOADED 0.002"


def test_script_error_is_one_line_exit_2_no_traceback(tmp_path, base):
    bad = write(tmp_path / "bad.json", {"hyperparameters": {"wamrup_ratio": 0.2}})
    proc = run_program(base, bad, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tiny.py: error: unknown key 'hyperparameters.wamrup_ratio'")
    assert "did you mean 'warmup_ratio'?" in lines[0]


# ----------------------------------------------------------------------------- bad configs

BAD_CONFIGS = [
    # (content of the last config file, substrings of the message)
    ('{"study": "x",\n  "task": }', ["bad.json:2:11: invalid JSON", 'Unexpected "}"']),
    ('{"study": "x", "study": "y"}', ["bad.json: invalid JSON", 'Duplicate key "study"']),
    ("[1, 2]", ["bad.json: a config file must hold one JSON object"]),
    ({"langauges": {}}, ["unknown key 'langauges' in", "bad.json", "did you mean 'languages'?"]),
    ({"hyperparameters": {"wamrup_ratio": 0.2}},
     ["unknown key 'hyperparameters.wamrup_ratio' in", "did you mean 'warmup_ratio'?"]),
    ({"paths": {"checkpoints": "x"}}, ["unknown key 'paths.checkpoints'", "did you mean 'checkpoint_prefix'?"]),
    ({"slurm": {"cpu": 2}}, ["unknown key 'slurm.cpu'", "did you mean 'cpus'?"]),
    ({"wandb": {"enabled": True, "projet": "p"}}, ["unknown key 'wandb.projet'", "did you mean 'project'?"]),
    ({"tokenizer": {"eos": "x"}}, ["unknown key 'tokenizer.eos'", "(valid keys here: eos_token)"]),
    ({"model_types": {"ipa": {"tokeniser": "x"}}},
     ["unknown key 'model_types.ipa.tokeniser'", "did you mean 'tokenizer'?"]),
    ({"model_types": {"big": {"model_prefix": "big"}}}, ["'model_types.big' is missing the key 'tokenizer'"]),
    ({"hyperparameters": {"learning_rate": "abc"}},
     ['bad.json: hyperparameters.learning_rate = "abc" is not valid; expected a number > 0']),
    ({"hyperparameters": {"batch_size": 0}}, ["hyperparameters.batch_size = 0", "an integer >= 1"]),
    ({"hyperparameters": {"batch_size": -8}}, ["hyperparameters.batch_size = -8", "an integer >= 1"]),
    ({"hyperparameters": {"batch_size": 8.5}}, ["hyperparameters.batch_size = 8.5", "an integer >= 1"]),
    ({"hyperparameters": {"epochs": True}}, ["hyperparameters.epochs = true", "an integer >= 1"]),
    ({"hyperparameters": {"warmup_ratio": 1.0}}, ["warmup_ratio = 1.0", "a number >= 0 and < 1"]),
    ({"hyperparameters": {"warmup_ratio": -0.1}}, ["warmup_ratio = -0.1", "a number >= 0 and < 1"]),
    ({"hyperparameters": {"metric_for_best_model": "auc"}},
     ['metric_for_best_model = "auc"', "one of accuracy, precision, recall, f1, loss"]),
    ({"hyperparameters": {"lr_scheduler_type": "cosine_annealing"}}, ['"cosine_annealing"', "one of linear"]),
    ({"hyperparameters": {"train_samples": 0}}, ["train_samples = 0", "an integer >= 1 or null"]),
    ({"hyperparameters": 5}, ["hyperparameters = 5 is not valid; expected an object with keys learning_rate"]),
    ({"slurm": {"timeout": "4 hours"}}, ['slurm.timeout = "4 hours"', "a Slurm time string"]),
    ({"slurm": {"gpus": -1}}, ["slurm.gpus = -1", "an integer >= 0"]),
    ({"slurm": {"fields": {"cpus": 3}}}, ["slurm.fields.cpus is not allowed", "set by slurm.cpus"]),
    ({"slurm": {"fields": {"mem": ["32G"]}}}, ['slurm.fields.mem = ["32G"]', "a string or a number"]),
    ({"slurm": {"options": {"time": "1:00:00"}}},
     ["slurm.options.time is not allowed: the jobs already set --time (use slurm.timeout or --timeout)"]),
    ({"slurm": {"options": {"output": "x.out"}}}, ["slurm.options.output is not allowed", "each job's log"]),
    ({"slurm": {"options": {"--partition": "gpu"}}},
     ['slurm.options key "--partition" is not an sbatch long option name', "without the leading '--'"]),
    ({"slurm": {"options": {"p": "gpu"}}}, ['slurm.options key "p" is not an sbatch long option']),
    ({"slurm": {"options": {"mem;rm": "1G"}}}, ['slurm.options key "mem;rm"']),
    ({"slurm": {"options": {"comment": "two words"}}},
     ['slurm.options.comment = "two words" is not valid', "without spaces, quotes or control characters"]),
    ({"slurm": {"options": {"account": "lab\n#SBATCH --qos=high"}}}, ["slurm.options.account = ", "not valid"]),
    ({"slurm": {"options": {"mem": ["32G"]}}}, ['slurm.options.mem = ["32G"] is not valid']),
    ({"slurm": {"options": {"qos": ""}}}, ['slurm.options.qos = "" is not valid']),
    ({"wandb": {"enabled": "yes"}}, ['wandb.enabled = "yes"', "true or false"]),
    ({"study": "my study"}, ['study = "my study"', "letters, digits"]),
    ({"paths": {"results_dir": "$NO_SUCH_VAR_T/x"}}, ["paths.results_dir", "NO_SUCH_VAR_T is not set"]),
    ({"task": None}, ["no task set", "tasks in", "sentiment, topic"]),
    ({"languages": {"polish": None}}, ["no languages set", "czech, german, polish, russian"]),
    ({"languages": {"klingon": "k1"}},
     ["bad.json: languages.klingon: language 'klingon' is not in the language database", "db.json"]),
    ({"languages": {"polsh": "pl1"}}, ["language 'polsh'", "did you mean 'polish'?"]),
    ({"languages": {"polish": "pl2"}},
     ["bad.json: languages.polish = \"pl2\": no such 'sentiment' dataset for polish", "did you mean 'pl1'?"]),
    ({"task": "topic"}, ["bad.json: task 'topic' is not defined for language 'polish' (", "base.json) in",
                         "tasks for polish: sentiment"]),
    ({"task": "sentimnet"}, ["did you mean 'sentiment'?"]),
    ({"languages": ["russian"]},
     ["languages lists 'russian'", "several 'sentiment' datasets for it (ru1, ru2); name one"]),
    ({"languages": ["polish", "polish"]}, ["languages lists polish twice"]),
    ({"model_types": {"normal": None, "ipa": None}}, ["model_types is empty"]),
    ({"model_types": {"big": {"model_prefix": "big", "tokenizer": "big"}}},
     ["polish.sentiment.pl1.train_features has no columns for model type(s) big", "covers ipa, normal"]),
]


@pytest.mark.parametrize("content,expected", BAD_CONFIGS)
def test_bad_config_gives_one_line_error(tmp_path, base, content, expected):
    msg = error_of(base, write(tmp_path / "bad.json", content))
    for part in expected:
        assert part in msg, msg


def test_missing_config_file(tmp_path, base):
    msg = error_of(base, str(tmp_path / "nope.json"))
    assert "config file" in msg and "nope.json' not found" in msg


# ----------------------------------------------------------------------------- bad database

def mutate(change):
    db = good_db()
    change(db["polish"]["sentiment"]["pl1"])
    return db


BAD_DBS = [
    (lambda e: e.pop("classes"), ["'polish.sentiment.pl1' is missing the key 'classes'"]),
    (lambda e: e.pop("task_type"), ["missing the key 'task_type'"]),
    (lambda e: e.update(clases=3), ["unknown key 'polish.sentiment.pl1.clases'", "did you mean 'classes'?"]),
    (lambda e: e.update(task_type="seq2seq"), ["pl1.classes is not allowed in a seq2seq entry"]),
    (lambda e: e.update(task_type="regression"), ['task_type = "regression"', "one of classification"]),
    (lambda e: e.update(classes=1), ["pl1.classes = 1", "an integer >= 2"]),
    (lambda e: e.update(splits=["train"]), ['splits = ["train"]', "2 or 3 different split names"]),
    (lambda e: e.update(splits=["a", "b", "c", "d"]), ["2 or 3 different split names"]),
    (lambda e: e.update(splits=["train", "train"]), ["2 or 3 different split names"]),
    (lambda e: e.update(train_features="text"), ['train_features = "text"', "a non-empty list of column names"]),
    (lambda e: e.update(train_features={"ipa": "ipa"}), ['train_features.ipa = "ipa"', "non-empty list"]),
    (lambda e: e.update(label_names=["a", "b"]), ["label_names", "expected 3 different strings"]),
    (lambda e: e.update(data_format="xml"), ['data_format = "xml"', "one of json, csv, parquet"]),
    (lambda e: e.update(dataset=""), ['dataset = ""', "a non-empty string"]),
]


@pytest.mark.parametrize("change,expected", BAD_DBS)
def test_bad_database_entry(tmp_path, base, change, expected):
    write(tmp_path / "db.json", mutate(change))
    msg = error_of(base)
    assert "db.json" in msg
    for part in expected:
        assert part in msg, msg


def test_bad_database_file(tmp_path, base):
    write(tmp_path / "db.json", '{\n  "polish": {\n    "sentiment": [}\n}')
    assert "db.json:3:" in error_of(base) and "invalid JSON" in error_of(base)
    os.remove(tmp_path / "db.json")
    assert "language database" in error_of(base) and "not found" in error_of(base)


# ----------------------------------------------------------------------------- datasets

def test_dataset_spec_and_features(tmp_path, base):
    (tmp_path / "ru2").mkdir()
    db = good_db()
    db["russian"]["sentiment"]["ru2"]["dataset"] = str(tmp_path / "ru2")
    write(tmp_path / "db.json", db)
    study = load_study([base, write(tmp_path / "l.json", {"languages": {"russian": "ru2"}})])
    pl = study.dataset("polish")
    assert (pl.name, pl.dataset, pl.subset, pl.is_local) == ("pl1", "org/pl", "all_text", False)
    assert (pl.train_split, pl.eval_split, pl.test_split) == ("train", "validation", "test")
    assert pl.features_for("ipa") == ["ipa", "ipa2"] and pl.features_for("normal") == ["text"]
    assert pl.label_names == ["neg", "neu", "pos"] and pl.data_format == "json" and pl.classes == 3
    with pytest.raises(ConfigError, match="no columns for model type 'big'"):
        pl.features_for("big")
    ru = study.dataset("russian")
    assert ru.is_local and ru.dataset == str(tmp_path / "ru2") and ru.test_split == "test"
    assert ru.features_for("anything") == ["text"] and ru.label_names is None


def test_dataset_classification():
    assert resolve_dataset("org/name") == "org/name"
    assert resolve_dataset("imdb") == "imdb"
    assert resolve_dataset("./data/x") == os.path.join(PROJECT_ROOT, "data", "x")
    assert resolve_dataset("demo/data/russian") == os.path.join(PROJECT_ROOT, "demo", "data", "russian")
    assert resolve_dataset("train.jsonl") == os.path.join(PROJECT_ROOT, "train.jsonl")
    assert resolve_dataset("config") == os.path.join(PROJECT_ROOT, "config")  # exists locally
    assert resolve_dataset("/abs/x") == "/abs/x"


def test_validate_languages_and_model_type(tmp_path, base):
    study = load_study([base, write(tmp_path / "l.json", {"languages": {"russian": "ru2"}})])
    study.check_languages(["polish"])  # a hub dataset: nothing to check locally
    study.model("ipa")
    with pytest.raises(ConfigError, match=r"language 'polsh' is not one of the config's languages; "
                                          r"did you mean 'polish'\? \(valid: polish, russian\)"):
        study.check_languages(["polsh"])
    with pytest.raises(ConfigError, match=r"russian.sentiment.ru2.dataset: local path '.*data/ru2' does not exist"):
        study.check_languages(["polish", "russian"])
    with pytest.raises(ConfigError, match=r"model type 'ipaa' .*did you mean 'ipa'\? \(valid: ipa, normal\)"):
        study.model("ipaa")


# ----------------------------------------------------------------------------- shipped files

def test_shipped_study_config_and_database():
    cfg, prov, _ = cl.load(["config/finetune-rus-pol-sentiment.json"])
    assert cfg["task"] == "sentiment" and cfg["languages"] == {"russian": "rusentiment", "polish": "polemo2"}
    assert cfg["slurm"]["options"] == {"partition": "gpu", "account": "ipa-gpt", "mem": "32G"}
    assert cfg["slurm"]["fields"] == {}  # the shipped templates take #SBATCH options, not fields
    assert prov["slurm.options.partition"] == "config/finetune-rus-pol-sentiment.json"
    study = load_study(["config/finetune-rus-pol-sentiment.json"])
    for lang in cfg["languages"]:
        spec = study.dataset(lang)
        assert spec.is_local and spec.label_names and len(spec.label_names) == spec.classes
        assert spec.features_for("normal") != spec.features_for("ipa")
    db = load_database(cfg["paths"]["language_database"])
    # cross-lingual runs share one classifier: the study's datasets share classes, in one id order
    ru, pl = db["russian"]["sentiment"]["rusentiment"], db["polish"]["sentiment"]["polemo2"]
    assert ru["classes"] == pl["classes"] == 3
    assert ru["label_names"] == ["negative", "neutral", "positive"]
    assert pl["label_names"] == ["__label__meta_minus_m", "__label__meta_zero", "__label__meta_plus_m"]
    assert (ru["ipa"], pl["ipa"]) == ({"epitran": "rus-Cyrl"}, {"epitran": "pol-Latn"})  # prepare-data.py
    assert db["polish"]["sentiment"]["polemo2-hub"]["subset"] == "all_text"


def test_shipped_demo_entries_match_the_contract():
    db = load_database(os.path.join(PROJECT_ROOT, "config", "language-database.json"))
    for lang, name, code in (("russian", "demo-rusentiment", "rus-Cyrl"), ("polish", "demo-polsentiment", "pol-Latn")):
        assert db[lang]["sentiment"][name] == {
            "dataset": f"demo/data/{lang}", "train_features": {"normal": ["text"], "ipa": ["ipa"]},
            "eval_feature": "label", "splits": ["train", "validation", "test"],
            "task_type": "classification", "classes": 3, "label_names": ["negative", "neutral", "positive"],
            "ipa": {"epitran": code}}


def test_default_json_explains_every_hyperparameter():
    lines = open(DEFAULT_CONFIG, encoding="utf-8").read().splitlines()
    defaults = json5.loads("\n".join(lines))["hyperparameters"]
    assert list(defaults) == ["learning_rate", "batch_size", "eval_batch_size", "epochs", "warmup_ratio",
                              "weight_decay", "lr_scheduler_type", "gradient_accumulation_steps",
                              "max_length", "seed", "train_samples", "metric_for_best_model", "dropout",
                              "selection"]
    for key in defaults:
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(f'"{key}"'))
        assert lines[i - 1].strip().startswith("//"), f"{key} has no comment giving its reason"


# ----------------------------------------------------------------------------- grid config

def test_shipped_grid_is_the_specs_27_point_grid(base):
    cfg = cl.load_config([base, ])
    grid = cl.load_grid_config("config/grid-search.json", cfg)
    params = grid["parameters"]
    assert params == {"learning_rate": [1e-3, 5e-4, 1e-4], "batch_size": [16, 32, 64],
                      "warmup_ratio": [0.0, 0.1, 0.2], "epochs": [3]}
    assert len(list(itertools.product(*params.values()))) == 27
    assert grid["languages"] == {"train": ["polish"], "eval": ["polish"]}
    assert grid["file"] == os.path.join(PROJECT_ROOT, "config", "grid-search.json")


def test_grid_languages_name_or_list(tmp_path, base):
    cfg = cl.load_config([base, write(tmp_path / "l.json", {"languages": ["czech", "polish"]})])
    g = write(tmp_path / "g.json", {"parameters": {"seed": [1, 2]}, "languages": {"train": "czech"}})
    grid = cl.load_grid_config(g, cfg)
    assert grid["languages"] == {"train": ["czech"], "eval": ["czech", "polish"]}
    g = write(tmp_path / "g.json", {"languages": {"train": ["polish", "czech"], "eval": "polish"}})
    assert cl.load_grid_config(g, cfg) == {"file": g, "parameters": {},
                                           "languages": {"train": ["czech", "polish"], "eval": ["polish"]}}


BAD_GRIDS = [
    ('{"parameters": {"learning_rate": [1e-3,]\n "x": 1}', ["g.json:2:2: invalid JSON"]),
    ({"paramaters": {}}, ["unknown key 'paramaters' in", "did you mean 'parameters'?"]),
    ({"parameters": {"learning_rat": [1e-3]}},
     ["unknown key 'parameters.learning_rat'", "did you mean 'learning_rate'?"]),
    ({"parameters": {"momentum": [0.9]}}, ["unknown key 'parameters.momentum'", "valid keys here: learning_rate"]),
    ({"parameters": {"learning_rate": [1e-3, "abc"]}}, ['parameters.learning_rate = "abc"', "a number > 0"]),
    ({"parameters": {"batch_size": []}}, ["parameters.batch_size is an empty list"]),
    ({"parameters": {"batch_size": [16, 16]}}, ["repeats a value"]),
    ({"parameters": {"epochs": 0}}, ["parameters.epochs = 0", "an integer >= 1"]),
    ({"parameters": [1]}, ["parameters = [1] is not valid; expected an object"]),
    ({"languages": {"train": "german"}}, ["languages.train names 'german'", "config's languages (polish)"]),
    ({"languages": {"eval": ["polsh"]}}, ["did you mean 'polish'?"]),
    ({"languages": {"eval": 3}}, ["languages.eval = 3", 'expected "all", a language name or a list']),
    ({"languages": {"test": "all"}}, ["unknown key 'languages.test'"]),
]


@pytest.mark.parametrize("content,expected", BAD_GRIDS)
def test_bad_grid_config(tmp_path, base, content, expected):
    cfg = cl.load_config([base])
    with pytest.raises(ConfigError) as info:
        cl.load_grid_config(write(tmp_path / "g.json", content), cfg)
    msg = str(info.value)
    assert "\n" not in msg and "g.json" in msg
    for part in expected:
        assert part in msg, msg


def test_missing_grid_file(base):
    with pytest.raises(ConfigError, match="config file 'no-grid.json' not found"):
        cl.load_grid_config("no-grid.json", cl.load_config([base]))


def test_loaded_config_is_independent_of_the_files():
    a = cl.load_config(["config/finetune-rus-pol-sentiment.json"])
    b = copy.deepcopy(a)
    a["hyperparameters"]["seed"] = 0
    a["model_types"]["ipa"]["tokenizer"] = "changed"
    assert cl.load_config(["config/finetune-rus-pol-sentiment.json"]) == b
