"""docker-compose.yml, the Dockerfile and the README's architecture table must agree.

No Docker engine runs where the tests run, so these tests read the files: the README's
services table names exactly the services compose defines, every service can be built or
pulled, the stateful services report health, and no portal process carries a literal secret.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PORTAL_PROCESSES = ("web", "worker", "beat", "mqtt-ingest")
# `${SECRET_KEY}`, `${SECRET_KEY:?message}` or `${SECRET_KEY?message}`: taken from the environment,
# with no default that could end up as the key.
FROM_ENVIRONMENT = re.compile(r"^\$\{SECRET_KEY(?::?\?[^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def readme_architecture_services() -> list[str]:
    """Service names from the first column of the table under the README's `## Architecture`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Architecture\s*$(.*?)(?=^## )", readme, flags=re.M | re.S)
    assert match, "README.md has no '## Architecture' section"
    names = []
    for line in match.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2:
            continue
        name = cells[0].strip("`")
        if name.lower() == "service" or set(name) <= set("-: "):
            continue  # header and separator rows
        names.append(name)
    return names


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # the `- KEY=value` form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def test_readme_names_exactly_the_compose_services(compose):
    documented = readme_architecture_services()
    assert documented, "the README's architecture table lists no services"
    assert len(documented) == len(set(documented)), f"a service is listed twice: {documented}"
    defined = set(compose["services"])
    assert set(documented) - defined == set(), "README names services docker-compose.yml lacks"
    assert defined - set(documented) == set(), "docker-compose.yml has services the README does not name"


def test_the_node_has_every_process_the_design_names(compose):
    expected = {"postgres", "redis", "mosquitto", "migrate", *PORTAL_PROCESSES}
    assert expected <= set(compose["services"])


def test_every_service_has_an_image_or_a_build(compose):
    for name, service in compose["services"].items():
        assert service.get("image") or service.get("build"), f"service {name} has neither image nor build"


def test_postgres_and_redis_have_healthchecks(compose):
    for name in ("postgres", "redis"):
        healthcheck = compose["services"][name].get("healthcheck")
        assert healthcheck and healthcheck.get("test"), f"service {name} has no healthcheck"
    assert compose["services"]["postgres"]["image"].startswith("postgres:15")


def test_portal_processes_take_secret_key_from_the_environment(compose):
    for name in PORTAL_PROCESSES:
        environment = environment_of(compose["services"][name])
        assert environment.get("NENGTAN_ENV") == "production", f"{name} does not run the production profile"
        secret = environment.get("SECRET_KEY", "")
        assert FROM_ENVIRONMENT.match(secret), f"{name}: SECRET_KEY is not from the environment: {secret!r}"
        assert "ALLOWED_HOSTS" in environment, f"{name} has no ALLOWED_HOSTS"


def test_no_service_carries_a_literal_password(compose):
    for name, service in compose["services"].items():
        for key, value in environment_of(service).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN")):
                assert value.startswith("${"), f"{name}: {key} is a literal, not taken from the environment"
            # Stand each `${…}` substitution in for a token, then read the URL's password.
            tokenized = re.sub(r"\$\{[^}]*\}", "FROM_ENV", value)
            if "://" in tokenized and "@" in tokenized:
                credentials = tokenized.split("://", 1)[1].split("@", 1)[0]
                password = credentials.split(":", 1)[1] if ":" in credentials else ""
                assert password in ("", "FROM_ENV"), f"{name}: {key} embeds a literal password"


