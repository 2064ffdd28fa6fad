"""Markdown rendering, pure: a collected report (`build.Report`) and the --status page to text.

    text = render_report(report)
    print(render_status(job_statuses(entries, Lookup()), manifests, problems))   # --status
"""
import json
import statistics

from ..config.selection import DESCRIPTIONS
from .multiplicity import NAMES, family_sentence
from .status import STATES
from .tables import HEADLINE, OWN, UPPER, lang_label
from .uncertainty import ALPHA, LEVEL, POWER, TEST_ONLY, comparison_at


def table(headers, rows, align=None):
    """A GitHub-flavoured Markdown table. align: one of "l"/"r" per column (default: left)."""
    def esc(v):
        return str(v).replace("|", "\\|").replace("\n", " ")
    align = align or ["l"] * len(headers)
    lines = ["| " + " | ".join(esc(h) for h in headers) + " |",
             "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_stat(stat, digits=3):
    """`0.712 ± 0.013 (n=3)`; `0.712 (n=1)` (no std from one run); `–` when missing."""
    if stat is None:
        return "–"
    if stat.std is None:
        return f"{stat.mean:.{digits}f} (n={stat.n})"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f} (n={stat.n})"


def fmt_num(v, digits=3, signed=False):
    if v is None:
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def fmt_hp(hp):
    if not hp:
        return "(single setting)"
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in hp.items())


def fmt_interval(c, digits=3):
    """`[-0.010, +0.051]`, or `–` when the cell has no interval."""
    if c is None or c.low is None:
        return "–"
    return f"[{c.low:+.{digits}f}, {c.high:+.{digits}f}]"


def fmt_p(p):
    """`0.012`, `<0.001`, or `–` (no test)."""
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _mark(c):
    """`*` significant after the correction; `‡` chosen on the shown split; `(1 seed)` test sampling
    only: no mark possible."""
    if c is None or c.reason:
        return ""
    if c.on_shown_split:
        return "‡"
    if c.scope == TEST_ONLY:
        return "test sampling only"
    return "*" if c.marked else ""


def difference_block(t, mt, correction, digits=3):
    """`<type> - <baseline>` as one row per cell: both means, the difference, its interval, the raw,
    adjusted and report-wide p-values, the mark; then the computed summary sentences."""
    adj = NAMES[correction]
    head = ["train → eval", mt, t.baseline, "difference", f"{LEVEL}% CI", "p", f"p ({adj})", "q (BH)", "mark"]
    rows, reasons, mdes = [], {}, []
    for i, (train, row) in enumerate(zip(t.train_sets, t.differences()[mt])):
        for j, (lang, value) in enumerate(zip(t.eval_langs, row)):
            c = comparison_at(t, mt, i, j)
            if value is None or c is None:
                continue
            if c.reason:
                reasons.setdefault(c.reason, []).append(f"{lang_label(train)} → {lang}")
            mdes += [c.mde] if c.testable and c.mde is not None else []
            rows.append([f"{lang_label(train)} → {lang}", fmt_stat(t.cells[(mt, train, lang)].stat, digits),
                         fmt_stat(t.cells[(t.baseline, train, lang)].stat, digits),
                         fmt_num(c.difference if c.difference is not None else value, digits, signed=True),
                         fmt_interval(c, digits), fmt_p(c.p), fmt_p(c.p_adjusted), fmt_p(c.q), _mark(c)])
    out = [f"### {mt} - {t.baseline}", "", table(head, rows, ["l"] + ["r"] * 7 + ["l"]), "",
           "**" + family_sentence(t, mt, correction) + "**"]
    if mdes:
        out.append(f"Smallest difference these seeds and test sets detect with {POWER:.0%} power at α = "
                   f"{ALPHA} per comparison: {fmt_num(min(mdes), digits)} to {fmt_num(max(mdes), digits)} "
                   f"(median {fmt_num(statistics.median(mdes), digits)}) in {t.metric}.")
    notes = [f"No interval for {', '.join(cells)}: {reason}." for reason, cells in reasons.items()]
    return out + [""] + notes + ([""] if notes else [])


BASELINE_NAMES = {"copy_source": "copy the source",
                  "most_frequent_target": "the most frequent training target"}


