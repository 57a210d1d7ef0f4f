"""Which metering models leave an audit row on every write.

Reading is left out on purpose: readings arrive in bulk (millions a day) and the ingest path
records batches, not rows.
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
    models.QuarantinedMessage,
)
for _model in AUDITED_MODELS:
    audit.register(_model)

# A point reaches its enterprise through its device; the audit row should carry that enterprise.
models.ModbusPoint.audit_enterprise_path = "device.enterprise_id"  # type: ignore[attr-defined]
