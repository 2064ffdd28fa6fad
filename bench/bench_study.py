"""A whole study launched twice, one run per job and then several runs per job, timed end to end.

    .venv/bin/python bench/bench_study.py                          # the demo study (24 runs)
    .venv/bin/python bench/bench_study.py --train-examples 1500    # the same 24 runs on 1,500 examples each
    .venv/bin/python bench/bench_study.py --tiny                   # a smoke run: 2 runs, seconds

Each mode launches the same study with finetuning-generator.py into its own scratch folders (results,
jobs and HF cache under --out/<mode>: neither mode finds the other's results or cached token ids): on
the local Slurm when one answers (submitted, then waited for; wall time from the launch to the end of
the last job), else with --local (--where picks). "one run per job" is --runs-per-job 1; "packed" is
the config's slurm.runs_per_job ("auto"), or --packed K. Printed: each mode's jobs and wall time, the
ratio, the load average around each, and whether every run's metrics and training history are
identical in both modes (runs are matched by run id, which does not depend on the folders). With
--repeats N the modes alternate N times and each mode's fastest launch counts (the machine and the
local Slurm's queue are shared: other jobs queued ahead of a launch delay it).

--train-examples N composes N labelled training reviews per language from demo/text with
demo/compose.py (plus validation and test splits of N/3 each; epitran transcribes them for the ipa
model type), cached under --out/data-N, and trains every run on N examples (train_samples; the
A+B runs draw N of their 2N). The model, tokenizers and hyperparameters stay the demo's.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path[:0] = [ROOT, os.path.join(ROOT, "demo")]

from ipa_finetune.cli import exit_on_user_error, positive_int  # noqa: E402
from ipa_finetune.errors import UserError  # noqa: E402
from ipa_finetune.manifest import manifest_path, read_manifest  # noqa: E402
from ipa_finetune.slurm import FINAL_STATES, queue_states  # noqa: E402

LANGUAGES = {"russian": "rus-Cyrl", "polish": "pol-Latn"}   # epitran codes, as the demo database has them
MODES = (("one run per job", ["--runs-per-job", "1"]), ("packed", []))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=os.path.join(ROOT, "config", "demo.json"),
                   help="the study's config (default: config/demo.json)")
    p.add_argument("--train-examples", type=positive_int, metavar="N",
                   help="train every run on N composed reviews per language (default: the demo's data)")
    p.add_argument("--packed", type=positive_int, metavar="K",
                   help="runs per job of the packed mode (default: the config's slurm.runs_per_job)")
    p.add_argument("--where", choices=("auto", "slurm", "local"), default="auto",
                   help="auto: the local Slurm when sinfo answers, else --local (default auto)")
    p.add_argument("--tiny", action="store_true",
                   help="a smoke run: russian only, model type ipa, seeds 1 and 2 (2 runs)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "out", "study"),
                   help="scratch folder (default bench/out/study; each mode's part is emptied first)")
    p.add_argument("--repeats", type=positive_int, default=1,
                   help="launch each mode this many times, interleaved (one, packed, one, ...); the fastest "
                        "wall time of each mode counts (default 1)")
    p.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- the study

def compose_data(folder, n, seed=1337):
    """{language: data folder} of n train, n/3 validation and n/3 test composed reviews per
    language (balanced labels, each text once), transcribed by epitran; written once per n."""
    from compose import LABELS, labelled_set, load_source, split_stratified
    from ipa_finetune.prepare.transcribe import load_backend

    folders = {lang: os.path.join(folder, lang) for lang in LANGUAGES}
    if all(os.path.isfile(os.path.join(f, "test.jsonl")) for f in folders.values()):
        return folders
    total = n * 5 // 3   # 60 / 20 / 20
    for lang, code in LANGUAGES.items():
        source = load_source(os.path.join(ROOT, "demo", "text", f"{lang}.json5"))
        rng = random.Random(f"{seed}-{lang}-{n}")
        counts = {label: total // len(LABELS) + (i < total % len(LABELS)) for i, label in enumerate(LABELS)}
        splits = split_stratified(labelled_set(source, counts, rng), {"train": 0.6, "validation": 0.2,
                                                                      "test": 0.2}, rng)
        to_ipa = load_backend(code)
        os.makedirs(folders[lang], exist_ok=True)
        for split, items in splits.items():
            with open(os.path.join(folders[lang], f"{split}.jsonl"), "w", encoding="utf-8") as f:
                for text, label in items:
                    f.write(json.dumps({"text": text, "ipa": to_ipa(text), "label": label},
                                       ensure_ascii=False) + "\n")
    return folders


def study_overlay(args, out):
    """The config keys the benchmark adds to the study's: scratch folders, and the composed data."""
    overlay = {"paths": {"results_dir": os.path.join(out, "results"), "jobs_dir": os.path.join(out, "jobs"),
                         "hf_cache": os.path.join(out, "hf-cache")}}
    if args.train_examples:
        folders = compose_data(os.path.join(args.out, f"data-{args.train_examples}"), args.train_examples)
        db = {lang: {"sentiment": {f"composed-{lang}": {
            "dataset": folders[lang], "train_features": {"normal": ["text"], "ipa": ["ipa"]},
            "eval_feature": "label", "splits": ["train", "validation", "test"],
            "task_type": "classification", "classes": 3,
            "label_names": ["negative", "neutral", "positive"]}}} for lang in LANGUAGES}
        db_path = os.path.join(out, "language-database.json")
        os.makedirs(out, exist_ok=True)
        with open(db_path, "w", encoding="utf-8") as f:
            json.dump(db, f, indent=1)
        overlay["paths"]["language_database"] = db_path
        overlay["languages"] = {lang: f"composed-{lang}" for lang in LANGUAGES}
        overlay["hyperparameters"] = {"train_samples": args.train_examples}
    if args.tiny:
        overlay.setdefault("languages", {})["polish"] = None
        overlay["hyperparameters"] = dict(overlay.get("hyperparameters", {}), seed=[1, 2])
    return overlay


