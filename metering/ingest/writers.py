"""The two writers of ingest: COPY into PostgreSQL, `INSERT OR IGNORE` into SQLite.

Only the ingest services call these (an import-linter contract in pyproject.toml keeps collectors
away from them); how a batch is written is described in metering/ingest/services.py.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from metering.models import Meter

STAGE_TABLE = "metering_ingest_stage"
# The columns a batch is COPYed with, in the order each buffered line holds them.
READING_COPY_COLUMNS = ("meter_id", "ts", "value", "quality", "source", "received_at")
COPY_COLUMN_LIST = ", ".join(READING_COPY_COLUMNS)
# Errors of the direct COPY that mean "some reading is stored already", not "the database is gone":
# unique_violation, and deadlock_detected between two concurrent batches sharing readings.
REDO_THROUGH_STAGING_PGCODES = frozenset({"23505", "40P01"})


def _write_rows(
    rows: list[tuple[int, dt.datetime, float, int]], source: str
) -> tuple[int, dict[int, tuple[dt.datetime, dt.datetime]]]:
    """Insert the rows, skipping stored (meter, ts); returns how many were new and, per meter of
    the batch, its (earliest, latest) ts (what `readings_written` announces)."""
    if not rows:
        return 0, {}
    # One pass, as before (last_reading_at needed the latest already): the earliest costs one
    # comparison more per reading, no new loop.
    range_by_meter: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    for meter_id, ts, _value, _quality in rows:
        known = range_by_meter.get(meter_id)
        if known is None:
            range_by_meter[meter_id] = (ts, ts)
        elif ts > known[1]:
            range_by_meter[meter_id] = (known[0], ts)
        elif ts < known[0]:
            range_by_meter[meter_id] = (ts, known[1])
    if connection.vendor == "postgresql":
        inserted = _write_rows_postgresql(rows, source)
    elif connection.vendor == "sqlite":
        inserted = _write_rows_sqlite(rows, source)
    else:  # pragma: no cover - the settings allow only these two
        raise NotImplementedError(f"ingest does not support {connection.vendor}")
    _advance_last_reading_at({meter_id: latest for meter_id, (_earliest, latest) in range_by_meter.items()})
    return inserted, range_by_meter


def _write_rows_postgresql(rows: list[tuple[int, dt.datetime, float, int]], source: str) -> int:
    """COPY straight into the readings table; on a stored (meter, ts), redo the batch through staging.

    New readings are the normal case (a meter reports each instant once), and a plain COPY into the
    table is the cheapest write PostgreSQL has: about half the cost of staging + INSERT … ON CONFLICT,
    measured by bench/. A batch holding any stored reading (a resend, a back-fill overlapping what
    arrived) fails that COPY at its first conflict; the savepoint undoes it and the staged path
    skips exactly the stored rows. Concurrent batches sharing keys end the same way: the second
    waits for the first, then conflicts (or deadlocks, which PostgreSQL detects) and redoes.
    """
    received_at = timezone.now().astimezone(dt.UTC).isoformat()
    # `source` is one of VALID_SOURCES (checked by the callers): safe inside the COPY text.
    tail = f"\t{source}\t{received_at}\n"
    lines: list[str] = []
    append = lines.append
    iso: dict[dt.datetime, str] = {}  # few distinct instants per batch: format each once
    for meter_id, ts, value, quality in rows:
        stamp = iso.get(ts)
        if stamp is None:
            stamp = iso[ts] = ts.isoformat()
        # ts is UTC; repr(float) round-trips exactly.
        append(f"{meter_id}\t{stamp}\t{value!r}\t{quality}{tail}")
    data = "".join(lines).encode()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy_from_memory(cursor, f"COPY metering_reading ({COPY_COLUMN_LIST}) FROM STDIN", data)
        return len(rows)
    except (IntegrityError, OperationalError) as exc:
        if _pgcode(exc) not in REDO_THROUGH_STAGING_PGCODES:
            raise
    return _write_rows_postgresql_staged(data)


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
    """COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING: stored readings are skipped."""
    with connection.cursor() as cursor:
        # The staging table lives as long as the connection; ON COMMIT DELETE ROWS empties it, and the
        # TRUNCATE covers a caller that holds one transaction across several batches (tests, drains).
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE_TABLE} "
            "(meter_id bigint, ts timestamptz, value double precision, quality smallint, "
            "source varchar(8), received_at timestamptz) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {STAGE_TABLE}")
        _copy_from_memory(cursor, f"COPY {STAGE_TABLE} ({COPY_COLUMN_LIST}) FROM STDIN", data)
        cursor.execute(
            f"INSERT INTO metering_reading ({COPY_COLUMN_LIST}) "  # noqa: S608 - constant names only
            # Key order: concurrent batches sharing some (meter, ts) wait for each other on the
            # unique index in the same order instead of deadlocking.
            f"SELECT {COPY_COLUMN_LIST} FROM {STAGE_TABLE} ORDER BY meter_id, ts "
            "ON CONFLICT (meter_id, ts) DO NOTHING"
        )
        return cursor.rowcount


def _write_rows_sqlite(rows: list[tuple[int, dt.datetime, float, int]], source: str) -> int:
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
                [[meter_id for meter_id, _ in ordered], [ts for _, ts in ordered]],
            )
        return
    # scopes_disabled: the ids come from this batch's already-validated rows, not from a request.
    with scopes_disabled():
        for meter_id, ts in ordered:
            Meter.objects.filter(id=meter_id).exclude(last_reading_at__gte=ts).update(last_reading_at=ts)
