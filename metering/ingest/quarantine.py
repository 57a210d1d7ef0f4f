"""Quarantine rows of ingest: inputs that could not become readings, kept with their reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

from django_scopes import scopes_disabled

from metering.models import QuarantinedMessage

# How much of a quarantined input is kept: the largest message any collector accepts (HTTP
# ingest's MAX_BATCH_BYTES, 4 MiB; the MQTT contract's MAX_MESSAGE_BYTES, 1 MiB; a test holds them
# to it), so every refused message can be read and replayed whole. Only an oversized input, refused
# for its size, keeps just its first QUARANTINE_PAYLOAD_BYTES; size and sha256 are always of the whole.
QUARANTINE_PAYLOAD_BYTES = 4 * 1024 * 1024
# Rejected items of one batch kept as one quarantine row each; beyond this the rest share one row,
# so a batch of 50 000 garbage items writes 1 001 rows, not 50 000.
QUARANTINE_ITEMS_PER_BATCH = 1000


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
        # Rejected items re-encoded from an accepted message are bounded by it and kept whole; an
        # outside input (quarantine_message) is cut to QUARANTINE_PAYLOAD_BYTES by its caller.
        payload=bytes(payload),
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
