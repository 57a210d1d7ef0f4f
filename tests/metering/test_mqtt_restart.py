"""A consumer killed mid-stream loses nothing and duplicates nothing.

`manage.py mqtt_ingest` runs as a real subprocess against a private Mosquitto (persistence on)
and the pytest database; it is SIGKILLed partway through 5000 QoS-1 readings and restarted
with the same client id. The readings table must then hold every reading exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import Sum

from metering.models import EnergyType, Meter, Reading
from tests.metering.mosquitto_private import private_mosquitto, publish_all

pytestmark = pytest.mark.services

MESSAGES = 5000
METERS = 10
KILL_AFTER_READINGS = 800
WAIT_TIMEOUT_S = 120.0
REPO = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def start_consumer(mqtt_url: str, spool_dir: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url(), "MQTT_URL": mqtt_url, "SPOOL_DIR": str(spool_dir),
           "NENGTAN_ENV": "test"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "mqtt_ingest", "--group", "restart-test",
         "--client-id", "restart-test-1", "--batch-window-ms", "20", "--batch-max-messages", "200"],
        cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


def wait_for(predicate, what: str, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"consumer exited with {process.returncode} while waiting for {what}:\n"
                        f"{log.read_text() if log else ''}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text() if log else ''}")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_killed_consumer_loses_and_duplicates_nothing(world, tmp_path):
    enterprise = world.tenant_a
    meters = [Meter.objects.create(enterprise=enterprise, code=f"K-{n}", name=f"K-{n}", level=3,
                                   energy_type=EnergyType.ELECTRICITY, unit="kWh") for n in range(METERS)]
    start = dt.datetime(2025, 2, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    messages = []
    for i in range(MESSAGES):
        meter = meters[i % METERS]
        ts = start + dt.timedelta(minutes=i // METERS)
        messages.append((f"nengtan/{enterprise.credit_code}/{meter.code}",
                         json.dumps({"ts": ts.isoformat(), "value": i}).encode()))
    expected_sum = sum(range(MESSAGES))
    log = tmp_path / "consumer.log"

    with _broker(tmp_path) as broker:
        consumer = start_consumer(broker.url(), tmp_path / "spool", log)
        try:
            wait_for(lambda: "connected to" in log.read_text(), "the consumer to connect", consumer, log)
            time.sleep(0.5)  # the subscription follows the CONNACK
            publish_all(broker.url(), "restart-publisher", messages)
            wait_for(lambda: Reading.objects.count() >= KILL_AFTER_READINGS, "the first readings",
                     consumer, log)
            consumer.send_signal(signal.SIGKILL)
            consumer.wait(timeout=10)
        finally:
            if consumer.poll() is None:
                consumer.kill()
        stored_at_kill = Reading.objects.count()
        assert stored_at_kill < MESSAGES, "the consumer finished before it was killed; nothing was tested"

        restarted = start_consumer(broker.url(), tmp_path / "spool", log)
        try:
            wait_for(lambda: Reading.objects.count() >= MESSAGES, "all readings after the restart",
                     restarted, log)
            time.sleep(1.0)  # anything redelivered twice would land now
            restarted.send_signal(signal.SIGTERM)
            assert restarted.wait(timeout=30) == 0, log.read_text()
        finally:
            if restarted.poll() is None:
                restarted.kill()

    assert "session present: True" in log.read_text()  # the restart resumed the persistent session
    assert Reading.objects.count() == MESSAGES
    assert Reading.objects.aggregate(total=Sum("value"))["total"] == expected_sum
    for meter in meters:
        assert Reading.objects.filter(meter=meter).count() == MESSAGES // METERS
    assert "mqtt_ingest stopped" in log.read_text()


def _broker(tmp_path: Path):
    directory = tmp_path / "broker"
    directory.mkdir()
    return private_mosquitto(directory, allow_anonymous=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_database_down_spools_then_acks_and_the_spool_drains(world, settings, tmp_path):
    """A real outage of the test database: the batch goes to the durable spool and is acknowledged
    (a new session gets nothing redelivered); with the database back the spool drains into readings."""
    from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
    from metering.ingest.spool import Spool
    from tests.metering.modbus_support import database_restored, take_test_database_down

    settings.SPOOL_DIR = tmp_path / "spool"
    enterprise = world.tenant_a
    meter = Meter.objects.create(enterprise=enterprise, code="S-1", name="S-1", level=3,
                                 energy_type=EnergyType.ELECTRICITY, unit="kWh")
    topic = f"nengtan/{enterprise.credit_code}/S-1"
    start = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)

    def payload(minute: int) -> bytes:
        ts = start + dt.timedelta(minutes=minute)
        return json.dumps({"ts": ts.isoformat(), "value": minute}).encode()

    def consumer_for(url: str) -> MqttConsumer:
        return MqttConsumer(ConsumerConfig(url=url, group="spool-test", client_id="spool-test-1",
                                           batch_window_ms=20, spool_drain_interval_s=0,
                                           ingest_workers=0))  # step() commits before it returns

    def step_until(consumer: MqttConsumer, count: int) -> None:
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while consumer.stats.messages < count and time.monotonic() < deadline:
            consumer.step()

    with _broker(tmp_path) as broker:
        consumer = consumer_for(broker.url())
        consumer.start()
        publish_all(broker.url(), "spool-publisher", [(topic, payload(0))])  # warms the lookups
        step_until(consumer, 1)
        assert Reading.objects.count() == 1

        with database_restored():
            take_test_database_down()
            publish_all(broker.url(), "spool-publisher", [(topic, payload(m)) for m in range(1, 21)])
            step_until(consumer, 21)
            consumer.run(until=lambda: True)  # settle and disconnect, database still down
            assert consumer.stats.messages == 21
            assert consumer.stats.spooled_batches >= 1
            assert len(Spool("mqtt")) == consumer.stats.spooled_batches

        # Acknowledged: the same session gets nothing again; the spool is what brings them in.
        consumer = consumer_for(broker.url())
        consumer.start()
        deadline = time.monotonic() + 2.0
        consumer.run(until=lambda: time.monotonic() > deadline)
        assert consumer.stats.messages == 0
        assert consumer.stats.drained_batches == 20

    assert len(Spool("mqtt")) == 0
    assert Reading.objects.filter(meter=meter).count() == 21
    assert Reading.objects.filter(meter=meter).aggregate(total=Sum("value"))["total"] == sum(range(21))
