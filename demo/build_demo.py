"""Build the bundled demo study from the hand-written text in demo/text/: data, tokenizers, checkpoints.

Rebuild everything (a few minutes on 2 cores; epitran is pinned in requirements.txt):

    make demo-data        # = python demo/build_demo.py

or a part of it, or into another folder:

    python demo/build_demo.py --only data tokenizers --out-dir /tmp/demo-build

What it writes (formats fixed in docs/architecture.md, "Demo data format"):
  data/<language>/{train,validation,test}.jsonl  labelled reviews {"text", "ipa", "label"}, 60/20/20,
                                                 stratified by label; label is negative|neutral|positive
  data-seq2seq/<language>/{train,validation,test}.jsonl  G2P: every distinct word of the language's
                                                 composed text {"id", "text", "ipa"}, 60/20/20
                                                 (demo/seq2seq_data.py)
  tokenizers/{normal,ipa}-vocab.json, -merges.txt  byte-level BPE (tokenizers' ByteLevelBPETokenizer),
                                                 `normal` on the plain text of both languages, `ipa` on
                                                 their IPA; <|endoftext|> is id 0
  checkpoints/{normal,ipa}/ckpt.pt               tiny nanoGPTs pretrained as causal LMs on the
                                                 pretraining text, in upstream train.py's format
How: demo/compose.py fills the templates of demo/text/<language>.json5 into reviews; epitran
(rus-Cyrl, pol-Latn, offline, with the call prepare-data.py makes) transcribes them into IPA; the
pretraining text is the train split plus composed unlabelled reviews and hand-written everyday
sentences (never a validation or test sentence);
demo/pretrain.py is nanoGPT's training loop. Every random draw is seeded by --seed, so a rebuild with
the same seed, package versions and thread count reproduces the committed files.
"""
import argparse
import json
import os
import random
import sys
import time

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)  # model.py, ipa_finetune/ (this script lives one folder down)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tokenizers import ByteLevelBPETokenizer  # noqa: E402

from compose import LABELS, labelled_set, load_source, split_stratified, unlabelled_text  # noqa: E402
from ipa_finetune.cli import exit_on_user_error  # noqa: E402
from ipa_finetune.errors import UserError  # noqa: E402
from ipa_finetune.prepare.transcribe import check_code, load_backend  # noqa: E402
from pretrain import PretrainConfig, config_dict, pretrain  # noqa: E402
from seq2seq_data import CODES, SPLITS as SEQ2SEQ_SPLITS, g2p_rows, split_rows, words_of  # noqa: E402

DEMO_DIR = os.path.dirname(os.path.abspath(__file__))
LANGUAGES = ("russian", "polish")
# Labelled reviews per language and label: a few hundred, a little unbalanced on purpose, so the
# majority-class baseline (~37%) differs from chance and from a uniform guess.
LABEL_COUNTS = {"russian": {"negative": 140, "neutral": 115, "positive": 150},
                "polish": {"negative": 130, "neutral": 110, "positive": 140}}
SPLITS = {"train": 0.6, "validation": 0.2, "test": 0.2}
EOT = "<|endoftext|>"
TOKENIZER_VOCAB = 1000   # BPE vocabulary (256 bytes + EOT + merges); the model pads it to 1024
MODEL_ARGS = dict(n_layer=2, n_head=2, n_embd=64, block_size=128, bias=False, dropout=0.0,
                  vocab_size=1024)  # vocab padded up to a multiple of 64, as nanoGPT does for GPT-2
