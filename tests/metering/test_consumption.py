"""Consumption from registers: rollover, reset, gaps, quality flags (pure functions, plain data),
plus the selector over stored readings."""

from __future__ import annotations

import datetime as dt

import pytest

from metering.storage.consumption import (
    QUALITY_ESTIMATED,
    QUALITY_MISSING,
    QUALITY_OK,
    QUALITY_SUSPECT,
    consumption_from_intervals,
    consumption_from_register,
    typical_interval,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_steady_register_gives_differences_with_quality_ok() -> None:
    points = [(at(0), 100.0), (at(15), 110.0), (at(30), 125.5)]
    assert consumption_from_register(points) == [
        (at(0), at(15), 10.0, QUALITY_OK),
        (at(15), at(30), 15.5, QUALITY_OK),
    ]


def test_points_in_any_order_and_repeated_timestamps() -> None:
    points = [(at(30), 130.0), (at(0), 100.0), (at(15), 110.0), (at(15), 999.0)]
    assert [i.amount for i in consumption_from_register(points)] == [10.0, 20.0]


def test_rollover_with_register_max_is_ok() -> None:
    points = [(at(0), 99_990.0), (at(15), 99_998.0), (at(30), 5.0), (at(45), 12.0)]
    intervals = consumption_from_register(points, register_max=100_000.0)
    assert intervals[1] == (at(15), at(30), 7.0, QUALITY_OK)  # 100000 - 99998 + 5
    assert [i.quality for i in intervals] == [QUALITY_OK] * 3


def test_drop_without_register_max_is_a_reset_flagged_suspect() -> None:
    points = [(at(0), 5_000.0), (at(15), 5_010.0), (at(30), 3.0), (at(45), 9.0)]
    intervals = consumption_from_register(points)
    assert intervals[1] == (at(15), at(30), 3.0, QUALITY_SUSPECT)
    assert intervals[2] == (at(30), at(45), 6.0, QUALITY_OK)


def test_implausible_rollover_is_treated_as_a_reset() -> None:
    # From 1 000 to 50 on a 100 000 register would be 99 050 units in 15 minutes: a reset, not a wrap.
    points = [(at(0), 990.0), (at(15), 1_000.0), (at(30), 50.0)]
    intervals = consumption_from_register(points, register_max=100_000.0)
    assert intervals[1] == (at(15), at(30), 50.0, QUALITY_SUSPECT)


def test_max_plausible_amount_flags_spikes_and_limits_rollovers() -> None:
    points = [(at(0), 0.0), (at(15), 10.0), (at(30), 500.0)]
    intervals = consumption_from_register(points, max_plausible_amount=100.0)
    assert intervals[1] == (at(15), at(30), 490.0, QUALITY_SUSPECT)
    wrap = [(at(0), 0.0), (at(15), 99_000.0), (at(30), 500.0)]
    assert consumption_from_register(wrap, register_max=100_000.0, max_plausible_amount=1000.0)[
        1
    ].quality == (QUALITY_SUSPECT)


def test_gap_longer_than_typical_interval_is_missing() -> None:
    points = [(at(0), 0.0), (at(15), 1.0), (at(30), 2.0), (at(45), 3.0), (at(180), 12.0), (at(195), 13.0)]
    intervals = consumption_from_register(points)
    assert typical_interval([p[0] for p in points]) == dt.timedelta(minutes=15)
    assert intervals[3] == (at(45), at(180), 9.0, QUALITY_MISSING)
    assert [i.quality for i in intervals].count(QUALITY_MISSING) == 1


def test_point_quality_propagates_to_its_intervals() -> None:
    points = [(at(0), 0.0, QUALITY_OK), (at(15), 1.0, QUALITY_ESTIMATED), (at(30), 2.0, QUALITY_OK)]
    assert [i.quality for i in consumption_from_register(points)] == [QUALITY_ESTIMATED, QUALITY_ESTIMATED]


def test_fewer_than_two_points_give_no_intervals() -> None:
    assert consumption_from_register([]) == []
    assert consumption_from_register([(at(0), 1.0)]) == []


def test_interval_meter_values_are_the_consumption_and_gaps_are_filled_as_missing() -> None:
    points = [(at(15), 2.0), (at(30), 3.0), (at(45), -1.0), (at(120), 4.0)]
    assert consumption_from_intervals(points) == [
        (at(0), at(15), 2.0, QUALITY_OK),
        (at(15), at(30), 3.0, QUALITY_OK),
        (at(30), at(45), -1.0, QUALITY_SUSPECT),
        (at(45), at(105), 0.0, QUALITY_MISSING),
        (at(105), at(120), 4.0, QUALITY_OK),
    ]


@pytest.mark.django_db
def test_consumption_series_reads_stored_readings_including_the_one_before_start(world) -> None:  # type: ignore[no-untyped-def]
    from metering.ingest.services import readings_ingest
    from metering.models import EnergyType, Meter
    from metering.storage.selectors import consumption_series

    meter = Meter.objects.create(
        enterprise=world.tenant_a,
        code="E-1",
        name="总表",
        level=1,
        energy_type=EnergyType.ELECTRICITY,
        unit="kWh",
        register_max=1000.0,
    )
    values = [990.0, 995.0, 2.0, 10.0]
    readings_ingest(
        enterprise_id=world.tenant_a.pk,
        source="http",
        items=[{"meter": "E-1", "ts": at(15 * i).isoformat(), "value": v} for i, v in enumerate(values)],
    )
    series = consumption_series(meter, at(10), at(45))
    assert series == [
        (at(0), at(15), 5.0, QUALITY_OK),
        (at(15), at(30), 7.0, QUALITY_OK),
        (at(30), at(45), 8.0, QUALITY_OK),
    ]
