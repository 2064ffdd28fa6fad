"""What a language-database entry expects of its prepared folder, and which column feeds which.

Text -> IPA pairing: by default the `normal` model type's columns in `train_features` are the source
text columns and the `ipa` model type's columns are their transcriptions, paired by position
({"normal": ["text"], "ipa": ["ipa"]}: column "ipa" is the IPA of column "text"). The entry's
`ipa.columns` ({"<IPA column>": "<text column>"}) names the pairs explicitly instead, for model types
named otherwise. Every column a model type reads must be written: a text, IPA or label column.
"""
import dataclasses

from ..config.database import DATA_FILE_SUFFIXES
from ..config.schema import show
from ..errors import ConfigError, UserError


@dataclasses.dataclass
class Layout:
    where: str            # the entry, for messages: "russian.sentiment.rusentiment in config/..."
    folder: str           # the entry's `dataset`, an absolute local path
    splits: list          # [train, eval] or [train, eval, test]
    file_format: str      # "jsonl" or "parquet" (from the entry's data_format)
    text_columns: list    # the source text columns, as the output names them
    ipa_columns: dict     # IPA column -> the text column it transcribes
    label_column: str     # the entry's eval_feature
    label_names: list | None
    classes: int
    code: str             # the epitran code

    @property
    def columns(self):
        return self.text_columns + list(self.ipa_columns) + [self.label_column]

    @property
    def eval_split(self):
        return self.splits[1]


def _pairs(spec, entry, where):
    """{IPA column: text column} of the entry."""
    if "columns" in entry["ipa"]:
        return dict(entry["ipa"]["columns"])
    features = spec.train_features
    if not (isinstance(features, dict) and "normal" in features and "ipa" in features):
        raise ConfigError(f"{where}: train_features = {show(features)} does not say which column holds "
                          "the IPA; prepare-data.py pairs the columns of model type 'normal' (text) with "
                          "those of 'ipa' (their IPA) by position, e.g. {\"normal\": [\"text\"], \"ipa\": "
                          "[\"ipa\"]}, or name the pairs in the entry's ipa.columns: "
                          "{\"<IPA column>\": \"<text column>\"}")
    if len(features["normal"]) != len(features["ipa"]):
        raise ConfigError(f"{where}: train_features.normal {features['normal']} and train_features.ipa "
                          f"{features['ipa']} differ in length; they are paired by position (the i-th IPA "
                          "column transcribes the i-th text column)")
    return dict(zip(features["ipa"], features["normal"]))


def _check_columns(layout, spec):
    label, ipa, texts = layout.label_column, layout.ipa_columns, layout.text_columns
    clash = sorted((set(ipa) & set(texts)) | ({label} & (set(ipa) | set(texts))))
    if clash:
        raise ConfigError(f"{layout.where}: column(s) {', '.join(clash)} would be both text, IPA or label; "
                          "give each its own name")
    features = spec.train_features
    read = features if isinstance(features, list) else [c for cols in features.values() for c in cols]
    missing = sorted(set(read) - set(layout.columns))
    if missing:
        raise ConfigError(f"{layout.where}: train_features reads {', '.join(missing)}, which prepare-data.py "
                          f"does not write (it writes the columns {', '.join(layout.columns)})")


def _file_format(spec, where):
    if spec.data_format in (None, "json"):
        return "jsonl"
    if spec.data_format == "parquet":
        return "parquet"
    raise ConfigError(f"{where}: data_format = {show(spec.data_format)}: prepare-data.py writes JSON Lines "
                      "(data_format json, or none) or parquet; CSV loses the column types, and a text "
                      "such as NA would read back as a missing value")


def layout_of(spec, entry, where):
    """The Layout of a DatasetSpec and its raw database entry (which holds the `ipa` key)."""
    if spec.task_type != "classification":
        raise ConfigError(f"{where} is a {spec.task_type} entry; prepare-data.py prepares classification "
                          "datasets (labels mapped through label_names): write a seq2seq dataset's "
                          "{train,validation,test}.jsonl yourself (docs/seq2seq.md)")
    if "ipa" not in entry:
        raise ConfigError(f'{where} has no "ipa" key: add "ipa": {{"epitran": "<code>"}} (e.g. rus-Cyrl, '
                          "pol-Latn) to say how prepare-data.py transcribes its text")
    if not spec.is_local or spec.dataset.lower().endswith(DATA_FILE_SUFFIXES):
        raise ConfigError(f"{where}: dataset = {show(entry['dataset'])} is not a local folder; "
                          "prepare-data.py writes one file per split into the folder the entry names, "
                          "e.g. \"./data/<name>\"")
    pairs = _pairs(spec, entry, where)
    splits = [spec.train_split, spec.eval_split] + ([spec.test_split] if spec.test_split else [])
    layout = Layout(where=where, folder=spec.dataset, splits=splits, file_format=_file_format(spec, where),
                    text_columns=list(dict.fromkeys(pairs.values())), ipa_columns=pairs,
                    label_column=spec.eval_feature, label_names=spec.label_names, classes=spec.classes,
                    code=entry["ipa"]["epitran"])
    _check_columns(layout, spec)
    return layout


def raw_columns(layout, text_columns, label_column):
    """(raw text columns, raw label column): --text-column / --label-column, by default the entry's."""
    texts = list(text_columns or layout.text_columns)
    if len(texts) != len(layout.text_columns):
        raise UserError(f"--text-column names {len(texts)} column(s) ({', '.join(texts)}), but "
                        f"{layout.where} has {len(layout.text_columns)} text column(s) "
                        f"({', '.join(layout.text_columns)}): give the raw column of each, in that order")
    return texts, label_column or layout.label_column
