"""The MQTT consumer end to end over a real (private) Mosquitto and PostgreSQL.

The consumer runs in the test's thread (paho's network loop in its own), so its database work
happens inside the test transaction; the subprocess crash test is in test_mqtt_restart.py.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest

from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
from metering.models import EnergyType, Meter, MqttMapping, QuarantinedMessage, Reading
from tests.metering.mosquitto_private import private_mosquitto, publish_all

pytestmark = pytest.mark.services
RUN_TIMEOUT_S = 30.0
# No worker threads: they would write on their own connections, outside the test's transaction
# (tests/metering/test_mqtt_load.py runs the workers against committed data).
IN_TEST_TRANSACTION = 0


@pytest.fixture
def broker(tmp_path):
    with private_mosquitto(tmp_path, allow_anonymous=True) as instance:
        yield instance


def make_meter(enterprise, code: str) -> Meter:
    return Meter.objects.create(enterprise=enterprise, code=code, name=code, level=Meter.Level.EQUIPMENT,
                                energy_type=EnergyType.ELECTRICITY, unit="kWh")


def consume(broker, messages: list[tuple[str, bytes]], *, spool=None) -> MqttConsumer:
    """Start a consumer, publish, and run it until it has taken every message (then it stops)."""
    consumer = MqttConsumer(ConsumerConfig(url=broker.url(), group=f"g-{uuid.uuid4().hex[:8]}",
                                           client_id=f"c-{uuid.uuid4().hex[:8]}", batch_window_ms=50,
                                           ingest_workers=IN_TEST_TRANSACTION),
                            spool=spool)
    consumer.start()
    publish_all(broker.url(), f"p-{uuid.uuid4().hex[:8]}", messages)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    consumer.run(until=lambda: consumer.stats.messages >= len(messages) or time.monotonic() > deadline)
    assert consumer.stats.messages == len(messages)
    return consumer


def reading(ts: dt.datetime, value: object) -> bytes:
    return json.dumps({"ts": ts.isoformat(), "value": value}).encode()


T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def quarantined(enterprise=None, **filters) -> list[QuarantinedMessage]:
    return list(QuarantinedMessage.objects.filter(enterprise=enterprise, **filters).order_by("id"))


def test_good_readings_single_and_batch_are_stored(world, broker):
    a = world.tenant_a
    m1, m2 = make_meter(a, "A-M1"), make_meter(a, "A-M2")
    batch = {"readings": [{"meter": "A-M2", "ts": (T0 + dt.timedelta(minutes=i)).isoformat(), "value": i}
                          for i in range(50)]}
    consumer = consume(broker, [
        (f"nengtan/{a.credit_code}/A-M1", reading(T0, 12.5)),
        (f"nengtan/{a.credit_code}/A-M1", reading(T0 + dt.timedelta(minutes=1), 13)),
        (f"nengtan/{a.credit_code}/batch", json.dumps(batch).encode()),
    ])
    assert sorted(Reading.objects.filter(meter=m1).values_list("value", flat=True)) == [12.5, 13.0]
    assert Reading.objects.filter(meter=m2).count() == 50
    assert set(Reading.objects.values_list("source", flat=True)) == {"mqtt"}
    assert consumer.stats.accepted == 52
    assert not QuarantinedMessage.objects.exists()


def test_bad_input_is_quarantined_and_takes_nothing_else_down(world, broker):
    a, b = world.tenant_a, world.tenant_b
    good = make_meter(a, "A-M1")
    b_meter = make_meter(b, "B-M1")
    code = a.credit_code
    topic = f"nengtan/{code}/A-M1"
    mixed_batch = json.dumps({"readings": [
        {"meter": "A-M1", "ts": (T0 + dt.timedelta(hours=1)).isoformat(), "value": 1},
        {"meter": "A-M1", "ts": (T0 + dt.timedelta(hours=2)).isoformat(), "value": "lots"},
        {"meter": "B-M1", "ts": (T0 + dt.timedelta(hours=3)).isoformat(), "value": 3},
        {"meter": "A-M1", "ts": (T0 + dt.timedelta(hours=4)).isoformat(), "value": 4},
    ]}).encode()
    duplicated_batch = json.dumps({"readings": [
        {"meter": "A-M1", "ts": (T0 + dt.timedelta(days=1, minutes=i)).isoformat(), "value": i}
        for i in range(10)
    ]}).encode()
    messages = [
        (topic, reading(T0, "12")),  # a string is not a number
        (topic, b'{"ts": "2025-03-01T08:01:00+08:00", "value": NaN}'),
        (topic, b'{"ts": "2025-03-01T08:02:00", "value": 1}'),  # no UTC offset
        (f"nengtan/{code}/NO-SUCH-METER", reading(T0, 1)),
        (f"nengtan/{code}/B-M1", reading(T0, 1)),  # another tenant's meter under A's prefix
        (topic, b"\xff\xfe\xfd"),
        (topic, b"{" + b" " * (1024 * 1024) + b"}"),
        (topic, b'{"ts": "2025'),
        (topic, b"[1, 2, 3]"),
        ("nengtan/91000000000000000X/A-M1", reading(T0, 1)),  # nobody's credit code
        (f"nengtan/{code}/batch", mixed_batch),
        (f"nengtan/{code}/batch", duplicated_batch),
        (f"nengtan/{code}/batch", duplicated_batch),
        (topic, reading(T0 + dt.timedelta(minutes=30), 99)),  # good, after all that
    ]
    consumer = consume(broker, messages)

    stored = dict(Reading.objects.filter(meter=good).values_list("ts", "value"))
    assert len(stored) == 1 + 2 + 10
    assert stored[(T0 + dt.timedelta(minutes=30)).astimezone(dt.UTC)] == 99
    assert stored[(T0 + dt.timedelta(hours=4)).astimezone(dt.UTC)] == 4
    assert not Reading.objects.filter(meter=b_meter).exists()
    assert consumer.stats.duplicates == 10

    by_reason = {(q.channel, q.item_index, q.reason) for q in quarantined(a)}
    reasons = [q.reason for q in quarantined(a)]
    assert (topic, 0, "value must be a number") in by_reason
    assert (topic, 0, "value must be a finite number (NaN and Infinity are not readings)") in by_reason
    assert (topic, 0, "ts must include a UTC offset (e.g. +08:00 or Z)") in by_reason
    assert (f"nengtan/{code}/NO-SUCH-METER", 0, "unknown meter") in by_reason
    assert (f"nengtan/{code}/B-M1", 0, "unknown meter") in by_reason
    assert (f"nengtan/{code}/batch", 1, "value must be a number") in by_reason
    assert (f"nengtan/{code}/batch", 2, "unknown meter") in by_reason
    assert any("UTF-8" in r for r in reasons)
    assert any("过大" in r for r in reasons)
    assert any("不是有效的 JSON" in r for r in reasons)
    assert any("必须是 JSON 对象" in r for r in reasons)
    oversized = next(q for q in quarantined(a) if "过大" in q.reason)
    assert oversized.payload_size == 1024 * 1024 + 2 and oversized.payload_sha256
    assert len(reasons) == 11
    nobody = quarantined(None)
    assert [q.channel for q in nobody] == ["nengtan/91000000000000000X/A-M1"]
    assert "没有对应的企业" in nobody[0].reason
    assert bytes(nobody[0].payload) == reading(T0, 1)
    assert not QuarantinedMessage.objects.filter(enterprise=b).exists()


def test_mappings_turn_gateway_topics_into_readings(world, broker):
    a, b = world.tenant_a, world.tenant_b
    m1, m2 = make_meter(a, "A-M1"), make_meter(a, "17")
    MqttMapping.objects.create(enterprise=a, name="edge box", topic_pattern="gw/+/{meter}/up",
                               ts_path="t", value_path="d.ep", ts_is_epoch_ms=True)
    MqttMapping.objects.create(enterprise=a, name="plant list", topic_pattern="plant/#", readings_path="data",
                               meter_path="id", ts_path="time", value_path="v")
    MqttMapping.objects.create(enterprise=a, name="switched off", topic_pattern="off/{meter}", enabled=False)
    MqttMapping.objects.create(enterprise=b, name="b only", topic_pattern="custom/{meter}")
    code = a.credit_code
    epoch_ms = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    consume(broker, [
        (f"nengtan/{code}/gw/line1/A-M1/up", json.dumps({"t": epoch_ms, "d": {"ep": 42.5}}).encode()),
        (f"nengtan/{code}/plant/hall-2", json.dumps({"data": [
            {"id": 17, "time": "2025-01-01T08:00:00+08:00", "v": 7},
            {"id": "A-M1", "time": "2025-01-01T09:00:00+08:00"},  # no value: quarantined, index 1
            {"id": "A-M1", "time": "2025-01-01T10:00:00+08:00", "v": 8},
            # Rejected by ingest: named by its index in the message (3), not among the rest (2).
            {"id": "A-M1", "time": "2025-01-01T11:00:00+08:00", "v": "8"},
        ]}).encode()),
        (f"nengtan/{code}/off/A-M1", reading(T0, 1)),  # disabled mapping: nothing matches
        (f"nengtan/{code}/custom/A-M1", reading(T0, 1)),  # B's mapping never applies to A's topics
    ])
    assert dict(Reading.objects.filter(meter=m1).values_list("ts", "value")) == {
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC): 42.5,
        dt.datetime(2025, 1, 1, 2, tzinfo=dt.UTC): 8.0,
    }
    assert list(Reading.objects.filter(meter=m2).values_list("value", flat=True)) == [7.0]
    problems = {(q.channel.split("/")[2], q.item_index) for q in quarantined(a)}
    assert problems == {("plant", 1), ("plant", 3), ("off", None), ("custom", None)}
    assert QuarantinedMessage.objects.get(enterprise=a, item_index=3).reason == "value must be a number"
    missing_value = QuarantinedMessage.objects.get(enterprise=a, item_index=1)
    assert "'v'" in missing_value.reason and "plant list" in missing_value.reason


def test_stop_settles_what_is_in_hand(world, broker):
    """After stop(), messages already received are committed and acknowledged, not abandoned."""
    a = world.tenant_a
    meter = make_meter(a, "A-M1")
    consumer = MqttConsumer(ConsumerConfig(url=broker.url(), group="g-stop", client_id="c-stop",
                                           batch_window_ms=50, ingest_workers=IN_TEST_TRANSACTION))
    consumer.start()
    publish_all(broker.url(), "p-stop", [
        (f"nengtan/{a.credit_code}/A-M1", reading(T0 + dt.timedelta(minutes=i), i)) for i in range(20)
    ])
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while consumer._inbox.qsize() < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    consumer.stop()
    consumer.run()
    assert Reading.objects.filter(meter=meter).count() == 20
