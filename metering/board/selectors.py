"""The 看板 (live board) of an enterprise or a park, and the live figures of the 工作台 (home page).

Everything here is read from stored figures: period totals, access rates and completeness from
the indicators service (metering/monitoring/indicators.py), bucket series from the rollups
(metering/monitoring/selectors.py), meter status from `Meter.last_reading_at`; never from raw
readings. So a board costs a fixed number of queries whatever its period or its number of buckets
(a day of quarter-hours, a month of days, a year of months), and stays fast on hundreds of meters
with a year of data.

`board_data` returns plain JSON-ready data (numbers as floats, instants as ISO 8601 in +08:00):
the page renders it and hands it to static/js/board.js through a `json_script` block, and the
JSON endpoint returns it as it is. Callers are inside a tenant scope (the web edge switches it
on); the enterprise has been fetched through portal.access.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from metering.alarms import selectors as alarm_selectors
from metering.models import EnergyType, Meter
from metering.monitoring import indicators as indicator_service
from metering.monitoring import selectors
from metering.monitoring.factor_sets import (
    FactorError,
    MissingFactorError,
    Quantity,
    default_factor_sets,
    figures_for,
)
from metering.monitoring.models import RollupInterval
from metering.monitoring.rollups import ROLLUP_TZ, SLOT, bucket_end, bucket_start, midnight
from portal.models import Enterprise

logger = logging.getLogger(__name__)

# A meter is online while its newest reading is at most this old: two 15-minute slots, so a meter
# that reports once per slot (the national convention) and is a little late still counts.
METER_ONLINE_WITHIN = dt.timedelta(minutes=30)
LEVELS = ("1", "2", "3")

TREND_QUARTERS = RollupInterval.QUARTER.value  # a day of 15-minute buckets
TREND_DAYS = RollupInterval.DAY.value  # a month of days
TREND_MONTHS = RollupInterval.MONTH.value  # a year of months
TRENDS = (TREND_QUARTERS, TREND_DAYS, TREND_MONTHS)

COMPARE_YEAR_ON_YEAR = "yoy"  # this month so far vs the same days of that month a year before
COMPARE_MONTH_ON_MONTH = "mom"  # this month so far vs the same days of the month before
COMPARE_CUSTOM = "custom"  # two chosen date ranges
COMPARISONS = (COMPARE_YEAR_ON_YEAR, COMPARE_MONTH_ON_MONTH, COMPARE_CUSTOM)


# --- periods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end) in Asia/Shanghai, with its Chinese label."""

    start: dt.datetime
    end: dt.datetime
    label: str

    @classmethod
    def of_days(cls, first: dt.date, last: dt.date) -> Period:
        """The whole days first..last (inclusive)."""
        return cls(midnight(first), midnight(last + dt.timedelta(days=1)), _days_label(first, last))

    def as_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end), "label": self.label}


def _date_label(day: dt.date) -> str:
    return _("%(year)d年%(month)d月%(day)d日") % {"year": day.year, "month": day.month, "day": day.day}


def _days_label(first: dt.date, last: dt.date) -> str:
    if first == last:
        return _date_label(first)
    if first.day == 1 and (last + dt.timedelta(days=1)).day == 1 and (first.year, first.month) == (
            last.year, last.month):
        return _("%(year)d年%(month)d月") % {"year": first.year, "month": first.month}
    return _("%(first)s至%(last)s") % {"first": _date_label(first), "last": _date_label(last)}


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(ROLLUP_TZ).isoformat()


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _shift_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier), clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (following - dt.timedelta(days=1)).day))


def month_to_date(today: dt.date) -> Period:
    """This month from its 1st to today, inclusive (the home page's and the board's period)."""
    return Period.of_days(_month_start(today), today)


def comparison_periods(today: dt.date, *, compare: str = COMPARE_YEAR_ON_YEAR,
                       custom: tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]] | None = None,
                       ) -> tuple[Period, Period]:
    """The two periods a board compares. Year and month on month compare this month so far with
    the same days of the earlier month, so a month not yet over is never set against a whole one."""
    if compare == COMPARE_CUSTOM and custom is not None:
        (a_first, a_last), (b_first, b_last) = custom
        return Period.of_days(a_first, a_last), Period.of_days(b_first, b_last)
    current = month_to_date(today)
    shift = -12 if compare == COMPARE_YEAR_ON_YEAR else -1
    first = _shift_months(_month_start(today), shift)
    last = _shift_months(today, shift)
    return current, Period.of_days(first, last)


