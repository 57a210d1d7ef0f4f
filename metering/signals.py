"""Which metering models leave an audit row on every write.

Reading is left out on purpose: readings arrive in bulk (millions a day) and the ingest path
records batches, not rows. QuarantinedMessage is left out too: a quarantined input is data (what
a collector could not use, kept whole as evidence and shown on the quarantine page), not an act
of anyone's; an audit row per entry would copy it and, on a flood of bad input, swamp the trail.
Nothing but ingest writes it, and no one edits or deletes it.
"""

from metering import models
from portal import audit

AUDITED_MODELS = (
    models.SiteNode,
    models.Meter,
    models.ModbusDevice,
    models.ModbusPoint,
    models.MqttMapping,
    models.GatewayToken,
)
# Meter.last_reading_at is denormalized telemetry: the newest reading's timestamp, advanced by
# every ingest batch (many a minute per meter) and recomputable from the readings, which are not
# audited themselves. Auditing it would be one row per batch per meter carrying no decision of
# anyone's; every other field of a meter is what people set, and stays audited.
UNAUDITED_FIELDS: dict[type, tuple[str, ...]] = {models.Meter: ("last_reading_at",)}
for _model in AUDITED_MODELS:
    audit.register(_model, unaudited_fields=UNAUDITED_FIELDS.get(_model, ()))

# A point reaches its enterprise through its device; the audit row should carry that enterprise.
models.ModbusPoint.audit_enterprise_path = "device.enterprise_id"  # type: ignore[attr-defined]
