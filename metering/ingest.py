"""The one ingest service behind every collector (Modbus, MQTT, HTTP).

INTERFACE (fixed; other modules code against it):

    readings_ingest(*, enterprise_id, items, source, channel="", item_indexes=None) -> IngestResult
        `items` are mappings {"meter": <meter code>, "ts": <ISO 8601 str with offset | aware datetime>,
        "value": <number>} as they arrived (untrusted). Validates each item (known active meter of THAT
        enterprise, finite number, timestamp with offset, not in the far future), writes the valid ones in
        bulk, idempotent on (meter, ts), and returns per-item results. Rejected items are also quarantined
        with their reason (never silently dropped). Raises only when the database itself is unavailable
        (django.db.OperationalError / InterfaceError) — callers then spool the whole batch.

    readings_ingest_resolved(*, rows, source) -> IngestResult
        For collectors that already hold meter ids (Modbus): rows are ResolvedReading(meter_id, ts, value,
        quality). Same idempotency and bulk write.

    quarantine_message(*, enterprise_id, source, channel, payload, reason, item_index=None) -> None
        Keep an input that could not become readings (malformed JSON, bad UTF-8, oversized, unknown topic).

IngestResult.as_dict() == {"accepted": n, "duplicates": n, "rejected": [{"index": i, "error": "…"}]}

How a batch is written (PostgreSQL): the valid rows are COPYed (psycopg2 `copy_expert`, text format,
from an in-memory buffer) straight into the readings table inside a savepoint: new readings, the
normal case, cost what a raw COPY costs. If any of them is stored already, that COPY fails at the
conflict, the savepoint undoes it, and the same buffer goes into a per-connection temporary staging
table and on with one `INSERT … SELECT … ON CONFLICT DO NOTHING`; rows the insert skipped were
already stored, so `duplicates = staged - inserted`. Duplicates inside one batch are dropped in
Python first and counted as duplicates too. SQLite (the embedded default) uses `executemany` with
`INSERT OR IGNORE`.

Per-item errors are short, stable English strings (machine clients match on them, e.g.
"unknown meter"); they are part of the API contract, so they are not translated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django_scopes import scopes_disabled

from metering.models import Meter, Quality, QuarantinedMessage, Source

# A reading stamped further ahead than this is a clock error, not a measurement.
MAX_FUTURE_SKEW_S = 600
# Nothing before this instant is a meter reading of this system (clock reset to epoch 0 and the like).
EARLIEST_READING_TS = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
# How much of a quarantined payload is kept; size and sha256 are always of the whole input.
QUARANTINE_PAYLOAD_BYTES = 64 * 1024
# Rejected items of one batch kept as one quarantine row each; beyond this the rest share one row,
# so a batch of 50 000 garbage items writes 1 001 rows, not 50 000.
QUARANTINE_ITEMS_PER_BATCH = 1000
# A meter-code map may be this old before it is re-read; a code missing from it forces a re-read at
# once, so a new meter is never refused. Changes in this process invalidate it immediately.
METER_CACHE_TTL_S = 60.0

VALID_SOURCES = frozenset(Source.values)
VALID_QUALITIES = frozenset(Quality.values)

ERR_NOT_OBJECT = "reading must be an object with meter, ts and value"
ERR_METER_MISSING = "meter is missing"
ERR_METER_TYPE = "meter must be a string (the meter code)"
ERR_UNKNOWN_METER = "unknown meter"
ERR_VALUE_MISSING = "value is missing"
ERR_VALUE_BOOLEAN = "value must be a number, not a boolean"
ERR_VALUE_TYPE = "value must be a number"
ERR_VALUE_NOT_FINITE = "value must be a finite number (NaN and Infinity are not readings)"
ERR_TS_MISSING = "ts is missing"
ERR_TS_TYPE = "ts must be an ISO 8601 timestamp string with a UTC offset"
ERR_TS_FORMAT = "ts is not a valid ISO 8601 timestamp"
ERR_TS_NO_OFFSET = "ts must include a UTC offset (e.g. +08:00 or Z)"
ERR_TS_FUTURE = f"ts is more than {MAX_FUTURE_SKEW_S} s in the future"
ERR_TS_TOO_OLD = "ts is before 1990-01-01"
ERR_QUALITY = "quality must be one of 0 (ok), 1 (estimated), 2 (suspect), 3 (missing)"

STAGE_TABLE = "metering_ingest_stage"
# The columns a batch is COPYed with, in the order each buffered line holds them.
READING_COPY_COLUMNS = ("meter_id", "ts", "value", "quality", "source", "received_at")
COPY_COLUMN_LIST = ", ".join(READING_COPY_COLUMNS)
# Errors of the direct COPY that mean "some reading is stored already", not "the database is gone":
# unique_violation, and deadlock_detected between two concurrent batches sharing readings.
REDO_THROUGH_STAGING_PGCODES = frozenset({"23505", "40P01"})


@dataclass(frozen=True)
class ResolvedReading:
    meter_id: int
    ts: dt.datetime
    value: float
    quality: int = 0


@dataclass(frozen=True)
class Rejection:
    index: int
    error: str


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [{"index": r.index, "error": r.error} for r in self.rejected],
        }


class _Invalid(Exception):
    """One item's problem; the message is the per-item error."""


