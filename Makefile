# Two entry points: `make demo` and `make test`. Both need only python3 on PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Meltano gets its own venv: its dependency pins must not meet singer-sdk's in .venv.
MELTANO_VENV := .venv-meltano
MELTANO_STAMP := $(MELTANO_VENV)/.installed
# The Postgres taps of tests/postgres, each in its own venv: they pin their own singer-sdk.
TAP_PG_VENV := .venv-tap-postgres
TAP_PG_STAMP := $(TAP_PG_VENV)/.installed
TAP_PGPW_VENV := .venv-tap-postgres-pipelinewise
TAP_PGPW_STAMP := $(TAP_PGPW_VENV)/.installed

.PHONY: install demo test lint typecheck pytest soak bench clean meltano postgres emulator

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

$(TAP_PG_STAMP): tests/postgres/requirements-meltanolabs.txt
	$(PYTHON) -m venv $(TAP_PG_VENV)
	$(TAP_PG_VENV)/bin/python -m pip install -q --upgrade pip
	$(TAP_PG_VENV)/bin/python -m pip install -q -r tests/postgres/requirements-meltanolabs.txt
	touch $(TAP_PG_STAMP)

$(TAP_PGPW_STAMP): tests/postgres/requirements-pipelinewise.txt
	$(PYTHON) -m venv $(TAP_PGPW_VENV)
	$(TAP_PGPW_VENV)/bin/python -m pip install -q --upgrade pip
	$(TAP_PGPW_VENV)/bin/python -m pip install -q -r tests/postgres/requirements-pipelinewise.txt
	touch $(TAP_PGPW_STAMP)

# tests/postgres: the taps' venvs, and PostgreSQL's server binaries (apt-get, as root).
postgres: $(TAP_PG_STAMP) $(TAP_PGPW_STAMP)
	bash tests/postgres/ensure_postgres.sh

# The example project's plugins (tap-spreadsheets from PyPI, this checkout as the loader),
# and .venv too: the example pipeline loads into the emulator, which .venv provides.
meltano: $(STAMP) $(MELTANO_STAMP)
	$(MELTANO_VENV)/bin/meltano install
	@echo "Next: 'make emulator' in another terminal, then"
	@echo "      $(MELTANO_VENV)/bin/meltano run tap-spreadsheets target-salesforce-out"

# The local Salesforce emulator at http://127.0.0.1:8085 (the demo credentials; Ctrl-C stops it).
emulator: $(STAMP)
	$(BIN)/salesforce-emulator --port 8085

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

lint: $(STAMP)
	$(BIN)/ruff check target_salesforce_out tests benchmarks demo
	$(BIN)/ruff format --check target_salesforce_out tests benchmarks demo

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/meltano runs `meltano install` and `meltano run` with .venv-meltano; tests/postgres
# runs the Postgres taps against a throwaway cluster.
pytest: $(STAMP) $(MELTANO_STAMP) postgres
	$(BIN)/pytest -q

test: lint typecheck pytest

# The long fault soak (200,000 records through REST and through Bulk); `make test` deselects it.
soak: $(STAMP)
	$(BIN)/pytest -q -s -m soak tests/reliability
	HYPOTHESIS_PROFILE=soak $(BIN)/pytest -q tests/reliability/test_property_roundtrip.py tests/target/test_validation.py tests/target/test_convert.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(MELTANO_VENV) $(TAP_PG_VENV) $(TAP_PGPW_VENV) .meltano .pytest_cache .mypy_cache .ruff_cache
