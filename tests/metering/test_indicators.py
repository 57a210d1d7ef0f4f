"""Indicators (metering/monitoring/indicators.py) from real rollups, with hand-computed figures.

Readings go in through the ingest service and rollups are recomputed by the real task, as in
test_rollups.py; every expected figure is worked out by hand beside it (factors from DOMAIN.md).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from metering.ingest.services import readings_ingest
from metering.models import EnergyType, Meter, SiteNode
from metering.monitoring.indicators import (
    STABLE_COMPLETENESS,
    enterprise_indicators,
    indicators_for,
    meter_indicators,
    monthly_indicators,
    park_indicators,
    period_bounds,
    site_node_indicators,
)
from metering.monitoring.production import base_period_set, production_record_create
from metering.monitoring.tasks import recompute_rollups
from portal.access import enterprise_scope, reach_scope
from tests.metering.test_ingest import make_meter
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

CST = dt.timezone(dt.timedelta(hours=8))
MARCH = dt.datetime(2025, 3, 1, tzinfo=CST)
APRIL = dt.datetime(2025, 4, 1, tzinfo=CST)
DAY = dt.datetime(2025, 3, 10, tzinfo=CST)
QUARTER = dt.timedelta(minutes=15)
# Henan's grid factor for 2025: the latest published year, 2022, 0.6058 kgCO₂/kWh (statistical set).
HENAN_GRID = Decimal("0.6058")
# Natural gas, tCO₂ per 10⁴ m³: 389.31 GJ × 0.0153 tC/GJ × 0.99 × 44/12 (the guideline's formula).
GAS_T_CO2_PER_10K_M3 = Decimal("389.31") * Decimal("0.0153") * Decimal("0.99") * 44 * 1000 / 12 / 1000


def ingest(enterprise_id: int, code: str, points: list[tuple[dt.datetime, float]]) -> None:
    with enterprise_scope(enterprise_id):
        result = readings_ingest(
            enterprise_id=enterprise_id, source="http",
            items=[{"meter": code, "ts": ts.isoformat(), "value": value} for ts, value in points],
        )
    assert result.accepted == len(points), result.as_dict()


def every_quarter(start: dt.datetime, end: dt.datetime, *, step: float, first: float = 0.0,
                  skip: set[int] = frozenset()) -> list[tuple[dt.datetime, float]]:  # type: ignore[assignment]
    """A cumulative register read every 15 minutes over [start, end), plus the reading just before
    `start` (so the first quarter's consumption is known); slot numbers in `skip` stay silent."""
    points = [(start - QUARTER, first)]
    value, slot, ts = first, 0, start
    while ts < end:
        if slot not in skip:
            value += step
            points.append((ts, value))
        ts += QUARTER
        slot += 1
    return points


def approx(value: Decimal | None, places: int = 9) -> Decimal:
    assert value is not None
    return round(value, places)


def test_a_month_of_electricity_and_gas_gives_135_043_tce_split_by_scope(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-1")
    make_meter(world.tenant_a, "G-1", energy_type=EnergyType.NATURAL_GAS, unit="m³")
    ingest(world.tenant_a.pk, "E-1", [(MARCH - QUARTER, 0.0), (MARCH + dt.timedelta(days=14), 400_000.0),
                                      (APRIL - QUARTER, 1_000_000.0)])
    ingest(world.tenant_a.pk, "G-1", [(MARCH - QUARTER, 100.0), (APRIL - QUARTER, 10_100.0)])
    recompute_rollups()

    start, end = period_bounds(month=dt.date(2025, 3, 17))
    assert (start, end) == (MARCH, APRIL)
    with enterprise_scope(world.tenant_a.pk):
        figures = enterprise_indicators(world.tenant_a, start=start, end=end)

    # 1,000,000 kWh × 0.1229 kgce/kWh = 122.9 tce; 10,000 m³ × 1.2143 kgce/m³ = 12.143 tce.
    assert figures.total_tce == Decimal("135.043")
    lines = {line.energy_type: line for line in figures.by_energy_type}
    assert (lines["electricity"].quantity, lines["electricity"].unit, lines["electricity"].tce) == (
        Decimal("1000000"), "kWh", Decimal("122.9"))
    assert (lines["natural_gas"].quantity, lines["natural_gas"].unit, lines["natural_gas"].tce) == (
        Decimal("10000"), "m³", Decimal("12.143"))
    assert lines["electricity"].label == "电力" and lines["electricity"].scope == 2
    assert lines["natural_gas"].scope == 1
    # Scope 2: 1,000,000 kWh × 0.6058 kg/kWh = 605.8 t; scope 1: 1 × 10⁴ m³ × 21.6218881 t.
    assert figures.co2_by_scope["2"] == Decimal("605.8") == lines["electricity"].co2_t
    assert approx(figures.co2_by_scope["1"]) == approx(GAS_T_CO2_PER_10K_M3) == Decimal("21.621888090")
    assert figures.co2_t == figures.co2_by_scope["1"] + figures.co2_by_scope["2"]
    assert figures.total_tce_equivalent is None  # the shipped set has no 等价值 factor
    assert figures.factor_sets == [
        "GB/T 2589 折标准煤系数（通用折标系数表（2020 版修改了附录））",
        "电力二氧化碳排放因子（统计口径）（2024 年发布（2021、2022 年度因子））",
        "化石燃料燃烧排放因子（行业指南缺省值）（行业核算指南缺省值（具体为哪一行业指南尚待核实））",
    ]
    assert figures.start.utcoffset() == dt.timedelta(hours=8) and figures.missing_factors == []
    assert (figures.subject_kind, figures.subject_id) == ("enterprise", world.tenant_a.pk)


def test_a_meter_silent_for_three_quarter_hours_shows_96_875_percent_and_a_45_minute_gap(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-GAP")
    # Slots 40, 41, 42 (10:00–10:45) silent; every other quarter-hour of the day holds a reading.
    ingest(world.tenant_a.pk, "E-GAP", every_quarter(DAY, DAY + dt.timedelta(days=1), step=1.0,
                                                     skip={40, 41, 42}))
    recompute_rollups()

    with enterprise_scope(world.tenant_a.pk):
        figures = meter_indicators(meter, start=DAY, end=DAY + dt.timedelta(days=1))
        whole = enterprise_indicators(world.tenant_a, start=DAY, end=DAY + dt.timedelta(days=1))
    assert (figures.expected_slots, figures.received_slots) == (96, 93)
    assert figures.completeness == 0.96875 == whole.completeness
    assert figures.longest_gap_minutes == 45 == whole.longest_gap_minutes
    assert whole.longest_gap_meter == "E-GAP"
    assert figures.communication_success_rate == 0.96875  # no Modbus: received ÷ expected
    assert figures.by_energy_type[0].quantity == Decimal(93)

    # A period of a few hours, covered by quarter and hour buckets: 09:30–11:15 holds 7 slots,
    # 3 of them silent, the gap still 45 minutes.
    with enterprise_scope(world.tenant_a.pk):
        part = meter_indicators(meter, start=DAY + dt.timedelta(hours=9, minutes=30),
                                end=DAY + dt.timedelta(hours=11, minutes=15))
    assert (part.expected_slots, part.received_slots, part.longest_gap_minutes) == (7, 4, 45)
    # The register steps 1 per reading: the readings of 09:30, 09:45, 10:45 (the interval from
    # 09:45, counted whole in the quarter of its end) and 11:00.
    assert part.by_energy_type[0].quantity == Decimal(4)


def test_a_register_that_resets_mid_month_still_sums_through_the_indicators(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-RESET")
    hours = 31 * 24
    reset_at = 14 * 24 + 12  # 2025-03-15 12:00: the meter was replaced and reads 1.0
    points = [(MARCH - dt.timedelta(hours=1), 1000.0)]
    for index in range(hours):
        value = 1000.0 + 2.0 * (index + 1) if index < reset_at else 1.0 + 2.0 * (index - reset_at)
        points.append((MARCH + dt.timedelta(hours=index), value))
    ingest(world.tenant_a.pk, "E-RESET", points)
    recompute_rollups()

    with enterprise_scope(world.tenant_a.pk):
        month = enterprise_indicators(world.tenant_a, start=MARCH, end=APRIL)
        cut = MARCH + dt.timedelta(days=14, hours=13)
        halves = [enterprise_indicators(world.tenant_a, start=s, end=e)
                  for s, e in ((MARCH, cut), (cut, APRIL))]
    # 743 intervals of +2 kWh and the reset counted as the 1.0 read since it.
    assert month.by_energy_type[0].quantity == Decimal(743 * 2 + 1)
    assert month.total_tce == Decimal(1487) * Decimal("0.1229") / 1000
    assert sum(h.by_energy_type[0].quantity for h in halves) == Decimal(1487)
    # Hourly readings: 744 of 2976 quarter-hours.
    assert (month.expected_slots, month.received_slots) == (2976, 744) and month.completeness == 0.25
    assert month.longest_gap_minutes == 45


def test_access_rates_per_level_count_active_meters_and_consumption_counts_top_of_tree_only(world) -> None:  # type: ignore[no-untyped-def]
    workshop = _node(world.tenant_a, SiteNode.Kind.WORKSHOP, "轧钢车间")
    line = _node(world.tenant_a, SiteNode.Kind.LINE, "一号产线", parent=workshop)
    gate = make_meter(world.tenant_a, "A-GATE")
    sub = make_meter(world.tenant_a, "B-SUB", level=2, parent=gate, site_node=workshop)
    make_meter(world.tenant_a, "C-SUB-SILENT", level=2, parent=gate)
    make_meter(world.tenant_a, "D-EQUIP", level=3, parent=sub, site_node=line)
    make_meter(world.tenant_a, "E-EQUIP-SILENT", level=3, parent=sub, site_node=workshop)
    make_meter(world.tenant_a, "X-RETIRED", level=3, is_active=False)
    day_end = DAY + dt.timedelta(days=1)
    ingest(world.tenant_a.pk, "A-GATE", every_quarter(DAY, day_end, step=10.0))
    ingest(world.tenant_a.pk, "B-SUB", every_quarter(DAY, day_end, step=4.0))
    ingest(world.tenant_a.pk, "D-EQUIP", every_quarter(DAY, day_end, step=1.0))
    recompute_rollups()

    with enterprise_scope(world.tenant_a.pk):
        figures = indicators_for(world.tenant_a, start=DAY, end=day_end)
        at_workshop = site_node_indicators(workshop, start=DAY, end=day_end)
        at_line = indicators_for(line, start=DAY, end=day_end)

    # The gate meter alone: its children measure part of what it measures.
    assert [(line.energy_type, line.quantity) for line in figures.by_energy_type] == [
        ("electricity", Decimal(960))]
    assert figures.meters_by_level == {"1": 1, "2": 2, "3": 2}  # the retired meter does not count
    assert figures.reporting_by_level == {"1": 1, "2": 1, "3": 1}
    assert figures.access_rate == {"1": 1.0, "2": 0.5, "3": 0.5}
    assert (figures.expected_slots, figures.received_slots) == (5 * 96, 3 * 96)
    assert figures.completeness == 0.6
    assert figures.longest_gap_minutes == 24 * 60
    assert figures.longest_gap_meter == "C-SUB-SILENT"
    assert figures.communication_success_rate == pytest.approx(3 / 5)
    # The workshop: B-SUB is its top-most meter (D and E sit below it); the line: D alone.
    assert at_workshop.by_energy_type[0].quantity == Decimal(384)
    assert at_workshop.meters_by_level == {"1": 0, "2": 1, "3": 2}
    assert at_workshop.access_rate == {"1": None, "2": 1.0, "3": 0.5}
    assert at_line.by_energy_type[0].quantity == Decimal(96) and at_line.subject_kind == "site_node"


def test_intensities_and_unit_product_consumption_from_entered_production(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-1")
    make_meter(world.tenant_a, "G-1", energy_type=EnergyType.NATURAL_GAS, unit="m³")
    ingest(world.tenant_a.pk, "E-1", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1_000_000.0)])
    ingest(world.tenant_a.pk, "G-1", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 10_000.0)])
    recompute_rollups()
    with enterprise_scope(world.tenant_a.pk):
        production_record_create(enterprise=world.tenant_a, fields={
            "month": dt.date(2025, 3, 1), "product": "热轧钢卷", "quantity": Decimal(1000), "unit": "t",
            "output_value_wan_yuan": Decimal(100)})
        # Another month's record does not count in March.
        production_record_create(enterprise=world.tenant_a, fields={
            "month": dt.date(2025, 4, 1), "product": "热轧钢卷", "quantity": Decimal(900), "unit": "t",
            "output_value_wan_yuan": Decimal(90)})
        figures = enterprise_indicators(world.tenant_a, start=MARCH, end=APRIL)

    assert figures.output_value_wan_yuan == Decimal(100)
    assert figures.energy_intensity == Decimal("1.35043")  # 135.043 tce ÷ 100 万元
    co2 = Decimal("605.8") + GAS_T_CO2_PER_10K_M3
    assert approx(figures.carbon_intensity) == approx(co2 / 100)
    [product] = figures.unit_products
    assert (product.product, product.unit, product.quantity) == ("热轧钢卷", "t", Decimal(1000))
    assert product.tce == Decimal("135.043") and product.kgce_per_unit == Decimal("135.043")  # kgce/t


def test_unit_product_consumption_of_a_line_uses_the_line_meters(world) -> None:  # type: ignore[no-untyped-def]
    line = _node(world.tenant_a, SiteNode.Kind.LINE, "冷轧线")
    gate = make_meter(world.tenant_a, "E-GATE")
    make_meter(world.tenant_a, "E-LINE", level=2, parent=gate, site_node=line)
    ingest(world.tenant_a.pk, "E-GATE", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 50_000.0)])
    ingest(world.tenant_a.pk, "E-LINE", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 20_000.0)])
    recompute_rollups()
    with enterprise_scope(world.tenant_a.pk):
        production_record_create(enterprise=world.tenant_a, fields={
            "month": dt.date(2025, 3, 1), "site_node": line, "product": "冷轧板", "quantity": Decimal(400),
            "unit": "t"})
        figures = enterprise_indicators(world.tenant_a, start=MARCH, end=APRIL)
    [product] = figures.unit_products
    # 20,000 kWh × 0.1229 = 2.458 tce for 400 t: 6.145 kgce/t.
    assert product.tce == Decimal("2.458") and product.kgce_per_unit == Decimal("6.145")
    assert product.site_node_name == "冷轧线"
    assert figures.output_value_wan_yuan is None and figures.energy_intensity is None


