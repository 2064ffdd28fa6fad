"""Fine-tuning throughput: this project's pipeline against Hugging Face GPT-2, in one process.

    .venv/bin/python bench/bench_throughput.py                    # docs/performance.md's figures (make bench)
    .venv/bin/python bench/bench_throughput.py --tiny --json /tmp/bench.json   # smoke run, seconds
    python bench/bench_throughput.py --device cuda                # on a GPU, bf16 autocast

Fine-tunes the same synthetic variable-length classification data (token lengths lognormal: most
short, a long tail cut at the block size) for the same number of optimizer steps (one epoch) three ways:
  (a) NanoGPTForSequenceClassification fed by this project's pipeline (ipa_finetune.train.data: tokenize +
      cache map, length-grouped batches, dynamic-padding collator);
  (b) transformers' GPT2ForSequenceClassification of identical size (exact gelu, sdpa), same pipeline;
  (c) (b) fed as transformers' text-classification example (run_glue.py) does by default: every example
      padded to max_length when tokenized, random batches, default_data_collator.
All three run through the Trainer arguments finetune-exp.py uses (ipa_finetune.train.trainer), with
evaluation and checkpoint saving off. Also prints the measured matmul peak, the share of it each
pipeline reaches on real tokens, and the time to preprocess (load + tokenize + cache) many examples,
cold and warm. See docs/performance.md for the figures and how they are measured.
"""
import argparse
import dataclasses
import gc
import os
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(BENCH_DIR), BENCH_DIR]  # ipa_finetune, model.py; the throughput_* parts

from ipa_finetune.cli import exit_on_user_error, int_at_least  # noqa: E402 (offline from here on)
from ipa_finetune.cpus import usable_cpus  # noqa: E402
from ipa_finetune.provenance import versions  # noqa: E402
from harness import (add_common_flags, add_size_flags, machine, pick_device,  # noqa: E402
                     size_from_args)
from throughput_data import (build_tokenizer, gpt2_model, padded_dataset, project_dataset,  # noqa: E402
                             project_model, synthetic_rows, time_preprocessing, write_jsonl)
from throughput_timing import (matmul_peak, measure, non_embedding_params, summarize,  # noqa: E402
                               train_flops, train_once)


@dataclasses.dataclass
class Size:
    """What is trained and measured. Defaults: a small IPA-GPT-like model at the project's defaults
    (batch_size 32, max_length = block_size 256), nanoGPT's GPT-2 vocabulary size."""
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    block_size: int = 256
    vocab_size: int = 50304
    batch_size: int = 32
    steps: int = 24
    warmup_steps: int = 2
    median_words: float = 24.0  # lognormal sentence lengths: median and sigma of log(words)
    sigma: float = 0.9
    preprocess_examples: int = 100_000
    matmul_n: int = 0  # 0: 2048 on a CPU, 8192 on a GPU (large enough to reach the peak)
    repeats: int = 1


TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=512, batch_size=4, steps=3,
            warmup_steps=1, median_words=8.0, preprocess_examples=1000, matmul_n=256)


# ---------------------------------------------------------------------------------------------------
# Reporting


