"""A spool that never drops a reading.

- whatever exception a write fails with (here a read-only standby's InternalError), the
  collectors keep the batch and it arrives once the database takes writes again;
- a quarantined input is kept whole up to the largest message a collector accepts;
- draining is bounded per pass and runs apart from device polling;
- two drains of one spool never replay the same batch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Sum

from metering.collectors.http.views import MAX_BATCH_BYTES
from metering.collectors.modbus import polling
from metering.collectors.modbus.polling import modbus_device_claim, modbus_device_poll, modbus_spool_drain
from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
from metering.collectors.mqtt.contract import MAX_MESSAGE_BYTES
from metering.demo.simulator import RegisterBank, SimulatedModbusServer
from metering.ingest import spool as spool_module
from metering.ingest.quarantine import QUARANTINE_PAYLOAD_BYTES
from metering.ingest.spool import Spool
from metering.models import ModbusDevice, QuarantinedMessage, Reading
from metering.registry.tokens import gateway_token_create
from portal.access import enterprise_scope
from tests.metering.modbus_support import (
    add_point,
    database_restored,
    make_device,
    make_meter,
    make_test_database_read_only,
)
from tests.metering.mosquitto_private import private_mosquitto, publish_all

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
WAIT_TIMEOUT_S = 60.0
MIB = 1024 * 1024
T0 = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)


def items(code: str, minutes: range) -> list[dict]:
    return [{"meter": code, "ts": (T0 + dt.timedelta(minutes=m)).isoformat(), "value": float(m)}
            for m in minutes]


def database_url() -> str:
    db = django_settings.DATABASES["default"]
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db.get('USER') or 'postgres'}@{host}:{port}/{db['NAME']}"


def wait_for(predicate, what: str, log: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}\n{log.read_text() if log else ''}")


# --- any write failure keeps the batch -----------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_modbus_values_are_spooled_when_the_database_refuses_the_write(world, settings, tmp_path):  # type: ignore[no-untyped-def]
    """A real pymodbus server answers; the database is a read-only standby (InternalError, not
    OperationalError): the values read are spooled, not only logged, and arrive afterwards."""
    settings.SPOOL_DIR = tmp_path
    bank = RegisterBank()
    bank.set_value("holding", 0, 654.5, data_type="float32", byte_order="ABCD")
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "只读库", port=server.port)
        meter = make_meter(world.tenant_a, "RO-1")
        add_point(device, meter, address=0)
        with enterprise_scope(world.tenant_a.pk):
            token = modbus_device_claim(device_id=device.pk)
        with database_restored():
            make_test_database_read_only()
            with enterprise_scope(world.tenant_a.pk):
                outcome = modbus_device_poll(device_id=device.pk, claim_token=token)
            assert outcome.reachable and outcome.points[0].value == 654.5
            assert (outcome.readings_spooled, outcome.readings_written) == (1, 0)
            assert modbus_spool_drain() == 0  # still refused: the batch stays, nothing quarantined
            assert len(Spool(polling.SPOOL_NAME)) == 1

    assert not Reading.objects.filter(meter=meter).exists()
    assert not QuarantinedMessage.objects.exists()
    assert modbus_spool_drain() == 1
    assert Reading.objects.get(meter=meter).value == 654.5
    assert len(Spool(polling.SPOOL_NAME)) == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_mqtt_readings_are_spooled_and_acknowledged_when_the_database_refuses_writes(  # type: ignore[no-untyped-def]
    world, settings, tmp_path
):
    settings.SPOOL_DIR = tmp_path / "spool"
    meter = make_meter(world.tenant_a, "RO-MQTT")
    topic = f"nengtan/{world.tenant_a.credit_code}/RO-MQTT"

    def payload(minute: int) -> bytes:
        return json.dumps({"ts": (T0 + dt.timedelta(minutes=minute)).isoformat(), "value": minute}).encode()

    def consumer_for(url: str) -> MqttConsumer:
        return MqttConsumer(ConsumerConfig(url=url, group="ro-test", client_id="ro-test-1",
                                           batch_window_ms=20, spool_drain_interval_s=0, ingest_workers=0))

    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    with private_mosquitto(broker_dir, allow_anonymous=True) as broker:
        consumer = consumer_for(broker.url())
        consumer.start()
        publish_all(broker.url(), "ro-publisher", [(topic, payload(0))])  # warms the lookups
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while consumer.stats.messages < 1 and time.monotonic() < deadline:
            consumer.step()
        with database_restored():
            make_test_database_read_only()
            publish_all(broker.url(), "ro-publisher", [(topic, payload(m)) for m in range(1, 21)])
            while consumer.stats.messages < 21 and time.monotonic() < deadline:
                consumer.step()
            consumer.run(until=lambda: True)
            assert consumer.stats.spooled_batches >= 1
            assert consumer.stats.acked == 21
        assert Reading.objects.filter(meter=meter).count() == 1

        consumer = consumer_for(broker.url())
        consumer.start()
        stop_at = time.monotonic() + 2.0
        consumer.run(until=lambda: time.monotonic() > stop_at)
        assert consumer.stats.messages == 0  # acknowledged: the spool is what brings them in

    assert Reading.objects.filter(meter=meter).aggregate(total=Sum("value"))["total"] == sum(range(21))
    assert Reading.objects.filter(meter=meter).count() == 21
    assert not QuarantinedMessage.objects.exists()


# --- quarantine keeps the whole input ----------------------------------------------------------


def test_quarantine_keeps_the_largest_message_any_collector_accepts() -> None:
    assert QUARANTINE_PAYLOAD_BYTES >= MAX_BATCH_BYTES
    assert QUARANTINE_PAYLOAD_BYTES >= MAX_MESSAGE_BYTES


@pytest.mark.django_db
def test_a_quarantined_one_mebibyte_http_body_is_kept_whole(world) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    _token, plain = gateway_token_create(actor=world.user("a_admin"), enterprise=world.tenant_a, name="大包")
    head = b'{"readings": ['
    body = head + b"x" * (MIB - len(head))  # 1 MiB, never closed: invalid JSON
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Gateway {plain}")
    response = client.post("/api/v1/readings/", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    row = QuarantinedMessage.objects.get(enterprise=world.tenant_a)
    assert row.payload_size == MIB
    assert bytes(row.payload) == body


@pytest.mark.django_db
def test_a_quarantined_one_mebibyte_mqtt_message_is_kept_whole(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    topic = f"nengtan/{world.tenant_a.credit_code}/BIG-1"
    message = b'{"ts": "' + b"x" * (MAX_MESSAGE_BYTES - 9) + b"}"  # the MQTT limit exactly, not JSON
    assert len(message) == MAX_MESSAGE_BYTES == MIB
    with private_mosquitto(tmp_path, allow_anonymous=True) as broker:
        consumer = MqttConsumer(ConsumerConfig(url=broker.url(), group="big", client_id="big-1",
                                               batch_window_ms=20, ingest_workers=0))
        consumer.start()
        publish_all(broker.url(), "big-publisher", [(topic, message)])
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        consumer.run(until=lambda: consumer.stats.messages >= 1 or time.monotonic() > deadline)
    row = QuarantinedMessage.objects.get(enterprise=world.tenant_a)
    assert row.payload_size == MIB
    assert bytes(row.payload) == message


@pytest.mark.django_db
def test_an_integer_python_will_not_parse_is_a_clear_400_and_quarantined(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Valid JSON, but one number of 5 000 digits: Python's int limit refuses it with a ValueError
    that is not a JSONDecodeError. It answers 400 invalid_json (not 500) and is kept."""
    from rest_framework.test import APIClient

    from metering.collectors.mqtt.contract import ContractError, decode_payload

    _token, plain = gateway_token_create(actor=world.user("a_admin"), enterprise=world.tenant_a, name="长数")
    body = b'{"readings": [{"meter": "E-1", "ts": "2025-05-01T00:00:00Z", "value": ' + b"9" * 5000 + b"}]}"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Gateway {plain}")
    response = client.post("/api/v1/readings/", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert bytes(QuarantinedMessage.objects.get(enterprise=world.tenant_a).payload) == body
    with pytest.raises(ContractError, match="数字过长"):
        decode_payload(b'{"ts": "2025-05-01T00:00:00Z", "value": ' + b"9" * 5000 + b"}")


# --- bounded drains, apart from polling, never twice ---------------------------------------------


@pytest.mark.django_db
def test_a_drain_pass_is_bounded_and_the_next_pass_goes_on(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "BOUND-1")
    spool = Spool("bounded", directory=tmp_path)
    batches = spool_module.DRAIN_BATCHES_PER_PASS + 3
    for n in range(batches):
        spool.put("items", {"enterprise_id": world.tenant_a.pk, "items": items("BOUND-1", range(n, n + 1))})
    assert spool.drain() == spool_module.DRAIN_BATCHES_PER_PASS
    assert len(spool) == 3
    assert spool.drain() == 3
    assert Reading.objects.filter(meter=meter).count() == batches


@pytest.mark.django_db
def test_celery_dispatch_leaves_the_spool_to_its_own_drain_task(world, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from metering.tasks import dispatch_due_devices, drain_reading_spools

    settings.SPOOL_DIR = tmp_path
    meter = make_meter(world.tenant_a, "CELERY-1")
    spool = Spool(polling.SPOOL_NAME)
    spool.put("resolved", {"rows": [[meter.pk, T0.isoformat(), 5.0]], "source": "modbus"})
    assert dispatch_due_devices() == 0  # no device due, and the backlog is not its business
    assert len(spool) == 1
    assert drain_reading_spools() == 1
    assert len(spool) == 0
    assert Reading.objects.get(meter=meter).value == 5.0
    schedule = settings.CELERY_BEAT_SCHEDULE["metering-drain-spools"]
    assert schedule["task"] == "metering.tasks.drain_reading_spools"
    assert schedule["schedule"] <= 5  # seconds: readings arrive within seconds of the return


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_drains_never_replay_the_same_batch(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "TWICE-1")
    batches, per_batch = 60, 200
    writer = Spool("shared", directory=tmp_path)
    for n in range(batches):
        writer.put("items", {"enterprise_id": world.tenant_a.pk,
                             "items": items("TWICE-1", range(n * per_batch, (n + 1) * per_batch))})
    writer.close()
    start = threading.Barrier(2)
    drained: list[int] = []
    errors: list[BaseException] = []

    def drain() -> None:
        spool = Spool("shared", directory=tmp_path)  # its own SQLite and database connections
        try:
            start.wait()
            total = 0
            while count := spool.drain():
                total += count
            drained.append(total)
        except BaseException as exc:
            errors.append(exc)
        finally:
            spool.close()
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_TIMEOUT_S)
    assert not errors, errors
    assert sum(drained) == batches, drained  # each batch replayed by exactly one of the two
    assert len(Spool("shared", directory=tmp_path)) == 0
    assert Reading.objects.filter(meter=meter).count() == batches * per_batch


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_devices_keep_being_polled_while_a_long_backlog_drains(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`run_collectors` as a real process: its drain is stuck behind a lock held on the backlog's
    meter (a drain that takes very long), and the due device is polled all the same."""
    spool_dir = tmp_path / "spool"
    backlog_meter = make_meter(world.tenant_a, "BACKLOG-1")
    backlog = Spool("mqtt", directory=spool_dir)
    for n in range(5):
        backlog.put("items", {"enterprise_id": world.tenant_a.pk,
                              "items": items("BACKLOG-1", range(n, n + 1))})
    bank = RegisterBank()
    bank.set_value("holding", 0, 77, data_type="uint16", byte_order="ABCD")
    log = tmp_path / "collectors.log"
    db = django_settings.DATABASES["default"]
    blocker = psycopg2.connect(dbname=db["NAME"], user=db.get("USER") or "postgres",
                               host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432)
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "积压时轮询", port=server.port, poll_interval_s=1)
        live_meter = make_meter(world.tenant_a, "LIVE-1")
        add_point(device, live_meter, address=0, data_type="uint16")
        with blocker.cursor() as cursor:  # held until rollback: every drain of the backlog waits
            cursor.execute("SELECT id FROM metering_meter WHERE id = %s FOR UPDATE", [backlog_meter.pk])
        env = {**os.environ, "DATABASE_URL": database_url(), "SPOOL_DIR": str(spool_dir),
               "NENGTAN_ENV": "test", "REDIS_URL": "", "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen([sys.executable, "manage.py", "run_collectors", "--interval", "0.2"],
                                   cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        try:
            def polled(times: int) -> bool:
                return ModbusDevice.objects.get(pk=device.pk).polls_total >= times

            wait_for(lambda: polled(3), "three polls while the backlog waits", log)
            assert len(backlog) == 5  # the backlog's drain is still stuck
            assert set(Reading.objects.filter(meter=live_meter).values_list("value", flat=True)) == {77}
            blocker.rollback()
            wait_for(lambda: len(backlog) == 0, "the backlog to drain", log)
        finally:
            blocker.close()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=WAIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == 0, log.read_text()
    assert Reading.objects.filter(meter=backlog_meter).count() == 5

