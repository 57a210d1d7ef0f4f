"""A durable local buffer for readings a collector has read but could not commit.

INTERFACE (fixed; other modules code against it):

    spool = Spool(name)          # one SQLite file per collector name under settings.SPOOL_DIR
    spool.put(kind, payload)     # kind: "items" (enterprise_id + raw items) or "resolved"
                                 # (ResolvedReading rows); payload is JSON-serializable;
                                 # fsync'd before put() returns
    spool.drain() -> int         # replays spooled batches through metering.ingest in order,
                                 # deleting each only after its ingest committed; stops (keeping
                                 # the rest) when the DB is still down; returns the number of
                                 # batches drained
    len(spool)                   # batches waiting

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
ingest counts as duplicates (it is idempotent on (meter, ts)). A batch that cannot be replayed at
all (a malformed payload) is moved to the quarantine, never dropped.
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
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

KINDS = frozenset({"items", "resolved"})
SQLITE_BUSY_TIMEOUT_S = 30.0
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


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
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spooled_batch ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " kind TEXT NOT NULL,"
            " payload TEXT NOT NULL,"
            " spooled_at REAL NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0)"
        )

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

    def drain(self) -> int:
        """Replay waiting batches oldest first; stop at the first one the database refuses to take."""
        from metering.ingest.services import is_database_unavailable

        drained = 0
        while True:
            with self._lock:
                row = self._db.execute(
                    "SELECT id, kind, payload FROM spooled_batch ORDER BY id LIMIT 1"
                ).fetchone()
            if row is None:
                return drained
            batch_id, kind, text = row
            try:
                self._replay(kind, text)
            except Exception as exc:
                if is_database_unavailable(exc):
                    with self._lock:
                        self._db.execute(
                            "UPDATE spooled_batch SET attempts = attempts + 1 WHERE id = ?", (batch_id,)
                        )
                    logger.info("spool %s: database still unavailable, %d batches wait", self.name, len(self))
                    return drained
                try:
                    self._quarantine_unreplayable(kind, text, exc)
                except Exception as quarantine_exc:
                    if is_database_unavailable(quarantine_exc):
                        return drained
                    raise
            with self._lock:
                self._db.execute("DELETE FROM spooled_batch WHERE id = ?", (batch_id,))
            drained += 1

    def _replay(self, kind: str, text: str) -> None:
        from metering.ingest.services import ResolvedReading, readings_ingest, readings_ingest_resolved

        payload = json.loads(text)
        if kind == "items":
            readings_ingest(
                enterprise_id=int(payload["enterprise_id"]),
                items=payload["items"],
                source=payload.get("source") or "mqtt",
                channel=payload.get("channel") or "",
                item_indexes=payload.get("item_indexes"),
            )
            return
        if isinstance(payload, list):
            payload = {"rows": payload}
        rows = [_resolved_row(raw, ResolvedReading) for raw in payload["rows"]]
        readings_ingest_resolved(rows=rows, source=payload.get("source") or "modbus")

    def _quarantine_unreplayable(self, kind: str, text: str, exc: Exception) -> None:
        from metering.ingest.services import quarantine_message

        enterprise_id = None
        try:
            payload = json.loads(text)
            if isinstance(payload, dict) and isinstance(payload.get("enterprise_id"), int):
                enterprise_id = payload["enterprise_id"]
        except ValueError:
            pass
        logger.warning(
            "spool %s: a %s batch could not be replayed and was quarantined: %s", self.name, kind, exc
        )
        # If even this write fails for a lost database, the exception propagates and the batch stays.
        quarantine_message(
            enterprise_id=enterprise_id,
            source="import",
            channel=f"spool:{self.name}",
            payload=text.encode("utf-8"),
            reason=f"spooled {kind} batch could not be replayed: {type(exc).__name__}: {exc}"[:500],
        )


def _resolved_row(raw: Any, cls: Any) -> Any:
    if isinstance(raw, dict):
        meter_id, ts, value, quality = raw["meter_id"], raw["ts"], raw["value"], raw.get("quality", 0)
    else:
        meter_id, ts, value, *rest = raw
        quality = rest[0] if rest else 0
    # ts stays an ISO string: the ingest parses it and rejects a bad one per row, not per batch.
    return cls(meter_id=int(meter_id), ts=ts, value=value, quality=quality)
