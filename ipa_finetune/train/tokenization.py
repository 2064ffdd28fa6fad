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
"""
import hashlib
import json

from ..errors import CheckpointError, ConfigError


def _backend(kind, paths):
    """The `tokenizers.Tokenizer` behind the files."""
    from tokenizers import ByteLevelBPETokenizer, Tokenizer
    try:
        if kind == "bpe":
            # Not GPT2TokenizerFast(vocab_file=, merges_file=): in transformers 5 it silently builds an
            # empty tokenizer from these files (a test checks the ids against the tokenizers library).
            return ByteLevelBPETokenizer(paths[0], paths[1])._tokenizer
        return Tokenizer.from_file(paths[0])
    except Exception as e:  # malformed JSON, bad merges line, ...
        msg = " ".join(str(e).split())
        raise ConfigError(f"cannot read tokenizer {' + '.join(paths)}: {msg}") from None


def load_tokenizer(model):
    """The tokenizer of a model type (a config.study.ModelSpec) -> PreTrainedTokenizerFast with eos =
    pad = the configured end-of-document token, right padding (the classifier pools each row's last
    real token, found from the attention mask)."""
    from transformers import PreTrainedTokenizerFast

    kind, paths = model.tokenizer_files()
    backend = _backend(kind, paths)
    eos = model.eos_token
    if backend.token_to_id(eos) is None:
        raise ConfigError(
            f"end-of-document token {eos!r} is not in the vocabulary of tokenizer {' + '.join(paths)}; "
            f"set tokenizer.eos_token (or model_types.{model.name}.eos_token) to a token it has")
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


def check_vocab_coverage(tokenizer, vocab_size, checkpoint_path):
    """Every id the tokenizer can emit must have a row in the checkpoint's embedding."""
    needed = len(tokenizer)
    if needed > vocab_size:
        files = " + ".join(getattr(tokenizer, "source_files", ["?"]))
        raise CheckpointError(
            f"checkpoint {checkpoint_path} has vocab_size {vocab_size} but tokenizer {files} has "
            f"{needed} tokens (ids up to {needed - 1}); use the tokenizer the model was pretrained with")
