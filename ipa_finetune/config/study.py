"""The study a config describes, resolved once: every language's dataset, every model type's files.

    study = load_study(["config/demo.json"])        # or study_from_args(args) in a script
    study.dataset("russian")                        # DatasetSpec of the entry the config names
    study.model("ipa").checkpoint                   # checkpoint_prefix/<model_prefix>/ckpt.pt
    study.shared_classes(["russian", "polish"])     # one classifier for a run's languages

Training, the launch checks and the report read this object instead of going back to the config
files and the language database. `study.cfg` is the resolved config dict (what results.json records).
"""
import copy
import dataclasses
import os

from ..errors import CheckpointError, ConfigError
from .database import dataset_spec
from .loader import load, load_from_args
from .reading import display_path
from .schema import did_you_mean, listing

DEFAULT_EOS = "<|endoftext|>"  # GPT-2's end-of-document token


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model type: its nanoGPT checkpoint and its tokenizer."""
    name: str
    model_prefix: str
    checkpoint: str           # absolute: checkpoint_prefix/<model_prefix>/ckpt.pt (nanoGPT's layout)
    tokenizer: str            # the tokenizer's name under tokenizer_prefix
    tokenizer_prefix: str     # absolute
    eos_token: str            # joins several text columns and pads batches
    init: str = "pretrained"  # "random": the checkpoint's architecture (model_args), not its weights
    features_of: str | None = None  # read the train_features listed for this model type instead

    @property
    def pretrained(self):
        return self.init != "random"

    @property
    def features_key(self):
        """The key of a database entry's train_features (keyed by model type) this model reads."""
        return self.features_of or self.name

    def existing_checkpoint(self):
        """The checkpoint path; CheckpointError naming the keys that make it when it is missing."""
        if not os.path.isfile(self.checkpoint):
            raise CheckpointError(
                f"checkpoint of model type '{self.name}' not found: {self.checkpoint} (from "
                f"paths.checkpoint_prefix and model_types.{self.name}.model_prefix = '{self.model_prefix}')")
        return self.checkpoint

    def tokenizer_files(self):
        """-> (kind, paths): ("bpe", [vocab, merges]) for `<prefix>/<name>-vocab.json` +
        `-merges.txt`, or ("json", [tokenizer.json]) for `<prefix>/<name>/tokenizer.json`, the first
        that exists; ConfigError listing what was looked for when neither does."""
        vocab = os.path.join(self.tokenizer_prefix, f"{self.tokenizer}-vocab.json")
        merges = os.path.join(self.tokenizer_prefix, f"{self.tokenizer}-merges.txt")
        whole = os.path.join(self.tokenizer_prefix, self.tokenizer, "tokenizer.json")
        if os.path.isfile(vocab) and os.path.isfile(merges):
            return "bpe", [vocab, merges]
        if os.path.isfile(whole):
            return "json", [whole]
        half = f" ({vocab} exists but {merges} does not)" if os.path.isfile(vocab) else ""
        raise ConfigError(
            f"tokenizer '{self.tokenizer}' of model type '{self.name}' not found: expected {vocab} + "
            f"{merges}, or {whole}{half}; check model_types.{self.name}.tokenizer and "
            "paths.tokenizer_prefix")


