"""Compose the demo's labelled reviews and unlabelled pretraining text from demo/text/<language>.json5.

The source files hold hand-written lexicons (nouns with their gender and cases, adjectives with their
four agreeing forms), agreement tables, templates per sentiment and whole hand-written sentences. A
review is one template with its slots filled for one noun, so every composed sentence is grammatical,
and its label is the template's sentiment. The sentiment signal is real but not trivial: it lives in
a few lexicon words, and negation ("совсем не интересный") and mixed reviews ("с одной стороны ...,
с другой ...") flip or cancel it. Everything is drawn from a seeded `random.Random`, so the same source
files and seed give the same sentences.

Used by demo/build_demo.py; `python demo/compose.py demo/text/polish.json5` prints a few samples.
"""
import random
import re
import string
import sys

import json5

LABELS = ("negative", "neutral", "positive")
GENDERS = {"m": 0, "f": 1, "n": 2, "pl": 3}  # index into every [m, f, n, pl] table
# Adjective slots and the sentiment whose lexicon fills them.
ADJ_SLOTS = {"pos": "positive", "pos2": "positive", "neg": "negative", "neg2": "negative",
             "neu": "neutral", "vpos": "positive", "vneg": "negative", "fneu": "neutral"}
TAIL_SLOTS = {"tail_pos": "positive", "tail_neg": "negative", "tail_neu": "neutral"}


def load_source(path):
    """The parsed source file of one language (see demo/text/russian.json5 for its keys)."""
    with open(path, encoding="utf-8") as f:
        return json5.load(f)


def _fits(kinds, kind):
    return "any" in kinds or kind in kinds


def _cap(s):
    return s[:1].upper() + s[1:]


def _tidy(s):
    """Collapse the double spaces an empty intensifier leaves and spaces before punctuation."""
    s = re.sub(r"\s+", " ", s).strip()
    return re.sub(r"\s+([,.!?:])", r"\1", s)


class Composer:
    """Fills one language's templates. `review(label, rng)` -> one sentence with that sentiment."""

    def __init__(self, source):
        self.src = source
        self.negation = source.get("negation")  # {word, skip_prefixes} or None
        self.templates = {label: [self._template(t) for t in source["templates"][label]]
                          for label in LABELS}

    @classmethod
    def _template(cls, entry):
        """(text, slot names, noun kinds or None) from "text" or {t: "text", kinds: [...]}."""
        text, kinds = (entry, None) if isinstance(entry, str) else (entry["t"], entry["kinds"])
        return text, cls._slots(text), kinds

    @staticmethod
    def _slots(template):
        """The slot names of a template, without their capitalisation ({Noun} -> noun)."""
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        return {n[:1].lower() + n[1:] for n in names}

    def _adjectives(self, sentiment, kind, negated):
        adjs = [a for a in self.src["adjectives"][sentiment] if _fits(a["kinds"], kind)]
        if negated:  # no "совсем не невкусный": drop adjectives with a negative prefix
            prefixes = tuple(self.negation["skip_prefixes"])
            adjs = [a for a in adjs if not a["forms"][0].startswith(prefixes)]
        return adjs

    def _can_fill(self, noun, slots, negated):
        """Does this noun have every form the template needs, and enough adjectives for its kind?"""
        if "verb" in slots and not noun.get("verb"):
            return False
        if slots & {"noun_loc", "this_loc"} and not noun.get("loc"):
            return False
        for sentiment in set(ADJ_SLOTS[s] for s in slots if s in ADJ_SLOTS):
            needed = sum(1 for s in slots if ADJ_SLOTS.get(s) == sentiment)
            if len(self._adjectives(sentiment, noun["kind"], negated)) < needed:
                return False
        return True

    def review(self, label, rng):
        """One composed review with sentiment `label`, drawn with `rng` (a random.Random)."""
        template, slots, kinds = rng.choice(self.templates[label])
        negated = bool(self.negation) and re.search(
            rf"(?<!\w){re.escape(self.negation['word'])}(?!\w)", template) is not None
        nouns = [n for n in self.src["nouns"]
                 if (kinds is None or n["kind"] in kinds) and self._can_fill(n, slots, negated)]
        if not nouns:
            raise ValueError(f"no noun in {self.src['language']} fits template {template!r}")
        noun = rng.choice(nouns)
        values = self._noun_values(noun)
        values.update(self._adjective_values(noun, slots, negated, rng))
        time = rng.choice(self.src["times"])
        values.update(time=time, Time=_cap(time))
        for slot, sentiment in TAIL_SLOTS.items():
            if slot in slots:
                values[slot] = rng.choice([t for t, kinds in self.src["tails"][sentiment]
                                           if _fits(kinds, noun["kind"])])
        return _tidy(template.format(**values))

    def _noun_values(self, noun):
        g = GENDERS[noun["gender"]]
        this = self.src["this"]
        v = {"noun": noun["nom"], "noun_acc": noun["acc"], "noun_loc": noun.get("loc", ""),
             "this": this["nom"][g], "this_acc": this["acc"][g], "this_loc": this["loc"][g],
             "was": self.src["was"][g], "is": self.src["is"][g], "verb": noun.get("verb") or ""}
        v.update(Noun=_cap(v["noun"]), This=_cap(v["this"]))
        return v

    def _adjective_values(self, noun, slots, negated, rng):
        """Distinct adjectives per sentiment, in the noun's gender; v-slots get an intensifier."""
        g = GENDERS[noun["gender"]]
        values, used = {}, set()
        for slot in sorted(s for s in slots if s in ADJ_SLOTS):
            choices = [a for a in self._adjectives(ADJ_SLOTS[slot], noun["kind"], negated)
                       if a["forms"][0] not in used]
            adj = rng.choice(choices)
            used.add(adj["forms"][0])
            word = adj["forms"][g]
            if slot in ("vpos", "vneg"):
                pool = self.src["intensifiers"]["any"] + (
                    self.src["intensifiers"]["gradable"] if adj["gradable"] else [])
                word = f"{rng.choice(pool)} {word}"
            elif slot == "fneu":
                word = f"{rng.choice(self.src['hedges'])} {word}"
            values[slot] = word
        return values


