#!/usr/bin/env bash
# `make bench`: run the benchmarks in bench/ against the same local services as the tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

if [ ! -f bench/run.py ]; then
  say "bench/run.py does not exist yet: no benchmarks to run"
  exit 0
fi
"$REPO_ROOT/scripts/setup.sh" test
"$REPO_ROOT/scripts/services.sh"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nengtan_bench}"
# The benchmarks get their own database so they never touch a developer's data.
if [[ "$DATABASE_URL" == postgres://postgres@127.0.0.1:5432/nengtan_bench ]] && command -v psql >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -w -tAc "SELECT 1 FROM pg_database WHERE datname = 'nengtan_bench'" | grep -q 1 \
    || createdb -h 127.0.0.1 -U postgres -w nengtan_bench
fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/14}"
export MQTT_URL="${MQTT_URL:-mqtt://127.0.0.1:1883}"
# The ingest benchmark (bench/run.py) exits 1 when a message or reading was lost or duplicated;
# the benchmarks after it still run, and the script fails.
status=0
"$VENV_PY" bench/run.py "$@" || status=$?
# The query benchmark builds its own database (nengtan_bench_query) of 17.5 M readings.
"$VENV_PY" bench/query_run.py || status=$?
# The PDF benchmark (a full Henan application with ten photos) uses nengtan_bench_pdf. It runs
# even when a benchmark before it missed its target, and the script fails if any did.
"$VENV_PY" bench/pdf_bench.py || status=$?
# The review benchmark (10,000 submissions, 100,000 activity rows: the reviewer's list and the
# submissions API) uses nengtan_bench_review.
"$VENV_PY" bench/review_bench.py || status=$?
exit "$status"
