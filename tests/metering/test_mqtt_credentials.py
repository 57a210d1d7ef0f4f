"""Broker-side tenancy: the files `mqtt_credentials` writes, enforced by a real private Mosquitto."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
from metering.models import EnergyType, GatewayToken, Meter, Reading
from metering.registry.tokens import gateway_token_create, gateway_token_revoke, mosquitto_password_hash
from metering.tasks import refresh_broker_credentials
from portal.models import Enterprise
from portal.services import enterprise_approve, enterprise_update
from tests.factories import EnterpriseFactory
from tests.metering.mosquitto_private import MOSQUITTO, PrivateMosquitto, mqtt_client, private_mosquitto

pytestmark = pytest.mark.services

CONSUMER_USER = "nengtan-ingest"
CONSUMER_PASSWORD = "consumer-secret-9f3a"
NOT_AUTHORIZED = 0x87
WAIT_S = 10.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def credentials_dir(world, tmp_path, monkeypatch):
    """Tokens for tenant A (a revoked one, an older active one, a newer one) and tenant B; none for
    the outsider. Returns (directory, plain tokens, token rows), keyed alike."""
    monkeypatch.setenv("MQTT_INGEST_USERNAME", CONSUMER_USER)
    monkeypatch.setenv("MQTT_INGEST_PASSWORD", CONSUMER_PASSWORD)
    a_admin, b_admin = world.user("a_admin"), world.user("b_admin")
    revoked, revoked_plain = gateway_token_create(actor=a_admin, enterprise=world.tenant_a, name="old")
    GatewayToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    older, older_plain = gateway_token_create(actor=a_admin, enterprise=world.tenant_a, name="older")
    GatewayToken.objects.filter(pk=older.pk).update(created_at=timezone.now() - timezone.timedelta(days=1))
    a, a_plain = gateway_token_create(actor=a_admin, enterprise=world.tenant_a, name="gw")
    b, b_plain = gateway_token_create(actor=b_admin, enterprise=world.tenant_b, name="gw")
    out = tmp_path / "auth"
    call_command("mqtt_credentials", out=str(out), stdout=open(tmp_path / "out.txt", "w"))
    plain = {"a": a_plain, "b": b_plain, "a_older": older_plain, "a_revoked": revoked_plain}
    return out, plain, {"a": a, "b": b, "a_older": older, "a_revoked": revoked}


@pytest.fixture
def secured_broker(credentials_dir, tmp_path):
    out, _, _ = credentials_dir
    directory = tmp_path / "broker"
    directory.mkdir()
    with private_mosquitto(directory, password_file=out / "passwd", acl_file=out / "acl") as broker:
        yield broker


def test_files_list_one_account_per_active_token(world, credentials_dir, tmp_path):
    out, _, tokens = credentials_dir
    lines = (out / "passwd").read_text().splitlines()
    users = [line.split(":", 1)[0] for line in lines]
    a, b = world.tenant_a.credit_code, world.tenant_b.credit_code
    expected = {key: f"{code}.{tokens[key].pk}" for key, code in (("a", a), ("a_older", a), ("b", b))}
    assert sorted(users) == sorted([CONSUMER_USER, *expected.values()])
    assert {key: tokens[key].mqtt_username for key in expected} == expected
    for key in expected:
        assert f"{expected[key]}:{tokens[key].mosquitto_password_hash}" in lines
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in lines)
    acl = (out / "acl").read_text()
    # Both of A's gateways publish under A's one prefix, each as its own account.
    assert f"user {expected['a']}\ntopic write nengtan/{a}/#\n" in acl
    assert f"user {expected['a_older']}\ntopic write nengtan/{a}/#\n" in acl
    assert f"user {expected['b']}\ntopic write nengtan/{b}/#\n" in acl
    assert f"user {CONSUMER_USER}\ntopic read nengtan/#\n" in acl
    assert f"{a}.{tokens['a_revoked'].pk}" not in acl
    assert world.outsider.credit_code not in acl
    for name in ("passwd", "acl"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o640
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
    printed = (tmp_path / "out.txt").read_text()
    assert "allow_anonymous false" in printed and f"acl_file {out / 'acl'}" in printed
    assert "3 gateway accounts" in printed
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
    _, plain, tokens = credentials_dir
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

    gateway = mqtt_client(secured_broker.url(tokens["a"].mqtt_username, plain["a"]), "acl-gateway-a")
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


def test_wrong_revoked_or_missing_credentials_are_refused_at_connect(world, credentials_dir, secured_broker):
    _, plain, tokens = credentials_dir
    a, b = world.tenant_a.credit_code, world.tenant_b.credit_code
    user = {key: token.mqtt_username for key, token in tokens.items()}
    assert connect_reason(secured_broker.url(user["a"], plain["a"])) == 0
    assert connect_reason(secured_broker.url(user["a_older"], plain["a_older"])) == 0  # every active token
    assert connect_reason(secured_broker.url(user["b"], plain["b"])) == 0
    assert connect_reason(secured_broker.url(user["a"], "ngw_wrong")) != 0
    assert connect_reason(secured_broker.url(user["a"], plain["b"])) != 0  # B's token is not A's password
    assert connect_reason(secured_broker.url(user["a"], plain["a_older"])) != 0  # each token its own account
    assert connect_reason(secured_broker.url(user["a_revoked"], plain["a_revoked"])) != 0
    # The bare credit code, the user name before one account per gateway, is no account any more.
    assert connect_reason(secured_broker.url(a, plain["a"])) != 0
    assert connect_reason(secured_broker.url(b, plain["b"])) != 0
    assert connect_reason(secured_broker.url(world.outsider.credit_code, plain["a"])) != 0
    assert connect_reason(secured_broker.url(CONSUMER_USER, CONSUMER_PASSWORD)) == 0


def test_a_gateway_cannot_read_the_other_tenants_readings(world, credentials_dir, secured_broker):
    """The ACL grants gateways write only: a subscription to nengtan/# is refused or receives nothing."""
    _, plain, tokens = credentials_dir
    b = world.tenant_b.credit_code
    received: list[str] = []
    spy = mqtt_client(secured_broker.url(tokens["a"].mqtt_username, plain["a"]), "acl-spy")
    spy.on_message = lambda client, userdata, message: received.append(message.topic)
    done = threading.Event()
    spy.on_subscribe = lambda *args: done.set()
    spy.subscribe("nengtan/#", qos=1)
    assert done.wait(WAIT_S)
    gateway_b = mqtt_client(secured_broker.url(tokens["b"].mqtt_username, plain["b"]), "acl-gateway-b")
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


