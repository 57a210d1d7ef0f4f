#!/bin/sh
# The command of the compose service `mosquitto`: run the broker and keep its gateway accounts
# current without restarting it.
#
# The portal writes `passwd` and `acl` into AUTH_SOURCE (a volume shared with the portal's
# containers) whenever a gateway token is created or revoked. Mosquitto reads those files as its
# own user, and only at start and on SIGHUP. So this script installs copies owned by that user
# (mode 0600) into AUTH_LIVE, the directory mosquitto.conf names, before starting the broker.
# Every RELOAD_CHECK_S seconds it compares the portal's files with what it installed; when they
# differ it installs them again and sends SIGHUP. SIGTERM/SIGINT reach the broker, which saves
# its persistence file on the way out.
set -u

MOSQUITTO_BIN="${MOSQUITTO_BIN:-mosquitto}"
MOSQUITTO_CONF="${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
AUTH_SOURCE="${AUTH_SOURCE:-/mosquitto/auth}"
AUTH_LIVE="${AUTH_LIVE:-/mosquitto/live}"
BROKER_USER="${BROKER_USER:-mosquitto}"
RELOAD_CHECK_S="${RELOAD_CHECK_S:-5}"

say() { echo "run-broker: $*"; }

fingerprint() { cat "$AUTH_SOURCE/passwd" "$AUTH_SOURCE/acl" 2>/dev/null | cksum; }

install_live_copies() {
  mkdir -p "$AUTH_LIVE" || return 1
  for name in passwd acl; do
    if [ "$(id -u)" = 0 ]; then
      install -m 0600 -o "$BROKER_USER" -g "$BROKER_USER" "$AUTH_SOURCE/$name" "$AUTH_LIVE/.$name.new" || return 1
    else
      install -m 0600 "$AUTH_SOURCE/$name" "$AUTH_LIVE/.$name.new" || return 1
    fi
    mv -f "$AUTH_LIVE/.$name.new" "$AUTH_LIVE/$name" || return 1
  done
}

installed=$(fingerprint)
if ! install_live_copies; then
  say "cannot install $AUTH_SOURCE/passwd and $AUTH_SOURCE/acl (run manage.py mqtt_credentials first)" >&2
  exit 1
fi

"$MOSQUITTO_BIN" -c "$MOSQUITTO_CONF" &
broker=$!
trap 'kill -TERM "$broker" 2>/dev/null' TERM INT

while kill -0 "$broker" 2>/dev/null; do
  sleep "$RELOAD_CHECK_S" &
  wait $! 2>/dev/null  # a signal interrupts the wait, not a foreground sleep
  current=$(fingerprint)
  [ "$current" = "$installed" ] && continue
  if install_live_copies; then
    installed=$current
    kill -HUP "$broker" 2>/dev/null && say "gateway accounts changed; the broker reloads them"
  else
    say "could not install the changed files; the broker keeps the previous ones" >&2
  fi
done
wait "$broker"
