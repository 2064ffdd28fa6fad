"""The benchmark's measurements: matmul peak, peak memory, step timing, one timed Trainer epoch,
FLOPs. See bench_throughput.py."""
import contextlib
import ctypes
import dataclasses
import gc
import math
import os
import resource
import time
import types

from harness import sync


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
    """The Trainer arguments of finetune-exp.py (ipa_finetune.train.trainer.training_arguments on the
    project's default hyperparameters), minus evaluation, saving and logging, for `steps` steps."""
    import torch

    from ipa_finetune.config.reading import read_json5, resolve_path
    from ipa_finetune.train.trainer import training_arguments

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
