"""The binary COPY of ingest (metering/ingest/writers.py) against the text COPY it replaced.

The encoder builds PostgreSQL's binary COPY format by hand (psycopg2 has no writer for it): the
rows COPYed from it must be exactly those the text format gave, to the microsecond and to the
bit, and a batch written that way must keep every per-item guarantee (rejections, quarantine).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metering.ingest.services import (
    EARLIEST_READING_TS,
    ERR_TS_NO_OFFSET,
    ERR_TS_TYPE,
    ERR_UNKNOWN_METER,
    ERR_VALUE_MISSING,
    ERR_VALUE_NOT_FINITE,
    ERR_VALUE_TYPE,
    VALID_QUALITIES,
    VALID_SOURCES,
    readings_ingest,
)
from metering.ingest.writers import COPY_COLUMN_LIST, _binary_copy_data, _copy_from_memory
from metering.models import EnergyType, Meter, QuarantinedMessage, Reading
from tests.scoping import unscoped

START = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
COLUMNS = (
    "(meter_id bigint, ts timestamptz, value double precision, quality smallint, "
    "source varchar(8), received_at timestamptz)"
)


def text_copy_data(
    rows: list[tuple[int, dt.datetime, float, int]], source: str, received_at: dt.datetime
) -> bytes:
    """The text COPY buffer ingest wrote before the binary one (the reference)."""
    tail = f"\t{source}\t{received_at.astimezone(dt.UTC).isoformat()}\n"
    return "".join(
        f"{meter_id}\t{ts.isoformat()}\t{value!r}\t{quality}{tail}" for meter_id, ts, value, quality in rows
    ).encode()


def copied(table: str, data: bytes, *, binary: bool) -> list[tuple[Any, ...]]:
    """COPY `data` into a fresh temporary table; its rows with each float as its 8 stored bytes."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMPORARY TABLE {table} {COLUMNS}")
        binary_option = " BINARY" if binary else ""
        _copy_from_memory(cursor, f"COPY {table} ({COPY_COLUMN_LIST}) FROM STDIN{binary_option}", data)
        cursor.execute(
            f"SELECT meter_id, ts, float8send(value), value, quality, source, received_at FROM {table} "  # noqa: S608
            "ORDER BY meter_id, ts"
        )
        return [(m, ts, bytes(bits), value, q, s, r) for m, ts, bits, value, q, s, r in cursor.fetchall()]


# Validated readings: finite floats (any: subnormal, -0.0, the largest), instants from 1990 (before
# PostgreSQL's 2000 epoch too) to now, to the microsecond.
instants = st.datetimes(
    min_value=EARLIEST_READING_TS.replace(tzinfo=None),
    max_value=dt.datetime(2026, 1, 1),
    timezones=st.just(dt.UTC),
)
rows_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=2**63 - 1),
        instants,
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(sorted(VALID_QUALITIES)),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda row: (row[0], row[1]),
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, source=st.sampled_from(sorted(VALID_SOURCES)), received_at=instants)
def test_binary_copy_stores_exactly_what_the_text_copy_stored(rows, source, received_at) -> None:  # type: ignore[no-untyped-def]
    by_text = copied("copy_text", text_copy_data(rows, source, received_at), binary=False)
    by_binary = copied("copy_binary", _binary_copy_data(rows, source, received_at), binary=True)
    assert by_binary == by_text
    # And both are the rows given: the instant to the microsecond, the float to the bit (-0.0 too).
    expected = sorted(rows)
    assert [(m, ts, bits, q, s, r) for m, ts, bits, _v, q, s, r in by_binary] == [
        (meter_id, ts, struct.pack(">d", value), quality, source, received_at)
        for meter_id, ts, value, quality in expected
    ]


@pytest.mark.django_db
def test_binary_copy_edge_values_round_trip() -> None:
    received_at = dt.datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    edge_values = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                   -1.7976931348623157e308, 0.1, 1e22, 123456789012345.67, -1e-300]
    rows = [
        (1, dt.datetime(1990, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=n * 999_983), value, n % 4)
        for n, value in enumerate(edge_values)
    ]
    rows.append((2**63 - 1, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), 42.0, 0))  # the epoch itself: 0 µs
    by_binary = copied("copy_binary", _binary_copy_data(rows, "modbus", received_at), binary=True)
    assert by_binary == copied("copy_text", text_copy_data(rows, "modbus", received_at), binary=False)
    stored = {(m, ts): (bits, value, q) for m, ts, bits, value, q, _s, _r in by_binary}
    for meter_id, ts, value, quality in rows:
        bits, stored_value, stored_quality = stored[(meter_id, ts)]
        assert bits == struct.pack(">d", value) and stored_quality == quality
        assert math.copysign(1.0, stored_value) == math.copysign(1.0, value)
    assert {r for *_rest, r in by_binary} == {received_at}


