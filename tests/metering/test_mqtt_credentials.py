"""Broker-side tenancy: the files `mqtt_credentials` writes, enforced by a real private Mosquitto."""

from __future__ import annotations

import os
import pwd
import stat
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from metering.models import GatewayToken
from metering.registry.tokens import gateway_token_create, gateway_token_revoke, mosquitto_password_hash
from metering.tasks import refresh_broker_credentials
from tests.metering.mosquitto_private import MOSQUITTO, mqtt_client, private_mosquitto

pytestmark = pytest.mark.services

CONSUMER_USER = "nengtan-ingest"
CONSUMER_PASSWORD = "consumer-secret-9f3a"
NOT_AUTHORIZED = 0x87
WAIT_S = 10.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def credentials_dir(world, tmp_path, monkeypatch):
    """Tokens for tenant A (an old revoked one, an older active one, the newest) and tenant B; none for
    the outsider. Returns (directory, plain tokens)."""
    monkeypatch.setenv("MQTT_INGEST_USERNAME", CONSUMER_USER)
    monkeypatch.setenv("MQTT_INGEST_PASSWORD", CONSUMER_PASSWORD)
    a_admin, b_admin = world.user("a_admin"), world.user("b_admin")
    revoked, revoked_plain = gateway_token_create(actor=a_admin, enterprise=world.tenant_a, name="old")
    GatewayToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    older, older_plain = gateway_token_create(actor=a_admin, enterprise=world.tenant_a, name="older")
    GatewayToken.objects.filter(pk=older.pk).update(created_at=timezone.now() - timezone.timedelta(days=1))
    _, a_plain = gateway_token_create(actor=a_admin, enterprise=world.tenant_a, name="gw")
    _, b_plain = gateway_token_create(actor=b_admin, enterprise=world.tenant_b, name="gw")
    out = tmp_path / "auth"
    call_command("mqtt_credentials", out=str(out), stdout=open(tmp_path / "out.txt", "w"))
    return out, {"a": a_plain, "b": b_plain, "a_older": older_plain, "a_revoked": revoked_plain}


@pytest.fixture
def secured_broker(credentials_dir, tmp_path):
    out, _ = credentials_dir
    directory = tmp_path / "broker"
    directory.mkdir()
    with private_mosquitto(directory, password_file=out / "passwd", acl_file=out / "acl") as broker:
        yield broker


