"""Fine-tuning throughput: this project's pipeline against Hugging Face GPT-2, in one process.

    .venv/bin/python bench/bench_throughput.py                    # README's figures (make bench)
    .venv/bin/python bench/bench_throughput.py --tiny --json /tmp/bench.json   # smoke run, seconds
    python bench/bench_throughput.py --device cuda                # on a GPU, bf16 autocast

Fine-tunes the same synthetic variable-length classification data (token lengths lognormal: most
short, a long tail cut at the block size) for the same number of optimizer steps (one epoch) three ways:
  (a) NanoGPTForSequenceClassification fed by this project's pipeline (ipa_finetune.data: tokenize +
      cache map, length-grouped batches, dynamic-padding collator);
  (b) transformers' GPT2ForSequenceClassification of identical size (exact gelu, sdpa), same pipeline;
  (c) (b) fed as transformers' text-classification example (run_glue.py) does by default: every example
      padded to max_length when tokenized, random batches, default_data_collator.
All three run through the Trainer arguments finetune-exp.py uses (ipa_finetune.hf_trainer), with
evaluation and checkpoint saving off. Also prints the measured matmul peak, the share of it each
pipeline reaches on real tokens, and the time to preprocess (load + tokenize + cache) many examples,
cold and warm. See bench/README.md for the figures and how they are measured.
"""
import argparse
import contextlib
import ctypes
import dataclasses
import functools
import gc
import json
import math
import os
import random
import resource
import sys
import tempfile
import time
import types

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ipa_finetune.cli import exit_on_user_error, int_at_least, positive_int  # noqa: E402
from ipa_finetune.errors import UserError  # noqa: E402

CLASSES = ["negative", "neutral", "positive"]
EOS = "<|endoftext|>"
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "go", "zu", "fi", "be", "ho",
             "sto", "pra", "vel", "nik", "szy", "dro", "zha", "ost", "wie", "kra")


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
# Synthetic data


@functools.lru_cache(maxsize=None)
def word_list(seed, n):
    """n distinct pseudo-words of 1-4 syllables."""
    rng = random.Random(seed)
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def synthetic_rows(n, seed, size, max_words):
    """n rows {"text", "label"}: Zipf-distributed words, lognormal word counts (most sentences short,
    a long tail), labels from the first word so that the task is learnable."""
    rng = random.Random(seed)
    words = word_list(0, 3000)
    weights = [1.0 / (r + 1) for r in range(len(words))]
    rows = []
    for _ in range(n):
        k = min(max_words, max(1, round(rng.lognormvariate(math.log(size.median_words), size.sigma))))
        chosen = rng.choices(words, weights, k=k)
        rows.append({"text": " ".join(chosen), "label": CLASSES[len(chosen[0]) % len(CLASSES)]})
    return rows


def write_jsonl(folder, split, rows):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{split}.jsonl"), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return folder


def build_tokenizer(root, size):
    """A byte-level BPE (what nanoGPT users train) on the synthetic text, loaded by the project's
    ipa_finetune.tokenization.load_tokenizer (a fresh instance per call: a tokenizer called with
    padding="max_length" keeps that setting, which changes its cache fingerprint). Its ids stay below
    the model's vocab_size."""
    from tokenizers import ByteLevelBPETokenizer

    from ipa_finetune.tokenization import load_tokenizer

    prefix = os.path.join(root, "tokenizers")
    if not os.path.exists(os.path.join(prefix, "bench-vocab.json")):
        os.makedirs(prefix, exist_ok=True)
        corpus = [r["text"] for r in synthetic_rows(3000, 99, size, 64)]
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(corpus, vocab_size=min(4096, size.vocab_size), min_frequency=2,
                                special_tokens=[EOS], show_progress=False)
        bpe.save_model(prefix, "bench")
    cfg = {"paths": {"tokenizer_prefix": prefix}, "tokenizer": {"eos_token": EOS},
           "model_types": {"normal": {"model_prefix": "normal", "tokenizer": "bench"}}}
    return load_tokenizer(cfg, "normal")


