"""The selection protocol: which labels choose the epoch a run keeps (hyperparameters.selection).

- "source" (the default): the epoch with the best mean `metric_for_best_model` on the validation
  splits of the TRAIN languages. A cross-lingual run A -> B never sees B's labels until the final
  evaluation of the kept model: the zero-shot protocol of cross-lingual benchmarks such as XTREME
  (Hu et al., 2020), where model selection uses only the source language's development data. A
  joint run A+B -> A chooses on A's and B's validation splits (both are training languages).
- "target": the best epoch on the validation splits of the EVAL languages (this toolkit's behaviour
  before the key existed). For A -> B the epoch is tuned on B's labels: not zero-shot.
- "last": no choice, the final epoch is kept. Every epoch is still evaluated on the train
  languages' validation splits, for the history (never on a target language's labels).

In-language runs (train languages = eval languages) are the same under "source" and "target".
Pure functions: the pipeline asks which languages to evaluate each epoch, and what to record.
"""
from .schema import SELECTIONS

BEFORE = "target"  # what every run did before the key existed (results.json files without it)

# One line per protocol, for logs and the report.
DESCRIPTIONS = {
    "source": "epoch chosen on the training languages' validation splits (zero-shot for "
              "cross-lingual cells: the target language's labels are used only in the final evaluation)",
    "target": "epoch chosen on the evaluation languages' validation splits (cross-lingual cells "
              "are tuned on the target language's labels: not zero-shot)",
    "last": "no epoch selection: the final epoch is kept",
}
assert set(DESCRIPTIONS) == set(SELECTIONS)


def selection_of(hyperparameters):
    """A run's protocol. A loaded config always has the key (config/default.json sets "source");
    only results.json files written before the key existed lack it, and those runs chose on the
    eval languages: "target"."""
    return hyperparameters.get("selection", BEFORE)


def monitored_languages(selection, train_langs, eval_langs):
    """The languages whose eval split is evaluated after each epoch (sorted): the eval languages
    under "target", the train languages otherwise."""
    return sorted(eval_langs if selection == "target" else train_langs)


def keeps_best(selection):
    """Whether the Trainer reloads the best epoch at the end (else the final epoch stays)."""
    return selection != "last"


def selected_on(selection, split_names):
    """results.json's `selected_on`: {language: eval split name} of the splits that chose the kept
    epoch (split_names: the monitored languages' eval split names), or None under "last"."""
    return dict(sorted(split_names.items())) if keeps_best(selection) else None
