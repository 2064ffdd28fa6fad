"""How a seq2seq example becomes one row of a decoder-only nanoGPT, and what happens to examples
too long for its block.

    training row:  source ids  SEP  target ids  END  (then END as padding, masked)
    labels:        -100 ...   -100  target ids  END  (-100 on padding too)
    prompt:        source ids  SEP                   (generation continues it until END)

The labels are aligned with the ids; the model shifts them (position t learns labels[t + 1]), so the
loss covers the target and its end token only: the SEP position learns the first target token and the
last target token learns END. transformers' causal LMs and hf_wrapper.NanoGPTForCausalLM read them so.

Special tokens (special_tokens()):
- END is the tokenizer's end-of-document token (`<|endoftext|>`, id 0 in the demo tokenizers), which
  pretraining already taught to close a document. Padding is END too, always masked.
- SEP is either "eos" (the default): END doubles as the separator (source END target END); the model
  tells the two apart by position (the prompt ends with one), and the first END it generates ends the
  target. It needs nothing of the checkpoint's vocabulary beyond the tokenizer's, and its embedding is
  pretrained. Or "spare": id len(tokenizer), the first embedding row past the tokenizer's vocabulary.
  nanoGPT pads its vocabulary up to a multiple of 64 (50257 -> 50304 for GPT-2's, 1000 -> 1024 in the
  demo), so such rows exist but no pretraining text ever used them: a marker that means nothing else,
  learnt in fine-tuning. A checkpoint without a spare row then is refused (CheckpointError). On the
  demo's G2P data "eos" scored 1.6 chrF above "spare" on average over 8 in-language runs (-2 to +6 per
  run, within seed noise; docs/seq2seq.md), and so is the default.

Too long for the block (block_size positions hold a whole row, or a prompt and what is generated):
- training rows (training_rows): an example whose source + SEP + target + END exceeds block_size is
  dropped, never cut: a cut source with a whole target, or a target without its end, would teach the
  model to invent or never to stop. LayoutCounts.dropped counts them; a split with nothing left raises.
- prompts (generation_prompts: evaluation, test, prediction): no example is dropped (that would
  flatter the scores). The prompt gets the block_size - max_new_tokens positions left by the tokens
  to generate; a longer source keeps its first block_size - max_new_tokens - 1 tokens (its end is cut)
  and is counted in LayoutCounts.truncated. The reference stays whole and is scored as is. References
  longer than max_new_tokens tokens, which no hypothesis can match whole, are counted as
  LayoutCounts.target_over_budget.

Only the standard library, numpy, tokenizers and this package's errors: the report pipeline and the
config checks can use it without torch.
"""
import dataclasses

import numpy as np

from .errors import CheckpointError, ConfigError, DataError

IGNORE_INDEX = -100  # label of a position without loss (transformers' convention)
SEPARATORS = ("eos", "spare")  # see the module docstring; the first is the default


@dataclasses.dataclass(frozen=True)
class SpecialTokens:
    """The ids a seq2seq row uses (module docstring): separator, end (= the tokenizer's eos) and pad."""
    separator: int
    end: int
    pad: int
    kind: str  # "spare" or "eos": how the separator was chosen


def special_tokens(tokenizer_size, eos_id, vocab_size, separator="eos", checkpoint="the checkpoint"):
    """The separator, end and pad ids for a tokenizer of tokenizer_size ids (its eos at eos_id) and a
    checkpoint whose embedding has vocab_size rows. Raises ConfigError for an unknown separator kind
    and CheckpointError, one line naming `checkpoint`, when its vocabulary cannot hold them."""
    if separator not in SEPARATORS:
        raise ConfigError(f"separator {separator!r} is not one of {', '.join(SEPARATORS)}")
    if eos_id is None or not 0 <= eos_id < tokenizer_size:
        raise ConfigError(f"the tokenizer has no end-of-document token (id {eos_id!r} among its "
                          f"{tokenizer_size}); a seq2seq target must end with one")
    if tokenizer_size > vocab_size:
        raise CheckpointError(f"checkpoint {checkpoint} has vocab_size {vocab_size} but the tokenizer has "
                              f"{tokenizer_size} tokens; use the tokenizer the model was pretrained with")
    if separator == "eos":
        return SpecialTokens(separator=eos_id, end=eos_id, pad=eos_id, kind="eos")
    if tokenizer_size >= vocab_size:
        raise CheckpointError(
            f"checkpoint {checkpoint} has vocab_size {vocab_size}, all of it used by the tokenizer's "
            f"{tokenizer_size} tokens: no spare embedding row for the seq2seq separator; set the separator "
            "to 'eos' (the end token then also separates source and target)")
    return SpecialTokens(separator=tokenizer_size, end=eos_id, pad=eos_id, kind="spare")


