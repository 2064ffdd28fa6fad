"""prepare-data.py end to end, on small Russian (CSV) and Polish (TSV, JSON Lines) files written here:
real subprocesses, real epitran, and a real fine-tune of the result; plus the pure parts (labels, the
validation carve, duplicates, the cache, epitran codes, the database's `ipa` key)."""
import csv
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import types

import pytest

from conftest import EOS, HYPERPARAMETERS
from ipa_finetune.config.database import load_database
from ipa_finetune.errors import ConfigError, DataError
from ipa_finetune.prepare import rows as rowlib
from ipa_finetune.prepare import transcribe
from ipa_finetune.prepare.ipa_cache import IPACache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "prepare-data.py")
ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

# RuSentiment-like posts: (label, text); two training files as RuSentiment ships them.
RUS_RANDOM = [
    ("positive", "Отличный фильм, смотрели всей семьёй и остались довольны!"),
    ("positive", "Спасибо за прекрасный вечер, было очень весело."),
    ("positive", "Наконец-то купил новый велосипед, счастлив как ребёнок."),
    ("positive", "Какая чудесная погода сегодня, солнце и тепло."),
    ("negative", "Ужасный сервис, ждали заказ больше часа."),
    ("negative", "Опять сломался телефон, как же это надоело."),
    ("negative", "Автобус снова опоздал, я пропустил встречу."),
    ("negative", "Очень грустно, что концерт отменили."),
    ("neutral", "Завтра в десять утра собрание в актовом зале."),
    ("neutral", "Кто знает, во сколько открывается библиотека?"),
    ("neutral", "Продаю старый диван, самовывоз из центра."),
    ("neutral", "В субботу обещают дождь и около пятнадцати градусов."),
    ("skip", "ррр ааа ыыы"),
    ("speech", "С Новым годом, друзья!"),
    ("neutral", "ъ"),   # epitran rus-Cyrl transcribes a lone hard sign as nothing
    ("positive", ""),   # an empty post
]
RUS_PRESELECTED = [
    ("positive", "Книга понравилась, прочитала за два дня."),
    ("positive", "Ресторан замечательный, обслуживание на высоте."),
    ("positive", "Мы выиграли матч, команда играла просто великолепно."),
    ("negative", "Фильм скучный и слишком длинный, не советую."),
    ("negative", "Товар пришёл разбитым, деньги не вернули."),
    ("negative", "Соседи шумят до утра, невозможно спать."),
    ("neutral", "Перешёл на новую работу, теперь езжу на метро."),
    ("neutral", "Напоминаю, что сдача отчётов до пятницы."),
    ("neutral", "Ищу попутчиков до Казани на выходные."),
    ("skip", "Ссылка в профиле"),
    ("speech", "Спасибо всем за поздравления!"),
]
RUS_TEST = [
    ("positive", "Люблю эту песню, слушаю её каждое утро."),
    ("positive", "Лучший отпуск в моей жизни, море было тёплым."),
    ("negative", "Экзамен провалил, настроение на нуле."),
    ("negative", "Еда была холодной и невкусной."),
    ("neutral", "Сколько стоит проезд в электричке?"),
    ("neutral", "Вечером буду дома, звоните."),
    ("positive", "Отличный фильм, смотрели всей семьёй и остались довольны!"),  # also in train
    ("speech", "С днём рождения!"),
]
# PolEmo 2.0-IN-like reviews: (sentence, target), as KLEJ's TSV files (no quoting: '"' is text).
PLUS, MINUS, ZERO, AMB = (f"__label__meta_{x}" for x in ("plus_m", "minus_m", "zero", "amb"))
POL_TRAIN = [
    ("Hotel bardzo czysty, personel miły i pomocny.", PLUS),
    ("Pani doktor wszystko dokładnie wyjaśniła, polecam z całego serca.", PLUS),
    ("Śniadania były pyszne i urozmaicone.", PLUS),
    ('"Dobry" lekarz to za mało powiedziane, jest wspaniały.', PLUS),
    ("Pokój przestronny, z pięknym widokiem na góry.", PLUS),
    ("Pokój brudny, a ręczniki nie były wymieniane.", MINUS),
    ("Lekarz był niemiły i nie słuchał pacjenta.", MINUS),
    ("Czekałam na wizytę ponad dwie godziny.", MINUS),
    ("Hałas z ulicy nie pozwalał zasnąć.", MINUS),
    ("Jedzenie zimne i bez smaku, nie polecam.", MINUS),
    ('Hotel "Pod Różą" znajduje się przy głównej ulicy miasta.', ZERO),
    ("Przychodnia jest czynna od ósmej do osiemnastej.", ZERO),
    ("Parking kosztuje trzydzieści złotych za dobę.", ZERO),
    ("Lekarz przyjmuje we wtorki i czwartki.", ZERO),
    ("NA", ZERO),  # pandas would read this as a missing value; it is text here
    ("Pokój ładny, ale obsługa pozostawia wiele do życzenia.", AMB),
    ("Lekarz kompetentny, jednak terminy są bardzo odległe.", AMB),
]
POL_DEV = [  # KLEJ hides its test labels: its dev set serves as the test split
    ("Wizyta przebiegła sprawnie, bez czekania.", PLUS),
    ("Obsługa recepcji zawsze uśmiechnięta i życzliwa.", PLUS),
    ("Klimatyzacja nie działała przez cały pobyt.", MINUS),
    ("Recepcjonistka była opryskliwa i niekompetentna.", MINUS),
    ("Wizytę można umówić telefonicznie.", ZERO),
    ("W pokoju jest telewizor i czajnik.", ZERO),
    ("Jedzenie zimne i bez smaku, nie polecam.", MINUS),  # also in train
    ("Dobre jedzenie, ale drogo.", AMB),
]
POL_EXTRA = [  # a second Polish dataset: two sentences new, the rest already transcribed
    ("Hotel bardzo czysty, personel miły i pomocny.", PLUS),
    ("Lekarz był niemiły i nie słuchał pacjenta.", MINUS),
    ("Parking kosztuje trzydzieści złotych za dobę.", ZERO),
    ("Basen czynny całą dobę, woda ciepła.", PLUS),
    ("Ściany cienkie, słychać każdą rozmowę.", MINUS),
    ("Wizytę można umówić telefonicznie.", ZERO),
]
RUS_CLASSES = ["negative", "neutral", "positive"]
POL_CLASSES = [MINUS, ZERO, PLUS]


