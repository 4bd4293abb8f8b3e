# One command runs what CI runs: `make check`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install check test lint typecheck docs bench demo screenshot clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'

lint: install
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: install
	$(VENV)/bin/mypy --strict src

# one worker per core; each test file stays on one worker (its module fixtures are built once)
test: install
	$(VENV)/bin/pytest -q -n auto --dist loadfile

docs: install
	$(PY) -m verify.cli.docs > docs/cli.md

check: lint typecheck test

# Render the example case's HTML report, look at it in headless Chromium (Debian
# `chromium`), fail on console/CSP errors or missing sections, refresh the screenshot.
screenshot: install
	$(PY) scripts/screenshot_report.py --out docs/report-screenshot.png

demo: install
	$(VENV)/bin/verify demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