def test_saving_rate_against_the_base_period(world) -> None:  # type: ignore[no-untyped-def]
    february = dt.datetime(2025, 2, 1, tzinfo=CST)
    make_meter(world.tenant_a, "E-1")
    ingest(world.tenant_a.pk, "E-1", [(february - QUARTER, 0.0), (MARCH - QUARTER, 1_000_000.0),
                                      (APRIL - QUARTER, 1_900_000.0)])
    recompute_rollups()
    with enterprise_scope(world.tenant_a.pk):
        base_period_set(enterprise=world.tenant_a, fields={
            "start_month": dt.date(2025, 2, 1), "end_month": dt.date(2025, 2, 1), "note": "改造前"})
        by_day = enterprise_indicators(world.tenant_a, start=MARCH, end=APRIL)
        for month, value in ((2, 100), (3, 100)):
            production_record_create(enterprise=world.tenant_a, fields={
                "month": dt.date(2025, month, 1), "product": "钢材", "quantity": Decimal(1000), "unit": "t",
                "output_value_wan_yuan": Decimal(value)})
        by_output = enterprise_indicators(world.tenant_a, start=MARCH, end=APRIL)

    # Base: 122.9 tce / 100 万元 = 1.229; March: 110.61 / 100 = 1.1061; (1.229 − 1.1061) / 1.229 = 0.1.
    assert by_output.saving_rate == Decimal("0.1") and by_output.saving_rate_basis == "intensity"
    assert by_output.base_period == "2025-02–2025-02" and by_output.base_total_tce == Decimal("122.9")
    # No production data yet: tce per day, 122.9 / 28 days against 110.61 / 31 days.
    expected = (Decimal("122.9") / 28 - Decimal("110.61") / 31) / (Decimal("122.9") / 28)
    assert by_day.saving_rate_basis == "daily_average"
    assert approx(by_day.saving_rate) == approx(expected) == Decimal("0.187096774")


