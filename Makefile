# `make run` and `make test` set everything up on a fresh machine (Python 3.11).
PYTHON ?= python3
VENV ?= .venv
CORES ?= 8
BIN := $(VENV)/bin

.PHONY: run test lint format clean-venv

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# the whole workflow on config/config.yaml (Kaggle download by default)
run: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

# ruff (Python lint and format), Snakemake's linter (exit 1 on any lint; parses
# config/config.yaml, whose Kaggle source needs no download to parse) and snakefmt
# (settings of both formatters: pyproject.toml). Run by .ci/run.
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt .

clean-venv:
	rm -rf $(VENV)
