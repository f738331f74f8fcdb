# `make run` and `make test` set everything up on a fresh machine (Python 3.11).
PYTHON ?= python3
VENV ?= .venv
CORES ?= 8
# pytest-xdist workers of `make test`: most tests wait on Snakemake, SLURM or start-ups
TEST_WORKERS ?= 2
BIN := $(VENV)/bin
# `make lock`: uv, in a venv of its own (the project's venv stays exactly the lock)
UV_VERSION := 0.13.9
LOCK_TOOLS ?= .lock-tools
# extra uv options for `make lock`, e.g. LOCK_ARGS="--upgrade-package urllib3"
LOCK_ARGS ?=

.PHONY: venv demo run test lint format lock clean-venv files docs

# the package index pip installs from (pip's own setting, else PyPI)
PYPI ?= $(or $(PIP_INDEX_URL),https://pypi.org/simple/)

# requirements.txt is the lock: every package and version, with hashes (`make lock`).
# Offline, one line says so, instead of pip's retries.
$(BIN)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys, urllib.request as r, urllib.error as e; exec("try: r.urlopen(r.Request(sys.argv[1], method=\"HEAD\"), timeout=10)\nexcept e.HTTPError: pass")' \
		"$(PYPI)" 2>/dev/null || { echo "make: cannot reach the package index $(PYPI) (offline?): building $(VENV) needs it once; connect, or set PIP_INDEX_URL to a mirror" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	touch $@

venv: $(BIN)/.installed

# the whole workflow on a small real sample (config/demo.yaml) in the folder demo/;
# DEMO_SOURCE: the BCCD originals (a URL, or a local .zip or folder; Kaggle's blood-cells
# zip holds them too), DEMO_ARGS: more snakemake options
DEMO_SOURCE ?= https://github.com/cosmicad/dataset/archive/refs/heads/master.zip
DEMO_ARGS ?=
demo: $(BIN)/.installed
	PYTHONPATH=workflow/scripts $(BIN)/python -m wbc.demo "$(DEMO_SOURCE)" demo/images
	$(BIN)/snakemake --cores $(CORES) --directory demo --configfile "$(CURDIR)/config/demo.yaml" \
		--quiet rules $(DEMO_ARGS)
	@echo "The demo's report: demo/results/report/report.html"

# the whole workflow on config/config.yaml (Kaggle download by default); ARGS: more
# snakemake options, e.g. ARGS='--config source=path/to/blood-cells.zip'
ARGS ?=
run: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) $(ARGS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

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

# requirements.in -> requirements.txt (for Linux, macOS and Windows, Python 3.11; versions
# already locked stay unless requirements.in needs others or LOCK_ARGS says), then the
# pip sections of envs/*.yaml from it (envs/lock_envs.py). Needs PyPI.
lock: $(LOCK_TOOLS)/bin/uv
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_TOOLS)/bin/uv pip compile requirements.in \
		--universal --python-version 3.11 --generate-hashes --quiet $(LOCK_ARGS) \
		--output-file requirements.txt
	$(LOCK_TOOLS)/bin/python envs/lock_envs.py --uv $(LOCK_TOOLS)/bin/uv

$(LOCK_TOOLS)/bin/uv:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# workflow/scripts/wbc/FILES: the package's modules, which a workflow used as a module
# from a git host copies (tests/test_module.py checks it is current)
files:
	PYTHONPATH=workflow/scripts $(PYTHON) -m wbc.imports workflow/scripts/wbc

# config/README.md's table of each model's settings and config/config.yaml's model blocks,
# generated from the models' Settings declarations (tests/test_docs.py checks they are current)
docs:
	PYTHONPATH=workflow/scripts $(PYTHON) -m wbc.docs config

clean-venv:
	rm -rf $(VENV)
