"""Heatmaps of the transfer matrix, sized for a paper column.

Uses matplotlib's object API with the Agg canvas (no pyplot): no display needed, no global figure
state, safe to call from tests and from a Slurm job. Every text of a figure lies inside it
(constrained layout, and labels wrapped to the space they have; tests check the rendered extents).
"""
import math
import os
import re
import textwrap

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..config.schema import higher_is_better
from ..files import write_atomic
from .tables import HEADLINE, lang_label
from .uncertainty import LEVEL, comparison_at

DPI = 200                 # crisp in print at a column's width
SEQUENTIAL = "viridis"    # perceptually uniform, colour-blind safe, greyscale-monotone
DIVERGING = "RdBu"        # red = worse than the baseline, blue = better; white = no difference
                          # (reversed for metrics where lower is better, such as loss)
MISSING = "#e0e0e0"
EM = 0.6                  # widest average character of DejaVu Sans, in font sizes (for wrapping)


def _text_colour(rgba):
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def new_figure(width, height):
    """A constrained-layout Figure on an Agg canvas (no pyplot, no display)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def wrap(text, inches, fontsize):
    """`text` broken into lines that fit `inches` at `fontsize` points (words are not split)."""
    return textwrap.fill(text, width=max(8, int(inches * 72 / (EM * fontsize))), break_long_words=False)


def heatmap_figure(values, row_labels, col_labels, *, title, cbar_label, texts=None,
                   diverging=False, vlim=None, reverse=False, marks=None, note=None, cell_width=0.95):
    """A Figure: rows x columns of floats (None/NaN = missing, shown grey with "–"), each cell
    annotated with `texts[i][j]` (default: the value). Diverging maps are centred at 0;
    reverse=True flips the colour map (for metrics where lower is better).
    vlim: (vmin, vmax) for sequential maps (shared between panels), |max| for diverging.
    marks[i][j] true: the cell gets a bold outline; note: a footnote under the map."""
    nrows, ncols = len(row_labels), len(col_labels)
    data = [[math.nan if v is None else float(v) for v in row] for row in values]
    norm, cmap = _colours([v for row in data for v in row if not math.isnan(v)], diverging, vlim, reverse)
    # cell_width in per column and ~0.5 in per row, plus room for labels and the colour bar.
    width, height = 2.2 + cell_width * ncols, 1.3 + 0.5 * nrows + (0.3 if note else 0.0)
    fig = new_figure(width, height)
    ax = fig.add_subplot()
    img = ax.imshow(data, cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(ncols), labels=col_labels, fontsize=9)
    ax.set_yticks(range(nrows), labels=row_labels, fontsize=9)
    ax.set_xlabel("evaluated on", fontsize=9)
    ax.set_ylabel("trained on", fontsize=9)
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    ax.tick_params(length=0)
    ax.set_title(wrap(title, width - 1.0, 10), fontsize=10)
    _annotate(ax, data, texts, marks, lambda v: cmap(norm(v)))
    cbar = fig.colorbar(img, ax=ax, shrink=0.9)
    # a vertical label longer than the colour bar would run off the canvas: wrap it to fit
    cbar.set_label(wrap(cbar_label, 0.75 * (height - 0.6), 9), fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    if note:
        fig.supxlabel(wrap(note, width - 0.3, 7), fontsize=7)
    return fig


def _colours(finite, diverging, vlim, reverse):
    """(norm, colour map) of heatmap_figure: centred at 0 when diverging, grey for missing cells."""
    if diverging:
        m = vlim if vlim is not None else max([abs(v) for v in finite] + [1e-3])
        norm, cmap = Normalize(-m, m), matplotlib.colormaps[DIVERGING]
    else:
        lo, hi = vlim if vlim is not None else (min(finite, default=0.0), max(finite, default=1.0))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.01, hi + 0.01
        norm, cmap = Normalize(lo, hi), matplotlib.colormaps[SEQUENTIAL]
    return norm, (cmap.reversed() if reverse else cmap).with_extremes(bad=MISSING)


def _annotate(ax, data, texts, marks, colour_of):
    """Each cell's text (default: the value; "–" when missing), outlined where marks says."""
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            if math.isnan(v):
                ax.text(j, i, "–", ha="center", va="center", fontsize=9, color="black")
                continue
            ink = _text_colour(colour_of(v))  # black on light cells, white on dark ones
            ax.text(j, i, texts[i][j] if texts else f"{v:.3f}", ha="center", va="center", fontsize=8,
                    color=ink)
            if marks and marks[i][j]:
                ax.add_patch(Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, linewidth=2.2,
                                       edgecolor=ink))


def save_png_atomic(fig, path):
    """savefig through files.write_atomic: no half-written PNG."""
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def safe_name(*parts):
    return "__".join(re.sub(r"[^A-Za-z0-9.+-]+", "_", str(p)) for p in parts)


def _cell_text(cell, digits):
    """mean, then `±std, n=k` (or `n=1`) on a second line."""
    if cell is None or cell.stat is None:
        return None, "–"
    s = cell.stat
    spread = f"n={s.n}" if s.std is None else f"±{s.std:.{digits}f}, n={s.n}"
    return s.mean, f"{s.mean:.{digits}f}\n{spread}"


