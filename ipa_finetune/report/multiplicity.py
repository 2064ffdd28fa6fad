"""Many comparisons at once: p-values corrected within families, q-values across the report, marks.

A *family* is one table (study, task, protocol, split), one model-type pair (X - baseline) and one
metric: the cells of one difference block, 6 in the transfer matrix. Within it, the marks follow
Holm's step-down adjustment (by default; --correction), which bounds the chance of at least one
false mark in the family at ALPHA under any dependence between the cells (A+B -> A and A -> A share
a test set). Across the whole report, Benjamini-Hochberg q-values (differences.csv `q`) are given for
exploratory reading: they bound the expected share of false discoveries among the cells with q < 0.05
(under independence or positive dependence), and no mark follows them.

Only cells that may carry a mark enter a family: with a p-value (2 or more seeds on each side) and
not chosen on the split shown.
"""
import dataclasses

import numpy as np
from scipy.stats import false_discovery_control

from ..config.schema import higher_is_better
from ..errors import UserError
from .uncertainty import ALPHA

CORRECTIONS = ("holm", "bonferroni", "none")
NAMES = {"holm": "Holm", "bonferroni": "Bonferroni", "none": "no correction"}


def check_correction(name):
    if name not in CORRECTIONS:
        raise UserError(f"--correction {name!r} is not a correction for multiple comparisons; choose "
                        f"one of: {', '.join(CORRECTIONS)}")
    return name


def holm(pvalues):
    """Holm's step-down adjusted p-values (same order as given): the i-th smallest p times (m - i + 1),
    made monotone, capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    steps = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(steps, 1.0)
    return out


def adjust(pvalues, correction):
    """Family-wise adjusted p-values by `correction` (CORRECTIONS)."""
    p = np.asarray(pvalues, dtype=float)
    if len(p) == 0:
        return p
    if correction == "holm":
        return holm(p)
    if correction == "bonferroni":
        return np.minimum(p * len(p), 1.0)
    return p


def families(tables):
    """[(table, model type, [(i, j)])] : the cells of every difference block."""
    out = []
    for t in tables:
        for mt, block in t.comparisons.items():
            out.append((t, mt, [(i, j) for i, row in enumerate(block) for j, c in enumerate(row)
                                if c is not None]))
    return out


def apply_corrections(tables, correction="holm", alpha=ALPHA):
    """Set every Comparison's p_adjusted and marked (within its family) and q (BH, all cells)."""
    check_correction(correction)
    for t, mt, cells in families(tables):
        block = t.comparisons[mt]
        tested = [(i, j) for i, j in cells if block[i][j].testable]
        adjusted = adjust([block[i][j].p for i, j in tested], correction)
        for (i, j), p_adj in zip(tested, adjusted):
            block[i][j] = dataclasses.replace(block[i][j], p_adjusted=float(p_adj),
                                              marked=bool(p_adj < alpha))
    everything = [(t.comparisons[mt], i, j) for t, mt, cells in families(tables) for i, j in cells
                  if t.comparisons[mt][i][j].p is not None]
    qs = false_discovery_control([b[i][j].p for b, i, j in everything], method="bh") if everything else []
    for (block, i, j), q in zip(everything, qs):
        block[i][j] = dataclasses.replace(block[i][j], q=float(q))
    return tables


def family_sentence(table, model_type, correction="holm"):
    """`ipa beats normal in 2 of 6 cells after Holm (normal beats ipa in 0)`, with the cells that
    could carry no mark counted apart."""
    block = table.comparisons.get(model_type) or []
    cells = [c for row in block for c in row if c is not None]
    better = 1 if higher_is_better(table.metric) else -1
    wins = sum(c.marked and better * c.difference > 0 for c in cells)
    losses = sum(c.marked and better * c.difference < 0 for c in cells)
    after = f"after {NAMES[correction]}" if correction != "none" else "without correction"
    text = (f"{model_type} beats {table.baseline} in {wins} of {len(cells)} cells {after} "
            f"({table.baseline} beats {model_type} in {losses}; α = {ALPHA} family-wise)")
    untested = [c for c in cells if not c.testable]
    if untested:
        few = sum(c.p is None and c.reason is None for c in untested)
        shown = sum(c.on_shown_split for c in untested)
        none = sum(c.reason is not None for c in untested)
        parts = [f"{few} with < 2 seeds on a side (test sampling only)" if few else "",
                 f"{shown} chosen on the shown split" if shown else "", f"{none} without predictions"
                 if none else ""]
        text += "; no mark possible in " + ", ".join(p for p in parts if p)
    return text + "."
