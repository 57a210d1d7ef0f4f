#!/usr/bin/env bash
# `make test`: install what is missing (system packages when root), start PostgreSQL, Redis and
# Mosquitto if they are stopped, then run the whole suite against them. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/setup.sh" test
"$REPO_ROOT/scripts/services.sh"

# The suite's services; each may be overridden (for example to give a parallel run its own
# database or Redis db), NENGTAN_ENV may not.
export NENGTAN_ENV=test
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nengtan}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"
export MQTT_URL="${MQTT_URL:-mqtt://127.0.0.1:1883}"

# The plain `make test` (the one CI runs) also holds the code to ruff and mypy; a run with
# pytest arguments (a developer iterating on some tests) skips them. lint-imports checks the
# contracts between metering's parts declared in pyproject.toml.
if [[ $# -eq 0 ]]; then
  say "Running ruff, mypy and import-linter"
  "$VENV/bin/ruff" check .
  "$VENV/bin/mypy" portal applications metering reviews
  "$VENV/bin/lint-imports"
fi

say "Running pytest (DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL MQTT_URL=$MQTT_URL${CI:+ CI=$CI})"
exec "$VENV/bin/pytest" "$@"
