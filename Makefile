# One command runs what CI runs: `make check`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install check test lint typecheck docs bench demo clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy --strict src

test: install
	$(VENV)/bin/pytest -q

docs: install
	$(PY) -m verify.cli.docs > docs/cli.md

check: lint typecheck test

demo: install
	$(VENV)/bin/verify demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
