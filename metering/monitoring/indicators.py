"""Indicators (指标) of an enterprise, park, site node or meter for any period, from stored rollups.

Every figure here comes from `monitoring.Rollup` (never from raw readings) and the factor sets
(`factor_sets.figures_for`), so a board or API request costs a handful of aggregate queries
whatever the period: the period is covered by the widest calendar buckets that fit in it
(whole months as month buckets, then whole days, hours, and quarter-hours at the edges), and one
GROUP BY per calendar year of the period answers every meter's consumption and received slots.
The months of a year (`indicators_by_month`, `monthly_indicators`) are read in one pass over their
month buckets, and the consumption and coverage of many enterprises at once (the board, the home
pages: `figures_of_enterprises`) with the same rules; each rule is in one place here.
Callers must be inside a tenant scope (portal.access.enterprise_scope / reach_scope).

What is counted, and how double counting is avoided
---------------------------------------------------
Meters form a tree (`Meter.parent`): a level-1 gate meter measures what its level-2 and level-3
children measure again. Consumption therefore sums only the subject's **top-of-tree meters**:

- an enterprise: its meters with no parent meter (a parent always belongs to the same
  enterprise, see `Meter.clean`);
- a site node (workshop, line): the meters installed in the node's subtree whose parent meter is
  not itself installed in that subtree (the top-most meters of the subtree);
- a park: the park's own meters (public areas: its top-of-tree meters) plus every member
  enterprise's top-of-tree meters, i.e. the park's figures plus each member's figures;
- a meter: the meter itself.

Inactive meters still count towards consumption (a meter retired in June measured January to
May); coverage figures (access rate, completeness, gap, stable months) count active meters only.

Coverage
--------
- access rate per level = active meters of that level that delivered at least one 15-minute
  slot in the period ÷ active meters of that level (None when the level has no meters);
- completeness = received ÷ expected 15-minute slots of the active meters, expected being every
  quarter-hour of the period up to now (96 a day per meter; a period reaching into the future
  expects nothing of the future);
- longest gap = the longest run of empty 15-minute slots of any active meter in the period (up
  to now), in minutes; a meter that sent nothing has a gap as long as the period;
- communication success rate: per active meter, its Modbus devices' polls ok ÷ polls made where
  it is polled over Modbus (the collector's counters, kept since the device was added: they are
  not per period), else its received ÷ expected slots in the period (a pushed meter's only
  observable success); the subject's rate is the mean over its active meters;
- stable months = consecutive calendar months, ending with the last complete month before the
  period's end (or now), whose completeness is at least STABLE_COMPLETENESS; a meter is expected
  from its first received slot on (a meter added last week does not make last year unstable),
  and the month collection began counts only if it began on its first slot.
  `stable_six_months` is `stable_months >= 6` (the Shanghai programme's "稳定运行
  六个月以上").

Figures
-------
tce (当量值, and 等价值 where the factor sets have an electricity 等价值 factor) and CO₂ by scope
come from `figures_for`, per calendar year of the period (grid factors are annual) and per region
of the enterprise owning the meters (grid factors are provincial). An energy type for which the
sets have no factor is not silently zero: it is listed in `missing_factors`, its line carries
`factor_missing`, and the totals say they leave it out.

- energy intensity = total tce ÷ output value (万元) entered for the months of the period
  (a month counts when its first day lies in the period); carbon intensity likewise with CO₂;
- unit product consumption = tce of the record's site node (or of the whole subject, when it
  entered one product without a site node) ÷ the product's quantity;
- energy saving rate = (e_base − e_period) ÷ e_base against the enterprise's base period
  (`BasePeriod`), e being the energy intensity when both periods have output values (GB/T 13234's
  unit-output basis), else the average tce per day elapsed (`saving_rate_basis` says which);
- PUE (data centers) = total electricity (top-of-tree electricity meters) ÷ electricity of the
  top-most meters marked `is_it_load`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from metering.models import EnergyType, Meter, ModbusDevice, ModbusPoint, SiteNode
from metering.monitoring.factor_sets import (
    UNIT_SCALES,
    FactorError,
    MissingFactorError,
    Quantity,
    default_factor_sets,
    factor_rows,
    figures_for,
)
from metering.monitoring.models import BasePeriod, Factor, FactorSet, ProductionRecord, Rollup, RollupInterval
from metering.monitoring.rollups import (
    ROLLUP_TZ,
    SLOT,
    GapSegment,
    bucket_end,
    bucket_start,
    combine_gaps,
    expected_slots,
    midnight,
)
from portal.models import Enterprise, Region

# Completeness a month needs to count as stable: the national online-monitoring convention asks
# for data completeness of at least 90 % (DOMAIN.md, "Online monitoring conventions").
STABLE_COMPLETENESS = 0.9
# Months required by the Shanghai programme (seed 001: 稳定运行六个月以上).
STABLE_MONTHS_REQUIRED = 6
# How far back stable months are looked for: five years of month buckets, a cheap query.
STABLE_LOOKBACK_MONTHS = 60
LEVELS = ("1", "2", "3")
# Decimal places kept when a stored float sum becomes a Decimal: rollup values are floats and a
# SQL sum of them can carry binary noise (1e-10) that must not show as a figure.
QUANTITY_PLACES = Decimal("0.000001")
# Minutes in one slot of the rollups' 15-minute grid (gaps are counted in slots).
SLOT_MINUTES = 15


@dataclass(frozen=True)
class EnergyLine:
    energy_type: str  # metering.models.EnergyType value, e.g. "electricity"
    label: str  # its Chinese display name
    quantity: Decimal  # native units, summed over the subject's top-of-tree meters
    unit: str  # e.g. "kWh", "m³"
    tce: Decimal  # 当量值 (calorific basis); 0 when factor_missing
    tce_equivalent: Decimal | None  # 等价值, electricity only, when the factor set has one
    co2_t: Decimal
    scope: int | None  # 1 fuels, 2 purchased electricity/heat, None (water, etc.)
    factor_missing: str = ""  # why tce/CO₂ could not be computed (then left out of the totals)


@dataclass(frozen=True)
class UnitProductLine:
    product: str
    unit: str  # the product's unit, e.g. "t"
    site_node_id: int | None
    site_node_name: str
    quantity: Decimal
    output_value_wan_yuan: Decimal | None
    tce: Decimal | None  # energy of the node (or subject) that made it; None: cannot be apportioned
    tce_per_unit: Decimal | None
    kgce_per_unit: Decimal | None


@dataclass(frozen=True)
class Indicators:
    start: dt.datetime  # aware, Asia/Shanghai, inclusive
    end: dt.datetime  # exclusive
    by_energy_type: list[EnergyLine]
    total_tce: Decimal
    total_tce_equivalent: Decimal | None
    co2_t: Decimal
    co2_by_scope: dict[str, Decimal]  # keys "1", "2"
    output_value_wan_yuan: Decimal | None  # entered production data for the period
    energy_intensity: Decimal | None  # tce / 万元
    carbon_intensity: Decimal | None  # tCO₂ / 万元
    unit_products: list[UnitProductLine]
    saving_rate: Decimal | None  # vs the enterprise's base period, fraction (0.05 = 5 %)
    meters_by_level: dict[str, int]  # "1","2","3" -> active meters of that level
    reporting_by_level: dict[str, int]  # meters that delivered data in the period
    access_rate: dict[str, float | None]  # "1","2","3" -> fraction 0–1 (None: no meters)
    expected_slots: int
    received_slots: int
    completeness: float | None  # received / expected, 0–1
    communication_success_rate: float | None  # 0–1
    longest_gap_minutes: int
    stable_months: int  # consecutive complete-enough months ending at `end`
    stable_six_months: bool
    pue: Decimal | None  # data centers: total electricity / IT-load electricity
    factor_sets: list[str]  # labels of the sets used (FactorSet.label)
    # Added beyond the interface:
    subject_kind: str = ""  # "enterprise", "park", "site_node", "meter"
    subject_id: int = 0
    subject_name: str = ""
    missing_factors: list[str] = field(default_factory=list)
    saving_rate_basis: str | None = None  # "intensity" (tce/万元) or "daily_average" (tce/day)
    base_period: str | None = None  # e.g. "2023-01–2023-12"
    base_energy_intensity: Decimal | None = None
    base_total_tce: Decimal | None = None
    it_load_kwh: Decimal | None = None
    longest_gap_meter: str | None = None  # code of the meter with the longest gap
    stable_threshold: float = STABLE_COMPLETENESS
    members: int = 0  # park: member enterprises rolled up
    # Park: the members' own level-1 meters that delivered data ÷ those meters (Shanghai's park
    # variant asks 100 % of them besides the park's own rates); None for other subjects.
    members_access_rate_1: float | None = None


@dataclass(frozen=True)
class PeriodFigures:
    """Consumption and coverage of one subject in one period: the part of `Indicators` a board or a
    list of enterprises shows, which `figures_of_enterprises` computes for many at once (the same
    rules: `Indicators` takes these fields from it)."""

    start: dt.datetime
    end: dt.datetime
    by_energy_type: list[EnergyLine]
    total_tce: Decimal
    total_tce_equivalent: Decimal | None
    co2_t: Decimal
    co2_by_scope: dict[str, Decimal]
    factor_sets: list[str]
    missing_factors: list[str]
    meters_by_level: dict[str, int]
    reporting_by_level: dict[str, int]
    access_rate: dict[str, float | None]
    expected_slots: int
    received_slots: int
    completeness: float | None


# --- the subject: which meters, which enterprises ------------------------------------------------


@dataclass(frozen=True)
class _MeterRow:
    id: int
    code: str
    enterprise_id: int
    parent_id: int | None
    site_node_id: int | None
    level: int
    energy_type: str
    unit: str
    is_active: bool
    is_it_load: bool


@dataclass
class _Subject:
    kind: str
    id: int
    name: str
    meters: list[_MeterRow]
    top_ids: set[int]  # consumption meters
    it_ids: set[int]  # top-most IT-load meters (PUE)
    regions: dict[int, Region | None]  # enterprise id -> region, for the grid factor
    enterprise: Enterprise | None  # whose production data and base period count
    production: Q | None  # production records of the subject (None: none apply)
    site_node_ids: set[int] = field(default_factory=set)
    # Enterprises whose meters are exactly `meters` (an enterprise, a park with its members); None
    # for a site node or a meter. Rollup queries name them rather than the meters (`_of_meters`).
    enterprise_ids: list[int] | None = None
    data_center: bool = False
    members: int = 0


_METER_FIELDS = ("id", "code", "enterprise_id", "parent_id", "site_node_id", "level", "energy_type",
                 "unit", "is_active", "is_it_load")


def _meter_rows(queryset: Any) -> list[_MeterRow]:
    return [_MeterRow(*row) for row in queryset.order_by("id").values_list(*_METER_FIELDS)]


def _top_most(meters: Iterable[_MeterRow]) -> set[int]:
    """Meters whose parent meter is not among `meters`."""
    meters = list(meters)
    ids = {m.id for m in meters}
    return {m.id for m in meters if m.parent_id is None or m.parent_id not in ids}


def _it_ids(meters: list[_MeterRow]) -> set[int]:
    return _top_most(m for m in meters if m.is_it_load and m.energy_type == EnergyType.ELECTRICITY)


def _regions(enterprise_ids: Iterable[int]) -> dict[int, Region | None]:
    rows = Enterprise.objects.filter(pk__in=list(enterprise_ids)).select_related("region")
    return {e.pk: e.region for e in rows}


def _enterprise_subject(enterprise: Enterprise, meters: list[_MeterRow] | None = None,
                        regions: dict[int, Region | None] | None = None) -> _Subject:
    """`meters` and `regions`: already read (`_enterprise_subjects`); else read here."""
    if meters is None:
        meters = _meter_rows(Meter.objects.filter(enterprise_id=enterprise.pk))
    return _Subject(kind="enterprise", id=enterprise.pk, name=enterprise.name, meters=meters,
                    top_ids=_top_most(meters), it_ids=_it_ids(meters),
                    regions=regions if regions is not None else {enterprise.pk: enterprise.region},
                    enterprise=enterprise, production=Q(enterprise_id=enterprise.pk),
                    enterprise_ids=[enterprise.pk],
                    data_center=enterprise.kind == Enterprise.Kind.DATA_CENTER)


def _park_subject(park: Enterprise, member_ids: list[int] | None = None,
                  meters: list[_MeterRow] | None = None,
                  regions: dict[int, Region | None] | None = None) -> _Subject:
    """`member_ids`, `meters` and `regions`: already read (`_enterprise_subjects`); else read here."""
    if member_ids is None:
        member_ids = list(Enterprise.objects.filter(park_id=park.pk).values_list("id", flat=True))
    enterprise_ids = [park.pk, *member_ids]
    if meters is None:
        meters = _meter_rows(Meter.objects.filter(enterprise_id__in=enterprise_ids))
    by_enterprise: dict[int, list[_MeterRow]] = defaultdict(list)
    for meter in meters:
        by_enterprise[meter.enterprise_id].append(meter)
    # The park's public-area meters and each member's own top-of-tree meters.
    top = set().union(*(_top_most(rows) for rows in by_enterprise.values())) if by_enterprise else set()
    return _Subject(kind="park", id=park.pk, name=park.name, meters=meters, top_ids=top, it_ids=set(),
                    regions=regions if regions is not None else _regions(enterprise_ids), enterprise=park,
                    production=Q(enterprise_id__in=enterprise_ids), members=len(member_ids),
                    enterprise_ids=enterprise_ids)


def _enterprise_subjects(enterprises: Sequence[Enterprise]) -> dict[int, _Subject]:
    """The subjects of many enterprises (a park's: with its members), in three queries: the parks'
    members, the regions, the meters."""
    members: dict[int, list[int]] = defaultdict(list)
    parks = [e.pk for e in enterprises if e.kind == Enterprise.Kind.PARK]
    if parks:
        for member_id, park_id in (Enterprise.objects.filter(park_id__in=parks).order_by("id")
                                   .values_list("id", "park_id")):
            members[park_id].append(member_id)
    ids = {e.pk for e in enterprises} | {pk for found in members.values() for pk in found}
    regions = _regions(ids)
    rows = _meter_rows(Meter.objects.filter(enterprise_id__in=list(ids)))
    subjects = {}
    for enterprise in enterprises:
        if enterprise.kind == Enterprise.Kind.PARK:
            counted = {enterprise.pk, *members[enterprise.pk]}
            subjects[enterprise.pk] = _park_subject(
                enterprise, member_ids=members[enterprise.pk],
                meters=[m for m in rows if m.enterprise_id in counted],
                regions={pk: regions.get(pk) for pk in [enterprise.pk, *members[enterprise.pk]]})
        else:
            subjects[enterprise.pk] = _enterprise_subject(
                enterprise, meters=[m for m in rows if m.enterprise_id == enterprise.pk],
                regions={enterprise.pk: regions.get(enterprise.pk)})
    return subjects


def _subtree(node: SiteNode) -> set[int]:
    children: dict[int | None, list[int]] = defaultdict(list)
    nodes = SiteNode.objects.filter(enterprise_id=node.enterprise_id).values_list("id", "parent_id")
    for pk, parent_id in nodes:
        children[parent_id].append(pk)
    found, queue = {node.pk}, [node.pk]
    while queue:
        for child in children[queue.pop()]:
            if child not in found:
                found.add(child)
                queue.append(child)
    return found


def _site_node_subject(node: SiteNode) -> _Subject:
    nodes = _subtree(node)
    meters = _meter_rows(Meter.objects.filter(site_node_id__in=nodes))
    enterprise = node.enterprise
    return _Subject(kind="site_node", id=node.pk, name=node.name, meters=meters, top_ids=_top_most(meters),
                    it_ids=_it_ids(meters), regions={enterprise.pk: enterprise.region}, enterprise=enterprise,
                    production=Q(site_node_id__in=nodes), site_node_ids=nodes,
                    data_center=enterprise.kind == Enterprise.Kind.DATA_CENTER)


def _meter_subject(meter: Meter) -> _Subject:
    meters = _meter_rows(Meter.objects.filter(pk=meter.pk))
    enterprise = meter.enterprise
    return _Subject(kind="meter", id=meter.pk, name=f"{meter.code} {meter.name}", meters=meters,
                    top_ids={meter.pk}, it_ids=set(), regions={enterprise.pk: enterprise.region},
                    enterprise=None, production=None)


# --- the calendar ---------------------------------------------------------------------------------


def period_bounds(*, month: dt.date | None = None,
                  year: int | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a calendar month (any day of it) or year, aware in Asia/Shanghai."""
    if (month is None) == (year is None):
        raise ValueError("give either month or year")
    if month is not None:
        start = midnight(month.replace(day=1))
        return start, bucket_end(start, RollupInterval.MONTH)
    assert year is not None
    return midnight(dt.date(year, 1, 1)), midnight(dt.date(year + 1, 1, 1))


def _ceil_quarter(ts: dt.datetime) -> dt.datetime:
    start = bucket_start(ts, RollupInterval.QUARTER)
    return start if start == ts else start + SLOT


def _pieces(start: dt.datetime, end: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """Cover the quarter-hours starting in [start, end) with the widest stored buckets that fit:
    (interval, from, to) ranges, consecutive ones of one width merged (at most seven ranges)."""
    pieces: list[tuple[str, dt.datetime, dt.datetime]] = []
    cursor = _ceil_quarter(start)
    while cursor < end:
        width, following = RollupInterval.QUARTER.value, cursor + SLOT
        for candidate in (RollupInterval.MONTH, RollupInterval.DAY, RollupInterval.HOUR):
            if bucket_start(cursor, candidate) == cursor and bucket_end(cursor, candidate) <= end:
                width, following = candidate.value, bucket_end(cursor, candidate)
                break
        if pieces and pieces[-1][0] == width and pieces[-1][2] == cursor:
            pieces[-1] = (width, pieces[-1][1], following)
        else:
            pieces.append((width, cursor, following))
        cursor = following
    return pieces


def _cover(start: dt.datetime, end: dt.datetime) -> Q:
    condition = Q(pk__in=[])
    for width, first, following in _pieces(start, end):
        condition |= Q(interval=width, ts__gte=first, ts__lt=following)
    return condition


def _years(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) split at each 1 January (local): factor sets' grid factors are annual."""
    pieces = []
    cursor = start
    while cursor < end:
        following = min(end, midnight(dt.date(cursor.astimezone(ROLLUP_TZ).year + 1, 1, 1)))
        pieces.append((cursor, following))
        cursor = following
    return pieces


def _date_period(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """The days [first, last + 1) the instants span, for factor-set validity and the grid year."""
    first = start.astimezone(ROLLUP_TZ).date()
    local_end = end.astimezone(ROLLUP_TZ)
    last = local_end.date()
    if local_end != midnight(last):
        last += dt.timedelta(days=1)
    return first, max(last, first + dt.timedelta(days=1))


def _slots(start: dt.datetime, end: dt.datetime) -> int:
    """Quarter-hours starting in [start, end)."""
    first = _ceil_quarter(start)
    if end <= first:
        return 0
    return math.ceil((end - first) / SLOT)


def _to_decimal(value: float | None) -> Decimal:
    if not value:
        return Decimal(0)
    return Decimal(repr(float(value))).quantize(QUANTITY_PLACES).normalize() + Decimal(0)


def _fraction(numerator: float | Decimal, denominator: float | Decimal) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


# --- the queries ----------------------------------------------------------------------------------


def _of_meters(meter_ids: Sequence[int], enterprise_ids: Sequence[int] | None, *, active: bool = False) -> Q:
    """Rollups of the meters `meter_ids`, which are all the (`active`) meters of `enterprise_ids`
    when these are given: the condition then names the enterprises. The tenant scope joins each
    bucket's meter already, and a long id list checked against every bucket of that join costs
    more than reading the buckets (four times as much with 500 meters)."""
    if enterprise_ids is None:
        return Q(meter_id__in=list(meter_ids))
    condition = Q(meter__enterprise_id__in=list(enterprise_ids))
    return condition & Q(meter__is_active=True) if active else condition


def _sums_by_meter(meter_ids: Sequence[int], start: dt.datetime, end: dt.datetime,
                   enterprise_ids: Sequence[int] | None = None) -> dict[int, tuple[float, int]]:
    """meter id -> (consumption, received slots) in [start, end): one GROUP BY over the cover."""
    if not meter_ids:
        return {}
    rows = (Rollup.objects.filter(_cover(start, end), _of_meters(meter_ids, enterprise_ids))
            .values("meter_id").annotate(value=Sum("value"), received=Sum("received"))
            .values_list("meter_id", "value", "received"))
    return {meter_id: (value or 0.0, received or 0) for meter_id, value, received in rows}


def _gap_buckets(start: dt.datetime, end: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """The buckets (interval, start) that tile [start, end), widest first (`_pieces`), in time order."""
    buckets: list[tuple[str, dt.datetime]] = []
    for width, first, following in _pieces(start, end):
        cursor = first
        while cursor < following:
            buckets.append((width, cursor))
            cursor = bucket_end(cursor, width)
    return buckets


def _gaps(meter_ids: Sequence[int], start: dt.datetime, end: dt.datetime,
          enterprise_ids: Sequence[int] | None = None) -> dict[int, int]:
    """meter id -> its longest run of empty quarter-hours in [start, end), in minutes.

    Each stored bucket keeps its runs of empty slots (leading, trailing, longest), so the period's
    longest run is combined (`combine_gaps`) from the widest buckets that cover it (`_pieces`): a
    meter-year is 12 month rows, not 35 040 quarters. One query.
    """
    if not meter_ids or end <= start:
        return {}
    stored = {
        (meter_id, width, ts): GapSegment(expected, received, leading, trailing, longest)
        for meter_id, width, ts, expected, received, leading, trailing, longest in (
            Rollup.objects.filter(_cover(start, end), _of_meters(meter_ids, enterprise_ids, active=True))
            .values_list("meter_id", "interval", "ts", "expected", "received", "empty_leading",
                         "empty_trailing", "empty_longest")
        )
    }
    return _longest_gaps(meter_ids, _gap_buckets(start, end), stored)


def _longest_gaps(meter_ids: Sequence[int], buckets: Sequence[tuple[str, dt.datetime]],
                  stored: Mapping[tuple[int, str, dt.datetime], GapSegment]) -> dict[int, int]:
    """meter id -> its longest empty run over `buckets` (in minutes), from the stored buckets by
    (meter, interval, start). A bucket not stored is wholly empty, so a meter that sent nothing has
    a gap as long as the period."""
    missing = {(width, ts): GapSegment.empty(expected_slots(ts, width)) for width, ts in buckets}
    return {
        meter_id: combine_gaps(
            stored.get((meter_id, width, ts)) or missing[(width, ts)] for width, ts in buckets
        ).empty_longest * SLOT_MINUTES
        for meter_id in meter_ids
    }


def _lookback_start(last: dt.datetime) -> dt.datetime:
    """The first month stable months are looked for in, counting back from `last` (exclusive)."""
    first = last
    for _ in range(STABLE_LOOKBACK_MONTHS):
        first = bucket_start(first - dt.timedelta(days=1), RollupInterval.MONTH)
    return first


@dataclass(frozen=True)
class _KnownMonths:
    """Month buckets already read (by `_compute_months`): (meter id, start, received, leading empty
    run) of every bucket starting in [since, until)."""

    since: dt.datetime
    until: dt.datetime
    rows: list[tuple[int, dt.datetime, int, int]]


def _stable_months(meter_ids: Sequence[int], untils: Iterable[dt.datetime], known: _KnownMonths | None = None,
                   enterprise_ids: Sequence[int] | None = None) -> dict[dt.datetime, int]:
    """until -> consecutive complete-enough months ending with the last complete month before it.

    A meter is expected from its first received slot on (its first month bucket with data, less
    that bucket's leading empty run): a meter connected on the 20th does not make its first month
    look incomplete, nor one added this year make last year unstable. The month collection began
    at all counts only when it began on that month's first slot.

    Two aggregate queries for any number of `untils` (the months of a year ask twelve): the
    received slots per month, and each meter's first month with data and its leading run, over
    the union of their look-back windows less the months `known` already holds. A window that
    starts after some meter's first month asks its own first months (one more query; only with
    data older than the look-back).
    """
    # Exclusive: the month holding `until` is not complete yet (or starts at `until`).
    lasts = {until: bucket_start(until, RollupInterval.MONTH) for until in untils}
    if not meter_ids or not lasts:
        return dict.fromkeys(lasts, 0)
    windows = {last: _lookback_start(last) for last in set(lasts.values())}
    lowest, highest = min(windows.values()), max(windows)
    months = Rollup.objects.filter(_of_meters(meter_ids, enterprise_ids, active=True),
                                   interval=RollupInterval.MONTH, received__gt=0)
    # Months from `split` on are known already; those before it are read here.
    split = highest
    if known is not None and known.since <= highest <= known.until:
        split = max(lowest, known.since)
    unread = months.filter(ts__gte=lowest, ts__lt=split)
    received = {ts.astimezone(ROLLUP_TZ): count for ts, count in
                unread.values("ts").annotate(count=Sum("received")).values_list("ts", "count")}
    firsts = _first_months(unread) if received else {}
    if split < highest and known is not None:
        wanted = set(meter_ids)
        for meter_id, ts, got, leading in known.rows:
            if split <= ts < highest and got > 0 and meter_id in wanted:
                received[ts] = received.get(ts, 0) + got
                if meter_id not in firsts or ts < firsts[meter_id][0]:
                    firsts[meter_id] = (ts, leading)
    stable: dict[dt.datetime, int] = {}
    for last, first in windows.items():
        in_window = {ts: count for ts, count in received.items() if first <= ts < last}
        if not in_window:
            stable[last] = 0
            continue
        if any(since < first for since, _leading in firsts.values()):
            # That meter's first month in this window is a later one than its first in the union.
            starts = list(_first_months(months.filter(ts__gte=first, ts__lt=last)).values())
        else:
            starts = [(since, leading) for since, leading in firsts.values() if since < last]
        stable[last] = _stable_count(in_window, starts, last)
    return {until: stable[last] for until, last in lasts.items()}


def _stable_count(received: Mapping[dt.datetime, int], firsts: Iterable[tuple[dt.datetime, int]],
                  last: dt.datetime) -> int:
    """Stable months counted back from `last` (exclusive), from the window's received slots per month
    and its meters' (first month with data, that month's leading empty run)."""
    starts: dict[dt.datetime, int] = defaultdict(int)  # first month -> slots its meters miss in it
    counts: dict[dt.datetime, int] = defaultdict(int)  # first month -> meters starting then
    first_leading: dict[dt.datetime, int] = {}  # first month -> the earliest start's leading run
    for since, leading in firsts:
        counts[since] += 1
        starts[since] += leading or 0
        first_leading[since] = min(first_leading.get(since, leading or 0), leading or 0)
    # The month collection began counts only if it began on its first slot: a last quarter-hour
    # of September is not a stable month of September.
    began = min(counts)
    stable = 0
    month = last
    for _ in range(STABLE_LOOKBACK_MONTHS):
        month = bucket_start(month - dt.timedelta(days=1), RollupInterval.MONTH)
        counted = sum(n for since, n in counts.items() if since <= month)
        expected = counted * _slots(month, bucket_end(month, RollupInterval.MONTH)) - starts.get(month, 0)
        if expected <= 0 or received.get(month, 0) / expected < STABLE_COMPLETENESS:
            break
        if month == began and first_leading[began] > 0:
            break
        stable += 1
    return stable


def _first_months(months: Any) -> dict[int, tuple[dt.datetime, int]]:
    """meter id -> (first month bucket with data, its leading empty run) of each meter among `months`."""
    ordered = months.order_by("meter_id", "ts")
    if connection.vendor == "postgresql":  # DISTINCT ON walks the (meter, interval, ts) index
        rows = ordered.distinct("meter_id").values_list("meter_id", "ts", "empty_leading")
        return {meter_id: (ts.astimezone(ROLLUP_TZ), leading) for meter_id, ts, leading in rows}
    first: dict[int, tuple[dt.datetime, int]] = {}
    for meter_id, ts, leading in ordered.values_list("meter_id", "ts", "empty_leading"):
        first.setdefault(meter_id, (ts.astimezone(ROLLUP_TZ), leading))
    return first


def _polls(active: Sequence[_MeterRow]) -> dict[int, tuple[int, int]]:
    """meter id -> (polls ok, polls made) of the Modbus devices polling it (meters polled over Modbus
    only): the collector's counters, kept since the device was added, so not per period. Two queries."""
    ids = [m.id for m in active]
    if not ids:
        return {}
    devices: dict[int, set[int]] = defaultdict(set)
    points = ModbusPoint.objects.filter(meter_id__in=ids).values_list("meter_id", "device_id")
    for meter_id, device_id in points:
        devices[meter_id].add(device_id)
    if not devices:
        return {}
    polls = {pk: (ok, total) for pk, ok, total in ModbusDevice.objects.filter(
        pk__in={d for ds in devices.values() for d in ds}).values_list("id", "polls_ok", "polls_total")}
    return {
        meter_id: (sum(polls[d][0] for d in found if d in polls),
                   sum(polls[d][1] for d in found if d in polls))
        for meter_id, found in devices.items()
    }


def _communication(active: list[_MeterRow], polls: Mapping[int, tuple[int, int]],
                   sums: dict[int, tuple[float, int]], expected_each: int) -> float | None:
    if not active:
        return None
    rates: list[float] = []
    for meter in active:
        ok, total = polls.get(meter.id, (0, 0))
        if total:
            rates.append(ok / total)
        elif expected_each:
            rates.append(min(1.0, sums.get(meter.id, (0.0, 0))[1] / expected_each))
    return sum(rates) / len(rates) if rates else None


# --- figures --------------------------------------------------------------------------------------


@dataclass
class _Line:
    energy_type: str
    unit: str
    quantity: Decimal = Decimal(0)
    tce: Decimal = Decimal(0)
    tce_equivalent: Decimal | None = None
    co2_t: Decimal = Decimal(0)
    scope: int | None = None
    factor_missing: str = ""


@dataclass
class _Figures:
    lines: dict[tuple[str, str], _Line] = field(default_factory=dict)
    factor_sets: dict[str, None] = field(default_factory=dict)
    co2_by_scope: dict[str, Decimal] = field(default_factory=lambda: {"1": Decimal(0), "2": Decimal(0)})
    any_equivalent: bool = False

    @property
    def total_tce(self) -> Decimal:
        return sum((line.tce for line in self.lines.values()), Decimal(0))

    @property
    def total_tce_equivalent(self) -> Decimal | None:
        if not self.any_equivalent:
            return None
        return sum((line.tce_equivalent if line.tce_equivalent is not None else line.tce
                    for line in self.lines.values()), Decimal(0))

    @property
    def co2_t(self) -> Decimal:
        return sum(self.co2_by_scope.values(), Decimal(0))


def _preferred_units(meters: Iterable[_MeterRow]) -> dict[str, str]:
    """The unit each energy type is reported in: the one most of its meters use (ties: by name)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for meter in meters:
        counts[meter.energy_type][meter.unit] += 1
    return {energy: min(units, key=lambda unit: (-units[unit], unit)) for energy, units in counts.items()}


def _line_key(meter: _MeterRow, preferred: dict[str, str]) -> tuple[tuple[str, str], Decimal]:
    """(energy type, reported unit) of a meter's line, and the factor turning its unit into it."""
    target = preferred.get(meter.energy_type, meter.unit)
    if meter.unit == target:
        return (meter.energy_type, target), Decimal(1)
    here, there = UNIT_SCALES.get(meter.unit), UNIT_SCALES.get(target)
    if here is not None and there is not None and here[0] == there[0]:
        return (meter.energy_type, target), here[1] / there[1]
    return (meter.energy_type, meter.unit), Decimal(1)  # another dimension: a line of its own


@dataclass(frozen=True)
class _Factors:
    """The factor sets a computation converts with, and their factor rows: read once, whatever the
    number of periods, regions and calendar years it converts."""

    sets: list[FactorSet]
    rows: list[Factor]


def _factors(factor_sets: Sequence[FactorSet] | None) -> _Factors:
    sets = list(factor_sets) if factor_sets is not None else default_factor_sets()
    return _Factors(sets=sets, rows=factor_rows(sets))


def _add_figures(into: _Figures, meters: Iterable[_MeterRow], sums: dict[int, tuple[float, int]],
                 *, start: dt.datetime, end: dt.datetime, subject: _Subject,
                 factors: _Factors, preferred: dict[str, str]) -> None:
    """Add one calendar-year piece's consumption of `meters` (top-of-tree) and its tce and CO₂."""
    by_region: dict[int | None, dict[tuple[str, str], Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for meter in meters:
        value = sums.get(meter.id, (0.0, 0))[0]
        key, scale = _line_key(meter, preferred)
        region = subject.regions.get(meter.enterprise_id)
        by_region[region.pk if region is not None else None][key] += _to_decimal(value) * scale
        into.lines.setdefault(key, _Line(energy_type=key[0], unit=key[1]))
    regions = {r.pk: r for r in subject.regions.values() if r is not None}
    period = _date_period(start, end)
    for region_id, quantities in by_region.items():
        pending = dict(quantities)
        while pending:
            try:
                rows = [Quantity(energy, amount, unit) for (energy, unit), amount in pending.items()]
                figures = figures_for(rows, period=period, factor_sets=factors.sets, factors=factors.rows,
                                      region=regions.get(region_id) if region_id is not None else None)
            except MissingFactorError as error:
                key = (error.energy_type, error.unit)
                if key not in pending:
                    raise
                line = into.lines[key]
                line.quantity += pending.pop(key)
                line.factor_missing = str(error)
                continue
            for figure in figures.lines:
                line = into.lines[(figure.energy_type, figure.unit)]
                line.quantity += figure.quantity
                if line.factor_missing:
                    continue
                line.tce += figure.tce
                if figure.tce_generation is not None:
                    line.tce_equivalent = (line.tce_equivalent or Decimal(0)) + figure.tce_generation
                    into.any_equivalent = True
                if figure.co2_t is not None:
                    line.co2_t += figure.co2_t
                line.scope = line.scope or figure.scope
            for scope, amount in figures.co2_t_by_scope.items():
                into.co2_by_scope[scope] = into.co2_by_scope.get(scope, Decimal(0)) + amount
            for label in figures.factor_sets:
                into.factor_sets[label] = None
            break


# --- the computation ------------------------------------------------------------------------------
#
# One period's figures are assembled (`_assemble`) from what was read for it: the per-meter sums of
# each calendar-year piece, the longest gaps, the stable months, the production rows, the base
# period and the Modbus counters. `_compute` reads these for one period; `_compute_months` reads
# them once for a run of whole months (one query of month buckets for all of them) and assembles
# each month with the same rules.


@dataclass
class _Consumption:
    figures: _Figures
    sums: dict[int, tuple[float, int]]  # whole period, per meter
    piece_sums: list[_PieceSums]


_PieceSums = tuple[dt.datetime, dt.datetime, dict[int, tuple[float, int]]]  # (start, end, per meter)


def _consumption_of(subject: _Subject, pieces: Sequence[_PieceSums], factors: _Factors) -> _Consumption:
    """The figures of the subject's top-of-tree meters from the sums of each calendar-year piece."""
    preferred = _preferred_units(m for m in subject.meters if m.id in subject.top_ids)
    top = [m for m in subject.meters if m.id in subject.top_ids]
    figures = _Figures()
    total: dict[int, tuple[float, int]] = {}
    for piece_start, piece_end, sums in pieces:
        for meter_id, (value, received) in sums.items():
            before = total.get(meter_id, (0.0, 0))
            total[meter_id] = (before[0] + value, before[1] + received)
        _add_figures(figures, top, sums, start=piece_start, end=piece_end, subject=subject,
                     factors=factors, preferred=preferred)
    return _Consumption(figures=figures, sums=total, piece_sums=list(pieces))


def _consumption(subject: _Subject, start: dt.datetime, end: dt.datetime, factors: _Factors) -> _Consumption:
    ids = [m.id for m in subject.meters]
    pieces = [(piece_start, piece_end, _sums_by_meter(ids, piece_start, piece_end, subject.enterprise_ids))
              for piece_start, piece_end in _years(start, end)]
    return _consumption_of(subject, pieces, factors)


def _tce_of(meters: list[_MeterRow], consumption: _Consumption, subject: _Subject,
            factors: _Factors) -> Decimal | None:
    """tce of some of the subject's meters (their top-most ones), from sums already fetched."""
    top = [m for m in meters if m.id in _top_most(meters)]
    if not top:
        return None
    figures = _Figures()
    preferred = _preferred_units(top)
    for piece_start, piece_end, sums in consumption.piece_sums:
        _add_figures(figures, top, sums, start=piece_start, end=piece_end, subject=subject,
                     factors=factors, preferred=preferred)
    return figures.total_tce


_PRODUCTION_GROUPS = ("product", "unit", "site_node_id", "site_node__name")


def _production(subject: _Subject, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    if subject.production is None:
        return []
    first, following = _date_period(start, end)
    rows = (ProductionRecord.objects.filter(subject.production, month__gte=first, month__lt=following)
            .values(*_PRODUCTION_GROUPS)
            .annotate(quantity=Sum("quantity"), output=Sum("output_value_wan_yuan"))
            .order_by("product", "unit", "site_node_id"))
    return [dict(row) for row in rows]


def _production_by_month(subject: _Subject, start: dt.datetime, end: dt.datetime
                         ) -> dict[dt.date, list[dict[str, Any]]]:
    """`_production` of each month of [start, end) at once (records are kept per month, on its 1st)."""
    if subject.production is None:
        return {}
    first, following = _date_period(start, end)
    rows = (ProductionRecord.objects.filter(subject.production, month__gte=first, month__lt=following)
            .values("month", *_PRODUCTION_GROUPS)
            .annotate(quantity=Sum("quantity"), output=Sum("output_value_wan_yuan"))
            .order_by("month", "product", "unit", "site_node_id"))
    by_month: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        month = row.pop("month")
        by_month[month].append(dict(row))
    return by_month


class _NodeMeters:
    """The subject's meters installed in a site node's subtree, per node, read once per node."""

    def __init__(self, subject: _Subject) -> None:
        self.subject = subject
        self.found: dict[int, list[_MeterRow]] = {}

    def of(self, node_ids: Iterable[int]) -> dict[int, list[_MeterRow]]:
        wanted = set(node_ids)
        unknown = wanted - set(self.found)
        if unknown:
            for node in SiteNode.objects.filter(pk__in=unknown):
                subtree = _subtree(node)
                self.found[node.pk] = [m for m in self.subject.meters if m.site_node_id in subtree]
        return {pk: self.found[pk] for pk in wanted if pk in self.found}


def _unit_products(rows: list[dict[str, Any]], subject: _Subject, consumption: _Consumption,
                   total_tce: Decimal, factors: _Factors, nodes: _NodeMeters) -> list[UnitProductLine]:
    without_node = [row for row in rows if row["site_node_id"] is None]
    node_meters = nodes.of(row["site_node_id"] for row in rows if row["site_node_id"] is not None)
    lines = []
    for row in rows:
        quantity = Decimal(row["quantity"] or 0)
        if row["site_node_id"] is not None:
            tce = _tce_of(node_meters.get(row["site_node_id"], []), consumption, subject, factors)
        else:
            # Energy without a workshop or line can be attributed to a product only when it is the one.
            tce = total_tce if len(without_node) == 1 and subject.kind != "park" else None
        per_unit = tce / quantity if tce is not None and quantity else None
        lines.append(UnitProductLine(
            product=row["product"], unit=row["unit"], site_node_id=row["site_node_id"],
            site_node_name=row["site_node__name"] or "", quantity=quantity,
            output_value_wan_yuan=row["output"], tce=tce, tce_per_unit=per_unit,
            kgce_per_unit=per_unit * 1000 if per_unit is not None else None,
        ))
    return lines


def _output_value(rows: list[dict[str, Any]]) -> Decimal | None:
    values = [row["output"] for row in rows if row["output"] is not None]
    return sum(values, Decimal(0)) if values else None


@dataclass(frozen=True)
class _Base:
    """The enterprise's base period (`BasePeriod`) and its figures, read once per computation."""

    start: dt.datetime
    end: dt.datetime
    label: str  # e.g. "2023-01–2023-12"
    total_tce: Decimal
    output: Decimal | None

    @property
    def intensity(self) -> Decimal | None:
        return self.total_tce / self.output if self.output else None


def _base(subject: _Subject, factors: _Factors) -> _Base | None:
    if subject.kind not in ("enterprise", "park") or subject.enterprise is None:
        return None
    base = BasePeriod.objects.filter(enterprise_id=subject.enterprise.pk).first()
    if base is None:
        return None
    start = midnight(base.start_month.replace(day=1))
    end = bucket_end(midnight(base.end_month.replace(day=1)), RollupInterval.MONTH)
    return _Base(start=start, end=end, label=f"{base.start_month:%Y-%m}–{base.end_month:%Y-%m}",
                 total_tce=_consumption(subject, start, end, factors).figures.total_tce,
                 output=_output_value(_production(subject, start, end)))


def _saving(base: _Base | None, *, total_tce: Decimal, output: Decimal | None, start: dt.datetime,
            end: dt.datetime, now: dt.datetime
            ) -> tuple[Decimal | None, str | None, str | None, Decimal | None, Decimal | None]:
    """(saving rate, basis, base period label, base intensity, base tce) against the base period."""
    if base is None:
        return None, None, None, None, None
    base_intensity, base_tce = base.intensity, base.total_tce
    if base_intensity and output:
        rate = (base_intensity - total_tce / output) / base_intensity
        return rate, "intensity", base.label, base_intensity, base_tce
    days_base = Decimal((base.end - base.start) / dt.timedelta(days=1))
    # Up to now: this month so far is compared per day elapsed, not per day of the whole month.
    days = Decimal((min(end, now) - start) / dt.timedelta(days=1))
    if not base_tce or days <= 0:
        return None, None, base.label, base_intensity, base_tce
    per_day_base = base_tce / days_base
    rate = (per_day_base - total_tce / days) / per_day_base
    return rate, "daily_average", base.label, base_intensity, base_tce


def _pue(subject: _Subject, consumption: _Consumption) -> tuple[Decimal | None, Decimal | None]:
    if not subject.data_center or not subject.it_ids:
        return None, None

    def kwh(meter_ids: Iterable[int]) -> Decimal:
        total = Decimal(0)
        for meter in subject.meters:
            if meter.id in meter_ids and meter.energy_type == EnergyType.ELECTRICITY:
                base, scale = UNIT_SCALES.get(meter.unit, (meter.unit, Decimal(1)))
                if base == "kWh":
                    total += _to_decimal(consumption.sums.get(meter.id, (0.0, 0))[0]) * scale
        return total

    it_load = kwh(subject.it_ids)
    if not it_load:
        return None, it_load
    return kwh(subject.top_ids) / it_load, it_load


def _members_level_1(subject: _Subject, active: list[_MeterRow],
                     sums: dict[int, tuple[float, int]]) -> float | None:
    if subject.kind != "park":
        return None
    gates = [m for m in active if m.level == 1 and m.enterprise_id != subject.id]
    return _fraction(sum(1 for m in gates if sums.get(m.id, (0.0, 0))[1] > 0), len(gates))


def _period(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    start, end = start.astimezone(ROLLUP_TZ), end.astimezone(ROLLUP_TZ)
    if end <= start:
        raise ValueError("the period is empty: end must be after start")
    return start, end


@dataclass
class _Read:
    """What one period's figures are assembled from, however it was read."""

    consumption: _Consumption
    gaps: dict[int, int]  # active meter id -> longest gap, minutes
    stable_months: int
    production: list[dict[str, Any]]


@dataclass
class _Shared:
    """What every period of a computation shares: read once."""

    factors: _Factors
    base: _Base | None
    polls: dict[int, tuple[int, int]]
    nodes: _NodeMeters
    now: dt.datetime


def _shared(subject: _Subject, factor_sets: Sequence[FactorSet] | None, now: dt.datetime | None) -> _Shared:
    factors = _factors(factor_sets)
    return _Shared(factors=factors, base=_base(subject, factors), polls=_polls(_active(subject)),
                   nodes=_NodeMeters(subject), now=(now or timezone.now()).astimezone(ROLLUP_TZ))


def _active(subject: _Subject) -> list[_MeterRow]:
    return [m for m in subject.meters if m.is_active]


def _period_figures(subject: _Subject, *, start: dt.datetime, end: dt.datetime, consumption: _Consumption,
                    now: dt.datetime) -> PeriodFigures:
    """Consumption and coverage of one period from its sums: the rules every figure of a period
    shares, whether computed with the rest of the indicators or for many enterprises at once."""
    figures = consumption.figures
    active = _active(subject)
    expected_each = _slots(start, min(end, now))
    meters_by_level = {level: 0 for level in LEVELS}
    reporting_by_level = {level: 0 for level in LEVELS}
    received = 0
    for meter in active:
        meters_by_level[str(meter.level)] += 1
        got = consumption.sums.get(meter.id, (0.0, 0))[1]
        received += got
        if got > 0:
            reporting_by_level[str(meter.level)] += 1
    expected = expected_each * len(active)
    labels = dict(EnergyType.choices)
    lines = [
        EnergyLine(energy_type=line.energy_type, label=str(labels.get(line.energy_type, line.energy_type)),
                   quantity=line.quantity, unit=line.unit, tce=line.tce, tce_equivalent=line.tce_equivalent,
                   co2_t=line.co2_t, scope=line.scope, factor_missing=line.factor_missing)
        for line in sorted(figures.lines.values(), key=lambda line: (-line.tce, line.energy_type, line.unit))
    ]
    return PeriodFigures(
        start=start, end=end, by_energy_type=lines, total_tce=figures.total_tce,
        total_tce_equivalent=figures.total_tce_equivalent, co2_t=figures.co2_t,
        co2_by_scope=dict(figures.co2_by_scope), factor_sets=list(figures.factor_sets),
        missing_factors=[line.factor_missing for line in lines if line.factor_missing],
        meters_by_level=meters_by_level, reporting_by_level=reporting_by_level,
        access_rate={level: _fraction(reporting_by_level[level], meters_by_level[level]) for level in LEVELS},
        expected_slots=expected, received_slots=received,
        completeness=min(1.0, received / expected) if expected else None,
    )


def _assemble(subject: _Subject, *, start: dt.datetime, end: dt.datetime, read: _Read,
              shared: _Shared) -> Indicators:
    consumption = read.consumption
    period = _period_figures(subject, start=start, end=end, consumption=consumption, now=shared.now)
    active = _active(subject)
    expected_each = _slots(start, min(end, shared.now))
    longest = max(read.gaps.items(), key=lambda item: (item[1], -item[0]), default=None)
    codes = {m.id: m.code for m in active}
    stable = read.stable_months

    rows = read.production
    output = _output_value(rows)
    total_tce, co2 = period.total_tce, period.co2_t
    saving = _saving(shared.base, total_tce=total_tce, output=output, start=start, end=end, now=shared.now)
    pue, it_load = _pue(subject, consumption)
    return Indicators(
        start=start, end=end, by_energy_type=period.by_energy_type, total_tce=total_tce,
        total_tce_equivalent=period.total_tce_equivalent, co2_t=co2,
        co2_by_scope=period.co2_by_scope, output_value_wan_yuan=output,
        energy_intensity=total_tce / output if output else None,
        carbon_intensity=co2 / output if output else None,
        unit_products=_unit_products(rows, subject, consumption, total_tce, shared.factors, shared.nodes),
        saving_rate=saving[0], meters_by_level=period.meters_by_level,
        reporting_by_level=period.reporting_by_level, access_rate=period.access_rate,
        expected_slots=period.expected_slots, received_slots=period.received_slots,
        completeness=period.completeness,
        communication_success_rate=_communication(active, shared.polls, consumption.sums, expected_each),
        longest_gap_minutes=longest[1] if longest else 0, stable_months=stable,
        stable_six_months=stable >= STABLE_MONTHS_REQUIRED, pue=pue, factor_sets=period.factor_sets,
        subject_kind=subject.kind, subject_id=subject.id, subject_name=subject.name,
        missing_factors=period.missing_factors,
        saving_rate_basis=saving[1], base_period=saving[2], base_energy_intensity=saving[3],
        base_total_tce=saving[4], it_load_kwh=it_load,
        longest_gap_meter=codes.get(longest[0]) if longest and longest[1] else None,
        members=subject.members,
        members_access_rate_1=_members_level_1(subject, active, consumption.sums),
    )


def _compute(subject: _Subject, *, start: dt.datetime, end: dt.datetime,
             factor_sets: Sequence[FactorSet] | None, now: dt.datetime | None = None) -> Indicators:
    """One period's figures: a handful of queries (sums per calendar-year piece, gaps, stable months,
    production, base period, Modbus counters), whatever its length."""
    start, end = _period(start, end)
    shared = _shared(subject, factor_sets, now)
    active_ids = [m.id for m in _active(subject)]
    until = min(end, shared.now)
    read = _Read(
        consumption=_consumption(subject, start, end, shared.factors),
        gaps=(_gaps(active_ids, _ceil_quarter(start), until, subject.enterprise_ids)
              if _slots(start, until) else {}),
        stable_months=_stable_months(active_ids, [until], enterprise_ids=subject.enterprise_ids)[until],
        production=_production(subject, start, end),
    )
    return _assemble(subject, start=start, end=end, read=read, shared=shared)


def _month_starts(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The calendar months [month, next month) of [start, end), which must begin and end on a 1st."""
    start, end = _period(start, end)
    if bucket_start(start, RollupInterval.MONTH) != start or bucket_start(end, RollupInterval.MONTH) != end:
        raise ValueError("start and end must be the first instants of calendar months (00:00 on a 1st)")
    months = []
    cursor = start
    while cursor < end:
        following = bucket_end(cursor, RollupInterval.MONTH)
        months.append((cursor, following))
        cursor = following
    return months


def _compute_months(subject: _Subject, *, start: dt.datetime, end: dt.datetime,
                    factor_sets: Sequence[FactorSet] | None, now: dt.datetime | None = None
                    ) -> list[Indicators]:
    """`_compute` of each calendar month of [start, end), from one read of their month buckets.

    A whole month is covered by its month bucket (`_pieces`), so one query of the month buckets
    answers every month's per-meter sums and, for each month over by `now`, its longest gaps (the
    bucket's empty runs); the month `now` falls in reads its gaps up to now (one query). Stable
    months, production, the base period and the Modbus counters are read once for all months.
    """
    months = _month_starts(start, end)
    shared = _shared(subject, factor_sets, now)
    active_ids = [m.id for m in _active(subject)]
    ids = [m.id for m in subject.meters]
    sums: dict[dt.datetime, dict[int, tuple[float, int]]] = defaultdict(dict)
    stored: dict[tuple[int, str, dt.datetime], GapSegment] = {}
    known = _KnownMonths(since=months[0][0], until=months[-1][1], rows=[])
    for meter_id, ts, value, expected, received, leading, trailing, longest in (
        Rollup.objects.filter(_of_meters(ids, subject.enterprise_ids), interval=RollupInterval.MONTH,
                              ts__gte=known.since,
                              ts__lt=known.until)
        .values_list("meter_id", "ts", "value", "expected", "received", "empty_leading", "empty_trailing",
                     "empty_longest")
    ) if ids else ():
        ts = ts.astimezone(ROLLUP_TZ)
        # As `_sums_by_meter`'s SUM over the one bucket that covers the month.
        sums[ts][meter_id] = (value or 0.0, received or 0)
        stored[(meter_id, RollupInterval.MONTH.value, ts)] = GapSegment(expected, received, leading, trailing,
                                                                        longest)
        known.rows.append((meter_id, ts, received, leading))
    untils = [min(month_end, shared.now) for _month, month_end in months]
    # The look-back before the first month is read; the months themselves are known.
    stable = _stable_months(active_ids, untils, known, subject.enterprise_ids)
    production = _production_by_month(subject, months[0][0], months[-1][1])
    results = []
    for (month, month_end), until in zip(months, untils, strict=True):
        if not _slots(month, until):
            gaps: dict[int, int] = {}
        elif until == month_end:
            gaps = _longest_gaps(active_ids, [(RollupInterval.MONTH.value, month)], stored)
        else:
            gaps = _gaps(active_ids, month, until, subject.enterprise_ids)
        read = _Read(
            consumption=_consumption_of(subject, [(month, month_end, sums.get(month, {}))], shared.factors),
            gaps=gaps, stable_months=stable[until], production=production.get(month.date(), []),
        )
        results.append(_assemble(subject, start=month, end=month_end, read=read, shared=shared))
    return results


# --- the interface --------------------------------------------------------------------------------


def enterprise_indicators(enterprise: Enterprise, *, start: dt.datetime, end: dt.datetime,
                          factor_sets: Sequence[FactorSet] | None = None) -> Indicators:
    """Indicators of one enterprise's own meters (a park's own: use park_indicators for its roll-up)."""
    return _compute(_enterprise_subject(enterprise), start=start, end=end, factor_sets=factor_sets)


def park_indicators(park: Enterprise, *, start: dt.datetime, end: dt.datetime,
                    factor_sets: Sequence[FactorSet] | None = None) -> Indicators:
    """A park's roll-up: its public-area meters plus every member enterprise's figures."""
    return _compute(_park_subject(park), start=start, end=end, factor_sets=factor_sets)


def site_node_indicators(node: SiteNode, *, start: dt.datetime, end: dt.datetime,
                         factor_sets: Sequence[FactorSet] | None = None) -> Indicators:
    """A workshop or line: the top-most meters installed in its subtree."""
    return _compute(_site_node_subject(node), start=start, end=end, factor_sets=factor_sets)


def meter_indicators(meter: Meter, *, start: dt.datetime, end: dt.datetime,
                     factor_sets: Sequence[FactorSet] | None = None) -> Indicators:
    return _compute(_meter_subject(meter), start=start, end=end, factor_sets=factor_sets)


def _subject_of(subject: Enterprise | SiteNode | Meter) -> _Subject:
    if isinstance(subject, Enterprise):
        if subject.kind == Enterprise.Kind.PARK:
            return _park_subject(subject)
        return _enterprise_subject(subject)
    if isinstance(subject, SiteNode):
        return _site_node_subject(subject)
    if isinstance(subject, Meter):
        return _meter_subject(subject)
    raise TypeError(f"no indicators for {type(subject).__name__}")


def indicators_for(subject: Enterprise | SiteNode | Meter, *, start: dt.datetime, end: dt.datetime,
                   factor_sets: Sequence[FactorSet] | None = None) -> Indicators:
    """Dispatch on the subject; an Enterprise of kind park gets its roll-up."""
    return _compute(_subject_of(subject), start=start, end=end, factor_sets=factor_sets)


def indicators_by_month(subject: Enterprise | SiteNode | Meter, *, start: dt.datetime, end: dt.datetime,
                        factor_sets: Sequence[FactorSet] | None = None) -> list[Indicators]:
    """The figures of each calendar month of [start, end) (both the 1st of a month, 00:00), oldest
    first: the same as `indicators_for` of each month, in one pass over their month buckets (a
    dozen queries for a year, whatever the number of meters)."""
    return _compute_months(_subject_of(subject), start=start, end=end, factor_sets=factor_sets)


def monthly_indicators(subject: Enterprise | SiteNode | Meter, *, year: int,
                       factor_sets: Sequence[FactorSet] | None = None) -> list[Indicators]:
    """The twelve months of `year`, January first (`indicators_by_month`)."""
    start, end = period_bounds(year=year)
    return indicators_by_month(subject, start=start, end=end, factor_sets=factor_sets)


def figures_of_enterprises(enterprises: Sequence[Enterprise], *, start: dt.datetime, end: dt.datetime,
                           now: dt.datetime | None = None, factor_sets: Sequence[FactorSet] | None = None
                           ) -> dict[int, PeriodFigures | FactorError]:
    """enterprise id -> the consumption and coverage figures of each enterprise (a park: with its
    members) for [start, end), or the factor error that keeps them from being computed.

    The `Indicators` rules (`_period_figures`) for any number of enterprises in a fixed number of
    queries: the subjects' meters (three), the factor sets (two), one grouped query of rollup sums
    per calendar year of the period. Gaps, stable months and production are not computed here
    (`indicators_for` has them).
    """
    start, end = _period(start, end)
    now = (now or timezone.now()).astimezone(ROLLUP_TZ)
    subjects = _enterprise_subjects(enterprises)
    factors = _factors(factor_sets)
    ids = sorted({m.id for subject in subjects.values() for m in subject.meters})
    enterprise_ids = sorted({pk for subject in subjects.values() for pk in subject.enterprise_ids or ()})
    pieces = [(piece_start, piece_end, _sums_by_meter(ids, piece_start, piece_end, enterprise_ids))
              for piece_start, piece_end in _years(start, end)]
    result: dict[int, PeriodFigures | FactorError] = {}
    for pk, subject in subjects.items():
        own = {m.id for m in subject.meters}
        subject_pieces = [(piece_start, piece_end, {k: v for k, v in sums.items() if k in own})
                          for piece_start, piece_end, sums in pieces]
        try:
            consumption = _consumption_of(subject, subject_pieces, factors)
        except FactorError as error:  # an unusable or ambiguous set: this one cannot be converted
            result[pk] = error
            continue
        result[pk] = _period_figures(subject, start=start, end=end, consumption=consumption, now=now)
    return result


__all__ = [
    "STABLE_COMPLETENESS",
    "STABLE_MONTHS_REQUIRED",
    "EnergyLine",
    "Indicators",
    "PeriodFigures",
    "UnitProductLine",
    "enterprise_indicators",
    "figures_of_enterprises",
    "indicators_by_month",
    "indicators_for",
    "meter_indicators",
    "monthly_indicators",
    "park_indicators",
    "period_bounds",
    "site_node_indicators",
]
