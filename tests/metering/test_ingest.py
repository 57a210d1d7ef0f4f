"""The ingest service: validation, idempotency, bulk write, quarantine (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.db import connection
from django.utils import timezone

from metering.ingest.quarantine import QUARANTINE_ITEMS_PER_BATCH, QUARANTINE_PAYLOAD_BYTES
from metering.ingest.services import (
    MAX_FUTURE_SKEW_S,
    ResolvedReading,
    quarantine_message,
    readings_ingest,
    readings_ingest_resolved,
)
from metering.models import EnergyType, Meter, QuarantinedMessage, Reading
from portal.access import enterprise_scope

pytestmark = pytest.mark.django_db

BASE = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def make_meter(enterprise, code: str, **extra) -> Meter:  # type: ignore[no-untyped-def]
    fields = {"name": f"表计 {code}", "level": 1, "energy_type": EnergyType.ELECTRICITY, "unit": "kWh"}
    fields.update(extra)
    return Meter.objects.create(enterprise=enterprise, code=code, **fields)


def item(meter: str, minutes: int, value: float | int | str | bool | None = 1.0) -> dict:
    return {"meter": meter, "ts": (BASE + dt.timedelta(minutes=minutes)).isoformat(), "value": value}


def test_postgresql_is_the_database_under_test() -> None:
    assert connection.vendor == "postgresql"


def test_valid_batch_is_stored_and_last_reading_at_advances(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    items = [item("E-001", minutes, 100.0 + minutes) for minutes in range(0, 60, 15)]
    result = readings_ingest(enterprise_id=world.tenant_a.pk, items=items, source="http")
    assert result.as_dict() == {"accepted": 4, "duplicates": 0, "rejected": []}
    stored = list(Reading.objects.filter(meter=meter).order_by("ts").values_list("ts", "value", "source"))
    assert [v for _, v, _ in stored] == [100.0, 115.0, 130.0, 145.0]
    assert stored[0][0] == BASE
    assert {s for _, _, s in stored} == {"http"}
    meter.refresh_from_db()
    assert meter.last_reading_at == BASE + dt.timedelta(minutes=45)
    # An older batch never moves last_reading_at backwards.
    readings_ingest(enterprise_id=world.tenant_a.pk, items=[item("E-001", -600, 1.0)], source="http")
    meter.refresh_from_db()
    assert meter.last_reading_at == BASE + dt.timedelta(minutes=45)


def test_same_batch_twice_is_all_duplicates_the_second_time(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    items = [item("E-001", minutes, float(minutes)) for minutes in range(10)]
    first = readings_ingest(enterprise_id=world.tenant_a.pk, items=items, source="http")
    second = readings_ingest(enterprise_id=world.tenant_a.pk, items=items, source="http")
    assert first.as_dict() == {"accepted": 10, "duplicates": 0, "rejected": []}
    assert second.as_dict() == {"accepted": 0, "duplicates": 10, "rejected": []}
    assert Reading.objects.count() == 10


def test_duplicates_within_one_batch_count_as_duplicates_including_other_offsets(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    same_instant_in_utc = (BASE.astimezone(dt.UTC)).isoformat().replace("+00:00", "Z")
    items = [
        item("E-001", 0, 1.0),
        item("E-001", 0, 2.0),
        {"meter": "E-001", "ts": same_instant_in_utc, "value": 3},
        item("E-001", 1, 4.0),
    ]
    result = readings_ingest(enterprise_id=world.tenant_a.pk, items=items, source="mqtt")
    assert result.as_dict() == {"accepted": 2, "duplicates": 2, "rejected": []}
    # The first of the duplicates wins.
    assert Reading.objects.get(ts=BASE).value == 1.0


def test_every_bad_input_gets_its_own_error_and_good_items_survive(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    make_meter(world.tenant_a, "E-OFF", is_active=False)
    make_meter(world.tenant_b, "B-001")
    future = (timezone.now() + dt.timedelta(seconds=MAX_FUTURE_SKEW_S + 120)).isoformat()
    items = [
        item("E-001", 0, 1.0),  # 0 good
        item("E-001", 1, "12.5"),  # 1 string
        item("E-001", 2, math.nan),  # 2 NaN
        item("E-001", 3, math.inf),  # 3 Infinity
        item("E-001", 4, True),  # 4 boolean
        {"meter": "E-001", "ts": "2025-03-01T08:05:00", "value": 1},  # 5 no offset
        item("NOPE", 6, 1.0),  # 6 unknown meter
        item("B-001", 7, 1.0),  # 7 another tenant's meter
        {"meter": "E-001", "ts": future, "value": 1},  # 8 far future
        {"meter": "E-001", "ts": "yesterday", "value": 1},  # 9 not ISO
        "not an object",  # 10
        {"ts": BASE.isoformat(), "value": 1},  # 11 no meter
        {"meter": "E-001", "value": 1},  # 12 no ts
        {"meter": "E-001", "ts": BASE.isoformat()},  # 13 no value
        item("E-OFF", 14, 1.0),  # 14 inactive meter
        {"meter": ["E-001"], "ts": BASE.isoformat(), "value": 1},  # 15 meter not a string
        {"meter": "E-001", "ts": 1740787200, "value": 1},  # 16 epoch number
        {"meter": "E-001", "ts": "1970-01-01T00:00:00Z", "value": 1},  # 17 implausibly old
        item("E-001", 18, 10**400),  # 18 integer too large for a float
        {**item("E-001", 19, 1.0), "quality": 7},  # 19 bad quality
        item("E-001", 20, 2),  # 20 good (int)
    ]
    result = readings_ingest(
        enterprise_id=world.tenant_a.pk, items=items, source="http", channel="/api/v1/readings/"
    )
    assert result.accepted == 2
    assert result.duplicates == 0
    assert result.as_dict()["rejected"] == [
        {"index": 1, "error": "value must be a number"},
        {"index": 2, "error": "value must be a finite number (NaN and Infinity are not readings)"},
        {"index": 3, "error": "value must be a finite number (NaN and Infinity are not readings)"},
        {"index": 4, "error": "value must be a number, not a boolean"},
        {"index": 5, "error": "ts must include a UTC offset (e.g. +08:00 or Z)"},
        {"index": 6, "error": "unknown meter"},
        {"index": 7, "error": "unknown meter"},
        {"index": 8, "error": f"ts is more than {MAX_FUTURE_SKEW_S} s in the future"},
        {"index": 9, "error": "ts is not a valid ISO 8601 timestamp"},
        {"index": 10, "error": "reading must be an object with meter, ts and value"},
        {"index": 11, "error": "meter is missing"},
        {"index": 12, "error": "ts is missing"},
        {"index": 13, "error": "value is missing"},
        {"index": 14, "error": "unknown meter"},
        {"index": 15, "error": "meter must be a string (the meter code)"},
        {"index": 16, "error": "ts must be an ISO 8601 timestamp string with a UTC offset"},
        {"index": 17, "error": "ts is before 1990-01-01"},
        {"index": 18, "error": "value must be a finite number (NaN and Infinity are not readings)"},
        {"index": 19, "error": "quality must be one of 0 (ok), 1 (estimated), 2 (suspect), 3 (missing)"},
    ]
    assert sorted(Reading.objects.values_list("value", flat=True)) == [1.0, 2.0]
    # Tenant B's meter got nothing through tenant A's batch.
    assert not Reading.objects.filter(meter__code="B-001").exists()
    # Every rejected item is in tenant A's quarantine, with its index, reason and the item itself.
    quarantined = QuarantinedMessage.objects.filter(enterprise=world.tenant_a).order_by("item_index")
    assert [q.item_index for q in quarantined] == [r.index for r in result.rejected]
    unknown = quarantined.get(item_index=7)
    assert unknown.reason == "unknown meter"
    assert b'"B-001"' in bytes(unknown.payload)
    assert unknown.channel == "/api/v1/readings/"
    assert unknown.payload_size == len(bytes(unknown.payload)) and len(unknown.payload_sha256) == 64


def test_back_dated_reading_two_years_ago_is_accepted(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    old = timezone.now() - dt.timedelta(days=730)
    result = readings_ingest(
        enterprise_id=world.tenant_a.pk,
        items=[{"meter": "E-001", "ts": old.isoformat(), "value": 5}],
        source="http",
    )
    assert result.accepted == 1
    assert Reading.objects.get(meter=meter).ts == old


def test_new_meter_is_known_at_once_despite_the_code_cache(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    readings_ingest(enterprise_id=world.tenant_a.pk, items=[item("E-001", 0)], source="http")
    make_meter(world.tenant_a, "E-002")
    result = readings_ingest(enterprise_id=world.tenant_a.pk, items=[item("E-002", 0)], source="http")
    assert result.accepted == 1


def test_deactivated_meter_is_refused_at_once_in_this_process(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    readings_ingest(enterprise_id=world.tenant_a.pk, items=[item("E-001", 0)], source="http")
    meter.is_active = False
    meter.save()
    result = readings_ingest(enterprise_id=world.tenant_a.pk, items=[item("E-001", 1)], source="http")
    assert result.as_dict() == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [{"index": 0, "error": "unknown meter"}],
    }


def test_many_rejections_are_kept_in_bounded_quarantine_rows(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    bad = [item("E-001", minutes, "x") for minutes in range(QUARANTINE_ITEMS_PER_BATCH + 5)]
    result = readings_ingest(
        enterprise_id=world.tenant_a.pk, items=[*bad, item("E-001", 99999, 1.0)], source="mqtt"
    )
    assert result.accepted == 1 and len(result.rejected) == QUARANTINE_ITEMS_PER_BATCH + 5
    rows = QuarantinedMessage.objects.filter(enterprise=world.tenant_a)
    assert rows.count() == QUARANTINE_ITEMS_PER_BATCH + 1
    rest = rows.get(item_index__isnull=True)
    assert rest.reason.startswith("5 more rejected items")
    assert bytes(rest.payload).count(b'"index"') == 5


def test_resolved_rows_are_idempotent_and_validated(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    rows = [
        ResolvedReading(meter.pk, BASE, 10.0),
        ResolvedReading(meter.pk, BASE + dt.timedelta(minutes=1), math.nan),
        ResolvedReading(meter.pk, BASE + dt.timedelta(minutes=2), 12.0, 1),
        ResolvedReading(987654321, BASE, 1.0),
        ResolvedReading(meter.pk, BASE, 10.0),
    ]
    result = readings_ingest_resolved(rows=rows, source="modbus")
    assert result.as_dict() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": [
            {"index": 1, "error": "value must be a finite number (NaN and Infinity are not readings)"},
            {"index": 3, "error": "unknown meter"},
        ],
    }
    assert Reading.objects.get(meter=meter, ts=BASE + dt.timedelta(minutes=2)).quality == 1
    assert readings_ingest_resolved(rows=rows[:1], source="modbus").duplicates == 1
    assert QuarantinedMessage.objects.filter(enterprise=world.tenant_a, item_index=1).exists()
    assert QuarantinedMessage.objects.filter(enterprise__isnull=True, item_index=3).exists()


def test_quarantine_message_keeps_a_bounded_prefix_with_size_and_digest(world) -> None:  # type: ignore[no-untyped-def]
    payload = b"\xff" * (QUARANTINE_PAYLOAD_BYTES * 3)
    quarantine_message(
        enterprise_id=world.tenant_a.pk,
        source="mqtt",
        channel="nengtan/x",
        payload=payload,
        reason="invalid UTF-8",
    )
    row = QuarantinedMessage.objects.get()
    assert len(bytes(row.payload)) == QUARANTINE_PAYLOAD_BYTES
    assert row.payload_size == len(payload)
    import hashlib

    assert row.payload_sha256 == hashlib.sha256(payload).hexdigest()
    with enterprise_scope(world.tenant_b.pk):
        assert not QuarantinedMessage.objects.exists()
