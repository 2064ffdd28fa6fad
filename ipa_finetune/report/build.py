"""The whole report: read the runs and the manifests, compute every table (with the paired bootstrap
intervals of the difference blocks, uncertainty.py, and the learning curves, curves.py), write
report.md, runs.csv, differences.csv and the figures (atomically) into one folder.

    report = build_report(["results/demo"], metric="f1", manifests=["jobs/generated/demo/manifest.jsonl"])
    text = write_report(report, "results/demo/report")
"""
import os
from dataclasses import dataclass, field

from ..errors import UserError
from ..files import write_text_atomic
from ..manifest import latest_per_run, read_manifest
from ..runs import REPORT_FILE, REPORT_FOLDER, report_dir
from ..slurm import job_state
from .collect import SPLITS, BadFile, available_metrics, load_results, missing_values
from .lineage import provenance_rows, select_inputs
from .seq2seq import annotate
from .status import job_statuses
from .tables import BASELINE_MODEL_TYPE, csv_text, grid_summary, run_rows, transfer_tables
from .uncertainty import RESAMPLES, difference_intervals, difference_rows


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


def build_report(results_dirs, metric=None, split="eval", manifests=(), slurm=job_state,
                 log_lines=15, baseline=None, resamples=RESAMPLES, all_inputs=False):
    """Read everything and compute every table (metric None: default_metric). Raises UserError for an
    unknown metric, split or
    baseline model type. The tables use each model type's newest inputs (lineage.py), or with
    all_inputs every input set as its own block: runs of different inputs are never averaged."""
    from .curves import learning_curves
    if split not in SPLITS:
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
    tables = transfer_tables(shown, metric, split)
    for t in tables:
        t.baseline = baseline
        annotate(t, shown)  # seq2seq: trivial baselines, target columns, the error rate's unit
    difference_intervals(tables, shown, resamples)
    report = Report(metric, split, list(results_dirs), runs, bad, tables, grid_summary(shown, metric),
                    missing_values(shown, metric), list(manifests), baseline=baseline,
                    resamples=resamples, curves=learning_curves(shown, metric, split), view=view,
                    provenance=provenance_rows(view))
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
    """Heatmaps, learning curves, runs.csv, differences.csv and report.md into out_dir, each
    atomically. Returns the Markdown text."""
    from .markdown import render_report
    if plots:
        from .curves import write_curve_figures
        from .plots import transfer_heatmaps
        for t in report.tables:
            report.figures += transfer_heatmaps(t, out_dir, digits)
        report.figures += write_curve_figures(report.curves, out_dir)
    superseded = {s.run.run_id for s in report.view.superseded} if report.view else set()
    write_text_atomic(os.path.join(out_dir, "runs.csv"), csv_text(*run_rows(report.runs, superseded)))
    write_text_atomic(os.path.join(out_dir, "differences.csv"), csv_text(*difference_rows(report.tables)))
    text = render_report(report, digits)
    write_text_atomic(os.path.join(out_dir, REPORT_FILE), text)
    return text