# --- meter codes --------------------------------------------------------------------------------

_meter_cache: dict[int, tuple[float, dict[str, int]]] = {}
_meter_cache_lock = threading.Lock()


def _load_meter_codes(enterprise_id: int) -> dict[str, int]:
    from portal.access import enterprise_scope

    with enterprise_scope(enterprise_id):
        codes = dict(
            Meter.objects.filter(enterprise_id=enterprise_id, is_active=True).values_list("code", "id")
        )
    with _meter_cache_lock:
        _meter_cache[enterprise_id] = (time.monotonic(), codes)
    return codes


def _meter_codes(enterprise_id: int, wanted: Iterable[str]) -> dict[str, int]:
    """code → id for the enterprise's active meters: one query per batch at most."""
    cached = _meter_cache.get(enterprise_id)
    if cached is not None and time.monotonic() - cached[0] < METER_CACHE_TTL_S:
        codes = cached[1]
        if all(code in codes for code in wanted):
            return codes
    return _load_meter_codes(enterprise_id)


def forget_meter_codes(enterprise_id: int | None = None) -> None:
    """Drop the cached code map (of one enterprise, or all)."""
    with _meter_cache_lock:
        if enterprise_id is None:
            _meter_cache.clear()
        else:
            _meter_cache.pop(enterprise_id, None)


def _meter_changed(sender: type[Meter], instance: Meter, **kwargs: Any) -> None:
    forget_meter_codes(instance.enterprise_id)


post_save.connect(_meter_changed, sender=Meter, dispatch_uid="metering.ingest.meter_saved")
post_delete.connect(_meter_changed, sender=Meter, dispatch_uid="metering.ingest.meter_deleted")


# --- validation ---------------------------------------------------------------------------------


def _parse_value(raw: Any) -> float:
    if raw is None:
        raise _Invalid(ERR_VALUE_MISSING)
    if isinstance(raw, bool):
        raise _Invalid(ERR_VALUE_BOOLEAN)
    if not isinstance(raw, int | float):
        raise _Invalid(ERR_VALUE_TYPE)
    try:
        value = float(raw)
    except OverflowError:
        raise _Invalid(ERR_VALUE_NOT_FINITE) from None
    if not math.isfinite(value):
        raise _Invalid(ERR_VALUE_NOT_FINITE)
    return value


