# Development tasks for yuanjiao. Each target installs what it needs; stamp files keep repeated
# runs fast (.venv/.installed, .venv/.installed-test, node_modules/.installed).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
STATIC := web/static
VENDOR := $(STATIC)/vendor
SWAGGER_UI := $(VENDOR)/swagger-ui/swagger-ui-bundle.js $(VENDOR)/swagger-ui/swagger-ui.css
VENDOR_FILES := $(VENDOR)/hls.light.min.js $(VENDOR)/tus.min.js $(SWAGGER_UI)
# The site map (terminals/sites/map.py): ECharts and China's GeoJSON (the country with its
# provinces, each province with its cities), loaded by the map page only.
VENDOR_FILES += $(VENDOR)/echarts.min.js $(VENDOR)/maps/china.json
# The compressed copies are rebuilt when any static file changes (see web/assets.py).
STATIC_SOURCES = $(shell find $(STATIC) -type f -not -path '$(STATIC)/precompressed/*')
ASSETS := $(STATIC)/precompressed/.built
# axe-core is a test tool: tests/web/test_accessibility.py reads it from node_modules and injects
# it into pages; it is never copied into web/static, so no user is ever sent it.
AXE := node_modules/axe-core/axe.min.js
# No package needs an install script (swagger-ui-dist's dependency only reports the download).
NPM_FLAGS := --no-audit --no-fund --ignore-scripts
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
# Extra arguments: `make test PYTEST_ARGS='-k playlist -x'`, `make run RUN_ARGS='--port 8080'`.
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: all help run test bench lint messages vendor assets browsers nginx clean distclean

all: $(VENV)/.installed vendor assets ## install the app (editable), the browser packages, compressed assets

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  \1\t/'

run: $(VENV)/.installed vendor assets ## migrate, load demo content and serve http://127.0.0.1:8000
	$(BIN)/yuanjiao run $(RUN_ARGS)

test: $(VENV)/.installed-test vendor assets $(AXE) browsers ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test vendor assets nginx browsers ## transcode, quality, delivery, load, login-flood and playback benchmarks
	$(BIN)/python bench/transcode.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/login_flood.py
	$(BIN)/python bench/playback.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/forwarding.py
	$(BIN)/python bench/tally.py

lint: $(VENV)/.installed-test ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core courseware terminals streaming web

messages: $(VENV)/.installed ## collect the texts to translate into core/locale (then fill in zh_CN)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k say --no-location --no-wrap --sort-output -o $(VENV)/messages.pot .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d core/locale -l zh_CN --no-fuzzy-matching --ignore-obsolete --no-wrap

vendor: $(VENDOR_FILES) ## copy hls.js, tus-js-client, Swagger UI, ECharts and map data into web/static/vendor

assets: $(ASSETS) ## gzip and brotli copies of the static files, named by content hash

$(ASSETS): $(VENV)/.installed $(VENDOR_FILES) $(STATIC_SOURCES)
	$(BIN)/python -m web.assets
	touch $@

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.installed

node_modules/.installed: package.json $(wildcard package-lock.json)
	if [ -f package-lock.json ]; then npm ci $(NPM_FLAGS); else npm install $(NPM_FLAGS); fi
	touch $@

# The light build: no in-playlist subtitles, DRM or alternate audio; captions are sidecar WebVTT
# <track> elements, which the browser itself shows.
$(VENDOR)/hls.light.min.js: node_modules/.installed
	mkdir -p $(VENDOR)
	cp node_modules/hls.js/dist/hls.light.min.js $@

$(VENDOR)/tus.min.js: node_modules/.installed
	mkdir -p $(VENDOR)
	cp node_modules/tus-js-client/dist/tus.min.js $@

$(VENDOR)/echarts.min.js: node_modules/.installed
	mkdir -p $(VENDOR)
	cp node_modules/echarts/dist/echarts.min.js $@

# china-geojson's china.json and one file per province (an_hui_geo.json → maps/an_hui.json);
# YUANJIAO_MAP_REGION names the one the map page shows.
$(VENDOR)/maps/china.json: node_modules/.installed
	mkdir -p $(VENDOR)/maps
	for f in node_modules/china-geojson/src/geojson/*.json; do \
	  name=$$(basename "$$f" .json); cp "$$f" "$(VENDOR)/maps/$${name%_geo}.json"; done

$(AXE): node_modules/.installed
	test -f $@

# /docs serves Swagger UI from here: the API reference works without internet access.
$(VENDOR)/swagger-ui/%: node_modules/.installed
	mkdir -p $(VENDOR)/swagger-ui
	cp node_modules/swagger-ui-dist/$* $@

# The browser tests drive Debian's Chromium (/usr/bin/chromium) and, for a meeting with a
# Firefox-class client, its Firefox ESR, with CJK fonts so Chinese pages render as text, not
# boxes; install them when we may.
BROWSERS := chromium firefox-esr fonts-noto-cjk
browsers:
	@if dpkg -s $(BROWSERS) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && $(APT_INSTALL) $(BROWSERS); \
	else echo "some of $(BROWSERS) is missing: install Debian's packages (browser tests need them)" >&2; fi

# The delivery benchmark compares the app with nginx serving the same files.
nginx:
	@if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && $(APT_INSTALL) nginx; \
	else echo "nginx is missing: install Debian's nginx package (make bench needs it)" >&2; exit 1; fi

clean: ## remove built files and caches (keeps .venv and the data in var/)
	rm -rf $(VENDOR) $(STATIC)/precompressed node_modules build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## also remove .venv (the data in var/ stays)
	rm -rf $(VENV)