def baseline_block(t, digits=3):
    """A seq2seq table's trivial baselines (report/seq2seq.py annotate): one matrix each, a value per
    cell, or one per model type where their sources or targets differ and so do the values."""
    out = []
    for kind, rows in t.baselines.items():
        cells = []
        for train, row in zip(t.train_sets, rows):
            texts = []
            for values in row:
                distinct = sorted({round(v, 9) for v in (values or {}).values()})
                texts.append("–" if not values else fmt_num(distinct[0], digits) if len(distinct) == 1
                             else ", ".join(f"{mt} {fmt_num(v, digits)}" for mt, v in values.items()))
            cells.append([lang_label(train)] + texts)
        out += [f"### baseline: {BASELINE_NAMES[kind]}", "",
                table(["train \\ eval"] + t.eval_langs, cells, ["l"] + ["r"] * len(t.eval_langs)), ""]
    return out


def _matrix_rows(t, mt, digits):
    """(rows, any † cell, any ‡ cell) of one model type's transfer matrix."""
    rows, picked, shown = [], False, False
    for train, row in zip(t.train_sets, t.matrix(mt)):
        cells = []
        for c in row:
            mark = (" †" if c is not None and c.n_settings > 1 else "") + (" ‡" if c and c.on_shown_split else "")
            picked |= "†" in mark
            shown |= "‡" in mark
            cells.append(("–" if c is None else fmt_stat(c.stat, digits)) + mark)
        rows.append([lang_label(train)] + cells)
    return rows, picked, shown


def table_title(t):
    kind = {HEADLINE: "", UPPER: " (upper bound)", OWN: f" (runs that recorded only selection {t.selection})"}
    return f"## {t.study} · {t.task}: {t.metric} on the {t.split} split, selection {t.selection}{kind[t.kind]}"


def transfer_section(t, correction="holm", digits=3, resamples=None):
    """Blocks of one TransferTable: one per model type, then one per difference to the baseline."""
    head = ["train \\ eval"] + t.eval_langs
    out = [table_title(t), "", f"Selection `{t.selection}`: {DESCRIPTIONS[t.selection]}.", ""]
    picked = shown = False
    for mt in t.model_types:
        rows, p, s = _matrix_rows(t, mt, digits)
        picked, shown = picked or p, shown or s
        out += [f"### {mt}", "", table(head, rows, ["l"] + ["r"] * len(t.eval_langs)), ""]
    out += baseline_block(t, digits) + t.notes + ([""] if t.notes else [])
    for mt in t.comparisons:
        out += difference_block(t, mt, correction, digits)
    notes = ["Cells: mean ± sample std (ddof=1) over seeds of one hyperparameter setting, n runs;"
             " – no run" + (" or no test split" if t.split == "test" else "") + "."]
    if picked:
        notes.append("† best of several hyperparameter settings by the runs' own selection scores "
                     f"(selection `{t.selection}`: never the evaluated language's labels in a cross-lingual cell).")
    if shown:
        notes.append(f"‡ the {t.split} split shown chose this cell's epoch or setting: optimistic, and no mark.")
    if t.comparisons:
        notes.append(f"Differences (docs/statistics.md): {LEVEL}% interval d ± t·SE with SE from a "
                     f"paired bootstrap of the {t.split} examples ({resamples or ''} resamples, seeds "
                     "fixed) plus the seeds' variance (Welch-Satterthwaite df, the seed term counted "
                     "pessimistically); p two-sided from the same t; "
                     f"* p ({NAMES[correction]}) < {ALPHA} within the block; q: Benjamini-Hochberg over "
                     "the whole report (exploratory). 'test sampling only': < 2 seeds on a side, no mark.")
    return "\n".join(out + [" ".join(notes), ""])


def upper_bound_section(bound, digits=3):
    """The zero-shot numbers beside the target-selected upper bound from the same runs, and the gap."""
    u = bound.upper
    out = [f"## {u.study} · {u.task}: upper bound (selection `{u.selection}`) beside the zero-shot "
           f"table (selection `{bound.zero_shot.selection}`), {u.metric} on the {u.split} split", "",
           f"The same runs, each read at the epoch (and each grid at the setting) the target language's "
           f"validation labels choose: {DESCRIPTIONS[u.selection]}. Gap = upper bound − zero-shot: what "
           "choosing on target labels would add (Keung et al., 2020).", ""]
    head = ["train → eval", f"zero-shot ({bound.zero_shot.selection})", f"upper bound ({u.selection})", "gap"]
    for mt in u.model_types:
        rows = []
        for train in u.train_sets:
            for lang in u.eval_langs:
                up, zero, gap = bound.gap(mt, train, lang)
                if up is not None or zero is not None:
                    rows.append([f"{lang_label(train)} → {lang}", fmt_stat(zero and zero.stat, digits),
                                 fmt_stat(up and up.stat, digits), fmt_num(gap, digits, signed=True)])
        out += [f"### {mt}", "", table(head, rows, ["l", "r", "r", "r"]), ""]
    return "\n".join(out)


