"""Labels: check a split's label column and map its values to class ids.

Three forms are accepted (see data.py): ints in [0, classes), a ClassLabel with `classes` names, or
strings listed in the db entry's `label_names` (position = id).
"""
from ..errors import DataError
from ..inputs.splits import where

INT_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
STRING_TYPES = {"string", "large_string"}


def _where(spec, split):
    return where(spec, split, spec.eval_feature)


def _show(values, limit=5):
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _kind(ds, spec, split):
    from datasets import ClassLabel

    feature = ds.features[spec.eval_feature]
    if isinstance(feature, ClassLabel):
        return "classlabel"
    dtype = getattr(feature, "dtype", None)
    if dtype in INT_TYPES:
        return "int"
    if dtype in STRING_TYPES:
        return "string"
    raise DataError(f"{_where(spec, split)}: labels of type {feature} are not supported; use ints in "
                    f"[0, {spec.classes}), a ClassLabel, or strings listed in the db's label_names")


def validate_labels(ds, spec, split):
    """Raise DataError naming the offending value when a label is not a valid class."""
    kind = _kind(ds, spec, split)
    col = spec.eval_feature
    if kind == "classlabel":
        n = ds.features[col].num_classes
        if n != spec.classes:
            raise DataError(f"{_where(spec, split)}: a ClassLabel with {n} classes "
                            f"{ds.features[col].names}, but the db entry says classes: {spec.classes}")
        bad = sorted(v for v in ds.unique(col) if not 0 <= v < n)  # e.g. -1 for "no label"
        if bad:
            raise DataError(f"{_where(spec, split)}: label {bad[0]} is not a class id in [0, {n}) "
                            f"(bad values: {_show(bad)})")
    elif kind == "int":
        bad = sorted(v for v in ds.unique(col) if not 0 <= v < spec.classes)
        if bad:
            raise DataError(f"{_where(spec, split)}: label {bad[0]} is outside [0, {spec.classes}) "
                            f"(classes: {spec.classes}; bad values: {_show(bad)})")
    else:
        names = spec.label_names
        if not names:
            raise DataError(f"{_where(spec, split)}: labels are strings (e.g. {ds[0][col]!r}); list "
                            f"them in label_names in the db entry (position = class id)")
        if len(names) != spec.classes:
            raise DataError(f"{_where(spec, split)}: label_names has {len(names)} names but classes "
                            f"is {spec.classes}")
        unknown = sorted(set(ds.unique(col)) - set(names))
        if unknown:
            raise DataError(f"{_where(spec, split)}: label {unknown[0]!r} is not in label_names "
                            f"{names} (unknown values: {_show(unknown)})")


def label_encoder(ds, spec):
    """-> (value -> class id, a JSON-able key describing the mapping for cache fingerprints)."""
    feature = ds.features[spec.eval_feature]
    if getattr(feature, "dtype", None) in STRING_TYPES:
        ids = {name: i for i, name in enumerate(spec.label_names)}
        return ids.__getitem__, ["names"] + list(spec.label_names)
    return int, "int"


def class_names(ds, spec):
    """Human names of the class ids (for the saved model's id2label), or None when unknown."""
    from datasets import ClassLabel

    if spec.label_names:
        return list(spec.label_names)
    feature = ds.features[spec.eval_feature]
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    return None