def _difference_text(value, c, digits):
    """`+0.050 *` (the mark: significant after the correction) over `[+0.010, +0.090]`."""
    if value is None:
        return None
    if c is None or c.low is None:
        return f"{value:+.{digits}f}"
    value = c.difference
    mark = " *" if c.marked else ""
    return f"{value:+.{digits}f}{mark}\n[{c.low:+.{digits}f}, {c.high:+.{digits}f}]"


def _figure_name(table, what, prefix="transfer"):
    """<prefix>__<study>__<task>[__<selection>]__<what>__<metric>__<split>.png: the protocol appears
    for the tables of runs read under their own protocol (not the report's headline)."""
    tag = [table.selection] if table.kind != HEADLINE else []
    return safe_name(prefix, table.study, table.task, *tag, what, table.metric, table.split) + ".png"


def _what(table):
    what = f"{table.metric} ({table.split}"
    if table.kind != HEADLINE:
        what += f", selection {table.selection}"
    return what + ")"


def transfer_heatmaps(table, out_dir, digits=3):
    """Write one PNG per model type (one shared colour scale) and one per difference to the
    baseline, with the bootstrap intervals and marks. Returns [(title, file name)] in order."""
    rows = [lang_label(t) for t in table.train_sets]
    what = _what(table)
    mats = {mt: [[_cell_text(c, digits) for c in row] for row in table.matrix(mt)]
            for mt in table.model_types}
    finite = [v for m in mats.values() for row in m for v, _ in row if v is not None]
    vlim = (min(finite), max(finite)) if finite else None
    written = []
    for mt, m in mats.items():
        title = f"{table.task}: {mt}"
        fig = heatmap_figure([[v for v, _ in row] for row in m], rows, table.eval_langs,
                             title=title, cbar_label=f"{what}, mean over seeds",
                             texts=[[t for _, t in row] for row in m], vlim=vlim)
        name = _figure_name(table, mt)
        save_png_atomic(fig, os.path.join(out_dir, name))
        written.append((f"{table.study} · {title} ({what})", name))
    diffs = table.differences()
    dmax = max([abs(v) for d in diffs.values() for row in d for v in row if v is not None] + [1e-3])
    for mt, d in diffs.items():
        title = f"{table.task}: {mt} - {table.baseline}"
        cis = [[comparison_at(table, mt, i, j) for j in range(len(row))] for i, row in enumerate(d)]
        fig = heatmap_figure(d, rows, table.eval_langs, title=title, diverging=True, vlim=dmax,
                             reverse=not higher_is_better(table.metric),
                             cbar_label=f"difference in {what}", cell_width=1.35,
                             texts=[[_difference_text(v, ci, digits) for v, ci in zip(row, crow)]
                                    for row, crow in zip(d, cis)],
                             marks=[[ci is not None and ci.marked for ci in crow] for crow in cis],
                             note=f"[ ]: {LEVEL}% interval (seeds and test examples); outlined and *: "
                                  "significant after the correction"
                             if any(ci is not None and ci.low is not None for crow in cis for ci in crow)
                             else None)
        name = _figure_name(table, f"{mt}-minus-{table.baseline}")
        save_png_atomic(fig, os.path.join(out_dir, name))
        written.append((f"{table.study} · {title} ({what})", name))
    return written


def seed_figure(table, out_dir):
    """Every seed's score as a dot, per cell (train set -> eval language) and model type, the mean
    as a bar: how far apart the seeds are, next to the differences. Returns [(title, file name)]."""
    cells = [(train, lang) for train in table.train_sets for lang in table.eval_langs
             if any((mt, train, lang) in table.cells for mt in table.model_types)]
    if not cells:
        return []
    per_cell = max(1.0, 0.3 * len(table.model_types))  # inches: room for "polish+russian" at 8 pt
    fig_width = 1.6 + per_cell * len(cells)
    fig = new_figure(fig_width, 3.2)
    ax = fig.add_subplot()
    width = 0.8 / len(table.model_types)
    for k, mt in enumerate(table.model_types):
        colour = matplotlib.colormaps["tab10"](k)
        for x, (train, lang) in enumerate(cells):
            cell = table.cells.get((mt, train, lang))
            values = [v for v in (o.value(lang, table.split, table.metric) for o in cell.outcomes)
                      if v is not None] if cell else []
            centre = x - 0.4 + width * (k + 0.5)
            ax.scatter([centre] * len(values), values, s=12, color=colour, alpha=0.8,
                       label=mt if x == 0 else None, zorder=3)
            if values:
                ax.hlines(sum(values) / len(values), centre - width / 2.5, centre + width / 2.5, color=colour)
    ax.set_xticks(range(len(cells)), labels=[wrap(f"{lang_label(t)} → {e}", per_cell - 0.1, 8) for t, e in cells],
                  fontsize=8)
    ax.set_ylabel(wrap(_what(table), 2.6, 9), fontsize=9)
    ax.set_title(wrap(f"{table.task}: each seed's score (dots) and the mean (bar)", fig_width - 1.0, 10), fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    name = _figure_name(table, "seeds", prefix="seeds")
    save_png_atomic(fig, os.path.join(out_dir, name))
    return [(f"{table.study} · {table.task}: seeds per cell ({_what(table)})", name)]
