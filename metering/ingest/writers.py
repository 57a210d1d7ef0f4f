"""The two writers of ingest: COPY into PostgreSQL, `INSERT OR IGNORE` into SQLite.

Only the ingest services call these (an import-linter contract in pyproject.toml keeps collectors
away from them); how a batch is written is described in metering/ingest/services.py.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from metering.models import Meter

STAGE_TABLE = "metering_ingest_stage"
# The columns a batch is COPYed with, in the order each encoded row holds them.
READING_COPY_COLUMNS = ("meter_id", "ts", "value", "quality", "source", "received_at")
COPY_COLUMN_LIST = ", ".join(READING_COPY_COLUMNS)
# Errors of the direct COPY that mean "some reading is stored already", not "the database is gone":
# unique_violation, and deadlock_detected between two concurrent batches sharing readings.
REDO_THROUGH_STAGING_PGCODES = frozenset({"23505", "40P01"})

# PostgreSQL's binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html): the
# signature, int32 flags (0: no OIDs), int32 header-extension length (0); the trailer is a field
# count of -1. Every number is big-endian.
COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_BINARY_TRAILER = struct.pack(">h", -1)
# One row's head: field count 6, meter_id (bigint: length 8, int64), ts (timestamptz: length 8,
# int64 microseconds since 2000-01-01 UTC), value (double precision: length 8, IEEE 754 binary64).
# quality, source and received_at follow as one `tail` per batch and quality.
_ROW_HEAD = struct.Struct(">hiqiqid")
_QUALITY_FIELD = struct.Struct(">ih")
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)

Ranges = dict[int, tuple[dt.datetime, dt.datetime]]


class _RedoThroughStaging(Exception):
    """The direct COPY met a stored reading (or a deadlock with a batch sharing some): redo."""


def _write_batch(
    rows: list[tuple[int, dt.datetime, float, int]],
    source: str,
    after_write: Callable[[int, Ranges], None],
) -> int:
    """Insert the rows, skipping stored (meter, ts), and call `after_write(inserted, ranges)` in
    the same transaction (the caller's signal and quarantine rows); returns how many were new.

    `ranges` is, per meter of the batch, its (earliest, latest) ts (what `readings_written`
    announces). `after_write` runs once, in the transaction that commits, also for an empty batch
    (its quarantine rows)."""
    range_by_meter = _ranges(rows)

    def finish(inserted: int) -> int:
        if rows:
            _advance_last_reading_at(
                {meter_id: latest for meter_id, (_earliest, latest) in range_by_meter.items()}
            )
        after_write(inserted, range_by_meter)
        return inserted

    if connection.vendor == "sqlite":
        with transaction.atomic(savepoint=False):
            return finish(_write_rows_sqlite(rows, source))
    if connection.vendor != "postgresql":  # pragma: no cover - the settings allow only these two
        raise NotImplementedError(f"ingest does not support {connection.vendor}")
    if not rows:
        with transaction.atomic(savepoint=False):
            return finish(0)
    data = _binary_copy_data(rows, source, timezone.now())
    if not connection.in_atomic_block:
        # Our own transaction, with the direct COPY as its first statement: on a conflict the whole
        # transaction is undone (nothing else was in it yet) and the batch is redone in a new one,
        # so the common case needs no savepoint (two round trips per batch fewer).
        try:
            with transaction.atomic():
                _copy_direct(data)
                return finish(len(rows))
        except _RedoThroughStaging:
            pass
        with transaction.atomic():
            return finish(_write_rows_postgresql_staged(data))
    # Inside a caller's transaction (a spool drain, tests): a savepoint undoes the failed COPY only.
    with transaction.atomic(savepoint=False):
        try:
            with transaction.atomic():
                _copy_direct(data)
            inserted = len(rows)
        except _RedoThroughStaging:
            inserted = _write_rows_postgresql_staged(data)
        return finish(inserted)


def _ranges(rows: list[tuple[int, dt.datetime, float, int]]) -> Ranges:
    """Per meter, the (earliest, latest) ts of the rows: one pass, a comparison or two per row."""
    range_by_meter: Ranges = {}
    for meter_id, ts, _value, _quality in rows:
        known = range_by_meter.get(meter_id)
        if known is None:
            range_by_meter[meter_id] = (ts, ts)
        elif ts > known[1]:
            range_by_meter[meter_id] = (known[0], ts)
        elif ts < known[0]:
            range_by_meter[meter_id] = (ts, known[1])
    return range_by_meter


def _binary_copy_data(
    rows: list[tuple[int, dt.datetime, float, int]], source: str, received_at: dt.datetime
) -> bytes:
    """The rows in PostgreSQL's binary COPY format, columns READING_COPY_COLUMNS.

    Binary because the server then parses nothing: a text COPY spends most of its time in the
    timestamptz and float8 input functions, and bench/ measured the same rows COPYed in binary
    ~1.6× faster. psycopg2 has no binary COPY writer, so the format is built here (a few fixed-width
    fields per row). The callers validated every row: ts aware and within 1990 … now + 10 min,
    value finite (the format would carry NaN and ±Infinity, the text path refused them in the
    float8 input; the validation refuses them before either), quality 0–3, source one of
    VALID_SOURCES (≤ 8 ASCII characters).
    """
    encoded_source = source.encode()
    # quality, source and received_at: the same for every row of the batch but the quality (0–3).
    source_and_received = (
        struct.pack(">i", len(encoded_source)) + encoded_source
        + struct.pack(">iq", 8, _pg_microseconds(received_at))
    )
    tails = {quality: _QUALITY_FIELD.pack(2, quality) + source_and_received for quality in range(4)}
    micros: dict[dt.datetime, int] = {}  # few distinct instants per batch: convert each once
    pack = _ROW_HEAD.pack
    parts: list[bytes] = [COPY_BINARY_HEADER]
    append = parts.append
    for meter_id, ts, value, quality in rows:
        stamp = micros.get(ts)
        if stamp is None:
            stamp = micros[ts] = _pg_microseconds(ts)
        append(pack(6, 8, meter_id, 8, stamp, 8, value))
        tail = tails.get(quality)
        if tail is None:  # pragma: no cover - validated: 0–3
            tail = _QUALITY_FIELD.pack(2, quality) + source_and_received
        append(tail)
    append(COPY_BINARY_TRAILER)
    return b"".join(parts)


def _pg_microseconds(ts: dt.datetime) -> int:
    """Microseconds since 2000-01-01 00:00 UTC (PostgreSQL's timestamptz), exact integer arithmetic."""
    return (ts - PG_EPOCH) // _MICROSECOND


def _copy_direct(data: bytes) -> None:
    """COPY the batch straight into the readings table; a stored (meter, ts) raises _RedoThroughStaging.

    New readings are the normal case (a meter reports each instant once), and a plain COPY into the
    table is the cheapest write PostgreSQL has: about half the cost of staging + INSERT … ON CONFLICT,
    measured by bench/. A batch holding any stored reading (a resend, a back-fill overlapping what
    arrived) fails that COPY at its first conflict, and the staged path skips exactly the stored
    rows. Concurrent batches sharing keys end the same way: the second waits for the first, then
    conflicts (or deadlocks, which PostgreSQL detects) and redoes.
    """
    try:
        with connection.cursor() as cursor:
            _copy_from_memory(cursor, f"COPY metering_reading ({COPY_COLUMN_LIST}) FROM STDIN BINARY", data)
    except (IntegrityError, OperationalError) as exc:
        if _pgcode(exc) in REDO_THROUGH_STAGING_PGCODES:
            raise _RedoThroughStaging from exc
        raise


def _copy_from_memory(cursor: Any, sql: str, data: bytes) -> None:
    """COPY `data` in one piece: psycopg2 reads the file in `size` chunks and takes the GIL back for
    each, so with the default 8 KiB a 300 KiB batch waited ~40 times behind the Python of other
    threads (the MQTT consumer decodes while its workers ingest), keeping PostgreSQL idle meanwhile."""
    # copy_expert is psycopg2's own method: wrap it so its errors become Django's (OperationalError…).
    with connection.wrap_database_errors:
        # `size` positionally: Django's debug cursor passes only positional arguments through.
        cursor.copy_expert(sql, io.BytesIO(data), max(len(data), 8192))


def _pgcode(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "pgcode", None)


def _write_rows_postgresql_staged(data: bytes) -> int:
    """COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING: stored readings are skipped.

    The staging table has the readings' columns and types, so it takes the same binary buffer."""
    with connection.cursor() as cursor:
        # The staging table lives as long as the connection; ON COMMIT DELETE ROWS empties it, and the
        # TRUNCATE covers a caller that holds one transaction across several batches (tests, drains).
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE_TABLE} "
            "(meter_id bigint, ts timestamptz, value double precision, quality smallint, "
            "source varchar(8), received_at timestamptz) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {STAGE_TABLE}")
        _copy_from_memory(cursor, f"COPY {STAGE_TABLE} ({COPY_COLUMN_LIST}) FROM STDIN BINARY", data)
        cursor.execute(
            f"INSERT INTO metering_reading ({COPY_COLUMN_LIST}) "  # noqa: S608 - constant names only
            # Key order: concurrent batches sharing some (meter, ts) wait for each other on the
            # unique index in the same order instead of deadlocking.
            f"SELECT {COPY_COLUMN_LIST} FROM {STAGE_TABLE} ORDER BY meter_id, ts "
            "ON CONFLICT (meter_id, ts) DO NOTHING"
        )
        return cursor.rowcount


