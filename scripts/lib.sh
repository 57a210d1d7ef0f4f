# Shared helpers for scripts/*.sh. Source it; do not run it.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
VENV_PY="$VENV/bin/python"
INSTALL_STAMP="$REPO_ROOT/var/.installed"

# Debian packages, by purpose. WeasyPrint renders PDFs through Pango and HarfBuzz;
# libharfbuzz-subset0 makes font subsetting fast (≈0.9 s instead of ≈15 s for a 10-page
# Chinese document); fonts-noto-cjk supplies the Chinese glyphs; gettext compiles translations;
# libmagic1 tells an attachment's real type from its content (python-magic).
RUN_APT_PACKAGES=(
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libffi-dev
  fonts-noto-cjk gettext libmagic1
)
# What the test suite talks to for real: databases, broker, MQTT broker, headless browser, and
# pgBackRest, whose point-in-time recovery (deploy/pgbackrest/) a test runs on a private cluster;
# mosquitto-clients (mosquitto_pub) is the fast publisher that fills the broker in bench/.
TEST_APT_PACKAGES=(postgresql redis-server mosquitto mosquitto-clients chromium chromium-driver pgbackrest)

APT_LOCK_TIMEOUT_S=600

# Colour only on a terminal, so CI logs stay plain text.
if [ -t 2 ]; then
  _blue=$'\033[1;34m' _yellow=$'\033[1;33m' _red=$'\033[1;31m' _plain=$'\033[0m'
else
  _blue="" _yellow="" _red="" _plain=""
fi
say() { printf '%s==>%s %s\n' "$_blue" "$_plain" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_yellow" "$_plain" "$*" >&2; }
die() { printf '%serror:%s %s\n' "$_red" "$_plain" "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

apt_missing() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$pkg"
    fi
  done
}

# Install the Debian packages that are not installed yet (root only; otherwise say what to run).
ensure_apt_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    warn "not a Debian system: install these yourself if missing: $*"
    return 0
  fi
  local missing
  mapfile -t missing < <(apt_missing "$@")
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  if ! is_root; then
    warn "missing Debian packages: ${missing[*]}"
    warn "install them with: sudo apt-get install -y ${missing[*]}"
    return 0
  fi
  say "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT_S" update -qq
  apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT_S" install -y -qq --no-install-recommends "${missing[@]}"
  NEWLY_INSTALLED_APT+=("${missing[@]}")
}
NEWLY_INSTALLED_APT=()

# Create .venv if needed and install the project when pyproject.toml changed since the last install.
ensure_python_env() {
  local python="${PYTHON:-python3}"
  if [ ! -x "$VENV_PY" ]; then
    command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.11+ (Debian: apt-get install python3 python3-venv)"
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
      || die "$python is $("$python" -V 2>&1); the portal needs Python 3.11 or newer (set PYTHON=...)"
    if ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
      ensure_apt_packages python3-venv  # Debian splits venv's pip bootstrap into its own package
    fi
    say "Creating virtual environment .venv with $("$python" -V 2>&1)"
    "$python" -m venv "$VENV" || die "could not create .venv (Debian: apt-get install python3-venv)"
    rm -f "$INSTALL_STAMP"
  fi
  mkdir -p "$(dirname "$INSTALL_STAMP")"
  if [ ! -f "$INSTALL_STAMP" ] || [ "$REPO_ROOT/pyproject.toml" -nt "$INSTALL_STAMP" ]; then
    say "Installing Python dependencies (pip install -e '.[dev]'); log in var/pip.log"
    if ! "$VENV_PY" -m pip install --disable-pip-version-check -q -e "$REPO_ROOT[dev]" >"$REPO_ROOT/var/pip.log" 2>&1; then
      tail -n 30 "$REPO_ROOT/var/pip.log" >&2
      die "pip install failed; full log in var/pip.log"
    fi
    touch "$INSTALL_STAMP"
  fi
}

manage() { "$VENV_PY" "$REPO_ROOT/manage.py" "$@"; }

compile_translations() {
  if [ ! -d "$REPO_ROOT/locale" ]; then
    return 0
  fi
  if ! command -v msgfmt >/dev/null 2>&1; then
    warn "msgfmt (gettext) not found: translations not compiled, English UI falls back to Chinese"
    return 0
  fi
  say "Compiling translations"
  # --ignore keeps compilemessages from walking into third-party packages in .venv.
  (cd "$REPO_ROOT" && manage compilemessages --ignore=.venv --ignore=var -v 0)
}

# Names of the management commands that exist right now (one Django start-up, not one per command).
available_commands() {
  manage help --commands 2>/dev/null
}

has_command() {
  grep -qx "$1" <<<"$AVAILABLE_COMMANDS"
}
