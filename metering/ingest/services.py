"""The one ingest service behind every collector (Modbus, MQTT, HTTP).

INTERFACE (fixed; other modules code against it):

    readings_ingest(*, enterprise_id, items, source, channel="", item_indexes=None, malformed=())
        -> IngestResult
        `items` are mappings {"meter": <meter code>, "ts": <ISO 8601 str with offset | aware datetime>,
        "value": <number>} as they arrived (untrusted). Validates each item (known active meter of THAT
        enterprise, finite number, timestamp with offset, not in the far future), writes the valid ones in
        bulk, idempotent on (meter, ts), and returns per-item results. Rejected items are also quarantined
        with their reason (never silently dropped). Raises when the batch could not be written, whatever
        the exception (the database down, a read-only standby after failover, a schema mid-deploy):
        nothing of it was stored, and callers keep the whole batch (spool, or 503 for HTTP).
        `malformed` are (index, reason, raw item) triples the collector refused while assembling
        `items` (the MQTT contract's): they are quarantined with the batch's own rejections, in its
        transaction and under the same cap, so a failed write never leaves them half written.

    readings_ingest_resolved(*, rows, source) -> IngestResult
        For collectors that already hold meter ids (Modbus): rows are ResolvedReading(meter_id, ts, value,
        quality). Same idempotency and bulk write.

    quarantine_message(*, enterprise_id, source, channel, payload, reason, item_index=None) -> None
        Keep an input that could not become readings (malformed JSON, bad UTF-8, oversized, unknown topic).

IngestResult.as_dict() == {"accepted": n, "duplicates": n, "rejected": [{"index": i, "error": "…"}]}

How a batch is written (PostgreSQL): the valid rows are COPYed (psycopg2 `copy_expert`, binary
format built by metering/ingest/writers.py, from an in-memory buffer) straight into the readings
table as the first statement of the batch's transaction: new readings, the normal case, cost less
than a raw text COPY. If any of them is stored already (or the COPY deadlocks with a batch sharing
readings), that COPY fails, the transaction is rolled back, and in a new one the same buffer goes
into a per-connection temporary staging table and on with one `INSERT … SELECT … ON CONFLICT DO
NOTHING`; rows the insert skipped were already stored, so `duplicates = staged - inserted`. Inside
a caller's transaction a savepoint around the direct COPY takes the rollback's place. Duplicates
inside one batch are dropped in Python first and counted as duplicates too. SQLite (the embedded
default) uses `executemany` with `INSERT OR IGNORE`.

A batch that stored at least one new reading sends `metering.ingest.signals.readings_written`
(per meter, the batch's earliest and latest ts) inside its transaction, right after the write:
monitoring marks its rollups dirty there, with one statement per batch, and nothing per reading.

Per-item errors are short, stable English strings (machine clients match on them, e.g.
"unknown meter"); they are part of the API contract, so they are not translated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import DatabaseError, connection
from django.utils import timezone
from django_scopes import scopes_disabled

from metering.ingest.codes import _meter_codes
from metering.ingest.quarantine import QUARANTINE_PAYLOAD_BYTES, _jsonable, _quarantine_items, _quarantine_row
from metering.ingest.signals import collector_starting, readings_written
from metering.ingest.writers import Ranges, _write_batch
from metering.models import Meter, Quality, Source

logger = logging.getLogger(__name__)

# A reading stamped further ahead than this is a clock error, not a measurement.
MAX_FUTURE_SKEW_S = 600
# Nothing before this instant is a meter reading of this system (clock reset to epoch 0 and the like).
EARLIEST_READING_TS = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)

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


# Plain ints, not the enum members: a row carries its quality into the COPY buffer as is.
_QUALITY_OK = int(Quality.OK)
_KEY_METER_BITS = 64  # meter ids are bigint: below 2**63
_MICROSECOND = dt.timedelta(microseconds=1)


def _instant_key(ts: dt.datetime) -> int:
    """Microseconds since EARLIEST_READING_TS (≥ 0 for a valid instant): the instant as an int."""
    return (ts - EARLIEST_READING_TS) // _MICROSECOND


def _valid_reading(
    item: Any,
    codes: dict[str, int],
    parsed_ts: dict[str, tuple[dt.datetime, int] | str],
    latest: dt.datetime,
) -> tuple[int, dt.datetime, float, int, int]:
    """(meter id, UTC instant, value, quality, key) of one untrusted item, or _Invalid with its
    error. `key` is one int per (meter, instant): the batch's duplicates are found by it (hashing
    an int, not a tuple holding an aware datetime, whose hash asks for its UTC offset).

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
                parsed = _parse_ts(raw_ts, latest)
                outcome = (parsed, _instant_key(parsed))
            except _Invalid as problem:
                outcome = str(problem)
            parsed_ts[raw_ts] = outcome
        if isinstance(outcome, str):
            raise _Invalid(outcome)
        ts, instant = outcome
    else:
        ts = _parse_ts(raw_ts, latest)
        instant = _instant_key(ts)
    quality = item.get("quality")
    return (
        meter_id,
        ts,
        value,
        _QUALITY_OK if quality is None else _parse_quality(quality),
        (instant << _KEY_METER_BITS) | meter_id,
    )


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
    malformed: Sequence[tuple[int, str, Any]] = (),
) -> IngestResult:
    """Validate and store one batch of readings of one enterprise; see the module docstring.

    `item_indexes[i]` is the index reported for `items[i]` (in rejections and quarantine) when the
    caller already took some readings of the input out, e.g. the MQTT contract's malformed ones,
    which come as `malformed` (index, reason, raw item) and are reported and quarantined alike.
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
    seen: set[int] = set()
    bad_items: list[tuple[int, str, Any]] = []
    # A batch repeats few distinct timestamps (every meter read at the same minute): parse each
    # string once. The cached outcome is the parsed instant (and its key) or its error, both final
    # for this call.
    parsed_ts: dict[str, tuple[dt.datetime, int] | str] = {}
    append = rows.append
    for index, item in enumerate(items):
        # The common item, decided inline (a function call per reading was a fifth of its cost):
        # a dict of a known meter code, a finite float (x - x is 0.0 for those only), a timestamp
        # string parsed already in this batch, no quality. Anything else takes _valid_reading,
        # which parses, caches and names the problem.
        if type(item) is dict:
            code = item.get("meter")
            value = item.get("value")
            raw_ts = item.get("ts")
            parsed = parsed_ts.get(raw_ts) if type(raw_ts) is str else None  # a list is unhashable
            if (
                type(code) is str
                and type(value) is float
                and value - value == 0.0
                and type(parsed) is tuple
                and (meter_id := codes.get(code)) is not None
                and item.get("quality") is None
            ):
                key = (parsed[1] << _KEY_METER_BITS) | meter_id
                if key in seen:
                    result.duplicates += 1
                else:
                    seen.add(key)
                    append((meter_id, parsed[0], value, _QUALITY_OK))
                continue
        try:
            meter_id, ts, value, quality, key = _valid_reading(item, codes, parsed_ts, latest)
        except _Invalid as problem:
            error = str(problem)
            if item_indexes is not None:
                index = item_indexes[index]
            result.rejected.append(Rejection(index=index, error=error))
            bad_items.append((index, error, item))
            continue
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        append((meter_id, ts, value, quality))
    if malformed:
        # One list in message order: the quarantine cap keeps the first rejected items of the input.
        bad_items = sorted([*malformed, *bad_items], key=lambda bad: bad[0])
        result.rejected = [Rejection(index=index, error=error) for index, error, _item in bad_items]

    def after_write(inserted: int, ranges: Ranges) -> None:
        # In the batch's transaction: the rows, their dirty-range mark and the batch's quarantine
        # entries commit together (once: a batch redone through staging calls this only there).
        if inserted:
            readings_written.send(sender=readings_ingest, ranges=ranges)
        if bad_items:
            _quarantine_items(
                enterprise_id=enterprise_id, source=source, channel=channel, bad_items=bad_items
            )

    with _database_errors_reset_connection():
        inserted = _write_batch(rows, source, after_write)
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

    def after_write(inserted: int, ranges: Ranges) -> None:
        if inserted:
            readings_written.send(sender=readings_ingest_resolved, ranges=ranges)
        for enterprise_id, bad_items in bad_by_enterprise.items():
            _quarantine_items(enterprise_id=enterprise_id, source=source, channel="", bad_items=bad_items)

    with _database_errors_reset_connection():
        inserted = _write_batch(good, source, after_write)
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
    The first QUARANTINE_PAYLOAD_BYTES are kept: every input a collector accepts, whole.
    """
    if payload_size is None:
        payload_size = len(payload)
    if payload_sha256 is None:
        payload_sha256 = hashlib.sha256(payload).hexdigest()
    with _database_errors_reset_connection():
        _quarantine_row(
            enterprise_id=enterprise_id,
            source=source,
            channel=channel,
            payload=payload[:QUARANTINE_PAYLOAD_BYTES],
            reason=reason,
            item_index=item_index,
            payload_size=payload_size,
            payload_sha256=payload_sha256,
        ).save()


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