def test_files_list_one_line_per_enterprise_with_a_token(world, credentials_dir, tmp_path):
    out, _ = credentials_dir
    lines = (out / "passwd").read_text().splitlines()
    users = [line.split(":", 1)[0] for line in lines]
    assert sorted(users) == sorted([CONSUMER_USER, world.tenant_a.credit_code, world.tenant_b.credit_code])
    newest_a = GatewayToken.objects.filter(enterprise=world.tenant_a, name="gw").get()
    assert f"{world.tenant_a.credit_code}:{newest_a.mosquitto_password_hash}" in lines
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in lines)
    acl = (out / "acl").read_text()
    a = world.tenant_a.credit_code
    assert f"user {a}\ntopic write nengtan/{a}/#\n" in acl
    assert f"user {CONSUMER_USER}\ntopic read nengtan/#\n" in acl
    assert world.outsider.credit_code not in acl
    for name in ("passwd", "acl"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o640
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
    printed = (tmp_path / "out.txt").read_text()
    assert "allow_anonymous false" in printed and f"acl_file {out / 'acl'}" in printed
    assert CONSUMER_PASSWORD not in printed


def test_missing_consumer_account_is_an_error(world, tmp_path, monkeypatch, settings):
    monkeypatch.delenv("MQTT_INGEST_USERNAME", raising=False)
    monkeypatch.delenv("MQTT_INGEST_PASSWORD", raising=False)
    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    with pytest.raises(CommandError, match="MQTT_INGEST_USERNAME"):
        call_command("mqtt_credentials", out=str(tmp_path))


def test_mosquitto_accepts_the_portal_hash_and_mosquitto_passwd_agrees(tmp_path):
    """Our `$7$` hash logs in to a real Mosquitto; and mosquitto_passwd's own hash has the same form."""
    import subprocess

    password_file = tmp_path / "passwd"
    password_file.write_text(f"gw:{mosquitto_password_hash('s3cret-Ω')}\n")
    subprocess.run(["mosquitto_passwd", "-b", str(password_file), "tool", "other"], check=True)
    tool_hash = password_file.read_text().splitlines()[-1].split(":", 1)[1]
    assert tool_hash.startswith("$7$101$")
    directory = tmp_path / "broker"
    directory.mkdir()
    with private_mosquitto(directory, password_file=password_file) as broker:
        assert connect_reason(broker.url("gw", "s3cret-Ω")) == 0
        assert connect_reason(broker.url("tool", "other")) == 0
        assert connect_reason(broker.url("gw", "wrong")) != 0


def connect_reason(url: str) -> int:
    """The CONNACK reason code value a client gets (0 = accepted)."""
    from metering.collectors.mqtt.consumer import BrokerAddress

    broker = BrokerAddress.from_url(url)
    result: dict[str, int] = {}
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(broker.username, broker.password)

    def on_connect(client, userdata, flags, reason_code, properties):
        result["rc"] = reason_code.value
        done.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert done.wait(WAIT_S), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result["rc"]


def test_gateway_may_publish_only_under_its_own_prefix(world, credentials_dir, secured_broker):
    _, plain = credentials_dir
    a, b = world.tenant_a.credit_code, world.tenant_b.credit_code
    received: list[str] = []
    arrived = threading.Event()

    def on_message(client, userdata, message):
        received.append(message.topic)
        if message.topic.endswith("/last"):
            arrived.set()

    consumer = mqtt_client(secured_broker.url(CONSUMER_USER, CONSUMER_PASSWORD), "acl-consumer")
    consumer.on_message = on_message
    subscribed = threading.Event()
    consumer.on_subscribe = lambda *args: subscribed.set()
    consumer.subscribe("$share/acl-test/nengtan/#", qos=1)
    assert subscribed.wait(WAIT_S)

    acks: dict[int, int] = {}
    acked = threading.Event()

    def on_publish(client, userdata, mid, reason_code, properties):
        acks[mid] = reason_code.value
        if len(acks) == 4:
            acked.set()

    gateway = mqtt_client(secured_broker.url(a, plain["a"]), "acl-gateway-a")
    gateway.on_publish = on_publish
    try:
        own = gateway.publish(f"nengtan/{a}/M-1", b'{"ts": "2025-01-01T00:00:00Z", "value": 1}', qos=1)
        other = gateway.publish(f"nengtan/{b}/M-1", b'{"ts": "2025-01-01T00:00:00Z", "value": 666}', qos=1)
        outside = gateway.publish("elsewhere/x", b"{}", qos=1)
        last = gateway.publish(f"nengtan/{a}/last", b"{}", qos=1)
        assert acked.wait(WAIT_S), f"PUBACKs missing: {acks}"
        assert acks[own.mid] == 0
        assert acks[last.mid] == 0
        assert acks[other.mid] == NOT_AUTHORIZED
        assert acks[outside.mid] == NOT_AUTHORIZED
        assert arrived.wait(WAIT_S)
        time.sleep(0.3)
        assert sorted(received) == sorted([f"nengtan/{a}/M-1", f"nengtan/{a}/last"])
    finally:
        for client in (gateway, consumer):
            client.disconnect()
            client.loop_stop()


def test_wrong_old_or_missing_credentials_are_refused_at_connect(world, credentials_dir, secured_broker):
    _, plain = credentials_dir
    a, b = world.tenant_a.credit_code, world.tenant_b.credit_code
    assert connect_reason(secured_broker.url(a, plain["a"])) == 0
    assert connect_reason(secured_broker.url(b, plain["b"])) == 0
    assert connect_reason(secured_broker.url(a, "ngw_wrong")) != 0
    assert connect_reason(secured_broker.url(a, plain["b"])) != 0  # B's token is not A's password
    assert connect_reason(secured_broker.url(a, plain["a_older"])) != 0  # only the newest token
    assert connect_reason(secured_broker.url(a, plain["a_revoked"])) != 0
    assert connect_reason(secured_broker.url(world.outsider.credit_code, plain["a"])) != 0
    assert connect_reason(secured_broker.url(CONSUMER_USER, CONSUMER_PASSWORD)) == 0


def test_a_gateway_cannot_read_the_other_tenants_readings(world, credentials_dir, secured_broker):
    """The ACL grants gateways write only: a subscription to nengtan/# is refused or receives nothing."""
    _, plain = credentials_dir
    a, b = world.tenant_a.credit_code, world.tenant_b.credit_code
    received: list[str] = []
    spy = mqtt_client(secured_broker.url(a, plain["a"]), "acl-spy")
    spy.on_message = lambda client, userdata, message: received.append(message.topic)
    done = threading.Event()
    spy.on_subscribe = lambda *args: done.set()
    spy.subscribe("nengtan/#", qos=1)
    assert done.wait(WAIT_S)
    gateway_b = mqtt_client(secured_broker.url(b, plain["b"]), "acl-gateway-b")
    try:
        gateway_b.publish(f"nengtan/{b}/M-1", b"{}", qos=1).wait_for_publish(WAIT_S)
        time.sleep(0.5)
        assert received == []
    finally:
        for client in (gateway_b, spy):
            client.disconnect()
            client.loop_stop()


@pytest.fixture
def celery_inline():
    """Tasks run where they are sent (as in the embedded default): this test has no worker."""
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def wait_for_connect_reason(url: str, wanted_accepted: bool) -> None:
    deadline = time.monotonic() + WAIT_S
    while (connect_reason(url) == 0) != wanted_accepted:
        assert time.monotonic() < deadline, f"the broker still {'refuses' if wanted_accepted else 'accepts'}"
        time.sleep(0.1)


def test_broker_follows_token_changes_without_a_restart(  # type: ignore[no-untyped-def]
    world, credentials_dir, tmp_path, settings, celery_inline, django_capture_on_commit_callbacks
):
    """The compose wiring for real: the portal rewrites the files when a token is created or revoked
    (signal → task), and deploy/mosquitto/run-broker.sh installs them and makes the running broker
    reload them. The outsider's gateway gets in, then is shut out, and the broker never restarts."""
    out, earlier_tokens = credentials_dir
    settings.MQTT_CREDENTIALS_DIR = out
    directory, live = tmp_path / "broker", tmp_path / "live"
    directory.mkdir()
    me = pwd.getpwuid(os.getuid()).pw_name
    env = {"MOSQUITTO_BIN": MOSQUITTO, "MOSQUITTO_CONF": str(directory / "m.conf"), "AUTH_SOURCE": str(out),
           "AUTH_LIVE": str(live), "BROKER_USER": me, "RELOAD_CHECK_S": "0.1"}
    launcher = ["sh", str(ROOT / "deploy/mosquitto/run-broker.sh")]
    outsider = world.outsider.credit_code
    with private_mosquitto(directory, password_file=live / "passwd", acl_file=live / "acl",
                           launcher=launcher, env=env) as broker:
        assert stat.S_IMODE((live / "passwd").stat().st_mode) == 0o600
        assert outsider not in (live / "passwd").read_text()
        script = broker.process
        with django_capture_on_commit_callbacks(execute=True):
            token, plain = gateway_token_create(actor=world.user("outsider_admin"), enterprise=world.outsider,
                                                name="gw")
        assert outsider in (out / "passwd").read_text()  # the portal's side, at once
        wait_for_connect_reason(broker.url(outsider, plain), wanted_accepted=True)

        with django_capture_on_commit_callbacks(execute=True):
            gateway_token_revoke(actor=world.user("outsider_admin"), token=token)
        assert outsider not in (out / "passwd").read_text()
        wait_for_connect_reason(broker.url(outsider, plain), wanted_accepted=False)

        assert broker.process is script and script.poll() is None, "the broker was restarted"
        # Other gateways were never affected.
        assert connect_reason(broker.url(world.tenant_a.credit_code, earlier_tokens["a"])) == 0


@pytest.mark.django_db
def test_refresh_is_a_no_op_without_a_credentials_dir(world, settings, tmp_path, celery_inline):  # type: ignore[no-untyped-def]
    settings.MQTT_CREDENTIALS_DIR = None
    assert refresh_broker_credentials.apply().get() is None
    settings.MQTT_CREDENTIALS_DIR = tmp_path / "auth"
    settings.MQTT_URL = "mqtt://ingest-user:ingest-pass@127.0.0.1:1883"
    assert refresh_broker_credentials.apply().get() == 0  # no gateway tokens yet; the consumer only
    assert (tmp_path / "auth" / "passwd").read_text().startswith("ingest-user:$7$")
