# Two commands set up everything on a machine that has only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# pip would print the build backend's warnings (editable installs) before the dashboard opens.
PIP    := PYTHONWARNINGS=ignore $(BIN)/pip install --quiet

.PHONY: run test test-browser check worker install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	touch $@

$(VENV)/.installed-browser: $(VENV)/.installed-dev
	$(PIP) -e '.[dev,browser]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/checkout dashboard

worker: install
	$(BIN)/checkout worker

# Style, formatting, types and the engine/ui boundary, checked by machines before the tests run.
check: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --explicit-package-bases engine tui tests/support
	$(BIN)/lint-imports

test: check
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, never a download);
# `make test` does not need it. .ci/run installs chromium with apt when it is missing.
test-browser: $(VENV)/.installed-browser
	$(BIN)/python -m pytest -q -m browser tests/browser $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
