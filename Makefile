# rigshare — every install step the project needs lives here.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint bench gas contracts services clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

## run rigshare on its embedded defaults (SQLite, development chain, simulated providers)
run: $(STAMP)
	@$(BIN)/rigshare run

## the whole test suite: lint, import rules, unit + integration tests (SQLite and PostgreSQL)
test: $(STAMP) services
	@bash scripts/test-deps.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

## ruff, import rules and `mypy --strict` over the packages [tool.mypy] files lists
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## benchmarks: measure and rewrite their sections of docs/benchmarks.md
bench: $(STAMP) services
	@bash scripts/test-deps.sh
	$(BIN)/python -m tests.bench.bench_market --write
	$(BIN)/python -m tests.bench.bench_instances --write
	$(BIN)/python -m tests.bench.bench_heartbeats --write
	$(BIN)/python -m tests.bench.bench_telegram --write
	$(BIN)/python -m tests.bench.gas_report --update docs/benchmarks.md
	$(BIN)/python -m tests.bench.bench_watcher --write
	$(BIN)/python -m tests.bench.bench_scaleout --write
	$(BIN)/python -m tests.bench.bench_walletconnect --write
	$(BIN)/python -m tests.bench.bench_demo --write
	$(BIN)/python -m tests.bench.bench_load --ramp 50,150,300,600 --step-s 45 --write
	$(BIN)/python -m tests.bench.bench_load --ramp 50,150,300,600 --step-s 45 --database postgresql://127.0.0.1:5432/test --write
	$(BIN)/python -m tests.bench.bench_load_scaleout --ramp 50,150,300,600 --step-s 45 --write

## escrow gas report from a real run on the in-process EVM
gas: $(STAMP)
	$(BIN)/python -m tests.bench.gas_report --update docs/benchmarks.md

## recompile the Solidity sources into the committed artifact (needs Node and npm)
contracts:
	bash contracts/compile.sh

## start the local PostgreSQL and Redis if they are installed but stopped
services:
	@bash scripts/services.sh

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
