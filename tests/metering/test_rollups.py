"""Stored rollups (metering/monitoring/rollups.py) and the readings API's `interval=`, on
PostgreSQL, with hand-computed figures."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import uuid

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metering.ingest.services import readings_ingest
from metering.monitoring.models import Rollup, RollupDirtyRange
from metering.monitoring.rollups import (
    rollup_range_release,
    rollup_ranges_claim,
    rollups_recompute,
    rollups_recompute_dirty,
)
from metering.monitoring.tasks import recompute_rollups
from metering.registry.tokens import gateway_token_create
from portal.access import enterprise_scope, reach_scope
from tests.metering.test_ingest import make_meter
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime(2025, 3, 10, tzinfo=CST)  # a Monday, 00:00 in Shanghai


def ingest(enterprise_id: int, code: str, points: list[tuple[dt.datetime, float]]) -> None:
    with enterprise_scope(enterprise_id):
        result = readings_ingest(
            enterprise_id=enterprise_id,
            source="http",
            items=[{"meter": code, "ts": ts.isoformat(), "value": value} for ts, value in points],
        )
    assert result.accepted == len(points), result.as_dict()


def bucket(meter_id: int, interval: str, ts: dt.datetime) -> Rollup:
    with unscoped():  # inspecting what the task stored
        return Rollup.objects.get(meter_id=meter_id, interval=interval, ts=ts)


def user_client(world, key: str) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=world.user(key))[0].key}")
    return client


def test_a_meter_silent_for_three_quarter_hours_receives_93_of_96_slots(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    # Every 5 minutes (three readings per slot: still one received slot each), silent from 10:00
    # to 10:45 (slots 40, 41, 42), plus the last reading of the day before.
    silent = {40, 41, 42}
    points = [(DAY - dt.timedelta(minutes=15), 500.0)]
    value = 500.0
    for minute in range(0, 24 * 60, 5):
        if minute // 15 in silent:
            continue
        value += 0.5
        points.append((DAY + dt.timedelta(minutes=minute), value))
    ingest(world.tenant_a.pk, "E-001", points)

    assert recompute_rollups() == 1

    day = bucket(meter.pk, "day", DAY)
    assert (day.expected, day.received) == (96, 93)
    assert day.value == value - 500.0 == (288 - 9) * 0.5
    hour = bucket(meter.pk, "hour", DAY + dt.timedelta(hours=10))
    assert (hour.expected, hour.received) == (4, 1)  # only 10:45–11:00 holds readings
    # The interval from 09:55 to 10:45 counts whole in the 10:45 quarter (the later reading's).
    first_after = bucket(meter.pk, "15min", DAY + dt.timedelta(hours=10, minutes=45))
    assert (first_after.value, first_after.expected, first_after.received) == (1.5, 1, 1)
    with unscoped():
        assert Rollup.objects.filter(meter=meter, interval="15min", ts__gte=DAY,
                                     ts__lt=DAY + dt.timedelta(days=1)).count() == 93
        assert not RollupDirtyRange.objects.filter(meter=meter).exists()  # released once recomputed
    month = bucket(meter.pk, "month", DAY.replace(day=1))
    # Only the 10th holds readings (and 23:45 of the 9th, one slot of its own day).
    assert (month.expected, month.received) == (96 * 31, 94)
    assert month.value == day.value


def test_a_register_reset_mid_month_still_sums_in_the_month_bucket(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-RESET")
    march = dt.datetime(2025, 3, 1, tzinfo=CST)
    hours = 31 * 24
    reset_at = 14 * 24 + 12  # 2025-03-15 12:00: the meter was replaced and reads 1.0
    points = [(march - dt.timedelta(hours=1), 1000.0)]
    for index in range(hours):
        if index < reset_at:
            value = 1000.0 + 2.0 * (index + 1)
        else:
            value = 1.0 + 2.0 * (index - reset_at)
        points.append((march + dt.timedelta(hours=index), value))
    ingest(world.tenant_a.pk, "E-RESET", points)

    with unscoped():  # what the task does, across tenants
        run = rollups_recompute_dirty()
    assert (run.claimed, run.recomputed, run.pending) == (1, 1, 0)

    month = bucket(meter.pk, "month", march)
    # 744 intervals end in March: 743 of +2 kWh, and the reset, counted as the 1.0 read since it.
    assert month.value == 743 * 2.0 + 1.0
    assert (month.expected, month.received) == (2976, 744)
    assert month.quality == 2  # suspect: the reset
    reset_day = bucket(meter.pk, "day", dt.datetime(2025, 3, 15, tzinfo=CST))
    assert reset_day.value == 23 * 2.0 + 1.0 and reset_day.quality == 2
    assert bucket(meter.pk, "day", dt.datetime(2025, 3, 16, tzinfo=CST)).quality == 0
    with unscoped():
        days = Rollup.objects.filter(meter=meter, interval="day", ts__gte=march,
                                     ts__lt=dt.datetime(2025, 4, 1, tzinfo=CST))
        assert days.count() == 31
        assert sum(days.values_list("value", flat=True)) == month.value


def test_day_buckets_of_the_readings_api_sum_exactly_to_the_raw_consumption_of_the_day(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-API")
    # Decimal steps that binary floats cannot hold exactly, over three days from 23:45 the day before.
    start = DAY - dt.timedelta(minutes=15)
    points = [(start + dt.timedelta(minutes=15 * i), round(1234.1 + 0.37 * i + 0.01 * (i % 7), 2))
              for i in range(3 * 96 + 1)]
    ingest(world.tenant_a.pk, "E-API", points)
    recompute_rollups()

    client = user_client(world, "a_staff")
    url = f"/api/v1/meters/{meter.pk}/readings/"
    window = {"start": DAY.isoformat(), "end": (DAY + dt.timedelta(days=3)).isoformat()}
    days = client.get(url, {**window, "interval": "day"})
    assert days.status_code == 200, days.content
    buckets = days.json()["results"]
    assert [b["ts"] for b in buckets] == [
        "2025-03-10T00:00:00+08:00", "2025-03-11T00:00:00+08:00", "2025-03-12T00:00:00+08:00"
    ]
    raw = client.get(url, {"start": start.isoformat(), "end": window["end"], "interval": "raw",
                           "page_size": 1000}).json()["results"]
    assert len(raw) == 3 * 96 + 1
    for number, day in enumerate(buckets):
        # The day's raw consumption: its last reading less the last reading before it.
        before, last = raw[number * 96]["value"], raw[(number + 1) * 96]["value"]
        assert day["value"] == last - before
        assert {k: day[k] for k in ("expected", "received", "quality")} == {
            "expected": 96, "received": 96, "quality": 0}
    # The quarters page by cursor and add up to their day too, the same way.
    one_day = {"start": DAY.isoformat(), "end": (DAY + dt.timedelta(days=1)).isoformat()}
    quarters: list[dict] = []
    page = client.get(url, {**one_day, "interval": "15min", "page_size": 50}).json()
    while True:
        quarters += page["results"]
        if page["next"] is None:
            break
        page = client.get(page["next"]).json()
    assert len(quarters) == 96
    assert quarters[0]["ts"] == "2025-03-10T00:00:00+08:00"
    assert sorted(quarters[0]) == ["expected", "quality", "received", "ts", "value"]
    assert math.fsum(q["value"] for q in quarters) == buckets[0]["value"]


def test_readings_api_interval_is_validated_and_out_of_reach_is_404(world) -> None:  # type: ignore[no-untyped-def]
    own = make_meter(world.tenant_a, "E-001")
    other = make_meter(world.tenant_b, "B-001")
    client = user_client(world, "a_admin")
    response = client.get(f"/api/v1/meters/{own.pk}/readings/", {"interval": "week"})
    assert response.status_code == 400
    assert "interval" in response.json()["error"]["fields"]
    assert client.get(f"/api/v1/meters/{other.pk}/readings/", {"interval": "day"}).status_code == 404
    assert client.get(f"/api/v1/meters/{own.pk}/readings/", {"interval": "month"}).json()["results"] == []


def test_schema_documents_the_interval_parameter_and_bucket_fields(db) -> None:  # type: ignore[no-untyped-def]
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/meters/{meter_id}/readings/"]["get"]
    interval = next(p for p in operation["parameters"] if p["name"] == "interval")
    assert sorted(interval["schema"]["enum"]) == sorted(["raw", "15min", "hour", "day", "month"])
    bucket_fields = schema["components"]["schemas"]["RollupBucket"]["properties"]
    assert sorted(bucket_fields) == ["expected", "quality", "received", "ts", "value"]


def test_a_back_dated_reading_posted_over_http_corrects_its_buckets(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-LATE")
    admin = world.user("a_admin")
    with reach_scope(admin):
        _token, plain = gateway_token_create(actor=admin, enterprise=world.tenant_a, name="网关1")
    gateway = APIClient()
    gateway.credentials(HTTP_AUTHORIZATION=f"Gateway {plain}")

    def post(points: list[tuple[dt.datetime, float]]) -> None:
        body = {"readings": [{"meter": "E-LATE", "ts": ts.isoformat(), "value": v} for ts, v in points]}
        response = gateway.post("/api/v1/readings/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content
        assert response.json()["accepted"] == len(points)

    late = DAY + dt.timedelta(hours=10, minutes=15)
    on_time = [(DAY + dt.timedelta(minutes=15 * i), 100.0 + i) for i in range(96) if i != 41]
    post(on_time)
    recompute_rollups()
    day = bucket(meter.pk, "day", DAY)
    quarter_1030 = bucket(meter.pk, "15min", late + dt.timedelta(minutes=15))
    assert (day.received, day.value) == (95, 95.0)  # 00:00 starts the day: 95 intervals of 1 kWh
    assert quarter_1030.value == 2.0  # 10:00 → 10:30, counted in the later reading's quarter
    with unscoped():
        assert not Rollup.objects.filter(meter=meter, interval="15min", ts=late).exists()

    post([(late, 100.0 + 41)])
    with unscoped():  # marked at ingest, in the batch's transaction
        dirty = RollupDirtyRange.objects.get(meter=meter)
    assert dirty.earliest == dirty.latest == late
    assert bucket(meter.pk, "day", DAY).received == 95  # not yet recomputed

    assert recompute_rollups() == 1
    day = bucket(meter.pk, "day", DAY)
    assert (day.received, day.expected, day.value) == (96, 96, 95.0)
    assert bucket(meter.pk, "15min", late).value == 1.0
    assert bucket(meter.pk, "15min", late + dt.timedelta(minutes=15)).value == 1.0
    assert bucket(meter.pk, "hour", DAY + dt.timedelta(hours=10)).received == 4
    assert bucket(meter.pk, "month", DAY.replace(day=1)).received == 96


def test_each_batch_widens_one_dirty_range_per_meter(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    hour = dt.timedelta(hours=1)
    ingest(world.tenant_a.pk, "E-001", [(DAY + 5 * hour, 1.0), (DAY + 6 * hour, 2.0)])
    ingest(world.tenant_a.pk, "E-001", [(DAY + dt.timedelta(hours=2), 0.5)])
    with unscoped():
        dirty = RollupDirtyRange.objects.get(meter=meter)
    assert (dirty.earliest, dirty.latest, dirty.generation) == (
        DAY + dt.timedelta(hours=2), DAY + dt.timedelta(hours=6), 2)
    # A batch of nothing but stored readings changes nothing and marks nothing.
    with unscoped():
        RollupDirtyRange.objects.all().delete()
    with enterprise_scope(world.tenant_a.pk):
        again = readings_ingest(enterprise_id=world.tenant_a.pk, source="http",
                                items=[{"meter": "E-001", "ts": (DAY + dt.timedelta(hours=2)).isoformat(),
                                        "value": 0.5}])
    assert again.duplicates == 1
    with unscoped():
        assert not RollupDirtyRange.objects.exists()


def test_a_range_widened_during_its_recompute_stays_dirty(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    ingest(world.tenant_a.pk, "E-001", [(DAY, 1.0), (DAY + dt.timedelta(hours=1), 2.0)])
    token = uuid.uuid4()
    with unscoped():
        [claimed] = rollup_ranges_claim(token=token)
        assert rollup_ranges_claim(token=uuid.uuid4()) == []  # held: another worker gets nothing
    ingest(world.tenant_a.pk, "E-001", [(DAY + dt.timedelta(hours=2), 3.0)])  # arrives meanwhile
    with unscoped():
        assert rollup_range_release(claimed=claimed, token=token, done=True) is False
        dirty = RollupDirtyRange.objects.get(meter=meter)
        assert dirty.claim_token is None and dirty.latest == DAY + dt.timedelta(hours=2)
    assert recompute_rollups() == 1
    assert bucket(meter.pk, "day", DAY).value == 2.0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_recomputes_do_not_double_count(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    quarter = dt.timedelta(minutes=15)
    ingest(world.tenant_a.pk, "E-001", [(DAY + i * quarter, 10.0 + 0.25 * i) for i in range(97)])
    with unscoped():
        Rollup.objects.filter(meter=meter).delete()
    barrier = threading.Barrier(4)
    runs: list[object] = []
    errors: list[BaseException] = []

    def work(direct: bool) -> None:
        try:
            with unscoped():
                barrier.wait(timeout=10)
                if direct:  # recompute the same range without a claim: the per-meter lock serializes
                    latest = DAY + dt.timedelta(hours=23)
                    runs.append(rollups_recompute(meter=meter, earliest=DAY, latest=latest))
                else:
                    runs.append(rollups_recompute_dirty())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(direct,)) for direct in (False, False, True, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    dirty_runs = [run for run in runs if not isinstance(run, int)]
    assert sorted(run.claimed for run in dirty_runs) == [0, 1]  # type: ignore[attr-defined]
    day = bucket(meter.pk, "day", DAY)
    assert day.value == 0.25 * 95  # 00:00 opens the day; the 96th step ends at 00:00 the next day
    assert day.received == 96
    with unscoped():
        assert Rollup.objects.filter(meter=meter, interval="day").count() == 2
        assert Rollup.objects.filter(meter=meter, interval="15min").count() == 97
    assert bucket(meter.pk, "month", DAY.replace(day=1)).value == 0.25 * 96


def test_a_committed_batch_queues_one_recompute_and_the_run_is_bounded(  # type: ignore[no-untyped-def]
    world, django_capture_on_commit_callbacks
) -> None:
    from django.core.cache import cache

    from metering.monitoring.receivers import ROLLUP_QUEUED_KEY

    cache.delete(ROLLUP_QUEUED_KEY)
    make_meter(world.tenant_a, "E-001")
    make_meter(world.tenant_a, "E-002")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest(world.tenant_a.pk, "E-001", [(DAY, 1.0), (DAY + dt.timedelta(hours=1), 2.0)])
        ingest(world.tenant_a.pk, "E-002", [(DAY, 5.0), (DAY + dt.timedelta(hours=1), 7.0)])
    assert len(callbacks) == 2  # one per batch, after its commit
    assert cache.get(ROLLUP_QUEUED_KEY) == 1  # queued once; the second batch found it queued
    with unscoped():
        first = rollups_recompute_dirty(limit=1)
        assert (first.claimed, first.recomputed) == (1, 1)
        assert RollupDirtyRange.objects.count() == 1  # the other waits for the next run
    assert recompute_rollups() == 1
    assert cache.get(ROLLUP_QUEUED_KEY) is None
    with unscoped():
        assert not RollupDirtyRange.objects.exists()
        assert sorted(Rollup.objects.filter(interval="day").values_list("value", flat=True)) == [1.0, 2.0]


def test_beat_runs_the_recompute_as_a_net(settings) -> None:  # type: ignore[no-untyped-def]
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["monitoring-recompute-rollups"]
    assert entry["task"] == "monitoring.tasks.recompute_rollups" in app.tasks
    assert entry["schedule"] == settings.ROLLUP_RECOMPUTE_INTERVAL_S


def test_buckets_keep_their_runs_of_empty_slots_and_months_join_them_across_days(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-GAP")
    # Quarter-hourly for two days, silent from 23:15 on day one to 00:45 on day two (slots 93–95
    # of day one and 0–2 of day two: a run of six across midnight), and again 12:00–12:30 on day two.
    start = DAY + dt.timedelta(days=1)  # 2025-03-11: days 1–10 of the month stay empty
    silent = {*range(93, 96), *range(96, 99), *range(96 + 48, 96 + 50)}
    points = [(start + dt.timedelta(minutes=15 * n), 100.0 + n) for n in range(2 * 96) if n not in silent]
    ingest(world.tenant_a.pk, "E-GAP", points)
    recompute_rollups()

    first, second = bucket(meter.pk, "day", start), bucket(meter.pk, "day", start + dt.timedelta(days=1))
    assert (first.empty_leading, first.empty_trailing, first.empty_longest) == (0, 3, 3)
    assert (second.empty_leading, second.empty_trailing, second.empty_longest) == (3, 0, 3)
    hour = bucket(meter.pk, "hour", start + dt.timedelta(days=1, hours=12))
    assert (hour.received, hour.empty_leading, hour.empty_trailing, hour.empty_longest) == (2, 2, 0, 2)
    month = bucket(meter.pk, "month", dt.datetime(2025, 3, 1, tzinfo=CST))
    # Ten empty days before, nineteen after (31 in March): the longest run is the tail of the month.
    assert month.empty_leading == 10 * 96
    assert month.empty_trailing == 19 * 96
    assert month.empty_longest == 19 * 96
    assert month.received == 2 * 96 - len(silent)


def test_combining_gap_segments_joins_runs_through_empty_segments() -> None:
    from metering.monitoring.rollups import GapSegment, combine_gaps

    full = GapSegment(96, 96, 0, 0, 0)
    tail = GapSegment(96, 90, 0, 6, 6)
    head = GapSegment(96, 92, 4, 0, 4)
    assert combine_gaps([full, tail, head, full]) == GapSegment(384, 374, 0, 0, 10)
    # A wholly empty day between joins the runs on both sides into one.
    assert combine_gaps([tail, GapSegment.empty(96), head]).empty_longest == 6 + 96 + 4
    assert combine_gaps([GapSegment.empty(4), GapSegment.empty(4)]) == GapSegment(8, 0, 8, 8, 8)
    inner = GapSegment(96, 80, 0, 0, 16)
    assert combine_gaps([tail, inner]).empty_longest == 16