def make_meter(enterprise: Any, code: str) -> Meter:
    with unscoped():  # test setup
        return Meter.objects.create(enterprise=enterprise, code=code, name=code, level=1,
                                    energy_type=EnergyType.ELECTRICITY, unit="kWh")


def stamp(minutes: int) -> str:
    return (START + dt.timedelta(minutes=minutes)).isoformat()


# transaction=True: ingest then runs its own transaction, as in the collectors, where the direct
# COPY is the transaction's first statement and needs no savepoint.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_bad_reading_among_good_ones_is_reported_alone_on_the_binary_path(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "B-001")
    items: list[Any] = [{"meter": "B-001", "ts": stamp(n), "value": 10.0 + n} for n in range(6)]
    items[2] = {"meter": "B-001", "ts": stamp(2), "value": "12"}  # a string, not a number
    items.insert(4, {"meter": "B-001", "ts": stamp(99), "value": float("nan")})
    items.append({"meter": "X-404", "ts": stamp(7), "value": 1.0})
    items.append({"meter": "B-001", "ts": "2025-06-01T00:08:00", "value": 1.0})
    items.append({"meter": "B-001", "ts": [stamp(9)], "value": 1.0})  # unhashable: no cache lookup
    items.append({"meter": "B-001", "ts": stamp(1), "value": 99.0})  # a duplicate within the batch
    with CaptureQueriesContext(connection) as queries:
        result = readings_ingest(enterprise_id=world.tenant_a.pk, items=items, source="mqtt", channel="t/b")
    assert result.as_dict() == {
        "accepted": 5,
        "duplicates": 1,
        "rejected": [
            {"index": 2, "error": ERR_VALUE_TYPE},
            {"index": 4, "error": ERR_VALUE_NOT_FINITE},
            {"index": 7, "error": ERR_UNKNOWN_METER},
            {"index": 8, "error": ERR_TS_NO_OFFSET},
            {"index": 9, "error": ERR_TS_TYPE},
        ],
    }
    # The direct COPY opened the transaction: no savepoint was needed around it.
    assert not [q["sql"] for q in queries.captured_queries if "SAVEPOINT" in q["sql"].upper()]
    with unscoped():
        stored = dict(Reading.objects.filter(meter=meter).values_list("ts", "value"))
        quarantined = list(QuarantinedMessage.objects.filter(enterprise=world.tenant_a)
                           .order_by("item_index").values_list("item_index", "reason", "channel"))
    assert stored == {START + dt.timedelta(minutes=n): 10.0 + n for n in (0, 1, 3, 4, 5)}
    assert quarantined == [(2, ERR_VALUE_TYPE, "t/b"), (4, ERR_VALUE_NOT_FINITE, "t/b"),
                           (7, ERR_UNKNOWN_METER, "t/b"), (8, ERR_TS_NO_OFFSET, "t/b"),
                           (9, ERR_TS_TYPE, "t/b")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_resend_outside_any_transaction_is_redone_through_staging(world) -> None:  # type: ignore[no-untyped-def]
    """The direct COPY meets the stored readings; its transaction is rolled back and the batch goes
    through staging in a new one: the new readings are stored, the stored ones kept, the bad item
    quarantined once (not once per attempt)."""
    meter = make_meter(world.tenant_a, "R-001")
    first = [{"meter": "R-001", "ts": stamp(n), "value": float(n)} for n in range(0, 6, 2)]
    assert readings_ingest(enterprise_id=world.tenant_a.pk, items=first, source="http").accepted == 3
    again = [{"meter": "R-001", "ts": stamp(n), "value": 100.0 + n} for n in range(6)]
    again.append({"meter": "R-001", "ts": stamp(7), "value": None})
    result = readings_ingest(enterprise_id=world.tenant_a.pk, items=again, source="mqtt")
    assert result.as_dict() == {
        "accepted": 3, "duplicates": 3, "rejected": [{"index": 6, "error": ERR_VALUE_MISSING}]
    }
    with unscoped():
        stored = dict(Reading.objects.filter(meter=meter).values_list("ts", "value"))
        assert QuarantinedMessage.objects.filter(enterprise=world.tenant_a, item_index=6).count() == 1
    assert stored == {
        START + dt.timedelta(minutes=n): float(n) if n % 2 == 0 else 100.0 + n for n in range(6)
    }
    meter.refresh_from_db()
    assert meter.last_reading_at == START + dt.timedelta(minutes=5)
