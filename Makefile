# Two entry points: `make demo` and `make test`. Both need only python3 on PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Meltano gets its own venv: its dependency pins must not meet singer-sdk's in .venv.
MELTANO_VENV := .venv-meltano
MELTANO_STAMP := $(MELTANO_VENV)/.installed

.PHONY: install demo test lint typecheck pytest soak bench clean meltano

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(MELTANO_STAMP): requirements-meltano.txt
	$(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/python -m pip install -q --upgrade pip
	$(MELTANO_VENV)/bin/python -m pip install -q -r requirements-meltano.txt
	touch $(MELTANO_STAMP)

# The example project's plugins (tap-spreadsheets from PyPI, this checkout as the loader).
meltano: $(MELTANO_STAMP)
	$(MELTANO_VENV)/bin/meltano install

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

lint: $(STAMP)
	$(BIN)/ruff check target_salesforce_out tests benchmarks demo
	$(BIN)/ruff format --check target_salesforce_out tests benchmarks demo

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/meltano runs `meltano install` and `meltano run` with .venv-meltano.
pytest: $(STAMP) $(MELTANO_STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

# The long fault soak (200,000 records through REST and through Bulk); `make test` deselects it.
soak: $(STAMP)
	$(BIN)/pytest -q -s -m soak tests/reliability

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(MELTANO_VENV) .meltano .pytest_cache .mypy_cache .ruff_cache
