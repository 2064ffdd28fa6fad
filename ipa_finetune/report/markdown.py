"""Markdown rendering, pure: a collected report (`build.Report`) and the --status page to text.

    text = render_report(report)
    print(render_status(job_statuses(entries, Lookup()), manifests, problems))   # --status
"""
import json

from ..config.schema import higher_is_better
from ..config.selection import DESCRIPTIONS
from .status import STATES
from .tables import lang_label
from .uncertainty import LEVEL, interval_at


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


def fmt_interval(ci, digits=3):
    """`[-0.010, +0.051]`, or `–` when the cell has no interval."""
    if ci is None or ci.low is None:
        return "–"
    return f"[{ci.low:+.{digits}f}, {ci.high:+.{digits}f}]"


def difference_block(t, mt, digits=3):
    """`<type> - <baseline>` as one row per cell: both means, the difference, its interval, mark."""
    head = ["train → eval", mt, t.baseline, "difference", f"{LEVEL}% CI", "excludes 0"]
    rows, reasons = [], {}
    for i, (train, row) in enumerate(zip(t.train_sets, t.differences()[mt])):
        for j, (lang, value) in enumerate(zip(t.eval_langs, row)):
            if value is None:
                continue
            ci = interval_at(t, mt, i, j)
            if ci is not None and ci.reason:
                reasons.setdefault(ci.reason, []).append(f"{lang_label(train)} → {lang}")
            rows.append([f"{lang_label(train)} → {lang}", fmt_stat(t.cells[(mt, train, lang)].stat, digits),
                         fmt_stat(t.cells[(t.baseline, train, lang)].stat, digits),
                         fmt_num(value, digits, signed=True), fmt_interval(ci, digits),
                         "*" if ci is not None and ci.excludes_zero else ""])
    out = [f"### {mt} - {t.baseline}", "", table(head, rows, ["l", "r", "r", "r", "r", "l"]), ""]
    notes = [f"No interval for {', '.join(cells)}: {reason}." for reason, cells in reasons.items()]
    return out + notes + ([""] if notes else [])


def transfer_section(t, digits=3, resamples=None):
    """Blocks of one TransferTable: one per model type, then one per difference to the baseline."""
    head = ["train \\ eval"] + t.eval_langs
    align = ["l"] + ["r"] * len(t.eval_langs)
    several = f" (selection {t.selection})" if t.protocols > 1 else ""
    out = [f"## {t.study} · {t.task}: {t.metric} on the {t.split} split{several}", "",
           f"Selection `{t.selection}`: {DESCRIPTIONS[t.selection]}.", ""]
    picked = False
    for mt in t.model_types:
        rows = []
        for train, row in zip(t.train_sets, t.matrix(mt)):
            cells = []
            for c in row:
                mark = " †" if c is not None and c.n_settings > 1 else ""
                picked |= bool(mark)
                cells.append(("–" if c is None else fmt_stat(c.stat, digits)) + mark)
            rows.append([lang_label(train)] + cells)
        out += [f"### {mt}", "", table(head, rows, align), ""]
    for mt in t.differences():
        out += difference_block(t, mt, digits)
    notes = ["Cells: mean ± sample std (ddof=1) over seeds of one hyperparameter setting, n runs;"
             " – no run" + (" or no test split" if t.split == "test" else "") + "."]
    if picked:
        best = "highest" if higher_is_better(t.metric) else "lowest"
        notes.append(f"† best of several hyperparameter settings: the {best} mean {t.metric} on the "
                     "eval split of that language (never on test).")
    if t.differences():
        draws = f"{resamples} resamples" if resamples else "resamples"
        notes.append(f"Difference blocks: mean of the model type minus mean of `{t.baseline}`, same "
                     f"cell. {LEVEL}% CI: paired bootstrap ({draws}, fixed seed) over the {t.split} "
                     "examples, the same draw for both model types, and over each model type's seeds "
                     "when n > 1; * the interval excludes 0.")
    return "\n".join(out + [" ".join(notes), ""])


def grid_section(grid, metric, digits=3):
    grid = [g for g in grid if g.n_settings > 1]  # a single setting has nothing to choose between
    if not grid:
        return "\n".join(["## Grid search", "", "No grid in these results: every (model type, train "
                          "set, eval set) ran with a single hyperparameter setting.", ""])
    protocols = len({g.selection for g in grid}) > 1  # a column only when grids differ in it
    head = ["study", "task"] + (["selection"] if protocols else []) + [
        "model", "train", "eval", "settings", "runs", "best setting", f"eval {metric}", f"test {metric}",
        "grid min", "grid max", "grid std"]
    rows = [[g.study, g.task] + ([g.selection] if protocols else []) + [
             g.model_type, lang_label(g.train_langs), lang_label(g.eval_langs),
             g.n_settings, g.n_runs, fmt_hp(g.varying), fmt_stat(g.best_eval, digits),
             fmt_stat(g.best_test, digits), fmt_num(g.spread_min, digits),
             fmt_num(g.spread_max, digits), fmt_num(g.spread_std, digits)] for g in grid]
    best = "highest" if higher_is_better(metric) else "lowest"
    return "\n".join([
        "## Grid search", "",
        table(head, rows, ["l"] * (len(head) - 8) + ["r", "r", "l"] + ["r"] * 5), "",
        f"Per (selection protocol, model type, train set, eval set): each setting's score is the {metric} "
        "on the eval "
        "split averaged over the eval languages, then over seeds (mean ± std, n). The best setting "
        f"has the {best} score; its test value is shown (selection never looks at test). "
        "'best setting' lists only the hyperparameters that vary in the grid. grid min/max/std: "
        "spread of the settings' scores (sample std).", ""])


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
    out.append("Per training-set size (`train_samples`), the setting with the best mean eval-split "
               "metric on that language; mean ± std over seeds (n). Figures below.")
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


def render_report(report, digits=3):
    """The whole report as Markdown: header, transfer tables, grid summary, status, skipped files."""
    out = ["# Results", "",
           f"{len(report.runs)} runs from {', '.join(f'`{d}`' for d in report.results_dirs) or '–'}"
           f"; metric `{report.metric}`, split `{report.split}`.", ""]
    out += [f"- {n}" for n in report.notes] + ([""] if report.notes else [])
    if not report.runs:
        out += ["No results.json found.", ""]
    for t in report.tables:
        out.append(transfer_section(t, digits, report.resamples))
    if report.curves:
        out.append(curves_section(report.curves, digits))
    if report.grid:
        out.append(grid_section(report.grid, report.metric, digits))
    if report.figures:
        out += ["## Figures", ""] + [f"- [{title}]({name})" for title, name in report.figures] + [""]
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
