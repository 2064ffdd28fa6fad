"""Run the bundled demo study end to end, here, on the CPU, offline.

The demo is the spec's transfer matrix (A+B->A, A+B->B, A->A, A->B, B->A, B->B) for the `normal` and the
`ipa` model types, on the tiny Russian and Polish sentiment data in demo/data, starting from the tiny
pretrained checkpoints in demo/checkpoints. It runs the same two scripts a user runs on a cluster:

    python finetuning-generator.py config/demo.json --local     # 12 fine-tunes, one after another
    python collect-results.py --config config/demo.json         # tables, CSV, heatmaps

Example:
    make demo                         # or: .venv/bin/python demo/run_demo.py
    .venv/bin/python demo/run_demo.py --force   # re-train even the runs that already have results
"""
import argparse
import json
import os
import subprocess
import sys

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


def baseline_check(results_dir):
    """One line per (run, eval language): accuracy against the majority-class baseline."""
    rows, beaten, total = [], 0, 0
    for folder, _, files in sorted(os.walk(results_dir)):
        if "results.json" not in files:
            continue
        with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
            r = json.load(f)
        for lang, splits in sorted(r["metrics"].items()):
            m = splits["eval"]
            total += 1
            beaten += m["accuracy"] > m["majority_baseline"]
            rows.append(f"  {r['model_type']:<7} {'+'.join(r['train_langs']):<15} -> {lang:<8} "
                        f"accuracy {m['accuracy']:.3f}  majority {m['majority_baseline']:.3f}  "
                        f"f1 {m['f1']:.3f}")
    print("\nDemo: eval-split accuracy against the majority-class baseline")
    print("\n".join(rows))
    print(f"  {beaten}/{total} (run, language) pairs beat the majority baseline")
    return beaten, total


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
    cfg = load_config([os.path.join(ROOT, args.config)])
    baseline_check(os.path.join(cfg["paths"]["results_dir"], cfg["study"]))


if __name__ == "__main__":
    main()