# ----------------------------------------------------------------------------- files and study

def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header] + [list(r) for r in rows])


def write_tsv(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines("\t".join(r) + "\n" for r in [header] + list(rows))


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def entry(folder, columns, label, classes, code, **extra):
    text, ipa = columns
    return {"dataset": folder, "train_features": {"normal": [text], "ipa": [ipa]}, "eval_feature": label,
            "splits": ["train", "validation", "test"], "task_type": "classification",
            "classes": len(classes), "label_names": classes, "ipa": {"epitran": code}, **extra}


def write_study(root, assets):
    """A study over Russian and Polish with the datasets the tests prepare; -> config path."""
    data = os.path.join(root, "data")
    rus = entry(os.path.join(data, "rus"), ("text", "ipa"), "label", RUS_CLASSES, "rus-Cyrl")
    pol = entry(os.path.join(data, "pol"), ("sentence", "sentence_ipa"), "target", POL_CLASSES, "pol-Latn",
                data_format="parquet")
    db = {"russian": {"sentiment": {
              "rus": rus, "rus-copy": dict(rus, dataset=os.path.join(data, "rus-copy")),
              "rus-fresh": dict(rus, dataset=os.path.join(data, "rus-fresh")),
              "rus-typo": dict(rus, dataset=os.path.join(data, "rus-typo"), ipa={"epitran": "rus-Cyrx"})}},
          "polish": {"sentiment": {"pol": pol,
                                   "pol-extra": dict(pol, dataset=os.path.join(data, "pol-extra"))}},
          "english": {"sentiment": {"eng": entry(os.path.join(data, "eng"), ("text", "ipa"), "label",
                                                 RUS_CLASSES, "eng-Latn")}}}
    with open(os.path.join(root, "db.json"), "w", encoding="utf-8") as f:
        json.dump(db, f, ensure_ascii=False, indent=1)
    cfg = {"study": "prep", "task": "sentiment", "languages": {"russian": "rus", "polish": "pol"},
           "paths": {"checkpoint_prefix": assets.checkpoint_prefix,
                     "tokenizer_prefix": assets.tokenizer_prefix,
                     "hf_cache": assets.hf_cache, "results_dir": os.path.join(root, "results"),
                     "language_database": os.path.join(root, "db.json")},
           "tokenizer": {"eos_token": EOS}, "hyperparameters": HYPERPARAMETERS,
           "slurm": {"cpus": 1, "gpus": 0, "timeout": "00:10:00", "fields": {}}}
    path = os.path.join(root, "study.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=1)
    return path


def rus_args(study, dataset, drop=True):
    """Arguments preparing the Russian files into `dataset`."""
    raw = study.raw
    return (["--language", "russian", "--dataset", dataset, "--input", f"train={raw['random.csv']}",
             "--input", f"train={raw['preselected.csv']}", "--input", f"test={raw['test.csv']}",
             "--validation-from", "train:0.25", "--workers", "1", "--cache-dir", study.cache]
            + (["--drop-labels", "skip", "speech"] if drop else []))


def command(config, *args):
    return [sys.executable, SCRIPT, config, *args]


def finished(proc, timeout=300):
    """A Popen's CompletedProcess, checked for tracebacks."""
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def prepare(config, *args):
    return finished(subprocess.Popen(command(config, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=ENV, cwd=ROOT))


REFERENCE = """import json, sys, epitran
texts, out = json.load(sys.stdin), {}
for code in texts:
    epi = epitran.Epitran(code)
    out[code] = {t: epi.transliterate(t) for t in texts[code]}
json.dump(out, sys.stdout)
"""


def read_split(folder, split):
    path = os.path.join(folder, f"{split}.jsonl")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]
    import pyarrow.parquet as pq
    return pq.read_table(os.path.join(folder, f"{split}.parquet")).to_pylist()


def read_record(folder):
    with open(os.path.join(folder, "prepare.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_assets):
    """The study, its raw files, and the Russian and Polish datasets prepared once."""
    root = str(tmp_path_factory.mktemp("prepare"))
    raw = {name: os.path.join(root, name) for name in
           ("random.csv", "preselected.csv", "test.csv", "train.tsv", "dev.tsv", "extra.jsonl")}
    write_csv(raw["random.csv"], ["label", "text"], RUS_RANDOM)
    write_csv(raw["preselected.csv"], ["label", "text"], RUS_PRESELECTED)
    write_csv(raw["test.csv"], ["label", "text"], RUS_TEST)
    write_tsv(raw["train.tsv"], ["sentence", "target"], POL_TRAIN)
    write_tsv(raw["dev.tsv"], ["sentence", "target"], POL_DEV)
    write_jsonl(raw["extra.jsonl"], [{"review": s, "stars": t} for s, t in POL_EXTRA])
    s = types.SimpleNamespace(root=root, raw=raw, config=write_study(root, tiny_assets),
                              cache=os.path.join(root, "ipa-cache"))
    s.rus_args = rus_args(s, "rus")
    pol_args = ["--language", "polish", "--input", f"train={raw['train.tsv']}",
                "--input", f"test={raw['dev.tsv']}", "--drop-labels", AMB, "--validation-from", "train:0.25",
                "--dedup-across-splits", "--workers", "2", "--cache-dir", s.cache]
    # three processes at once (the two cores are otherwise half idle while epitran builds its tables):
    # Russian, Polish, and epitran's own public API on every sentence, for comparison
    popen = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    runs = [subprocess.Popen(command(s.config, *args), **popen) for args in (s.rus_args, pol_args)]
    reference = subprocess.Popen([sys.executable, "-c", REFERENCE], stdin=subprocess.PIPE, **popen)
    texts = {"rus-Cyrl": [t for _, t in RUS_RANDOM + RUS_PRESELECTED + RUS_TEST],
             "pol-Latn": [t for t, _ in POL_TRAIN + POL_DEV]}
    reference_out, _ = reference.communicate(json.dumps(texts), timeout=300)
    s.reference = json.loads(reference_out)
    s.rus, s.pol = (finished(run) for run in runs)
    s.rus_dir, s.pol_dir = os.path.join(root, "data", "rus"), os.path.join(root, "data", "pol")
    return s


# ----------------------------------------------------------------------------- end to end

@pytest.mark.slow
def test_output_is_what_the_entry_expects_with_epitrans_ipa(study):
    assert study.rus.returncode == 0, study.rus.stderr
    assert study.pol.returncode == 0, study.pol.stderr
    assert sorted(os.listdir(study.rus_dir)) == ["prepare.json", "test.jsonl", "train.jsonl",
                                                 "validation.jsonl"]
    assert sorted(os.listdir(study.pol_dir)) == ["prepare.json", "test.parquet", "train.parquet",
                                                 "validation.parquet"]
    raw_labels = {text: label for label, text in RUS_RANDOM + RUS_PRESELECTED + RUS_TEST}
    raw_labels.update(POL_TRAIN + POL_DEV)
    for folder, (text, ipa, label), code, classes in (
            (study.rus_dir, ("text", "ipa", "label"), "rus-Cyrl", RUS_CLASSES),
            (study.pol_dir, ("sentence", "sentence_ipa", "target"), "pol-Latn", POL_CLASSES)):
        for split in ("train", "validation", "test"):
            rows = read_split(folder, split)
            assert rows and all(list(r) == [text, ipa, label] for r in rows)
            assert [r[ipa] for r in rows] == [study.reference[code][r[text]] for r in rows]
            assert [r[label] for r in rows] == [classes.index(raw_labels[r[text]]) for r in rows]
    train = {r["sentence"] for s in ("train", "validation") for r in read_split(study.pol_dir, s)}
    assert 'Hotel "Pod Różą" znajduje się przy głównej ulicy miasta.' in train  # TSV: quotes are text
    assert "NA" in train


@pytest.mark.slow
def test_prepare_json_records_inputs_versions_and_every_dropped_row(study):
    from importlib import metadata

    rec = read_record(study.rus_dir)
    assert rec["transcriber"] == {"name": "epitran", "version": metadata.version("epitran"),
                                  "code": "rus-Cyrl", "call": "transliterate(text)"}
    for item in rec["inputs"]:
        with open(item["file"], "rb") as f:
            assert item["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert [(i["split"], i["rows"]) for i in rec["inputs"]] == [("train", 16), ("train", 11), ("test", 8)]
    assert rec["seed"] == 1337 and rec["labels"]["names"] == RUS_CLASSES
    assert rec["dropped"]["labels"] == {"train": {"skip": 2, "speech": 2}, "validation": {},
                                        "test": {"speech": 1}}
    assert rec["dropped"]["empty_text"] == {"train": 1, "validation": 0, "test": 0}
    assert sum(rec["dropped"]["empty_ipa"].values()) == 1 and rec["dropped"]["empty_ipa_examples"] == ["ъ"]
    assert "1 row(s) dropped whose text epitran transcribes as nothing" in study.rus.stderr
    for split, counts in rec["counts"].items():
        assert counts["rows"] == len(read_split(study.rus_dir, split)) == sum(counts["classes"].values())
    assert rec["counts"]["train"]["rows"] + rec["counts"]["validation"]["rows"] == 21  # 22 labelled - 'ъ'
    assert rec["counts"]["test"] == {"rows": 7, "classes": {"negative": 2, "neutral": 2, "positive": 3}}
    # the same post in train and test is counted and, without --dedup-across-splits, kept
    assert sum(n for highs in rec["duplicates"]["across_splits"].values() for n in highs.values()) == 1
    assert "also in test" in study.rus.stderr and not rec["duplicates"]["removed"]


@pytest.mark.slow
def test_validation_is_carved_stratified_and_dedup_never_touches_test(study):
    rus = read_record(study.rus_dir)
    assert rus["validation"] == {"split": "validation", "from": "train", "fraction": 0.25,
                                 "stratified_by": "label", "seed": 1337, "rows": 6}
    # 22 rows (7 negative, 8 neutral incl. 'ъ', 7 positive): 6 drawn, 2 per class (largest remainders)
    vclasses = rus["counts"]["validation"]["classes"]
    assert sorted(vclasses.values()) in ([2, 2, 2], [1, 2, 2])  # 'ъ' may be drawn, then dropped
    pol = read_record(study.pol_dir)
    assert pol["duplicates"]["removed"] is True
    assert pol["counts"]["test"]["rows"] == 7  # 8 dev rows - 1 ambivalent; the duplicate stays in test
    assert pol["counts"]["train"]["rows"] + pol["counts"]["validation"]["rows"] == 14  # 15 - the duplicate
    kept = [r["sentence"] for s in ("train", "validation") for r in read_split(study.pol_dir, s)]
    assert "Jedzenie zimne i bez smaku, nie polecam." not in kept
    assert pol["dropped"]["labels"] == {"train": {AMB: 2}, "validation": {}, "test": {AMB: 1}}
    assert pol["cache"]["workers"] == 2


@pytest.mark.slow
def test_a_second_run_and_a_second_dataset_are_served_from_the_cache(study):
    first = read_record(study.rus_dir)["cache"]
    assert (first["unique_texts"], first["hits"], first["epitran_calls"]) == (28, 0, 28)  # 22 + 7 - 1 shared
    again = prepare(study.config, *rus_args(study, "rus-copy"))
    assert again.returncode == 0, again.stderr
    copy = os.path.join(study.root, "data", "rus-copy")
    second = read_record(copy)["cache"]
    assert (second["unique_texts"], second["hits"], second["epitran_calls"]) == (28, 28, 0)
    for split in ("train", "validation", "test"):  # the same inputs and seed give the same files
        with open(os.path.join(study.rus_dir, f"{split}.jsonl"), "rb") as a, \
                open(os.path.join(copy, f"{split}.jsonl"), "rb") as b:
            assert a.read() == b.read()
    extra = prepare(study.config, "--language", "polish", "--dataset", "pol-extra",
                    *(f"--input={s}={study.raw['extra.jsonl']}" for s in ("train", "validation", "test")),
                    "--text-column", "review",
                    "--label-column", "stars", "--workers", "1", "--cache-dir", study.cache)
    assert extra.returncode == 0, extra.stderr
    cache = read_record(os.path.join(study.root, "data", "pol-extra"))["cache"]
    assert (cache["unique_texts"], cache["hits"], cache["epitran_calls"]) == (6, 4, 2)  # only the new ones
    known = {s for s, t in POL_TRAIN + POL_DEV if t != AMB}
    with sqlite3.connect(cache["cache_file"]) as db:
        assert db.execute("SELECT COUNT(*) FROM ipa").fetchone()[0] == len(known) + 2


@pytest.mark.slow
def test_the_prepared_data_fine_tunes(study):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "finetune-exp.py"), study.config,
                           "--model-type", "ipa", "--train-langs", "polish", "russian", "--eval-langs",
                           "polish", "russian", "--max-steps", "2", "--cpus", "1", "--no-save-model"],
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [path] = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(study.root, "results"))
              for f in files if f == "results.json"]
    with open(path, encoding="utf-8") as f:
        metrics = json.load(f)["metrics"]
    for lang, folder in (("russian", study.rus_dir), ("polish", study.pol_dir)):
        counts = read_record(folder)["counts"]
        assert metrics[lang]["eval"]["n"] == counts["validation"]["rows"]
        assert metrics[lang]["test"]["n"] == counts["test"]["rows"]


# ----------------------------------------------------------------------------- errors

ERRORS = {  # name -> (dataset, --drop-labels skip speech?, extra arguments, what the one error line says)
    "unknown labels": ("rus-fresh", False, [],
                       ["unknown labels", '"speech": 3 row(s)', '"skip": 2 row(s)',
                        "--drop-labels speech skip"]),
    "missing column": ("rus-fresh", True, ["--text-column", "post"],
                       ["no column 'post' (--text-column)", "random.csv", "(its columns: label, text)"]),
    "unknown epitran code": ("rus-typo", True, [], ['ipa.epitran = "rus-Cyrx"', "did you mean 'rus-Cyrl'?"]),
    "code needing flite": ("eng", True, ["--language", "english"], ["lex_lookup program of CMU Flite"]),
    "existing output": ("rus", True, [], ["already exists; add --force"]),
    "failing --force keeps the old data": ("rus", False, ["--force", None], ["unknown labels"]),
    "unknown split": ("rus-fresh", True, ["--input", "tain=x.csv"], ["'tain' is not a split",
                                                                     "did you mean 'train'?"]),
    "no validation split": ("rus-fresh", True, ["--validation-from", None],
                            ["no --input gives validation", "--validation-from train:0.1"]),
    "hub dataset not in the cache": ("rus-fresh", True, ["--input", "test=hub:no-such-org/no-such-set"],
                                     ["cannot read hub dataset 'no-such-org/no-such-set'", "HF cache"]),
}


def _state(folder):
    """The files of `folder` with their mtimes, and any temp folders beside it."""
    files = {f: os.path.getmtime(os.path.join(folder, f)) for f in os.listdir(folder)} \
        if os.path.isdir(folder) else None
    parent = os.path.dirname(folder)
    return files, sorted(n for n in os.listdir(parent) if ".tmp-" in n or ".old-" in n)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_is_one_line_exit_2_and_nothing_written(study, case):
    dataset, drop, extra, words = ERRORS[case]
    args = rus_args(study, dataset, drop=drop)
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag in args and flag != "--input":
            i = args.index(flag)
            args[i:i + 2] = [flag, value] if value is not None else []
        else:
            args += [flag] if value is None else [flag, value]
    folder = os.path.join(study.root, "data", dataset)
    before = _state(folder)
    proc = prepare(study.config, *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("prepare-data.py: error: "), \
        proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert _state(folder) == before  # nothing written, nothing replaced, no temp folder left


# ----------------------------------------------------------------------------- the parts

def test_labels_map_through_label_names_or_must_be_ids():
    ids, dropped = rowlib.class_ids([("a.csv", ["neutral", "skip", "negative"]), ("b.csv", ["positive"])],
                                    RUS_CLASSES, 3, ["skip"], "db entry")
    assert ids == [[1, None, 0], [2]] and dropped == {"a.csv": {"skip": 1}, "b.csv": {}}
    ids, _ = rowlib.class_ids([("c.csv", ["2", 0, "1"])], None, 3, [], "db entry")  # no label_names: ids
    assert ids == [[2, 0, 1]]
    with pytest.raises(DataError, match=r'not a class id in \[0, 3\).*"3": 1 row\(s\) \(c.csv 1\)'):
        rowlib.class_ids([("c.csv", ["3", "1"])], None, 3, [], "db entry")
    with pytest.raises(DataError, match=r"\(missing\): 1 row.*labels are hidden"):
        rowlib.class_ids([("t.csv", [None, "neutral"])], RUS_CLASSES, 3, [], "db entry")


def test_carve_is_stratified_seeded_and_keeps_the_order():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    rows = rowlib.Rows([(f"text {i}",) for i in range(100)], labels)
    rest, carved = rowlib.carve(rows, 0.1, 1337, 3)
    assert [carved.labels.count(c) for c in range(3)] == [5, 3, 2] and len(rest) == 90
    assert carved.texts == sorted(carved.texts, key=lambda t: int(t[0].split()[1]))
    assert set(rest.texts) | set(carved.texts) == set(rows.texts)
    assert rowlib.carve(rows, 0.1, 1337, 3)[1] == carved and rowlib.carve(rows, 0.1, 7, 3)[1] != carved
    odd = rowlib.Rows([(str(i),) for i in range(7)], [0, 0, 0, 1, 1, 2, 2])  # 2 of 7: remainders decide
    assert sorted(rowlib.carve(odd, 0.3, 1, 3)[1].labels) == [0, 1]


def test_duplicates_leave_the_higher_ranked_split_alone():
    splits = {"train": rowlib.Rows([("a",), ("b ",), ("c",)], [0, 1, 2]),
              "validation": rowlib.Rows([("b",), ("d",)], [1, 0]),
              "test": rowlib.Rows([("c",), ("d",)], [2, 0])}
    kept, counts = rowlib.cross_duplicates(splits, ["test", "validation", "train"], remove=False)
    assert kept == splits
    assert counts == {"validation": {"test": 1}, "train": {"test": 1, "validation": 1}}
    kept, _ = rowlib.cross_duplicates(splits, ["test", "validation", "train"], remove=True)
    assert kept["train"].texts == [("a",)] and kept["validation"].texts == [("b",)]
    assert kept["test"] == splits["test"]


def test_the_cache_is_keyed_by_string_code_and_epitran_version(tmp_path):
    cache = IPACache(str(tmp_path), "rus-Cyrl", "1.35.3")
    cache.put_many([("мир", "mʲir"), ("дом", "dom")])
    assert cache.get_many(["мир", "сад"]) == {"мир": "mʲir"} and len(cache) == 2
    assert IPACache(str(tmp_path), "rus-Cyrl", "1.36.0").get_many(["мир"]) == {}
    assert IPACache(str(tmp_path), "ukr-Cyrl", "1.35.3").get_many(["мир"]) == {}


def test_epitran_codes_are_checked_against_epitran_itself():
    codes = transcribe.offline_codes()
    assert {"rus-Cyrl", "pol-Latn", "ukr-Cyrl"} <= set(codes) and not any(c.endswith("_rev") for c in codes)
    transcribe.check_code("pol-Latn", "x")
    for code, reason in (("eng-Latn", "CMU Flite"), ("cmn-Hans", "CC-CEDICT"), ("jpn-Jpan", "downloads")):
        with pytest.raises(ConfigError, match=reason):
            transcribe.check_code(code, "x")
    with pytest.raises(ConfigError, match="for 'pol' it has pol-Latn"):
        transcribe.check_code("pol-Cyrl", "x")


def test_the_database_ipa_key_is_validated(tmp_path):
    base = {"dataset": "./d", "train_features": ["text"], "eval_feature": "label",
            "splits": ["train", "test"], "task_type": "classification", "classes": 2}
    for ipa, message in (({"epitrn": "rus-Cyrl"}, "did you mean 'epitran'"),
                         ({}, "missing the key 'epitran'"), ({"epitran": ""}, "expected a non-empty string"),
                         ({"epitran": "rus-Cyrl", "columns": ["ipa"]}, "IPA column")):
        path = tmp_path / "db.json"
        path.write_text(json.dumps({"russian": {"sentiment": {"x": dict(base, ipa=ipa)}}}), encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_database(str(path))
