"""Generation throughput: nanoGPT with its key/value cache, without it, and Hugging Face GPT-2.

    .venv/bin/python bench/bench_generation.py                     # docs/seq2seq.md's figures
    .venv/bin/python bench/bench_generation.py --tiny --json /tmp/gen.json   # smoke run, seconds
    python bench/bench_generation.py --device cuda --batch-size 64           # on a GPU

One batch of random prompts (lengths uniform in [--prompt-min, --prompt-max] tokens, left-padded)
generates exactly N new tokens, greedy (min_new_tokens = max_new_tokens: no row stops early), for each
N of --new-tokens, three ways, all through transformers' generate() with the same settings:
  (a) hf_wrapper.NanoGPTForCausalLM, use_cache=True: model.py's blocks fill a DynamicCache, so each
      step computes the one new position;
  (b) the same model, use_cache=False: each step recomputes the whole prefix (what a model without
      a cache does);
  (c) transformers' GPT2LMHeadModel of the same size (exact gelu as nanoGPT, sdpa attention, no
      dropout), use_cache=True: what a user would otherwise take.
tokens/s = batch x N / seconds of the generate() call; the fastest of --repeats interleaved runs
(a, b, c, a, b, c, ...) counts. Ratios a/b (the cache's speed-up) and a/c (against GPT-2) are
printed, and whether (a) and (b) generated the same tokens. Random weights (nanoGPT's init): the
figures measure speed, never quality.
"""
import argparse
import dataclasses
import os
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(BENCH_DIR), BENCH_DIR]  # model.py, hf_wrapper.py, ipa_finetune; devices

from harness import (add_common_flags, add_size_flags, machine, pick_device, size_from_args,  # noqa: E402
                     sync)
from ipa_finetune.cli import exit_on_user_error  # noqa: E402 (offline from here on)
from ipa_finetune.cpus import default_cpus  # noqa: E402
from ipa_finetune.errors import UserError  # noqa: E402
from ipa_finetune.provenance import versions  # noqa: E402

VARIANTS = ("(a) nanoGPT, KV cache", "(b) nanoGPT, no cache", "(c) HF GPT-2, KV cache")


@dataclasses.dataclass
class Size:
    """What generates. Defaults: a small IPA-GPT-like model (bench_throughput.py's) with nanoGPT's
    GPT-2 vocabulary, a batch of short sources (a sentence) as a seq2seq evaluation has them."""
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    block_size: int = 256
    vocab_size: int = 50304
    batch_size: int = 8   # (b) recomputes every prefix: 128 tokens at batch 8 take ~45 s on one CPU core
    prompt_min: int = 8
    prompt_max: int = 40
    new_tokens: tuple = (16, 64, 128)
    num_beams: int = 1
    repeats: int = 2
    seed: int = 0


TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=512, batch_size=4, prompt_min=4,
            prompt_max=12, new_tokens=(4, 16), repeats=1)


