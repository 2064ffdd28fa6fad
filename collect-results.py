"""Tables, heatmaps and job status of a study's finished runs.

Reads every results.json under the given folders, prints a Markdown report (transfer matrix per
model type on the test split under zero-shot selection, its difference to a baseline model type with
intervals and corrected p-values, the target-selected upper bound beside it, learning curves,
grid-search summary, job status from the generators' manifests) and writes report.md, runs.csv,
differences.csv, upper_bound.csv, LaTeX tables and PNGs to the output folder.

Examples:
    python collect-results.py results/rus-pol-sentiment
    python collect-results.py --config config/finetune-rus-pol-sentiment.json --metric accuracy --split eval
    python collect-results.py --config config/finetune-rus-pol-sentiment.json --status
"""
import argparse
import os
import sys

from ipa_finetune.cli import exit_on_user_error, int_at_least
from ipa_finetune.errors import UserError
from ipa_finetune.files import find_all
from ipa_finetune.manifest import MANIFEST, study_jobs_dir
from ipa_finetune.report import build
from ipa_finetune.report.collect import SPLITS
from ipa_finetune.report.markdown import render_status
from ipa_finetune.report.status import job_statuses
from ipa_finetune.report.uncertainty import RESAMPLES
from ipa_finetune.runs import REPORT_FILE, study_results_dir
from ipa_finetune.slurm import Lookup

EPILOG = """\
With --config and no RESULTS_DIR, the results come from paths.results_dir/<study> of the config,
and (with or without RESULTS_DIR) the job status from every manifest.jsonl under
paths.jobs_dir/<study>. With neither RESULTS_DIR nor --config: every study under
config/default.json's paths.results_dir, and every manifest under its paths.jobs_dir.
Put RESULTS_DIR before the options that take several values (--config, --manifest), or after `--`.

Cells are mean ± sample std (ddof=1) over seeds of one hyperparameter setting, with n, on the test
split wherever the runs have one. Each run is read at the epoch the selection protocol picks
(source: the training languages' validation splits, zero-shot); where a cell has several settings (a
grid), the one with the best mean selection score of its runs is shown. Each difference to the
baseline has a 95% interval counting test sampling and seed variance, a two-sided p-value, its
Holm-adjusted value within the block (* below 0.05) and a Benjamini-Hochberg q over the report
(docs/statistics.md). Runs of different inputs (checkpoint, tokenizer, dataset: results.json
"inputs") are never averaged: each model type shows its newest inputs, older runs are listed as
superseded (--all-inputs shows every input set)."""


# On/off flags and what they do.
SWITCHES = {
    "--no-plots": "skip the heatmap and learning-curve PNGs",
    "--print-config": "print the resolved --config (each value with the file that set it) and exit",
    "--all-inputs": "show runs of superseded inputs too (an older checkpoint, tokenizer or dataset of a "
                    "model type), each input set as its own block, e.g. 'ipa (superseded 1)'; by "
                    "default only each model type's newest inputs are in the tables and older runs "
                    "are listed under 'Superseded runs'",
    "--no-slurm": "do not ask squeue/sacct for job states (jobs without results: state unknown, or "
                  "what their log says)",
    "--status": "only the job status: every job of the manifests (array tasks included) with its "
                "state, Slurm state, elapsed time and, for failed jobs, the end of its log; printed, "
                "nothing written",
}


def add_input_arguments(p):
    """Where the results and the manifests are."""
    p.add_argument("results_dirs", nargs="*", metavar="RESULTS_DIR",
                   help="folders searched recursively for results.json (default: from the config)")
    p.add_argument("--config", nargs="+", metavar="CONFIG",
                   help="config files, cascading over config/default.json; give results_dir, "
                        "jobs_dir, study and the default metric")
    p.add_argument("--manifest", nargs="+", metavar="PATH",
                   help="manifest.jsonl files of the job generators, for the job status "
                        "(default: those under the config's jobs dir; none without a config)")