@dataclasses.dataclass(frozen=True)
class Study:
    cfg: dict                 # the resolved config (read it, don't change it: see with_overrides)
    datasets: dict            # language -> DatasetSpec
    models: dict              # model type -> ModelSpec

    @property
    def name(self):
        return self.cfg["study"]

    @property
    def hyperparameters(self):
        return self.cfg["hyperparameters"]

    @property
    def task_type(self):
        """"classification" or "seq2seq": the languages' entries share it (config/database.py)."""
        return next(iter(self.datasets.values())).task_type

    @property
    def seq2seq(self):
        return self.task_type == "seq2seq"

    def dataset(self, language):
        if language not in self.datasets:
            raise ConfigError(f"language '{language}' is not one of the config's languages"
                              f"{did_you_mean(language, self.datasets)} (valid: {listing(self.datasets)})")
        return self.datasets[language]

    def model(self, model_type):
        if model_type not in self.models:
            raise ConfigError(f"model type '{model_type}' is not in the config's model_types"
                              f"{did_you_mean(model_type, self.models)} (valid: {listing(self.models)})")
        return self.models[model_type]

    def columns(self, language, model_type):
        """The text columns a model type reads in a language's dataset (its own train_features, or
        those of the model type named by its features_of)."""
        return self.dataset(language).features_for(self.model(model_type).features_key)

    def target(self, language, model_type):
        """The column a model type is scored against in a language's dataset: the label column, or
        (seq2seq) the target text column it writes."""
        return self.dataset(language).target_for(self.model(model_type).features_key)

    def check_languages(self, langs, check_data=True):
        """Raise ConfigError unless every language is one of the config's languages (and, with
        check_data, its local dataset path exists)."""
        langs = list(langs)
        if not langs:
            raise ConfigError(f"no languages given (the config's languages: {listing(self.datasets)})")
        for lang in langs:
            spec = self.dataset(lang)
            if check_data and spec.is_local and not os.path.exists(spec.dataset):
                raise ConfigError(f"{spec.where}.dataset: local path '{spec.dataset}' does not exist")

    def shared_classes(self, langs):
        """The number of classes the languages of one run share. They feed one classifier, so their
        datasets need the same `classes` (class id i should also mean the same class in each); raise
        ConfigError otherwise, naming each dataset's count."""
        specs = [self.dataset(lang) for lang in sorted(set(langs))]
        counts = {spec.classes for spec in specs}
        if len(counts) > 1:
            detail = ", ".join(f"{s.language}.{s.task}.{s.name}.classes = {s.classes}" for s in specs)
            raise ConfigError(
                f"{specs[0].database}: the languages of one run share one classifier, so their datasets "
                f"need the same classes, but {detail}; run these languages separately, or give their "
                "datasets one shared label set")
        return counts.pop()

    def with_overrides(self, hyperparameters=None, results_dir=None):
        """The same study with some hyperparameters replaced (a grid point, --max-steps) or another
        results folder (--output-dir); datasets and model types are shared, not resolved again."""
        cfg = copy.deepcopy(self.cfg)
        cfg["hyperparameters"].update(hyperparameters or {})
        if results_dir is not None:
            cfg["paths"]["results_dir"] = os.path.abspath(results_dir)
        return dataclasses.replace(self, cfg=cfg)


def _model_spec(cfg, name, entry):
    paths = cfg["paths"]
    return ModelSpec(
        name=name, model_prefix=entry["model_prefix"],
        checkpoint=os.path.join(paths["checkpoint_prefix"], entry["model_prefix"], "ckpt.pt"),
        tokenizer=entry["tokenizer"], tokenizer_prefix=paths["tokenizer_prefix"],
        eos_token=entry.get("eos_token") or cfg["tokenizer"]["eos_token"] or DEFAULT_EOS,
        init=entry.get("init", "pretrained"), features_of=entry.get("features_of"))


def resolve_study(cfg, entries):
    """A Study from a loaded config and its {language: db entry} (config/loader.py's load())."""
    db_name = display_path(cfg["paths"]["language_database"])
    datasets = {lang: dataset_spec(entry, lang, cfg["task"], cfg["languages"][lang], db_name)
                for lang, entry in entries.items()}
    models = {name: _model_spec(cfg, name, entry) for name, entry in cfg["model_types"].items()}
    return Study(cfg=cfg, datasets=datasets, models=models)


def load_study(paths):
    """The Study of default.json + config files `paths`; raises ConfigError."""
    cfg, _prov, entries = load(paths)
    return resolve_study(cfg, entries)


def study_from_args(args):
    """The Study of a script's config arguments (loader.add_config_arguments); --print-config prints
    the resolved config and exits 0."""
    return resolve_study(*load_from_args(args))
