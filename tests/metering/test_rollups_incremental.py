"""Rollups kept up batch by batch (only the touched quarters rebuilt, hours, days and months derived
from the buckets below) give exactly the rows a rebuild of the whole history gives, and the rows
the readings give day by day (an oracle written out here from metering/storage alone)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict

import pytest

from metering.models import Meter
from metering.monitoring.models import Rollup, RollupDirtyRange
from metering.monitoring.rollups import (
    BucketFigures,
    bucket_from_children,
    bucket_start,
    expected_slots,
    local_date,
    midnight,
    rollups_recompute_dirty,
    rollups_recompute_ranges,
)
from metering.storage.consumption import typical_interval
from metering.storage.selectors import consumption_by_reading, readings_for_meter
from tests.metering.test_ingest import make_meter
from tests.metering.test_rollups import CST, ingest
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

START = dt.datetime(2025, 3, 30, tzinfo=CST)  # three days, across the end of March
DAYS = 3
FIELDS = ("value", "expected", "received", "quality", "empty_leading", "empty_trailing", "empty_longest",
          "spacing")
WIDTHS = ("15min", "hour", "day", "month")


def at(day: int, hour: int, minute: int) -> dt.datetime:
    return START + dt.timedelta(days=day, hours=hour, minutes=minute)


def register_points() -> list[tuple[dt.datetime, float]]:
    """A register every 5 minutes, in quarter kWh (sums exact in any order): silent 10:50–11:40 on
    the first day (across an hour) and 23:20–00:40 into the second (across midnight), rolling over
    its 2000 kWh range on the second morning, replaced (reset to 1.0) at 12:00 that day."""
    points = []
    reset_at = at(1, 12, 0)
    for n in range(DAYS * 288):
        ts = START + dt.timedelta(minutes=5 * n)
        if at(0, 10, 50) < ts < at(0, 11, 40) or at(0, 23, 20) < ts < at(1, 0, 40):
            continue
        if ts < reset_at:
            value = (1900.0 + 0.25 * n) % 2000.0
        else:
            value = 1.0 + 0.25 * ((ts - reset_at) // dt.timedelta(minutes=5))
        points.append((ts, value))
    return points


def interval_points() -> list[tuple[dt.datetime, float]]:
    """An interval meter that starts at 13:00 on the first day, every 15 minutes, silent 17:15–18:45
    (across hours) and 22:30–01:30 (across midnight)."""
    points = []
    ts = at(0, 13, 0)
    while ts < START + dt.timedelta(days=DAYS):
        if not (at(0, 17, 15) < ts < at(0, 18, 45) or at(0, 22, 30) < ts < at(1, 1, 30)):
            points.append((ts, 0.5))
        ts += dt.timedelta(minutes=15)
    return points


def stored(meters: list[Meter]) -> dict[tuple[int, str, dt.datetime], tuple]:
    with unscoped():  # inspecting what the recompute stored
        rows = Rollup.objects.filter(meter__in=meters).values_list("meter_id", "interval", "ts", *FIELDS)
        return {(meter_id, interval, ts): tuple(rest) for meter_id, interval, ts, *rest in rows}


def oracle(meter: Meter) -> dict[tuple[int, str, dt.datetime], tuple]:
    """The buckets of the meter computed from its raw readings day by day, as one rebuild of each
    day sees it: each interval whole in the quarter of its end, a slot received when it holds a
    reading, quality the worst of the bucket's intervals (missing without readings), empty runs
    from the received slots, and the day's typical spacing (a register's with the reading before)."""
    amounts: dict[tuple[str, dt.datetime], list[float]] = defaultdict(list)
    worst: dict[tuple[str, dt.datetime], int] = defaultdict(int)
    slots: dict[tuple[str, dt.datetime], set[dt.datetime]] = defaultdict(set)
    spacing: dict[dt.datetime, float | None] = {}
    with unscoped():  # the meter's own readings, read as the recompute reads them
        for number in range(-1, DAYS + 1):
            day = local_date(START) + dt.timedelta(days=number)
            start, end = midnight(day), midnight(day + dt.timedelta(days=1))
            instants, intervals = consumption_by_reading(meter, start, end)
            stamps = list(readings_for_meter(meter, start=start, end=end).values_list("ts", flat=True))
            before = readings_for_meter(meter, end=start).values_list("ts", flat=True).last()
            if meter.cumulative and before is not None:
                stamps = [before, *stamps]
            typical = typical_interval(stamps)
            spacing[start] = None if typical is None else typical.total_seconds()
            for interval in intervals:
                for width in WIDTHS:
                    key = (width, bucket_start(interval.end, width))
                    amounts[key].append(interval.amount)
                    worst[key] = max(worst[key], interval.quality)
            for instant in instants:
                for width in WIDTHS:
                    slots[(width, bucket_start(instant, width))].add(bucket_start(instant, "15min"))
    rows = {}
    for width, start in {*amounts, *slots}:
        expected = expected_slots(start, width)
        indexes = sorted((slot - start) // dt.timedelta(minutes=15) for slot in slots[(width, start)])
        if indexes:
            leading, trailing = indexes[0], expected - 1 - indexes[-1]
            inner = max((b - a - 1 for a, b in itertools.pairwise(indexes)), default=0)
            runs = (leading, trailing, max(leading, trailing, inner))
        else:
            runs = (expected, expected, expected)
        rows[(meter.pk, width, start)] = (
            math.fsum(amounts[(width, start)]), expected, len(indexes),
            worst[(width, start)] if indexes else 3, *runs,
            spacing[start] if width == "day" else None,
        )
    return rows


def test_batch_by_batch_upkeep_gives_the_rows_of_a_full_rebuild_and_of_the_raw_readings(world) -> None:  # type: ignore[no-untyped-def]
    register = make_meter(world.tenant_a, "E-REG", register_max=2000.0)
    interval = make_meter(world.tenant_a, "E-INT", cumulative=False)
    meters = [register, interval]
    late = {at(0, 14, 7), at(1, 5, 7), at(0, 18, 0)}  # back-dated, below
    series = {
        "E-REG": [p for p in register_points() if p[0] not in late],
        "E-INT": [p for p in interval_points() if p[0] not in late],
    }
    # Batches of 7 hours of both meters, each pair recomputed in one claim: batches cross midnight,
    # and one the end of March.
    step = dt.timedelta(hours=7)
    batch_start = START
    joint = 0
    while batch_start < START + dt.timedelta(days=DAYS):
        touched = 0
        for code, points in series.items():
            chunk = [p for p in points if batch_start <= p[0] < batch_start + step]
            if chunk:
                ingest(world.tenant_a.pk, code, chunk)
                touched += 1
        with unscoped():  # what the task does, across tenants
            run = rollups_recompute_dirty()
        assert (run.claimed, run.recomputed, run.pending) == (touched, touched, 0)
        joint += touched == 2
        batch_start += step
    assert joint >= 8

    untouched_key = (register.pk, "15min", at(0, 2, 0))
    with unscoped():
        untouched_at = Rollup.objects.get(meter=register, interval="15min", ts=at(0, 2, 0)).computed_at
    # Back-dated: a register reading into an existing quarter (14:05–14:10 of the first day), an
    # interval reading into one (05:00 of the second), and one into the interval meter's gap.
    ingest(world.tenant_a.pk, "E-REG", [(at(0, 14, 7), (1900.0 + 0.25 * 169) + 0.125)])
    ingest(world.tenant_a.pk, "E-INT", [(at(1, 5, 7), 0.25), (at(0, 18, 0), 0.75)])
    with unscoped():
        run = rollups_recompute_dirty()
        assert (run.claimed, run.recomputed) == (2, 2)
        assert not RollupDirtyRange.objects.exists()
        # Incremental: a quarter far from the late readings was not rewritten.
        untouched = Rollup.objects.get(meter=register, interval="15min", ts=at(0, 2, 0))
        assert untouched.computed_at == untouched_at
    upkept = stored(meters)

    expected = {**oracle(register), **oracle(interval)}
    assert upkept == expected
    # The messy parts are really there.
    assert upkept[(register.pk, "15min", at(1, 12, 0))][3] == 2  # the reset: suspect
    assert upkept[(register.pk, "15min", at(1, 0, 30))][3] == 3  # the gap across midnight: missing
    assert upkept[(register.pk, "15min", at(0, 14, 0))][2] == 1
    assert upkept[(interval.pk, "day", at(0, 0, 0))][4] == 13 * 4  # starts at 13:00
    assert upkept[(interval.pk, "day", at(0, 0, 0))][1] == 96
    assert upkept[(register.pk, "month", dt.datetime(2025, 4, 1, tzinfo=CST))][1] == 96 * 30
    assert upkept[untouched_key][0] == 0.75

    # A rebuild of everything at once, from nothing.
    with unscoped():
        Rollup.objects.filter(meter__in=meters).delete()
        last = START + dt.timedelta(days=DAYS)
        rollups_recompute_ranges([(register, START - dt.timedelta(days=1), last),
                                  (interval, START - dt.timedelta(days=1), last)])
    assert stored(meters) == upkept


def test_derived_buckets_in_sql_are_what_the_python_derivation_gives(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-DER", cumulative=False)
    # Irregular: readings at odd minutes, some quarters twice, hours and days with holes.
    points = [(at(0, 0, 0) + dt.timedelta(minutes=m), 0.25 * (m % 7)) for m in
              (3, 4, 50, 61, 62, 130, 400, 401, 1439, 1500, 1501, 2000, 2880 + 17, 2880 + 900)]
    ingest(world.tenant_a.pk, "E-DER", points)
    with unscoped():
        rollups_recompute_dirty()
        rows = list(Rollup.objects.filter(meter=meter).order_by("ts"))
    by_width: dict[str, list[Rollup]] = defaultdict(list)
    for row in rows:
        by_width[row.interval].append(row)
    below = {"hour": "15min", "day": "hour", "month": "day"}
    checked = 0
    for width, child in below.items():
        for parent in by_width[width]:
            start = parent.ts.astimezone(CST)
            children = [
                (row.ts, BucketFigures(row.value, row.expected, row.received, row.quality, row.empty_leading,
                                       row.empty_trailing, row.empty_longest))
                for row in by_width[child] if bucket_start(row.ts, width) == start
            ]
            derived = bucket_from_children(bucket_start(start, width), width, children)
            assert derived == BucketFigures(parent.value, parent.expected, parent.received, parent.quality,
                                            parent.empty_leading, parent.empty_trailing, parent.empty_longest)
            checked += 1
    assert checked == len(by_width["hour"]) + len(by_width["day"]) + len(by_width["month"]) > 10
