"""Out-of-reach entries for the ingest and readings API."""

from __future__ import annotations

from typing import Any

from tests.metering.registry_factories import meter_for
from tests.tenancy_objects import Attempt, out_of_reach, write_attempts


@out_of_reach("meter-readings")
def _meter_readings(world: Any) -> dict[str, Any]:
    return {"meter_id": meter_for(world.outsider).pk}


@write_attempts("readings-ingest")
def _readings_for_outsider_meter(world: Any, own: Any) -> list[Attempt]:
    meter = meter_for(world.outsider)
    # The batch answers 200 with each reading's verdict (an unknown code is rejected, not an
    # error of the batch): the footprint decides.
    return [Attempt("a reading for the outsider's meter (by its code)", json=True, refused=False, data={
        "readings": [{"meter": meter.code, "ts": "2026-06-01T08:00:00+08:00", "value": 1.0}],
    })]
