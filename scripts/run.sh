#!/usr/bin/env bash
# `make run`: install what is missing, prepare the database and demo data, then serve the
# portal at http://$RUN_HOST:$RUN_PORT with the meter simulator and collectors in the background.
# Embedded default: SQLite under var/ and Celery in-process; DATABASE_URL, REDIS_URL and MQTT_URL
# switch to real services. Safe to run again: every step is idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

RUN_HOST="${RUN_HOST:-127.0.0.1}"
RUN_PORT="${RUN_PORT:-8000}"
LOG_DIR="$REPO_ROOT/var/log"

"$REPO_ROOT/scripts/setup.sh" run

if timeout 2 bash -c "exec 3<>/dev/tcp/$RUN_HOST/$RUN_PORT" 2>/dev/null; then
  die "$RUN_HOST:$RUN_PORT is already in use (is another 'make run' serving?); set RUN_PORT=... to use another port"
fi

say "Applying database migrations"
manage migrate --noinput -v 0

AVAILABLE_COMMANDS="$(available_commands)"

optional_command() {  # name, args... : run a command another part of the portal provides, if it exists yet
  local name="$1"
  if has_command "$name"; then
    manage "$@"
  else
    warn "manage.py $name is not available yet; skipped"
  fi
}

say "Loading program definitions"
optional_command load_programs
say "Seeding demo organizations, users and meters"
optional_command seed_demo

say "Collecting static files"
manage collectstatic --noinput -v 0

mkdir -p "$LOG_DIR"
background_pids=()
stop_background() {
  local pid
  for pid in "${background_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${background_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_background EXIT
trap 'exit 130' INT TERM

# Started directly (not through a shell function) so $! is the Python process itself.
for job in simulate_meters run_collectors; do
  if has_command "$job"; then
    "$VENV_PY" "$REPO_ROOT/manage.py" "$job" >>"$LOG_DIR/$job.log" 2>&1 &
    background_pids+=("$!")
    say "Started manage.py $job in the background (log: var/log/$job.log)"
  else
    warn "manage.py $job is not available yet; not started"
  fi
done

say "Serving the portal at http://$RUN_HOST:$RUN_PORT/ (Ctrl-C stops it and the background jobs)"
# The server runs as a job too and the script waits for it: `wait` returns as soon as a signal
# arrives, so Ctrl-C or a TERM sent to this script alone stops the server and every job.
"$VENV_PY" "$REPO_ROOT/manage.py" runserver "$RUN_HOST:$RUN_PORT" --noreload &
server_pid=$!
background_pids+=("$server_pid")
wait "$server_pid"
