"""ipa_finetune/text_metrics.py: chrF and BLEU equal sacrebleu's corpus scores, also per bootstrap
resample; exact match, CER and PER; the trivial baselines."""
import os

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF

from ipa_finetune import text_metrics as tm
from ipa_finetune.files import PROJECT_ROOT

REFS = ["vt͡ɕʲera mɨ bɨlʲi v etoj pʲit͡st͡serʲii", "kafʲe uʒasnoe", "odna zvʲezda, i to mnoɡo", "film",
        "dʲesʲert nʲi vʲelʲikolʲepnɨj", "ɕfjɛtnɨ", "the cat sat on the mat today", "a b c d e f"]
HYPS = ["vt͡ɕera mɨ bɨli v etoj pit͡sːerii", "kafʲe uʒasnoe", "odna zvezda i to mnoɡo", "",
        "dʲesʲert nʲi vʲelʲikolʲepnɨj nʲi", "ɕfjɛtnɨ", "the cat sat on a mat today", "f e d c b a"]


def test_corpus_chrf_and_bleu_from_summed_statistics_equal_sacrebleu():
    scores = tm.example_statistics(HYPS, REFS).scores()
    assert scores["chrf"] == CHRF().corpus_score(HYPS, [REFS]).score
    assert scores["bleu"] == BLEU().corpus_score(HYPS, [REFS]).score
    assert 0 < scores["bleu"] < scores["chrf"] < 100


def test_resampled_scores_equal_scoring_the_resampled_corpus():
    stats = tm.example_statistics(HYPS, REFS, unit="phone")
    counts = np.random.default_rng(0).multinomial(len(REFS), [1 / len(REFS)] * len(REFS), size=5)  # (5, n)
    resampled = stats.scores(counts)
    for r, row in enumerate(counts):
        hyps = [h for h, c in zip(HYPS, row) for _ in range(c)]
        refs = [x for x, c in zip(REFS, row) for _ in range(c)]
        direct = tm.example_statistics(hyps, refs, unit="phone").scores()
        assert resampled["chrf"][r] == CHRF().corpus_score(hyps, [refs]).score == direct["chrf"]
        assert resampled["bleu"][r] == BLEU().corpus_score(hyps, [refs]).score
        assert resampled["exact_match"][r] == direct["exact_match"]
        assert resampled["error_rate"][r] == direct["error_rate"]
    with pytest.raises(ValueError, match=r"counts has shape \(5, 3\); expected \(resamples, 8\)"):
        stats.scores(counts[:, :3])


def test_exact_match_after_whitespace_and_unicode_normalization():
    decomposed = "\u0438\u0306"  # и + combining breve: NFC makes it й (U+0439)
    stats = tm.example_statistics(["  a  b ", decomposed, "x"], ["a b", "\u0439", "y"])
    assert stats.scores()["exact_match"] == 2 / 3


def test_error_rate_is_corpus_level_over_chars_or_phones():
    # one phone replaced (t͡ɕʲ -> t), reference of 2 phones / 5 characters; and a perfect longer one
    hyps, refs = ["ta", "mama mila"], ["t͡ɕʲa", "mama mila"]
    chars = tm.example_statistics(hyps, refs, unit="char").scores()["error_rate"]
    phones = tm.example_statistics(hyps, refs, unit="phone").scores()["error_rate"]
    assert tm.units("t͡ɕʲa", "phone") == ["t͡ɕʲ", "a"] and tm.units("a b", "phone") == ["a", " ", "b"]
    assert chars == 3 / (5 + 9)  # 3 deletions (tie bar, ɕ, ʲ) over 14 characters, not a mean of rates
    assert phones == 1 / (2 + 9)
    assert tm.example_statistics(["abcdef"], ["a"]).scores()["error_rate"] == 5.0  # can exceed 1


def test_baselines():
    sources, refs = ["film", "kot"], ["film", "kɔt"]
    copy = tm.baseline_statistics("copy_source", sources, refs, unit="phone").scores()
    assert copy["exact_match"] == 0.5 and copy["error_rate"] == 1 / 7
    assert tm.most_frequent(["b", "a", "a ", "b", "c"]) == "b"  # normalized; tie: the first seen
    frequent = tm.baseline_statistics("most_frequent_target", sources, ["kɔt", "pies"], ["kɔt", "kɔt", "ok"])
    assert frequent.scores()["exact_match"] == 0.5


@pytest.mark.parametrize("call,message", [
    (lambda: tm.example_statistics(["a"], ["a", "b"]), "1 hypotheses but 2 references"),
    (lambda: tm.example_statistics([], []), "no examples to score"),
    (lambda: tm.example_statistics(["a"], ["a"], unit="word"), "unit 'word' is not one of char, phone"),
    (lambda: tm.baseline_statistics("oracle", ["a"], ["a"]), "baseline 'oracle' is not one of"),
    (lambda: tm.baseline_statistics("most_frequent_target", ["a"], ["a"]), "needs the training targets"),
])
def test_bad_arguments_are_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_phones_are_panphons_segments():
    """text_metrics reads panphon's segment inventory itself (building panphon.FeatureTable costs 3-4 s
    per process): it must cut every demo word, spelling and IPA, and odd strings as segs_safe does."""
    import glob
    import json

    import panphon

    table = panphon.FeatureTable()
    texts = ["t͡ɕʲa b, c!", "ʃt͡ʃ ɨ̃ ɔ̃ x", "", "  a  ", "ɡ͡b ʔ ˥˩ ǃ", "abc😀", "e\u0301"]
    for path in glob.glob(os.path.join(PROJECT_ROOT, "demo", "data-seq2seq", "*", "*.jsonl")):
        with open(path, encoding="utf-8") as f:
            texts += [value for line in f for key, value in json.loads(line).items() if key != "id"]
    assert len(texts) > 2000
    assert [tm.phones(t) for t in texts] == [table.segs_safe(t) for t in texts]
