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
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from metering.models import EnergyType, Meter
from metering.monitoring import indicators as indicator_service
from metering.monitoring import selectors
from metering.monitoring.factor_sets import FactorError, Quantity, figures_for
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


def _top_meter_ids(meters: Sequence[Meter]) -> list[int]:
    """The meters whose consumption adds up to the subject's: the active ones with no active meter
    above them (a child's consumption is already in its parent's)."""
    active = {meter.pk for meter in meters if meter.is_active}
    return [meter.pk for meter in meters if meter.is_active and meter.parent_id not in active]


def _tree(meters: Sequence[Meter]) -> list[tuple[Meter, int]]:
    """Meters in tree order (parent before its children) with their depth."""
    ids = {meter.pk for meter in meters}
    children: dict[int | None, list[Meter]] = {}
    for meter in meters:
        children.setdefault(meter.parent_id if meter.parent_id in ids else None, []).append(meter)
    ordered: list[tuple[Meter, int]] = []
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


def meter_status(meter: Meter, now: dt.datetime) -> str:
    """online / offline / never (no reading yet) / inactive."""
    if not meter.is_active:
        return "inactive"
    if meter.last_reading_at is None:
        return "never"
    return "online" if now - meter.last_reading_at <= METER_ONLINE_WITHIN else "offline"


STATUS_LABELS = {"online": "在线", "offline": "离线", "never": "从未上报", "inactive": "已停用"}