def test_pue_of_a_data_center_and_the_park_roll_up(world) -> None:  # type: ignore[no-untyped-def]
    total = make_meter(world.outsider, "DC-TOTAL")
    make_meter(world.outsider, "DC-IT", level=2, parent=total, is_it_load=True)
    make_meter(world.park, "PARK-PUBLIC")
    ingest(world.outsider.pk, "DC-TOTAL", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1500.0)])
    ingest(world.outsider.pk, "DC-IT", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1000.0)])
    ingest(world.park.pk, "PARK-PUBLIC", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 200.0)])
    recompute_rollups()

    with enterprise_scope(world.outsider.pk):
        center = enterprise_indicators(world.outsider, start=MARCH, end=APRIL)
    assert center.pue == Decimal("1.5") and center.it_load_kwh == Decimal(1000)  # 1500 ÷ 1000 kWh
    with reach_scope(world.user("park_admin")):
        park = indicators_for(world.park, start=MARCH, end=APRIL)
        alone = enterprise_indicators(world.park, start=MARCH, end=APRIL)
    # The public area (200 kWh) plus the member's gate meter (1500 kWh; its IT meter is inside it).
    assert park.by_energy_type[0].quantity == Decimal(1700) and park.subject_kind == "park"
    assert park.members == 1 and park.pue is None
    assert park.meters_by_level == {"1": 2, "2": 1, "3": 0}
    # Shanghai's grid factor for 2025: 2022's 0.5849 kg/kWh.
    assert park.co2_by_scope["2"] == Decimal(1700) * Decimal("0.5849") / 1000
    assert alone.by_energy_type[0].quantity == Decimal(200)
    with reach_scope(world.user("park_admin")):
        assert park_indicators(world.park, start=MARCH, end=APRIL).total_tce == park.total_tce


