"""A long-running collector gets ready before it asks for input (metering.ingest.services.collector_warm_up).

The MQTT consumer opens its database connections and lets monitoring open the task queue and
cache (`collector_starting`) before it connects to the broker: a resumed session's backlog then
meets a consumer that is up to speed, and its first batch pays no imports or connections.
Real Mosquitto, PostgreSQL and Redis.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection

from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
from metering.ingest.services import collector_warm_up
from metering.ingest.signals import collector_starting
from metering.monitoring.receivers import prepare_rollup_queue
from tests.metering.mosquitto_private import private_mosquitto

pytestmark = pytest.mark.services


@pytest.fixture
def broker(tmp_path):  # type: ignore[no-untyped-def]
    with private_mosquitto(tmp_path, allow_anonymous=True) as instance:
        yield instance


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_consumer_is_ready_before_it_connects_to_the_broker(broker) -> None:  # type: ignore[no-untyped-def]
    consumer = MqttConsumer(ConsumerConfig(url=broker.url(), group="g-warm",
                                           client_id=f"c-{uuid.uuid4().hex[:8]}", ingest_workers=2))
    seen: list[dict[str, Any]] = []

    def record(sender: Any, **kwargs: Any) -> None:
        seen.append({"subscribed": consumer._subscribed.is_set(), "workers": len(consumer._workers),
                     "connected": connection.connection is not None})

    collector_starting.connect(record, dispatch_uid="test-warm-up-record")
    try:
        consumer.start()
        try:
            assert seen == [{"subscribed": False, "workers": 0, "connected": True}]
            # The ingest workers were running (their connections open) before the subscription.
            assert len(consumer._workers) == 2 and all(worker.is_alive() for worker in consumer._workers)
            assert consumer._subscribed.is_set()
        finally:
            consumer.stop()
            consumer.run()
    finally:
        collector_starting.disconnect(dispatch_uid="test-warm-up-record")
    assert consumer._workers == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_monitoring_prepares_its_task_queue_and_a_failing_receiver_never_stops_the_collector() -> None:
    receivers = [receiver for receiver, _outcome in collector_starting.send_robust(sender=None)]
    assert prepare_rollup_queue in receivers  # connected by monitoring's AppConfig.ready

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("a receiver that cannot prepare")

    collector_starting.connect(broken, dispatch_uid="test-warm-up-broken")
    try:
        collector_warm_up()  # logs the failure, raises nothing
    finally:
        collector_starting.disconnect(dispatch_uid="test-warm-up-broken")
    assert connection.connection is not None
