"""Heatmaps of the transfer matrix, sized for a paper column.

Uses matplotlib's object API with the Agg canvas (no pyplot): no display needed, no global figure
state, safe to call from tests and from a Slurm job.
"""
import math
import os
import re

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ..config.schema import higher_is_better
from ..files import write_atomic
from .tables import lang_label

DPI = 200                 # crisp in print at a column's width
SEQUENTIAL = "viridis"    # perceptually uniform, colour-blind safe, greyscale-monotone
DIVERGING = "RdBu"        # red = worse than normal, blue = better; white = no difference
                          # (reversed for metrics where lower is better, such as loss)
MISSING = "#e0e0e0"


def _text_colour(rgba):
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def heatmap_figure(values, row_labels, col_labels, *, title, cbar_label, texts=None,
                   diverging=False, vlim=None, reverse=False):
    """A Figure: rows x columns of floats (None/NaN = missing, shown grey with "–"), each cell
    annotated with `texts[i][j]` (default: the value). Diverging maps are centred at 0;
    reverse=True flips the colour map (for metrics where lower is better).
    vlim: (vmin, vmax) for sequential maps (shared between panels), |max| for diverging."""
    nrows, ncols = len(row_labels), len(col_labels)
    data = [[math.nan if v is None else float(v) for v in row] for row in values]
    finite = [v for row in data for v in row if not math.isnan(v)]
    if diverging:
        m = vlim if vlim is not None else max([abs(v) for v in finite] + [1e-3])
        norm, cmap = Normalize(-m, m), matplotlib.colormaps[DIVERGING]
    else:
        lo, hi = vlim if vlim is not None else (min(finite, default=0.0), max(finite, default=1.0))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.01, hi + 0.01
        norm, cmap = Normalize(lo, hi), matplotlib.colormaps[SEQUENTIAL]
    cmap = (cmap.reversed() if reverse else cmap).with_extremes(bad=MISSING)
    # ~0.95 in per column and ~0.5 in per row, plus room for labels and the colour bar.
    fig = Figure(figsize=(2.2 + 0.95 * ncols, 1.3 + 0.5 * nrows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    img = ax.imshow(data, cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(ncols), labels=col_labels, fontsize=9)
    ax.set_yticks(range(nrows), labels=row_labels, fontsize=9)
    ax.set_xlabel("evaluated on", fontsize=9)
    ax.set_ylabel("trained on", fontsize=9)
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    ax.tick_params(length=0)
    ax.set_title(title, fontsize=10)
    for i in range(nrows):
        for j in range(ncols):
            v = data[i][j]
            if math.isnan(v):
                ax.text(j, i, "–", ha="center", va="center", fontsize=9, color="black")
                continue
            label = texts[i][j] if texts else f"{v:.3f}"
            ax.text(j, i, label, ha="center", va="center", fontsize=8,
                    color=_text_colour(cmap(norm(v))))
    cbar = fig.colorbar(img, ax=ax, shrink=0.9)
    cbar.set_label(cbar_label, fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    return fig


def save_png_atomic(fig, path):
    """savefig through files.write_atomic: no half-written PNG."""
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def safe_name(*parts):
    return "__".join(re.sub(r"[^A-Za-z0-9.+-]+", "_", str(p)) for p in parts)


def _cell_text(cell, digits):
    if cell is None or cell.stat is None:
        return None, "–"
    s = cell.stat
    text = f"{s.mean:.{digits}f}" + ("" if s.std is None else f"\n±{s.std:.{digits}f}")
    return s.mean, text


def transfer_heatmaps(table, out_dir, digits=3):
    """Write one PNG per model type (one shared colour scale) and one per difference to `normal`.
    Returns [(title, file name)] in the order written."""
    rows = [lang_label(t) for t in table.train_sets]
    what = f"{table.metric} ({table.split}" + (", chosen on eval)" if table.split == "test" else ")")
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
        name = safe_name("transfer", table.study, table.task, mt, table.metric, table.split) + ".png"
        save_png_atomic(fig, os.path.join(out_dir, name))
        written.append((f"{table.study} · {title} ({what})", name))
    diffs = table.differences()
    dmax = max([abs(v) for d in diffs.values() for row in d for v in row if v is not None] + [1e-3])
    for mt, d in diffs.items():
        title = f"{table.task}: {mt} - normal"
        fig = heatmap_figure(d, rows, table.eval_langs, title=title, diverging=True, vlim=dmax,
                             reverse=not higher_is_better(table.metric),
                             cbar_label=f"difference in {what}",
                             texts=[[None if v is None else f"{v:+.{digits}f}" for v in row]
                                    for row in d])
        name = safe_name("transfer", table.study, table.task, f"{mt}-minus-normal", table.metric,
                         table.split) + ".png"
        save_png_atomic(fig, os.path.join(out_dir, name))
        written.append((f"{table.study} · {title} ({what})", name))
    return written