def grid_section(grid, metric, split, digits=3):
    grid = [g for g in grid if g.n_settings > 1]  # a single setting has nothing to choose between
    if not grid:
        return "\n".join(["## Grid search", "", "No grid in these results: every (model type, train "
                          "set, eval set) ran with a single hyperparameter setting.", ""])
    head = ["study", "task", "model", "train", "eval", "settings", "runs", "best setting", "selection score",
            f"{split} {metric}", "grid min", "grid max", "grid std"]
    rows = [[g.study, g.task, g.model_type, lang_label(g.train_langs), lang_label(g.eval_langs),
             g.n_settings, g.n_runs, fmt_hp(g.varying), fmt_stat(g.best_score, digits),
             fmt_stat(g.best_shown, digits), fmt_num(g.spread_min, digits),
             fmt_num(g.spread_max, digits), fmt_num(g.spread_std, digits)] for g in grid]
    return "\n".join([
        "## Grid search", "",
        table(head, rows, ["l"] * 5 + ["r", "r", "l"] + ["r"] * 5), "",
        f"Per (model type, train set, eval set), runs read under selection `{grid[0].selection}`: a "
        "setting's score is its runs' selection score (metric_for_best_model, "
        f"{grid[0].selection_metric} here, on the validation splits the protocol chooses on) averaged "
        f"over seeds (mean ± std, n); the best setting has the best score, and its {split} {metric} "
        "(mean over the eval languages) is shown. 'best setting' lists only the hyperparameters that vary "
        "in the grid. grid min/max/std: spread of the settings' scores (sample std).", ""])


def curves_section(curves, digits=3):
    """Learning curves as tables: one row per training-set size, one column per model type."""
    out = ["## Learning curves", ""]
    for c in curves:
        sizes = sorted({round(p.examples) for points in c.lines.values() for p in points})
        cols = {mt: {round(p.examples): p.stat for p in points} for mt, points in c.lines.items()}
        rows = [[f"{n:,}"] + [fmt_stat(cols[mt].get(n), digits) for mt in c.lines] for n in sizes]
        out += [f"### {c.study} · {c.task}: {lang_label(c.train_langs)} → {c.eval_lang} "
                f"({c.metric}, {c.split}, selection {c.selection})", "",
                table(["train examples"] + list(c.lines), rows, ["r"] * (1 + len(c.lines))), ""]
    out.append("Per training-set size (`train_samples`), the setting with the best mean selection score "
               "(as in the transfer tables); mean ± std over seeds (n). Figures below.")
    return "\n".join(out + [""])


def job_counts(jobs, n_manifests):
    """`N jobs from M manifest(s): a finished, b running, ...` (`N runs in J jobs ...` when jobs
    hold several runs; one JobStatus per run): the status line of the report and of --status."""
    counts = ", ".join(f"{sum(j.state == s for j in jobs)} {s}" for s in STATES)
    n_jobs = len({j.log if j.job_id == "local" else j.job_id for j in jobs})
    what = f"{len(jobs)} jobs" if n_jobs == len(jobs) else \
        f"{len(jobs)} runs in {n_jobs} job{'s' if n_jobs != 1 else ''}"
    return f"{what} from {n_manifests} manifest(s): {counts}."


def log_tails(jobs, problems=()):
    """The end of each job's log that has one (failed and unknown jobs), then the manifest lines that
    were skipped."""
    out = []
    for j in jobs:
        if j.log_tail:
            out += [f"Log of {j.job_name or j.run_id} ({j.job_id}, {j.state}): `{j.log}`", "", "```",
                    *j.log_tail, "```", ""]
    return out + [f"- skipped manifest line {p.path}: {p.reason}" for p in problems]


def status_section(report):
    jobs = report.jobs
    out = ["## Job status", "", job_counts(jobs, len(report.manifests)), ""]
    todo = [j for j in jobs if j.state != "finished"]
    if todo:
        out += [table(["state", "job id", "job name", "run id", "detail", "script"],
                      [[j.state, j.job_id, j.job_name, j.run_id, j.detail, j.script] for j in todo]),
                ""]
    return "\n".join(out + log_tails(todo, report.manifest_problems) + [""])


def render_status(jobs, manifests, problems=()):
    """collect-results.py --status: a count per state, one row per job (array tasks one by one) with
    Slurm's state and the elapsed time, then the failed jobs' log tails."""
    out = ["# Job status", "", job_counts(jobs, len(manifests)), ""]
    if jobs:
        rows = [[j.state, j.slurm_state or "–", j.elapsed or "–", j.job_id, j.job_name, j.run_id,
                 j.detail] for j in jobs]
        out += [table(["state", "Slurm state", "elapsed", "job id", "job name", "run id", "detail"],
                      rows, ["l", "l", "r", "l", "l", "l", "l"]), ""]
    out += log_tails(jobs, problems)
    return "\n".join(out).rstrip() + "\n"


