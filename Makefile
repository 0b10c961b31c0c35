# rnnlab: every target creates the virtual environment it needs (a fresh machine needs only Python and pip).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
DEMO_OUT ?= demo-out

.PHONY: demo test lint bench docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[plot]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,plot]'
	touch $@ $(STAMP_RUN)

## demo: train a tanh RNN and an LSTM on the built-in agreement corpus, sample, score, write the report
demo: $(STAMP_RUN)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh $(DEMO_OUT)

## test: lint and the whole suite (installs the test extras, and Chromium for the report test)
test: $(STAMP_TEST)
	@bash scripts/ensure-chromium.sh
	@bash scripts/ensure-irstlm.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2

## bench: the performance table (rnnlab vs PyTorch vs the tutorial's algorithm), then the race against
##   faster-rnnlm when RACE_FRNN and RACE_CORPUS are set (benchmarks/race.py)
bench: $(STAMP_TEST)
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.race

docs: $(STAMP_TEST)
	$(BIN)/python tools/build_docs.py --out build/api

lint: $(STAMP_TEST)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache $(DEMO_OUT)