MODEL_TYPES = {"normal": "text", "ipa": "ipa"}  # model type -> the field it is pretrained on


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", default=DEMO_DIR,
                   help="folder receiving data/, tokenizers/ and checkpoints/ (default: demo/)")
    p.add_argument("--text-dir", default=os.path.join(DEMO_DIR, "text"),
                   help="folder of the hand-written <language>.json5 sources (default: demo/text/)")
    p.add_argument("--only", nargs="+", choices=("data", "seq2seq", "tokenizers", "checkpoints"),
                   default=("data", "seq2seq", "tokenizers", "checkpoints"),
                   help="build only these parts: data (sentiment), seq2seq (G2P words), tokenizers, "
                        "checkpoints (they need the tokenizers in --out-dir)")
    p.add_argument("--seed", type=int, default=1337, help="seed of every random draw (default 1337)")
    p.add_argument("--unlabelled", type=int, default=3000,
                   help="composed unlabelled reviews per language for pretraining (default 3000)")
    p.add_argument("--max-iters", type=int, default=600,
                   help="pretraining steps per model (batch 32 x 128 tokens; default 600)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    return p.parse_args(argv)


def transcriber(language, code):
    """epitran's transliterate for one language: the same call prepare-data.py makes."""
    check_code(code, f"demo/text/{language}.json5: epitran")
    print(f"loading epitran {code} for {language} ...", flush=True)
    return load_backend(code)


def compose_texts(language, args):
    """(source, splits, docs) of one language, before transcription: its demo/text source, the
    labelled splits (split -> [(text, label)]) and the pretraining documents (strings)."""
    path = os.path.join(args.text_dir, f"{language}.json5")
    rng = random.Random(f"{args.seed}-{language}")  # str seeds are stable across runs and platforms
    try:
        source = load_source(path)
        examples = labelled_set(source, LABEL_COUNTS[language], rng)
        splits = split_stratified(examples, SPLITS, rng)
        held_out = [t for s in ("validation", "test") for t, _ in splits[s]]
        docs = unlabelled_text(source, args.unlabelled, rng, exclude=held_out)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:  # a broken source file
        raise UserError(f"{path}: {type(e).__name__}: {e}") from None
    return source, splits, docs + [t for t, _ in splits["train"]]


def compose_language(language, args):
    """Labelled splits and pretraining documents of one language: dict with `splits` (split -> list of
    {"text", "ipa", "label"}), `pretrain` (list of {"text", "ipa"}) and `to_ipa` (the transcriber)."""
    source, splits, docs = compose_texts(language, args)
    to_ipa = transcriber(language, source["epitran"])
    return {"splits": {name: [{"text": t, "ipa": to_ipa(t), "label": lab} for t, lab in items]
                       for name, items in splits.items()},
            "pretrain": [{"text": t, "ipa": to_ipa(t)} for t in docs],
            "to_ipa": to_ipa}


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_data(corpora, out_dir):
    for language, corpus in corpora.items():
        for name, rows in corpus["splits"].items():
            write_jsonl(os.path.join(out_dir, "data", language, f"{name}.jsonl"), rows)
            counts = {lab: sum(r["label"] == lab for r in rows) for lab in LABELS}
            print(f"data/{language}/{name}.jsonl: {len(rows)} rows {counts}")


def seq2seq_splits(language, texts, to_ipa, seed):
    """The G2P splits of one language (demo/seq2seq_data.py): the distinct words of all its composed
    text (labelled reviews and pretraining documents), transcribed by epitran one word at a time."""
    rows = g2p_rows(words_of(texts), to_ipa, CODES[language])
    return split_rows(rows, SEQ2SEQ_SPLITS, random.Random(f"{seed}-{language}-g2p"))


def write_seq2seq(corpora, out_dir, seed):
    for language, corpus in corpora.items():
        texts = [r["text"] for rows in corpus["splits"].values() for r in rows]
        texts += [d["text"] for d in corpus["pretrain"]]
        for name, rows in seq2seq_splits(language, texts, corpus["to_ipa"], seed).items():
            write_jsonl(os.path.join(out_dir, "data-seq2seq", language, f"{name}.jsonl"), rows)
            print(f"data-seq2seq/{language}/{name}.jsonl: {len(rows)} words")


def pretraining_docs(corpora, field, seed):
    """Both languages' pretraining documents (one field), shuffled together."""
    docs = [d[field] for lang in LANGUAGES for d in corpora[lang]["pretrain"]]
    random.Random(f"{seed}-docs").shuffle(docs)
    return docs


def train_tokenizer(docs, out_dir, name):
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(docs, vocab_size=TOKENIZER_VOCAB, min_frequency=2, special_tokens=[EOT],
                            show_progress=False)
    assert tok.token_to_id(EOT) == 0, "the end-of-text token must be id 0"
    folder = os.path.join(out_dir, "tokenizers")
    os.makedirs(folder, exist_ok=True)
    tok.save_model(folder, name)
    print(f"tokenizers/{name}-vocab.json: {tok.get_vocab_size()} tokens")


def token_stream(docs, out_dir, name):
    """Each document's ids followed by <|endoftext|> (as nanoGPT's prepare.py), as one uint16 array."""
    folder = os.path.join(out_dir, "tokenizers")
    tok = ByteLevelBPETokenizer(os.path.join(folder, f"{name}-vocab.json"),
                                os.path.join(folder, f"{name}-merges.txt"))
    if tok.get_vocab_size() > MODEL_ARGS["vocab_size"]:
        raise UserError(f"tokenizers/{name}: {tok.get_vocab_size()} tokens exceed the model's "
                        f"vocab_size {MODEL_ARGS['vocab_size']}")
    ids = []
    for enc in tok.encode_batch(docs):
        ids.extend(enc.ids + [0])
    return np.array(ids, dtype=np.uint16)


def build_checkpoint(docs, out_dir, name, args):
    """Pretrain one model type on its documents (90% train / 10% val) and save it as ckpt.pt."""
    from ipa_finetune.checkpoint import save_checkpoint  # noqa: E402 (imported late: only this part needs it)

    cut = int(0.9 * len(docs))
    train, val = token_stream(docs[:cut], out_dir, name), token_stream(docs[cut:], out_dir, name)
    print(f"pretraining {name}: {len(train)} train / {len(val)} val tokens, {args.max_iters} iters")
    cfg = PretrainConfig(max_iters=args.max_iters, lr_decay_iters=args.max_iters, seed=args.seed,
                         block_size=MODEL_ARGS["block_size"], dataset=f"demo-{name}")
    model, optimizer, iter_num, best_val_loss, history = pretrain(train, val, MODEL_ARGS, cfg)
    path = os.path.join(out_dir, "checkpoints", name, "ckpt.pt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_checkpoint(model, path, optimizer=optimizer, iter_num=iter_num, best_val_loss=best_val_loss,
                    config=config_dict(cfg, MODEL_ARGS))
    print(f"checkpoints/{name}/ckpt.pt: {os.path.getsize(path) / 1e6:.2f} MB, "
          f"loss {history[0]['train']:.2f} -> {history[-1]['train']:.2f} (val {best_val_loss:.2f})")
    return history


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)  # the result depends on the thread count: keep it fixed
    t0 = time.time()
    corpora = {lang: compose_language(lang, args) for lang in LANGUAGES}
    if "data" in args.only:
        write_data(corpora, args.out_dir)
    if "seq2seq" in args.only:
        write_seq2seq(corpora, args.out_dir, args.seed)
    for name, field in MODEL_TYPES.items():
        docs = pretraining_docs(corpora, field, args.seed)
        if "tokenizers" in args.only:
            train_tokenizer(docs, args.out_dir, name)
        if "checkpoints" in args.only:
            build_checkpoint(docs, args.out_dir, name, args)
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
