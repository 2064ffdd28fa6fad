"""LaTeX tables for the paper, ready for \\input: booktabs (\\usepackage{booktabs}), no float around
them, so the paper sets the caption and placement. Pure functions of the report's tables; their
numbers are those of differences.csv, rounded to the report's digits.

    latex/transfer__<study>__<task>__<model type>__<metric>__<split>.tex      mean ± std (n)
    latex/difference__<study>__<task>__<type>-minus-<baseline>__<metric>__<split>.tex
    latex/upper-bound__<study>__<task>__<model type>__<metric>__<split>.tex   target-selected, gap
"""
import os

from ..files import write_text_atomic
from .exports import sides
from .multiplicity import NAMES
from .plots import safe_name
from .tables import HEADLINE, lang_label
from .uncertainty import LEVEL, TEST_ONLY, comparison_at

FOLDER = "latex"
SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape(text):
    return "".join(SPECIAL.get(ch, ch) for ch in str(text))


def num(v, digits, signed=False):
    """`$+0.012$` (math mode keeps the minus sign a minus), `--` when missing."""
    if v is None:
        return "--"
    return f"${v:+.{digits}f}$" if signed else f"${v:.{digits}f}$"


def tabular(columns, head, rows, comment):
    """A booktabs tabular: columns like "lrr", head and rows as lists of cell strings."""
    lines = [f"% {comment}", f"\\begin{{tabular}}{{{columns}}}", r"\toprule", " & ".join(head) + r" \\",
             r"\midrule"] + [" & ".join(r) + r" \\" for r in rows] + [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def _stat(stat, digits):
    if stat is None:
        return "--"
    spread = "" if stat.std is None else f" \\pm {stat.std:.{digits}f}"
    return f"${stat.mean:.{digits}f}{spread}$ ({stat.n})"


def _what(t):
    protocol = f"selection {t.selection}" + ("" if t.kind == HEADLINE else f" ({t.kind})")
    return f"{t.study} / {t.task}: {t.metric} on the {t.split} split, {protocol}"


def transfer_tex(t, mt, digits=3):
    """The transfer matrix of one model type: rows train sets, columns eval languages, each cell
    mean ± sample std over seeds, (n)."""
    head = [r"train $\backslash$ eval"] + [escape(e) for e in t.eval_langs]
    rows = [[escape(lang_label(train))] + [_stat(c.stat if c else None, digits) for c in row]
            for train, row in zip(t.train_sets, t.matrix(mt))]
    return tabular("l" + "r" * len(t.eval_langs), head, rows,
                   f"{escape(mt)}: {_what(t)}; mean $\\pm$ std over seeds (n)")


def difference_tex(t, mt, correction, digits=3):
    """The difference block: per cell both means, the difference with its mark, the interval, the
    raw and the adjusted p-value."""
    adj = NAMES[correction] if correction != "none" else "raw"
    head = [r"train $\to$ eval", escape(mt), escape(t.baseline), r"$\Delta$", f"{LEVEL}\\% CI", "$p$",
            f"$p_{{\\mathrm{{{adj}}}}}$"]
    rows = []
    for i, train in enumerate(t.train_sets):
        for j, lang in enumerate(t.eval_langs):
            c = comparison_at(t, mt, i, j)
            if c is None:
                continue
            both = sides(t, mt, train, lang, c)
            mark = "$^{*}$" if c.marked else ("$^{\\dagger}$" if c.scope == TEST_ONLY else "")
            ci = "--" if c.low is None else f"$[{c.low:+.{digits}f}, {c.high:+.{digits}f}]$"
            diff = c.difference if c.difference is not None else both["mean"] - both["baseline_mean"]
            rows.append([f"{escape(lang_label(train))} $\\to$ {escape(lang)}", num(both["mean"], digits),
                         num(both["baseline_mean"], digits), num(diff, digits, signed=True) + mark, ci,
                         _p(c.p), _p(c.p_adjusted)])
    note = (f"{escape(mt)} - {escape(t.baseline)}, {_what(t)}; * adjusted p < 0.05 ({adj}); "
            "dagger: interval of test sampling only (< 2 seeds)")
    return tabular("lrrrrrr", head, rows, note)


def _p(p):
    if p is None:
        return "--"
    return "$<0.001$" if p < 0.001 else f"${p:.3f}$"


def upper_bound_tex(bound, mt, digits=3):
    """Per cell: the zero-shot number, the target-selected upper bound and the gap."""
    u = bound.upper
    head = [r"train $\to$ eval", escape(bound.zero_shot.selection), f"upper bound ({escape(u.selection)})", "gap"]
    rows = []
    for train in u.train_sets:
        for lang in u.eval_langs:
            up, zero, gap = bound.gap(mt, train, lang)
            if up is not None or zero is not None:
                rows.append([f"{escape(lang_label(train))} $\\to$ {escape(lang)}",
                             _stat(zero and zero.stat, digits), _stat(up and up.stat, digits),
                             num(gap, digits, signed=True)])
    return tabular("lrrr", head, rows, f"{escape(mt)}: {_what(u)}; gap = upper bound - zero-shot")


def write_latex(report, out_dir, digits=3):
    """Every table's .tex into out_dir/latex; returns the file names written (relative to out_dir)."""
    files = {}
    for t in report.tables:
        tag = [] if t.kind == HEADLINE else [t.selection]
        for mt in t.model_types:
            files[safe_name("transfer", t.study, t.task, *tag, mt, t.metric, t.split)] = transfer_tex(t, mt, digits)
        for mt in t.comparisons:
            name = safe_name("difference", t.study, t.task, *tag, f"{mt}-minus-{t.baseline}", t.metric, t.split)
            files[name] = difference_tex(t, mt, report.correction, digits)
    for b in report.upper_bounds:
        for mt in b.upper.model_types:
            files[safe_name("upper-bound", b.upper.study, b.upper.task, mt, b.upper.metric,
                            b.upper.split)] = upper_bound_tex(b, mt, digits)
    for name, text in files.items():
        write_text_atomic(os.path.join(out_dir, FOLDER, name + ".tex"), text)
    return [os.path.join(FOLDER, name + ".tex") for name in files]
