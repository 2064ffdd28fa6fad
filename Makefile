# ipa-finetune: the two commands a fresh machine needs are `make demo` and `make test`.
# Each creates .venv from requirements.txt when it is missing or requirements.txt changed.
# `make test-fast` leaves out the tests marked slow (docs/testing.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv test test-fast demo demo-seq2seq bench demo-data clean

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# --durations: the slowest tests, so that a slow one is seen (and marked slow) when it appears
test: $(STAMP)
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) demo/run_demo.py

# The seq2seq demo: grapheme-to-phoneme in Russian and Polish (docs/seq2seq.md).
demo-seq2seq: $(STAMP)
	$(PY) demo/run_demo.py --config config/demo-seq2seq.json

bench: $(STAMP)
	$(PY) bench/bench_throughput.py $(BENCH_ARGS)

# Rebuild the committed demo data, tokenizers and checkpoints from demo/text.
demo-data: $(STAMP)
	$(PY) demo/build_demo.py

clean:
	rm -rf $(VENV) .pytest_cache
