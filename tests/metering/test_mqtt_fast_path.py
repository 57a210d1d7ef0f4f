"""The consumer's single-reading fast path and its batched acknowledgements keep every guarantee.

- A message on nengtan/<credit code>/<meter code> skips the generic parse objects
  (MqttConsumer._prepare_single) but is stored and refused exactly as the general path would:
  with its topic's meter, a bad reading quarantined alone with its topic as channel and index 0,
  an enterprise's mapping still winning over the default contract.
- A batch message with one bad reading among good ones, merged into one ingest call with many
  single readings, still gets per-item errors: its bad reading quarantined with its index and
  reason, every good reading stored.
- The PUBACKs of a batch go out as one write (consumer._send_pubacks, through paho's internal
  output queue), and the broker takes each of them: a new session with the same client id gets
  nothing redelivered, and the broker log counts one PUBACK per message.
- The paho internals the consumer leans on (`_packet_queue`, `_packet.Properties`) are still there
  and the shared-table Properties decode what paho's own decode.

Real Mosquitto and PostgreSQL; the consumer runs in the test's thread (no ingest workers).
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import struct
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from metering.collectors.mqtt import consumer as consumer_module
from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
from metering.models import EnergyType, Meter, MqttMapping, QuarantinedMessage, Reading
from tests.metering.mosquitto_private import private_mosquitto, publish_all
from tests.scoping import unscoped

pytestmark = pytest.mark.services
RUN_TIMEOUT_S = 30.0
T0 = dt.datetime(2025, 7, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture
def broker(tmp_path):  # type: ignore[no-untyped-def]
    with private_mosquitto(tmp_path, allow_anonymous=True) as instance:
        yield instance


def make_meter(enterprise, code: str) -> Meter:  # type: ignore[no-untyped-def]
    with unscoped():  # test setup
        return Meter.objects.create(enterprise=enterprise, code=code, name=code, level=Meter.Level.EQUIPMENT,
                                    energy_type=EnergyType.ELECTRICITY, unit="kWh")


def new_consumer(broker, client_id: str | None = None) -> MqttConsumer:  # type: ignore[no-untyped-def]
    consumer = MqttConsumer(ConsumerConfig(url=broker.url(), group="g-fast",
                                           client_id=client_id or f"c-{uuid.uuid4().hex[:8]}",
                                           batch_window_ms=200, ingest_workers=0))
    consumer.start()
    return consumer


def consume(broker, messages: list[tuple[str, bytes]], client_id: str | None = None) -> MqttConsumer:  # type: ignore[no-untyped-def]
    consumer = new_consumer(broker, client_id)
    publish_all(broker.url(), f"p-{uuid.uuid4().hex[:8]}", messages)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    consumer.run(until=lambda: consumer.stats.messages >= len(messages) or time.monotonic() > deadline)
    assert consumer.stats.messages == len(messages)
    return consumer


def single(minute: int, value: object) -> bytes:
    return json.dumps({"ts": (T0 + dt.timedelta(minutes=minute)).isoformat(), "value": value}).encode()


def quarantined(enterprise) -> list[QuarantinedMessage]:  # type: ignore[no-untyped-def]
    with unscoped():  # what the consumer quarantined, read across tenants
        return list(QuarantinedMessage.objects.filter(enterprise=enterprise).order_by("id"))


def test_single_readings_take_the_fast_path_and_are_stored_or_refused_alone(world, broker, monkeypatch):  # type: ignore[no-untyped-def]
    a = world.tenant_a
    m1, m2 = make_meter(a, "F-M1"), make_meter(a, "F-M2")
    code = a.credit_code
    taken: list[str] = []
    fast = MqttConsumer._prepare_single

    def counting(self, message, topic, *args):  # type: ignore[no-untyped-def]
        taken.append(topic)
        return fast(self, message, topic, *args)

    monkeypatch.setattr(MqttConsumer, "_prepare_single", counting)
    messages = [(f"nengtan/{code}/F-M1", single(minute, minute)) for minute in range(30)]
    messages += [
        (f"nengtan/{code}/F-M2", single(0, 7.5)),
        (f"nengtan/{code}/F-M2", single(1, "7.5")),  # a string is not a number
        (f"nengtan/{code}/F-NONE", single(0, 1)),  # not a meter of A
        (f"nengtan/{code}/F-M2", b'{"ts": "2025'),  # not JSON: the message is kept whole
    ]
    consumer = consume(broker, messages)

    assert len(taken) == len(messages)  # every one went the fast way
    with unscoped():  # what the consumer stored
        assert dict(Reading.objects.filter(meter=m1).values_list("value", "ts")) == {
            float(minute): (T0 + dt.timedelta(minutes=minute)).astimezone(dt.UTC) for minute in range(30)
        }
        assert list(Reading.objects.filter(meter=m2).values_list("value", flat=True)) == [7.5]
    rows = {(q.channel, q.item_index, q.reason) for q in quarantined(a)}
    assert (f"nengtan/{code}/F-M2", 0, "value must be a number") in rows
    assert (f"nengtan/{code}/F-NONE", 0, "unknown meter") in rows
    whole = [q for q in quarantined(a) if q.item_index is None]
    assert len(whole) == 1 and "不是有效的 JSON" in whole[0].reason
    assert bytes(whole[0].payload) == b'{"ts": "2025'
    assert len(rows) == 3
    assert consumer.stats.accepted == 31 and consumer.stats.rejected == 2


def test_a_mapping_still_wins_over_the_single_reading_contract(world, broker):  # type: ignore[no-untyped-def]
    a = world.tenant_a
    meter = make_meter(a, "F-M1")
    with unscoped():  # test setup: a gateway whose one-level topic carries its own payload shape
        MqttMapping.objects.create(enterprise=a, name="one level", topic_pattern="{meter}", ts_path="t",
                                   value_path="v")
    consume(broker, [(f"nengtan/{a.credit_code}/F-M1",
                      json.dumps({"t": T0.isoformat(), "v": 3.25}).encode())])
    with unscoped():
        assert list(Reading.objects.filter(meter=meter).values_list("value", flat=True)) == [3.25]
    assert not quarantined(a)


def test_one_bad_reading_among_good_ones_keeps_its_own_error_in_a_merged_batch(world, broker):  # type: ignore[no-untyped-def]
    a = world.tenant_a
    meter = make_meter(a, "F-M1")
    code = a.credit_code
    batch = {"readings": [{"meter": "F-M1", "ts": (T0 + dt.timedelta(hours=1, minutes=i)).isoformat(),
                           "value": "bad" if i == 3 else i} for i in range(8)]}
    # Singles before and after: one consumer batch, one merged ingest call, which the bad item
    # makes redo message by message.
    messages = [(f"nengtan/{code}/F-M1", single(minute, minute)) for minute in range(20)]
    messages.append((f"nengtan/{code}/batch", json.dumps(batch).encode()))
    messages += [(f"nengtan/{code}/F-M1", single(minute, minute)) for minute in range(20, 40)]
    consumer = consume(broker, messages)

    assert consumer.stats.batches <= 3  # merged, not message by message from the start
    with unscoped():
        stored = Reading.objects.filter(meter=meter)
        assert stored.count() == 40 + 7
        assert not stored.filter(ts=(T0 + dt.timedelta(hours=1, minutes=3)).astimezone(dt.UTC)).exists()
    rows = quarantined(a)
    assert [(q.channel, q.item_index, q.reason) for q in rows] == [
        (f"nengtan/{code}/batch", 3, "value must be a number")
    ]
    assert json.loads(bytes(rows[0].payload)) == batch["readings"][3]
    assert consumer.stats.accepted == 47 and consumer.stats.rejected == 1


def test_batched_acks_reach_the_broker_and_nothing_is_redelivered(world, broker):  # type: ignore[no-untyped-def]
    a = world.tenant_a
    meter = make_meter(a, "F-M1")
    client_id = f"c-{uuid.uuid4().hex[:8]}"
    messages = [(f"nengtan/{a.credit_code}/F-M1", single(minute, minute)) for minute in range(300)]
    consumer = consume(broker, messages, client_id)
    assert consumer.stats.acked == 300
    with unscoped():
        assert Reading.objects.filter(meter=meter).count() == 300

    # The same persistent session again: whatever was not acknowledged would come back now.
    again = new_consumer(broker, client_id)
    deadline = time.monotonic() + 2.0
    again.run(until=lambda: time.monotonic() > deadline)
    assert again.stats.messages == 0
    assert broker.log_text().count(f"Received PUBACK from {client_id}") == 300


def test_receive_maximum_covers_the_batches_in_flight() -> None:
    assert ConsumerConfig(url="mqtt://x", batch_max_messages=1000, ingest_workers=2).receive_maximum == 4000
    assert ConsumerConfig(url="mqtt://x", batch_max_messages=1000, ingest_workers=0).receive_maximum == 3000
    assert ConsumerConfig(url="mqtt://x", batch_max_messages=30000, ingest_workers=2).receive_maximum == 65535


def test_the_paho_internals_the_consumer_uses_are_there() -> None:
    # consumer._send_pubacks queues its joined PUBACKs the way ack() does.
    assert list(inspect.signature(mqtt.Client._packet_queue).parameters)[:5] == [
        "self", "command", "packet", "mid", "qos"]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    consumer_module._send_pubacks(client, [1, 2, 513])
    queued = list(client._out_packet)
    assert len(queued) == 1
    assert queued[0]["packet"] == bytes([0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 2, 1])

    # The shared-table Properties decode a PUBLISH as paho's own do, with and without properties.
    consumer_module._share_property_tables()
    assert _packet.Properties is consumer_module._SharedTableProperties
    sent = Properties(PacketTypes.PUBLISH)
    sent.UserProperty = ("site", "A")
    sent.ContentType = "application/json"
    sent.MessageExpiryInterval = 60
    topic = b"nengtan/X/M"

    def publish_body(properties: bytes) -> bytes:
        return struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + properties + b'{"v":1}'

    decoded = _packet.decode_publish(0x32, publish_body(sent.pack()), mqtt.MQTTv5)
    assert (decoded.mid, decoded.topic, decoded.payload) == (7, topic, b'{"v":1}')
    assert decoded.properties is not None
    # Properties' attributes are the property names, set dynamically.
    assert getattr(decoded.properties, "UserProperty") == [("site", "A")]  # noqa: B009
    assert getattr(decoded.properties, "ContentType") == "application/json"  # noqa: B009
    assert getattr(decoded.properties, "MessageExpiryInterval") == 60  # noqa: B009
    empty = _packet.decode_publish(0x32, publish_body(b"\x00"), mqtt.MQTTv5)
    assert empty.properties is not None
    assert empty.payload == b'{"v":1}' and empty.properties.isEmpty()
    assert str(empty.properties) == str(Properties(PacketTypes.PUBLISH))
