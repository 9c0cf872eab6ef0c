# Two entry points (see README): `make demo` and `make test`. Everything else is `tingfeng ...`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo run test install lint clean-data

$(VENV)/.installed: pyproject.toml
	scripts/install $(VENV)
	touch $@

install: $(VENV)/.installed

.env:  ## owner-only: it holds the secret keys
	umask 077 && scripts/dev-env > .env

demo: install .env  ## the main job on the embedded store: crawl a local fixture site, enrich, triage, serve
	$(VENV)/bin/tingfeng demo

run: install .env  ## the long-running service (scheduler + API) on the embedded store
	$(VENV)/bin/tingfeng run

test: install  ## lint, type check, and the whole test suite against a real Elasticsearch node
	VENV=$(VENV) scripts/test

lint: install
	$(VENV)/bin/ruff format --check . && $(VENV)/bin/ruff check . && $(VENV)/bin/mypy