@contextmanager
def compose_broker(auth_source: Path, tmp_path: Path) -> Iterator[PrivateMosquitto]:
    """Mosquitto started the way compose starts it: deploy/mosquitto/run-broker.sh installs the files
    the portal writes into `auth_source` and SIGHUPs the broker when they change."""
    directory, live = tmp_path / "broker", tmp_path / "live"
    directory.mkdir()
    me = pwd.getpwuid(os.getuid()).pw_name
    env = {"MOSQUITTO_BIN": MOSQUITTO, "MOSQUITTO_CONF": str(directory / "m.conf"),
           "AUTH_SOURCE": str(auth_source), "AUTH_LIVE": str(live), "BROKER_USER": me,
           "RELOAD_CHECK_S": "0.1"}
    launcher = ["sh", str(ROOT / "deploy/mosquitto/run-broker.sh")]
    with private_mosquitto(directory, password_file=live / "passwd", acl_file=live / "acl",
                           launcher=launcher, env=env) as broker:
        yield broker


def test_broker_follows_token_changes_without_a_restart(  # type: ignore[no-untyped-def]
    world, credentials_dir, tmp_path, settings, celery_inline, django_capture_on_commit_callbacks
):
    """The compose wiring for real: the portal rewrites the files when a token is created or revoked
    (signal → task), and deploy/mosquitto/run-broker.sh installs them and makes the running broker
    reload them. The outsider's gateway gets in, then is shut out, and the broker never restarts."""
    out, earlier_plain, earlier_tokens = credentials_dir
    settings.MQTT_CREDENTIALS_DIR = out
    live = tmp_path / "live"
    outsider = world.outsider.credit_code
    with compose_broker(out, tmp_path) as broker:
        assert stat.S_IMODE((live / "passwd").stat().st_mode) == 0o600
        assert outsider not in (live / "passwd").read_text()
        script = broker.process
        with django_capture_on_commit_callbacks(execute=True):
            token, plain = gateway_token_create(actor=world.user("outsider_admin"), enterprise=world.outsider,
                                                name="gw")
        assert token.mqtt_username in (out / "passwd").read_text()  # the portal's side, at once
        wait_for_connect_reason(broker.url(token.mqtt_username, plain), wanted_accepted=True)

        with django_capture_on_commit_callbacks(execute=True):
            gateway_token_revoke(actor=world.user("outsider_admin"), token=token)
        assert outsider not in (out / "passwd").read_text()
        wait_for_connect_reason(broker.url(token.mqtt_username, plain), wanted_accepted=False)

        assert broker.process is script and script.poll() is None, "the broker was restarted"
        # Other gateways were never affected.
        assert connect_reason(broker.url(earlier_tokens["a"].mqtt_username, earlier_plain["a"])) == 0


