"""Scores of generated text against references: per example, so that a bootstrap can recompute the
corpus-level scores on each resample of examples from sums alone.

    stats = example_statistics(hypotheses, references, unit="phone")   # TextStatistics, n examples
    stats.scores()        # {"chrf": 61.2, "bleu": 23.4, "exact_match": 0.31, "error_rate": 0.17}
    stats.scores(counts)  # counts (R, n): how often each example is drawn in each of R resamples
                          # -> the same keys, each an array (R,)
    baseline_statistics("copy_source", sources, references, train_targets, unit="phone")

Texts are compared after Unicode NFC and whitespace normalization (ends stripped, inner runs of
whitespace as one space), hypotheses and references alike. The metrics:

- chrf: sacrebleu's CHRF() with its defaults (character n-grams of 1-6, no word n-grams, i.e. chrF
  not chrF++; beta 2; whitespace ignored), 0-100. Corpus-level: the n-gram match statistics of all
  examples summed, then the F-score, which is exactly sacrebleu's corpus_score (a test checks it).
- bleu: sacrebleu's BLEU() with its defaults (13a tokenizer, up to 4-grams, exponential smoothing,
  brevity penalty), corpus-level from summed statistics in the same way, 0-100.
- exact_match: the share of examples whose hypothesis equals the reference, 0-1.
- error_rate: Levenshtein edit distance (insertion, deletion, substitution, each 1) between hypothesis
  and reference, summed over the examples, divided by the references' length summed (corpus-level, as
  CER and PER are reported; it can exceed 1 when hypotheses are long). Lengths and edits count `unit`s:
  "char" (Unicode code points: character error rate, CER) or "phone" (IPA segments as panphon's
  FeatureTable.segs_safe cuts them, phones() reading panphon's segment inventory; a consonant with its
  diacritics and tie bars being one: "t͡ɕʲ" is one phone, three characters plus a tie bar; phone
  error rate, PER). In both, a space (word boundary) and a punctuation mark are one unit each. The scores carry the unit (ERROR_RATE_NAMES).

sacrebleu is called directly (its per-sentence statistics and score-from-statistics methods, which
its own paired bootstrap uses), never through `evaluate`, which downloads metric scripts at run time.
"""
import dataclasses
import functools
import unicodedata
from collections import Counter

import numpy as np

UNITS = ("char", "phone")
ERROR_RATE_NAMES = {"char": "character error rate (CER)", "phone": "phone error rate (PER)"}
METRICS = ("chrf", "bleu", "exact_match", "error_rate")
BASELINES = ("copy_source", "most_frequent_target")


@functools.cache
def _chrf():
    from sacrebleu.metrics import CHRF
    return CHRF()


@functools.cache
def _bleu():
    from sacrebleu.metrics import BLEU
    return BLEU()


@functools.cache
def _phone_trie():
    """panphon's segment inventory (the `ipa` column of its data/ipa_all.csv, NFD) as a trie: exactly
    what panphon.FeatureTable().segs_safe matches, read without building FeatureTable's ~6,000 Segment
    objects through pandas (3-4 s per process, paid by every seq2seq run; a test checks the two agree)."""
    import csv
    import importlib.util
    import os

    folder = importlib.util.find_spec("panphon").submodule_search_locations[0]  # not imported
    with open(os.path.join(folder, "data", "ipa_all.csv"), encoding="utf-8", newline="") as f:
        segments = [unicodedata.normalize("NFD", row["ipa"]) for row in csv.DictReader(f)]
    trie = {}
    for seg in segments:
        node = trie
        for char in seg:
            node = node.setdefault(char, {})
        node[None] = True  # a segment ends here
    return trie


def phones(text):
    """The IPA segments of a text (NFD), as panphon's FeatureTable.segs_safe cuts them: at each
    position the longest known segment, else one character (spaces, punctuation, letters panphon
    does not know)."""
    text, trie, out, start = unicodedata.normalize("NFD", text), _phone_trie(), [], 0
    while start < len(text):
        node, end = trie, start + 1  # an unknown character is a unit of its own
        for pos in range(start, len(text)):
            node = node.get(text[pos])
            if node is None:
                break
            if None in node:
                end = pos + 1
        out.append(text[start:end])
        start = end
    return out


