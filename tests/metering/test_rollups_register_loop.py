"""The rollups' loop for cumulative registers (`register_quarters`) against the general path it
stands in for: `consumption_from_register` then `quarters_from_readings` (metering/storage), on
any readings: resets, rollovers, gaps, qualities, spacings known or not, windows cut anywhere."""

from __future__ import annotations

import datetime as dt
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from metering.monitoring.rollups import (
    QUARTER_US,
    UNIX_EPOCH,
    _micros,
    quarters_from_readings,
    register_quarters,
)
from metering.storage.consumption import consumption_from_register

DAY_US = 86_400 * 1_000_000
BASE_US = _micros(dt.datetime(2025, 3, 30, 16, tzinfo=dt.UTC))  # a local midnight (+08:00)


def general_path(points, register_max, spacing, start_us, end_us):  # type: ignore[no-untyped-def]
    rows = [(UNIX_EPOCH + dt.timedelta(microseconds=us), value, quality) for us, value, quality in points]
    start = UNIX_EPOCH + dt.timedelta(microseconds=start_us)
    end = UNIX_EPOCH + dt.timedelta(microseconds=end_us)
    intervals = consumption_from_register(rows, register_max, typical=spacing)
    instants = [ts for ts, _value, _quality in rows if start <= ts < end]
    kept = [interval for interval in intervals if start <= interval.end < end]
    return quarters_from_readings(instants, kept)


def exact(quarters):  # type: ignore[no-untyped-def]
    """The figures with each value as its 8 bytes: -0.0 and 0.0 differ, as stored."""
    return {start: (struct.pack(">d", f.value), f.expected, f.received, f.quality, f.empty_leading,
                    f.empty_trailing, f.empty_longest) for start, f in quarters.items()}


values = st.one_of(
    st.floats(min_value=-10.0, max_value=2100.0, allow_nan=False),  # resets and rollovers of 2000
    st.sampled_from([0.0, -0.0, 1999.75, 2000.0, 0.25, 1e-9]),
)
# Offsets within two days, to the microsecond, often on round minutes and near quarter boundaries.
offsets = st.one_of(
    st.integers(min_value=0, max_value=2 * DAY_US),
    st.integers(min_value=0, max_value=2 * 96).map(lambda n: n * QUARTER_US),
    st.integers(min_value=1, max_value=2 * 96).flatmap(
        lambda n: st.integers(min_value=-2, max_value=2).map(lambda d: n * QUARTER_US + d)),
    st.integers(min_value=0, max_value=2 * 1440).map(lambda n: n * 60_000_000),
    st.integers(min_value=0, max_value=90).map(lambda n: n * 60_000_000),  # dense: steps of 1, 3, 5 min…
)


@settings(max_examples=400, deadline=None)
@given(
    raw=st.lists(st.tuples(offsets, values, st.integers(min_value=0, max_value=3)), max_size=60,
                 unique_by=lambda point: point[0]),
    register_max=st.sampled_from([None, 0.0, 2000.0, 1000.5]),
    spacing=st.one_of(
        st.none(),
        st.sampled_from([dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=15)]),
        st.integers(min_value=1, max_value=3 * 3_600_000_000).map(lambda us: dt.timedelta(microseconds=us)),
    ),
    # Windows from any instant, or from one the readings fall on (quarters, minutes).
    window=st.tuples(offsets, st.one_of(st.integers(min_value=0, max_value=DAY_US), offsets)),
)
def test_the_register_loop_gives_what_the_general_path_gives(raw, register_max, spacing, window) -> None:  # type: ignore[no-untyped-def]
    points = sorted((BASE_US + offset, value, quality) for offset, value, quality in raw)
    start_us = BASE_US + window[0]
    end_us = start_us + window[1]
    expected = general_path(points, register_max, spacing, start_us, end_us)
    assert exact(register_quarters(points, register_max, spacing, start_us, end_us)) == exact(expected)


def test_a_reset_a_rollover_and_a_gap_in_one_quarter_hour_by_hand() -> None:
    minute = 60_000_000
    points = [
        (BASE_US, 1990.0, 0),
        (BASE_US + minute, 1999.0, 0),  # +9
        (BASE_US + 2 * minute, 3.0, 1),  # rollover of 2000: +4, estimated
        (BASE_US + 3 * minute, 1.0, 0),  # a reset: 1.0, suspect
        (BASE_US + 14 * minute, 2.0, 0),  # 11 minutes after: a gap against 1 minute × 3, missing
        (BASE_US + 15 * minute, 2.5, 0),  # the next quarter
        (BASE_US + 18 * minute, 3.0, 0),  # 3 minutes: exactly 3 × the spacing, not a gap yet
    ]
    quarters = register_quarters(points, 2000.0, dt.timedelta(minutes=1), BASE_US, BASE_US + 30 * minute)
    first, second = (quarters[start] for start in sorted(quarters))
    assert (first.value, first.received, first.quality) == (9.0 + 4.0 + 1.0 + 1.0, 1, 3)
    assert (second.value, second.quality) == (1.0, 0)
    assert exact(quarters) == exact(general_path(points, 2000.0, dt.timedelta(minutes=1), BASE_US,
                                                 BASE_US + 30 * minute))
