"""The whole report: read the runs and the manifests, compute every table (the headline protocol's,
its upper bound, the comparisons of the difference blocks with their corrections, the learning
curves), write report.md, runs.csv, differences.csv, upper_bound.csv, the LaTeX tables and the
figures (atomically) into one folder.

    report = build_report(["results/demo"], metric="f1", manifests=["jobs/generated/demo/manifest.jsonl"])
    text = write_report(report, "results/demo/report")
"""
import os
from dataclasses import dataclass, field

from ..config.schema import SELECTIONS
from ..config.selection import UPPER_BOUND, check_protocol
from ..errors import UserError
from ..files import write_text_atomic
from ..manifest import latest_per_run, read_manifest
from ..runs import REPORT_FILE, REPORT_FOLDER, report_dir
from ..slurm import job_state
from .collect import SPLITS, BadFile, available_metrics, load_results, missing_values
from .lineage import provenance_rows, select_inputs
from .seq2seq import annotate
from .status import job_statuses
from .exports import difference_rows, upper_bound_rows
from .multiplicity import apply_corrections, check_correction
from .tables import BASELINE_MODEL_TYPE, OWN, csv_text, grid_summary, run_rows, transfer_tables, upper_bounds
from .uncertainty import RESAMPLES, difference_comparisons


@dataclass
class Report:
    metric: str
    split: str
    results_dirs: list
    runs: list                      # every run read (runs.csv); the tables use view.runs
    bad: list                       # BadFile: skipped results.json files
    tables: list                    # TransferTable
    grid: list                      # GridRow
    missing: list                   # (path, lang) lacking the metric on the eval split
    manifests: list = field(default_factory=list)
    jobs: object = None             # list of JobStatus, or None when no manifest was read
    manifest_problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    figures: list = field(default_factory=list)   # (title, file name relative to the report)
    baseline: str = BASELINE_MODEL_TYPE             # difference blocks: model type minus this
    resamples: int = RESAMPLES                      # paired bootstrap resamples per difference cell
    curves: list = field(default_factory=list)      # curves.Curve, where train_samples varies
    view: object = None             # lineage.View: the input sets shown, superseded runs
    provenance: list = field(default_factory=list)  # lineage.provenance_rows
    selection: str = "source"       # the headline protocol (config/selection.py)
    correction: str = "holm"        # within each family of comparisons (multiplicity.py)
    upper_bounds: list = field(default_factory=list)  # tables.UpperBound beside the headline
    split_chosen: bool = False      # the split was chosen for the user (test where there is one)
    latex: list = field(default_factory=list)         # .tex files written, relative to the report


def read_manifests(paths):
    """(entries, problems) of the generators' manifest.jsonl files: a run submitted several times is
    kept once, with its latest submission; a bad line is a BadFile, skipped."""
    entries, problems = [], []
    for path in paths:
        found, bad = read_manifest(path)
        entries += found
        problems += [BadFile(where, reason) for where, reason in bad]
    return list(latest_per_run(entries).values()), problems


def _check_baseline(baseline, runs):
    """--baseline must name a model type of the runs; the default (normal) may be absent."""
    present = sorted({r.model_type for r in runs})
    if baseline is not None and runs and baseline not in present:
        raise UserError(f"--baseline {baseline!r} is not a model type of these results; present: "
                        f"{', '.join(present)}")
    return baseline or BASELINE_MODEL_TYPE


def default_metric(runs):
    """The runs' metric_for_best_model when they share one (chrf for seq2seq studies by default),
    else f1."""
    chosen = {r.data.get("metric_for_best_model") for r in runs}
    return chosen.pop() if len(chosen) == 1 and None not in chosen else "f1"


def _test_split(runs, split, results_dirs):
    """The split shown: `split`, or (None) test where a run has test metrics, else eval. An explicit
    test split that no run has is an error."""
    has_test = any("test" in (r.metrics.get(lang) or {}) for r in runs for lang in r.eval_langs)
    if split is None:
        return "test" if has_test or not runs else "eval"
    if split == "test" and runs and not has_test:
        entries = sorted({f"{lang}: {', '.join(e.get('splits') or [])}" for r in runs for lang, e in
                          ((r.data.get("inputs") or {}).get("datasets") or {}).items()})
        raise UserError(f"--split test: none of the {len(runs)} runs under {', '.join(results_dirs)} has "
                        "a test split" + (f" (database splits: {'; '.join(entries)})" if entries else "")
                        + "; leave out --split to report the eval split, flagged where it chose the epoch")
    return split


