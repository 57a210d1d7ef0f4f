"""A second baseline: the same rows as the text COPY baseline, sent as PostgreSQL's binary COPY format.

Built by hand with `struct` (psycopg2 has no binary COPY writer), independent of any encoder the
product may have, so the baseline never moves when the product's code does. The format
(https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"):

- header: the signature ``PGCOPY\\n\\377\\r\\n\\0``, an int32 flags field (0: no OIDs) and an int32
  header-extension length (0);
- per row: an int16 field count, then per field an int32 byte length (-1 for NULL) and the value in
  the type's binary send format, all big-endian: bigint int8, timestamptz int64 microseconds since
  2000-01-01 00:00 UTC, double precision float8, smallint int2, varchar/text its UTF-8 bytes;
- trailer: int16 -1.

The server does no text parsing of numbers and timestamps then, which is why this runs faster:
it is the closer measure of what the database itself can take.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import time
from typing import Any

SIGNATURE = b"PGCOPY\n\377\r\n\0"
HEADER = SIGNATURE + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
POSTGRES_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
COLUMNS = "meter_id, ts, value, quality, source, received_at"


def timestamptz_micros(value: dt.datetime) -> int:
    """Microseconds since 2000-01-01 UTC, exactly (integer arithmetic, no float rounding)."""
    delta = value - POSTGRES_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_readings(rows: list[tuple[int, dt.datetime, float, int, str, dt.datetime]]) -> bytes:
    """(meter_id, ts, value, quality, source, received_at) rows as one binary COPY stream."""
    out = io.BytesIO()
    out.write(HEADER)
    # Field count 6; then int8 (8 bytes), timestamptz (8), float8 (8), int2 (2), text (n), timestamptz (8).
    fixed = struct.Struct("!hiqiqidihi")
    tail = struct.Struct("!iq")
    for meter_id, ts, value, quality, source, received_at in rows:
        source_bytes = source.encode()
        out.write(fixed.pack(6, 8, meter_id, 8, timestamptz_micros(ts), 8, value, 2, quality,
                             len(source_bytes)))
        out.write(source_bytes)
        out.write(tail.pack(8, timestamptz_micros(received_at)))
    out.write(TRAILER)
    return out.getvalue()


def run_binary_copy(
    items: list[dict[str, Any]], meter_ids: dict[str, int], table: str
) -> tuple[float, float]:
    """(COPY seconds, encoding seconds) for `items` (the text baseline's readings) sent in binary into
    `table` (emptied first, as the text baseline's table is), in one transaction on Django's connection.

    Only the COPY is the baseline: the rows are encoded beforehand, so the figure is what the
    database takes in, its real limit for these rows. (The text baseline times building its
    text too, as it always has: that baseline stays the one the targets are stated against.)
    The encoding time, from the same dicts with ISO timestamps, is reported beside it: what a
    pure-Python binary encoder costs before the database sees a byte.
    """
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} (LIKE metering_reading INCLUDING ALL)")
    encode_started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    rows = [
        (meter_ids[item["meter"]], dt.datetime.fromisoformat(item["ts"]), float(item["value"]), 0, "http",
         now)
        for item in items
    ]
    stream = io.BytesIO(encode_readings(rows))
    encode_seconds = time.perf_counter() - encode_started
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)", stream)
    return time.perf_counter() - started, encode_seconds
