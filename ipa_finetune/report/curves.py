"""Learning curves: the metric against the number of training examples, one line per model type,
with error bars over seeds, wherever runs differ in `train_samples` (a grid over it, e.g.
"train_samples": [100, 300, 1000, null]). Low-resource settings are where a phonetic advantage is
most often claimed, so this is where to look for one.

A curve is one (study, task, train set, eval language), its runs read under the report's protocol.
Each point is one train_samples value of one model type: among the runs with that value, the setting
(the other hyperparameters) with the best mean selection score is shown, as a transfer table cell
does; its x is the number of examples the runs actually trained on (results.json's train_examples:
null means the whole train split).
"""
import json
import os
from collections import defaultdict
from dataclasses import dataclass

from ..runs import canonical
from .tables import choose_setting, lang_label, model_type_order, summarize


@dataclass(frozen=True)
class CurvePoint:
    train_samples: object   # the hyperparameter (None: the whole train split)
    examples: float         # training examples the runs used (mean over seeds)
    stat: object            # tables.Stat of the shown split, or None
    hyperparameters: dict   # the chosen setting, without seed


@dataclass
class Curve:
    study: str
    task: str
    selection: str
    train_langs: tuple
    eval_lang: str
    metric: str
    split: str
    lines: dict             # model type -> [CurvePoint] by examples


def _setting_without_size(run):
    ident = run.setting_identity()
    ident.pop("train_samples", None)
    return run.eval_langs, canonical(ident)


def _examples(runs):
    counts = [r.data.get("train_examples") for r in runs]
    counts = [c for c in counts if isinstance(c, (int, float))]
    return sum(counts) / len(counts) if counts else None


def _point(size, settings, lang, metric, split):
    """The best setting of one train_samples value, or None when its runs' sizes are unknown."""
    rs = choose_setting(settings)[2]
    examples = _examples(rs)
    if examples is None:
        return None
    hp = {k: v for k, v in rs[0].hyperparameters.items() if k != "seed"}
    return CurvePoint(size, examples, summarize(r.value(lang, split, metric) for r in rs), hp)


def learning_curves(runs, metric, split="test", protocol="source"):
    """A Curve for every (study, task, train set, eval language) where some model type ran with two
    or more train_samples values, the runs read under `protocol`."""
    groups = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for r in runs:
        o = r.outcome(protocol)
        if o is None:
            continue
        size = json.dumps(r.hyperparameters.get("train_samples"))
        for lang in r.eval_langs:
            key = (r.study, r.task, protocol, r.train_langs, lang)
            groups[key][r.model_type][size][_setting_without_size(r)].append(o)
    curves = []
    for (study, task, protocol, train, lang), by_type in sorted(groups.items()):
        if max(len(sizes) for sizes in by_type.values()) < 2:
            continue
        lines = {}
        for mt in sorted(by_type, key=model_type_order):
            points = [_point(json.loads(size), settings, lang, metric, split)
                      for size, settings in by_type[mt].items()]
            lines[mt] = sorted((p for p in points if p is not None), key=lambda p: p.examples)
        curves.append(Curve(study, task, protocol, train, lang, metric, split, lines))
    return curves


# ----------------------------------------------------------------------------- figures

def curve_figure(curve):
    """metric vs training examples (log x), one line per model type, error bars = std over seeds."""
    from .plots import new_figure

    fig = new_figure(4.6, 3.2)
    ax = fig.add_subplot()
    for mt, points in curve.lines.items():
        shown = [p for p in points if p.stat is not None]
        if not shown:
            continue
        ax.errorbar([p.examples for p in shown], [p.stat.mean for p in shown],
                    yerr=[0.0 if p.stat.std is None else p.stat.std for p in shown],
                    marker="o", markersize=4, capsize=3, linewidth=1.2, label=mt)
    ax.set_xscale("log")
    ax.set_xlabel("training examples (log scale)", fontsize=9)
    ax.set_ylabel(f"{curve.metric} ({curve.split})", fontsize=9)
    ax.set_title(f"{curve.task}: {lang_label(curve.train_langs)} → {curve.eval_lang}", fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, title="mean ± std over seeds", title_fontsize=7)
    return fig


def curve_name(curve):
    from .plots import safe_name

    parts = ["curve", curve.study, curve.task]
    return safe_name(*parts, lang_label(curve.train_langs), curve.eval_lang, curve.metric,
                     curve.split) + ".png"


def write_curve_figures(curves, out_dir):
    """One PNG per curve; returns [(title, file name)]."""
    from .plots import save_png_atomic

    written = []
    for curve in curves:
        name = curve_name(curve)
        save_png_atomic(curve_figure(curve), os.path.join(out_dir, name))
        title = (f"{curve.study} · {curve.task}: learning curve {lang_label(curve.train_langs)} → "
                 f"{curve.eval_lang} ({curve.metric}, {curve.split})")
        written.append((title, name))
    return written
