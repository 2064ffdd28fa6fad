"""The benchmark's inputs: synthetic variable-length data, the tokenizer, the three pipelines' datasets,
and the two models (this project's and transformers' GPT-2 of the same size). See bench_throughput.py."""
import functools
import json
import math
import os
import random
import time

CLASSES = ["negative", "neutral", "positive"]
EOS = "<|endoftext|>"
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "go", "zu", "fi", "be", "ho",
             "sto", "pra", "vel", "nik", "szy", "dro", "zha", "ost", "wie", "kra")


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
    ipa_finetune.inputs.tokenizer.load_tokenizer (a fresh instance per call: a tokenizer called with
    padding="max_length" keeps that setting, which changes its cache fingerprint). Its ids stay below
    the model's vocab_size."""
    from tokenizers import ByteLevelBPETokenizer

    from ipa_finetune.config.study import ModelSpec
    from ipa_finetune.inputs.tokenizer import load_tokenizer

    prefix = os.path.join(root, "tokenizers")
    if not os.path.exists(os.path.join(prefix, "bench-vocab.json")):
        os.makedirs(prefix, exist_ok=True)
        corpus = [r["text"] for r in synthetic_rows(3000, 99, size, 64)]
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(corpus, vocab_size=min(4096, size.vocab_size), min_frequency=2,
                                special_tokens=[EOS], show_progress=False)
        bpe.save_model(prefix, "bench")
    return load_tokenizer(ModelSpec(name="normal", model_prefix="normal", checkpoint="", tokenizer="bench",
                                    tokenizer_prefix=prefix, eos_token=EOS))


def dataset_spec(folder):
    from ipa_finetune.config.database import DatasetSpec

    return DatasetSpec(language="synthetic", task="sentiment", name="bench", dataset=folder, subset=None,
                       train_features=["text"], eval_feature="label", train_split="train",
                       eval_split="train", test_split=None, task_type="classification", classes=3,
                       label_names=list(CLASSES), data_format=None, database="bench")


def project_dataset(folder, tokenizer, max_length, cache_dir):
    """The train split through the project's pipeline: load_language + encode (cached map)."""
    from ipa_finetune.train import data
    from ipa_finetune.inputs.tokenizer import tokenizer_fingerprint

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
    from ipa_finetune.train import data
    from ipa_finetune.inputs.tokenizer import tokenizer_fingerprint

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

    from ipa_finetune.checkpoint import load_classifier, save_checkpoint
    from model import GPT, GPTConfig

    path = os.path.join(root, "checkpoint", "ckpt.pt")
    if not os.path.exists(path):
        torch.manual_seed(0)
        save_checkpoint(GPT(GPTConfig(n_layer=size.n_layer, n_head=size.n_head, n_embd=size.n_embd,
                                      block_size=size.block_size, vocab_size=size.vocab_size,
                                      dropout=0.0, bias=True)), path)
    model = load_classifier(path, len(CLASSES), seed=0, dropout=0.0)
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