def _parse_ts(raw: Any, latest: dt.datetime) -> dt.datetime:
    if raw is None:
        raise _Invalid(ERR_TS_MISSING)
    if isinstance(raw, dt.datetime):
        ts = raw
    elif isinstance(raw, str):
        try:
            ts = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise _Invalid(ERR_TS_FORMAT) from None
    else:
        raise _Invalid(ERR_TS_TYPE)
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise _Invalid(ERR_TS_NO_OFFSET)
    try:
        ts = ts.astimezone(dt.UTC)
    except OverflowError:
        raise _Invalid(ERR_TS_TOO_OLD) from None
    if ts > latest:
        raise _Invalid(ERR_TS_FUTURE)
    if ts < EARLIEST_READING_TS:
        raise _Invalid(ERR_TS_TOO_OLD)
    return ts


def _parse_quality(raw: Any) -> int:
    if raw is None:
        return Quality.OK
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in VALID_QUALITIES:
        raise _Invalid(ERR_QUALITY)
    return raw


def _latest_acceptable_ts() -> dt.datetime:
    return timezone.now().astimezone(dt.UTC) + dt.timedelta(seconds=MAX_FUTURE_SKEW_S)


def _valid_reading(
    item: Any, codes: dict[str, int], parsed_ts: dict[str, dt.datetime | str], latest: dt.datetime
) -> tuple[int, dt.datetime, float, int]:
    """(meter id, UTC instant, value, quality) of one untrusted item, or _Invalid with its error.

    This runs once per reading, so the common shape (a dict with a known code, a finite float, a
    timestamp string seen earlier in the batch, no quality) is decided by cheap exact-type checks;
    anything else falls through to the parsers that name the problem.
    """
    if type(item) is not dict and not isinstance(item, Mapping):
        raise _Invalid(ERR_NOT_OBJECT)
    code = item.get("meter")
    meter_id = codes.get(code) if type(code) is str else _meter_id_slow(code, codes)
    if meter_id is None:
        raise _Invalid(ERR_UNKNOWN_METER)
    value = item.get("value")
    if type(value) is not float or not math.isfinite(value):
        value = _parse_value(value)
    raw_ts = item.get("ts")
    if type(raw_ts) is str:
        outcome = parsed_ts.get(raw_ts)
        if outcome is None:
            try:
                outcome = _parse_ts(raw_ts, latest)
            except _Invalid as problem:
                outcome = str(problem)
            parsed_ts[raw_ts] = outcome
        if isinstance(outcome, str):
            raise _Invalid(outcome)
        ts = outcome
    else:
        ts = _parse_ts(raw_ts, latest)
    quality = item.get("quality")
    return meter_id, ts, value, Quality.OK if quality is None else _parse_quality(quality)


def _meter_id_slow(code: Any, codes: dict[str, int]) -> int | None:
    if code is None:
        raise _Invalid(ERR_METER_MISSING)
    if not isinstance(code, str):
        raise _Invalid(ERR_METER_TYPE)
    return codes.get(str(code))  # a str subclass: look up its plain text


# --- the services -------------------------------------------------------------------------------


def readings_ingest(
    *,
    enterprise_id: int,
    items: Sequence[Mapping[str, Any]],
    source: str,
    channel: str = "",
    item_indexes: Sequence[int] | None = None,
) -> IngestResult:
    """Validate and store one batch of readings of one enterprise; see the module docstring.

    `item_indexes[i]` is the index reported for `items[i]` (in rejections and quarantine) when the
    caller already took some readings of the input out, e.g. the MQTT contract's malformed ones.
    """
    if source not in VALID_SOURCES:
        raise ValueError(f"unknown source {source!r}")
    # JSON objects decode to plain dicts: an exact type check first, the slow ABC check only after.
    wanted_codes = {
        code
        for item in items
        if (type(item) is dict or isinstance(item, Mapping)) and isinstance(code := item.get("meter"), str)
    }
    with _database_errors_reset_connection():
        codes = _meter_codes(enterprise_id, wanted_codes)

    latest = _latest_acceptable_ts()
    result = IngestResult()
    rows: list[tuple[int, dt.datetime, float, int]] = []
    seen: set[tuple[int, dt.datetime]] = set()
    bad_items: list[tuple[int, str, Any]] = []
    # A batch repeats few distinct timestamps (every meter read at the same minute): parse each
    # string once. The cached outcome is the parsed instant or its error, both final for this call.
    parsed_ts: dict[str, dt.datetime | str] = {}
    for index, item in enumerate(items):
        try:
            reading = _valid_reading(item, codes, parsed_ts, latest)
        except _Invalid as problem:
            error = str(problem)
            if item_indexes is not None:
                index = item_indexes[index]
            result.rejected.append(Rejection(index=index, error=error))
            bad_items.append((index, error, item))
            continue
        key = reading[:2]
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        rows.append(reading)

    # The rows and their batch's quarantine entries commit together. Inside a caller's transaction
    # no savepoint of our own: whatever fails here (the database) fails the caller's too, and a
    # savepoint costs two round trips per batch.
    with _database_errors_reset_connection(), transaction.atomic(savepoint=False):
        inserted = _write_rows(rows, source)
        if bad_items:
            _quarantine_items(
                enterprise_id=enterprise_id, source=source, channel=channel, bad_items=bad_items
            )
    result.accepted = inserted
    result.duplicates += len(rows) - inserted
    return result


