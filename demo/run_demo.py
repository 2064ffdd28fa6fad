"""Run the bundled demo study end to end, here, on the CPU, offline.

The demo is the spec's transfer matrix (A+B->A, A+B->B, A->A, A->B, B->A, B->B) for the `normal` and the
`ipa` model types, on the tiny Russian and Polish sentiment data in demo/data, starting from the tiny
pretrained checkpoints in demo/checkpoints, once per seed of config/demo.json. It runs the same two
scripts a user runs on a cluster:

    python finetuning-generator.py config/demo.json --local     # 12 fine-tunes per seed, one after another
    python collect-results.py --config config/demo.json         # tables, CSV, heatmaps, intervals

and ends with the answer on the test split: each `<type> - normal` difference with its 95% interval
(test sampling and seeds), p-values corrected by Holm, and how many cells each model type wins.
With --config config/demo-seq2seq.json (`make demo-seq2seq`) it runs the seq2seq demo instead
(grapheme-to-phoneme on demo/data-seq2seq, docs/seq2seq.md) and ends with the transfer table, the
trivial baselines (copy the source, the most frequent training target) and ipa - normal with intervals.

Example:
    make demo                         # or: .venv/bin/python demo/run_demo.py
    .venv/bin/python demo/run_demo.py --force   # re-train even the runs that already have results
    .venv/bin/python demo/run_demo.py --config config/demo-seq2seq.json   # make demo-seq2seq
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join("config", "demo.json")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--force", action="store_true",
                   help="re-run the fine-tunes that already have results (default: skip them)")
    p.add_argument("--config", default=CONFIG,
                   help="demo config, relative to the project root (default: %(default)s)")
    return p.parse_args(argv)


def run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def mean_std(values):
    """`0.812 ± 0.010` over seeds (no ± with one seed)."""
    if len(values) == 1:
        return f"{values[0]:.3f}        "
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def finished_runs(results_dir):
    """The parsed results.json of every run under results_dir, in folder order."""
    for folder, _, files in sorted(os.walk(results_dir)):
        if "results.json" in files:
            with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
                yield json.load(f)


def print_cells(title, cells, describe):
    """One line per (model type, train set, eval language) of `cells` ({key: [metrics of a seed]})."""
    print(f"\nDemo: {title}")
    for (model_type, train, lang), ms in sorted(cells.items()):
        print(f"  {model_type:<7} {train:<15} -> {lang:<8} {describe(ms)}  (n={len(ms)})")


def baseline_check(results_dir):
    """One line per (model type, train set, eval language): eval-split accuracy over seeds against
    the majority-class baseline; counts the runs that beat it."""
    cells, beaten, total = defaultdict(list), 0, 0
    for r in finished_runs(results_dir):
        for lang, splits in sorted(r["metrics"].items()):
            m = splits["eval"]
            total += 1
            beaten += m["accuracy"] > m["majority_baseline"]
            cells[(r["model_type"], "+".join(r["train_langs"]), lang)].append(m)
    print_cells("eval-split accuracy over seeds against the majority-class baseline", cells,
                lambda ms: f"accuracy {mean_std([m['accuracy'] for m in ms])}  majority "
                           f"{ms[0]['majority_baseline']:.3f}  f1 {mean_std([m['f1'] for m in ms])}")
    print(f"  {beaten}/{total} (run, language) pairs beat the majority baseline")
    return beaten, total


def seq2seq_check(results_dir):
    """One line per (model type, train set, eval language): test-split chrF over seeds against the
    trivial baselines (copy the source, the most frequent training target); counts the in-language
    runs that beat the better of the two."""
    cells, beaten, total = defaultdict(list), 0, 0
    for r in finished_runs(results_dir):
        for lang, splits in sorted(r["metrics"].items()):
            m = splits.get("test") or splits["eval"]
            cells[(r["model_type"], "+".join(r["train_langs"]), lang)].append(m)
            if r["train_langs"] == [lang]:
                total += 1
                beaten += m["chrf"] > max(m["copy_source_chrf"], m["most_frequent_target_chrf"])
    print_cells("test-split chrF over seeds against the trivial baselines", cells,
                lambda ms: f"chrF {mean_std([m['chrf'] for m in ms])}  copy source "
                           f"{ms[0]['copy_source_chrf']:6.2f}  most frequent {ms[0]['most_frequent_target_chrf']:5.2f}")
    print(f"  {beaten}/{total} in-language runs beat their trivial baseline on chrF")
    return beaten, total


def difference_blocks(report_md, wanted=lambda heading: " - " in heading):
    """The report's headline (which split the numbers come from, which chose them) and the `### ...`
    blocks of its first section whose heading `wanted(heading)` accepts, with their notes and summary
    sentences, as Markdown lines."""
    out, inside, found = [], False, False
    with open(report_md, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("**Numbers from"):
                out += [line, ""]
            if line.startswith("## ") and found:
                break  # the next section (e.g. the upper bound): the demo shows the first one
            if line.startswith("#"):
                inside = line.startswith("### ") and wanted(line)
                found |= inside
            if inside and not line.startswith("Cells: "):
                out.append(line)
    return out


def main(argv=None):
    args = parse_args(argv)
    gen = [sys.executable, "finetuning-generator.py", args.config, "--local", "--yes"]
    if args.force:
        gen.append("--force")
    rc = run(gen)
    if rc != 0:
        sys.exit(rc)
    rc = run([sys.executable, "collect-results.py", "--config", args.config])
    if rc != 0:
        sys.exit(rc)
    sys.path.insert(0, ROOT)
    from ipa_finetune.config.study import load_study
    from ipa_finetune.runs import REPORT_FILE, report_dir, study_results_dir
    study = load_study([os.path.join(ROOT, args.config)])
    study_dir = study_results_dir(study.cfg)
    report_md = os.path.join(report_dir(study_dir), REPORT_FILE)
    if study.seq2seq:  # the transfer table, the baselines and the differences
        seq2seq_check(study_dir)
        blocks = difference_blocks(report_md, lambda heading: True)
        print(f"\nDemo: the transfer table, the trivial baselines and ipa - normal with error bars "
              f"(from {os.path.relpath(report_md, ROOT)})\n")
    else:
        baseline_check(study_dir)
        blocks = difference_blocks(report_md)
        print(f"\nDemo: the answer with error bars (from {os.path.relpath(report_md, ROOT)})\n")
    print("\n".join(blocks))


if __name__ == "__main__":
    main()