def test_stable_months_count_back_from_the_last_complete_month(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-STABLE")
    october = dt.datetime(2024, 10, 1, tzinfo=CST)
    # One reading at the end of September (the meter started then: September is nowhere near
    # complete), then every quarter-hour from October to March: six complete months.
    ingest(world.tenant_a.pk, "E-STABLE", every_quarter(october, APRIL, step=1.0))
    recompute_rollups()

    with enterprise_scope(world.tenant_a.pk):
        to_april = enterprise_indicators(world.tenant_a, start=MARCH, end=APRIL)
        mid_march = enterprise_indicators(world.tenant_a, start=MARCH, end=MARCH + dt.timedelta(days=14))
        months = monthly_indicators(world.tenant_a, year=2025)
    assert to_april.stable_months == 6 and to_april.stable_six_months
    assert to_april.stable_threshold == STABLE_COMPLETENESS == 0.9
    assert mid_march.stable_months == 5 and not mid_march.stable_six_months  # October–February
    assert [m.start.month for m in months] == list(range(1, 13))
    assert [m.completeness for m in months[:3]] == [1.0, 1.0, 1.0]
    assert months[3].received_slots == 0 and months[3].completeness == 0.0


def test_an_energy_type_without_a_factor_is_named_not_counted_as_zero(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "S-1", energy_type=EnergyType.STEAM, unit="t")
    make_meter(world.tenant_a, "E-1")
    ingest(world.tenant_a.pk, "S-1", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 50.0)])
    ingest(world.tenant_a.pk, "E-1", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1000.0)])
    recompute_rollups()
    with enterprise_scope(world.tenant_a.pk):
        figures = enterprise_indicators(world.tenant_a, start=MARCH, end=APRIL)
    lines = {line.energy_type: line for line in figures.by_energy_type}
    assert lines["steam"].quantity == Decimal(50) and "steam" in lines["steam"].factor_missing
    assert figures.missing_factors == [lines["steam"].factor_missing]
    assert figures.total_tce == Decimal("0.1229")  # the electricity alone, and it says so


def test_periods_must_be_aware_and_not_empty(world) -> None:  # type: ignore[no-untyped-def]
    with enterprise_scope(world.tenant_a.pk), pytest.raises(ValueError, match="empty"):
        enterprise_indicators(world.tenant_a, start=APRIL, end=MARCH)
    with enterprise_scope(world.tenant_a.pk), pytest.raises(ValueError, match="aware"):
        enterprise_indicators(world.tenant_a, start=dt.datetime(2025, 3, 1), end=dt.datetime(2025, 4, 1))


def _node(enterprise, kind: str, name: str, parent: SiteNode | None = None) -> SiteNode:  # type: ignore[no-untyped-def]
    with unscoped():  # test setup
        return SiteNode.objects.create(enterprise=enterprise, kind=kind, name=name, parent=parent)


assert Meter  # the model the helpers create
