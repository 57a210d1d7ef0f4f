"""Settings are parsed strictly: a bad value stops start-up with a message naming the variable,
and the production profile is secure by default.

Settings are read once per process, so each case starts a fresh Python in a subprocess with a
controlled environment (nothing inherited from the test run's own NENGTAN_ENV or URLs).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SUBPROCESS_TIMEOUT_S = 60
SETUP = "import django; django.setup()"
# Reads the settings module alone, without importing the apps, for the checks on parsed values.
LOAD = "from django.conf import settings; settings.DEBUG"


def run_settings(code: str, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
        **variables,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=SUBPROCESS_TIMEOUT_S, check=False,
    )


def improperly_configured_message(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, f"start-up should have failed; stdout: {result.stdout}"
    lines = [line for line in result.stderr.splitlines() if "ImproperlyConfigured: " in line]
    assert lines, f"expected an ImproperlyConfigured error, got:\n{result.stderr}"
    return lines[-1].split("ImproperlyConfigured: ", 1)[1]


def good_secret_key() -> str:
    return secrets.token_urlsafe(50)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"NENGTAN_ENV": "production", "ALLOWED_HOSTS": "portal.example"},
         "SECRET_KEY must be set when NENGTAN_ENV=production"),
        ({"NENGTAN_ENV": "production", "ALLOWED_HOSTS": "portal.example", "SECRET_KEY": "too-short"},
         "SECRET_KEY must be at least 32 characters"),
        ({"NENGTAN_ENV": "production", "SECRET_KEY": "k" * 40}, "ALLOWED_HOSTS must be set"),
        ({"NENGTAN_ENV": "staging"}, "NENGTAN_ENV must be development, test or production"),
        ({"DEBUG": "maybe"}, "DEBUG: Not a valid boolean"),
        ({"LOGIN_FAILURE_LIMIT": "abc"}, "LOGIN_FAILURE_LIMIT: Not a valid integer"),
        ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT: Must be greater than or equal to 1"),
        ({"SESSION_IDLE_MINUTES": "1"}, "SESSION_IDLE_MINUTES: Must be greater than or equal to 5"),
        ({"HSTS_SECONDS": "-1"}, "HSTS_SECONDS: Must be greater than or equal to 0"),
        ({"DATABASE_URL": "nonsense://"}, "DATABASE_URL: Not a valid database URL"),
        ({"SECURE_SSL_REDIRECT": "perhaps"}, "SECURE_SSL_REDIRECT: Not a valid boolean"),
        ({"TRUSTED_PROXIES": "10.0.0.5,10.0.0.300"}, "TRUSTED_PROXIES: '10.0.0.300' is not an IP address"),
        # Host bits set: gunicorn's --forwarded-allow-ips, which gets the same value, refuses it.
        ({"TRUSTED_PROXIES": "172.18.0.1/16"}, "TRUSTED_PROXIES: '172.18.0.1/16' is not an IP address"),
        ({"TRUSTED_PROXIES": "*"}, "TRUSTED_PROXIES: '*' is not an IP address"),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else "",
)
def test_bad_value_stops_start_up_naming_the_variable(variables, expected):
    message = improperly_configured_message(run_settings(SETUP, **variables))
    assert expected in message


def test_every_bad_variable_is_reported_at_once():
    message = improperly_configured_message(run_settings(SETUP, DEBUG="maybe", LOCKOUT_MINUTES="soon"))
    assert "DEBUG: Not a valid boolean" in message
    assert "LOCKOUT_MINUTES: Not a valid integer" in message


def test_valid_values_start_cleanly():
    result = run_settings(
        LOAD + "; print(settings.AXES_FAILURE_LIMIT, settings.DEBUG)",
        LOGIN_FAILURE_LIMIT="7", DEBUG="false",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", "False"]


def test_trusted_proxies_are_read_as_a_list():
    result = run_settings(LOAD + "; print(settings.TRUSTED_PROXIES)",
                          TRUSTED_PROXIES="10.0.0.5, 172.18.0.0/16")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['10.0.0.5', '172.18.0.0/16']"
    result = run_settings(LOAD + "; print(settings.TRUSTED_PROXIES)")
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_production_profile_is_secure_by_default():
    code = LOAD + """
import json
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in (
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS", "CONTENT_SECURITY_POLICY")}))
"""
    result = run_settings(code, NENGTAN_ENV="production", SECRET_KEY=good_secret_key(),
                          ALLOWED_HOSTS="portal.example")
    assert result.returncode == 0, result.stderr
    production = json.loads(result.stdout.strip().splitlines()[-1])
    assert production["DEBUG"] is False
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SECURE_HSTS_SECONDS"] >= 31536000
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["X_FRAME_OPTIONS"] == "DENY"
    assert production["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["default-src"] == ["'self'"]


def test_development_profile_does_not_demand_https():
    result = run_settings(LOAD + "; s = settings; "
                          "print(s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "0"]


def test_content_security_policy_allows_only_our_own_origin():
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    for directive in ("default-src", "script-src", "style-src"):
        assert directives[directive] == ["'self'"], directive
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_login_page_sends_the_content_security_policy_header(client):
    # Even an error page goes back through the CSP middleware, so the header is checked on
    # whatever the login page answers; the page itself is tested with the login view.
    client.raise_request_exception = False
    response = client.get("/accounts/login/")
    header = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in header
    assert "script-src 'self'" in header
    assert "frame-ancestors 'none'" in header


def test_readme_documents_every_environment_variable_the_settings_read():
    source = (ROOT / "portal/settings/__init__.py").read_text(encoding="utf-8")
    variables = set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    assert {"NENGTAN_ENV", "SECRET_KEY", "DATABASE_URL", "LOGIN_FAILURE_LIMIT"} <= variables
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Configuration\s*$(.*?)(?=^## )", readme, flags=re.M | re.S)
    assert section, "README.md has no '## Configuration' section"
    documented = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", section.group(1), flags=re.M))
    assert variables - documented == set(), "README's configuration table misses these variables"


def test_the_embedded_sqlite_default_passes_the_database_checks_without_warnings(tmp_path):
    # `make run` prints the system checks on every command; the embedded default must be clean.
    code = (
        SETUP + "; from django.core.management import call_command; "
        "call_command('check', databases=['default'], fail_level='WARNING')"
    )
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = run_settings(code, NENGTAN_ENV="development", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
