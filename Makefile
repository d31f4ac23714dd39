# Two commands set everything up on a fresh machine (see README):
#   make demo   - create .venv, install aim, run a small training loop, list its run
#   make test   - create .venv, install aim with test extras (+ zstd/jq), run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

# Two stamps, one per install, so each command installs only what it uses:
#   .installed-base  aim and its dependencies: all that tools/demo.py imports (seconds)
#   .installed       that plus the `test` extra (pytest, ruff, mypy, moto, and the frameworks
#                    the integration tests train with: torch, Lightning, Transformers...; minutes)
# `make demo` then `make test` adds the test extra to the demo's venv; `make test` on a fresh
# clone builds both. A changed pyproject.toml redoes both.
$(VENV)/.installed-base: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-base
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

.PHONY: demo test bench
demo: $(VENV)/.installed-base
	$(PY) tools/demo.py

test: $(VENV)/.installed
	bash tools/ensure_cli_tools.sh
	$(VENV)/bin/ruff check aim tests tools
	$(VENV)/bin/mypy
	$(PY) -m pytest

# The S3 and trio figures need moto, boto3 and trio from the test extra.
bench: $(VENV)/.installed
	$(PY) tools/bench.py