def add_report_arguments(p):
    """What the report shows, and where it goes."""
    p.add_argument("--metric", default=None,
                   help="metric shown and used to pick settings: accuracy, precision, recall, f1 "
                        "(macro), loss; seq2seq: chrf, bleu, exact_match, error_rate, loss (default: "
                        "the config's metric_for_best_model, else the runs' when they share one, "
                        "else f1)")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="split whose metric fills the tables (default: test where the runs have a "
                        "test split, else eval); epochs and settings are always chosen on validation "
                        "splits, and with eval the cells they chose are flagged and never marked")
    p.add_argument("--selection", default="source", metavar="PROTOCOL",
                   help="selection protocol the tables read each run under: source (zero-shot, "
                        "default), target (upper bound: chosen on the eval languages' labels) or last "
                        "(final epoch); the target upper bound is also shown beside source")
    p.add_argument("--correction", default="holm", metavar="NAME",
                   help="multiple-comparison correction of the p-values within each difference block, "
                        "which the * marks follow: holm (default), bonferroni or none")
    p.add_argument("--out", metavar="DIR",
                   help="output folder for report.md, runs.csv and PNGs (default: "
                        "<results_dir>/<study>/report for a single study, else ./report)")
    p.add_argument("--digits", type=int_at_least(0), default=3, help="decimals shown in tables (default: 3)")
    p.add_argument("--log-lines", type=int_at_least(0), default=15,
                   help="lines of a failed job's log shown in the status (default: 15)")
    p.add_argument("--baseline", metavar="MODEL_TYPE",
                   help="model type subtracted in the difference blocks: every other model type "
                        "minus this one, e.g. random for the no-pretraining control (default: "
                        "normal, when present)")
    # fewer resamples leave the bootstrap variance, and so the SE and p, noisy: its relative SE is
    # sqrt(2/R), 4.5% at 1000
    p.add_argument("--resamples", type=int_at_least(1000), default=RESAMPLES, metavar="R",
                   help="paired bootstrap resamples of the test examples per difference cell, at least 1000 "
                        "(default: %(default)s)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_arguments(p)
    add_report_arguments(p)
    for flag, text in SWITCHES.items():
        p.add_argument(flag, action="store_true", help=text)
    return p.parse_args(argv)


def load_paths(args):
    """(config or None, results folder, jobs folder) from --config, or from config/default.json's
    paths alone (all studies) when neither RESULTS_DIR nor --config is given."""
    from ipa_finetune.config import loader, study  # only when a config is in use
    if args.config:
        cfg = study.study_from_args(args).cfg  # exits 0 after printing on --print-config
        return cfg, study_results_dir(cfg), study_jobs_dir(cfg)
    if args.print_config:
        raise UserError("--print-config needs --config CONFIG ...; without one only "
                        "paths.results_dir and paths.jobs_dir of config/default.json are read")
    paths = loader.default_paths()
    return None, paths["results_dir"], paths["jobs_dir"]


def resolve_inputs(args):
    """(config or None, results dirs, results root for the default --out, manifests, notes)."""
    cfg, results, jobs = None, None, None
    if args.config or args.print_config or not args.results_dirs:
        cfg, results, jobs = load_paths(args)
    notes, root = [], None
    if args.results_dirs:
        for d in args.results_dirs:
            if not os.path.isdir(d):
                raise UserError(f"results directory '{d}' does not exist or is not a folder")
        dirs = list(args.results_dirs)
    else:
        dirs = [results] if os.path.isdir(results) else []
        root = os.path.dirname(results) if cfg else results
        if not dirs:
            notes.append(f"no results folder yet: `{results}` (paths.results_dir of the config)")
    if args.manifest:
        for m in args.manifest:
            if not os.path.isfile(m):
                raise UserError(f"--manifest '{m}' does not exist or is not a file")
        manifests = list(args.manifest)
    elif jobs is not None:
        manifests = find_all([jobs], MANIFEST)
    else:
        manifests = []
    return cfg, dirs, root, manifests, notes


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    cfg, dirs, root, manifests, notes = resolve_inputs(args)
    slurm = (lambda job_id: None) if args.no_slurm else Lookup()
    if args.status:
        return show_status(manifests, slurm, args.log_lines)
    metric = args.metric or ((cfg or {}).get("hyperparameters") or {}).get("metric_for_best_model")
    report = build.build_report(dirs, metric, args.split, manifests, slurm, args.log_lines,
                                baseline=args.baseline, resamples=args.resamples,
                                all_inputs=args.all_inputs, selection=args.selection,
                                correction=args.correction)
    report.notes += notes
    out = args.out or build.default_report_dir(dirs, report.runs, root, (cfg or {}).get("study"))
    text = build.write_report(report, out, args.digits, plots=not args.no_plots)
    sys.stdout.write(text)
    print(f"collect-results.py: wrote {os.path.join(out, REPORT_FILE)}, runs.csv, differences.csv, "
          f"upper_bound.csv, {len(report.latex)} LaTeX table(s) and {len(report.figures)} figure(s); "
          f"{len(report.bad)} file(s) skipped", file=sys.stderr)


def show_status(manifests, slurm, log_lines):
    """--status: the job status page on stdout; nothing is written."""
    if not manifests:
        raise UserError("--status: no manifest.jsonl to read; give --config CONFIG of a launched study "
                        "(its manifests are under paths.jobs_dir/<study>) or --manifest PATH")
    entries, problems = build.read_manifests(manifests)
    sys.stdout.write(render_status(job_statuses(entries, slurm, log_lines), manifests, problems))


if __name__ == "__main__":
    main()
