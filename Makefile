# Two commands on a fresh machine (Python 3.11+ and the package registries):
#   make demo   set up, then run the monitor on the offline snapshot (replay server + SQLite + .eml outbox)
#   make test   set up, then run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test test-all setup setup-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,dask,datasette]'
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

demo: setup
	$(BIN)/ldn-monitor demo

test: setup-test
	$(BIN)/python -m pytest -q

bench: setup-test
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_requests.py
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) data/ldn-monitor.db* data/outbox data/preview .prefect
