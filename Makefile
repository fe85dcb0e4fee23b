# The two commands a newcomer needs: `make run` and `make test`. The rest are one-liners.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := gateway auth ingest knowledge responder
# libs/testing (wa_testing: the pytest plugin and fakes) goes into the dev venv only; the
# images install libs/common and their service (services/*/Dockerfile).
PACKAGES := -e libs/common -e libs/testing $(addprefix -e services/,$(SERVICES))

export DATABASE_URL ?= postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai
export AMQP_URL ?= amqp://guest:guest@localhost:5672/

.PHONY: run test lint fmt migrate bench dlq-list dlq-replay install system-deps dashboard-deps screenshots clean

$(VENV)/.installed: requirements/constraints.txt requirements/dev.txt libs/common/pyproject.toml libs/testing/pyproject.toml $(wildcard services/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements/constraints.txt $(PACKAGES) -r requirements/dev.txt
# (knowledge: unstructured's PDF module imports unstructured-inference; its torch stack is not
# needed for strategy="fast", hence --no-deps.)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -c requirements/constraints.txt unstructured-inference
	touch $@

# knowledge parses legacy .doc with LibreOffice's soffice; the dashboard's browser tests drive
# Debian's chromium: both installed from apt when missing.
system-deps:
	@command -v soffice >/dev/null || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing LibreOffice (soffice) for legacy .doc files"; \
	  $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -q --no-install-recommends libreoffice-writer-nogui; }
	@[ -x /usr/bin/chromium ] || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing chromium for the dashboard's browser tests"; \
	  $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -q chromium; }

# The dashboard's node_modules (npm ci when missing or older than package-lock.json).
dashboard-deps:
	@$(PYTHON) scripts/dashboard.py deps

install: system-deps $(VENV)/.installed dashboard-deps

run: install  ## start every service (Ctrl-C stops them all)
	$(BIN)/python scripts/run.py

test: install  ## the whole suite against real Postgres and RabbitMQ
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check libs services tests scripts bench
	$(BIN)/ruff format --check libs services tests scripts bench
	$(BIN)/mypy libs/common/common libs/testing/wa_testing
	cd dashboard && npm run --silent typecheck && npm run --silent lint
	$(BIN)/python scripts/audit.py  # known vulnerabilities: pip-audit, npm audit --omit=dev

fmt: install
	$(BIN)/ruff check --fix libs services tests scripts bench
	$(BIN)/ruff format libs services tests scripts bench

screenshots: install  ## refresh docs/screenshots/ from the dashboard's browser test
	SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/e2e/test_dashboard.py -q

migrate: install  ## create the database if absent and migrate every schema
	$(BIN)/python scripts/run.py --migrate-only

dlq-list: install
	$(BIN)/python -m common.dlq list

dlq-replay: install  ## move dead letters back (CONSUMER=name for one consumer)
	$(BIN)/python -m common.dlq replay $(CONSUMER)

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
