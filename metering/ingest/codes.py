"""The meter-code cache of ingest: enterprise → {meter code: meter id} of its active meters.

A batch is resolved with one query at most; a code missing from the cached map forces a re-read,
and any change to a meter in this process drops its enterprise's map at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db.models.signals import post_delete, post_save

from metering.models import Meter

# A meter-code map may be this old before it is re-read; a code missing from it forces a re-read at
# once, so a new meter is never refused. Changes in this process invalidate it immediately.
METER_CACHE_TTL_S = 60.0

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
