# One entry point for developers and CI. `make up` runs the system, `make test` checks it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := services/platform/static/vendor
SWAGGER_DIST := web/node_modules/swagger-ui-dist
ECHARTS := web/node_modules/echarts

.PHONY: setup postgres chromium up test lint typecheck unit integration bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## setup: Python packages in .venv, Kafka's jars from Maven Central, the web assets from npm,
## Debian's PostgreSQL and Chromium for tests
setup: $(STAMP) $(VENDOR)/.installed postgres chromium
	$(BIN)/python -m services.kafka.jars

# The pages' third-party assets, served by the services themselves (no CDN at run time).
$(VENDOR)/.installed: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --silent
	mkdir -p $(VENDOR)/swagger-ui
	cp $(SWAGGER_DIST)/swagger-ui-bundle.js $(SWAGGER_DIST)/swagger-ui.css \
	   $(SWAGGER_DIST)/favicon-32x32.png $(SWAGGER_DIST)/LICENSE $(VENDOR)/swagger-ui/
	mkdir -p $(VENDOR)/echarts
	cp $(ECHARTS)/dist/echarts.min.js $(ECHARTS)/LICENSE $(ECHARTS)/NOTICE $(VENDOR)/echarts/
	touch $@

# The identity-store contract tests start a private PostgreSQL cluster from Debian's packages.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The agent-page browser test drives Debian's Chromium with Playwright (no browser download).
chromium:
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/opentype/ipafont-gothic; } || { \
	  echo "installing Debian's chromium and a Japanese font (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null; }

## up: broker, topics, API and demo traffic on the embedded default (Ctrl-C stops all)
up: setup
	$(BIN)/touchline up

## test: lint, type check, then the whole suite against a real broker
test: setup lint typecheck
	$(BIN)/pytest


lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: setup
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.processing
	$(BIN)/python -m bench.projections
	$(BIN)/python -m bench.agent_api

clean:
	rm -rf $(VENV) .touchline .pytest_cache .mypy_cache .ruff_cache web/node_modules $(VENDOR)
