"""prepare-data.py's transcription rate and cache hits, on RuSentiment- and PolEmo-shaped files.

    .venv/bin/python bench/bench_prepare.py                      # docs/performance.md's figures (a few minutes)
    .venv/bin/python bench/bench_prepare.py --posts 2000 --reviews 200 --workers 1   # quicker

No real corpus can be downloaded here, so the raw files are composed from the demo's hand-written
Russian and Polish lexicons and templates (demo/compose.py): Russian "posts" of 1-3 sentences in
RuSentiment's CSV format (label,text) and Polish "reviews" of 8-16 sentences in KLEJ's TSV format
(sentence,target), every text distinct. Each file is prepared by prepare-data.py (a real subprocess,
with a fresh cache) once per --workers value, then once more with the warm cache, and once as a second
dataset that shares half of its texts with the first. The figures come from each run's prepare.json:
`cache.epitran_calls / cache.seconds` (strings given to epitran per second of the transcription step,
worker start-up included), `cache.epitran_calls / cache.epitran_cpu_seconds` (strings per second of CPU
time inside epitran, all workers together: what the work costs, whatever else the machine runs) and
`cache.hits / cache.unique_texts`. The last column is Linux's CPU pressure (/proc/pressure/cpu, "some
avg10") before and after each run: how much other work competed for the cores. A second table gives
epitran's characters per CPU-second (in this process) for texts of 1, 2, 6 and 12 sentences.
"""
import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(PROJECT, "demo"))

from compose import LABELS, Composer, load_source  # noqa: E402

KLEJ = {"negative": "__label__meta_minus_m", "neutral": "__label__meta_zero",
        "positive": "__label__meta_plus_m"}