def report_tables(runs, metric, split, selection):
    """The headline protocol's tables, then, for runs that recorded only another protocol (results
    from before every protocol was recorded), that protocol's tables."""
    tables = transfer_tables(runs, metric, split, selection)
    for other in SELECTIONS:
        left = [r for r in runs if selection not in r.protocols() and other in r.protocols()]
        if other != selection and left:
            tables += transfer_tables(left, metric, split, other, kind=OWN)
    return tables


def build_report(results_dirs, metric=None, split=None, manifests=(), slurm=job_state,
                 log_lines=15, baseline=None, resamples=RESAMPLES, all_inputs=False,
                 selection="source", correction="holm"):
    """Read everything and compute every table (metric None: default_metric). Raises UserError for an
    unknown metric, split, protocol, correction or baseline model type, or test asked of runs
    without a test split. The tables use each model type's newest inputs (lineage.py), or with
    all_inputs every input set as its own block: runs of different inputs are never averaged."""
    from .curves import learning_curves
    check_protocol(selection)
    check_correction(correction)
    if split is not None and split not in SPLITS:
        raise UserError(f"--split {split!r} is not valid; choose one of: {', '.join(SPLITS)}")
    runs, bad = load_results(results_dirs)
    known = available_metrics(runs)
    metric = metric or default_metric(runs)
    if runs and metric not in known:
        raise UserError(f"--metric {metric!r} is in no results.json under "
                        f"{', '.join(results_dirs)}; available: {', '.join(known)}")
    view = select_inputs(runs, all_inputs)
    shown = view.runs
    baseline = _check_baseline(baseline, shown)
    chosen, split = split is None, _test_split(shown, split, results_dirs)
    tables = report_tables(shown, metric, split, selection)
    for t in tables:
        t.baseline = baseline
        annotate(t, shown)  # seq2seq: trivial baselines, target columns, the error rate's unit
    apply_corrections(difference_comparisons(tables, resamples), correction)
    report = Report(metric, split, list(results_dirs), runs, bad, tables,
                    grid_summary(shown, metric, split, selection), missing_values(shown, metric),
                    list(manifests), baseline=baseline, resamples=resamples,
                    curves=learning_curves(shown, metric, split, selection), view=view,
                    provenance=provenance_rows(view), selection=selection, correction=correction,
                    upper_bounds=[] if selection == UPPER_BOUND else upper_bounds(shown, metric, split, selection),
                    split_chosen=chosen)
    if manifests:
        entries, report.manifest_problems = read_manifests(manifests)
        report.jobs = job_statuses(entries, slurm, log_lines)
    return report


def default_report_dir(results_dirs, runs, from_config_root=None, config_study=None):
    """<results_dir>/<study>/report (runs.report_dir) when the runs are one study found under one
    folder (the study's folder or its parent) or a config's results_dir, else ./report."""
    studies = {r.study for r in runs} or ({config_study} if config_study else set())
    if len(studies) == 1:
        study = studies.pop()
        if from_config_root:
            return report_dir(os.path.join(from_config_root, study))
        if len(results_dirs) == 1:
            d = results_dirs[0]
            if os.path.basename(os.path.realpath(d)) == study:
                return report_dir(d)
            if os.path.isdir(os.path.join(d, study)):
                return report_dir(os.path.join(d, study))
    return REPORT_FOLDER


def write_report(report, out_dir, digits=3, plots=True):
    """Heatmaps, seed plots, learning curves, runs.csv, differences.csv, upper_bound.csv, the LaTeX
    tables and report.md into out_dir, each atomically. Returns the Markdown text."""
    from .latex import write_latex
    from .markdown import render_report
    if plots:
        from .curves import write_curve_figures
        from .plots import seed_figure, transfer_heatmaps
        for t in report.tables:
            report.figures += transfer_heatmaps(t, out_dir, digits) + seed_figure(t, out_dir)
        report.figures += write_curve_figures(report.curves, out_dir)
    superseded = {s.run.run_id for s in report.view.superseded} if report.view else set()
    write_text_atomic(os.path.join(out_dir, "runs.csv"), csv_text(*run_rows(report.runs, superseded)))
    write_text_atomic(os.path.join(out_dir, "differences.csv"),
                      csv_text(*difference_rows(report.tables, report.correction)))
    write_text_atomic(os.path.join(out_dir, "upper_bound.csv"), csv_text(*upper_bound_rows(report.upper_bounds)))
    report.latex = write_latex(report, out_dir, digits)
    text = render_report(report, digits)
    write_text_atomic(os.path.join(out_dir, REPORT_FILE), text)
    return text
