"""The selection protocols: which labels choose the epoch (and, in a grid, the setting) a number
comes from. One run records what every protocol needs (each epoch evaluated on the validation split
of every train and eval language, and the eval languages' test predictions at each epoch a protocol
can pick), so the report can show each protocol from the same runs; hyperparameters.selection only
says which epoch the run keeps as its best_model and final `metrics`, and is not part of the run id.

- "source" (the default, zero-shot): the epoch with the best mean `metric_for_best_model` on the
  validation splits of the TRAIN languages. For a cross-lingual cell A -> B, B's labels choose
  nothing: the zero-shot protocol of cross-lingual benchmarks such as XTREME (Hu et al., 2020),
  where model selection uses only the source language's development data. A joint run A+B -> A
  chooses on A's and B's validation splits (both are training languages).
- "target" (the upper bound): the best epoch on the validation splits of the EVAL languages. For
  A -> B the epoch is tuned on B's labels: not zero-shot, an oracle's choice (Keung et al., 2020).
- "last": no choice, the final epoch is kept.

In-language runs (train languages = eval languages) are the same under "source" and "target".
Pure functions, shared by training (which epoch to keep, what to record) and the report.
"""
import statistics

from ..errors import UserError
from .schema import SELECTIONS, higher_is_better

BEFORE = "target"        # what every run did before the key existed (results.json files without it)
UPPER_BOUND = "target"   # the protocol the report sets beside the zero-shot table

# One line per protocol, for logs and the report.
DESCRIPTIONS = {
    "source": "epoch chosen on the training languages' validation splits (zero-shot for "
              "cross-lingual cells: the target language's labels choose nothing)",
    "target": "epoch chosen on the evaluation languages' validation splits (cross-lingual cells "
              "are tuned on the target language's labels: an upper bound, not zero-shot)",
    "last": "no epoch selection: the final epoch is kept",
}
assert set(DESCRIPTIONS) == set(SELECTIONS)


def selection_of(hyperparameters):
    """A run's own protocol. A loaded config always has the key (config/default.json sets "source");
    only results.json files written before the key existed lack it, and those runs chose on the
    eval languages: "target"."""
    return hyperparameters.get("selection", BEFORE)


def check_protocol(name, what="--selection"):
    """`name` when it is a protocol; else UserError with the one line saying what is valid."""
    if name not in SELECTIONS:
        raise UserError(f"{what} {name!r} is not a selection protocol; choose one of: "
                         f"{', '.join(SELECTIONS)}")
    return name


def evaluated_languages(train_langs, eval_langs):
    """The languages whose validation split is evaluated after every epoch, whatever the protocol:
    each protocol's choice can then be made afterwards from the same run."""
    return sorted(set(train_langs) | set(eval_langs))


def monitored_languages(selection, train_langs, eval_langs):
    """The languages whose validation splits score an epoch (and a setting) under `selection`: the
    eval languages under "target", the train languages otherwise ("last" chooses no epoch, but a
    grid's setting is still chosen, on the train languages, never on the target's labels)."""
    return sorted(eval_langs if selection == "target" else train_langs)


def keeps_best(selection):
    """Whether the Trainer reloads the best epoch at the end (else the final epoch stays)."""
    return selection != "last"


def selected_on(selection, split_names):
    """results.json's `selected_on`: {language: eval split name} of the splits that chose the kept
    epoch (split_names: the monitored languages' eval split names), or None under "last"."""
    return dict(sorted(split_names.items())) if keeps_best(selection) else None


def epoch_score(epoch_metrics, langs, metric):
    """Mean `metric` over the languages' validation ("eval") splits in one epoch's record
    ({lang: {split: metrics}}); None when one of them lacks it."""
    values = [((epoch_metrics.get(lang) or {}).get("eval") or {}).get(metric) for lang in langs]
    if any(not isinstance(v, (int, float)) for v in values):
        return None
    return float(statistics.fmean(values))


def pick_epochs(epochs, train_langs, eval_langs, metric):
    """{protocol: {"epoch", "score", "languages"}} from per-epoch records ({epoch: {lang: {split:
    metrics}}}, epochs in training order): the first epoch with the best score (the Trainer's rule:
    a later epoch must be strictly better), or the last epoch under "last"; `score` is the epoch's
    mean `metric` over the protocol's languages (what a grid's settings are compared by)."""
    better = (lambda a, b: a > b) if higher_is_better(metric) else (lambda a, b: a < b)
    picks = {}
    for protocol in SELECTIONS:
        langs = monitored_languages(protocol, train_langs, eval_langs)
        scored = [(e, epoch_score(m, langs, metric)) for e, m in epochs.items()]
        scored = [(e, s) for e, s in scored if s is not None]
        if not scored:
            continue
        best = scored[-1] if protocol == "last" else scored[0]
        for e, s in scored[1:] if protocol != "last" else ():
            if better(s, best[1]):
                best = (e, s)
        picks[protocol] = {"epoch": best[0], "score": best[1], "languages": langs}
    return picks