def dataset_spec(folder):
    from ipa_finetune.config_loader import DatasetSpec

    return DatasetSpec(language="synthetic", task="sentiment", name="bench", dataset=folder, subset=None,
                       train_features=["text"], eval_feature="label", train_split="train",
                       eval_split="train", test_split=None, task_type="classification", classes=3,
                       label_names=list(CLASSES), data_format=None, database="bench")


def project_dataset(folder, tokenizer, max_length, cache_dir):
    """The train split through the project's pipeline: load_language + encode (cached map)."""
    from ipa_finetune import data
    from ipa_finetune.tokenization import tokenizer_fingerprint

    spec = dataset_spec(folder)
    split, raw = data.load_language(spec, "normal", ["train"], cache_dir)["train"]
    encoded = data.encode(raw, spec, split, "normal", tokenizer, tokenizer_fingerprint(tokenizer),
                          max_length, cache_dir)
    return raw, encoded


def padded_dataset(raw, tokenizer, max_length):
    """run_glue.py's default preprocessing: padding="max_length", truncation, labels as ids."""
    ids = {name: i for i, name in enumerate(CLASSES)}

    def preprocess(batch):
        out = tokenizer(batch["text"], padding="max_length", max_length=max_length, truncation=True)
        out["labels"] = [ids[v] for v in batch["label"]]
        return out

    return raw.map(preprocess, batched=True, remove_columns=raw.column_names, keep_in_memory=True)


def time_preprocessing(root, size):
    """Seconds to load (json -> arrow) and tokenize + cache `preprocess_examples` rows through the
    project's pipeline, with an empty HF cache (cold) and again with the cache the first pass wrote
    (warm: what the jobs of a grid and a resumed job see)."""
    from ipa_finetune import data
    from ipa_finetune.tokenization import tokenizer_fingerprint

    folder = write_jsonl(os.path.join(root, "preprocess"), "train",
                         synthetic_rows(size.preprocess_examples, 7, size, 4 * size.block_size))
    cache_dir = os.path.join(root, "preprocess-cache")
    tokenizer = build_tokenizer(root, size)
    spec = dataset_spec(folder)
    out = {"examples": size.preprocess_examples}
    for kind in ("cold", "warm"):
        start = time.perf_counter()
        split, raw = data.load_language(spec, "normal", ["train"], cache_dir)["train"]
        loaded = time.perf_counter()
        data.encode(raw, spec, split, "normal", tokenizer, tokenizer_fingerprint(tokenizer), size.block_size,
                    cache_dir)
        out[f"{kind}_load_s"], out[f"{kind}_tokenize_s"] = loaded - start, time.perf_counter() - loaded
        out[f"{kind}_s"] = time.perf_counter() - start
    return out


# ---------------------------------------------------------------------------------------------------
# Models


def project_model(root, size):
    """(a): a random nanoGPT written as train.py writes ckpt.pt, loaded the project's way."""
    import torch

    from hf_wrapper import NanoGPTForSequenceClassification
    from model import GPT, GPTConfig, save_checkpoint

    path = os.path.join(root, "checkpoint", "ckpt.pt")
    if not os.path.exists(path):
        torch.manual_seed(0)
        save_checkpoint(GPT(GPTConfig(n_layer=size.n_layer, n_head=size.n_head, n_embd=size.n_embd,
                                      block_size=size.block_size, vocab_size=size.vocab_size,
                                      dropout=0.0, bias=True)), path)
    model = NanoGPTForSequenceClassification.from_nanogpt_checkpoint(path, len(CLASSES), seed=0, dropout=0.0)
    model.config.pad_token_id = model.config.eos_token_id = 0
    return model


def gpt2_model(size, pad_token_id):
    """(b), (c): transformers' GPT-2 classifier of the same size, exact gelu as nanoGPT, no dropout."""
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    config = GPT2Config(n_layer=size.n_layer, n_head=size.n_head, n_embd=size.n_embd,
                        n_positions=size.block_size, vocab_size=size.vocab_size,
                        activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        num_labels=len(CLASSES), pad_token_id=pad_token_id, bos_token_id=pad_token_id,
                        eos_token_id=pad_token_id, attn_implementation="sdpa")
    return GPT2ForSequenceClassification(config)


# ---------------------------------------------------------------------------------------------------
# Measuring


