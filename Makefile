# riskstream: local platform, tests and checks. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY := .venv/bin/python
PLATFORM := $(PY) -m deploy.platform
# Options of `riskstream demo`, e.g. DEMO_ARGS="--customers 1000 --rate 800".
DEMO_ARGS ?=
# Options of the chaos verifier, e.g. CHAOS_ARGS="--rounds 30".
CHAOS_ARGS ?=

.PHONY: help install kafka up down status test test-unit lint typecheck audit schemas demo bench chaos drill clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Create .venv and install the locked dependencies (quick when nothing changed)
	@deploy/install-python.sh

kafka: install ## Fetch the Kafka broker's jars from Maven into .run/kafka/lib
	@$(PLATFORM) install --components kafka

up: install ## Start Kafka, Redis and the services; return when warm (groups own their partitions; no-op when up)
	@$(PLATFORM) up

down: install ## Stop what `make up` started
	@$(PLATFORM) down

status: install ## Show each component: pid, port, health
	@$(PLATFORM) status

test: install ## Run the whole test suite (it starts its own Kafka and Redis on free ports)
	@$(PLATFORM) install --components kafka,redis
	@$(PY) -m pytest; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

test-unit: install ## Run the tests that need neither Kafka nor Redis
	@$(PY) -m pytest -m "not integration"; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

lint: install ## Check formatting, lint rules (ruff) and the import layering (lint-imports)
	@.venv/bin/ruff format --check .
	@.venv/bin/ruff check .
	@.venv/bin/lint-imports --no-logo

typecheck: install ## Type-check everything but training, tests and tools (mypy --strict)
	@.venv/bin/mypy

audit: install ## Audit the locked dependencies for known vulnerabilities (needs PyPI's advisory API)
	@.venv/bin/pip-audit -r requirements.lock --no-deps --disable-pip --strict $(AUDIT_ARGS)

schemas: install ## Regenerate the JSON Schema files in schemas/json/
	@$(PY) -m schemas.export

demo: up ## Start the platform and stream simulated customers through it, live (DEMO_ARGS=...)
	@$(PY) -m services.cli.main demo $(DEMO_ARGS)

bench: install ## Benchmark on a platform of its own (free ports); writes bench/report.md and .json
	@$(PLATFORM) install --components kafka,redis
	@$(PY) -m bench.run

chaos: install ## Faults against the pipeline on a 3-broker cluster, then one verdict line (CHAOS_ARGS=--rounds N)
	@$(PLATFORM) install --components kafka,redis
	@$(PY) -m bench.chaos $(CHAOS_ARGS)

drill: install ## Recovery drill: Redis rebuilt from Kafka for 100k customers, timed (bench/drill.md)
	@$(PLATFORM) install --components kafka,redis
	@$(PY) -m bench.drill

clean: ## Stop the platform, then remove .run (Kafka jars and data) and tool caches
	@if [ -x $(PY) ]; then $(PLATFORM) down; fi
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