def format_report(res):
    """The benchmark's figures as text (pure)."""
    m = res["machine"]
    lines = [f"machine: {m['cpu']}, {m['threads']} torch thread(s), device {m['device']}, "
             f"load average {m['load_before']} -> {m['load_after']}",
             f"versions: {', '.join(f'{k} {v}' for k, v in res['versions'].items())}",
             "data: {examples} train examples, {steps} steps of batch {batch}, real tokens/example "
             "mean {mean:.1f} median {median} p95 {p95} max {max}".format(**res["data"]),
             "model: n_layer {n_layer}, n_head {n_head}, n_embd {n_embd}, block {block_size}, vocab "
             "{vocab_size}; {non_embedding_params:,} non-embedding params".format(**res["model"]),
             "",
             f"{'pipeline':44} {'examples/s':>10} {'real tok/s':>11} {'pad fed':>8} {'peak MiB':>9} "
             f"{'of peak':>8}"]
    for r in res["pipelines"]:
        lines.append(f"{r['name']:44} {r['examples_per_s']:10.1f} {r['real_tokens_per_s']:11.0f} "
                     f"{r['padding_share']:8.1%} {r['peak_memory_bytes'] / 2 ** 20:9.0f} "
                     f"{r['matmul_peak_share']:8.1%}")
    p = res["matmul_peak"]
    lines += ["pad fed: share of padding in the batches the pipeline feeds; (a)'s model drops it before "
              "its blocks (packed tokens)",
              f"runs per pipeline: {res['size']['repeats']} (interleaved; the fastest counts)", ""]
    if res["ratios"]:
        lines.append("   ".join(f"ratio {k} (examples/s): {v:.2f}" for k, v in res["ratios"].items()))
    lines.append(f"matmul peak: {p['flops'] / 1e9:.1f} GFLOP/s ({p['dtype']} {p['n']}x{p['n']} @ "
                 f"{p['n']}x{p['n']}, best of 8, before and after the runs)")
    for r in res["pipelines"][:1]:
        lines.append(f"{r['name'][:3]} on real tokens: {r['flops_per_s'] / 1e9:.1f} GFLOP/s = "
                     f"{r['matmul_peak_share']:.1%} of the matmul peak [FLOPs = {res['flops_formula']}]")
    lines.append(f"peak memory: {res['pipelines'][0]['memory_method']}")
    pre = res.get("preprocessing")
    if pre:
        lines.append(f"preprocessing (load + tokenize + cache) of {pre['examples']:,} examples: "
                     f"cold {pre['cold_s']:.2f} s (tokenize + cache {pre['cold_tokenize_s']:.2f} s), "
                     f"warm {pre['warm_s']:.2f} s (tokenize + cache {pre['warm_tokenize_s']:.2f} s)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------


def prepare_data(root, size, tokenizer):
    """(a)/(b)'s length-grouped dataset, (c)'s padded one, the real lengths, and their summary."""
    rows = synthetic_rows(size.steps * size.batch_size, 1, size, 4 * size.block_size)
    raw, grouped_ds = project_dataset(write_jsonl(os.path.join(root, "train"), "train", rows), tokenizer,
                                      size.block_size, os.path.join(root, "cache"))
    padded_ds = padded_dataset(raw, tokenizer, size.block_size)
    lengths = list(grouped_ds["length"])
    if sum(map(sum, padded_ds["attention_mask"])) != sum(lengths):
        raise RuntimeError("(c)'s padded data does not hold the same real tokens as (a)'s")
    srt = sorted(lengths)
    summary = {"examples": len(lengths), "steps": size.steps, "batch": size.batch_size,
               "mean": sum(lengths) / len(lengths), "median": srt[len(srt) // 2],
               "p95": srt[int(0.95 * (len(srt) - 1))], "max": srt[-1], "real_tokens": sum(lengths)}
    return grouped_ds, padded_ds, lengths, summary


def warm_up(size, tokenizer, grouped_ds, device, threads, root):
    """One untimed step of a 1-layer model: the lazy imports and one-time buffers of the Trainer,
    torch and MKL then count against no pipeline's time or memory."""
    from ipa_finetune.train.trainer import LengthDroppingCollator

    one = dataclasses.replace(size, n_layer=1, steps=1, warmup_steps=0)
    train_once(gpt2_model(one, tokenizer.eos_token_id), grouped_ds, LengthDroppingCollator(tokenizer), one,
               device, threads, root, True)


def time_pipelines(pipelines, size, device, threads, root, real):
    """{name: [measure() per repeat]}, the pipelines interleaved: a, b, c, a, b, c, ... (a noisy spell
    hits every pipeline alike)."""
    runs = {name: [] for name in pipelines}
    for _ in range(size.repeats):
        for name, (make, ds, coll, grouped) in pipelines.items():
            runs[name].append(measure(make, ds, coll, size, device, threads, root, grouped))
            print(f"  {name}: {real['examples'] / runs[name][-1][0]:.1f} examples/s", file=sys.stderr, flush=True)
    return runs


def pipeline_table(root, size, tokenizer, grouped_ds, padded_ds, which):
    """{name: (model maker, dataset, collator, length-grouped)} of the pipelines `which` names."""
    from ipa_finetune.train.trainer import LengthDroppingCollator
    from transformers import default_data_collator

    ours = lambda: project_model(root, size)  # noqa: E731
    theirs = lambda: gpt2_model(size, tokenizer.eos_token_id)  # noqa: E731
    collate = LengthDroppingCollator(tokenizer)
    pipelines = {
        "(a) nanoGPT, project pipeline": (ours, grouped_ds, collate, True),
        "(b) HF GPT-2, project pipeline": (theirs, grouped_ds, collate, True),
        "(c) HF GPT-2, padded to max_length": (theirs, padded_ds, default_data_collator, False),
    }
    return {name: p for name, p in pipelines.items() if name[1] in which}


def run(size, device, threads, root, preprocess=True, which="abc"):
    """The whole benchmark; returns the result dict."""
    import datasets

    from ipa_finetune.train.pipeline import set_threads

    set_threads(threads)
    datasets.disable_progress_bars()
    gc.freeze()  # the imported libraries' objects: every gc.collect (the Trainer runs some) skips them
    res = {"machine": machine(device, threads), "versions": versions(), "size": dataclasses.asdict(size)}
    tokenizer = build_tokenizer(root, size)
    grouped_ds, padded_ds, lengths, res["data"] = prepare_data(root, size, tokenizer)
    real = {"examples": len(lengths), "tokens": sum(lengths)}
    peaks = [matmul_peak(size.matmul_n, device)]
    n_params = non_embedding_params(project_model(root, size))
    res["model"] = {k: getattr(size, k) for k in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")}
    res["model"]["non_embedding_params"] = n_params
    pipelines = pipeline_table(root, size, tokenizer, grouped_ds, padded_ds, which)
    warm_up(size, tokenizer, grouped_ds, device, threads, root)
    runs = time_pipelines(pipelines, size, device, threads, root, real)
    peaks.append(matmul_peak(size.matmul_n, device))
    res["matmul_peak"] = max(peaks, key=lambda p: p["flops"])
    flops = train_flops(size, n_params, lengths)
    res["pipelines"] = [summarize(name, runs[name], real, flops, res["matmul_peak"]["flops"])
                        for name in pipelines]
    speed = {r["name"][1]: r["examples_per_s"] for r in res["pipelines"]}
    res["ratios"] = {f"a/{k}": speed["a"] / speed[k] for k in "bc" if "a" in speed and k in speed}
    res["flops_formula"] = "6 * non-embedding params * real tokens + 12 * n_layer * n_embd * sum(n^2)"
    if preprocess:
        res["preprocessing"] = time_preprocessing(root, size)
    res["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    return res


count = int_at_least(0)


def pipeline_letters(text):
    if not text or set(text) - set("abc"):
        raise argparse.ArgumentTypeError(f"expected letters out of a, b, c (e.g. ab), got {text!r}")
    return text


def parse_args(argv=None):
    d = Size()
    p = argparse.ArgumentParser(description="Fine-tuning throughput of this project's pipeline vs Hugging "
                                            "Face GPT-2 (same pipeline, and padded to max_length).")
    add_common_flags(p, "where to train: cuda (bf16 autocast) or cpu (float32); auto = cuda when present",
                     "smoke run: a 2-layer 32-wide model, 3 steps of 4 examples, 1000 examples "
                     "preprocessed (seconds; the figures mean nothing)")
    add_size_flags(p, d, (
        ("n_layer", "transformer blocks"), ("n_head", "attention heads"), ("n_embd", "model width"),
        ("block_size", "max tokens per example (max_length)"), ("vocab_size", "embedding rows"),
        ("batch_size", "examples per step"),
        ("steps", "timed optimizer steps (one epoch of steps x batch_size examples)"),
        ("warmup_steps", "untimed steps before the timed epoch"),
        ("preprocess_examples", "examples tokenized for the preprocessing timing"),
        ("matmul_n", "matrix size of the matmul peak measurement (default 2048 on a CPU, 8192 on a GPU)"),
        ("repeats", "runs per pipeline; the fastest counts (noisy machines)")), kinds={"warmup_steps": count})
    p.add_argument("--median-words", type=float, default=None,
                   help=f"median words per synthetic example (default {d.median_words})")
    p.add_argument("--pipelines", default="abc", type=pipeline_letters,
                   help="which pipelines to run, e.g. ab to leave out the slow (c) (default abc)")
    p.add_argument("--no-preprocess", action="store_true", help="skip the preprocessing timing")
    p.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    return p.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    size = size_from_args(Size, TINY, args)
    device = pick_device(args.device)
    threads = args.threads or usable_cpus()
    with tempfile.TemporaryDirectory(prefix="ipa-bench-") as root:
        res = run(size, device, threads, root, preprocess=not args.no_preprocess, which=args.pipelines)
    print(format_report(res))
    if args.json:
        from ipa_finetune.files import write_json_atomic
        write_json_atomic(args.json, res)
    return res


if __name__ == "__main__":
    main()