class _database_errors_reset_connection:
    """On a database error, drop the connection so the next attempt reconnects.

    Long-running collectors keep one Django connection; after the server went away it stays
    unusable until closed, and after a failover it may still reach the old primary, now a read-only
    standby that refuses every write. Inside an outer transaction the connection is the caller's.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if exc_type is not None and issubclass(exc_type, DatabaseError):
            if not connection.in_atomic_block:
                try:
                    connection.close()
                except DatabaseError:
                    pass
        return False


def collector_warm_up() -> None:
    """Open this thread's database connection and let the parts above ingest prepare theirs
    (`collector_starting`): a long-running collector calls it before it takes input, so its first
    batch costs what every other batch costs (imports, the task queue's first connection and the
    cache's were ~150 ms of the MQTT consumer's first commit). Never raises: a database that is
    away at start is the spool's business, and a receiver's failure only leaves its cost to the
    first batch."""
    try:
        connection.ensure_connection()
    except DatabaseError:
        logger.warning("database unavailable at start; the first batch will connect (or spool)")
        connection.close()
    for receiver, outcome in collector_starting.send_robust(sender=collector_warm_up):
        if isinstance(outcome, Exception):
            logger.warning("collector_starting receiver %r failed: %s", receiver, outcome)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when the database is away or refuses work for now (see portal.outage).

    Only for what to log: a collector keeps a batch whatever the write failed with."""
    from portal.outage import is_database_unavailable as database_unavailable

    return database_unavailable(exc)
