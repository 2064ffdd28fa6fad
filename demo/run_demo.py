"""Run the bundled demo study end to end, here, on the CPU, offline.

The demo is the spec's transfer matrix (A+B->A, A+B->B, A->A, A->B, B->A, B->B) for the `normal` and the
`ipa` model types, on the tiny Russian and Polish sentiment data in demo/data, starting from the tiny
pretrained checkpoints in demo/checkpoints, once per seed of config/demo.json. It runs the same two
scripts a user runs on a cluster:

    python finetuning-generator.py config/demo.json --local     # 12 fine-tunes per seed, one after another
    python collect-results.py --config config/demo.json         # tables, CSV, heatmaps, intervals

and ends with the answer on the test split: each `<type> - normal` difference with its 95% interval
(test sampling and seeds), p-values corrected by Holm, and how many cells each model type wins.

Example:
    make demo                         # or: .venv/bin/python demo/run_demo.py
    .venv/bin/python demo/run_demo.py --force   # re-train even the runs that already have results
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


def baseline_check(results_dir):
    """One line per (model type, train set, eval language): eval-split accuracy over seeds against
    the majority-class baseline; counts the runs that beat it."""
    cells, beaten, total = defaultdict(list), 0, 0
    for folder, _, files in sorted(os.walk(results_dir)):
        if "results.json" not in files:
            continue
        with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
            r = json.load(f)
        for lang, splits in sorted(r["metrics"].items()):
            m = splits["eval"]
            total += 1
            beaten += m["accuracy"] > m["majority_baseline"]
            cells[(r["model_type"], "+".join(r["train_langs"]), lang)].append(m)
    print("\nDemo: eval-split accuracy over seeds against the majority-class baseline")
    for (model_type, train, lang), ms in sorted(cells.items()):
        print(f"  {model_type:<7} {train:<15} -> {lang:<8} accuracy {mean_std([m['accuracy'] for m in ms])}"
              f"  majority {ms[0]['majority_baseline']:.3f}  f1 {mean_std([m['f1'] for m in ms])}"
              f"  (n={len(ms)})")
    print(f"  {beaten}/{total} (run, language) pairs beat the majority baseline")
    return beaten, total


def difference_blocks(report_md):
    """The report's headline (which split the numbers come from, which chose them) and its
    `<type> - <baseline>` blocks with their summary sentences, as Markdown lines."""
    out, inside = [], False
    with open(report_md, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("**Numbers from"):
                out += [line, ""]
            if line.startswith("#"):
                inside = line.startswith("### ") and " - " in line
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
    from ipa_finetune.config.loader import load_config
    from ipa_finetune.runs import REPORT_FILE, report_dir, study_results_dir
    study_dir = study_results_dir(load_config([os.path.join(ROOT, args.config)]))
    baseline_check(study_dir)
    report_md = os.path.join(report_dir(study_dir), REPORT_FILE)
    print(f"\nDemo: the answer with error bars (from {os.path.relpath(report_md, ROOT)})\n")
    print("\n".join(difference_blocks(report_md)))


if __name__ == "__main__":
    main()
