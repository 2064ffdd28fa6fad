"""The tokenizer of a model type, as a transformers fast tokenizer.

A model type's tokenizer is named by `model_types.<type>.tokenizer` and found under
`paths.tokenizer_prefix`, in one of two forms (the first that exists wins; config/study.py's
ModelSpec.tokenizer_files looks):

1. `<tokenizer_prefix>/<name>-vocab.json` + `<name>-merges.txt`: a byte-level BPE as the `tokenizers`
   library's `ByteLevelBPETokenizer.save_model(dir, name)` writes it (what nanoGPT users train);
2. `<tokenizer_prefix>/<name>/tokenizer.json`: any tokenizer saved whole by `tokenizers` or
   `save_pretrained`.

The end-of-document token (`tokenizer.eos_token`, overridable per model type by
`model_types.<type>.eos_token`) joins several text features and pads batches; it must already be in the
vocabulary, since a token added now would have no trained embedding.

The vocab + merges of form 1 must belong together (check_bpe_files): the tokenizers library would
load an empty or truncated merges file without a word and split the text into single bytes, unlike
pretraining. The rule, as the tokenizers library trains a byte-level BPE: the vocabulary is the 256
byte symbols, the special tokens, and one token per merge, so a vocabulary of N tokens with S special
tokens has N - 256 - S merges. Every token beyond the byte symbols and the specials must be the
result of a merge, and every merge's two parts and result must be in the vocabulary.
"""
import hashlib
import json
import re

from ..errors import CheckpointError, ConfigError, one_line

BYTE_SYMBOLS = 256  # byte-level BPE: one symbol per byte value
# special tokens: <|endoftext|>, <pad>, <s>, [CLS]... (a BPE merge never makes one of these from text
# unless the text has it, and then the merge makes it: only unmade tokens are tested against this)
SPECIAL_TOKEN = re.compile(r"^(<[^<>\s]+>|\[[A-Z_]+\])$")


def _merges(path):
    """[(line number, left, right)] of a merges.txt (after its `#version` header)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line or (number == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"tokenizer merges file {path} line {number}: {line!r} is not a merge "
                              "(expected two tokens separated by one space)")
        pairs.append((number, *parts))
    return pairs


def check_bpe_files(vocab_path, merges_path, eos):
    """Raise ConfigError unless vocab.json and merges.txt form one byte-level BPE (module docstring)."""
    from tokenizers.pre_tokenizers import ByteLevel

    try:
        with open(vocab_path, encoding="utf-8") as f:
            vocab = json.load(f)
        pairs = _merges(merges_path)
    except (ValueError, OSError) as e:  # bad JSON, not UTF-8, unreadable
        raise ConfigError(f"cannot read tokenizer {vocab_path} + {merges_path}: "
                          f"{one_line(e)}") from None
    if not isinstance(vocab, dict):
        raise ConfigError(f"cannot read tokenizer {vocab_path}: expected a JSON object token -> id")
    for number, left, right in pairs:
        for token in (left, right, left + right):
            if token not in vocab:
                raise ConfigError(
                    f"tokenizer files do not match: {merges_path} line {number} merges {left!r} + "
                    f"{right!r}, but {token!r} is not in {vocab_path}; use the vocab and merges files "
                    "saved together")
    alphabet = set(ByteLevel.alphabet())
    if alphabet - vocab.keys():
        raise ConfigError(f"tokenizer {vocab_path} lacks {len(alphabet - vocab.keys())} of the 256 byte "
                          "symbols: not a byte-level BPE vocabulary as the tokenizers library saves it")
    made = {left + right for _, left, right in pairs}
    unmade = [t for t in vocab if t not in alphabet and t not in made]
    specials = [t for t in unmade if t == eos or SPECIAL_TOKEN.match(t)]
    plain = [t for t in unmade if t not in specials]
    if plain:
        expected = len(vocab) - BYTE_SYMBOLS - len(specials)
        found = f"has {len(pairs)} merges" if pairs else "is empty"
        raise ConfigError(
            f"tokenizer merges file {merges_path} {found}, but the byte-level BPE vocabulary {vocab_path} "
            f"of {len(vocab)} tokens with {len(specials)} special token(s) needs {len(vocab)} - "
            f"{BYTE_SYMBOLS} - {len(specials)} = {expected} merges; token {plain[0]!r} (id {vocab[plain[0]]}) "
            "is made by no merge: the merges file is truncated or belongs to another vocabulary")


def _backend(kind, paths, eos):
    """The `tokenizers.Tokenizer` behind the files."""
    from tokenizers import ByteLevelBPETokenizer, Tokenizer
    if kind == "bpe":
        check_bpe_files(paths[0], paths[1], eos)
    try:
        if kind == "bpe":
            # Not GPT2TokenizerFast(vocab_file=, merges_file=): in transformers 5 it silently builds an
            # empty tokenizer from these files (a test checks the ids against the tokenizers library).
            return ByteLevelBPETokenizer(paths[0], paths[1])._tokenizer
        return Tokenizer.from_file(paths[0])
    except Exception as e:  # malformed JSON, bad merges line, ...
        raise ConfigError(f"cannot read tokenizer {' + '.join(paths)}: {one_line(e)}") from None


def tokenizer_backend(model):
    """(tokenizers.Tokenizer, files) of a model type (a config.study.ModelSpec), checked: the files
    exist and belong together, and the end-of-document token is in the vocabulary."""
    kind, paths = model.tokenizer_files()
    eos = model.eos_token
    backend = _backend(kind, paths, eos)
    if backend.token_to_id(eos) is None:
        raise ConfigError(
            f"end-of-document token {eos!r} is not in the vocabulary of tokenizer {' + '.join(paths)}; "
            f"set tokenizer.eos_token (or model_types.{model.name}.eos_token) to a token it has")
    return backend, paths


def load_tokenizer(model):
    """The tokenizer of a model type (a config.study.ModelSpec) -> PreTrainedTokenizerFast with eos =
    pad = the configured end-of-document token, right padding (the classifier pools each row's last
    real token, found from the attention mask)."""
    from transformers import PreTrainedTokenizerFast

    backend, paths = tokenizer_backend(model)
    eos = model.eos_token
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=eos, pad_token=eos,
                                  padding_side="right")
    tok.source_files = paths  # where it came from, for messages
    return tok


def tokenizer_fingerprint(tokenizer):
    """Stable hash of the tokenizer's whole definition (vocab, merges, pre-tokenizer, specials): part of
    the tokenized-dataset cache key, so a changed tokenizer never reuses stale token ids."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("padding", None)  # per-call settings left by the last call, not part of the encoding
    state.pop("truncation", None)
    spec = json.dumps(state, sort_keys=True) + "\0" + tokenizer.eos_token
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:16]


def coverage_problem(needed, files, vocab_size, checkpoint_path):
    """None when a tokenizer of `needed` tokens fits the checkpoint's embedding, else the message."""
    if needed <= vocab_size:
        return None
    return (f"checkpoint {checkpoint_path} has vocab_size {vocab_size} but tokenizer {' + '.join(files)} "
            f"has {needed} tokens (ids up to {needed - 1}); use the tokenizer the model was pretrained with")


def check_vocab_coverage(tokenizer, vocab_size, checkpoint_path):
    """Every id the tokenizer can emit must have a row in the checkpoint's embedding."""
    problem = coverage_problem(len(tokenizer), getattr(tokenizer, "source_files", ["?"]), vocab_size,
                               checkpoint_path)
    if problem:
        raise CheckpointError(problem)
