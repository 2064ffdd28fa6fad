"""The seq2seq demo data: spelling -> IPA (grapheme-to-phoneme, G2P) of every word of the demo text.

    rows = g2p_rows(words_of(texts), transliterate, "ru")   # [{"id": "ru-0001", "text": ..., "ipa": ...}]
    splits = split_rows(rows, SPLITS, random.Random("1337-russian-g2p"))

A row is one distinct word of a language's composed demo text (the labelled reviews and the
pretraining documents, demo/build_demo.py), lowercased, with epitran's IPA of it: `text` is the
spelling (Cyrillic for Russian, Latin for Polish), `ipa` the transcription. Both columns are there, so
that a study can read either and write the other (G2P: text -> ipa, P2G: ipa -> text) per model type.
Rows are identified by `<language code>-<rank of the word in sorted order>`, split at random into
train / validation / test (60/20/20). build_demo.py writes them (`--only seq2seq`); demo/README.md
says what they are.
"""
import re

WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")  # letters, optionally hyphenated ("какой-то")
SPLITS = {"train": 0.6, "validation": 0.2, "test": 0.2}
CODES = {"russian": "ru", "polish": "pl"}  # id prefixes


def words_of(texts):
    """The distinct words of the texts, lowercased, sorted."""
    return sorted({w for text in texts for w in WORD.findall(text.lower())})


def g2p_rows(words, to_ipa, prefix):
    """{"id", "text", "ipa"} for each word, ids numbered in the words' order; words whose IPA comes
    out empty are left out."""
    rows = [{"id": f"{prefix}-{i:04d}", "text": w, "ipa": to_ipa(w).strip()} for i, w in enumerate(words, 1)]
    return [r for r in rows if r["ipa"]]


def split_rows(rows, fractions, rng):
    """{split: rows}: the rows shuffled by rng and cut in the given fractions (the last split takes
    the rest)."""
    rows = list(rows)
    rng.shuffle(rows)
    splits, start = {}, 0
    names = list(fractions)
    for name in names:
        end = len(rows) if name == names[-1] else start + round(fractions[name] * len(rows))
        splits[name] = rows[start:end]
        start = end
    return splits
