"""The rows of each split: labels -> class ids, dropped rows, the validation carve, duplicates.

Labels. With the entry's `label_names`, each raw label is matched as text against that list and becomes
its position there (the class id); a ClassLabel's ids become its names first. Without label_names the
raw labels must already be class ids: whole numbers in [0, classes), as numbers or as text. Labels
named by --drop-labels are dropped with their rows; any other label is an error.

Duplicates across splits compare the text columns with surrounding white space removed. Splits rank
test > eval > train: with --dedup-across-splits, a row is removed from a split when its text is in a
higher-ranked one, so the test set is never touched and no evaluated text is trained on.
"""
import collections
import dataclasses
import random

from ..config.schema import show
from ..errors import DataError, UserError


@dataclasses.dataclass
class Rows:
    texts: list   # per row, a tuple of its text columns ("" for a missing value)
    labels: list  # per row, its class id

    def __len__(self):
        return len(self.labels)

    def keep(self, mask):
        return Rows([t for t, k in zip(self.texts, mask) if k], [y for y, k in zip(self.labels, mask) if k])

    def __add__(self, other):
        return Rows(self.texts + other.texts, self.labels + other.labels)


def is_blank(text):
    return not text or not text.strip()


# ----------------------------------------------------------------------------- labels

def _class_id(value, label_names, classes):
    if label_names is not None:
        text = str(value)
        return label_names.index(text) if text in label_names else None
    text = str(value).strip()
    if isinstance(value, int) or (text.isdigit() and text.isascii()):
        return int(text) if 0 <= int(text) < classes else None
    return None


def check_drop_labels(drop, label_names, where):
    """--drop-labels may not name a class."""
    clash = [v for v in drop if label_names and v in label_names]
    if clash:
        raise UserError(f"--drop-labels {' '.join(clash)}: listed in label_names {label_names} of {where}, "
                        "so it is a class; drop only labels that are not")


def class_ids(sources, label_names, classes, drop, where):
    """sources: [(name, raw labels)] -> ([ids per source, None for a dropped row], {value: count} of
    dropped labels per source name). Unknown or missing labels are one DataError naming every value."""
    ids, dropped, unknown = [], {}, collections.defaultdict(collections.Counter)
    for name, values in sources:
        out, gone = [], collections.Counter()
        for value in values:
            cid = None if value is None else _class_id(value, label_names, classes)
            if cid is None and value is not None and str(value) in drop:
                gone[str(value)] += 1
            elif cid is None:
                unknown["(missing)" if value is None else str(value)][name] += 1
            out.append(cid)
        ids.append(out)
        dropped[name] = dict(sorted(gone.items()))
    if unknown:
        raise DataError(_unknown_message(unknown, label_names, classes, where))
    return ids, dropped


def _unknown_message(unknown, label_names, classes, where):
    ranked = sorted(unknown.items(), key=lambda kv: -sum(kv[1].values()))
    shown = "; ".join(f"{show(value) if value != '(missing)' else value}: {sum(c.values())} row(s) ("
                      + ", ".join(f"{src} {n}" for src, n in c.items()) + ")" for value, c in ranked[:10])
    more = f"; and {len(ranked) - 10} more values" if len(ranked) > 10 else ""
    valid = (f"not in label_names {label_names} of {where}" if label_names is not None
             else f"not a class id in [0, {classes}) ({where} has no label_names)")
    values = " ".join(v for v, _ in ranked if v != "(missing)")
    fix = f"; drop those rows with --drop-labels {values}" if values else ""
    if "(missing)" in unknown:
        fix += ("; rows without a label cannot be used (a test set whose labels are hidden cannot be "
                "a split: evaluate on a labelled one)")
    return f"unknown labels, {valid}: {shown}{more}{fix}"


# ----------------------------------------------------------------------------- rows

def drop_empty(rows):
    """-> (rows without those whose text columns are all blank, how many were dropped)."""
    mask = [not all(is_blank(t) for t in texts) for texts in rows.texts]
    return rows.keep(mask), mask.count(False)


def carve(rows, fraction, seed, classes):
    """Split `rows` into (rest, carved): round(fraction * n) rows, stratified by label (per class in
    proportion, remainders to the largest fractions), drawn with random.Random(seed); both parts keep
    the source order."""
    n = len(rows)
    want = round(n * fraction)
    if not 1 <= want <= n - 1:
        raise UserError(f"--validation-from: {fraction} of {n} rows is {want} rows; it must leave at least "
                        "one row on each side")
    members = [[i for i, y in enumerate(rows.labels) if y == c] for c in range(classes)]
    exact = [len(m) * want / n for m in members]
    take = [int(e) for e in exact]
    by_remainder = sorted(range(classes), key=lambda c: (-(exact[c] - take[c]), c))
    for c in by_remainder[:want - sum(take)]:
        take[c] += 1
    rng = random.Random(seed)
    chosen = set()
    for c in range(classes):
        picked = list(members[c])
        rng.shuffle(picked)
        chosen.update(picked[:take[c]])
    mask = [i in chosen for i in range(n)]
    return rows.keep([not m for m in mask]), rows.keep(mask)


def _key(texts):
    return tuple(t.strip() for t in texts)


def within_duplicates(rows):
    """Rows whose text already occurs earlier in the same split (reported, kept)."""
    return len(rows) - len({_key(t) for t in rows.texts})


def cross_duplicates(splits, ranked, remove):
    """splits: {name: Rows}; ranked: split names, highest first (test, eval, train). -> (splits, counts)
    where counts[low][high] = rows of `low` whose text is also in `high`; with `remove`, those rows
    are removed from `low`."""
    counts, out = {}, dict(splits)
    for i, low in enumerate(ranked):
        higher = {h: {_key(t) for t in splits[h].texts} for h in ranked[:i]}
        counts[low] = {h: sum(_key(t) in keys for t in splits[low].texts) for h, keys in higher.items()}
        if remove and higher:
            seen = set().union(*higher.values())
            out[low] = splits[low].keep([_key(t) not in seen for t in splits[low].texts])
    return out, {low: c for low, c in counts.items() if any(c.values())}


def drop_empty_ipa(splits, ipa, pairs_at, examples=5):
    """Rows with a text whose IPA is blank (epitran had nothing for it, e.g. a post of just 'ъ').
    pairs_at: [(text index, IPA column)]. -> (splits without them, {split: count}, example texts)."""
    out, counts, shown = {}, {}, []
    for name, rows in splits.items():
        mask = [not any(not is_blank(texts[i]) and is_blank(ipa[texts[i]]) for i, _ in pairs_at)
                for texts in rows.texts]
        out[name] = rows.keep(mask)
        counts[name] = mask.count(False)
        shown += [texts[i] for texts, m in zip(rows.texts, mask) if not m for i, _ in pairs_at
                  if not is_blank(texts[i]) and is_blank(ipa[texts[i]])]
    return out, counts, list(dict.fromkeys(shown))[:examples]


def class_counts(rows, names):
    counts = collections.Counter(rows.labels)
    return {names[c]: counts.get(c, 0) for c in range(len(names))}
