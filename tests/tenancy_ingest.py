"""Out-of-reach entries for the ingest and readings API."""

from __future__ import annotations

from typing import Any

from django_scopes import scopes_disabled

from tests.tenancy_objects import out_of_reach


@out_of_reach("meter-readings")
def _meter_readings(world: Any) -> dict[str, Any]:
    from metering.models import Meter

    with scopes_disabled():
        meter = Meter.objects.create(
            enterprise=world.outsider,
            code="OUTSIDER-READINGS",
            name="外部表计",
            level=1,
            energy_type="electricity",
            unit="kWh",
        )
    return {"meter_id": meter.pk}