def readings_ingest_resolved(*, rows: Sequence[ResolvedReading], source: str) -> IngestResult:
    """Store readings whose meters the collector already resolved (Modbus points)."""
    if source not in VALID_SOURCES:
        raise ValueError(f"unknown source {source!r}")
    meter_ids = {row.meter_id for row in rows}
    with _database_errors_reset_connection():
        enterprise_of = _enterprises_of_meters(meter_ids)

    latest = _latest_acceptable_ts()
    result = IngestResult()
    good: list[tuple[int, dt.datetime, float, int]] = []
    seen: set[tuple[int, dt.datetime]] = set()
    bad_by_enterprise: dict[int | None, list[tuple[int, str, Any]]] = {}
    for index, row in enumerate(rows):
        try:
            if row.meter_id not in enterprise_of:
                raise _Invalid(ERR_UNKNOWN_METER)
            value = _parse_value(row.value)
            ts = _parse_ts(row.ts, latest)
            quality = _parse_quality(row.quality)
        except _Invalid as problem:
            error = str(problem)
            result.rejected.append(Rejection(index=index, error=error))
            bad_by_enterprise.setdefault(enterprise_of.get(row.meter_id), []).append(
                (index, error, _resolved_as_json(row))
            )
            continue
        key = (row.meter_id, ts)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        good.append((row.meter_id, ts, value, quality))

    with _database_errors_reset_connection(), transaction.atomic(savepoint=False):
        inserted = _write_rows(good, source)
        for enterprise_id, bad_items in bad_by_enterprise.items():
            _quarantine_items(enterprise_id=enterprise_id, source=source, channel="", bad_items=bad_items)
    result.accepted = inserted
    result.duplicates += len(good) - inserted
    return result


def quarantine_message(
    *,
    enterprise_id: int | None,
    source: str,
    channel: str,
    payload: bytes,
    reason: str,
    item_index: int | None = None,
    payload_size: int | None = None,
    payload_sha256: str | None = None,
) -> None:
    """Keep an input that could not become readings, with the reason.

    `payload_size` / `payload_sha256` describe the whole input when the caller holds only part of
    it (an oversized HTTP body is not read to the end); by default they are computed from `payload`.
    """
    with _database_errors_reset_connection():
        _quarantine_row(
            enterprise_id=enterprise_id,
            source=source,
            channel=channel,
            payload=payload,
            reason=reason,
            item_index=item_index,
            payload_size=payload_size,
            payload_sha256=payload_sha256,
        ).save()


# --- writing ------------------------------------------------------------------------------------


