"""Many single-reading QoS-1 messages through the real consumer: every reading stored exactly once.

Regression for the benchmark's "MQTT single" stall (16 890 of 20 000 stored, then no progress).
The messages had been dropped by the broker, not by the consumer: run.py measured on the shared
Mosquitto (default `max_queued_messages 1000` per client) instead of its private one, and the
broker logs "Outgoing messages are being dropped for client …" when a burst outruns a consumer by
more than that. This test runs the consumer as deployed (worker threads, manual acks after commit,
Receive Maximum a few batches deep) against a private broker configured like deploy/mosquitto and checks
both ends: the broker dropped nothing, and the table holds each reading once (count and sum).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid

import pytest
from django.db import connection
from django.db.models import Sum

from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
from metering.models import EnergyType, Meter, QuarantinedMessage, Reading
from tests.metering.mosquitto_private import private_mosquitto, publish_all
from tests.scoping import unscoped

pytestmark = pytest.mark.services

MESSAGES = 10_000
METERS = 20
# Generous: a stall shows up as a count short of MESSAGES, not as a slow run.
RUN_TIMEOUT_S = 300.0
START = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ten_thousand_single_qos1_messages_are_each_stored_once(world, tmp_path):
    enterprise = world.tenant_a
    with unscoped():  # test setup
        meters = [
            Meter.objects.create(enterprise=enterprise, code=f"L-{n:02d}", name=f"L-{n:02d}", level=3,
                                 energy_type=EnergyType.ELECTRICITY, unit="kWh")
            for n in range(METERS)
        ]
    messages = []
    for n in range(MESSAGES):
        meter, minute = meters[n % METERS], n // METERS
        payload = {"ts": (START + dt.timedelta(minutes=minute)).isoformat(), "value": n}
        messages.append((f"nengtan/{enterprise.credit_code}/{meter.code}", json.dumps(payload).encode()))
    assert len({(topic, payload) for topic, payload in messages}) == MESSAGES  # all distinct (meter, ts)

    with private_mosquitto(tmp_path, allow_anonymous=True) as broker:
        consumer = MqttConsumer(ConsumerConfig(url=broker.url(), group=f"load-{uuid.uuid4().hex[:8]}",
                                               client_id=f"load-{uuid.uuid4().hex[:8]}", ingest_workers=2))
        consumer.start()
        deadline = time.monotonic() + RUN_TIMEOUT_S

        def consume() -> None:
            try:
                consumer.run(until=lambda: consumer.stats.acked >= MESSAGES or time.monotonic() > deadline)
            finally:
                connection.close()  # this thread's own connection (quarantine and lookups)

        running = threading.Thread(target=consume)
        running.start()  # consuming while the burst is published, as in production
        try:
            publish_all(broker.url(), f"load-pub-{uuid.uuid4().hex[:8]}", messages)
        finally:
            running.join()
        assert "being dropped" not in broker.log_text()

    with unscoped():  # what the consumer stored
        stored = Reading.objects.filter(meter__in=meters)
        assert stored.count() == MESSAGES
        assert stored.aggregate(total=Sum("value"))["total"] == sum(range(MESSAGES))
        assert not QuarantinedMessage.objects.exists()
    assert consumer.stats.messages == MESSAGES
    assert consumer.stats.accepted == MESSAGES
    assert consumer.stats.acked == MESSAGES
    assert consumer.stats.duplicates == 0 and consumer.stats.spooled_batches == 0
