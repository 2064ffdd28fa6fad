"""Every figure the report writes fits its canvas: each drawn text (titles, axis and tick labels,
the colour-bar label, cell annotations, legends, footnotes) lies inside the figure, measured with
matplotlib's renderer extents."""
import dataclasses

import pytest
from matplotlib.text import Text

from ipa_finetune.report import plots
from ipa_finetune.report.curves import Curve, CurvePoint, curve_figure
from ipa_finetune.report.tables import Stat
from ipa_finetune.report.uncertainty import Comparison

TOLERANCE = 1.0  # pixels


def undrawn_tick_labels(fig):
    """Tick labels matplotlib keeps but does not draw: their tick lies outside the axis' view."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - eps <= tick.get_loc() <= hi + eps:
                    hidden.update({id(tick.label1), id(tick.label2)})
    return hidden


def texts_outside(fig):
    """[(text, its extent in pixels)] for every drawn text that is not inside the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    hidden = undrawn_tick_labels(fig)
    bad = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in hidden:
            continue
        box = text.get_window_extent(renderer)
        if (box.x0 < -TOLERANCE or box.y0 < -TOLERANCE or box.x1 > width + TOLERANCE
                or box.y1 > height + TOLERANCE):
            bad.append((text.get_text(), tuple(round(v) for v in box.extents)))
    return bad


def test_the_check_finds_a_clipped_label():
    """A test that cannot fail is a defect: a label placed past the right edge is found."""
    fig = plots.new_figure(3, 2)
    fig.add_subplot().set_title("fits")
    fig.text(0.95, 0.5, "runs off the right edge of the canvas")
    assert [t for t, _ in texts_outside(fig)] == ["runs off the right edge of the canvas"]


ROWS = ["polish+russian", "polish", "russian"]
COLS = ["polish", "russian"]
# the case: this colour-bar label was cut to "erence in accuracy (test, chosen on e"
LONG = "difference in accuracy (test, chosen on eval, selection target)"


@pytest.mark.parametrize("rows,cols", [(ROWS, COLS), (ROWS[:1], COLS[:1]),
                                       (ROWS + ["a+b+c+d+e"], COLS + ["gamma", "delta"])])
def test_transfer_heatmaps_fit(rows, cols):
    values = [[0.5 + 0.01 * (i + j) for j in range(len(cols))] for i in range(len(rows))]
    values[0][0] = None
    texts = [[None if v is None else f"{v:.3f}\n±0.012, n=3" for v in row] for row in values]
    fig = plots.heatmap_figure(values, rows, cols, title="sentiment: normal",
                               cbar_label="accuracy (test, chosen on eval), mean over seeds", texts=texts)
    assert texts_outside(fig) == []


@pytest.mark.parametrize("rows,cols", [(ROWS, COLS), (ROWS[:1], COLS[:1]),
                                       (ROWS + ["a+b+c+d+e"], COLS + ["gamma", "delta"])])
def test_difference_heatmaps_fit(rows, cols):
    values = [[0.02 * (i - j) for j in range(len(cols))] for i in range(len(rows))]
    c = Comparison(low=-0.031, high=0.052, marked=True)
    texts = [[plots._difference_text(v, dataclasses.replace(c, difference=v), 3) for v in row] for row in values]
    fig = plots.heatmap_figure(values, rows, cols, title="sentiment: random-init - normal", diverging=True,
                               cbar_label=LONG, texts=texts, cell_width=1.35,
                               marks=[[i == j for j in range(len(cols))] for i in range(len(rows))],
                               note="[ ]: 95% interval (seeds and test examples); outlined and *: adjusted p < 0.05 (Holm)")
    assert texts_outside(fig) == []


def test_learning_curve_fits():
    points = [CurvePoint(n, n, Stat(0.4 + 0.1 * k, 0.02, 3), {}) for k, n in enumerate((10, 100, 1000))]
    curve = Curve("s", "sentiment", "source", ("polish", "russian"), "russian", "accuracy", "test",
                  {"normal": points, "ipa": points[:2], "random-init": points[1:]})
    assert texts_outside(curve_figure(curve)) == []


class _Outcome:
    def __init__(self, v):
        self.v = v

    def value(self, lang, split, metric):
        return self.v


def test_seed_figure_fits_and_its_cell_labels_do_not_overlap(tmp_path, monkeypatch):
    """The six cells of a transfer matrix with the longest train set, 'polish+russian', side by side."""
    from types import SimpleNamespace
    from ipa_finetune.report.tables import HEADLINE
    trains = [("polish", "russian"), ("polish",), ("russian",)]
    cells = {(mt, t, e): SimpleNamespace(outcomes=[_Outcome(0.5), _Outcome(0.6)])
             for mt in ("normal", "ipa") for t in trains for e in COLS}
    table = SimpleNamespace(train_sets=trains, eval_langs=COLS, cells=cells, model_types=["normal", "ipa"],
                            split="test", metric="f1", task="sentiment", study="s", kind=HEADLINE, selection="source")
    figures = []
    monkeypatch.setattr(plots, "save_png_atomic", lambda fig, path: figures.append(fig))
    assert plots.seed_figure(table, str(tmp_path))
    (fig,) = figures
    assert texts_outside(fig) == []
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert len(boxes) == 6
    assert all(a.x1 <= b.x0 + TOLERANCE for a, b in zip(boxes, boxes[1:])), [b.extents for b in boxes]