def _write_rows(rows: list[tuple[int, dt.datetime, float, int]], source: str) -> int:
    """Insert the rows, skipping stored (meter, ts); returns how many were new."""
    if not rows:
        return 0
    latest_by_meter: dict[int, dt.datetime] = {}
    for meter_id, ts, _value, _quality in rows:
        previous = latest_by_meter.get(meter_id)
        if previous is None or ts > previous:
            latest_by_meter[meter_id] = ts
    if connection.vendor == "postgresql":
        inserted = _write_rows_postgresql(rows, source)
    elif connection.vendor == "sqlite":
        inserted = _write_rows_sqlite(rows, source)
    else:  # pragma: no cover - the settings allow only these two
        raise NotImplementedError(f"ingest does not support {connection.vendor}")
    _advance_last_reading_at(latest_by_meter)
    return inserted


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


def _enterprises_of_meters(meter_ids: set[int]) -> dict[int, int]:
    if not meter_ids:
        return {}
    # scopes_disabled: the collector resolved these ids from its own configuration; we only need each
    # meter's enterprise (for quarantine) and whether it is still active.
    with scopes_disabled():
        return dict(Meter.objects.filter(id__in=meter_ids, is_active=True).values_list("id", "enterprise_id"))


def _resolved_as_json(row: Any) -> Any:
    if isinstance(row, ResolvedReading):
        return {
            "meter_id": row.meter_id,
            "ts": _jsonable(row.ts),
            "value": _jsonable(row.value),
            "quality": row.quality,
        }
    return repr(row)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _item_bytes(item: Any) -> bytes:
    try:
        return json.dumps(item, ensure_ascii=False, default=str, allow_nan=True).encode("utf-8")
    except (TypeError, ValueError):
        return repr(item).encode("utf-8", "backslashreplace")


def _quarantine_row(
    *,
    enterprise_id: int | None,
    source: str,
    channel: str,
    payload: bytes,
    reason: str,
    item_index: int | None = None,
    payload_size: int | None = None,
    payload_sha256: str | None = None,
) -> QuarantinedMessage:
    return QuarantinedMessage(
        enterprise_id=enterprise_id,
        source=source,
        channel=channel[:255],
        item_index=item_index,
        reason=reason[:500],
        payload=bytes(payload[:QUARANTINE_PAYLOAD_BYTES]),
        payload_size=payload_size if payload_size is not None else len(payload),
        payload_sha256=payload_sha256 or hashlib.sha256(payload).hexdigest(),
    )


def _quarantine_items(
    *, enterprise_id: int | None, source: str, channel: str, bad_items: list[tuple[int, str, Any]]
) -> None:
    quarantined = [
        _quarantine_row(
            enterprise_id=enterprise_id,
            source=source,
            channel=channel,
            payload=_item_bytes(item),
            reason=error,
            item_index=index,
        )
        for index, error, item in bad_items[:QUARANTINE_ITEMS_PER_BATCH]
    ]
    rest = bad_items[QUARANTINE_ITEMS_PER_BATCH:]
    if rest:
        payload = _item_bytes([{"index": index, "error": error, "item": item} for index, error, item in rest])
        quarantined.append(
            _quarantine_row(
                enterprise_id=enterprise_id,
                source=source,
                channel=channel,
                payload=payload,
                reason=f"{len(rest)} more rejected items of the same batch (index {rest[0][0]} onwards)",
            )
        )
    # scopes_disabled: inserting rows of an enterprise the caller already acts for; nothing is read.
    with scopes_disabled():
        QuarantinedMessage.objects.bulk_create(quarantined)


class _database_errors_reset_connection:
    """On a lost database, drop the broken connection so the next attempt reconnects.

    Long-running collectors keep one Django connection; after the server went away it stays
    unusable until closed. Inside an outer transaction the connection is the caller's to manage.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if exc_type is not None and issubclass(exc_type, OperationalError | InterfaceError):
            if not connection.in_atomic_block:
                try:
                    connection.close()
                except DatabaseError:
                    pass
        return False


def is_database_unavailable(exc: BaseException) -> bool:
    """True when the database is away or refuses work for now (see portal.outage).

    Only for what to log: a collector keeps a batch whatever the write failed with."""
    from portal.outage import is_database_unavailable as database_unavailable

    return database_unavailable(exc)
