"""The one ingest service behind every collector (Modbus, MQTT, HTTP).

INTERFACE (fixed; other modules code against it):

    readings_ingest(*, enterprise_id, items, source, channel="") -> IngestResult
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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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


def readings_ingest(
    *, enterprise_id: int, items: Sequence[Mapping[str, Any]], source: str, channel: str = ""
) -> IngestResult:
    raise NotImplementedError


def readings_ingest_resolved(*, rows: Sequence[ResolvedReading], source: str) -> IngestResult:
    raise NotImplementedError


def quarantine_message(
    *,
    enterprise_id: int | None,
    source: str,
    channel: str,
    payload: bytes,
    reason: str,
    item_index: int | None = None,
) -> None:
    raise NotImplementedError
