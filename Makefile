# One command each: `make serve` (the reference console server), `make test` (everything CI runs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SPEC := asyncapi.yaml
GENERATE := $(BIN)/specwire generate $(SPEC) --out generated/python --docs docs/reference/protocol.md
GENERATE_TS := $(BIN)/specwire generate $(SPEC) --lang typescript --out generated/typescript

SERVE_ARGS ?=

.PHONY: setup serve generate check-generated lint format typecheck spec-check pytest test golden clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("specwire needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## serve: run the reference console server on its embedded cluster (SERVE_ARGS="--port 9000")
serve: setup
	$(BIN)/specwire serve $(SERVE_ARGS)

## generate: regenerate the Python package, the TypeScript SDK and the protocol reference
generate: setup
	$(GENERATE)
	$(GENERATE_TS)

## format: rewrite code into house style
format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy src generated/python bench
	node_modules/.bin/tsc -p generated/typescript --noEmit

spec-check: setup
	$(BIN)/specwire check --strict $(SPEC)

check-generated: setup
	$(GENERATE) --check
	$(GENERATE_TS) --check

pytest: setup
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=90

## golden: rewrite the golden files after an intended codegen change
golden: setup
	SPECWIRE_UPDATE_GOLDEN=1 $(BIN)/pytest tests/golden -q

## test: everything CI runs, in order of speed
test: lint typecheck spec-check check-generated pytest

clean:
	rm -rf $(VENV) node_modules .mypy_cache .pytest_cache .ruff_cache .coverage