def build_models(size, device):
    """(nanoGPT causal LM, GPT-2 LM head model) of the same size, random init, eval mode, on device."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from hf_wrapper import NanoGPTForCausalLM
    from model import GPTConfig

    torch.manual_seed(size.seed)
    config = GPTConfig(n_layer=size.n_layer, n_head=size.n_head, n_embd=size.n_embd, block_size=size.block_size,
                       vocab_size=size.vocab_size, dropout=0.0, bias=True)
    ours = NanoGPTForCausalLM.from_gpt_weights(config, None, eos_token_id=0)
    gpt2 = GPT2LMHeadModel(GPT2Config(
        n_layer=size.n_layer, n_head=size.n_head, n_embd=size.n_embd, n_positions=size.block_size,
        vocab_size=size.vocab_size, activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, bos_token_id=0, eos_token_id=0, pad_token_id=0, attn_implementation="sdpa"))
    return ours.to(device).eval(), gpt2.to(device).eval()


def prompt_batch(size, model):
    """Left-padded input_ids and attention_mask of batch_size random prompts, and their lengths."""
    import torch

    gen = torch.Generator().manual_seed(size.seed)
    lengths = torch.randint(size.prompt_min, size.prompt_max + 1, (size.batch_size,), generator=gen).tolist()
    prompts = [torch.randint(1, size.vocab_size, (n,), generator=gen) for n in lengths]
    input_ids, attention_mask = model.left_pad(prompts)
    return input_ids, attention_mask, lengths


def generate_once(model, input_ids, attention_mask, new_tokens, use_cache, num_beams, device):
    """(seconds, generated ids (B, new_tokens)) of one generate() call of exactly new_tokens tokens."""
    import torch
    from transformers import GenerationConfig

    gen = GenerationConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                           num_beams=num_beams, eos_token_id=0, pad_token_id=0, use_cache=use_cache)
    with torch.no_grad():
        sync(device)
        start = time.perf_counter()
        out = model.generate(input_ids, attention_mask=attention_mask, generation_config=gen)
        sync(device)
    seconds = time.perf_counter() - start
    if out.shape[1] != input_ids.shape[1] + new_tokens:
        raise RuntimeError(f"generated {out.shape[1] - input_ids.shape[1]} tokens, not {new_tokens}")
    return seconds, out[:, input_ids.shape[1]:].cpu()


def run(size, device, threads):
    """The whole benchmark; returns the result dict."""
    import torch

    torch.set_num_threads(threads)
    res = {"machine": machine(device, threads), "versions": versions(), "size": dataclasses.asdict(size)}
    ours, gpt2 = build_models(size, device)
    input_ids, attention_mask, lengths = prompt_batch(size, ours)
    variants = {VARIANTS[0]: (ours, True), VARIANTS[1]: (ours, False), VARIANTS[2]: (gpt2, True)}
    for model, use_cache in variants.values():  # untimed: lazy imports, one-time buffers
        generate_once(model, input_ids, attention_mask, 2, use_cache, size.num_beams, device)
    res["prompts"] = {"batch": size.batch_size, "min": min(lengths), "max": max(lengths),
                      "mean": sum(lengths) / len(lengths), "padded_to": input_ids.shape[1]}
    res["results"] = []
    for n in size.new_tokens:
        runs, outputs = {name: [] for name in variants}, {}
        for _ in range(size.repeats):
            for name, (model, use_cache) in variants.items():
                seconds, outputs[name] = generate_once(model, input_ids, attention_mask, n, use_cache,
                                                       size.num_beams, device)
                runs[name].append(seconds)
        speed = {name: size.batch_size * n / min(times) for name, times in runs.items()}
        a, b, c = (speed[v] for v in VARIANTS)
        res["results"].append({"new_tokens": n, "tokens_per_s": speed, "seconds": runs,
                               "ratios": {"a/b": a / b, "a/c": a / c},
                               "same_tokens_a_b": bool(torch.equal(outputs[VARIANTS[0]], outputs[VARIANTS[1]]))})
        print(f"  {n} new tokens: " + ", ".join(f"{k[:3]} {v:.0f} tok/s" for k, v in speed.items()),
              file=sys.stderr, flush=True)
    res["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    return res


def format_report(res):
    """The benchmark's figures as text (pure)."""
    m, s, p = res["machine"], res["size"], res["prompts"]
    lines = [f"machine: {m['cpu']}, {m['threads']} torch thread(s), device {m['device']}, "
             f"load average {m['load_before']} -> {m['load_after']}",
             f"versions: {', '.join(f'{k} {v}' for k, v in res['versions'].items())}",
             "model: n_layer {n_layer}, n_head {n_head}, n_embd {n_embd}, block {block_size}, vocab "
             "{vocab_size}, random weights".format(**s),
             f"batch: {p['batch']} prompts of {p['min']}-{p['max']} tokens (mean {p['mean']:.1f}), left-padded "
             f"to {p['padded_to']}; {'greedy' if s['num_beams'] == 1 else str(s['num_beams']) + ' beams'}, "
             f"exactly N new tokens; fastest of {s['repeats']} interleaved run(s)",
             "",
             f"{'new tokens N':>12} " + " ".join(f"{v[:3] + ' tok/s':>11}" for v in VARIANTS)
             + f" {'a/b':>6} {'a/c':>6}  same tokens a, b"]
    for r in res["results"]:
        same = "yes" if r["same_tokens_a_b"] else "NO"
        lines.append(f"{r['new_tokens']:12d} " + " ".join(f"{r['tokens_per_s'][v]:11.1f}" for v in VARIANTS)
                     + f" {r['ratios']['a/b']:6.2f} {r['ratios']['a/c']:6.2f}  {same}")
    lines += ["", "a/b: the key/value cache's speed-up; a/c: nanoGPT with its cache against transformers' "
              "GPT-2 with its own, same size, same generate() loop"]
    return "\n".join(lines)


def token_counts(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def parse_args(argv=None):
    d = Size()
    p = argparse.ArgumentParser(description="Generation throughput of nanoGPT with and without its key/value "
                                            "cache, and of Hugging Face GPT-2 of the same size.")
    add_common_flags(p, "where to generate (float32); auto = cuda when present",
                     "smoke run: a 2-layer 32-wide model, 4 prompts, 4 and 16 new tokens (seconds; the figures "
                     "mean nothing)")
    p.add_argument("--new-tokens", type=token_counts, default=None,
                   help="output lengths N to time, comma-separated (default 16,64,128)")
    add_size_flags(p, d, (
        ("n_layer", "transformer blocks"), ("n_head", "attention heads"), ("n_embd", "model width"),
        ("block_size", "positions: prompt + new tokens must fit"), ("vocab_size", "embedding rows"),
        ("batch_size", "prompts generated together"), ("prompt_min", "shortest prompt, tokens"),
        ("prompt_max", "longest prompt, tokens"), ("num_beams", "1: greedy; more: beam search"),
        ("repeats", "runs per variant and N; the fastest counts (noisy machines)")))
    p.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    return p.parse_args(argv)


def checked_size(args):
    size = size_from_args(Size, TINY, args)
    if size.prompt_min > size.prompt_max:
        raise UserError(f"--prompt-min {size.prompt_min} is above --prompt-max {size.prompt_max}")
    if size.prompt_max + max(size.new_tokens) > size.block_size:
        raise UserError(f"--prompt-max {size.prompt_max} + {max(size.new_tokens)} new tokens exceed "
                        f"--block-size {size.block_size}; lower them or raise the block size")
    return size


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    size = checked_size(args)
    device = pick_device(args.device)
    res = run(size, device, args.threads or default_cpus())
    print(format_report(res))
    if args.json:
        from ipa_finetune.files import write_json_atomic
        write_json_atomic(args.json, res)
    return res


if __name__ == "__main__":
    main()
