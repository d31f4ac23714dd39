# Two commands set everything up on a fresh machine (see README):
#   make demo   - create .venv, install aim, run a small training loop, list its run
#   make test   - create .venv, install aim with test extras (+ zstd/jq), run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(PY) tools/demo.py

test: $(VENV)/.installed
	bash tools/ensure_cli_tools.sh
	$(VENV)/bin/ruff check aim tests tools
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) tools/bench.py
