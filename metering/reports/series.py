"""The meter-data query of the export page: one or more meters of an enterprise, an interval (raw
readings, or the stored 15-minute, hourly, daily or monthly rollups) and a period of whole days in
Asia/Shanghai. Rows are read through the storage and monitoring selectors, in chunks, oldest first
per meter; nothing here holds a whole result in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from metering.models import Meter, Quality
from metering.monitoring.models import RollupInterval
from metering.monitoring.selectors import rollups_for_meter
from metering.reports.formatting import LOCAL_TZ
from metering.reports.tables import DATETIME, INTEGER, PERCENT, TEXT, VALUE, Column
from metering.storage.selectors import readings_for_meter
from portal.models import Enterprise

RAW = "raw"
INTERVAL_CHOICES = [(RAW, gettext_lazy("原始读数")), *RollupInterval.choices]
INTERVALS = frozenset(value for value, _label in INTERVAL_CHOICES)
# Rows fetched from the database per round trip: a server-side cursor on PostgreSQL, so memory
# stays at one chunk whatever the period.
SERIES_CHUNK_ROWS = 5000

RAW_COLUMNS = (
    Column("meter_code", gettext_lazy("表计编号"), TEXT),
    Column("meter_name", gettext_lazy("表计名称"), TEXT),
    Column("energy_type", gettext_lazy("能源种类"), TEXT),
    Column("ts", gettext_lazy("时间（北京时间）"), DATETIME),
    Column("value", gettext_lazy("读数"), VALUE),
    Column("unit", gettext_lazy("计量单位"), TEXT),
    Column("quality", gettext_lazy("数据质量"), TEXT),
)
ROLLUP_COLUMNS = (
    Column("meter_code", gettext_lazy("表计编号"), TEXT),
    Column("meter_name", gettext_lazy("表计名称"), TEXT),
    Column("energy_type", gettext_lazy("能源种类"), TEXT),
    Column("ts", gettext_lazy("时段起始（北京时间）"), DATETIME),
    Column("value", gettext_lazy("用量"), VALUE),
    Column("unit", gettext_lazy("计量单位"), TEXT),
    Column("expected", gettext_lazy("应有时段数（15 分钟）"), INTEGER),
    Column("received", gettext_lazy("实收时段数（15 分钟）"), INTEGER),
    Column("completeness", gettext_lazy("数据完整率（%）"), PERCENT, 2),
    Column("quality", gettext_lazy("数据质量"), TEXT),
)


@dataclass(frozen=True)
class SeriesQuery:
    meter_ids: tuple[int, ...]
    interval: str
    start: dt.date  # first day, inclusive
    end: dt.date  # last day, inclusive

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.start, dt.time(0), tzinfo=LOCAL_TZ)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(0), tzinfo=LOCAL_TZ)
        return start, end

    def as_json(self) -> dict[str, Any]:
        return {"meters": list(self.meter_ids), "interval": self.interval,
                "start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesQuery:
        interval = str(data["interval"])
        if interval not in INTERVALS:
            raise ValueError(f"unknown interval {interval!r}")
        return cls(meter_ids=tuple(int(pk) for pk in data["meters"]), interval=interval,
                   start=dt.date.fromisoformat(data["start"]), end=dt.date.fromisoformat(data["end"]))

    @property
    def interval_label(self) -> str:
        return str(dict(INTERVAL_CHOICES)[self.interval])

    def title(self, meters: Sequence[Meter]) -> str:
        what = meters[0].code if len(meters) == 1 else _("%(count)d 块表计") % {"count": len(meters)}
        return _("%(what)s %(interval)s %(start)s 至 %(end)s") % {
            "what": what, "interval": self.interval_label,
            "start": _zh_date(self.start), "end": _zh_date(self.end)}

    def file_stem(self) -> str:
        return f"meter-data-{self.interval}-{self.start:%Y%m%d}-{self.end:%Y%m%d}"


def _zh_date(day: dt.date) -> str:
    return _("%(year)d年%(month)d月%(day)d日") % {"year": day.year, "month": day.month, "day": day.day}


def series_columns(interval: str) -> tuple[Column, ...]:
    return RAW_COLUMNS if interval == RAW else ROLLUP_COLUMNS


def series_meters(enterprise: Enterprise, meter_ids: Sequence[int]) -> list[Meter]:
    """The enterprise's meters among `meter_ids`, in code order (an id of another enterprise is
    simply not there: the form offers only the enterprise's own)."""
    meters = Meter.objects.filter(enterprise_id=enterprise.pk, pk__in=list(meter_ids))
    return list(meters.order_by("code", "pk"))


def _queryset(meter: Meter, query: SeriesQuery) -> Any:
    start, end = query.bounds()
    if query.interval == RAW:
        return readings_for_meter(meter, start=start, end=end)
    return rollups_for_meter(meter, interval=query.interval, start=start, end=end)


def series_row_count(query: SeriesQuery, meters: Sequence[Meter]) -> int:
    return sum(_queryset(meter, query).count() for meter in meters)


def _quality_label(code: int) -> str:
    try:
        return str(Quality(code).label)
    except ValueError:
        return str(code)


def series_rows(query: SeriesQuery, meters: Sequence[Meter]) -> Iterator[list[Any]]:
    """The rows, in the order of `series_columns(query.interval)`."""
    for meter in meters:
        energy = str(meter.get_energy_type_display())
        if query.interval == RAW:
            readings = _queryset(meter, query).values_list("ts", "value", "quality")
            for ts, value, quality in readings.iterator(chunk_size=SERIES_CHUNK_ROWS):
                yield [meter.code, meter.name, energy, ts, value, meter.unit, _quality_label(quality)]
        else:
            buckets = _queryset(meter, query).values_list("ts", "value", "expected", "received", "quality")
            for ts, value, expected, received, quality in buckets.iterator(chunk_size=SERIES_CHUNK_ROWS):
                completeness = received / expected if expected else None
                yield [meter.code, meter.name, energy, ts, value, meter.unit, expected, received,
                       completeness, _quality_label(quality)]
