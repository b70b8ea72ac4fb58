# The two commands that matter: `make run` and `make test`. Only Python 3.11+ is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench conformance conformance-client venv clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vmcp needs Python 3.11 or newer"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)  ## start the platform (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL)
	$(BIN)/python -m vmcp_platform.launcher run

test: $(STAMP)  ## ruff + the whole test suite
	$(BIN)/python -m vmcp_platform.launcher test $(PYTEST_ARGS)

conformance: $(STAMP)  ## the official MCP conformance suite, both revisions (needs ../shared)
	PYTHON=$(BIN)/python conformance/run.sh

conformance-client: $(STAMP)  ## the suite's client scenarios against vmcp's upstream MCP client
	PYTHON=$(BIN)/python conformance/run_client.sh

bench: $(STAMP)  ## performance figures (see README, Performance)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) var/static