def matmul_peak(n, device):
    """Best FLOP/s of an n x n @ n x n matmul: float32 on the CPU, bfloat16 on a GPU."""
    import torch

    n = n or (8192 if device == "cuda" else 2048)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if device == "cuda" else 1
    best = math.inf
    for _ in range(8):
        sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - start) / reps)
    return {"flops": 2 * n ** 3 / best, "n": n, "dtype": str(dtype).replace("torch.", "")}


def sync(device):
    if device == "cuda":
        import torch
        torch.cuda.synchronize()


class PeakMemory:
    """Peak memory of what runs inside the `with`. GPU: torch.cuda.max_memory_allocated. CPU: the
    process's peak resident set (VmHWM) minus its resident set at the start, after giving free heap
    back to the OS (malloc_trim) and resetting the kernel's peak counter (/proc/self/clear_refs 5):
    weights, gradients, optimizer state, activations and allocator slack, as the OS sees them."""

    def __init__(self, device):
        self.device = device
        self.bytes = None
        self.method = None

    def __enter__(self):
        gc.collect()
        if self.device == "cuda":
            import torch
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            self.method = "torch.cuda.max_memory_allocated"
            return self
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "peak RSS delta (VmHWM reset via /proc/self/clear_refs)"
        except OSError:
            self.method = "process peak RSS (ru_maxrss; includes earlier runs)"
        self.base = _status_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            import torch
            self.bytes = torch.cuda.max_memory_allocated() - self.base
        elif self.method.startswith("peak RSS delta"):
            self.bytes = _status_kib("VmHWM") * 1024 - self.base
        else:
            self.bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return False


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def step_timer(device, total_steps):
    """A TrainerCallback timing the start of the first optimizer step -> the end of the last. The first
    batch is fetched before the first step starts, so that starting data loader workers (on a GPU)
    is not counted: a real run starts them once for thousands of steps."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        start = end = None

        def on_step_begin(self, args, state, control, **kwargs):
            if self.start is None:
                sync(device)
                self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == total_steps:
                sync(device)
                self.end = time.perf_counter()

    return StepTimer()


def trainer_arguments(size, device, threads, out_dir, steps, grouped):
    """The Trainer arguments of finetune-exp.py (ipa_finetune.hf_trainer.training_arguments on the
    project's default hyperparameters), minus evaluation, saving and logging, for `steps` steps."""
    import torch

    from ipa_finetune.config_loader import read_json5, resolve_path
    from ipa_finetune.hf_trainer import training_arguments

    hp = dict(read_json5(resolve_path("config/default.json"))["hyperparameters"],
              batch_size=size.batch_size, max_length=size.block_size, epochs=1)
    plan = types.SimpleNamespace(cfg={"hyperparameters": hp, "wandb": {"enabled": False}},
                                 checkpoints_dir=out_dir, run_id="bench")
    prep = types.SimpleNamespace(train=range(steps * size.batch_size))
    cuda = device == "cuda"
    args = training_arguments(plan, prep, threads)
    changes = dict(max_steps=steps, eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
                   logging_strategy="no", disable_tqdm=True, use_cpu=not cuda,
                   bf16=cuda and torch.cuda.is_bf16_supported(), dataloader_pin_memory=cuda,
                   dataloader_num_workers=args.dataloader_num_workers if cuda else 0)
    if not grouped:  # run_glue.py: random batches
        changes.update(train_sampling_strategy="random", length_column_name="length")
    return dataclasses.replace(args, **changes)


def quiet(trainer):
    """No metrics printout at the end of training (disable_tqdm makes the Trainer print them)."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def train_once(model, dataset, collator, size, device, threads, root, grouped):
    """Warm up for size.warmup_steps, then train one timed epoch of size.steps steps. Returns seconds
    and the tokens fed to the model (padding included)."""
    from transformers import Trainer

    computed = [0]
    hook = model.register_forward_pre_hook(
        lambda m, args, kwargs: computed.__setitem__(0, computed[0] + kwargs["input_ids"].numel()),
        with_kwargs=True)
    try:
        if size.warmup_steps:
            args = trainer_arguments(size, device, threads, os.path.join(root, "out"), size.warmup_steps, grouped)
            quiet(Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)).train()
        computed[0] = 0
        timer = step_timer(device, size.steps)
        args = trainer_arguments(size, device, threads, os.path.join(root, "out"), size.steps, grouped)
        quiet(Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                      callbacks=[timer])).train()
    finally:
        hook.remove()
    return timer.end - timer.start, computed[0]


def measure(make_model, dataset, collator, size, device, threads, root, grouped):
    """One timed run of a pipeline on a fresh model -> (seconds, tokens computed, peak memory)."""
    with PeakMemory(device) as mem:
        model = make_model()
        seconds, computed = train_once(model, dataset, collator, size, device, threads, root, grouped)
        del model
    return seconds, computed, mem


def summarize(name, runs, real, flops, peak_flops):
    """Figures of one pipeline from its runs: the fastest run counts (noise only ever slows a run)."""
    seconds = min(r[0] for r in runs)
    computed = runs[0][1]
    return {"name": name, "seconds": seconds, "runs_seconds": [r[0] for r in runs],
            "examples_per_s": real["examples"] / seconds, "real_tokens_per_s": real["tokens"] / seconds,
            "fed_tokens": computed, "padding_share": 1 - real["tokens"] / computed,
            "peak_memory_bytes": max(r[2].bytes for r in runs), "memory_method": runs[0][2].method,
            "flops_per_s": flops / seconds, "matmul_peak_share": flops / seconds / peak_flops}


def train_flops(size, n_params, lengths):
    """Training FLOPs on real tokens: 6 * non-embedding params * tokens (forward 2, backward 4) plus
    attention 12 * n_layer * n_embd * n^2 per example of n real tokens (QK^T and AV, forward and
    backward, the full n x n square as nanoGPT's estimate_mfu counts it)."""
    tokens = sum(lengths)
    return 6 * n_params * tokens + 12 * size.n_layer * size.n_embd * sum(n * n for n in lengths)


def non_embedding_params(model):
    """Parameters minus the token and position embeddings (lookups, no matmul)."""
    emb = model.gpt.transformer.wte.weight.numel() + model.gpt.transformer.wpe.weight.numel()
    return sum(p.numel() for p in model.parameters()) - emb


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


def versions():
    import datasets
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "datasets": datasets.__version__}


def cpu_name():
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    import platform
    return platform.processor() or "unknown CPU"


def machine(device, threads):
    import torch

    name = f"cuda:{torch.cuda.get_device_name(0)}" if device == "cuda" else "cpu"
    return {"cpu": f"{cpu_name()} ({os.cpu_count()} cores)", "device": name, "threads": threads,
            "load_before": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------------------------------------------


def run(size, device, threads, root, preprocess=True, which="abc"):
    """The whole benchmark; returns the result dict."""
    import datasets

    from ipa_finetune.hf_trainer import LengthDroppingCollator
    from ipa_finetune.training import set_threads
    from transformers import default_data_collator

    set_threads(threads)
    datasets.disable_progress_bars()
    gc.freeze()  # the imported libraries' objects: every gc.collect (the Trainer runs some) skips them
    res = {"machine": machine(device, threads), "versions": versions(), "size": dataclasses.asdict(size)}
    tokenizer = build_tokenizer(root, size)
    rows = synthetic_rows(size.steps * size.batch_size, 1, size, 4 * size.block_size)
    raw, grouped_ds = project_dataset(write_jsonl(os.path.join(root, "train"), "train", rows), tokenizer,
                                      size.block_size, os.path.join(root, "cache"))
    padded_ds = padded_dataset(raw, tokenizer, size.block_size)
    lengths = list(grouped_ds["length"])
    if sum(map(sum, padded_ds["attention_mask"])) != sum(lengths):
        raise RuntimeError("(c)'s padded data does not hold the same real tokens as (a)'s")
    real = {"examples": len(lengths), "tokens": sum(lengths)}
    srt = sorted(lengths)
    res["data"] = {"examples": len(lengths), "steps": size.steps, "batch": size.batch_size,
                   "mean": sum(lengths) / len(lengths), "median": srt[len(srt) // 2],
                   "p95": srt[int(0.95 * (len(srt) - 1))], "max": srt[-1], "real_tokens": sum(lengths)}

    peaks = [matmul_peak(size.matmul_n, device)]
    ours = lambda: project_model(root, size)  # noqa: E731
    theirs = lambda: gpt2_model(size, tokenizer.eos_token_id)  # noqa: E731
    n_params = non_embedding_params(ours())
    res["model"] = {k: getattr(size, k) for k in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")}
    res["model"]["non_embedding_params"] = n_params
    collate = LengthDroppingCollator(tokenizer)
    pipelines = {
        "(a) nanoGPT, project pipeline": (ours, grouped_ds, collate, True),
        "(b) HF GPT-2, project pipeline": (theirs, grouped_ds, collate, True),
        "(c) HF GPT-2, padded to max_length": (theirs, padded_ds, default_data_collator, False),
    }
    pipelines = {name: p for name, p in pipelines.items() if name[1] in which}
    # one untimed step of a 1-layer model first: the lazy imports and one-time buffers of the Trainer,
    # torch and MKL then count against no pipeline's time or memory
    one = dataclasses.replace(size, n_layer=1, steps=1, warmup_steps=0)
    train_once(gpt2_model(one, tokenizer.eos_token_id), grouped_ds, collate, one, device, threads, root, True)
    runs = {name: [] for name in pipelines}
    for _ in range(size.repeats):  # a, b, c, a, b, c, ...: a noisy spell hits every pipeline alike
        for name, (make, ds, coll, grouped) in pipelines.items():
            runs[name].append(measure(make, ds, coll, size, device, threads, root, grouped))
            print(f"  {name}: {real['examples'] / runs[name][-1][0]:.1f} examples/s", file=sys.stderr, flush=True)
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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train: cuda (bf16 autocast) or cpu (float32); auto = cuda when present")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: the CPUs this process may use)")
    p.add_argument("--tiny", action="store_true",
                   help="smoke run: a 2-layer 32-wide model, 3 steps of 4 examples, 1000 examples "
                        "preprocessed (seconds; the figures mean nothing)")
    for field, unit in (("n_layer", "transformer blocks"), ("n_head", "attention heads"),
                        ("n_embd", "model width"), ("block_size", "max tokens per example (max_length)"),
                        ("vocab_size", "embedding rows"), ("batch_size", "examples per step"),
                        ("steps", "timed optimizer steps (one epoch of steps x batch_size examples)"),
                        ("warmup_steps", "untimed steps before the timed epoch"),
                        ("preprocess_examples", "examples tokenized for the preprocessing timing"),
                        ("matmul_n", "matrix size of the matmul peak measurement (default 2048 on a "
                                     "CPU, 8192 on a GPU)"),
                        ("repeats", "runs per pipeline; the fastest counts (noisy machines)")):
        default = f" (default {getattr(d, field)})" if getattr(d, field) else ""
        kind = count if field == "warmup_steps" else positive_int
        p.add_argument("--" + field.replace("_", "-"), dest=field, type=kind, default=None,
                       help=unit + default)
    p.add_argument("--median-words", type=float, default=None,
                   help=f"median words per synthetic example (default {d.median_words})")
    p.add_argument("--pipelines", default="abc", type=pipeline_letters,
                   help="which pipelines to run, e.g. ab to leave out the slow (c) (default abc)")
    p.add_argument("--no-preprocess", action="store_true", help="skip the preprocessing timing")
    p.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    return p.parse_args(argv)


def size_from_args(args):
    base = dataclasses.asdict(Size())
    if args.tiny:
        base.update(TINY)
    for field in base:
        if getattr(args, field, None) is not None:
            base[field] = getattr(args, field)
    size = Size(**base)
    if size.n_embd % size.n_head:
        raise UserError(f"--n-embd {size.n_embd} is not divisible by --n-head {size.n_head}; "
                        "pick n_embd a multiple of n_head")
    return size


def pick_device(name):
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                        "use --device cpu or auto")
    return name


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    size = size_from_args(args)
    device = pick_device(args.device)
    threads = args.threads or len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="ipa-bench-") as root:
        res = run(size, device, threads, root, preprocess=not args.no_preprocess, which=args.pipelines)
    print(format_report(res))
    if args.json:
        from ipa_finetune.runs import write_json_atomic
        write_json_atomic(args.json, res)
    return res


if __name__ == "__main__":
    main()
