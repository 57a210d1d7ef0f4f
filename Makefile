# Nengtan portal. The two commands: `make run` (serve the demo at http://127.0.0.1:8000)
# and `make test` (the whole suite against real PostgreSQL, Redis and Mosquitto).
# The work is done by the scripts in scripts/; this file only names it.

VENV := .venv
PY := $(VENV)/bin/python
LINT_PATHS := portal applications metering reviews

.DEFAULT_GOAL := help
.PHONY: help run test lint bench setup services clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

run:  ## install what is missing, migrate, seed demo data, serve at http://127.0.0.1:8000
	scripts/run.sh

test:  ## install what is missing, start PostgreSQL/Redis/Mosquitto, run pytest (PYTEST_ARGS=...)
	scripts/test.sh $(PYTEST_ARGS)

lint:  ## ruff, mypy and import-linter
	scripts/setup.sh run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(LINT_PATHS)
	$(VENV)/bin/lint-imports

bench:  ## run bench/run.py against the local services
	scripts/bench.sh

setup:  ## only install what is missing (system packages need root)
	scripts/setup.sh test

services:  ## only start PostgreSQL, Redis and Mosquitto if they are stopped
	scripts/services.sh

# Never removes data: the embedded database, uploaded media and the readings spool stay.
clean:  ## remove collected static files, logs and the install stamp under var/
	rm -rf var/staticfiles var/log var/.installed