def labelled_set(source, counts, rng):
    """Unique (text, label) pairs: every hand-written sentence plus composed reviews, `counts[label]`
    of each label in all."""
    composer = Composer(source)
    seen, examples = set(), []
    for label in LABELS:
        for text in source["sentences"][label]:
            if text not in seen:
                seen.add(text)
                examples.append((text, label))
        n = sum(1 for _, lab in examples if lab == label)
        tries = 0
        while n < counts[label]:
            text = composer.review(label, rng)
            tries += 1
            if tries > 100 * counts[label]:
                raise ValueError(f"cannot compose {counts[label]} distinct {label} reviews")
            if text not in seen:
                seen.add(text)
                examples.append((text, label))
                n += 1
    return examples


def split_stratified(examples, fractions, rng):
    """Shuffle each label's examples, cut them by `fractions` (dict split -> fraction, in order),
    then shuffle each split. Returns dict split -> list of (text, label)."""
    splits = {name: [] for name in fractions}
    for label in LABELS:
        items = [e for e in examples if e[1] == label]
        rng.shuffle(items)
        start = 0
        for i, (name, frac) in enumerate(fractions.items()):
            end = len(items) if i == len(fractions) - 1 else start + round(frac * len(items))
            splits[name].extend(items[start:end])
            start = end
    for items in splits.values():
        rng.shuffle(items)
    return splits


def unlabelled_text(source, n, rng, exclude=()):
    """`n` composed reviews of random sentiment (none of them in `exclude`), plus the source's
    hand-written unlabelled sentences: pretraining documents, one string each."""
    composer = Composer(source)
    exclude = set(exclude)
    docs = []
    while len(docs) < n:
        text = composer.review(rng.choice(LABELS), rng)
        if text not in exclude:
            docs.append(text)
    return docs + list(source["unlabelled"])


if __name__ == "__main__":
    src = load_source(sys.argv[1])
    r = random.Random(0)
    for lab in LABELS:
        for _ in range(6):
            print(f"{lab:9s} {Composer(src).review(lab, r)}")