def _meter_section(meters: Sequence[Meter], now: dt.datetime) -> dict[str, Any]:
    """The tree with each meter's status, newest reading time and today's consumption and slots."""
    today = midnight(now.astimezone(ROLLUP_TZ).date())
    today_buckets = selectors.rollups_in_bucket([m.pk for m in meters], interval=RollupInterval.DAY, ts=today)
    elapsed_slots = max(1, int((now - today) / SLOT))
    by_level = {level: {"total": 0, "online": 0, "offline": 0, "never": 0} for level in LEVELS}
    rows = []
    for meter, depth in _tree(meters):
        status = meter_status(meter, now)
        level = str(meter.level)
        if status != "inactive":
            by_level[level]["total"] += 1
            by_level[level][status] += 1
        bucket = today_buckets.get(meter.pk)
        rows.append({
            "id": meter.pk, "code": meter.code, "name": meter.name, "level": meter.level,
            "depth": min(depth, 4), "parent_id": meter.parent_id, "enterprise_id": meter.enterprise_id,
            "energy_type": meter.energy_type, "energy_label": str(EnergyType(meter.energy_type).label)
            if meter.energy_type in EnergyType.values else meter.energy_type,
            "unit": meter.unit, "status": status, "status_label": _(STATUS_LABELS[status]),
            "last_reading_at": _iso(meter.last_reading_at) if meter.last_reading_at else None,
            "today_quantity": bucket.value if bucket is not None else None,
            "today_received": bucket.received if bucket is not None else 0,
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
        "completeness": indicators.completeness,
        "longest_gap_minutes": indicators.longest_gap_minutes,
        "factor_sets": list(indicators.factor_sets),
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


def _per_unit_tce(kinds: Iterable[tuple[str, str]], *, period: tuple[dt.date, dt.date],
                  region: Any) -> tuple[dict[tuple[str, str], Decimal], list[str]]:
    """tce (当量值) per unit of each (energy type, unit), from the default factor sets, and what
    could not be converted."""
    factors: dict[tuple[str, str], Decimal] = {}
    missing = []
    for energy_type, unit in kinds:
        try:
            figures = figures_for([Quantity(energy_type, Decimal(1), unit)], period=period, region=region)
        except FactorError as exc:
            missing.append(str(exc))
            continue
        factors[(energy_type, unit)] = figures.lines[0].tce
    return factors, missing


def trend_series(meter_ids: Sequence[int], *, interval: str, day: dt.date, region: Any,
                 now: dt.datetime) -> dict[str, Any]:
    """The subject's consumption per bucket and energy type, in native units and in tce.

    Buckets after `now` are null (not drawn), buckets without data 0 once they have begun. One
    rollup query (grouped by energy type and bucket), plus one factor lookup per energy type.
    """
    start, end = trend_window(interval, day)
    starts = _bucket_starts(interval, start, end)
    index = {at: position for position, at in enumerate(starts)}
    rows = selectors.rollup_sums_by_energy_type(meter_ids, interval=interval, start=start, end=end)
    kinds = sorted({(row["energy_type"], row["unit"]) for row in rows})
    last_day = (end - dt.timedelta(days=1)).astimezone(ROLLUP_TZ).date()
    factors, missing = _per_unit_tce(kinds, period=(start.date(), last_day + dt.timedelta(days=1)),
                                     region=region)
    begun = [at <= now for at in starts]
    series = []
    for energy_type, unit in kinds:
        quantity: list[float | None] = [0.0 if is_begun else None for is_begun in begun]
        for row in rows:
            if (row["energy_type"], row["unit"]) == (energy_type, unit):
                position = index.get(bucket_start(row["bucket"], interval))
                if position is not None:
                    quantity[position] = row["total"]
        factor = factors.get((energy_type, unit))
        series.append({
            "energy_type": energy_type,
            "label": str(EnergyType(energy_type).label) if energy_type in EnergyType.values else energy_type,
            "unit": unit,
            "quantity": quantity,
            "tce": [None if value is None or factor is None else float(Decimal(str(value)) * factor)
                    for value in quantity],
        })
    return {
        "interval": interval, "title": _trend_title(interval, day), "day": day.isoformat(),
        "start": _iso(start), "end": _iso(end),
        "buckets": [_iso(at) for at in starts], "labels": [_bucket_label(interval, at) for at in starts],
        "series": series, "missing_factors": missing,
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


# --- alarms (the hook) ------------------------------------------------------------------------------
# metering/alarms/ (another part of issue 8) provides `open_alarms(*, enterprise_ids=None)` and
# `open_alarm_counts(*, enterprise_ids)`. Until it is on main, these two hooks answer "none" and say
# that alarms are not available, so the board and the home page show no alarm figures at all rather
# than a misleading zero.
ALARMS_AVAILABLE = False


def open_alarms_for(enterprise_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Open alarms of the enterprises, newest first, as the board lists them."""
    return []


def open_alarm_counts_for(enterprise_ids: Sequence[int]) -> dict[int, int]:
    """enterprise id -> number of its open alarms."""
    return {}


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
    meters = list(Meter.objects.filter(enterprise_id__in=subject_ids).order_by("level", "code"))
    own_meters = [meter for meter in meters if meter.enterprise_id == enterprise.pk]
    current, earlier = comparison_periods(today, compare=compare, custom=custom)
    month = period_figures(enterprise, month_to_date(today))
    # The default comparison's first period is this month so far: the figures just computed.
    a = month if current == month_to_date(today) else period_figures(enterprise, current)
    b = period_figures(enterprise, earlier)
    alarms = open_alarms_for(subject_ids)
    data: dict[str, Any] = {
        "enterprise": {"id": enterprise.pk, "name": enterprise.name, "kind": enterprise.kind,
                       "kind_label": str(enterprise.get_kind_display()),
                       "is_park": enterprise.kind == Enterprise.Kind.PARK},
        "generated_at": _iso(now),
        "today": today.isoformat(),
        "month": month,
        "structure": month.get("by_energy_type", []),
        "trend": trend_series(_top_meter_ids(meters), interval=trend, day=day, region=enterprise.region,
                              now=now),
        "comparison": {"compare": compare, **_comparison(a, b)},
        "meters": _meter_section(own_meters, now),
        "alarms": {"available": ALARMS_AVAILABLE, "open": alarms, "count": len(alarms)},
    }
    if enterprise.kind == Enterprise.Kind.PARK:
        data["members"] = _member_rows(subjects[1:], meters, today=today)
    return data


MEMBER_FIGURES = ("total_tce", "co2_t", "access_rate", "completeness", "error")


def _member_rows(members: Sequence[Enterprise], meters: Sequence[Meter], *,
                 today: dt.date) -> list[dict[str, Any]]:
    """Each park member with this month's figures, worst first (see `worst_first`)."""
    counts = open_alarm_counts_for([member.pk for member in members])
    rows = []
    for member in members:
        figures = period_figures(member, month_to_date(today))
        rows.append({
            "id": member.pk, "name": member.name, "kind_label": str(member.get_kind_display()),
            "meters": sum(1 for meter in meters if meter.enterprise_id == member.pk and meter.is_active),
            "open_alarms": counts.get(member.pk, 0) if ALARMS_AVAILABLE else None,
            **{key: figures.get(key) for key in MEMBER_FIGURES},
        })
    return sorted(rows, key=lambda row: worst_first_key(row["completeness"], row["open_alarms"] or 0,
                                                        row["name"]))


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
    return {**figures, "open_alarms": counts.get(enterprise.pk, 0) if ALARMS_AVAILABLE else None,
            "alarms_available": ALARMS_AVAILABLE}


def completeness_by_enterprise(enterprise_ids: Sequence[int], *, now: dt.datetime | None = None
                               ) -> dict[int, float | None]:
    """This month's data completeness of many enterprises at once, to order them before the page's
    figures are computed: 15-minute slots received by the enterprise's active meters since the 1st,
    over the slots elapsed since then times those meters. None for an enterprise with no active
    meter. Two queries, whatever the number of enterprises."""
    now = now or timezone.now()
    month_start = midnight(_month_start(now.astimezone(ROLLUP_TZ).date()))
    elapsed_slots = max(1, int((now - month_start) / SLOT))
    meters = dict(
        Meter.objects.filter(enterprise_id__in=list(enterprise_ids), is_active=True)
        .values_list("enterprise_id").annotate(count=Count("id")).values_list("enterprise_id", "count")
        .order_by()
    )
    received = dict(selectors.received_slots_by_enterprise(
        list(meters), interval=RollupInterval.DAY, start=month_start, end=now))
    return {
        enterprise_id: (min(1.0, received.get(enterprise_id, 0) / (meters[enterprise_id] * elapsed_slots))
                        if meters.get(enterprise_id) else None)
        for enterprise_id in enterprise_ids
    }


def enterprises_worst_first(enterprises: Sequence[Enterprise], *, now: dt.datetime | None = None
                            ) -> list[tuple[Enterprise, float | None, int | None]]:
    """The enterprises ordered worst first (`worst_first_key`), each with its completeness this
    month and its open alarms (None while alarms are not available)."""
    ids = [enterprise.pk for enterprise in enterprises]
    completeness = completeness_by_enterprise(ids, now=now)
    counts = open_alarm_counts_for(ids)
    rows = [(enterprise, completeness.get(enterprise.pk),
             counts.get(enterprise.pk, 0) if ALARMS_AVAILABLE else None) for enterprise in enterprises]
    return sorted(rows, key=lambda row: worst_first_key(row[1], row[2] or 0, row[0].name))


