"""Reads of monitoring's stored figures. They run under the scope the edge switched on; callers
fetch the meter through portal.access first, so a meter out of reach never gets here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import F, QuerySet, Sum

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


def rollup_sums_by_energy_type(
    meter_ids: Iterable[int], *, interval: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """The meters' `interval` buckets in [start, end) summed per (energy type, unit, bucket start):
    rows of `energy_type`, `unit`, `bucket` (its start), `total` (consumption, in the unit),
    `expected_slots` and `received_slots`, oldest first.

    One query whose rows grow with the energy types and buckets, never with the meters: a board of
    hundreds of meters reads a few hundred rows.
    """
    rows: Iterable[Any] = (
        Rollup.objects.filter(meter_id__in=list(meter_ids), interval=interval, ts__gte=start, ts__lt=end)
        .values(energy_type=F("meter__energy_type"), unit=F("meter__unit"), bucket=F("ts"))
        .annotate(total=Sum("value"), expected_slots=Sum("expected"), received_slots=Sum("received"))
        .order_by("bucket", "energy_type", "unit")
    )
    return [dict(row) for row in rows]


def rollups_in_bucket(meter_ids: Iterable[int], *, interval: str,
                      ts: dt.datetime) -> dict[int, tuple[float, int]]:
    """meter id -> (consumption, received slots) of its stored `interval` bucket starting at `ts`
    (meters without one are absent)."""
    rows = Rollup.objects.filter(meter_id__in=list(meter_ids), interval=interval, ts=ts)
    return {meter_id: (value, received) for meter_id, value, received in
            rows.values_list("meter_id", "value", "received")}


def received_slots_by_enterprise(
    enterprise_ids: Iterable[int], *, interval: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[int, int]]:
    """(enterprise id, slots received) by the enterprises' active meters in the `interval` buckets
    starting in [start, end): one grouped query for any number of enterprises."""
    return list(
        Rollup.objects.filter(meter__enterprise_id__in=list(enterprise_ids), meter__is_active=True,
                              interval=interval, ts__gte=start, ts__lt=end)
        .values_list("meter__enterprise_id")
        .annotate(received_slots=Sum("received"))
        .values_list("meter__enterprise_id", "received_slots")
        .order_by()
    )


def rollup_sums_by_meter(
    enterprise_ids: Iterable[int], *, interval: str, start: dt.datetime, end: dt.datetime
) -> dict[int, tuple[float, int]]:
    """meter id -> (consumption, received slots) of the enterprises' meters over their `interval`
    buckets starting in [start, end): one grouped query."""
    rows = (
        Rollup.objects.filter(meter__enterprise_id__in=list(enterprise_ids), interval=interval,
                              ts__gte=start, ts__lt=end)
        .values("meter_id").annotate(total=Sum("value"), received_slots=Sum("received"))
        .values_list("meter_id", "total", "received_slots").order_by()
    )
    return {meter_id: (total or 0.0, slots or 0) for meter_id, total, slots in rows}