SHAPES = {  # language -> (epitran code, sentences per text, raw format, label names)
    "russian": ("rus-Cyrl", (1, 3), "csv", list(LABELS)),
    "polish": ("pol-Latn", (8, 16), "tsv", [KLEJ[x] for x in LABELS]),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--posts", type=int, default=20000,
                   help="Russian texts to compose (default 20000; 0 leaves Russian out)")
    p.add_argument("--reviews", type=int, default=2000,
                   help="Polish texts to compose (default 2000; 0 leaves Polish out)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                   help="--workers values to time, each with a fresh cache (default: 1 2)")
    p.add_argument("--out", default=os.path.join(PROJECT, "bench", "out", "prepare"),
                   help="scratch folder for the raw files, outputs and caches (deleted first)")
    p.add_argument("--seed", type=int, default=1337, help="seed of the composition (default 1337)")
    return p.parse_args(argv)


def compose(language, n, rng):
    """n distinct (text, label) pairs of the language's shape."""
    composer = Composer(load_source(os.path.join(PROJECT, "demo", "text", f"{language}.json5")))
    low, high = SHAPES[language][1]
    seen, rows = set(), []
    while len(rows) < n:
        label = rng.choice(LABELS)
        text = " ".join(composer.review(label, rng) for _ in range(rng.randint(low, high)))
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    return rows


def write_raw(path, language, rows):
    names = dict(zip(LABELS, SHAPES[language][3]))
    with open(path, "w", encoding="utf-8", newline="") as f:
        if SHAPES[language][2] == "csv":  # RuSentiment: label,text
            csv.writer(f).writerows([["label", "text"]] + [[names[y], t] for t, y in rows])
        else:  # KLEJ: sentence<TAB>target, no quoting
            f.writelines(f"{line}\n" for line in ["sentence\ttarget"] + [f"{t}\t{names[y]}" for t, y in rows])


def write_study(out):
    entries = {}
    for language, (code, _, fmt, names) in SHAPES.items():
        entry = {"train_features": {"normal": ["text"], "ipa": ["ipa"]}, "eval_feature": "label",
                 "splits": ["train", "validation", "test"], "task_type": "classification", "classes": 3,
                 "label_names": names, "ipa": {"epitran": code}}
        if fmt == "tsv":
            entry.update(train_features={"normal": ["sentence"], "ipa": ["sentence_ipa"]},
                         eval_feature="target")
        entries[language] = {"sentiment": {name: dict(entry, dataset=os.path.join(out, "data", name))
                                           for name in (language, f"{language}-second")}}
    with open(os.path.join(out, "db.json"), "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    config = os.path.join(out, "study.json")
    with open(config, "w", encoding="utf-8") as f:
        json.dump({"study": "bench-prepare", "task": "sentiment", "languages": {k: k for k in SHAPES},
                   "paths": {"language_database": os.path.join(out, "db.json"),
                             "hf_cache": os.path.join(out, "hf-cache")}}, f)
    return config


def cpu_pressure():
    """Linux PSI: % of the last 10 s in which some runnable task waited for a CPU (other jobs)."""
    try:
        with open("/proc/pressure/cpu", encoding="utf-8") as f:
            return f.readline().split()[1].split("=")[1]
    except (OSError, IndexError):
        return "?"


def prepare(config, language, dataset, raw, workers, cache):
    """One prepare-data.py run (train = raw, validation carved, test = raw's last tenth);
    -> (prepare.json, CPU pressure before and after)."""
    cmd = [sys.executable, os.path.join(PROJECT, "prepare-data.py"), config, "--language", language,
           "--dataset", dataset, "--input", f"train={raw['train']}", "--input", f"test={raw['test']}",
           "--validation-from", "train:0.1", "--workers", str(workers), "--cache-dir", cache, "--force"]
    before = cpu_pressure()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(os.path.dirname(config), "data", dataset, "prepare.json"), encoding="utf-8") as f:
        return json.load(f), f"{before} -> {cpu_pressure()}"


def row(language, what, run, chars):
    (_, pressure), c = run, run[0]["cache"]
    calls = c["epitran_calls"]
    rate = f"{c['new_per_second']:,.0f}" if calls else "-"
    per_cpu = f"{calls / c['epitran_cpu_seconds']:,.0f}" if calls else "-"
    return (f"| {language} | {what} | {c['unique_texts']:,} | {chars:.0f} | {calls:,} | "
            f"{c['hits'] / c['unique_texts']:.0%} | {c['seconds']:.1f} | {rate} | {per_cpu} | {pressure} |")


def length_sweep(rng):
    """Characters per CPU-second of epitran alone (in this process) against the length of the text."""
    sys.path.insert(0, PROJECT)
    from ipa_finetune.prepare.transcribe import load_backend

    lines = ["| language | sentences per text | chars/text | chars per CPU-second |", "|---|---|---|---|"]
    for language, (code, *_rest) in SHAPES.items():
        composer = Composer(load_source(os.path.join(PROJECT, "demo", "text", f"{language}.json5")))
        transliterate = load_backend(code)
        for k in (1, 2, 6, 12):
            texts = [" ".join(composer.review(rng.choice(LABELS), rng) for _ in range(k))
                     for _ in range(600 // k)]
            start = time.process_time()
            for text in texts:
                transliterate(text)
            chars = sum(map(len, texts))
            lines.append(f"| {language} | {k} | {chars / len(texts):.0f} | "
                         f"{chars / (time.process_time() - start):,.0f} |")
    return lines


def main(argv=None):
    args = parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    config = write_study(args.out)
    rng = random.Random(args.seed)
    lines = ["| language | run | unique texts | chars/text | epitran calls | cache hits | transcription s "
             "| new strings/s | strings per CPU-second | CPU pressure % |", "|---" * 10 + "|"]
    for language, n in (("russian", args.posts), ("polish", args.reviews)):
        if n == 0:  # --posts 0 or --reviews 0: leave that language out
            continue
        rows = compose(language, n + n // 2, rng)
        first, second = rows[:n], rows[n // 2:]  # the second dataset: half old texts, half new
        raw = {"first": {}, "second": {}}
        for name, part in (("first", first), ("second", second)):
            cut = len(part) * 9 // 10
            for split, items in (("train", part[:cut]), ("test", part[cut:])):
                path = os.path.join(args.out, f"{language}-{name}-{split}.{SHAPES[language][2]}")
                write_raw(path, language, items)
                raw[name][split] = path
        chars = sum(len(t) for t, _ in first) / len(first)
        for workers in args.workers:
            cache = os.path.join(args.out, f"cache-{language}-{workers}")
            lines.append(row(language, f"--workers {workers}, empty cache",
                             prepare(config, language, language, raw["first"], workers, cache), chars))
        workers = max(args.workers)  # the last cache is warm: same texts, then half of them again
        again = prepare(config, language, language, raw["first"], workers, cache)
        second = prepare(config, language, f"{language}-second", raw["second"], workers, cache)
        lines += [row(language, "re-run, warm cache", again, chars),
                  row(language, "second dataset, half shared", second, chars)]
    print("\n".join(lines + [""] + length_sweep(rng)))


if __name__ == "__main__":
    main()
