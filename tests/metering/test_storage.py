"""Monthly partitions of the readings table on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from metering.ingest.services import readings_ingest
from metering.models import Reading
from metering.storage.partitions import (
    DEFAULT_PARTITION,
    ensure_partitions,
    existing_partitions,
    partition_name,
)
from metering.tasks import ensure_reading_partitions
from tests.metering.test_ingest import make_meter

pytestmark = pytest.mark.django_db


def partition_of(meter_id: int, ts: dt.datetime) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM metering_reading WHERE meter_id = %s AND ts = %s",
            [meter_id, ts],
        )
        return cursor.fetchone()[0]


def test_migrated_database_has_partitions_around_this_month() -> None:
    today = timezone.localdate()
    names = existing_partitions()
    assert partition_name(today.replace(day=1)) in names
    assert len(names) >= 4  # this month and the three ahead, created by post_migrate
    assert ensure_partitions() == []  # nothing left to do


def test_back_dated_reading_lands_in_default_and_ensure_partitions_moves_it(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    old = (timezone.now() - dt.timedelta(days=730)).replace(microsecond=0)
    neighbour = old + dt.timedelta(days=1) if old.day < 27 else old - dt.timedelta(days=1)
    readings_ingest(
        enterprise_id=world.tenant_a.pk,
        source="http",
        items=[
            {"meter": "E-001", "ts": ts.isoformat(), "value": v} for ts, v in ((old, 1.5), (neighbour, 2.5))
        ],
    )
    assert partition_of(meter.pk, old) == DEFAULT_PARTITION

    created = ensure_partitions()
    local = timezone.localtime(old).date().replace(day=1)
    assert partition_name(local) in created
    assert partition_of(meter.pk, old) == partition_name(local)
    assert Reading.objects.filter(meter=meter).count() == 2
    assert sorted(Reading.objects.filter(meter=meter).values_list("value", flat=True)) == [1.5, 2.5]
    # The moved rows are still unique on (meter, ts): a resend is a duplicate, not a second row.
    again = readings_ingest(
        enterprise_id=world.tenant_a.pk,
        source="http",
        items=[{"meter": "E-001", "ts": old.isoformat(), "value": 1.5}],
    )
    assert again.duplicates == 1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")  # noqa: S608
        assert cursor.fetchone()[0] == 0


def test_month_boundaries_follow_asia_shanghai(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    # 2019-12-31T16:30Z is 2020-01-01 00:30 in Shanghai: January's partition, not December's.
    ts = dt.datetime(2019, 12, 31, 16, 30, tzinfo=dt.UTC)
    readings_ingest(
        enterprise_id=world.tenant_a.pk,
        source="http",
        items=[{"meter": "E-001", "ts": ts.isoformat(), "value": 1}],
    )
    assert ensure_partitions(months_ahead=0, months_back=0) == ["metering_reading_y2020m01"]
    assert partition_of(meter.pk, ts) == "metering_reading_y2020m01"


def test_months_ahead_and_back_and_the_daily_task() -> None:
    created = ensure_partitions(months_ahead=14, months_back=2, today=dt.date(2031, 5, 20))
    assert created[0] == "metering_reading_y2031m03" and created[-1] == "metering_reading_y2032m07"
    assert len(created) == 17
    assert ensure_reading_partitions.apply().get() == []