def provenance_section(report):
    """Per shown input set: checkpoint and tokenizer short hashes, the columns each language read."""
    rows = [[study, task, mt, f"`{ckpt}`", f"{tok} `{tok_hash}`", cols, n]
            for study, task, mt, ckpt, tok, tok_hash, cols, n in report.provenance]
    return "\n".join([
        "## Provenance", "",
        table(["study", "task", "model", "checkpoint sha256", "tokenizer", "columns read", "runs"], rows,
              ["l"] * 6 + ["r"]), "",
        "The inputs behind the numbers above (results.json `inputs`): hashes are the first 12 hex "
        "digits of sha256 of the checkpoint's bytes and of the tokenizer's files.", ""])


def superseded_section(report):
    """Finished runs left out of the tables because their model type has newer inputs."""
    head = ["model", "train", "eval", "run id", "finished", "differs from the newest inputs"]
    rows = [[s.run.model_type, lang_label(s.run.train_langs), lang_label(s.run.eval_langs),
             s.run.run_id, s.run.data.get("finished_at") or "–", "; ".join(s.differs)]
            for s in sorted(report.view.superseded, key=lambda s: (s.run.model_type, s.run.run_id))]
    return "\n".join([
        "## Superseded runs", "",
        f"{len(rows)} finished run(s) read older inputs than the newest runs of their model type and "
        "are not in the tables (`--all-inputs` shows each input set as its own block; runs of "
        "different inputs are never averaged).", "", table(head, rows), ""])


def headline(report):
    """The report's first sentences: which split the numbers come from, and which split chose the
    epochs and settings behind them."""
    chose = (f"Epochs were chosen under selection `{report.selection}` ({DESCRIPTIONS[report.selection]}) "
             "and, where a cell has several hyperparameter settings, the setting too, by each run's "
             "selection score (`metric_for_best_model` on the same validation splits).")
    if report.split == "test":
        return (f"**Numbers from the test split.** {chose} No number shown was chosen on the split it "
                "comes from.")
    why = (" (no run has a test split)" if report.split_chosen else "")
    return (f"**Numbers from the eval split**{why}: the validation split, which also chose epochs. {chose} "
            "Cells whose epoch or setting this split chose are marked ‡: optimistic, and never marked "
            "significant. The test split is the headline wherever the database gives one.")


def render_report(report, digits=3):
    """The whole report as Markdown: header, transfer tables with their upper bounds, grid summary,
    status, skipped files."""
    out = ["# Results", "",
           f"{len(report.runs)} runs from {', '.join(f'`{d}`' for d in report.results_dirs) or '–'}"
           f"; metric `{report.metric}`, split `{report.split}`, selection `{report.selection}`, "
           f"correction `{report.correction}`.", ""]
    if report.runs:
        out += [headline(report), ""]
    out += [f"- {n}" for n in report.notes] + ([""] if report.notes else [])
    if not report.runs:
        out += ["No results.json found.", ""]
    bounds = {(b.upper.study, b.upper.task): b for b in report.upper_bounds}
    for t in report.tables:
        out.append(transfer_section(t, report.correction, digits, report.resamples))
        if t.kind == HEADLINE and (t.study, t.task) in bounds:
            out.append(upper_bound_section(bounds[(t.study, t.task)], digits))
    if report.curves:
        out.append(curves_section(report.curves, digits))
    if report.grid:
        out.append(grid_section(report.grid, report.metric, report.split, digits))
    if report.figures:
        out += ["## Figures", ""] + [f"- [{title}]({name})" for title, name in report.figures] + [""]
    if report.latex:
        out += ["LaTeX tables (booktabs, for `\\input`): " + ", ".join(f"`{f}`" for f in report.latex), ""]
    if report.provenance:
        out.append(provenance_section(report))
    if report.view is not None and report.view.superseded:
        out.append(superseded_section(report))
    if report.jobs is not None:
        out.append(status_section(report))
    if report.missing:
        out += [f"## Runs without `{report.metric}` on the eval split", ""]
        out += [f"- `{path}`: {lang}" for path, lang in report.missing] + [""]
    if report.bad:
        out += ["## Skipped files", ""]
        out += [f"- `{b.path}`: {b.reason}" for b in report.bad] + [""]
    return "\n".join(out).rstrip() + "\n"