@pytest.mark.django_db
def test_refresh_is_a_no_op_without_a_credentials_dir(world, settings, tmp_path, celery_inline):  # type: ignore[no-untyped-def]
    settings.MQTT_CREDENTIALS_DIR = None
    assert refresh_broker_credentials.apply().get() is None
    settings.MQTT_CREDENTIALS_DIR = tmp_path / "auth"
    settings.MQTT_URL = "mqtt://ingest-user:ingest-pass@127.0.0.1:1883"
    assert refresh_broker_credentials.apply().get() == 0  # no gateway tokens yet; the consumer only
    assert (tmp_path / "auth" / "passwd").read_text().startswith("ingest-user:$7$")


# --- one broker account per gateway, end to end -----------------------------------------------------

T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
READINGS = "/api/v1/readings/"


def reading_payload(ts: dt.datetime, value: float) -> bytes:
    return json.dumps({"ts": ts.isoformat(), "value": value}).encode()


def publish_reason(client: mqtt.Client, topic: str, payload: bytes) -> int:
    """Publish at QoS 1 on a connected client and answer the PUBACK's reason code (0 = accepted)."""
    acks: dict[int, int] = {}
    acked = threading.Condition()

    def on_publish(client, userdata, mid, reason_code, properties):  # type: ignore[no-untyped-def]
        with acked:
            acks[mid] = reason_code.value
            acked.notify_all()

    client.on_publish = on_publish
    info = client.publish(topic, payload, qos=1)
    with acked:
        assert acked.wait_for(lambda: info.mid in acks, WAIT_S), f"no PUBACK for {topic}"
    return acks[info.mid]


def ingest_consumer(broker: PrivateMosquitto) -> MqttConsumer:
    """The ingest consumer with its own broker account, writing in the test's transaction."""
    consumer = MqttConsumer(ConsumerConfig(url=broker.url(CONSUMER_USER, CONSUMER_PASSWORD),
                                           group=f"g-{uuid.uuid4().hex[:8]}",
                                           client_id=f"c-{uuid.uuid4().hex[:8]}",
                                           batch_window_ms=50, ingest_workers=0))
    consumer.start()
    return consumer


