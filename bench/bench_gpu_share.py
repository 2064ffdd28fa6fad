"""Runs per hour with several runs at once on one GPU (slurm.runs_at_once), for the bench model.

    python bench/bench_gpu_share.py                        # on a GPU node: 1, 2 and 4 at once, < 5 minutes
    .venv/bin/python bench/bench_gpu_share.py --tiny      # a smoke run on the CPU, about a minute

Writes a one-language study of the bench model (bench_throughput.py's Size: 6 layers, 384 wide, vocab
50304, block 256, random weights saved as nanoGPT's ckpt.pt, its BPE tokenizer) on synthetic
classification data (throughput_data.synthetic_rows: --steps x batch 32 train examples, one epoch).
After an untimed one-step run (the tokenized data is then cached for all), for each count P of
--at-once it trains the same --runs runs (seeds 1, 2, ...) as one packed job does: `finetune-exp.py
RUN --then RUN ... --runs-at-once P --cpus C` (P processes on the one device, each with C / P CPUs),
each P into its own results folder, timed from start to exit. Prints a table of wall time, runs per
hour and the ratio to the first row, with the device and the load average.
"""
import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path[:0] = [ROOT, BENCH_DIR]

from bench_throughput import TINY, Size  # noqa: E402
from ipa_finetune.cli import exit_on_user_error, positive_int  # noqa: E402
from ipa_finetune.cpus import usable_cpus  # noqa: E402
from ipa_finetune.errors import UserError  # noqa: E402
from throughput_data import CLASSES, EOS, build_tokenizer, project_model, synthetic_rows, write_jsonl  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--at-once", type=positive_int, nargs="+", default=[1, 2, 4], metavar="P",
                   help="runs training at the same time, one measurement each (default: 1 2 4)")
    p.add_argument("--runs", type=positive_int, default=4,
                   help="runs per measurement (default 4: one each at 4 at once)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="optimizer steps per run, one epoch of steps x 32 examples (default 300; --tiny 4)")
    p.add_argument("--cpus", type=positive_int, default=None,
                   help="CPUs shared by the processes (default: all this process may use; --tiny: 1, "
                        "since more torch threads than free cores slow a tiny model many times)")
    p.add_argument("--tiny", action="store_true",
                   help="the tiny model (2 layers, 32 wide), 4 steps, 1 and 2 at once: a CPU smoke run")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "out", "gpu-share"),
                   help="scratch folder (default bench/out/gpu-share)")
    p.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    return p.parse_args(argv)


def write_study(root, size, steps):
    """The study's config file: the bench model and tokenizer, synthetic data of one language."""
    build_tokenizer(root, size)
    project_model(root, size)  # writes root/checkpoint/ckpt.pt
    data = os.path.join(root, "data")
    for split, n, seed in (("train", steps * size.batch_size, 1), ("validation", 256, 2), ("test", 256, 3)):
        write_jsonl(data, split, synthetic_rows(n, seed, size, 4 * size.block_size))
    db = {"synthetic": {"sentiment": {"bench": {
        "dataset": data, "train_features": ["text"], "eval_feature": "label",
        "splits": ["train", "validation", "test"], "task_type": "classification",
        "classes": len(CLASSES), "label_names": CLASSES}}}}
    cfg = {"study": "gpu-share", "task": "sentiment", "languages": {"synthetic": "bench"},
           "paths": {"checkpoint_prefix": root, "tokenizer_prefix": os.path.join(root, "tokenizers"),
                     "hf_cache": os.path.join(root, "hf-cache"), "language_database": os.path.join(root, "db.json"),
                     "results_dir": os.path.join(root, "results")},
           "model_types": {"normal": {"model_prefix": "checkpoint", "tokenizer": "bench"}, "ipa": None},
           "tokenizer": {"eos_token": EOS},
           "hyperparameters": {"batch_size": size.batch_size, "eval_batch_size": 2 * size.batch_size,
                               "epochs": 1, "max_length": size.block_size, "learning_rate": 5e-4}}
    for name, content in (("db.json", db), ("study.json", cfg)):
        with open(os.path.join(root, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=1)
    return os.path.join(root, "study.json")


def measure(config, root, runs, at_once, cpus, name=None, extra=()):
    """Seconds for `runs` runs (seeds 1..runs) in one finetune-exp.py with --runs-at-once at_once."""
    out = os.path.join(root, f"results-{name or at_once}")
    shutil.rmtree(out, ignore_errors=True)
    words = []
    for seed in range(1, runs + 1):
        words += ["--then"] * bool(words) + [config, "--model-type", "normal", "--train-langs", "synthetic",
                                             "--eval-langs", "synthetic", "--seed", str(seed),
                                             "--output-dir", out, "--no-save-model", *extra]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "finetune-exp.py"), *words,
                           "--runs-at-once", str(at_once), "--cpus", str(cpus)],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise UserError(f"{at_once} at once: finetune-exp.py failed: {proc.stdout.strip()[-600:]}")
    return seconds


def device_name():
    import torch

    return f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu (no GPU)"


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    size = Size(**TINY) if args.tiny else Size()
    size = dataclasses.replace(size, batch_size=size.batch_size if args.tiny else 32)
    steps = args.steps or (4 if args.tiny else 300)
    at_once = [p for p in args.at_once if not args.tiny or p <= 2] or [1]
    cpus = args.cpus or (1 if args.tiny else usable_cpus())
    os.makedirs(args.out, exist_ok=True)
    config = write_study(args.out, size, steps)
    print(f"device {device_name()}; {cpus} CPUs; {args.runs} runs of {steps} steps (batch {size.batch_size}, "
          f"{size.n_layer} layers x {size.n_embd}) per measurement", flush=True)
    measure(config, args.out, 1, 1, cpus, name="warm-up", extra=["--max-steps", "1"])  # caches, untimed
    rows = []
    for p in at_once:
        load = os.getloadavg()[0]
        seconds = measure(config, args.out, args.runs, p, cpus)
        rows.append({"at_once": p, "seconds": seconds, "runs_per_hour": args.runs / seconds * 3600,
                     "load_before": load, "load_after": os.getloadavg()[0]})
        print(f"{p} at once: {seconds:.1f} s", flush=True)
    base = rows[0]["runs_per_hour"]
    print("\n| runs at once | wall time | runs/hour | vs first row | load average before -> after |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['at_once']} | {r['seconds']:.1f} s | {r['runs_per_hour']:,.0f} | "
              f"{r['runs_per_hour'] / base:.2f}x | {r['load_before']:.2f} -> {r['load_after']:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": device_name(), "cpus": cpus, "steps": steps, "runs": args.runs,
                       "size": dataclasses.asdict(size), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
