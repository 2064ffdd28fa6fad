"""From a raw labelled dataset to the folder a language-database entry describes (prepare-data.py).

    sources.py     --input SPLIT=FILE|hub:NAME: read CSV, TSV, JSON Lines, parquet or a cached hub
                   dataset with datasets; the raw text and label columns, the input files' hashes
    layout.py      what the database entry expects: folder, splits, file format, text/IPA/label columns
    rows.py        labels -> class ids (label_names), dropped labels and empty texts, the stratified
                   validation carve, duplicates across splits
    transcribe.py  epitran: code validation, parallel transcription of the unique strings, cache hits
    ipa_cache.py   the on-disk cache: one SQLite file per (epitran version, code), one row per string
    output.py      the split files and prepare.json, written into a temp folder and renamed into place
    pipeline.py    the order of the steps: everything is validated before anything is transcribed

epitran is imported only here, never by training.
"""
