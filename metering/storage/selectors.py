"""Reads on readings and consumption.

These run under the scope the edge switched on (ScopedManager raises without one); callers
fetch the meter through portal.access first, so a meter out of reach never gets here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from metering.models import Meter, Reading
from metering.storage.consumption import (
    ConsumptionInterval,
    consumption_from_intervals,
    consumption_from_register,
)


def readings_for_meter(
    meter: Meter, *, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> QuerySet[Reading]:
    """Raw readings of one meter in [start, end), oldest first."""
    queryset = Reading.objects.filter(meter_id=meter.pk)
    if start is not None:
        queryset = queryset.filter(ts__gte=start)
    if end is not None:
        queryset = queryset.filter(ts__lt=end)
    return queryset.order_by("ts")


def consumption_series(meter: Meter, start: dt.datetime, end: dt.datetime) -> list[ConsumptionInterval]:
    """Consumption intervals of the meter that end within (start, end], each with a quality flag.

    For a cumulative register the reading just before `start` is included, so the first interval
    of the period is not lost; rollover uses the meter's `register_max`.
    """
    rows = readings_for_meter(meter, start=start, end=end + dt.timedelta(microseconds=1))
    intervals = _consumption_intervals(meter, list(rows.values_list("ts", "value", "quality")), start)
    return [interval for interval in intervals if start < interval.end <= end]


def _consumption_intervals(meter: Meter, points: list[Any], start: dt.datetime) -> list[ConsumptionInterval]:
    """The consumption intervals of a meter's points from `start` on. A cumulative register also
    takes its reading just before `start`, so the interval ending at the first point is not lost."""
    if not meter.cumulative:
        return consumption_from_intervals(points)
    before = (
        Reading.objects.filter(meter_id=meter.pk, ts__lt=start)
        .order_by("-ts")
        .values_list("ts", "value", "quality")
        .first()
    )
    if before is not None:
        points = [before, *points]
    return consumption_from_register(points, meter.register_max)


def next_reading_ts(meter: Meter, after: dt.datetime) -> dt.datetime | None:
    """The instant of the meter's first reading after `after`, if any."""
    later = Reading.objects.filter(meter_id=meter.pk, ts__gt=after).order_by("ts")
    return later.values_list("ts", flat=True).first()


def consumption_by_reading(
    meter: Meter, start: dt.datetime, end: dt.datetime
) -> tuple[list[dt.datetime], list[ConsumptionInterval]]:
    """The instants of the meter's readings in [start, end), and the consumption intervals that end
    in [start, end) (half-open, unlike `consumption_series`: calendar buckets start at midnight).

    For a cumulative register the reading just before `start` is included, so the interval ending at
    the first reading of the period is not lost; rollover uses the meter's `register_max`. Interval
    meters come with the `missing` fillers of `consumption_from_intervals` where readings are absent.
    """
    points = list(readings_for_meter(meter, start=start, end=end).values_list("ts", "value", "quality"))
    instants = [point[0] for point in points]
    intervals = _consumption_intervals(meter, points, start)
    return instants, [interval for interval in intervals if start <= interval.end < end]
