#!/usr/bin/env bash
# Install what the portal needs and is missing. Usage: scripts/setup.sh run|test
#   run:  Debian libraries for WeasyPrint, Chinese fonts, gettext (when root), .venv and
#         Python dependencies (re-installed only when pyproject.toml is newer than var/.installed),
#         compiled translations.
#   test: the same, plus PostgreSQL, Redis, Mosquitto, Chromium and chromedriver.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode="${1:-run}"
case "$mode" in
  run) packages=("${RUN_APT_PACKAGES[@]}") ;;
  test) packages=("${RUN_APT_PACKAGES[@]}" "${TEST_APT_PACKAGES[@]}") ;;
  *) die "usage: scripts/setup.sh run|test (got '$mode')" ;;
esac

ensure_apt_packages "${packages[@]}"

if [[ " ${NEWLY_INSTALLED_APT[*]} " == *" postgresql "* ]]; then
  # A cluster we just created for the tests: let user postgres in over loopback without a
  # password, as the test URL postgres://postgres@127.0.0.1:5432 expects. Existing clusters
  # are never reconfigured.
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    say "Allowing passwordless loopback login for user postgres in $hba (new test cluster)"
    sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    version="$(basename "$(dirname "$(dirname "$hba")")")"
    # Where apt already started the cluster (systemd hosts), make it re-read pg_hba.conf.
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null 2>&1 || true
  done
fi

ensure_python_env
compile_translations
