"""The payload of one enterprise's bucket: its figures from the indicators service, as JSON.

The field names are a public contract (docs/outbox.md): change them only with a new `schema`.
Numbers are JSON numbers rounded to `PAYLOAD_DECIMALS` places; instants are ISO 8601 in +08:00
(the national convention stamps a day 00:00 and a month the 1st 00:00, local time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Sum

from metering.models import Meter
from metering.monitoring.models import Rollup
from metering.monitoring.rollups import ROLLUP_TZ, bucket_end
from metering.outbox.models import OutboxInterval
from portal.models import Enterprise

PAYLOAD_SCHEMA = "nengtan.outbox.v1"
PAYLOAD_DECIMALS = 6
STATISTICS_TYPES = {
    OutboxInterval.QUARTER: "realtime",
    OutboxInterval.DAY: "day",
    OutboxInterval.MONTH: "month",
}
_QUANTUM = Decimal(1).scaleb(-PAYLOAD_DECIMALS)


def _number(value: Decimal | float | int | None) -> float | None:
    if value is None:
        return None
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    return float(exact.quantize(_QUANTUM, rounding=ROUND_HALF_UP))


def _local(instant: dt.datetime) -> str:
    return instant.astimezone(ROLLUP_TZ).isoformat()


def data_item_codes(enterprise: Enterprise) -> dict[str, list[str]]:
    """Energy type → the data item codes (数据项编码) of the enterprise's active top-of-tree meters
    of that type, the meters its consumption figures are summed over."""
    codes: dict[str, set[str]] = {}
    rows = (Meter.objects.filter(enterprise_id=enterprise.pk, is_active=True, parent__isnull=True)
            .exclude(data_item_code="").values_list("energy_type", "data_item_code"))
    for energy_type, code in rows:
        codes.setdefault(energy_type, set()).add(code)
    return {energy_type: sorted(found) for energy_type, found in codes.items()}


def bucket_payload(enterprise: Enterprise, *, interval: str, start: dt.datetime,
                   codes: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The figures of the enterprise's `interval` bucket starting at `start` (a park: its members
    and public areas, as the indicators service counts them). Runs inside the tenant scope."""
    from metering.monitoring.indicators import indicators_for

    end = bucket_end(start.astimezone(ROLLUP_TZ), interval)
    figures = indicators_for(enterprise, start=start, end=end)
    codes = codes if codes is not None else data_item_codes(enterprise)
    return {
        "schema": PAYLOAD_SCHEMA,
        "enterprise": {"credit_code": enterprise.credit_code, "name": enterprise.name,
                       "kind": enterprise.kind},
        "interval": interval,
        "statistics_type": STATISTICS_TYPES[OutboxInterval(interval)],
        "bucket_start": _local(start),
        "bucket_end": _local(end),
        "total_tce": _number(figures.total_tce),
        "total_tce_equivalent": _number(figures.total_tce_equivalent),
        "co2_t": _number(figures.co2_t),
        "co2_by_scope": {key: _number(figures.co2_by_scope.get(key, Decimal(0))) for key in ("1", "2")},
        "by_energy_type": [
            {
                "energy_type": line.energy_type,
                "label": str(line.label),
                "quantity": _number(line.quantity),
                "unit": line.unit,
                "tce": _number(line.tce),
                "tce_equivalent": _number(line.tce_equivalent),
                "co2_t": _number(line.co2_t),
                "scope": line.scope,
                "data_item_codes": list(codes.get(line.energy_type, [])),
                # Why tce/CO₂ are missing for this line (no factor for it), else "".
                "factor_missing": line.factor_missing,
            }
            for line in figures.by_energy_type
        ],
        "expected_slots": figures.expected_slots,
        "received_slots": figures.received_slots,
        "completeness": figures.completeness,
        "factor_sets": list(figures.factor_sets),
    }


def payload_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the payload's canonical JSON: equal figures, equal hash."""
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def source_fingerprints(enterprise_ids: Sequence[int], *, interval: str,
                        starts: Iterable[dt.datetime]) -> dict[dt.datetime, str]:
    """Per bucket start, a digest of the stored rollups the bucket's figures come from (rows,
    total consumption and received slots of the meters of `enterprise_ids`: the enterprise, and a
    park's members): one grouped query for many buckets, so a recompute that changed nothing is
    told apart without rebuilding its payload."""
    wanted = list(starts)
    if not wanted:
        return {}
    rows = (Rollup.objects.filter(meter__enterprise_id__in=list(enterprise_ids), interval=interval,
                                  ts__in=wanted)
            .values("ts").annotate(n=Count("id"), total=Sum("value"), received=Sum("received")))
    found = {row["ts"]: f"{row['n']}|{row['total']!r}|{row['received']}" for row in rows}
    return {
        start: hashlib.sha256(found.get(start, "0").encode()).hexdigest()
        for start in wanted
    }