# ----------------------------------------------------------------------------- one mode

def slurm_answers():
    try:
        return subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                              timeout=30).stdout.strip() != ""
    except (OSError, subprocess.TimeoutExpired):
        return False


def queue_length():
    """How many jobs (array tasks counted one by one) the local Slurm holds: others' work ahead of a launch."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return len(out.stdout.split()) if out.returncode == 0 else None


def wait_for(job_ids, poll=0.2):
    """Until squeue says every job has ended (or no longer knows it)."""
    while True:
        states = queue_states(job_ids)
        if states is None:
            raise UserError("squeue stopped answering while the benchmark's jobs ran")
        if all(states.get(i, "COMPLETED") in FINAL_STATES for i in job_ids):
            return states
        time.sleep(poll)


def run_mode(args, name, flags, where):
    """Launch the study once; (wall seconds, jobs, runs per job line, {run id: results})."""
    from ipa_finetune.config.loader import load_config

    out = os.path.join(args.out, name.replace(" ", "-"))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    overlay = os.path.join(out, "overlay.json")
    with open(overlay, "w", encoding="utf-8") as f:
        json.dump(study_overlay(args, out), f)
    study = load_config([args.config, overlay])["study"]
    command = [sys.executable, os.path.join(ROOT, "finetuning-generator.py"), args.config, overlay,
               "--yes", "--no-report", *flags]
    command += (["--model-type", "ipa"] if args.tiny else []) + (["--local"] if where == "local" else [])
    if name == "packed" and args.packed:
        command += ["--runs-per-job", str(args.packed)]
    ahead = queue_length() if where == "slurm" else None
    load, start = os.getloadavg()[0], time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise UserError(f"{name}: finetuning-generator.py failed: {proc.stderr.strip()[-500:]}")
    entries = read_manifest(manifest_path(os.path.join(out, "jobs", study)))[0]
    jobs = sorted({e["job_id"] if e["job_id"] != "local" else e["log"] for e in entries})
    if where == "slurm":
        wait_for(jobs)
    wall = time.perf_counter() - start
    line = re.search(r"^runs per job: .*$", proc.stdout, re.M)
    results = {}
    for e in entries:
        path = os.path.join(e["run_dir"], "results.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                results[e["run_id"]] = json.load(f)
    return {"mode": name, "wall_s": wall, "jobs": len(jobs), "runs": len(entries),
            "finished": len(results), "packing": line.group(0) if line else "", "load_before": load, "queued_ahead": ahead,
            "load_after": os.getloadavg()[0]}, results


def same_numbers(first, *others):
    """Run ids whose metrics and training history are identical in every launch of both modes."""
    return sorted(rid for rid in first if all(
        rid in b and first[rid]["metrics"] == b[rid]["metrics"] and first[rid].get("history") == b[rid].get("history")
        for b in others))


def report(rows, identical, where, args):
    one, packed = rows
    lines = [f"study: {os.path.relpath(args.config, ROOT)}"
             + (f", {args.train_examples} train examples per run" if args.train_examples else "")
             + (" (--tiny)" if args.tiny else "") + f"; where: {where}", "",
             "| mode | jobs | runs finished | wall time | runs/hour | load average before -> after | others' jobs queued at launch |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        walls = r.get("walls_s", [])
        best = f"{r['wall_s']:.1f} s" + (f" (of {', '.join(f'{w:.1f}' for w in walls)})" if len(walls) > 1 else "")
        lines.append(f"| {r['mode']} | {r['jobs']} | {r['finished']}/{r['runs']} | {best} | "
                     f"{r['runs'] / r['wall_s'] * 3600:,.0f} | {r['load_before']:.2f} -> {r['load_after']:.2f} | "
                     f"{'-' if r.get('queued_ahead') is None else r['queued_ahead']} |")
    ratio = one["wall_s"] / packed["wall_s"]
    lines += ["", f"packed: {packed['packing']}",
              f"ratio (one run per job / packed): {ratio:.2f}x",
              f"metrics and history identical in both modes: {len(identical)} of {one['runs']} runs"]
    return "\n".join(lines), ratio


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    args.config = os.path.abspath(args.config)
    where = args.where if args.where != "auto" else ("slurm" if slurm_answers() else "local")
    best, found = {}, []
    for repeat in range(args.repeats):
        for name, flags in MODES:
            print(f"{name}: launching ({where}{f', repeat {repeat + 1}' if args.repeats > 1 else ''}) ...",
                  flush=True)
            row, results = run_mode(args, name, flags, where)
            print(f"{name}: {row['wall_s']:.1f} s, {row['jobs']} jobs, {row['finished']}/{row['runs']} runs "
                  f"finished (load {row['load_before']:.2f} -> {row['load_after']:.2f})", flush=True)
            row["walls_s"] = best.get(name, {}).get("walls_s", []) + [row["wall_s"]]
            if name not in best or row["wall_s"] < best[name]["wall_s"]:
                best[name] = row
            best[name]["walls_s"] = row["walls_s"]
            found.append(results)
    rows = [best[name] for name, _ in MODES]
    identical = same_numbers(*found)
    text, ratio = report(rows, identical, where, args)
    print("\n" + text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"where": where, "modes": rows, "ratio": ratio, "identical": len(identical),
                       "runs": rows[0]["runs"]}, f, indent=1)
    return 0 if len(identical) == rows[0]["runs"] == rows[1]["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
