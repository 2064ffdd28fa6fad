"""Turn a raw labelled dataset into the folder a language-database entry describes, with its IPA column.

    python prepare-data.py config/finetune-rus-pol-sentiment.json --language russian \
        --input train=raw/rusentiment/rusentiment_random_posts.csv \
        --input train=raw/rusentiment/rusentiment_preselected_posts.csv \
        --input test=raw/rusentiment/rusentiment_test.csv \
        --drop-labels skip speech --validation-from train:0.1

Reads each --input (CSV, TSV, JSON Lines, parquet, or a hub dataset already in the HF cache) with
datasets; maps its labels to class ids through the entry's label_names; drops the rows whose label
--drop-labels names and the rows with empty text; carves the validation split from train when asked
(stratified by label, seeded); counts texts found in two splits; transcribes every unique text with
epitran (the entry's "ipa": {"epitran": CODE}), in --workers processes, through an on-disk cache; and
writes the entry's `dataset` folder: one <split>.jsonl (or .parquet, with data_format parquet) per
split with the text, IPA and label columns, and prepare.json (inputs and their sha256, epitran version,
seed, counts). An existing folder is replaced only with --force, and only once the new one is complete.
"""
import argparse
import sys

from ipa_finetune.cli import exit_on_user_error, int_at_least, positive_int
from ipa_finetune.config.loader import add_config_arguments, load_from_args
from ipa_finetune.prepare import pipeline
from ipa_finetune.prepare.transcribe import MAX_DEFAULT_WORKERS, default_workers


def add_input_arguments(parser):
    """Which entry to prepare, and from which raw files and columns."""
    parser.add_argument("--language", metavar="LANG",
                        help="the language whose dataset to prepare (a language of the config, or of the "
                             "database with --dataset)")
    parser.add_argument("--dataset", metavar="NAME",
                        help="the database entry under the config's task (default: the config's dataset "
                             "for --language)")
    parser.add_argument("--input", action="append", metavar="SPLIT=SOURCE",
                        help="a raw file for one of the entry's splits: SPLIT=path.csv|.tsv|.jsonl|.parquet, "
                             "or SPLIT=hub:NAME[:SUBSET][:SPLIT] from the HF cache; repeat for each split, "
                             "or for one split to concatenate several files")
    parser.add_argument("--text-column", nargs="+", metavar="COL",
                        help="the raw text column(s), one per text column of the entry, in order "
                             "(default: the entry's own names)")
    parser.add_argument("--label-column", metavar="COL",
                        help="the raw label column (default: the entry's eval_feature)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a language-database entry's dataset folder from raw labelled files: the text, "
                    "its IPA transcription by epitran and the label, one file per split, plus prepare.json.")
    add_config_arguments(parser)
    add_input_arguments(parser)
    parser.add_argument("--drop-labels", nargs="+", metavar="LABEL",
                        help="drop the rows with these raw labels, e.g. RuSentiment's skip speech "
                             "(default: none; any label not in label_names is an error)")
    parser.add_argument("--validation-from", metavar="SPLIT:FRACTION",
                        help="carve the entry's eval split from SPLIT when the source has none: FRACTION "
                             "(0-1) of its rows, stratified by label, drawn with --seed; e.g. train:0.1")
    parser.add_argument("--seed", type=int_at_least(0), default=1337, metavar="N",
                        help="seed of the validation carve (default 1337, nanoGPT's and the configs' seed)")
    parser.add_argument("--dedup-across-splits", action="store_true",
                        help="remove a row from a split when its text is also in a higher-ranked split "
                             "(test > validation > train; test is never changed); default: count and report")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="processes transcribing with epitran (default: the CPUs this process may use "
                             f"(Slurm's allocation in a job), at most {MAX_DEFAULT_WORKERS}; 1 = in-process)")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="folder of the IPA cache, shared by every run and dataset (default: "
                             ".cache/ipa-finetune/ipa in the project folder)")
    parser.add_argument("--force", action="store_true",
                        help="replace the output folder if it exists (only once the new data is complete)")
    args = parser.parse_args(argv)
    needed = [flag for flag, given in (("--language", args.language), ("--input", args.input)) if not given]
    if needed and not args.print_config:  # --print-config needs only the config files
        parser.error(f"the following arguments are required: {', '.join(needed)}")
    args.workers = args.workers or default_workers()
    args.drop_labels = list(dict.fromkeys(args.drop_labels or []))
    return args


@exit_on_user_error
def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    cfg, _entries = load_from_args(args)
    pipeline.run(args, cfg, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
