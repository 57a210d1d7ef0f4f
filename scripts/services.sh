#!/usr/bin/env bash
# Start the local PostgreSQL, Redis and Mosquitto that the tests use, if they are installed
# but not running, and wait until each answers. Never stops or restarts a running service.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICE_WAIT_S=60
PG_PORT=5432
REDIS_PORT=6379
MQTT_PORT=1883

tcp_open() {  # host port
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_until() {  # description, command...
  local what="$1"; shift
  local waited=0
  until "$@" >/dev/null 2>&1; do
    if [ "$waited" -ge "$SERVICE_WAIT_S" ]; then
      die "$what did not answer within ${SERVICE_WAIT_S}s"
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

pg_answers() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }
mqtt_answers() { tcp_open 127.0.0.1 "$MQTT_PORT"; }

start_postgresql() {
  if tcp_open 127.0.0.1 "$PG_PORT"; then
    say "PostgreSQL is running on 127.0.0.1:$PG_PORT"
  else
    [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1 \
      || die "PostgreSQL is not running and not installed (run as root to install, or set DATABASE_URL)"
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    say "Starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  wait_until "PostgreSQL on 127.0.0.1:$PG_PORT" pg_answers
  if command -v psql >/dev/null 2>&1 && ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -tAc 'SELECT 1' >/dev/null 2>&1; then
    die "PostgreSQL answers but user postgres cannot log in over 127.0.0.1 without a password;
       the tests use postgres://postgres@127.0.0.1:$PG_PORT. Add to pg_hba.conf:
         host all postgres 127.0.0.1/32 trust
       or set DATABASE_URL to a URL with credentials."
  fi
}

start_redis() {
  if tcp_open 127.0.0.1 "$REDIS_PORT"; then
    say "Redis is running on 127.0.0.1:$REDIS_PORT"
  else
    command -v redis-server >/dev/null 2>&1 || die "Redis is not running and not installed"
    say "Starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  wait_until "Redis on 127.0.0.1:$REDIS_PORT" redis_answers
}

start_mosquitto() {
  if tcp_open 127.0.0.1 "$MQTT_PORT"; then
    say "Mosquitto is running on 127.0.0.1:$MQTT_PORT"
  else
    command -v mosquitto >/dev/null 2>&1 || die "Mosquitto is not running and not installed"
    say "Starting Mosquitto"
    # The Debian configuration writes its pid under /run/mosquitto, which is gone after a reboot.
    mkdir -p /run/mosquitto /var/log/mosquitto /var/lib/mosquitto
    if id mosquitto >/dev/null 2>&1; then
      chown mosquitto: /run/mosquitto /var/log/mosquitto /var/lib/mosquitto
    fi
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  fi
  wait_until "Mosquitto on 127.0.0.1:$MQTT_PORT" mqtt_answers
}

start_postgresql
start_redis
start_mosquitto
say "PostgreSQL, Redis and Mosquitto answer"