@dataclasses.dataclass(frozen=True)
class Pair:
    """One example: its id and the token ids of its source and target."""
    id: str
    source: tuple
    target: tuple


@dataclasses.dataclass
class LayoutCounts:
    """What the too-long rule did to a split (module docstring); goes into results.json as is."""
    examples: int = 0
    dropped: int = 0  # training: source + target too long for block_size, left out
    truncated: int = 0  # prompts: source cut at its end to leave room for max_new_tokens
    target_over_budget: int = 0  # prompts: reference longer than max_new_tokens tokens

    def as_dict(self):
        return dataclasses.asdict(self)


def encode_pairs(tokenizer, ids, sources, targets, where):
    """Pairs of a split: sources and targets (strings) encoded with a `tokenizers.Tokenizer` (e.g. a
    transformers tokenizer's backend_tokenizer), no special tokens added, never padded or truncated
    (a backend keeps the padding and truncation of its last transformers call: a copy without them
    encodes then). An empty or blank source or target raises DataError naming `where` (the split's
    file) and the example's id."""
    for kind, texts in (("source", sources), ("target", targets)):
        for example_id, text in zip(ids, texts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: example {example_id!r} has an empty {kind} ({text!r}); every "
                                "seq2seq example needs a non-empty source and target")
    if tokenizer.padding is not None or tokenizer.truncation is not None:
        from tokenizers import Tokenizer
        tokenizer = Tokenizer.from_str(tokenizer.to_str())
        tokenizer.no_padding()
        tokenizer.no_truncation()
    source_ids = [e.ids for e in tokenizer.encode_batch(list(sources), add_special_tokens=False)]
    target_ids = [e.ids for e in tokenizer.encode_batch(list(targets), add_special_tokens=False)]
    return [Pair(str(i), tuple(s), tuple(t)) for i, s, t in zip(ids, source_ids, target_ids)]


def training_rows(pairs, tokens, block_size, where="the training split"):
    """(rows, counts): rows {"id", "input_ids", "labels"} (lists of ints) of the pairs that fit
    block_size whole; the others dropped and counted (module docstring). DataError when none fits."""
    rows, counts = [], LayoutCounts(examples=len(pairs))
    for pair in pairs:
        n_source = len(pair.source) + 1  # with the separator
        if n_source + len(pair.target) + 1 > block_size:
            counts.dropped += 1
            continue
        rows.append({"id": pair.id,
                     "input_ids": [*pair.source, tokens.separator, *pair.target, tokens.end],
                     "labels": [IGNORE_INDEX] * n_source + [*pair.target, tokens.end]})
    if pairs and not rows:
        shortest = min(len(p.source) + len(p.target) + 2 for p in pairs)
        raise DataError(f"{where}: all {len(pairs)} examples are too long for block_size {block_size} (source + "
                        f"separator + target + end; the shortest has {shortest} tokens)")
    return rows, counts


def check_budget(block_size, max_new_tokens):
    """Raise ConfigError unless a prompt of at least one source token fits beside max_new_tokens."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens {max_new_tokens!r} must be a positive integer")
    if max_new_tokens > block_size - 2:
        raise ConfigError(f"max_new_tokens {max_new_tokens} leaves no room for a source in block_size "
                          f"{block_size}; expected at most {block_size - 2} (a source token and the separator)")


def generation_prompts(pairs, tokens, block_size, max_new_tokens):
    """(prompts, counts): each pair's source + separator as a list of ids, the source cut at its end
    where the prompt would leave fewer than max_new_tokens positions (module docstring)."""
    check_budget(block_size, max_new_tokens)
    room = block_size - max_new_tokens - 1  # source tokens a prompt may keep
    prompts, counts = [], LayoutCounts(examples=len(pairs))
    for pair in pairs:
        counts.truncated += len(pair.source) > room
        counts.target_over_budget += len(pair.target) > max_new_tokens
        prompts.append([*pair.source[:room], tokens.separator])
    return prompts, counts


def pad_right(rows, pad_id, multiple_of=1):
    """A training batch from rows of training_rows(): input_ids, attention_mask and labels as (B, T)
    int64 arrays, each row padded at its end (pad_id, mask 0, label -100) to the longest row, rounded
    up to multiple_of (8 suits tensor cores)."""
    T = max(len(r["input_ids"]) for r in rows)
    T = -(-T // multiple_of) * multiple_of
    input_ids = np.full((len(rows), T), pad_id, dtype=np.int64)
    labels = np.full((len(rows), T), IGNORE_INDEX, dtype=np.int64)
    attention_mask = np.zeros((len(rows), T), dtype=np.int64)
    for b, r in enumerate(rows):
        n = len(r["input_ids"])
        input_ids[b, :n], labels[b, :n], attention_mask[b, :n] = r["input_ids"], r["labels"], 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

