# Bogfør: `make help` lists the targets. Everything installs what it needs on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
STATE := .run
PACKAGE_TEST_DIRS := $(sort $(patsubst %/,%,$(dir $(wildcard rules/tests/*.py cli/tests/*.py dinero/*/tests/*.py services/*/tests/*.py))))
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11

.PHONY: help
help: ## List the targets with one line each
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml $(wildcard */pyproject.toml */*/pyproject.toml)
	$(UV) sync --all-packages
	@touch $@

.PHONY: install
install: .venv/.synced ## Install uv, the pinned environment and the Kafka jars
	$(PY) -m bogfoer_devstack.cli fetch

.PHONY: pin
pin: $(UV) ## Re-resolve dependencies and rewrite the pins in pyproject.toml (no URLs)
	$(UV) lock --upgrade
	$(PY) scripts/pin.py
	$(UV) sync --all-packages

.PHONY: lint
lint: install ## ruff (lint + format check) and mypy strict
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	@# Each package's own tests folder has a conftest.py; mypy takes one such folder a run.
	@for dir in $(PACKAGE_TEST_DIRS); do echo "mypy $$dir"; $(PY) -m mypy $$dir || exit 1; done

.PHONY: format
format: install ## Format and auto-fix with ruff
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

.PHONY: schemas
schemas: install ## Regenerate contracts/schemas/*.json and docs/asyncapi.json from the code
	$(PY) -m bogfoer_contracts.schemas
	$(PY) -m bogfoer_kit.asyncapi

.PHONY: browser
browser: ## Debian's chromium for the ops pages' browser test (installed once, as root)
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

.PHONY: deploy-tools
deploy-tools: .venv/.synced ## Debian packages (buildah, mmdebstrap, PostgreSQL), kustomize and the operators' CRDs
	bash scripts/install-debian-packages.sh
	$(PY) -m bogfoer_deploy.toolchain

.PHONY: manifests
manifests: install ## Render deploy/k8s's topics, Kafka users and autoscaling from the code
	$(PY) -m bogfoer_deploy.render

.PHONY: manifests-check
manifests-check: deploy-tools ## Build every overlay and validate it offline (Kubernetes and CRD schemas)
	$(PY) -m bogfoer_deploy.validate

.PHONY: image
image: deploy-tools ## Build deploy/Dockerfile without Docker (buildah) into dist/ and check it
	$(PY) -m bogfoer_deploy.image

.PHONY: test
test: lint browser deploy-tools image ## Install everything, lint, build the image, run every test (real Kafka, Postgres, sandbox, chromium)
	$(PY) -m pytest

.PHONY: infra-up
infra-up: install ## Start Kafka and PostgreSQL in the background (addresses in .run/infra.env)
	$(PY) -m bogfoer_devstack.cli up --state $(STATE)

.PHONY: infra-down
infra-down: ## Stop what infra-up started
	$(PY) -m bogfoer_devstack.cli down --state $(STATE)

.PHONY: sandbox
sandbox: install ## Run the Dinero sandbox on 127.0.0.1:8910 (port from DINERO_SANDBOX_PORT)
	$(PY) -m dinero_sandbox

.PHONY: demo
demo: install ## The main job, locally: infra, sandbox, the services, two tenants, a day of sales (KEEP=1: stay up for the ops pages and a new shop's onboarding)
	$(PY) -m bogfoer_devstack.demo $(if $(KEEP),--keep)

RUNS ?= 20
SIZE ?= full
.PHONY: chaos
chaos: install ## Seeded chaos runs of the whole pipeline, checked in Dinero (RUNS=20, SEED=… replays, SIZE=smoke)
	$(PY) -m bogfoer_devstack.chaos --runs $(RUNS) --size $(SIZE) $(if $(SEED),--seed $(SEED),)

.PHONY: wrk
wrk: ## Debian's wrk, the HTTP load generator of the benchmarks (installed once, as root)
	@test -x /usr/bin/wrk || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

.PHONY: bench
bench: install wrk ## Benchmarks: ratios against a baseline measured in the same run
	$(PY) -m bench

.PHONY: clean
clean: ## Remove the environment and local state (the Kafka jar cache stays)
	rm -rf .venv $(STATE) .mypy_cache .ruff_cache .pytest_cache
