"""The batched monthly indicators (`indicators_by_month`, `monthly_indicators`) against one
indicators computation per month: every figure the same, month by month.

The data is a year of an enterprise with a meter tree of three levels and four energy types (one
without a factor), a line with its own production, a silent stretch across the February–March
boundary, a meter that starts in July and one retired in May, a Modbus-polled meter, monthly
production with output values and a base period; and a data center member of a park. Readings go
in through the ingest service and rollups are recomputed by the real task, as in
test_indicators.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metering.models import EnergyType, SiteNode
from metering.monitoring import indicators
from metering.monitoring.indicators import (
    indicators_by_month,
    indicators_for,
    meter_indicators,
    monthly_indicators,
    period_bounds,
    site_node_indicators,
)
from metering.monitoring.production import base_period_set, production_record_create
from metering.monitoring.tasks import recompute_rollups
from portal.access import enterprise_scope, reach_scope
from tests.metering.registry_factories import modbus_device_for, modbus_point_for
from tests.metering.test_indicators import _node, ingest
from tests.metering.test_ingest import make_meter
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

CST = dt.timezone(dt.timedelta(hours=8))
YEAR = 2025
HOUR = dt.timedelta(hours=1)
QUARTER = dt.timedelta(minutes=15)


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = YEAR) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CST)


def register(start: dt.datetime, end: dt.datetime, every: dt.timedelta, *, per_hour: float,
             silent: tuple[tuple[dt.datetime, dt.datetime], ...] = ()) -> list[tuple[dt.datetime, float]]:
    """A cumulative register read every `every` over [start, end), rising `per_hour`, with a reading
    just before `start`; readings inside a `silent` range are missing (the register keeps rising)."""
    points = [(start - every, 0.0)]
    ts = start
    while ts < end:
        if not any(first <= ts < last for first, last in silent):
            points.append((ts, round(per_hour * ((ts - start + every) / HOUR), 6)))
        ts += every
    return points


def then(earlier: list[tuple[dt.datetime, float]],
         later: list[tuple[dt.datetime, float]]) -> list[tuple[dt.datetime, float]]:
    """`later` continuing the register where `earlier` left it (its lead-in reading dropped)."""
    offset = earlier[-1][1]
    return earlier + [(ts, value + offset) for ts, value in later[1:]]


def months_of(year: int) -> list[tuple[dt.datetime, dt.datetime]]:
    return [period_bounds(month=dt.date(year, month, 1)) for month in range(1, 13)]


def as_dicts(figures: list[indicators.Indicators]) -> list[dict[str, object]]:
    return [dataclasses.asdict(month) for month in figures]


@pytest.fixture
def year_of_data(world):  # type: ignore[no-untyped-def]
    a = world.tenant_a
    line = _node(a, SiteNode.Kind.LINE, "冷轧线")
    gate = make_meter(a, "E-GATE")
    make_meter(a, "E-LINE", level=2, parent=gate, site_node=line)
    make_meter(a, "E-WS", level=3, parent=gate, site_node=line)  # starts in July
    make_meter(a, "G-1", energy_type=EnergyType.NATURAL_GAS, unit="m³")
    make_meter(a, "W-1", energy_type=EnergyType.WATER, unit="t", level=2)
    make_meter(a, "S-1", energy_type=EnergyType.STEAM, unit="t")  # no factor in the shipped sets
    retired = make_meter(a, "E-OLD")  # retired in May: then counts in consumption only
    polled = make_meter(a, "E-POLLED", level=2, parent=gate)
    modbus_point_for(a, device=modbus_device_for(a, polls_ok=45, polls_total=50), meter=polled)

    # The gate every quarter-hour in the first quarter, silent from 27 February 12:00 to 2 March
    # 06:00 (a gap across the month boundary), then hourly; and its December before (the base period).
    gate_points = then(then(
        register(at(12, 1, year=YEAR - 1), at(1, 1), HOUR, per_hour=900.0),
        register(at(1, 1), at(4, 1), QUARTER, per_hour=1000.0, silent=((at(2, 27, 12), at(3, 2, 6)),))),
        register(at(4, 1), at(12, 31), HOUR, per_hour=1100.0))
    ingest(a.pk, "E-GATE", gate_points)
    ingest(a.pk, "E-LINE", register(at(1, 1), at(12, 31), 2 * HOUR, per_hour=300.0,
                                    silent=((at(6, 28), at(7, 3)),)))
    ingest(a.pk, "E-WS", register(at(7, 15, 10, 30), at(12, 31), HOUR, per_hour=80.0))
    ingest(a.pk, "G-1", register(at(1, 1, 8), at(12, 31), 24 * HOUR, per_hour=5.0))
    ingest(a.pk, "W-1", register(at(1, 1, 3), at(12, 31), 6 * HOUR, per_hour=2.0))
    ingest(a.pk, "S-1", register(at(3, 1), at(5, 1), 12 * HOUR, per_hour=0.5))
    ingest(a.pk, "E-OLD", register(at(1, 1), at(6, 1), 6 * HOUR, per_hour=50.0))
    ingest(a.pk, "E-POLLED", register(at(2, 1), at(9, 1), 4 * HOUR, per_hour=20.0))

    center = world.outsider  # a data center, member of the park
    total = make_meter(center, "DC-TOTAL")
    make_meter(center, "DC-IT", level=2, parent=total, is_it_load=True)
    make_meter(world.park, "PARK-PUBLIC")
    ingest(center.pk, "DC-TOTAL", register(at(1, 1), at(12, 31), 3 * HOUR, per_hour=150.0))
    ingest(center.pk, "DC-IT", register(at(1, 1), at(12, 31), 3 * HOUR, per_hour=100.0,
                                        silent=((at(9, 30), at(10, 2)),)))
    ingest(world.park.pk, "PARK-PUBLIC", register(at(5, 1), at(12, 31), 12 * HOUR, per_hour=10.0))
    recompute_rollups()
    with unscoped():  # test setup: the meter is retired once its readings are in
        type(retired).objects.filter(pk=retired.pk).update(is_active=False)

    with enterprise_scope(a.pk):
        for month in range(1, 7):
            production_record_create(enterprise=a, fields={
                "month": dt.date(YEAR, month, 1), "product": "热轧钢卷", "quantity": Decimal(1000 + month),
                "unit": "t", "output_value_wan_yuan": Decimal(500 + 10 * month)})
        for month in (3, 8):  # the line's own product (its meters' tce per tonne)
            production_record_create(enterprise=a, fields={
                "month": dt.date(YEAR, month, 1), "site_node": line, "product": "冷轧板",
                "quantity": Decimal(400), "unit": "t"})
        production_record_create(enterprise=a, fields={  # the base period's output
            "month": dt.date(YEAR - 1, 12, 1), "product": "热轧钢卷", "quantity": Decimal(950), "unit": "t",
            "output_value_wan_yuan": Decimal(480)})
        base_period_set(enterprise=a, fields={"start_month": dt.date(YEAR - 1, 12, 1),
                                              "end_month": dt.date(YEAR - 1, 12, 1), "note": "改造前"})
    with unscoped():
        gate.refresh_from_db()
    return world, line, gate


def test_a_year_month_by_month_equals_one_computation_per_month(year_of_data) -> None:  # type: ignore[no-untyped-def]
    world, line, gate = year_of_data
    with enterprise_scope(world.tenant_a.pk):
        batched = monthly_indicators(world.tenant_a, year=YEAR)
        each = [indicators_for(world.tenant_a, start=start, end=end) for start, end in months_of(YEAR)]
        at_line = monthly_indicators(line, year=YEAR)
        line_each = [site_node_indicators(line, start=start, end=end) for start, end in months_of(YEAR)]
        at_gate = monthly_indicators(gate, year=YEAR)
        gate_each = [meter_indicators(gate, start=start, end=end) for start, end in months_of(YEAR)]

    assert as_dicts(batched) == as_dicts(each)
    assert as_dicts(at_line) == as_dicts(line_each)
    assert as_dicts(at_gate) == as_dicts(gate_each)
    # The data is what the comparison is meant to exercise, not twelve empty months.
    february, march, july = batched[1], batched[2], batched[6]
    assert [m.start for m in batched] == [start for start, _end in months_of(YEAR)]
    # The gate's silence from 27 February 12:00 to 2 March 06:00: 36 hours in February, 30 in March.
    assert (at_gate[1].longest_gap_minutes, at_gate[2].longest_gap_minutes) == (36 * 60, 30 * 60)
    # The enterprise's longest: the workshop meter, which begins in July, misses all of March.
    assert march.longest_gap_minutes == 31 * 24 * 60 and march.longest_gap_meter == "E-WS"
    assert {line.energy_type for line in march.by_energy_type} == {
        "electricity", "natural_gas", "water", "steam"}
    steam = {m.start.month: line.quantity for m in batched for line in m.by_energy_type
             if line.energy_type == "steam"}
    assert steam[3] > 0 and steam[7] == 0 and march.missing_factors == july.missing_factors != []
    assert february.energy_intensity is not None and july.energy_intensity is None
    assert march.saving_rate_basis == "intensity" and july.saving_rate_basis == "daily_average"
    assert batched[0].reporting_by_level["3"] == 0 and july.reporting_by_level["3"] == 1
    assert [product.product for product in march.unit_products] == ["冷轧板", "热轧钢卷"]
    assert all(product.tce for product in march.unit_products)
    assert march.communication_success_rate is not None and 0 < march.communication_success_rate < 1
    assert [m.stable_months for m in at_gate[:4]] == [1, 2, 3, 0]


def test_the_park_and_its_data_center_month_by_month(year_of_data) -> None:  # type: ignore[no-untyped-def]
    world, _line, _gate = year_of_data
    with reach_scope(world.user("park_admin")):
        park = monthly_indicators(world.park, year=YEAR)
        park_each = [indicators_for(world.park, start=start, end=end) for start, end in months_of(YEAR)]
    with enterprise_scope(world.outsider.pk):
        center = monthly_indicators(world.outsider, year=YEAR)
        center_each = [indicators_for(world.outsider, start=start, end=end) for start, end in months_of(YEAR)]
    assert as_dicts(park) == as_dicts(park_each)
    assert as_dicts(center) == as_dicts(center_each)
    assert park[5].members == 1 and park[5].members_access_rate_1 == 1.0
    assert center[0].pue == Decimal("1.5") and center[9].longest_gap_minutes > 0


def test_a_year_still_running_counts_up_to_now_and_expects_nothing_of_the_future(year_of_data) -> None:  # type: ignore[no-untyped-def]
    world, line, _gate = year_of_data
    now = at(8, 14, 10, 20)  # mid-August: August counts to 10:15, September on expects nothing
    start, end = period_bounds(year=YEAR)
    with enterprise_scope(world.tenant_a.pk):
        for subject in (indicators._enterprise_subject(world.tenant_a), indicators._site_node_subject(line)):
            batched = indicators._compute_months(subject, start=start, end=end, factor_sets=None, now=now)
            each = [indicators._compute(subject, start=a, end=b, factor_sets=None, now=now)
                    for a, b in months_of(YEAR)]
            assert as_dicts(batched) == as_dicts(each)
    august, september = batched[7], batched[8]  # the line: two active meters
    # Quarter-hours begun from 1 August to 14 August 10:20: 13 days and 42 (10:15 has begun).
    assert august.expected_slots == 2 * (13 * 96 + 42) and september.expected_slots == 0
    assert september.completeness is None and september.stable_months == august.stable_months


def test_stable_months_with_data_older_than_some_months_look_back(world) -> None:  # type: ignore[no-untyped-def]
    """Months from May on look back five years to after June 2020: the meter's first month in their
    window is a later one than in the earlier months' windows."""
    meter = make_meter(world.tenant_a, "E-LONG")
    ingest(world.tenant_a.pk, "E-LONG", then(
        register(at(6, 1, year=2020), at(7, 1, year=2020), QUARTER, per_hour=10.0),
        register(at(6, 1), at(9, 1), QUARTER, per_hour=10.0)))
    recompute_rollups()
    with enterprise_scope(world.tenant_a.pk):
        batched = monthly_indicators(meter, year=YEAR)
        each = [meter_indicators(meter, start=start, end=end) for start, end in months_of(YEAR)]
    assert as_dicts(batched) == as_dicts(each)
    # June to August complete; May (a register reading at its last quarter-hour) does not count.
    assert [m.stable_months for m in batched[5:9]] == [1, 2, 3, 0]


def test_a_year_of_months_costs_a_fixed_few_queries(year_of_data) -> None:  # type: ignore[no-untyped-def]
    world, _line, _gate = year_of_data
    start, end = period_bounds(year=YEAR)
    with enterprise_scope(world.tenant_a.pk), CaptureQueriesContext(connection) as captured:
        months = indicators_by_month(world.tenant_a, start=start, end=end)
    assert len(months) == 12
    # Meters, factor sets and their rows, the base period (its record, sums, production), the Modbus
    # points and devices, the month buckets, stable months (2), production, the line (2). Twelve
    # computations of one month each ask about ten times as many.
    assert len(captured.captured_queries) <= 14


def test_months_must_be_whole(world) -> None:  # type: ignore[no-untyped-def]
    with enterprise_scope(world.tenant_a.pk), pytest.raises(ValueError, match="calendar months"):
        indicators_by_month(world.tenant_a, start=at(1, 1), end=at(3, 15))
    with enterprise_scope(world.tenant_a.pk), pytest.raises(ValueError, match="empty"):
        indicators_by_month(world.tenant_a, start=at(3, 1), end=at(1, 1))
