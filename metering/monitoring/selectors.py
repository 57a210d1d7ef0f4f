"""Reads of monitoring's stored figures. They run under the scope the edge switched on; callers
fetch the meter through portal.access first, so a meter out of reach never gets here."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from metering.models import Meter
from metering.monitoring.models import Rollup


def rollups_for_meter(
    meter: Meter, *, interval: str, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> QuerySet[Rollup]:
    """The meter's stored `interval` buckets whose start lies in [start, end), oldest first."""
    queryset = Rollup.objects.filter(meter_id=meter.pk, interval=interval)
    if start is not None:
        queryset = queryset.filter(ts__gte=start)
    if end is not None:
        queryset = queryset.filter(ts__lt=end)
    return queryset.order_by("ts")
