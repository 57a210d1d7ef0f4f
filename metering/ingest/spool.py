"""A durable local buffer for readings a collector has read but could not commit.

INTERFACE (fixed; other modules code against it):

    spool = Spool(name)          # one SQLite file per collector name under settings.SPOOL_DIR
    spool.put(kind, payload)     # kind: "items" (enterprise_id + raw items) or "resolved"
                                 # (ResolvedReading rows); payload is JSON-serializable;
                                 # fsync'd before put() returns
    spool.drain() -> int         # one bounded pass: replays waiting batches through the ingest
                                 # services, oldest first, deleting each only after its ingest
                                 # committed; returns the number of batches settled
    len(spool)                   # batches waiting
    drain_spools() -> int        # one pass over every spool in SPOOL_DIR (what the loops call)

Payloads:

    put("items", {"enterprise_id": 7, "items": [{"meter": "M1", "ts": "…+08:00", "value": 1.5}, …],
                  "source": "mqtt", "channel": "nengtan/…"})            # source defaults to "mqtt"
    put("resolved", {"rows": [ResolvedReading(…) | {"meter_id", "ts", "value", "quality"} | [id, ts, v, q]],
                     "source": "modbus"})                                # source defaults to "modbus"
    put("resolved", [ResolvedReading(…), …])                              # shorthand, source "modbus"

Datetimes become ISO 8601 strings and ResolvedReading rows become objects; the ingest parses them
back. Durability: the file is in WAL mode with `synchronous=FULL`, so SQLite fsyncs the WAL at every
commit and put() returns only after its batch is on disk. A reading is deleted from the spool only
after the ingest that stored it committed; a crash between the two replays the batch, which the
ingest counts as duplicates (it is idempotent on (meter, ts)).

Nothing leaves the spool but into the readings or the quarantine:

- a batch whose write fails, whatever the exception (the database down, a read-only standby after
  failover, a schema mid-deploy), stays and is retried: at the next pass when the database is
  unavailable (the pass stops there: the next batch would meet the same database), after a
  growing delay (SPOOL_RETRY_*) when the failure is the batch's own, while the pass goes on;
- invalid readings inside a batch are quarantined by the ingest, one by one, as on first arrival;
- only a batch that cannot be read back at all (a malformed payload) is moved to the quarantine.

Concurrent drains (the MQTT consumer, `run_collectors`, the Celery drain task, on one node's
SPOOL_DIR) claim each batch before replaying it (claim token and lease, taken in one SQLite write
transaction), so two drains never replay the same batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

KINDS = frozenset({"items", "resolved"})
SQLITE_BUSY_TIMEOUT_S = 30.0
# Batches settled per drain pass. Every caller drains between other work (the MQTT consumer
# between its batches, run_collectors and Celery in a loop or task of their own, every few
# seconds); one spooled batch is one collector batch (an MQTT message of up to 20 000 readings),
# so 100 of them end well within seconds, and the next pass goes on where this one stopped.
DRAIN_BATCHES_PER_PASS = 100
# A pass also ends after this long, however few batches it settled (a slow database, big batches),
# so the caller's own work (the consumer's messages) waits at most about this much.
DRAIN_PASS_BUDGET_S = 5.0
# How long a drain holds a claimed batch. One batch's ingest takes well under a second, so a live
# drain never loses its claim; a drain that died with a claim leaves its batch this long.
SPOOL_CLAIM_LEASE_S = 600.0
# A batch refused for a reason of its own (not an outage) is retried after 5 s, 10 s, 20 s, … up to
# 5 min: soon enough for a deploy that finishes its migrations, never given up.
SPOOL_RETRY_BASE_S = 5.0
SPOOL_RETRY_MAX_S = 300.0
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_CLAIM_COLUMNS = {
    "claim_token": "TEXT",
    "claimed_until": "REAL",
    "next_attempt_at": "REAL NOT NULL DEFAULT 0",
}


class _Unreplayable(Exception):
    """A spooled payload that cannot be turned back into an ingest call."""


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Spool:
    def __init__(self, name: str, directory: Path | str | None = None) -> None:
        if not _NAME_PATTERN.match(name):
            raise ValueError(f"spool name {name!r} must be 1–100 letters, digits, '.', '_' or '-'")
        self.name = name
        base = Path(directory) if directory is not None else Path(settings.SPOOL_DIR)
        base.mkdir(parents=True, exist_ok=True)
        self.path = base / f"{name}.sqlite3"
        self._lock = threading.Lock()
        # Paho and Celery call from other threads; the lock serializes use of the one connection.
        self._db = sqlite3.connect(
            self.path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._enable_wal()
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spooled_batch ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " kind TEXT NOT NULL,"
            " payload TEXT NOT NULL,"
            " spooled_at REAL NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0)"
        )
        # Spool files written before drains claimed their batches gain the claim columns in place.
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(spooled_batch)")}
        for column, definition in _CLAIM_COLUMNS.items():
            if column not in columns:
                try:
                    self._db.execute(f"ALTER TABLE spooled_batch ADD COLUMN {column} {definition}")
                except sqlite3.OperationalError as exc:  # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise

    def _enable_wal(self) -> None:
        """Switch the file to WAL, waiting out another process that opens it at the same moment.

        Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked"
        at once instead of calling its busy handler while another connection holds the file (two
        `mqtt_ingest` consumers of one host starting together): retry within the busy timeout.
        WAL is a property of the file, so once any process switched it, the check returns at once.
        """
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
        while True:
            try:
                (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
                if str(mode).lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def __repr__(self) -> str:
        return f"Spool({self.name!r}, {len(self)} waiting)"

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM spooled_batch").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, kind: str, payload: Any) -> None:
        """Append one batch; returns only after it is on disk."""
        if kind not in KINDS:
            raise ValueError(f"spool kind must be one of {sorted(KINDS)}, not {kind!r}")
        # NaN stays NaN in the file, so a bad value is rejected (and quarantined) on replay, not lost here.
        text = json.dumps(payload, default=_json_default, ensure_ascii=False, allow_nan=True)
        with self._lock:
            self._db.execute(
                "INSERT INTO spooled_batch (kind, payload, spooled_at) VALUES (?, ?, ?)",
                (kind, text, time.time()),
            )

    def drain(
        self, *, max_batches: int = DRAIN_BATCHES_PER_PASS, budget_s: float = DRAIN_PASS_BUDGET_S
    ) -> int:
        """One bounded pass: replay claimable batches oldest first; returns how many were settled
        (stored, or moved to the quarantine as unreadable). What is left waits for the next pass."""
        from metering.ingest.services import is_database_unavailable

        claim = uuid.uuid4().hex
        deadline = time.monotonic() + budget_s
        settled = 0
        while settled < max_batches and time.monotonic() < deadline:
            row = self._claim_next(claim)
            if row is None:
                break
            batch_id, kind, text, attempts = row
            try:
                replay = self._replay_call(kind, text)
                replay()
            except _Unreplayable as problem:
                if not self._quarantine_unreplayable(batch_id, claim, kind, text, problem):
                    break
                settled += 1
                continue
            except Exception as exc:
                if is_database_unavailable(exc):
                    self._release(batch_id, claim, retry_in_s=0.0)
                    logger.info("spool %s: database unavailable (%s), %d batches wait", self.name,
                                exc.__class__.__name__, len(self))
                    break
                retry_in_s = min(SPOOL_RETRY_MAX_S, SPOOL_RETRY_BASE_S * 2**attempts)
                self._release(batch_id, claim, retry_in_s=retry_in_s)
                logger.warning(
                    "spool %s: batch %d not stored (attempt %d), kept and retried in %.0f s: %s: %s",
                    self.name, batch_id, attempts + 1, retry_in_s, exc.__class__.__name__, exc,
                )
                continue
            self._delete(batch_id, claim)
            settled += 1
        return settled

    # -- claims ----------------------------------------------------------------------------------

    def _claim_next(self, claim: str) -> tuple[int, str, str, int] | None:
        """Take the oldest batch nobody holds and that is due, in one write transaction."""
        now = time.time()
        with self._lock:
            # IMMEDIATE: the write lock first, so two drains in two processes take turns here.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "UPDATE spooled_batch SET claim_token = ?, claimed_until = ? WHERE id = ("
                    " SELECT id FROM spooled_batch"
                    " WHERE (claimed_until IS NULL OR claimed_until < ?) AND next_attempt_at <= ?"
                    " ORDER BY id LIMIT 1)"
                    " RETURNING id, kind, payload, attempts",
                    (claim, now + SPOOL_CLAIM_LEASE_S, now, now),
                ).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return rows[0] if rows else None

    def _release(self, batch_id: int, claim: str, *, retry_in_s: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE spooled_batch SET claim_token = NULL, claimed_until = NULL,"
                " attempts = attempts + 1, next_attempt_at = ? WHERE id = ? AND claim_token = ?",
                (time.time() + retry_in_s, batch_id, claim),
            )

    def _delete(self, batch_id: int, claim: str) -> None:
        with self._lock:
            deleted = self._db.execute(
                "DELETE FROM spooled_batch WHERE id = ? AND claim_token = ?", (batch_id, claim)
            ).rowcount
        if not deleted:  # the lease ran out and another drain holds it: it replays a duplicate
            logger.warning("spool %s: batch %d was stored after its claim expired", self.name, batch_id)

    # -- replay ----------------------------------------------------------------------------------

    def _replay_call(self, kind: str, text: str) -> Callable[[], object]:
        """The ingest call that stores a spooled batch; _Unreplayable when the payload is malformed."""
        from metering.ingest.services import (
            VALID_SOURCES,
            ResolvedReading,
            readings_ingest,
            readings_ingest_resolved,
        )

        try:
            payload = json.loads(text)
            if kind == "items":
                enterprise_id = int(payload["enterprise_id"])
                items = payload["items"]
                source = payload.get("source") or "mqtt"
                channel = str(payload.get("channel") or "")
                item_indexes = payload.get("item_indexes")
                if not isinstance(items, list):
                    raise TypeError("items must be a list")
                if item_indexes is not None and (
                    not isinstance(item_indexes, list) or len(item_indexes) != len(items)
                ):
                    raise ValueError("item_indexes must be a list as long as items")
                # The MQTT contract's refused readings of the message: quarantined with the batch.
                malformed = [(int(index), str(reason), raw)
                             for index, reason, raw in payload.get("malformed") or ()]
            elif kind == "resolved":
                if isinstance(payload, list):
                    payload = {"rows": payload}
                rows = [_resolved_row(raw, ResolvedReading) for raw in payload["rows"]]
                source = payload.get("source") or "modbus"
            else:
                raise ValueError(f"unknown spool kind {kind!r}")
            if source not in VALID_SOURCES:
                raise ValueError(f"unknown source {source!r}")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _Unreplayable(f"{type(exc).__name__}: {exc}") from exc
        if kind == "items":
            return lambda: readings_ingest(enterprise_id=enterprise_id, items=items, source=source,
                                           channel=channel, item_indexes=item_indexes, malformed=malformed)
        return lambda: readings_ingest_resolved(rows=rows, source=source)

    def _quarantine_unreplayable(self, batch_id: int, claim: str, kind: str, text: str,
                                 problem: _Unreplayable) -> bool:
        """Move an unreadable batch to the quarantine; False (batch kept) when that write fails."""
        from metering.ingest.services import is_database_unavailable, quarantine_message

        enterprise_id = None
        try:
            payload = json.loads(text)
            if isinstance(payload, dict) and isinstance(payload.get("enterprise_id"), int):
                enterprise_id = payload["enterprise_id"]
        except ValueError:
            pass
        try:
            quarantine_message(
                enterprise_id=enterprise_id,
                source="import",
                channel=f"spool:{self.name}",
                payload=text.encode("utf-8"),
                reason=f"spooled {kind} batch could not be replayed: {problem}"[:500],
            )
        except Exception as exc:
            retry_in_s = 0.0 if is_database_unavailable(exc) else SPOOL_RETRY_BASE_S
            self._release(batch_id, claim, retry_in_s=retry_in_s)
            logger.warning("spool %s: unreadable batch %d kept, its quarantine failed: %s", self.name,
                           batch_id, exc.__class__.__name__)
            return False
        logger.warning("spool %s: a %s batch could not be replayed and was quarantined: %s", self.name, kind,
                       problem)
        self._delete(batch_id, claim)
        return True


def drain_spools(directory: Path | str | None = None) -> int:
    """One bounded pass over every collector's spool (Modbus, MQTT, …) in SPOOL_DIR."""
    base = Path(directory) if directory is not None else Path(settings.SPOOL_DIR)
    settled = 0
    for path in sorted(base.glob("*.sqlite3")):
        spool = Spool(path.stem, directory=base)
        try:
            if len(spool):
                settled += spool.drain()
        finally:
            spool.close()
    return settled


def _resolved_row(raw: Any, cls: Any) -> Any:
    if isinstance(raw, dict):
        meter_id, ts, value, quality = raw["meter_id"], raw["ts"], raw["value"], raw.get("quality", 0)
    else:
        meter_id, ts, value, *rest = raw
        quality = rest[0] if rest else 0
    # ts stays an ISO string: the ingest parses it and rejects a bad one per row, not per batch.
    return cls(meter_id=int(meter_id), ts=ts, value=value, quality=quality)