def _write_rows_sqlite(rows: list[tuple[int, dt.datetime, float, int]], source: str) -> int:
    if not rows:
        return 0
    adapt = connection.ops.adapt_datetimefield_value
    received_at = adapt(timezone.now())
    params = [
        (meter_id, adapt(ts), value, quality, source, received_at) for meter_id, ts, value, quality in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT OR IGNORE INTO metering_reading (meter_id, ts, value, quality, source, received_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            params,
        )
        return cursor.rowcount


def _advance_last_reading_at(latest_by_meter: dict[int, dt.datetime]) -> None:
    # A bulk write with no audit row on purpose: last_reading_at is the one unaudited field of an
    # audited model (telemetry, see metering/signals.py), and the only field written here.
    # Sorted ids: concurrent batches lock meter rows in the same order and cannot deadlock.
    ordered = sorted(latest_by_meter.items())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE metering_meter AS m SET last_reading_at = v.ts "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, ts) "
                "WHERE m.id = v.id AND (m.last_reading_at IS NULL OR m.last_reading_at < v.ts)",
                # ISO strings, cast by PostgreSQL: psycopg2 adapts a datetime ~3× slower than a str.
                [[meter_id for meter_id, _ in ordered], [ts.isoformat() for _, ts in ordered]],
            )
        return
    # scopes_disabled: the ids come from this batch's already-validated rows, not from a request.
    with scopes_disabled():
        for meter_id, ts in ordered:
            Meter.objects.filter(id=meter_id).exclude(last_reading_at__gte=ts).update(last_reading_at=ts)
