# Two commands matter: `make run` and `make test`. Everything they need is installed by this file.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-unit lint-imports bench asyncapi clean help

help:
	@echo "make run    - start NATS (bundled, unless one answers at NATS_URL), the portal (:8000) and the four services"
	@echo "make test   - install, then run the whole suite against a real NATS server"
	@echo "make bench  - benchmarks (figures written to var/bench/)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) scripts/run.py

test: $(STAMP) lint-imports
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache

asyncapi: $(STAMP)
	$(PY) -m contracts.asyncapi --write

bench: $(STAMP)
	$(PY) -m pytest -q -s -p no:cacheprovider benchmarks $(PYTEST_ARGS)

clean:
	rm -rf var .pytest_cache