def trend_window(interval: str, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The buckets a trend shows: the day's quarters, the month's days or the year's months."""
    if interval == TREND_QUARTERS:
        return midnight(day), midnight(day + dt.timedelta(days=1))
    if interval == TREND_DAYS:
        start = midnight(_month_start(day))
        return start, bucket_end(start, RollupInterval.MONTH)
    if interval == TREND_MONTHS:
        return midnight(dt.date(day.year, 1, 1)), midnight(dt.date(day.year + 1, 1, 1))
    raise ValueError(f"unknown trend interval {interval!r}")


def _bucket_starts(interval: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    starts = []
    at = start
    while at < end:
        starts.append(at)
        at = bucket_end(at, interval)
    return starts


def _bucket_label(interval: str, at: dt.datetime) -> str:
    local = at.astimezone(ROLLUP_TZ)
    if interval == TREND_QUARTERS:
        return f"{local:%H:%M}"
    if interval == TREND_DAYS:
        return _("%(month)d月%(day)d日") % {"month": local.month, "day": local.day}
    return _("%(month)d月") % {"month": local.month}


def _trend_title(interval: str, day: dt.date) -> str:
    if interval == TREND_QUARTERS:
        return _("%(day)s 每 15 分钟") % {"day": _date_label(day)}
    if interval == TREND_DAYS:
        return _("%(year)d年%(month)d月 每日") % {"year": day.year, "month": day.month}
    return _("%(year)d年 每月") % {"year": day.year}


# --- the subject's meters -------------------------------------------------------------------------


def subject_enterprises(enterprise: Enterprise,
                        members: Iterable[Enterprise] | None = None) -> list[Enterprise]:
    """The enterprise, and for a park its members too (the park's own meters are its public areas)."""
    if enterprise.kind != Enterprise.Kind.PARK:
        return [enterprise]
    if members is None:
        members = Enterprise.objects.filter(park=enterprise).order_by("name")
    return [enterprise, *members]


def _top_meter_ids(meters: Sequence[MeterRow]) -> list[int]:
    """The meters whose consumption adds up to the subject's, as the indicators count it: those
    with no parent among the subject's meters (a child's consumption is already in its parent's;
    a retired meter still measured what it measured while it ran)."""
    ids = {meter.pk for meter in meters}
    return [meter.pk for meter in meters if meter.parent_id is None or meter.parent_id not in ids]


def _tree(meters: Sequence[MeterRow]) -> list[tuple[MeterRow, int]]:
    """Meters in tree order (parent before its children) with their depth."""
    ids = {meter.pk for meter in meters}
    children: dict[int | None, list[MeterRow]] = {}
    for meter in meters:
        children.setdefault(meter.parent_id if meter.parent_id in ids else None, []).append(meter)
    ordered: list[tuple[MeterRow, int]] = []
    stack = [(meter, 0) for meter in reversed(children.get(None, []))]
    seen: set[int] = set()
    while stack:
        meter, depth = stack.pop()
        if meter.pk in seen:
            continue
        seen.add(meter.pk)
        ordered.append((meter, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(meter.pk, [])))
    return ordered


def meter_status(meter: Meter | MeterRow, now: dt.datetime) -> str:
    """online / offline / never (no reading yet) / inactive."""
    if not meter.is_active:
        return "inactive"
    if meter.last_reading_at is None:
        return "never"
    return "online" if now - meter.last_reading_at <= METER_ONLINE_WITHIN else "offline"


STATUS_LABELS = {"online": gettext_lazy("在线"), "offline": gettext_lazy("离线"),
                 "never": gettext_lazy("从未上报"), "inactive": gettext_lazy("已停用")}


class MeterRow(NamedTuple):
    """What the board needs of a meter (a row, not a model instance: a board reads hundreds)."""

    pk: int
    code: str
    name: str
    level: int
    energy_type: str
    unit: str
    parent_id: int | None
    enterprise_id: int
    is_active: bool
    last_reading_at: dt.datetime | None


def _meter_rows(enterprise_ids: Sequence[int]) -> list[MeterRow]:
    """The enterprises' meters, in the order of `enterprise_ids`, then by level and code."""
    position = {pk: index for index, pk in enumerate(enterprise_ids)}
    rows = [MeterRow(*row) for row in Meter.objects.filter(enterprise_id__in=list(enterprise_ids))
            .order_by("level", "code").values_list(*MeterRow._fields)]
    return sorted(rows, key=lambda row: position[row.enterprise_id])  # stable: level, code within


def _meter_section(meters: Sequence[MeterRow], now: dt.datetime,
                   names: dict[int, str] | None = None) -> dict[str, Any]:
    """The tree with each meter's status, newest reading time and today's consumption and slots."""
    today = midnight(now.astimezone(ROLLUP_TZ).date())
    today_buckets = selectors.rollups_in_bucket([m.pk for m in meters], interval=RollupInterval.DAY,
                                                ts=today)
    status_labels = {status: str(label) for status, label in STATUS_LABELS.items()}
    elapsed_slots = max(1, int((now - today) / SLOT))
    by_level = {level: {"total": 0, "online": 0, "offline": 0, "never": 0} for level in LEVELS}
    rows = []
    for meter, depth in _tree(meters):
        status = meter_status(meter, now)
        level = str(meter.level)
        if status != "inactive":
            by_level[level]["total"] += 1
            by_level[level][status] += 1
        quantity, received = today_buckets.get(meter.pk, (None, 0))
        rows.append({
            "id": meter.pk, "code": meter.code, "name": meter.name, "level": meter.level,
            "depth": min(depth, 4), "parent_id": meter.parent_id, "enterprise_id": meter.enterprise_id,
            "enterprise_name": (names or {}).get(meter.enterprise_id, ""),
            "energy_type": meter.energy_type, "energy_label": _energy_label(meter.energy_type),
            "unit": meter.unit, "status": status, "status_label": status_labels[status],
            "last_reading_at": _iso(meter.last_reading_at) if meter.last_reading_at else None,
            "today_quantity": quantity,
            "today_received": received,
            "today_expected": min(elapsed_slots, 96),
        })
    online_rate = {level: counts["online"] / counts["total"] if counts["total"] else None
                   for level, counts in by_level.items()}
    return {"by_level": by_level, "online_rate": online_rate, "tree": rows,
            "online_within_minutes": int(METER_ONLINE_WITHIN / dt.timedelta(minutes=1))}


# --- figures ----------------------------------------------------------------------------------------


def _f(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _figures(indicators: indicator_service.Indicators) -> dict[str, Any]:
    """The period figures of an indicators result, as the board and the home page show them."""
    total = indicators.total_tce
    lines = sorted(indicators.by_energy_type, key=lambda line: line.tce, reverse=True)
    return {
        "total_tce": _f(total),
        "total_tce_equivalent": _f(indicators.total_tce_equivalent),
        "co2_t": _f(indicators.co2_t),
        "co2_by_scope": {key: _f(value) for key, value in indicators.co2_by_scope.items()},
        "by_energy_type": [{
            "energy_type": line.energy_type, "label": line.label, "quantity": _f(line.quantity),
            "unit": line.unit, "tce": _f(line.tce), "co2_t": _f(line.co2_t),
            "share": float(line.tce / total) if total else None,
        } for line in lines],
        "access_rate": {level: indicators.access_rate.get(level) for level in LEVELS},
        "meters_by_level": {level: indicators.meters_by_level.get(level, 0) for level in LEVELS},
        "reporting_by_level": {level: indicators.reporting_by_level.get(level, 0) for level in LEVELS},
        "expected_slots": indicators.expected_slots, "received_slots": indicators.received_slots,
        "completeness": indicators.completeness,
        "longest_gap_minutes": indicators.longest_gap_minutes,
        "longest_gap_meter": indicators.longest_gap_meter,
        "factor_sets": list(indicators.factor_sets),
        "missing_factors": list(indicators.missing_factors),
    }


def period_figures(enterprise: Enterprise, period: Period) -> dict[str, Any]:
    """The subject's figures for the period, or the reason they cannot be computed (a factor the
    sets lack): the board still shows its meters and trends, and says what is missing."""
    try:
        indicators = indicator_service.indicators_for(enterprise, start=period.start, end=period.end)
    except (FactorError, ValueError) as exc:
        logger.warning("board figures of enterprise %s for %s: %s", enterprise.pk, period.label, exc)
        return {"period": period.as_dict(), "error": str(exc)}
    return {"period": period.as_dict(), "error": None, **_figures(indicators)}


@dataclass(frozen=True)
class UnitFactors:
    """tce (当量值) and CO₂ per unit of one (energy type, unit) in one region and calendar year."""

    tce: Decimal
    co2_t: Decimal | None  # None: the energy has no emissions of its own (water, compressed air)
    scope: int | None
    factor_sets: tuple[str, ...]


class FactorTable:
    """Per-unit factors from the default sets, looked up once per (region, year, energy type, unit):
    tce and CO₂ are linear in the quantity, so a board converts every bucket with a few lookups.
    The default sets are read once; each (region, year) costs one lookup for all its energy types
    (one per energy type only when some factor is missing, to say which)."""

    def __init__(self) -> None:
        self._found: dict[tuple[int | None, int, str, str], UnitFactors | None] = {}
        self._sets: list[Any] | None = None
        self.missing: dict[tuple[str, str], str] = {}

    def _convert(self, kinds: Sequence[tuple[str, str]], *, year: int, region: Any) -> None:
        if self._sets is None:
            self._sets = default_factor_sets()
        region_key = region.pk if region is not None else None
        period = (dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
        try:
            figures = figures_for([Quantity(energy_type, Decimal(1), unit) for energy_type, unit in kinds],
                                  period=period, factor_sets=self._sets, region=region)
        except MissingFactorError as exc:
            # That one kind cannot be converted; the others are looked up again without it.
            missing = (exc.energy_type, exc.unit)
            if missing not in kinds:
                missing = kinds[0]
            self.missing[missing] = str(exc)
            self._found[(region_key, year, *missing)] = None
            rest = [kind for kind in kinds if kind != missing]
            if rest:
                self._convert(rest, year=year, region=region)
            return
        except FactorError as exc:  # an unusable or ambiguous set: nothing converts
            for kind in kinds:
                self.missing[kind] = str(exc)
                self._found[(region_key, year, *kind)] = None
            return
        for kind, line in zip(kinds, figures.lines, strict=True):
            self._found[(region_key, year, *kind)] = UnitFactors(line.tce, line.co2_t, line.scope,
                                                                 figures.factor_sets)

    def prime(self, kinds: Iterable[tuple[str, str]], *, year: int, region: Any) -> None:
        """Look up every kind not known yet for (region, year) at once."""
        region_key = region.pk if region is not None else None
        unknown = sorted({kind for kind in kinds if (region_key, year, *kind) not in self._found})
        if unknown:
            self._convert(unknown, year=year, region=region)

    def get(self, energy_type: str, unit: str, *, year: int, region: Any) -> UnitFactors | None:
        self.prime([(energy_type, unit)], year=year, region=region)
        return self._found[(region.pk if region is not None else None, year, energy_type, unit)]


def figures_by_enterprise(enterprises: Sequence[Enterprise], *, period: Period,
                          now: dt.datetime | None = None) -> dict[int, dict[str, Any]]:
    """The period figures of many enterprises at once (a park with its members), as the board and
    the home pages show them: the indicators' own computation for many enterprises
    (`indicators.figures_of_enterprises`: consumption of the top-of-tree meters converted with the
    default factor sets of each enterprise's region and year; access rate per level and
    completeness of the active meters, every quarter-hour begun by `now` expected), in a fixed
    number of queries whatever the number of enterprises. An enterprise whose figures cannot be
    converted (an unusable or ambiguous factor set) gets the reason, as `period_figures` gives it.
    """
    computed = indicator_service.figures_of_enterprises(enterprises, start=period.start, end=period.end,
                                                        now=now or timezone.now())
    result: dict[int, dict[str, Any]] = {}
    for pk, figures in computed.items():
        if isinstance(figures, FactorError):
            logger.warning("board figures of enterprise %s for %s: %s", pk, period.label, figures)
            result[pk] = {"period": period.as_dict(), "error": str(figures)}
            continue
        total = float(figures.total_tce)
        result[pk] = {
            "period": period.as_dict(), "error": None,
            "total_tce": total, "co2_t": float(figures.co2_t),
            "co2_by_scope": {scope: float(amount) for scope, amount in figures.co2_by_scope.items()},
            "by_energy_type": [{
                "energy_type": line.energy_type, "unit": line.unit, "quantity": float(line.quantity),
                "tce": float(line.tce), "co2_t": float(line.co2_t), "scope": line.scope,
                "factor_missing": line.factor_missing, "label": _energy_label(line.energy_type),
                "share": float(line.tce) / total if total and not line.factor_missing else None,
            } for line in figures.by_energy_type],
            "meters_by_level": figures.meters_by_level, "reporting_by_level": figures.reporting_by_level,
            "access_rate": figures.access_rate,
            "expected_slots": figures.expected_slots, "received_slots": figures.received_slots,
            "completeness": figures.completeness,
            "factor_sets": figures.factor_sets,
            "missing_factors": sorted(set(figures.missing_factors)),
        }
    return result


# Built once: `EnergyType.values` builds its list anew on every call.
_ENERGY_LABELS = dict(EnergyType.choices)


@functools.lru_cache(maxsize=256)
def _energy_label_in(energy_type: str, language: str | None) -> str:
    return str(_ENERGY_LABELS.get(energy_type, energy_type))


def _energy_label(energy_type: str) -> str:
    """The energy type's name in the active language (translated once per language)."""
    return _energy_label_in(energy_type, get_language())


def trend_series(meter_ids: Sequence[int], *, interval: str, day: dt.date, region: Any,
                 now: dt.datetime, factors: FactorTable | None = None) -> dict[str, Any]:
    """The subject's consumption per bucket and energy type, in native units and in tce.

    Buckets after `now` are null (not drawn), buckets without data 0 once they have begun. One
    rollup query (grouped by energy type and bucket), plus one factor lookup per energy type.
    """
    start, end = trend_window(interval, day)
    starts = _bucket_starts(interval, start, end)
    index = {at: position for position, at in enumerate(starts)}
    rows = selectors.rollup_sums_by_energy_type(meter_ids, interval=interval, start=start, end=end)
    kinds = sorted({(row["energy_type"], row["unit"]) for row in rows})
    table = factors or FactorTable()
    year = start.astimezone(ROLLUP_TZ).year  # a trend window never crosses a year
    table.prime(kinds, year=year, region=region)
    begun = [at <= now for at in starts]
    series = []
    for energy_type, unit in kinds:
        quantity: list[float | None] = [0.0 if is_begun else None for is_begun in begun]
        for row in rows:
            if (row["energy_type"], row["unit"]) == (energy_type, unit):
                position = index.get(bucket_start(row["bucket"], interval))
                if position is not None:
                    quantity[position] = row["total"]
        unit_factors = table.get(energy_type, unit, year=year, region=region)
        factor = unit_factors.tce if unit_factors is not None else None
        series.append({
            "energy_type": energy_type,
            "label": _energy_label(energy_type),
            "unit": unit,
            "quantity": quantity,
            "tce": [None if value is None or factor is None else float(Decimal(str(value)) * factor)
                    for value in quantity],
        })
    return {
        "interval": interval, "title": _trend_title(interval, day), "day": day.isoformat(),
        "start": _iso(start), "end": _iso(end),
        "buckets": [_iso(at) for at in starts], "labels": [_bucket_label(interval, at) for at in starts],
        "series": series,
        "missing_factors": sorted({table.missing[kind] for kind in kinds if kind in table.missing}),
    }


def _comparison(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two periods side by side, per energy type and in total (change of A against B)."""
    def tce_of(figures: dict[str, Any]) -> dict[str, tuple[str, float]]:
        return {line["energy_type"]: (line["label"], line["tce"] or 0.0)
                for line in figures.get("by_energy_type", [])}

    a_lines, b_lines = tce_of(a), tce_of(b)
    energy_types = sorted(set(a_lines) | set(b_lines),
                          key=lambda et: -(a_lines.get(et, ("", 0.0))[1] + b_lines.get(et, ("", 0.0))[1]))
    a_total, b_total = a.get("total_tce"), b.get("total_tce")
    change = (a_total - b_total) / b_total if a_total is not None and b_total else None
    return {
        "a": a, "b": b, "change": change,
        "by_energy_type": [{
            "energy_type": et, "label": (a_lines.get(et) or b_lines[et])[0],
            "a_tce": a_lines.get(et, ("", 0.0))[1], "b_tce": b_lines.get(et, ("", 0.0))[1],
        } for et in energy_types],
    }


# --- alarms ------------------------------------------------------------------------------------------
# Alarms are their own part (metering/alarms/); the board and the home pages read them only through
# its selectors, here.
# Open alarms listed on a board (newest first); the alarm list has them all.
BOARD_ALARM_ROWS = 20


def open_alarms_for(enterprise_ids: Sequence[int]) -> tuple[int, list[dict[str, Any]]]:
    """(how many alarms are open, the newest of them) for the enterprises, as the board lists them."""
    alarms = alarm_selectors.open_alarms(enterprise_ids=list(enterprise_ids))
    newest = list(alarms[:BOARD_ALARM_ROWS])
    count = len(newest) if len(newest) < BOARD_ALARM_ROWS else alarms.count()
    return count, [{
        "id": alarm.pk, "opened_at": _iso(alarm.opened_at), "enterprise_id": alarm.meter.enterprise_id,
        "meter": f"{alarm.meter.code} {alarm.meter.name}", "meter_id": alarm.meter_id,
        "kind": alarm.kind, "kind_label": str(alarm.get_kind_display()),
        "status": alarm.status, "status_label": str(alarm.get_status_display()), "message": alarm.detail,
    } for alarm in newest]


def open_alarm_counts_for(enterprise_ids: Sequence[int]) -> dict[int, int]:
    """enterprise id -> number of its open (not yet closed) alarms."""
    return dict(alarm_selectors.open_alarm_counts(enterprise_ids=list(enterprise_ids)))


# --- the board ----------------------------------------------------------------------------------------


def board_data(enterprise: Enterprise, *, trend: str = TREND_QUARTERS, day: dt.date | None = None,
               compare: str = COMPARE_YEAR_ON_YEAR,
               custom: tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]] | None = None,
               members: Sequence[Enterprise] | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the board of `enterprise` shows, for the trend `interval` around `day` (default
    today) and the comparison `compare` (custom: two (first, last) date ranges, inclusive).

    A park's board covers its public-area meters and its members (`members`, default all of them:
    the view passes those in the viewer's reach) and lists each member with its figures.
    """
    if trend not in TRENDS:
        raise ValueError(f"unknown trend interval {trend!r}")
    now = now or timezone.now()
    today = now.astimezone(ROLLUP_TZ).date()
    day = day or today
    subjects = subject_enterprises(enterprise, members)
    subject_ids = [subject.pk for subject in subjects]
    meters = _meter_rows(subject_ids)
    factors = FactorTable()

    def figures_of(period: Period) -> dict[str, Any]:
        return figures_by_enterprise([enterprise], period=period, now=now)[enterprise.pk]

    this_month = month_to_date(today)
    current, earlier = comparison_periods(today, compare=compare, custom=custom)
    month = figures_of(this_month)
    # The default comparison's first period is this month so far: the figures just computed.
    a = month if current == this_month else figures_of(current)
    b = figures_of(earlier)
    alarm_count, alarms = open_alarms_for(subject_ids)
    data: dict[str, Any] = {
        "enterprise": {"id": enterprise.pk, "name": enterprise.name, "kind": enterprise.kind,
                       "kind_label": str(enterprise.get_kind_display()),
                       "is_park": enterprise.kind == Enterprise.Kind.PARK},
        "generated_at": _iso(now),
        "today": today.isoformat(),
        "month": month,
        "structure": month.get("by_energy_type", []),
        "trend": trend_series(_top_meter_ids(meters), interval=trend, day=day, region=enterprise.region,
                              now=now, factors=factors),
        "comparison": {"compare": compare, **_comparison(a, b)},
        # A park's tree: its public areas first, then each member's meters (named by enterprise).
        "meters": _meter_section(meters, now, names={subject.pk: subject.name for subject in subjects})
        if enterprise.kind == Enterprise.Kind.PARK else _meter_section(meters, now),
        "alarms": {"open": alarms, "count": alarm_count},
    }
    if enterprise.kind == Enterprise.Kind.PARK:
        data["members"] = _member_rows(subjects[1:], meters, period=this_month, now=now)
    return data


MEMBER_FIGURES = ("total_tce", "co2_t", "access_rate", "completeness", "error")


def _member_rows(members: Sequence[Enterprise], meters: Sequence[MeterRow], *, period: Period,
                 now: dt.datetime) -> list[dict[str, Any]]:
    """Each park member with its figures for the period, worst first (`worst_first_key`)."""
    counts = open_alarm_counts_for([member.pk for member in members])
    figures = figures_by_enterprise(members, period=period, now=now)
    rows = []
    for member in members:
        rows.append({
            "id": member.pk, "name": member.name, "kind_label": str(member.get_kind_display()),
            "meters": sum(1 for meter in meters if meter.enterprise_id == member.pk and meter.is_active),
            "open_alarms": counts.get(member.pk, 0),
            **{key: figures[member.pk].get(key) for key in MEMBER_FIGURES},
        })
    return sorted(rows, key=lambda row: worst_first_key(row["completeness"], row["open_alarms"], row["name"]))


# --- the home page ------------------------------------------------------------------------------------


def worst_first_key(completeness: float | None, open_alarms: int, name: str) -> tuple[Any, ...]:
    """How enterprises are ordered worst first: lowest data completeness first (an enterprise with
    no data at all, completeness unknown, before any), then the most open alarms, then by name.
    Completeness leads because a figure is only as good as the data behind it; alarms break ties."""
    return (completeness is not None, completeness or 0.0, -open_alarms, name)


def home_figures(enterprise: Enterprise, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The enterprise's live figures on its home page: this month so far."""
    now = now or timezone.now()
    today = now.astimezone(ROLLUP_TZ).date()
    figures = period_figures(enterprise, month_to_date(today))
    counts = open_alarm_counts_for([enterprise.pk])
    return {**figures, "open_alarms": counts.get(enterprise.pk, 0)}


def home_figures_many(enterprises: Sequence[Enterprise], *, now: dt.datetime | None = None
                      ) -> dict[int, dict[str, Any]]:
    """The same figures as `home_figures` for a page of enterprises (an official's home page), in a
    fixed number of queries (`figures_by_enterprise`)."""
    now = now or timezone.now()
    period = month_to_date(now.astimezone(ROLLUP_TZ).date())
    figures = figures_by_enterprise(enterprises, period=period, now=now)
    counts = open_alarm_counts_for([enterprise.pk for enterprise in enterprises])
    return {
        pk: {**row, "open_alarms": counts.get(pk, 0)}
        for pk, row in figures.items()
    }


def completeness_by_enterprise(enterprise_ids: Sequence[int], *, now: dt.datetime | None = None
                               ) -> dict[int, float | None]:
    """This month's data completeness of many enterprises at once, to order them before the page's
    figures are computed. The indicators' definition (received ÷ expected 15-minute slots of the
    active meters, every quarter-hour begun since the 1st expected; a park with its members'
    meters), so the order agrees with the figures shown. None for an enterprise with no active
    meter. Three queries, whatever the number of enterprises."""
    now = now or timezone.now()
    month_start = midnight(_month_start(now.astimezone(ROLLUP_TZ).date()))
    # As the indicators count them: every quarter-hour begun since the 1st.
    elapsed_slots = max(1, math.ceil((now - month_start) / SLOT))
    # Whose figures each enterprise's meters count in: its own, and its park's when the park is listed.
    counts_in: dict[int, list[int]] = {enterprise_id: [enterprise_id] for enterprise_id in enterprise_ids}
    for member_id, park_id in Enterprise.objects.filter(park_id__in=list(enterprise_ids)).values_list(
            "id", "park_id"):
        counts_in.setdefault(member_id, []).append(park_id)
    meters: dict[int, int] = {}
    for enterprise_id, count in (
        Meter.objects.filter(enterprise_id__in=list(counts_in), is_active=True)
        .values_list("enterprise_id").annotate(count=Count("id")).values_list("enterprise_id", "count")
        .order_by()
    ):
        for subject in counts_in[enterprise_id]:
            meters[subject] = meters.get(subject, 0) + count
    received: dict[int, int] = {}
    for enterprise_id, slots in selectors.received_slots_by_enterprise(
            list(counts_in), interval=RollupInterval.DAY, start=month_start, end=now):
        for subject in counts_in[enterprise_id]:
            received[subject] = received.get(subject, 0) + (slots or 0)
    return {
        enterprise_id: (min(1.0, received.get(enterprise_id, 0) / (meters[enterprise_id] * elapsed_slots))
                        if meters.get(enterprise_id) else None)
        for enterprise_id in enterprise_ids
    }


def enterprises_worst_first(enterprises: Sequence[Enterprise], *, now: dt.datetime | None = None
                            ) -> list[tuple[Enterprise, float | None, int]]:
    """The enterprises ordered worst first (`worst_first_key`), each with its completeness this
    month and its open alarms."""
    ids = [enterprise.pk for enterprise in enterprises]
    completeness = completeness_by_enterprise(ids, now=now)
    counts = open_alarm_counts_for(ids)
    rows = [(enterprise, completeness.get(enterprise.pk), counts.get(enterprise.pk, 0))
            for enterprise in enterprises]
    return sorted(rows, key=lambda row: worst_first_key(row[1], row[2], row[0].name))