def normalize(text):
    """NFC, ends stripped, inner whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def units(text, unit):
    """The units the error rate counts in a normalized text: its characters, or its IPA phones."""
    if unit == "char":
        return list(text)
    return phones(text)


def edit_distance(a, b):
    """Levenshtein distance between two sequences of hashables (the editdistance library, C++)."""
    import editdistance
    return editdistance.eval(a, b)


@dataclasses.dataclass(frozen=True)
class TextStatistics:
    """Per-example sufficient statistics, one row per example: columns [chrF statistics (sacrebleu's,
    3 per n-gram order), BLEU statistics (sacrebleu's: hypothesis and reference length, matches and
    totals per order), exact match (0/1), edits, reference units]. Count-weighted sums of rows give a
    resample's corpus statistics."""
    columns: np.ndarray  # (n, K) int64
    unit: str
    n_chrf: int
    n_bleu: int

    def __len__(self):
        return len(self.columns)

    def sums(self, counts=None):
        """Column sums: (K,) for the examples as they are, (R, K) for counts (R, n) of each example
        in each of R resamples."""
        if counts is None:
            return self.columns.sum(axis=0)
        counts = np.asarray(counts, dtype=np.int64)
        if counts.ndim != 2 or counts.shape[1] != len(self):
            raise ValueError(f"counts has shape {counts.shape}; expected (resamples, {len(self)})")
        return counts @ self.columns

    def scores(self, counts=None, metrics=METRICS):
        """{metric: score} of the corpus (floats), or of each resample (arrays (R,)) given counts;
        only the `metrics` asked for (chrF and BLEU cost a Python call per resample)."""
        one = counts is None
        sums = np.atleast_2d(self.sums(counts))  # (R or 1, K)
        c, b = self.n_chrf, self.n_chrf + self.n_bleu
        drawn = len(self) if one else np.asarray(counts).sum(axis=1)  # examples in each resample
        compute = {
            "chrf": lambda: [_chrf()._compute_score_from_stats(row[:c].tolist()).score for row in sums],
            "bleu": lambda: [_bleu()._compute_score_from_stats(row[c:b].tolist()).score for row in sums],
            "exact_match": lambda: sums[:, b] / np.maximum(drawn, 1),
            "error_rate": lambda: sums[:, b + 1] / np.maximum(sums[:, b + 2], 1),
        }
        out = {k: np.asarray(compute[k](), dtype=float) for k in metrics}
        return {k: float(v[0]) for k, v in out.items()} if one else out


def example_statistics(hypotheses, references, unit="char"):
    """TextStatistics of hypotheses against references (equal-length lists of strings)."""
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not references:
        raise ValueError("no examples to score")
    hyps = [normalize(h) for h in hypotheses]
    refs = [normalize(r) for r in references]
    chrf = np.array(_chrf()._extract_corpus_statistics(hyps, [refs]), dtype=np.int64)  # (n, 18)
    bleu = np.array(_bleu()._extract_corpus_statistics(hyps, [refs]), dtype=np.int64)  # (n, 10)
    edits, lengths = [], []
    for h, r in zip(hyps, refs):
        ref_units = units(r, unit)
        edits.append(edit_distance(units(h, unit), ref_units))
        lengths.append(len(ref_units))
    exact = np.array([h == r for h, r in zip(hyps, refs)], dtype=np.int64)
    columns = np.column_stack([chrf, bleu, exact, np.array(edits), np.array(lengths)]).astype(np.int64)
    return TextStatistics(columns, unit, chrf.shape[1], bleu.shape[1])


def most_frequent(texts):
    """The most frequent of the normalized texts; among equally frequent ones, the first seen."""
    counts = Counter(normalize(t) for t in texts)
    return max(counts, key=counts.__getitem__)  # max keeps the first of equal counts (insertion order)


def baseline_statistics(kind, sources, references, train_targets=None, unit="char"):
    """TextStatistics of a trivial baseline: "copy_source" answers each source itself (strong where
    source and target share a script, e.g. Polish spelling and its IPA), "most_frequent_target" always
    answers the training split's most frequent target (train_targets)."""
    if kind == "copy_source":
        return example_statistics(list(sources), references, unit)
    if kind == "most_frequent_target":
        if not train_targets:
            raise ValueError("the most-frequent-target baseline needs the training targets")
        return example_statistics([most_frequent(train_targets)] * len(references), references, unit)
    raise ValueError(f"baseline {kind!r} is not one of {', '.join(BASELINES)}")