def test_portal_services_wait_for_the_migrate_job(compose):
    services = compose["services"]
    assert services["migrate"].get("restart") == "no"
    assert "migrate" in " ".join(map(str, services["migrate"]["command"]))
    for name in (*PORTAL_PROCESSES, "mosquitto"):
        depends_on = services[name].get("depends_on") or {}
        assert depends_on.get("migrate", {}).get("condition") == "service_completed_successfully", (
            f"{name} does not wait for migrate to finish"
        )
    assert services["postgres"]["healthcheck"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_process_commands(compose):
    services = compose["services"]

    def command(name: str) -> str:
        value = services[name].get("command", "")
        return " ".join(value) if isinstance(value, list) else value

    assert "gunicorn" in command("web") and "portal.wsgi" in command("web") and "8000" in command("web")
    assert re.search(r"celery -A portal worker\b", command("worker"))
    assert re.search(r"celery -A portal beat\b", command("beat"))
    assert "manage.py mqtt_ingest" in command("mqtt-ingest")
    assert "mqtt_credentials --out /mosquitto/auth" in command("migrate")


def test_web_and_the_portal_believe_the_same_proxies(compose):
    # The portal reads X-Forwarded-For only from TRUSTED_PROXIES; gunicorn takes the scheme
    # headers only from --forwarded-allow-ips. One variable feeds both, empty unless set.
    services = compose["services"]
    assert "--forwarded-allow-ips=${TRUSTED_PROXIES:-}" in services["web"]["command"]
    for name in PORTAL_PROCESSES:
        assert environment_of(services[name]).get("TRUSTED_PROXIES") == "${TRUSTED_PROXIES:-}", name
    example = (ROOT / "deploy/env.example").read_text(encoding="utf-8")
    assert re.search(r"^TRUSTED_PROXIES=", example, flags=re.M)


def test_mosquitto_reads_the_files_the_portal_writes(compose):
    mosquitto = compose["services"]["mosquitto"]
    assert mosquitto["image"].startswith("eclipse-mosquitto:2")
    mounts = {volume.split(":")[1]: volume for volume in mosquitto["volumes"]}
    assert mounts["/mosquitto/config/mosquitto.conf"].startswith("./deploy/mosquitto/mosquitto.conf")
    assert mounts["/mosquitto/run-broker.sh"].startswith("./deploy/mosquitto/run-broker.sh")
    assert mosquitto["command"] == ["sh", "/mosquitto/run-broker.sh"]
    auth_volume = mounts["/mosquitto/auth"].split(":")[0]
    # Written by the migrate job and by the worker (token changes), read by the broker.
    assert f"{auth_volume}:/mosquitto/auth" in compose["services"]["migrate"]["volumes"]
    assert f"{auth_volume}:/mosquitto/auth" in compose["services"]["worker"]["volumes"]
    assert compose["services"]["worker"]["environment"]["MQTT_CREDENTIALS_DIR"] == "/mosquitto/auth"

    conf = {}
    for line in (ROOT / "deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            conf.setdefault(key, []).append(value.strip())
    assert conf["persistence"] == ["true"]
    assert conf["allow_anonymous"] == ["false"]
    # The broker reads run-broker.sh's broker-owned copies, where that script installs them.
    script = (ROOT / "deploy/mosquitto/run-broker.sh").read_text(encoding="utf-8")
    live = re.search(r'AUTH_LIVE="\$\{AUTH_LIVE:-([^}]+)\}"', script).group(1)
    source = re.search(r'AUTH_SOURCE="\$\{AUTH_SOURCE:-([^}]+)\}"', script).group(1)
    assert source == "/mosquitto/auth"
    assert conf["password_file"] == [f"{live}/passwd"]
    assert conf["acl_file"] == [f"{live}/acl"]
    assert "1883" in conf["listener"][0]


def test_dockerfile_builds_on_bookworm_with_fonts_and_weasyprint_libraries():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim-bookworm\b", dockerfile, flags=re.M)
    for package in ("fonts-noto-cjk", "libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"):
        assert package in dockerfile, f"Dockerfile does not install {package}"
    assert re.search(r"^RUN pip install \.", dockerfile, flags=re.M)
    assert "SECRET_KEY=" not in re.sub(r'SECRET_KEY="\$\(python -c[^\n]*', "", dockerfile), (
        "the Dockerfile may only generate a throw-away key, never carry one"
    )