def consume_until(consumer: MqttConsumer, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, "the consumer did not store the readings in time"
        consumer.step()


def stored_values(meter: Meter) -> list[float]:
    return sorted(Reading.objects.filter(meter=meter).values_list("value", flat=True))


def post_readings(plain_token: str, meter_code: str, ts: dt.datetime, value: float) -> Any:
    client = APIClient()
    body = {"readings": [{"meter": meter_code, "ts": ts.isoformat(), "value": value}]}
    return client.post(READINGS, data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {plain_token}")


def equipment_meter(enterprise: Any, code: str) -> Meter:
    return Meter.objects.create(enterprise=enterprise, code=code, name=code, level=Meter.Level.EQUIPMENT,
                                energy_type=EnergyType.ELECTRICITY, unit="kWh")


def test_two_gateways_of_one_enterprise_and_revoking_one_shuts_out_that_one_alone(  # type: ignore[no-untyped-def]
    world, credentials_dir, tmp_path, settings, celery_inline, django_capture_on_commit_callbacks
):
    """Two gateways of tenant A on a real broker with the compose wiring: both publish and their
    readings are stored; one token is revoked, and after the refresh that gateway is dropped and
    refused (MQTT and HTTP) while the other keeps publishing on its connection and is stored."""
    out, _, _ = credentials_dir
    settings.MQTT_CREDENTIALS_DIR = out
    a, admin = world.tenant_a, world.user("a_admin")
    hall, yard = equipment_meter(a, "HALL-1"), equipment_meter(a, "YARD-1")
    with django_capture_on_commit_callbacks(execute=True):
        first, first_plain = gateway_token_create(actor=admin, enterprise=a, name="车间网关")
        second, second_plain = gateway_token_create(actor=admin, enterprise=a, name="堆场网关")
    assert first.mqtt_username == f"{a.credit_code}.{first.pk}" != second.mqtt_username
    topic = f"nengtan/{a.credit_code}"
    with compose_broker(out, tmp_path) as broker:
        consumer = ingest_consumer(broker)
        one = mqtt_client(broker.url(first.mqtt_username, first_plain), "gateway-hall")
        two = mqtt_client(broker.url(second.mqtt_username, second_plain), "gateway-yard")
        try:
            assert publish_reason(one, f"{topic}/HALL-1", reading_payload(T0, 1.5)) == 0
            assert publish_reason(two, f"{topic}/YARD-1", reading_payload(T0, 2.5)) == 0
            consume_until(consumer, lambda: stored_values(hall) == [1.5] and stored_values(yard) == [2.5])

            with django_capture_on_commit_callbacks(execute=True):
                gateway_token_revoke(actor=admin, token=first)
            wait_for_connect_reason(broker.url(first.mqtt_username, first_plain), wanted_accepted=False)
            deadline = time.monotonic() + WAIT_S
            while one.is_connected():  # the reload also drops the revoked gateway's live session
                assert time.monotonic() < deadline, "the revoked gateway is still connected"
                time.sleep(0.1)

            # The other gateway never noticed: same connection, still accepted, still stored.
            assert two.is_connected()
            later = T0 + dt.timedelta(minutes=1)
            assert publish_reason(two, f"{topic}/YARD-1", reading_payload(later, 3.5)) == 0
            assert publish_reason(two, f"{topic}/HALL-1", reading_payload(later, 4.5)) == 0
            consume_until(consumer,
                          lambda: stored_values(yard) == [2.5, 3.5] and stored_values(hall) == [1.5, 4.5])
            assert connect_reason(broker.url(second.mqtt_username, second_plain)) == 0
        finally:
            for client in (one, two):
                client.disconnect()
                client.loop_stop()
            consumer.run(until=lambda: True)
    # HTTP follows the same token: the revoked one is refused at once, the other accepted.
    refused = post_readings(first_plain, "HALL-1", T0 + dt.timedelta(minutes=2), 9)
    assert refused.status_code == 401 and refused.json()["error"]["status"] == 401
    accepted = post_readings(second_plain, "HALL-1", T0 + dt.timedelta(minutes=2), 5.5)
    assert accepted.status_code == 200, accepted.content
    assert stored_values(hall) == [1.5, 4.5, 5.5]


def test_an_enterprise_that_is_not_approved_is_refused_on_http_and_mqtt(  # type: ignore[no-untyped-def]
    world, credentials_dir, tmp_path, settings, celery_inline, django_capture_on_commit_callbacks
):
    """Only approved enterprises send: a rejected and a pending enterprise's gateway tokens get no
    broker account and a 403 on HTTP. Approving the pending one lets its gateway in, and a status
    save away from approved (as suspension does) drops a connected gateway, without a token change."""
    out, plain, tokens = credentials_dir
    settings.MQTT_CREDENTIALS_DIR = out
    platform = world.user("platform_admin")
    rejected = EnterpriseFactory(name="郑州丁被驳回有限公司", status=Enterprise.Status.REJECTED)
    pending = EnterpriseFactory(name="郑州戊待审核有限公司", status=Enterprise.Status.PENDING)
    for enterprise in (rejected, pending):
        equipment_meter(enterprise, "M-1")
    with django_capture_on_commit_callbacks(execute=True):
        rejected_token, rejected_plain = gateway_token_create(actor=platform, enterprise=rejected, name="gw")
        pending_token, pending_plain = gateway_token_create(actor=platform, enterprise=pending, name="gw")
    written = (out / "passwd").read_text() + (out / "acl").read_text()
    assert rejected.credit_code not in written and pending.credit_code not in written

    for plain_token in (rejected_plain, pending_plain):
        response = post_readings(plain_token, "M-1", T0, 1)
        assert response.status_code == 403
        assert response.json() == {"error": {"status": 403, "code": "enterprise_not_sending",
                                             "message": "该企业未获批准或已停用，不能上传读数。"}}
    assert not Reading.objects.filter(meter__enterprise__in=[rejected, pending]).exists()

    with compose_broker(out, tmp_path) as broker:
        assert connect_reason(broker.url(rejected_token.mqtt_username, rejected_plain)) != 0
        assert connect_reason(broker.url(pending_token.mqtt_username, pending_plain)) != 0
        a_gateway = mqtt_client(broker.url(tokens["a"].mqtt_username, plain["a"]), "gateway-a")
        try:
            # Approval is a status change: the broker files follow it, no token is touched.
            with django_capture_on_commit_callbacks(execute=True):
                enterprise_approve(actor=world.user("zhengzhou_reviewer"), enterprise=pending)
            wait_for_connect_reason(broker.url(pending_token.mqtt_username, pending_plain),
                                    wanted_accepted=True)
            assert post_readings(pending_plain, "M-1", T0, 1).status_code == 200

            # Away from approved (the suspension service saves the status the same way).
            tenant_a = world.tenant_a
            tenant_a.status = Enterprise.Status.REJECTED
            with django_capture_on_commit_callbacks(execute=True):
                tenant_a.save(update_fields=["status"])
            wait_for_connect_reason(broker.url(tokens["a"].mqtt_username, plain["a"]), wanted_accepted=False)
            deadline = time.monotonic() + WAIT_S
            while a_gateway.is_connected():
                assert time.monotonic() < deadline, "the rejected enterprise's gateway is still connected"
                time.sleep(0.1)
            assert connect_reason(broker.url(tokens["b"].mqtt_username, plain["b"])) == 0  # B unaffected
        finally:
            a_gateway.disconnect()
            a_gateway.loop_stop()
    assert post_readings(plain["a"], "M-1", T0, 1).status_code == 403


@pytest.mark.django_db
def test_a_save_that_leaves_the_status_alone_queues_no_refresh(  # type: ignore[no-untyped-def]
    world, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MQTT_CREDENTIALS_DIR = tmp_path / "auth"
    with django_capture_on_commit_callbacks() as callbacks:
        enterprise_update(actor=world.user("a_admin"), enterprise=world.tenant_a, contact_name="王工")
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks:
        world.tenant_a.status = Enterprise.Status.SUSPENDED
        world.tenant_a.save(update_fields=["status"])
    assert len(callbacks) == 1
