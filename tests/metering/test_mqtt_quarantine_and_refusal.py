"""MQTT quarantine through the one ingest service, and the consumer refusing who may not send.

- A batch message's bad readings are quarantined as HTTP ingest's are: each with its own bytes and
  its index in the message, at most QUARANTINE_ITEMS_PER_BATCH rows plus one overflow row, in the
  transaction of the message's readings (a failed write that is spooled and replayed writes them
  once). A message that cannot be parsed at all is kept whole, once.
- A message from an enterprise that may not send (Enterprise.may_send_readings) is quarantined
  with that reason and nothing of it is stored, also while the broker still lets its gateway in.

Real Mosquitto and PostgreSQL; the consumer runs in the test's thread (no ingest workers).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from django.conf import settings as django_settings
from django.db import connection

from metering.collectors.mqtt import consumer as consumer_module
from metering.collectors.mqtt.consumer import ConsumerConfig, MqttConsumer
from metering.ingest.quarantine import QUARANTINE_ITEMS_PER_BATCH
from metering.models import QuarantinedMessage, Reading
from portal import services
from portal.access import reach_scope
from portal.models import Enterprise
from tests.metering.modbus_support import make_meter
from tests.metering.mosquitto_private import private_mosquitto, publish_all
from tests.scoping import unscoped

pytestmark = pytest.mark.services
RUN_TIMEOUT_S = 30.0
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
# A rejected reading of these tests re-encodes to a few dozen bytes; a row holding the whole
# message (what the consumer used to write per bad reading) is tens of kilobytes.
SMALL_ITEM_BYTES = 200


@pytest.fixture
def broker(tmp_path):  # type: ignore[no-untyped-def]
    with private_mosquitto(tmp_path, allow_anonymous=True) as instance:
        yield instance


def new_consumer(broker, **overrides) -> MqttConsumer:  # type: ignore[no-untyped-def]
    config = {"batch_window_ms": 50, "ingest_workers": 0, **overrides}
    consumer = MqttConsumer(ConsumerConfig(url=broker.url(), group=f"g-{uuid.uuid4().hex[:8]}",
                                           client_id=f"c-{uuid.uuid4().hex[:8]}", **config))
    consumer.start()
    return consumer


def step_until(consumer: MqttConsumer, done, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        consumer.step()


def quarantined(enterprise) -> list[QuarantinedMessage]:  # type: ignore[no-untyped-def]
    with unscoped():  # what the consumer quarantined, read across tenants
        return list(QuarantinedMessage.objects.filter(enterprise=enterprise).order_by("id"))


def reading_at(code: str, minute: int, value: object) -> dict:
    return {"meter": code, "ts": (T0 + dt.timedelta(minutes=minute)).isoformat(), "value": value}


@pytest.mark.django_db
def test_a_batch_with_many_bad_readings_is_quarantined_item_by_item_under_the_cap(world, broker):  # type: ignore[no-untyped-def]
    a = world.tenant_a
    meter = make_meter(a, "Q-M1")
    readings: list[object] = []
    expected_bad: list[tuple[int, str]] = []
    for index in range(QUARANTINE_ITEMS_PER_BATCH + 300):
        if index % 13 == 0:
            readings.append(reading_at("Q-M1", index, float(index)))
        elif index % 2:  # not an object: refused by the MQTT contract
            readings.append(index)
            expected_bad.append((index, f"第 {index} 条读数必须是 JSON 对象"))
        else:  # an object ingest refuses
            readings.append(reading_at("Q-M1", index, "many"))
            expected_bad.append((index, "value must be a number"))
    message = json.dumps({"readings": readings}).encode()
    topic = f"nengtan/{a.credit_code}/batch"
    unparseable = b'{"readings": [1, 2'

    consumer = new_consumer(broker)
    publish_all(broker.url(), "p-many-bad", [(topic, message), (topic, unparseable)])
    step_until(consumer, lambda: consumer.stats.messages >= 2, "both messages")
    consumer.run(until=lambda: True)

    with unscoped():  # what the consumer stored
        stored = sorted(Reading.objects.filter(meter=meter).values_list("value", flat=True))
    assert stored == [float(i) for i in range(0, QUARANTINE_ITEMS_PER_BATCH + 300, 13)]

    rows = quarantined(a)
    whole = [row for row in rows if bytes(row.payload) == unparseable]
    assert len(whole) == 1 and "不是有效的 JSON" in whole[0].reason and whole[0].item_index is None
    batch_rows = [row for row in rows if row.channel == topic and row is not whole[0]]
    assert len(batch_rows) == QUARANTINE_ITEMS_PER_BATCH + 1
    kept = [row for row in batch_rows if row.item_index is not None]
    assert [(row.item_index, row.reason) for row in sorted(kept, key=lambda r: r.item_index)] == \
        expected_bad[:QUARANTINE_ITEMS_PER_BATCH]
    for row in kept:  # each its own reading's bytes, not the message
        assert len(bytes(row.payload)) < SMALL_ITEM_BYTES
        assert json.loads(bytes(row.payload)) == readings[row.item_index]
    overflow = next(row for row in batch_rows if row.item_index is None)
    rest = expected_bad[QUARANTINE_ITEMS_PER_BATCH:]
    assert overflow.reason == (
        f"{len(rest)} more rejected items of the same batch (index {rest[0][0]} onwards)")
    assert [(entry["index"], entry["error"]) for entry in json.loads(bytes(overflow.payload))] == rest
    assert sum(len(bytes(row.payload)) for row in batch_rows) < 2 * len(message)
    assert consumer.stats.rejected == len(expected_bad)


QUARANTINE_TABLE = QuarantinedMessage._meta.db_table
FAILING_INDEX = 7


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_write_failing_part_way_through_the_quarantine_writes_each_bad_reading_once(  # type: ignore[no-untyped-def]
    world, broker, settings, tmp_path
):
    """The database refuses the quarantine row of one bad reading (a trigger, as a real failure
    would part-way through); the message is kept and retried, and each bad reading ends up in
    quarantine exactly once, next to the good readings."""
    settings.SPOOL_DIR = tmp_path / "spool"
    assert django_settings.DATABASES["default"]["NAME"].startswith("test_")
    a = world.tenant_a
    meter = make_meter(a, "PART-M1")
    readings: list[object] = [reading_at("PART-M1", i, float(i)) if i % 2 == 0 else i for i in range(40)]
    bad_indexes = list(range(1, 40, 2))
    topic = f"nengtan/{a.credit_code}/batch"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_one_quarantine_row() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.item_index = {FAILING_INDEX} THEN RAISE EXCEPTION 'refused for the test'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(f"CREATE TRIGGER test_refuse_one_quarantine_row BEFORE INSERT ON {QUARANTINE_TABLE} "
                       "FOR EACH ROW EXECUTE FUNCTION test_refuse_one_quarantine_row()")
    try:
        consumer = new_consumer(broker, spool_drain_interval_s=0)
        publish_all(broker.url(), "p-part-way", [(topic, json.dumps({"readings": readings}).encode())])
        step_until(consumer, lambda: consumer.stats.messages >= 1, "the message")
        with unscoped():
            assert not Reading.objects.filter(meter=meter).exists()  # that write failed
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS test_refuse_one_quarantine_row ON {QUARANTINE_TABLE}")
            cursor.execute("DROP FUNCTION IF EXISTS test_refuse_one_quarantine_row()")

    def everything_stored() -> bool:
        with unscoped():
            return Reading.objects.filter(meter=meter).count() == 20 and \
                QuarantinedMessage.objects.filter(enterprise=a, item_index=bad_indexes[-1]).exists()

    step_until(consumer, everything_stored, "the retried message")
    stop_at = time.monotonic() + 3.0  # past the held-message retry interval: nothing more arrives
    consumer.run(until=lambda: time.monotonic() > stop_at)
    with unscoped():
        assert Reading.objects.filter(meter=meter).count() == 20
    assert sorted(row.item_index for row in quarantined(a)) == bad_indexes


@pytest.mark.django_db
def test_a_suspended_enterprise_is_quarantined_by_the_consumer_while_others_are_stored(  # type: ignore[no-untyped-def]
    world, broker, monkeypatch
):
    """The broker lets a suspended enterprise's gateway in until its next refresh, and its session
    may hold messages queued before: the consumer itself refuses them, within its status cache."""
    monkeypatch.setattr(consumer_module, "SENDING_STATUS_CACHE_TTL_S", 0.2, raising=False)
    a, b = world.tenant_a, world.tenant_b
    a_meter, b_meter = make_meter(a, "S-A1"), make_meter(b, "S-B1")
    a_topic, b_topic = f"nengtan/{a.credit_code}/S-A1", f"nengtan/{b.credit_code}/S-B1"

    def single(minute: int) -> bytes:
        return json.dumps({"ts": (T0 + dt.timedelta(minutes=minute)).isoformat(), "value": minute}).encode()

    consumer = new_consumer(broker)
    publish_all(broker.url(), "p-approved", [(a_topic, single(0)), (b_topic, single(0))])
    step_until(consumer, lambda: consumer.stats.messages >= 2, "the approved messages")

    officer = world.user("henan_officer")
    with reach_scope(officer):
        services.enterprise_suspend(actor=officer, enterprise=a, reason="未按期整改")
    time.sleep(0.5)  # past the (shortened) status cache
    a_batch = json.dumps({"readings": [reading_at("S-A1", 10, 10.0)]}).encode()
    publish_all(broker.url(), "p-suspended", [
        (a_topic, single(1)), (f"nengtan/{a.credit_code}/batch", a_batch), (b_topic, single(1)),
    ])
    step_until(consumer, lambda: consumer.stats.messages >= 5, "the messages after suspension")
    consumer.run(until=lambda: True)

    with unscoped():  # what the consumer stored
        a.refresh_from_db()
        assert a.status == Enterprise.Status.SUSPENDED
        assert list(Reading.objects.filter(meter=a_meter).values_list("value", flat=True)) == [0.0]
        assert sorted(Reading.objects.filter(meter=b_meter).values_list("value", flat=True)) == [0.0, 1.0]
    refused = quarantined(a)
    assert sorted((row.channel, bytes(row.payload)) for row in refused) == sorted(
        [(a_topic, single(1)), (f"nengtan/{a.credit_code}/batch", a_batch)])
    for row in refused:
        assert row.item_index is None
        assert row.reason == f"统一社会信用代码 {a.credit_code!r} 的企业未获批准或已停用，不能上传读数"
    assert quarantined(b) == []
    assert consumer.stats.acked == 5  # kept in quarantine, so settled: not held or spooled
    assert consumer.stats.spooled_batches == 0
